package events

import "time"

// AccountToken is the data of account.password_reset_requested and
// account.verification_requested events: the notifier e-mails the link holding the
// token to Email. The token itself is sealed with the platform's secrets key
// (internal/secretbox, associated data tenant id and "account_tokens.token"), so the
// outbox row and the Kafka record do not hold a usable token; the database keeps only
// its SHA-256.
type AccountToken struct {
	UserID      string    `json:"user_id"`
	Email       string    `json:"email"`
	Name        string    `json:"name"`
	Locale      string    `json:"locale"`
	Storefront  string    `json:"storefront"`
	TokenSealed string    `json:"token_sealed"`
	ExpiresAt   time.Time `json:"expires_at"`
}

// TokenSealColumn is the secretbox associated-data column of AccountToken.TokenSealed.
const TokenSealColumn = "account_tokens.token"

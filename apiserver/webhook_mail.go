package apiserver

import (
	"context"
	"time"
)

// NotificationTemplate is a tenant's own template of one e-mail kind in one locale
// (internal/mailtmpl lists the kinds and what templates see).
type NotificationTemplate struct {
	Kind      string     `json:"kind"`
	Locale    string     `json:"locale"`
	Subject   string     `json:"subject"`
	HTML      string     `json:"html"`
	Text      string     `json:"text"`
	Source    string     `json:"source"` // tenant or default
	UpdatedAt *time.Time `json:"updated_at"`
}

// NotificationSend is the record of one e-mail of one event.
type NotificationSend struct {
	EventID   string     `json:"event_id"`
	Kind      string     `json:"kind"`
	Recipient string     `json:"recipient"`
	Status    string     `json:"status"` // pending, failed (will be retried), sent, dead (dead-lettered)
	Attempts  int        `json:"attempts"`
	LastError string     `json:"last_error"`
	CreatedAt time.Time  `json:"created_at"`
	SentAt    *time.Time `json:"sent_at"`
}

// NotificationService stores a tenant's e-mail templates and shows what was sent.
type NotificationService interface {
	// Template returns the tenant's template, or the shipped default (Source
	// "default"). ErrInvalid (unknown kind or malformed locale).
	Template(ctx context.Context, kind, locale string) (*NotificationTemplate, error)
	// PutTemplate renders the template against sample data and stores it only if it
	// renders. ErrInvalid names the failing part and the template error.
	PutTemplate(ctx context.Context, t NotificationTemplate) (*NotificationTemplate, error)
	// DeleteTemplate removes the tenant's template (the default applies again).
	// ErrNotFound.
	DeleteTemplate(ctx context.Context, kind, locale string) error
	// Sends lists the latest e-mail records, newest first, optionally of one status.
	Sends(ctx context.Context, status string, limit int) ([]NotificationSend, error)
}

// AccountTokenService runs the password-reset and e-mail-verification flows. The
// request methods answer the same (nil) whether or not an account has the address,
// so they do not tell who has an account; the e-mail goes out through the outbox.
type AccountTokenService interface {
	// RequestPasswordReset issues a reset token for the account of email, if any.
	RequestPasswordReset(ctx context.Context, email, locale string) error
	// ResetPassword sets a new password with a token and signs the account out
	// everywhere. ErrInvalid: field token (unknown, used or expired) or password (a weak
	// password).
	ResetPassword(ctx context.Context, token, newPassword string) error
	// RequestVerification issues a verification token for the account of email, if
	// any and not yet verified.
	RequestVerification(ctx context.Context, email, locale string) error
	// VerifyEmail marks the account's address verified. ErrInvalid (field token).
	VerifyEmail(ctx context.Context, token string) error
}

// Account token lifetimes.
const (
	PasswordResetTTL     = time.Hour
	EmailVerificationTTL = 48 * time.Hour
)

// CheckNewPassword applies the registration's password rules to a password chosen
// with a reset token.
func CheckNewPassword(pw, email, name, tenantSlug string) error {
	return CheckPassword(pw, passwordGuessable(email, name, tenantSlug)...)
}

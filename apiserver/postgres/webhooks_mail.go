package postgres

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"regexp"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/kommerce/kommerce/apiserver"
	"github.com/kommerce/kommerce/apiserver/password"
	"github.com/kommerce/kommerce/apiserver/postgres/dbq"
	"github.com/kommerce/kommerce/internal/events"
	"github.com/kommerce/kommerce/internal/mailtmpl"
	"github.com/kommerce/kommerce/internal/secretbox"
)

// NotificationService implements apiserver.NotificationService.
type NotificationService struct{ DB *DB }

var _ apiserver.NotificationService = (*NotificationService)(nil)

var localeRE = regexp.MustCompile(`^[a-z]{2}(-[A-Z]{2})?$`)

func checkKindLocale(kind, locale string) error {
	if !mailtmpl.Kind(kind).Valid() {
		return apiserver.FieldErrorf("kind", "Unknown e-mail kind %q.", kind)
	}
	if !localeRE.MatchString(locale) {
		return apiserver.FieldErrorf("locale", "A locale is a language code with an optional region, like en or de-AT.")
	}
	return nil
}

// Template implements apiserver.NotificationService.
func (s *NotificationService) Template(ctx context.Context, kind, locale string) (*apiserver.NotificationTemplate, error) {
	if err := checkKindLocale(kind, locale); err != nil {
		return nil, err
	}
	var out *apiserver.NotificationTemplate
	err := s.DB.InTenant(ctx, true, func(_ pgx.Tx, q *dbq.Queries, tid string) error {
		t, err := q.NotificationTemplate(ctx, dbq.NotificationTemplateParams{TenantID: tid, Kind: kind, Locale: locale})
		if errors.Is(err, pgx.ErrNoRows) {
			d := mailtmpl.Default(mailtmpl.Kind(kind), locale)
			out = &apiserver.NotificationTemplate{Kind: kind, Locale: locale, Subject: d.Subject, HTML: d.HTML, Text: d.Text, Source: "default"}
			return nil
		}
		if err != nil {
			return err
		}
		out = &apiserver.NotificationTemplate{Kind: kind, Locale: locale, Subject: t.Subject, HTML: t.Html, Text: t.TextBody, Source: "tenant", UpdatedAt: &t.UpdatedAt}
		return nil
	})
	return out, err
}

// PutTemplate implements apiserver.NotificationService.
func (s *NotificationService) PutTemplate(ctx context.Context, in apiserver.NotificationTemplate) (*apiserver.NotificationTemplate, error) {
	if err := checkKindLocale(in.Kind, in.Locale); err != nil {
		return nil, err
	}
	// The database refuses NUL and invalid UTF-8 (a 500 otherwise); the bounds are the
	// OpenAPI document's.
	for _, f := range []struct {
		name, v string
		max     int
	}{{"subject", in.Subject, 1000}, {"html", in.HTML, 200000}, {"text", in.Text, 100000}} {
		if err := apiserver.ValidText(f.name, f.v, f.max); err != nil {
			return nil, err
		}
	}
	if err := mailtmpl.Validate(mailtmpl.Kind(in.Kind), in.Locale, mailtmpl.Template{Subject: in.Subject, HTML: in.HTML, Text: in.Text}); err != nil {
		return nil, apiserver.Errorf(apiserver.ErrInvalid, "The template does not render: %v.", err)
	}
	var out *apiserver.NotificationTemplate
	err := s.DB.InTenant(ctx, false, func(_ pgx.Tx, q *dbq.Queries, tid string) error {
		t, err := q.UpsertNotificationTemplate(ctx, dbq.UpsertNotificationTemplateParams{TenantID: tid, Kind: in.Kind, Locale: in.Locale, Subject: in.Subject, Html: in.HTML, TextBody: in.Text})
		if err != nil {
			return err
		}
		out = &apiserver.NotificationTemplate{Kind: t.Kind, Locale: t.Locale, Subject: t.Subject, HTML: t.Html, Text: t.TextBody, Source: "tenant", UpdatedAt: &t.UpdatedAt}
		return nil
	})
	return out, err
}

// DeleteTemplate implements apiserver.NotificationService.
func (s *NotificationService) DeleteTemplate(ctx context.Context, kind, locale string) error {
	if err := checkKindLocale(kind, locale); err != nil {
		return err
	}
	return s.DB.InTenant(ctx, false, func(_ pgx.Tx, q *dbq.Queries, tid string) error {
		n, err := q.DeleteNotificationTemplate(ctx, dbq.DeleteNotificationTemplateParams{TenantID: tid, Kind: kind, Locale: locale})
		if err == nil && n == 0 {
			return apiserver.Errorf(apiserver.ErrNotFound, "The tenant has no template of this kind and locale; the default applies.")
		}
		return err
	})
}

// Sends implements apiserver.NotificationService.
func (s *NotificationService) Sends(ctx context.Context, status string, limit int) ([]apiserver.NotificationSend, error) {
	out := []apiserver.NotificationSend{}
	err := s.DB.InTenant(ctx, true, func(_ pgx.Tx, q *dbq.Queries, tid string) error {
		rows, err := q.NotificationSends(ctx, dbq.NotificationSendsParams{TenantID: tid, Status: status, MaxRows: int32(limit)})
		for _, r := range rows {
			out = append(out, apiserver.NotificationSend{EventID: r.EventID, Kind: r.Kind, Recipient: r.Recipient, Status: r.Status,
				Attempts: int(r.Attempts), LastError: r.LastError, CreatedAt: r.CreatedAt, SentAt: r.SentAt})
		}
		return err
	})
	return out, err
}

// AccountTokenService implements apiserver.AccountTokenService. Tokens are stored as
// SHA-256 only; the event that carries one to the notifier holds it sealed with Box.
type AccountTokenService struct {
	DB     *DB
	Box    *secretbox.Keyring
	Params password.Params // argon2id costs of the new password (password.Default when zero)
}

var _ apiserver.AccountTokenService = (*AccountTokenService)(nil)

const (
	purposeReset  = "password_reset"
	purposeVerify = "email_verification"
)

func (s *AccountTokenService) request(ctx context.Context, email, locale, purpose string, typ events.Type, ttl time.Duration) error {
	if apiserver.ValidateEmail(email) != nil {
		return nil // the same answer as for an unknown address
	}
	if !localeRE.MatchString(locale) {
		locale = mailtmpl.DefaultLocale
	}
	return s.DB.InTenant(ctx, false, func(_ pgx.Tx, q *dbq.Queries, tid string) error {
		u, err := q.UserByEmail(ctx, dbq.UserByEmailParams{TenantID: tid, Email: email})
		if errors.Is(err, pgx.ErrNoRows) {
			return nil
		}
		if err != nil {
			return err
		}
		if purpose == purposeVerify && u.EmailVerifiedAt != nil {
			return nil
		}
		raw := "kat_" + rand.Text() + rand.Text()
		expires := time.Now().Add(ttl).UTC().Truncate(time.Second)
		if err := q.InvalidateAccountTokens(ctx, dbq.InvalidateAccountTokensParams{TenantID: tid, UserID: u.ID, Purpose: purpose}); err != nil {
			return err
		}
		if err := q.InsertAccountToken(ctx, dbq.InsertAccountTokenParams{TenantID: tid, UserID: u.ID, Purpose: purpose, TokenHash: hashToken(raw), ExpiresAt: expires}); err != nil {
			return err
		}
		sealed := []byte(raw)
		if s.Box != nil {
			if sealed, err = s.Box.Seal(tid, events.TokenSealColumn, []byte(raw)); err != nil {
				return err
			}
		}
		data, err := events.Encode(typ, events.AccountToken{UserID: u.ID, Email: u.Email, Name: u.Name, Locale: locale,
			Storefront: "default", TokenSealed: string(sealed), ExpiresAt: expires})
		if err != nil {
			return err
		}
		return q.InsertOutbox(ctx, dbq.InsertOutboxParams{TenantID: tid, AggregateType: "user", AggregateID: u.ID, EventType: string(typ), Payload: data})
	})
}

// RequestPasswordReset implements apiserver.AccountTokenService.
func (s *AccountTokenService) RequestPasswordReset(ctx context.Context, email, locale string) error {
	return s.request(ctx, email, locale, purposeReset, events.PasswordResetRequested, apiserver.PasswordResetTTL)
}

// RequestVerification implements apiserver.AccountTokenService.
func (s *AccountTokenService) RequestVerification(ctx context.Context, email, locale string) error {
	return s.request(ctx, email, locale, purposeVerify, events.VerificationRequested, apiserver.EmailVerificationTTL)
}

var errBadAccountToken = apiserver.FieldErrorf("token", "The link is unknown, was used already or has expired; ask for a new one.")

// ResetPassword implements apiserver.AccountTokenService. The token is used (and the
// password checked) in one transaction: a weak password does not spend the token.
func (s *AccountTokenService) ResetPassword(ctx context.Context, token, newPassword string) error {
	if len(token) < 10 || len(token) > 200 {
		return errBadAccountToken
	}
	if len(newPassword) > 4*apiserver.MaxPasswordLen {
		return apiserver.FieldErrorf("password", "The password is longer than %d characters.", apiserver.MaxPasswordLen)
	}
	params := s.Params
	if params == (password.Params{}) {
		params = password.Default
	}
	hash, err := password.Hash(ctx, newPassword, params)
	if err != nil {
		return fmt.Errorf("hash password: %w", err)
	}
	t := apiserver.TenantFromContext(ctx)
	return s.DB.InTenant(ctx, false, func(_ pgx.Tx, q *dbq.Queries, tid string) error {
		uid, err := q.UseAccountToken(ctx, dbq.UseAccountTokenParams{TenantID: tid, TokenHash: hashToken(token), Purpose: purposeReset})
		if errors.Is(err, pgx.ErrNoRows) {
			return errBadAccountToken
		}
		if err != nil {
			return err
		}
		u, err := q.UserByID(ctx, dbq.UserByIDParams{TenantID: tid, ID: uid})
		if err != nil {
			return err
		}
		if err := apiserver.CheckNewPassword(newPassword, u.Email, u.Name, t.Slug); err != nil {
			return err // rolls back: the token stays usable
		}
		if err := q.SetUserPassword(ctx, dbq.SetUserPasswordParams{PasswordHash: hash, TenantID: tid, ID: uid}); err != nil {
			return err
		}
		// The reset proves the address: it is verified too. Every session ends.
		if err := q.MarkEmailVerified(ctx, dbq.MarkEmailVerifiedParams{TenantID: tid, ID: uid}); err != nil {
			return err
		}
		return q.RevokeUserRefreshTokens(ctx, dbq.RevokeUserRefreshTokensParams{TenantID: tid, UserID: uid})
	})
}

// VerifyEmail implements apiserver.AccountTokenService.
func (s *AccountTokenService) VerifyEmail(ctx context.Context, token string) error {
	if len(token) < 10 || len(token) > 200 {
		return errBadAccountToken
	}
	return s.DB.InTenant(ctx, false, func(_ pgx.Tx, q *dbq.Queries, tid string) error {
		uid, err := q.UseAccountToken(ctx, dbq.UseAccountTokenParams{TenantID: tid, TokenHash: hashToken(token), Purpose: purposeVerify})
		if errors.Is(err, pgx.ErrNoRows) {
			return errBadAccountToken
		}
		if err != nil {
			return err
		}
		return q.MarkEmailVerified(ctx, dbq.MarkEmailVerifiedParams{TenantID: tid, ID: uid})
	})
}

package notify

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/kommerce/kommerce/ingest/notify/notifydb"
	"github.com/kommerce/kommerce/internal/mailtmpl"
)

// AdminNotifier e-mails a tenant's admins when one of its webhook endpoints was
// disabled (it implements webhooks.Notifier through EndpointDisabled).
type AdminNotifier struct {
	Pool   *pgxpool.Pool
	Mailer Mailer
	From   string
}

// EndpointDisabled sends the webhook_disabled e-mail to every admin of the tenant
// (at most 20), rendered from the tenant's template or the shipped one.
func (a *AdminNotifier) EndpointDisabled(ctx context.Context, tenantID, endpointID, url, reason string) error {
	type rcpt struct{ email, name string }
	var to []rcpt
	var tpl mailtmpl.Template
	var shop string
	h := New(Config{Pool: a.Pool})
	err := pgx.BeginFunc(ctx, a.Pool, func(tx pgx.Tx) error {
		q := notifydb.New(tx)
		if err := q.TenantScope(ctx, tenantID); err != nil {
			return err
		}
		rows, err := q.AdminEmails(ctx, tenantID)
		if err != nil {
			return err
		}
		for _, r := range rows {
			to = append(to, rcpt{r.Email, r.Name})
		}
		if shop, err = q.TenantName(ctx, tenantID); err != nil {
			return err
		}
		tpl, err = h.template(ctx, q, tenantID, mailtmpl.WebhookDisabled, mailtmpl.DefaultLocale)
		return err
	})
	if err != nil {
		return err
	}
	from := a.From
	if from == "" {
		from = h.cfg.From
	}
	var errs []error
	for _, r := range to {
		d := mailtmpl.Data{Storefront: shop, Locale: mailtmpl.DefaultLocale, Recipient: mailtmpl.Recipient{Email: r.email, Name: r.name},
			Endpoint: mailtmpl.Endpoint{ID: endpointID, URL: url, Reason: reason}}
		out, err := mailtmpl.Render(tpl, d)
		if err != nil {
			out, err = mailtmpl.Render(mailtmpl.Default(mailtmpl.WebhookDisabled, mailtmpl.DefaultLocale), d)
		}
		if err != nil {
			return err
		}
		if err := a.Mailer.Send(ctx, Mail{From: from, To: r.email, Subject: out.Subject, Text: out.Text, HTML: out.HTML,
			MessageID: fmt.Sprintf("webhook-disabled.%s.%s@kommerce", endpointID, r.email)}); err != nil {
			errs = append(errs, fmt.Errorf("to %s: %w", r.email, err))
		}
	}
	return errors.Join(errs...)
}

// Package notify is the notifier of `kommerce ingest`: a Kafka consumer handler that
// turns order events (created, paid, shipped, refunded) and account events (password
// reset, e-mail verification) into e-mails rendered from the tenant's templates
// (internal/mailtmpl) and sent over SMTP.
//
// # What is guaranteed
//
// Each (event id, kind) is recorded in notification_sends. The row is inserted — or,
// when it exists, locked — in the transaction that sends the e-mail, and set to
// 'sent' in that same transaction once the SMTP server accepted the message. So:
//
//   - a duplicate or replayed event whose e-mail was sent finds 'sent' and sends
//     nothing; one arriving while the first is being sent waits on the row lock and
//     then finds 'sent';
//   - the one window for a second copy is a crash (or a lost database connection)
//     after the SMTP server accepted the message and before the COMMIT: the event is
//     then delivered again and the e-mail sent once more. Every copy carries the same
//     Message-ID (derived from the event id), so a receiving system that de-duplicates
//     by Message-ID shows one;
//   - nothing is lost: an unreachable SMTP server is retried without limit (the
//     consumer waits); a temporary refusal (4xx) is retried with backoff up to
//     MaxAttempts and then dead-lettered; a permanent refusal (5xx, e.g. an unknown
//     recipient) and a template that fails to render are dead-lettered at once. The
//     dead-letter topic's message carries the reason, notification_sends the status
//     'dead' and the last error; `kommerce ingest replay --from-dlq` sends them again.
package notify

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strings"
	"sync"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/kommerce/kommerce/ingest"
	"github.com/kommerce/kommerce/ingest/notify/notifydb"
	"github.com/kommerce/kommerce/internal/events"
	"github.com/kommerce/kommerce/internal/mailtmpl"
	"github.com/kommerce/kommerce/internal/secretbox"
)

// Config configures the notifier; zero values get the defaults in brackets.
type Config struct {
	Pool   *pgxpool.Pool
	Mailer Mailer
	// From is the sender of every e-mail [kommerce <no-reply@localhost>].
	From string
	// Secrets opens the sealed tokens of account events; without it those e-mails are
	// dead-lettered.
	Secrets *secretbox.Keyring
	// LinkBase is where password-reset and verification links point, e.g.
	// https://shop.example [http://localhost:8080].
	LinkBase string
	// Locale of order e-mails (orders do not record one) [en].
	Locale string
	// MaxAttempts of an e-mail the server refuses temporarily before it is
	// dead-lettered [5].
	MaxAttempts int
	// Concurrency is how many e-mails are sent at once (of different keys) [8].
	Concurrency int
	Log         *slog.Logger
}

// Handler is the notifier's ingest.Handler.
type Handler struct{ cfg Config }

// New returns the notifier.
func New(cfg Config) *Handler {
	if cfg.From == "" {
		cfg.From = "kommerce <no-reply@localhost>"
	}
	if cfg.LinkBase == "" {
		cfg.LinkBase = "http://localhost:8080"
	}
	if cfg.Locale == "" {
		cfg.Locale = mailtmpl.DefaultLocale
	}
	if cfg.MaxAttempts <= 0 {
		cfg.MaxAttempts = 5
	}
	if cfg.Concurrency <= 0 {
		cfg.Concurrency = 8
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	return &Handler{cfg: cfg}
}

// Streams are the streams the notifier reads.
var Streams = []events.Stream{events.StreamOrders, events.StreamAccounts}

// Handle implements ingest.Handler: one e-mail (or none) per message, each in its own
// transaction. Messages of one Kafka key (one order, one account) are handled in
// their order; different keys in parallel, up to Concurrency at once.
func (h *Handler) Handle(ctx context.Context, msgs []ingest.Message) []error {
	errs := make([]error, len(msgs))
	var keys []string
	byKey := map[string][]int{}
	for i, m := range msgs {
		k := string(m.Key)
		if _, ok := byKey[k]; !ok {
			keys = append(keys, k)
		}
		byKey[k] = append(byKey[k], i)
	}
	sem := make(chan struct{}, h.cfg.Concurrency)
	var wg sync.WaitGroup
	for _, k := range keys {
		sem <- struct{}{}
		wg.Add(1)
		go func(idx []int) {
			defer func() { <-sem; wg.Done() }()
			for _, i := range idx {
				errs[i] = h.handle(ctx, msgs[i])
			}
		}(byKey[k])
	}
	wg.Wait()
	return errs
}

// job is one e-mail to send: its key, who gets it and how to build its data.
type job struct {
	tenantID, eventID string
	kind              mailtmpl.Kind
	locale            string
	// load fills the template data inside the send's transaction; it returns the
	// recipient's address ("" means there is nobody to write to).
	load func(ctx context.Context, q *notifydb.Queries, tenantID string, d *mailtmpl.Data) (string, error)
}

func (h *Handler) handle(ctx context.Context, m ingest.Message) error {
	var env events.Envelope
	if err := json.Unmarshal(m.Value, &env); err != nil {
		return ingest.Permanent(fmt.Errorf("decode envelope: %w", err))
	}
	j, err := h.jobOf(env)
	if err != nil || j == nil {
		return err
	}
	return h.send(ctx, m, *j)
}

func (h *Handler) jobOf(env events.Envelope) (*job, error) {
	j := &job{tenantID: env.TenantID, eventID: env.ID, locale: h.cfg.Locale}
	switch env.Type {
	case events.OrderCreated:
		var o events.Order
		if err := events.DecodeInto(env.Type, env.Data, &o); err != nil {
			return nil, ingest.Permanent(err)
		}
		j.kind = mailtmpl.OrderCreated
		j.load = h.orderLoader(o.ID)
	case events.OrderTransitioned:
		var t events.OrderTransition
		if err := events.DecodeInto(env.Type, env.Data, &t); err != nil {
			return nil, ingest.Permanent(err)
		}
		switch t.To {
		case "paid":
			j.kind = mailtmpl.OrderPaid
		case "shipped":
			j.kind = mailtmpl.OrderShipped
		case "refunded":
			j.kind = mailtmpl.OrderRefunded
		default:
			return nil, nil
		}
		j.load = h.orderLoader(t.OrderID)
	case events.PasswordResetRequested, events.VerificationRequested:
		var a events.AccountToken
		if err := events.DecodeInto(env.Type, env.Data, &a); err != nil {
			return nil, ingest.Permanent(err)
		}
		j.kind, j.locale = mailtmpl.PasswordReset, a.Locale
		path := "/reset-password"
		if env.Type == events.VerificationRequested {
			j.kind, path = mailtmpl.EmailVerification, "/verify-email"
		}
		if j.locale == "" {
			j.locale = h.cfg.Locale
		}
		j.load = h.accountLoader(a, path)
	default:
		return nil, nil
	}
	return j, nil
}

func (h *Handler) orderLoader(orderID string) func(context.Context, *notifydb.Queries, string, *mailtmpl.Data) (string, error) {
	return func(ctx context.Context, q *notifydb.Queries, tenantID string, d *mailtmpl.Data) (string, error) {
		o, err := q.OrderForMail(ctx, notifydb.OrderForMailParams{TenantID: tenantID, ID: orderID})
		if errors.Is(err, pgx.ErrNoRows) {
			return "", ingest.Permanent(fmt.Errorf("order %s not found", orderID))
		}
		if err != nil {
			return "", err
		}
		lines, err := q.OrderLinesForMail(ctx, notifydb.OrderLinesForMailParams{TenantID: tenantID, OrderID: orderID})
		if err != nil {
			return "", err
		}
		d.Currency = o.Currency
		d.Recipient = mailtmpl.Recipient{Email: o.Email, Name: o.CustomerName}
		if d.Recipient.Name == "" {
			d.Recipient.Name = strings.SplitN(o.Email, "@", 2)[0]
		}
		refunded := o.Refunded
		if refunded == 0 && o.Status == "refunded" {
			refunded = o.Total
		}
		d.Order = mailtmpl.Order{
			ID: o.ID, Number: mailtmpl.OrderNumber(o.ID), Status: o.Status, Subtotal: o.Subtotal, Shipping: o.Shipping,
			Tax: o.Tax, Total: o.Total, Refunded: refunded,
		}
		for _, l := range lines {
			d.Order.Lines = append(d.Order.Lines, mailtmpl.Line{SKU: l.Sku, Name: l.Name, Quantity: int64(l.Quantity), UnitPrice: l.UnitPrice, Amount: l.Amount})
		}
		return o.Email, nil
	}
}

func (h *Handler) accountLoader(a events.AccountToken, path string) func(context.Context, *notifydb.Queries, string, *mailtmpl.Data) (string, error) {
	return func(ctx context.Context, q *notifydb.Queries, tenantID string, d *mailtmpl.Data) (string, error) {
		if h.cfg.Secrets == nil {
			return "", ingest.Permanent(errors.New("no secrets key loaded: cannot open the token of an account e-mail (set --secrets-key-file)"))
		}
		token, _, err := h.cfg.Secrets.Open(tenantID, events.TokenSealColumn, []byte(a.TokenSealed))
		if err != nil {
			return "", ingest.Permanent(fmt.Errorf("open token: %w", err))
		}
		d.Recipient = mailtmpl.Recipient{Email: a.Email, Name: a.Name}
		if d.Recipient.Name == "" {
			d.Recipient.Name = strings.SplitN(a.Email, "@", 2)[0]
		}
		d.Link = strings.TrimRight(h.cfg.LinkBase, "/") + path + "?token=" + url.QueryEscape(string(token))
		d.ExpiresAt = a.ExpiresAt
		return a.Email, nil
	}
}

// send runs one e-mail's transaction: claim (or lock) its row, skip it if it was
// sent, render, send, record the outcome.
func (h *Handler) send(ctx context.Context, m ingest.Message, j job) error {
	log := h.cfg.Log.With("tenant", j.tenantID, "event", j.eventID, "kind", string(j.kind))
	var outcome error
	err := pgx.BeginFunc(ctx, h.cfg.Pool, func(tx pgx.Tx) error {
		q := notifydb.New(tx)
		if err := q.TenantScope(ctx, j.tenantID); err != nil {
			return err
		}
		if m.Headers[headerReplays] != "" {
			if err := q.ReviveSend(ctx, notifydb.ReviveSendParams{TenantID: j.tenantID, EventID: j.eventID, Kind: string(j.kind)}); err != nil {
				return err
			}
		}
		d := mailtmpl.Data{Locale: j.locale}
		to, err := j.load(ctx, q, j.tenantID, &d)
		if err != nil {
			if ingest.IsPermanent(err) {
				outcome = err
				return h.finish(ctx, q, j, "dead", err.Error(), "")
			}
			return err
		}
		if to == "" {
			log.Info("no e-mail address, nothing sent")
			return nil
		}
		claim, err := q.ClaimSend(ctx, notifydb.ClaimSendParams{TenantID: j.tenantID, EventID: j.eventID, Kind: string(j.kind), Recipient: to})
		if err != nil {
			return err
		}
		switch claim.Status {
		case "sent":
			log.Debug("already sent")
			return nil
		case "dead":
			// Dead-lettered before and not replayed: a copy of the event, not a retry.
			return nil
		}
		if d.Storefront, err = q.TenantName(ctx, j.tenantID); err != nil {
			return err
		}
		tpl, err := h.template(ctx, q, j.tenantID, j.kind, d.Locale)
		if err != nil {
			return err
		}
		r, err := mailtmpl.Render(tpl, d)
		if err != nil {
			outcome = ingest.Permanent(err)
			log.Warn("template does not render, dead-lettering", "err", err)
			return h.finish(ctx, q, j, "dead", err.Error(), "")
		}
		msgID := j.eventID + "." + string(j.kind) + "@kommerce"
		err = h.cfg.Mailer.Send(ctx, Mail{
			From: h.cfg.From, To: to, Subject: r.Subject, Text: r.Text, HTML: r.HTML, MessageID: msgID,
			Headers: map[string]string{"X-Kommerce-Event-Id": j.eventID, "X-Kommerce-Notification": string(j.kind)},
		})
		switch {
		case err == nil:
			log.Info("e-mail sent", "to_domain", domainOf(to))
			return h.finish(ctx, q, j, "sent", "", msgID)
		case IsUnreachable(err):
			// Nothing recorded: the row's insert rolls back and the consumer waits.
			return ingest.Unavailable(err)
		case IsPermanentSMTP(err) || claim.Attempts+1 >= int32(h.cfg.MaxAttempts):
			outcome = ingest.Permanent(err)
			return h.finish(ctx, q, j, "dead", err.Error(), "")
		default:
			outcome = err
			return h.finish(ctx, q, j, "failed", err.Error(), "")
		}
	})
	if err != nil {
		return err
	}
	return outcome
}

func (h *Handler) finish(ctx context.Context, q *notifydb.Queries, j job, status, reason, msgID string) error {
	if len(reason) > 2000 {
		reason = reason[:2000]
	}
	if status == "dead" {
		// A send row must exist to hold the reason, also when no recipient was known.
		if _, err := q.ClaimSend(ctx, notifydb.ClaimSendParams{TenantID: j.tenantID, EventID: j.eventID, Kind: string(j.kind)}); err != nil {
			return err
		}
	}
	return q.FinishSend(ctx, notifydb.FinishSendParams{
		Status: status, LastError: reason, MessageID: msgID, TenantID: j.tenantID, EventID: j.eventID, Kind: string(j.kind),
	})
}

// template picks the most specific template: the tenant's for the locale, then the
// shipped one for it, then the same for the language and for the default locale.
func (h *Handler) template(ctx context.Context, q *notifydb.Queries, tenantID string, kind mailtmpl.Kind, locale string) (mailtmpl.Template, error) {
	rows, err := q.TenantTemplates(ctx, notifydb.TenantTemplatesParams{TenantID: tenantID, Kind: string(kind)})
	if err != nil {
		return mailtmpl.Template{}, err
	}
	own := make(map[string]mailtmpl.Template, len(rows))
	for _, r := range rows {
		own[r.Locale] = mailtmpl.Template{Subject: r.Subject, HTML: r.Html, Text: r.TextBody}
	}
	for _, loc := range mailtmpl.Locales(locale) {
		if t, ok := own[loc]; ok {
			return t, nil
		}
		if mailtmpl.HasDefault(kind, loc) {
			return mailtmpl.Default(kind, loc), nil
		}
	}
	return mailtmpl.Default(kind, mailtmpl.DefaultLocale), nil
}

// headerReplays is set by `kommerce ingest replay` on re-driven dead letters
// (ikafka.HeaderReplays; not imported to keep this package free of kafka-go).
const headerReplays = "kommerce-replays"

func domainOf(addr string) string {
	if i := strings.LastIndex(addr, "@"); i >= 0 {
		return addr[i+1:]
	}
	return ""
}

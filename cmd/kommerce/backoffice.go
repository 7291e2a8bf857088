package main

import (
	"context"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"golang.org/x/sync/errgroup"

	ikafka "github.com/kommerce/kommerce/ingest/kafka"
	"github.com/kommerce/kommerce/ingest/notify"
	ingestpg "github.com/kommerce/kommerce/ingest/postgres"
	"github.com/kommerce/kommerce/ingest/webhooks"
	"github.com/kommerce/kommerce/internal/config"
	"github.com/kommerce/kommerce/internal/secretbox"
	"github.com/kommerce/kommerce/internal/webhook"
)

// backofficeConfig is the settings of the notifier (e-mail over SMTP) and the
// outbound webhooks that `kommerce ingest` and `kommerce dev` run.
type backofficeConfig struct {
	smtpAddr, smtpFrom, smtpUser, smtpPass string
	smtpRequireTLS                         bool
	linkBase, locale                       string
	noWebhooks                             bool
	allowLoopback, allowPrivate            bool
	webhookTimeout, disableAfter           time.Duration
	webhookBackoff                         time.Duration
	webhookConcurrency                     int
}

func (c *backofficeConfig) register(set *config.Set) {
	set.String(&c.smtpAddr, "smtp-addr", "KOMMERCE_SMTP_ADDR", "", "SMTP server (host:port) the notifier sends e-mails through; unset: no e-mails are sent (hack/services.sh up mailpit runs one on 127.0.0.1:51025)", config.Check(optional(config.HostPort)))
	set.String(&c.smtpFrom, "smtp-from", "KOMMERCE_SMTP_FROM", "kommerce <no-reply@localhost>", "sender of every e-mail")
	set.String(&c.smtpUser, "smtp-username", "KOMMERCE_SMTP_USERNAME", "", "SMTP user name (PLAIN authentication); unset: none")
	set.String(&c.smtpPass, "smtp-password", "KOMMERCE_SMTP_PASSWORD", "", "SMTP password", config.Secret())
	set.Bool(&c.smtpRequireTLS, "smtp-require-tls", "KOMMERCE_SMTP_REQUIRE_TLS", false, "refuse to send unless the server offers STARTTLS (it is used whenever offered)")
	set.String(&c.linkBase, "mail-link-base", "KOMMERCE_MAIL_LINK_BASE", "http://localhost:8080", "base URL of the links in password-reset and verification e-mails (<base>/reset-password?token=..., <base>/verify-email?token=...)", config.Check(config.URL(false, "http", "https")))
	set.String(&c.locale, "mail-locale", "KOMMERCE_MAIL_LOCALE", "en", "locale of order e-mails (shipped templates: en, de)")
	set.Bool(&c.noWebhooks, "no-webhooks", "KOMMERCE_NO_WEBHOOKS", false, "do not run the webhook fan-out and delivery worker")
	webhookGuardFlags(set, &c.allowLoopback, &c.allowPrivate)
	set.Duration(&c.webhookTimeout, "webhook-timeout", "KOMMERCE_WEBHOOK_TIMEOUT", 10*time.Second, "time a receiver has to answer one delivery")
	set.Duration(&c.webhookBackoff, "webhook-backoff", "KOMMERCE_WEBHOOK_BACKOFF", 10*time.Second, "first delay before a failed delivery is tried again; it doubles per attempt up to an hour")
	set.Duration(&c.disableAfter, "webhook-disable-after", "KOMMERCE_WEBHOOK_DISABLE_AFTER", 24*time.Hour, "an endpoint failing this long without a success is disabled and the tenant's admins e-mailed")
	set.Int(&c.webhookConcurrency, "webhook-concurrency", "KOMMERCE_WEBHOOK_CONCURRENCY", 8, "deliveries in flight at once", config.Check(config.Positive))
}

// webhookGuardFlags registers the SSRF guard's switches; the API (registration) and
// ingest (delivery) must be given the same ones.
func webhookGuardFlags(set *config.Set, loopback, private *bool) {
	set.Bool(loopback, "webhooks-allow-loopback", "KOMMERCE_WEBHOOKS_ALLOW_LOOPBACK", false, "accept and deliver to webhook endpoints on loopback addresses (development and tests only)")
	set.Bool(private, "webhooks-allow-private", "KOMMERCE_WEBHOOKS_ALLOW_PRIVATE", false, "accept and deliver to webhook endpoints on private and link-local networks (receivers on the platform's own network)")
}

func (c *backofficeConfig) guard() webhook.Guard {
	return webhook.Guard{AllowLoopback: c.allowLoopback, AllowPrivate: c.allowPrivate}
}

func optional(check func(string) error) func(string) error {
	return func(v string) error {
		if v == "" {
			return nil
		}
		return check(v)
	}
}

func (c *backofficeConfig) mailer() notify.Mailer {
	if c.smtpAddr == "" {
		return nil
	}
	return &notify.SMTP{Addr: c.smtpAddr, Username: c.smtpUser, Password: c.smtpPass, RequireTLS: c.smtpRequireTLS}
}

// start adds the notifier (when an SMTP server is set) and the webhooks to g.
func (c *backofficeConfig) start(ctx context.Context, g *errgroup.Group, pool *pgxpool.Pool, brokers []string, partitions, replication int, refresh time.Duration, box *secretbox.Keyring, log *slog.Logger) {
	topics := ikafka.NewTopics(brokers, partitions, replication)
	dir := ingestpg.NewDirectory(pool, refresh/2)
	m := c.mailer()
	if m != nil {
		h := notify.New(notify.Config{Pool: pool, Mailer: m, From: c.smtpFrom, Secrets: box, LinkBase: c.linkBase, Locale: c.locale, Log: log.With("component", "notifier")})
		g.Go(func() error {
			return notify.Run(ctx, h, notify.RunConfig{Brokers: brokers, Directory: dir, Topics: topics, TopicRefresh: refresh, Log: log})
		})
	} else {
		log.Info("no SMTP server set (--smtp-addr): e-mails are not sent")
	}
	if c.noWebhooks {
		return
	}
	wc := webhooks.WorkerConfig{
		Pool: pool, Secrets: box, Guard: c.guard(),
		Timeout: c.webhookTimeout, Concurrency: c.webhookConcurrency, DisableAfter: c.disableAfter, Backoff: c.webhookBackoff,
	}
	if m != nil {
		wc.Notifier = &notify.AdminNotifier{Pool: pool, Mailer: m, From: c.smtpFrom}
	}
	g.Go(func() error {
		return webhooks.Run(ctx, webhooks.RunConfig{Brokers: brokers, Directory: dir, Topics: topics, TopicRefresh: refresh, Worker: wc, Log: log})
	})
}

package notify_test

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	kafka "github.com/segmentio/kafka-go"

	"github.com/kommerce/kommerce/ingest"
	"github.com/kommerce/kommerce/ingest/ingesttest"
	ikafka "github.com/kommerce/kommerce/ingest/kafka"
	"github.com/kommerce/kommerce/ingest/notify"
	"github.com/kommerce/kommerce/ingest/postgres"
	"github.com/kommerce/kommerce/internal/events"
	"github.com/kommerce/kommerce/internal/secretbox"
	"github.com/kommerce/kommerce/internal/testenv"
)

// fixture is one test's tenant with its database, topics and mailpit.
type fixture struct {
	t       testing.TB
	pool    *pgxpool.Pool
	brokers []string
	tenant  ingest.Tenant
	mailpit *testenv.Mailpit
	topics  *ikafka.Topics
	writer  *kafka.Writer
}

func newFixture(t testing.TB) *fixture {
	t.Helper()
	mp := testenv.NewMailpit(t)
	db := testenv.NewDatabase(t)
	brokers := testenv.KafkaBrokers(t)
	f := &fixture{t: t, pool: db.Pool, brokers: brokers, mailpit: mp, topics: ikafka.NewTopics(brokers, 2, 1)}
	f.tenant = ingesttest.NewTenant(t, db.Pool, brokers, "unused")
	if err := f.topics.EnsurePrefix(context.Background(), f.tenant.TopicPrefix); err != nil {
		t.Fatal(err)
	}
	ingesttest.WaitLeaders(t, brokers, ikafka.PrefixTopics(f.tenant.TopicPrefix)...)
	f.writer = ikafka.NewWriter(brokers)
	t.Cleanup(func() { f.writer.Close() })
	return f
}

// tenantTx runs fn in a transaction scoped to the fixture's tenant.
func (f *fixture) tenantTx(fn func(tx pgx.Tx) error) {
	f.t.Helper()
	ctx := context.Background()
	err := pgx.BeginFunc(ctx, f.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, "SELECT set_config('kommerce.tenant_id', $1, true)", f.tenant.ID); err != nil {
			return err
		}
		return fn(tx)
	})
	if err != nil {
		f.t.Fatal(err)
	}
}

// order inserts a guest order for email with one line and returns its id.
func (f *fixture) order(email string) string {
	f.t.Helper()
	var id string
	f.tenantTx(func(tx pgx.Tx) error {
		ctx := context.Background()
		var cart string
		if err := tx.QueryRow(ctx, `INSERT INTO carts (tenant_id, storefront, currency, token_hash) VALUES ($1, 'default', 'EUR', $2) RETURNING id`,
			f.tenant.ID, randomBytes(32)).Scan(&cart); err != nil {
			return err
		}
		if err := tx.QueryRow(ctx, `INSERT INTO orders (tenant_id, storefront, cart_id, email, currency, subtotal, shipping, tax, total)
			VALUES ($1, 'default', $2, $3, 'EUR', 3998, 500, 900, 5398) RETURNING id`, f.tenant.ID, cart, email).Scan(&id); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `INSERT INTO order_lines (tenant_id, order_id, position, kind, sku, name, quantity, unit_price, amount)
			VALUES ($1, $2, 0, 'item', 'MUG-1', 'Travel Mug', 2, 1999, 3998)`, f.tenant.ID, id)
		return err
	})
	return id
}

// event is an envelope with a fresh id.
func (f *fixture) event(typ events.Type, aggregateID string, data any) events.Envelope {
	raw, err := events.Encode(typ, data)
	if err != nil {
		f.t.Fatal(err)
	}
	return events.Envelope{ID: newUUID(), Type: typ, TenantID: f.tenant.ID, AggregateType: strings.SplitN(string(typ), ".", 2)[0],
		AggregateID: aggregateID, OccurredAt: time.Now().UTC(), Data: raw}
}

// publish writes envelopes to their tenant topic, as the relay does.
func (f *fixture) publish(envs ...events.Envelope) {
	f.t.Helper()
	msgs := make([]kafka.Message, len(envs))
	for i, e := range envs {
		b, _ := json.Marshal(e)
		msgs[i] = kafka.Message{Topic: events.Topic(f.tenant.TopicPrefix, events.StreamOf(e.Type)), Key: events.Key(e.TenantID, e.AggregateID), Value: b}
	}
	if err := f.writer.WriteMessages(context.Background(), msgs...); err != nil {
		f.t.Fatal(err)
	}
}

// counting wraps a handler and counts messages it finished (nil or permanent).
type counting struct {
	h    ingest.Handler
	done atomic.Int64
	errs atomic.Int64
}

func (c *counting) Handle(ctx context.Context, msgs []ingest.Message) []error {
	errs := c.h.Handle(ctx, msgs)
	for _, err := range errs {
		switch {
		case err == nil || ingest.IsPermanent(err):
			c.done.Add(1)
		default:
			c.errs.Add(1)
		}
	}
	return errs
}

// run starts a consumer group over the tenant's notifier topics; stop ends it.
func (f *fixture) run(h ingest.Handler, group string) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	dl := ikafka.NewWriter(f.brokers)
	dir := postgres.NewDirectory(f.pool, time.Second)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		err := ikafka.RunConsumer(ctx, ikafka.ConsumerConfig{
			Name: "notifier", Brokers: f.brokers, GroupID: group,
			Topics: notify.TenantTopics(dir, f.topics, notify.Streams), TopicRefresh: time.Second,
			Handler: h, MaxAttempts: 6, RetryBackoff: 50 * time.Millisecond, DeadLetters: dl,
		})
		if err != nil {
			f.t.Errorf("consumer: %v", err)
		}
	}()
	stop = func() { cancel(); wg.Wait(); dl.Close() }
	f.t.Cleanup(stop)
	return stop
}

func (f *fixture) handler(m notify.Mailer, box *secretbox.Keyring) *notify.Handler {
	return notify.New(notify.Config{Pool: f.pool, Mailer: m, From: "Shop <shop@kommerce.test>", Secrets: box, LinkBase: "https://shop.example", MaxAttempts: 3})
}

func (f *fixture) smtp() *notify.SMTP {
	return &notify.SMTP{Addr: f.mailpit.SMTPAddr, Timeout: 10 * time.Second}
}

// mails waits until to has want messages in mailpit and returns them.
func (f *fixture) mails(to string, want int) []testenv.MailSummary {
	f.t.Helper()
	var got []testenv.MailSummary
	testenv.Eventually(f.t, 60*time.Second, fmt.Sprintf("%d e-mails to %s", want, to), func() (bool, string) {
		var err error
		got, err = f.mailpit.Search(to)
		if err != nil {
			return false, err.Error()
		}
		return len(got) >= want, fmt.Sprintf("%d e-mails", len(got))
	})
	return got
}

func (f *fixture) sendStatus(eventID string) (status, lastError string) {
	f.t.Helper()
	f.tenantTx(func(tx pgx.Tx) error {
		return tx.QueryRow(context.Background(), `SELECT status, last_error FROM notification_sends WHERE event_id = $1`, eventID).Scan(&status, &lastError)
	})
	return status, lastError
}

// TestOrderEventsSendOneEmailEachUnderDuplicatesAndReplay publishes the events of an
// order's life, each twice, consumes them with two notifiers at once, then replays the
// topic from the start with a new consumer group: each event gives exactly one e-mail.
func TestOrderEventsSendOneEmailEachUnderDuplicatesAndReplay(t *testing.T) {
	f := newFixture(t)
	to := testenv.MailpitAddress(t, "buyer")
	orderID := f.order(to)
	at := time.Now().UTC()
	envs := []events.Envelope{
		f.event(events.OrderCreated, orderID, events.Order{ID: orderID, Status: "pending_payment", Total: events.Price{Currency: "EUR", Amount: 5398}, Lines: []events.OrderLine{}, CreatedAt: at}),
		f.event(events.OrderTransitioned, orderID, events.OrderTransition{OrderID: orderID, From: "pending_payment", To: "paid", Version: 2, At: at}),
		f.event(events.OrderTransitioned, orderID, events.OrderTransition{OrderID: orderID, From: "paid", To: "fulfilled", Version: 3, At: at}),
		f.event(events.OrderTransitioned, orderID, events.OrderTransition{OrderID: orderID, From: "fulfilled", To: "shipped", Version: 4, At: at}),
		f.event(events.OrderTransitioned, orderID, events.OrderTransition{OrderID: orderID, From: "shipped", To: "refunded", Version: 5, At: at}),
	}
	f.publish(envs...)
	f.publish(envs...) // every event delivered twice

	// Two notifiers in two groups: both see every message, as two replicas would
	// after a rebalance that re-delivers a batch.
	a := &counting{h: f.handler(f.smtp(), nil)}
	b := &counting{h: f.handler(f.smtp(), nil)}
	f.run(a, testenv.Name(t, "g1", "-"))
	f.run(b, testenv.Name(t, "g2", "-"))
	testenv.Eventually(t, 90*time.Second, "both notifiers handled all 10 messages", func() (bool, string) {
		return a.done.Load() >= 10 && b.done.Load() >= 10, fmt.Sprintf("a=%d b=%d", a.done.Load(), b.done.Load())
	})
	got := f.mails(to, 4)

	// Replay: a new group reads the topic from the start.
	c := &counting{h: f.handler(f.smtp(), nil)}
	f.run(c, testenv.Name(t, "replay", "-"))
	testenv.Eventually(t, 90*time.Second, "the replaying notifier handled all 10 messages", func() (bool, string) {
		return c.done.Load() >= 10, fmt.Sprintf("%d", c.done.Load())
	})
	got, err := f.mailpit.Search(to)
	if err != nil {
		t.Fatal(err)
	}
	subjects := map[string]int{}
	for _, m := range got {
		subjects[m.Subject]++
	}
	number := strings.ToUpper(strings.ReplaceAll(orderID, "-", ""))[:8]
	want := []string{
		f.tenant.Slug + ": we received your order " + number,
		f.tenant.Slug + ": payment received for order " + number,
		f.tenant.Slug + ": order " + number + " is on its way",
		f.tenant.Slug + ": order " + number + " refunded",
	}
	if len(got) != len(want) {
		t.Fatalf("%d e-mails, want %d (one per event): %v", len(got), len(want), subjects)
	}
	for _, s := range want {
		if subjects[s] != 1 {
			t.Errorf("subject %q arrived %d times, want once; all: %v", s, subjects[s], subjects)
		}
	}
	// The body has the storefront's currency formatting and the line.
	for _, m := range got {
		if strings.Contains(m.Subject, "we received") {
			full, err := f.mailpit.Message(m.ID)
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(full.Text, "€53.98") || !strings.Contains(full.Text, "Travel Mug") || !strings.Contains(full.HTML, "€53.98") {
				t.Errorf("order e-mail lacks the total or the line:\n%s", full.Text)
			}
			if full.MessageID != envs[0].ID+".order_created@kommerce" {
				t.Errorf("Message-ID %q is not derived from the event id", full.MessageID)
			}
		}
	}
}

// TestSMTPDownThenUp sends to an address where no SMTP server listens yet; the
// notifier keeps retrying and, once a server answers there (a relay to mailpit),
// delivers the e-mail once.
func TestSMTPDownThenUp(t *testing.T) {
	f := newFixture(t)
	to := testenv.MailpitAddress(t, "patient")
	orderID := f.order(to)
	addr := freeAddr(t)
	m := &countingMailer{m: &notify.SMTP{Addr: addr, Timeout: 5 * time.Second}}
	h := &counting{h: f.handler(m, nil)}
	f.run(h, testenv.Name(t, "g", "-"))
	e := f.event(events.OrderCreated, orderID, events.Order{ID: orderID, Total: events.Price{Currency: "EUR", Amount: 5398}, Lines: []events.OrderLine{}})
	f.publish(e)
	testenv.Eventually(t, 60*time.Second, "three failed tries while the server is down", func() (bool, string) {
		return m.failures.Load() >= 3, fmt.Sprintf("%d failures", m.failures.Load())
	})
	if n := h.done.Load(); n != 0 {
		t.Fatalf("%d messages finished while the SMTP server was down (dead-lettered?)", n)
	}
	relay(t, addr, f.mailpit.SMTPAddr)
	f.mails(to, 1)
	testenv.Eventually(t, 30*time.Second, "the event finished", func() (bool, string) { return h.done.Load() == 1, fmt.Sprint(h.done.Load()) })
	if got, _ := f.mailpit.Search(to); len(got) != 1 {
		t.Fatalf("%d e-mails after the server came back, want 1", len(got))
	}
	if st, _ := f.sendStatus(e.ID); st != "sent" {
		t.Fatalf("status %q, want sent", st)
	}
}

// TestBrokenTemplateIsDeadLetteredWithTheReason stores a template that passes parsing
// but fails at send time (it was written past the API's check); the event goes to the
// dead-letter topic with the reason, and notification_sends says why.
func TestBrokenTemplateIsDeadLetteredWithTheReason(t *testing.T) {
	f := newFixture(t)
	to := testenv.MailpitAddress(t, "broken")
	orderID := f.order(to)
	f.tenantTx(func(tx pgx.Tx) error {
		_, err := tx.Exec(context.Background(), `INSERT INTO notification_templates (tenant_id, kind, locale, subject, html, text_body)
			VALUES ($1, 'order_created', 'en', 'Order {{.Order.Number}}', '', '{{index .Order.Lines 5}}')`, f.tenant.ID)
		return err
	})
	h := &counting{h: f.handler(f.smtp(), nil)}
	f.run(h, testenv.Name(t, "g", "-"))
	e := f.event(events.OrderCreated, orderID, events.Order{ID: orderID, Total: events.Price{Currency: "EUR", Amount: 5398}, Lines: []events.OrderLine{}})
	f.publish(e)
	dlq := ingesttest.ReadTopic(t, f.brokers, events.DeadLetter(events.Topic(f.tenant.TopicPrefix, events.StreamOrders)), 1)
	reason := ""
	for _, hd := range dlq[0].Headers {
		if hd.Key == ikafka.HeaderError {
			reason = string(hd.Value)
		}
	}
	if !strings.Contains(reason, "template text") || !strings.Contains(reason, "index out of range") {
		t.Fatalf("dead letter reason %q does not say the template failed", reason)
	}
	st, why := f.sendStatus(e.ID)
	if st != "dead" || !strings.Contains(why, "index out of range") {
		t.Fatalf("send status %q (%q), want dead with the reason", st, why)
	}
	if got, _ := f.mailpit.Search(to); len(got) != 0 {
		t.Fatalf("%d e-mails sent from a broken template", len(got))
	}
}

// TestTemporaryRefusalIsRetriedThenDeadLettered: a server answering 451 to every
// recipient gets MaxAttempts tries, then the event is dead-lettered (not lost). The
// server is a few lines of SMTP below: mailpit has no setting that answers 4xx.
func TestTemporaryRefusalIsRetriedThenDeadLettered(t *testing.T) {
	f := newFixture(t)
	to := testenv.MailpitAddress(t, "refused")
	orderID := f.order(to)
	addr := refusingSMTP(t, "451 4.3.0 try again later")
	h := &counting{h: f.handler(&notify.SMTP{Addr: addr, Timeout: 5 * time.Second}, nil)}
	f.run(h, testenv.Name(t, "g", "-"))
	e := f.event(events.OrderCreated, orderID, events.Order{ID: orderID, Total: events.Price{Currency: "EUR", Amount: 5398}, Lines: []events.OrderLine{}})
	f.publish(e)
	dlq := ingesttest.ReadTopic(t, f.brokers, events.DeadLetter(events.Topic(f.tenant.TopicPrefix, events.StreamOrders)), 1)
	var env events.Envelope
	if err := json.Unmarshal(dlq[0].Value, &env); err != nil || env.ID != e.ID {
		t.Fatalf("dead letter is not the event: %v %s", err, dlq[0].Value)
	}
	st, why := f.sendStatus(e.ID)
	if st != "dead" || !strings.Contains(why, "451") {
		t.Fatalf("status %q (%q), want dead after 451s", st, why)
	}
	var attempts int
	f.tenantTx(func(tx pgx.Tx) error {
		return tx.QueryRow(context.Background(), `SELECT attempts FROM notification_sends WHERE event_id = $1`, e.ID).Scan(&attempts)
	})
	if attempts != 3 {
		t.Fatalf("%d attempts recorded, want MaxAttempts = 3", attempts)
	}
}

// TestPasswordResetEmailCarriesTheOpenedToken: the event holds the sealed token; the
// e-mail holds the link with the plain one.
func TestPasswordResetEmailCarriesTheOpenedToken(t *testing.T) {
	f := newFixture(t)
	to := testenv.MailpitAddress(t, "forgetful")
	key := make([]byte, 32)
	_, _ = rand.Read(key)
	box, err := secretbox.New([]string{"k1"}, [][]byte{key})
	if err != nil {
		t.Fatal(err)
	}
	sealed, err := box.Seal(f.tenant.ID, events.TokenSealColumn, []byte("tok-123_abc"))
	if err != nil {
		t.Fatal(err)
	}
	f.run(f.handler(f.smtp(), box), testenv.Name(t, "g", "-"))
	f.publish(f.event(events.PasswordResetRequested, newUUID(), events.AccountToken{
		UserID: newUUID(), Email: to, Name: "Grace", Locale: "de", Storefront: "default", TokenSealed: string(sealed), ExpiresAt: time.Now().Add(time.Hour).UTC(),
	}))
	got := f.mails(to, 1)
	full, err := f.mailpit.Message(got[0].ID)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(full.Text, "https://shop.example/reset-password?token=tok-123_abc") {
		t.Fatalf("reset e-mail lacks the link:\n%s", full.Text)
	}
	if !strings.Contains(full.Subject, "Passwort") {
		t.Fatalf("subject %q is not the German template", full.Subject)
	}
}

type countingMailer struct {
	m        notify.Mailer
	failures atomic.Int64
}

func (c *countingMailer) Send(ctx context.Context, m notify.Mail) error {
	err := c.m.Send(ctx, m)
	if err != nil {
		c.failures.Add(1)
	}
	return err
}

// freeAddr returns a loopback address nothing listens on (a port just released).
func freeAddr(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

// relay listens on addr and forwards every connection to target: the SMTP server
// "comes back" at addr.
func relay(t *testing.T, addr, target string) {
	l, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				u, err := net.Dial("tcp", target)
				if err != nil {
					return
				}
				defer u.Close()
				go func() { _, _ = io.Copy(u, c) }()
				_, _ = io.Copy(c, u)
			}()
		}
	}()
}

// refusingSMTP is a minimal SMTP responder that refuses every recipient with answer.
func refusingSMTP(t *testing.T, answer string) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go serveRefusing(c, answer)
		}
	}()
	return l.Addr().String()
}

func serveRefusing(c net.Conn, answer string) {
	defer c.Close()
	buf := make([]byte, 4096)
	_, _ = io.WriteString(c, "220 refusing ESMTP\r\n")
	for {
		n, err := c.Read(buf)
		if err != nil {
			return
		}
		cmd := strings.ToUpper(string(buf[:n]))
		switch {
		case strings.HasPrefix(cmd, "EHLO"), strings.HasPrefix(cmd, "HELO"):
			_, _ = io.WriteString(c, "250 refusing\r\n")
		case strings.HasPrefix(cmd, "MAIL"):
			_, _ = io.WriteString(c, "250 ok\r\n")
		case strings.HasPrefix(cmd, "RCPT"):
			_, _ = io.WriteString(c, answer+"\r\n")
		case strings.HasPrefix(cmd, "QUIT"):
			_, _ = io.WriteString(c, "221 bye\r\n")
			return
		default:
			_, _ = io.WriteString(c, "250 ok\r\n")
		}
	}
}

func randomBytes(n int) []byte {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return b
}

func newUUID() string {
	b := randomBytes(16)
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:])
}

// privateMailpit starts a mailpit of the test's own with extra flags (the shared one
// accepts every recipient) and returns its SMTP address and a reader of its API.
func privateMailpit(t *testing.T, flags ...string) *testenv.Mailpit {
	t.Helper()
	bin := testenv.MailpitBinary()
	if bin == "" {
		testenv.Unavailable(t, "mailpit", "KOMMERCE_TEST_MAILPIT_BIN", errors.New("the mailpit binary is not built"))
	}
	m := &testenv.Mailpit{SMTPAddr: freeAddr(t)}
	httpAddr := freeAddr(t)
	m.URL = "http://" + httpAddr
	args := append([]string{"--smtp", m.SMTPAddr, "--listen", httpAddr, "--database", t.TempDir() + "/mailpit.db"}, flags...)
	cmd := exec.Command(bin, args...)
	var out testenv.SyncBuffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	testenv.Eventually(t, 30*time.Second, "the private mailpit answers", func() (bool, string) {
		c, err := net.Dial("tcp", m.SMTPAddr)
		if err != nil {
			return false, out.String()
		}
		c.Close()
		return true, ""
	})
	return m
}

// TestRefusedRecipientIsDeadLetteredAtOnce: a real mailpit that accepts only some
// recipients answers 5xx to the order's address; the event is dead-lettered after
// one try with the server's answer as the reason, and nothing else is held up.
func TestRefusedRecipientIsDeadLetteredAtOnce(t *testing.T) {
	f := newFixture(t)
	mp := privateMailpit(t, "--smtp-allowed-recipients", "^allowed-")
	refused := f.order(testenv.MailpitAddress(t, "refused"))
	allowed := testenv.MailpitAddress(t, "allowed")
	ok := f.order(allowed)
	f.run(f.handler(&notify.SMTP{Addr: mp.SMTPAddr, Timeout: 5 * time.Second}, nil), testenv.Name(t, "g", "-"))
	e := f.event(events.OrderCreated, refused, events.Order{ID: refused, Total: events.Price{Currency: "EUR", Amount: 5398}, Lines: []events.OrderLine{}})
	f.publish(e, f.event(events.OrderCreated, ok, events.Order{ID: ok, Total: events.Price{Currency: "EUR", Amount: 5398}, Lines: []events.OrderLine{}}))
	testenv.Eventually(t, 60*time.Second, "the allowed recipient's e-mail", func() (bool, string) {
		got, err := mp.Search(allowed)
		return err == nil && len(got) == 1, fmt.Sprint(len(got), err)
	})
	ingesttest.ReadTopic(t, f.brokers, events.DeadLetter(events.Topic(f.tenant.TopicPrefix, events.StreamOrders)), 1)
	st, why := f.sendStatus(e.ID)
	var attempts int
	f.tenantTx(func(tx pgx.Tx) error {
		return tx.QueryRow(context.Background(), `SELECT attempts FROM notification_sends WHERE event_id = $1`, e.ID).Scan(&attempts)
	})
	if st != "dead" || attempts != 1 || !strings.Contains(why, "RCPT: 5") {
		t.Fatalf("refused recipient: status %q after %d attempts (%q), want dead after 1 with the 5xx", st, attempts, why)
	}
}

// TestReplayedDeadLetterIsSent: a dead-lettered e-mail (its template failed) is sent
// once the template is fixed and the dead-letter topic replayed with the replay
// command's code; replaying it a second time sends nothing more.
func TestReplayedDeadLetterIsSent(t *testing.T) {
	f := newFixture(t)
	to := testenv.MailpitAddress(t, "replayed")
	orderID := f.order(to)
	f.tenantTx(func(tx pgx.Tx) error {
		_, err := tx.Exec(context.Background(), `INSERT INTO notification_templates (tenant_id, kind, locale, subject, html, text_body)
			VALUES ($1, 'order_created', 'en', 'Order {{.Order.Number}}', '', '{{index .Order.Lines 5}}')`, f.tenant.ID)
		return err
	})
	h := &counting{h: f.handler(f.smtp(), nil)}
	f.run(h, testenv.Name(t, "g", "-"))
	e := f.event(events.OrderCreated, orderID, events.Order{ID: orderID, Total: events.Price{Currency: "EUR", Amount: 5398}, Lines: []events.OrderLine{}})
	f.publish(e)
	dlqTopic := events.DeadLetter(events.Topic(f.tenant.TopicPrefix, events.StreamOrders))
	ingesttest.ReadTopic(t, f.brokers, dlqTopic, 1)
	f.tenantTx(func(tx pgx.Tx) error {
		_, err := tx.Exec(context.Background(), `UPDATE notification_templates SET text_body = 'Total {{money .Order.Total}}'`)
		return err
	})
	replay := func() {
		w := ikafka.NewWriter(f.brokers)
		defer w.Close()
		if _, err := ikafka.Replay(context.Background(), ikafka.ReplayConfig{Brokers: f.brokers, Topic: dlqTopic, GroupID: testenv.Name(t, "replay", "-"), Writer: w, IdleTimeout: 10 * time.Second}); err != nil {
			t.Fatal(err)
		}
	}
	replay()
	got := f.mails(to, 1)
	if got[0].Subject != "Order "+strings.ToUpper(strings.ReplaceAll(orderID, "-", ""))[:8] {
		t.Fatalf("subject %q", got[0].Subject)
	}
	replay() // a second replay (a new group) re-drives it again: already sent
	testenv.Eventually(t, 60*time.Second, "the second replay handled", func() (bool, string) {
		return h.done.Load() >= 3, fmt.Sprint(h.done.Load())
	})
	if got, _ := f.mailpit.Search(to); len(got) != 1 {
		t.Fatalf("%d e-mails after two replays, want 1", len(got))
	}
}

package notify_test

import (
	"context"
	"encoding/json"
	"sync"
	"testing"
	"time"

	"github.com/kommerce/kommerce/ingest"
	"github.com/kommerce/kommerce/ingest/notify"
	"github.com/kommerce/kommerce/internal/events"
	"github.com/kommerce/kommerce/internal/mailtmpl"
	"github.com/kommerce/kommerce/internal/testenv"
)

// BenchmarkEmails measures e-mails/s to mailpit: "raw" sends an already rendered
// order e-mail over SMTP (one connection per e-mail, as the notifier does) — the
// baseline; "notifier" handles order.created events end to end (the order read from
// PostgreSQL, the template rendered, the once-per-event row claimed and recorded in
// the send's transaction; messages of different keys eight at a time, as the notifier
// runs). Kafka is not in the loop. "raw8" is the raw baseline with the same eight
// senders at once.
//
//	go test -run '^$' -bench Emails -benchtime 300x ./ingest/notify/
func BenchmarkEmails(b *testing.B) {
	mp := testenv.NewMailpit(b)
	smtp := &notify.SMTP{Addr: mp.SMTPAddr, Timeout: 10 * time.Second}
	r, err := mailtmpl.Render(mailtmpl.Default(mailtmpl.OrderCreated, "en"), mailtmpl.Sample(mailtmpl.OrderCreated, "en"))
	if err != nil {
		b.Fatal(err)
	}
	b.Run("raw", func(b *testing.B) {
		to := testenv.MailpitAddress(b, "bench-raw")
		start := time.Now()
		for i := 0; i < b.N; i++ {
			if err := smtp.Send(context.Background(), notify.Mail{From: "shop@kommerce.test", To: to, Subject: r.Subject, Text: r.Text, HTML: r.HTML, MessageID: newUUID() + "@bench"}); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "emails/s")
	})
	b.Run("raw8", func(b *testing.B) {
		to := testenv.MailpitAddress(b, "bench-raw8")
		start := time.Now()
		var wg sync.WaitGroup
		next := make(chan int)
		for range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for range next {
					if err := smtp.Send(context.Background(), notify.Mail{From: "shop@kommerce.test", To: to, Subject: r.Subject, Text: r.Text, HTML: r.HTML, MessageID: newUUID() + "@bench"}); err != nil {
						b.Error(err)
					}
				}
			}()
		}
		for i := 0; i < b.N; i++ {
			next <- i
		}
		close(next)
		wg.Wait()
		b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "emails/s")
	})
	b.Run("notifier", func(b *testing.B) {
		f := newFixture(b)
		to := testenv.MailpitAddress(b, "bench-notifier")
		orderID := f.order(to)
		h := notify.New(notify.Config{Pool: f.pool, Mailer: smtp, From: "shop@kommerce.test"})
		msgs := make([]ingest.Message, b.N)
		for i := range msgs {
			env := f.event(events.OrderCreated, orderID, events.Order{ID: orderID, Total: events.Price{Currency: "EUR", Amount: 5398}, Lines: []events.OrderLine{}})
			v, _ := json.Marshal(env)
			msgs[i] = ingest.Message{Key: []byte(env.ID), Value: v} // as many keys as orders
		}
		b.ResetTimer()
		start := time.Now()
		for _, err := range h.Handle(context.Background(), msgs) {
			if err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "emails/s")
	})
}

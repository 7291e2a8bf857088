package webhooks_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/kommerce/kommerce/ingest"
	"github.com/kommerce/kommerce/ingest/webhooks"
	"github.com/kommerce/kommerce/internal/events"
	"github.com/kommerce/kommerce/internal/webhook"
)

// BenchmarkDeliveries measures webhook deliveries/s to one real HTTP receiver on
// loopback: "raw" POSTs the same envelopes from 8 goroutines with a plain client —
// the baseline; "worker" delivers deliveries the fan-out recorded (each a different
// order, so none waits for another) with the worker at its default concurrency of 8:
// claim in PostgreSQL, sign, POST through the SSRF-checking dialer, record the attempt
// and the outcome. Kafka is not in the loop.
//
//	go test -run '^$' -bench Deliveries -benchtime 1000x ./ingest/webhooks/
func BenchmarkDeliveries(b *testing.B) {
	srv := newReceiver(b, func(int, http.ResponseWriter, *http.Request) bool { return true }).srv.URL
	payload := func(tenantID string) []byte {
		data, _ := events.Encode(events.OrderTransitioned, events.OrderTransition{OrderID: "o", From: "a", To: "b", Version: 1, At: time.Now().UTC()})
		order := newUUID()
		v, _ := json.Marshal(events.Envelope{ID: newUUID(), Type: events.OrderTransitioned, TenantID: tenantID, AggregateType: "order", AggregateID: order, OccurredAt: time.Now().UTC(), Data: data})
		return v
	}
	b.Run("raw", func(b *testing.B) {
		body := payload(newUUID())
		client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 16}}
		next := make(chan struct{})
		var wg sync.WaitGroup
		start := time.Now()
		for range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for range next {
					req, _ := http.NewRequest(http.MethodPost, srv, bytes.NewReader(body))
					req.Header.Set("Content-Type", "application/json")
					resp, err := client.Do(req)
					if err != nil {
						b.Error(err)
						continue
					}
					resp.Body.Close()
				}
			}()
		}
		for i := 0; i < b.N; i++ {
			next <- struct{}{}
		}
		close(next)
		wg.Wait()
		b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "deliveries/s")
	})
	b.Run("worker", func(b *testing.B) {
		f := newFixture(b)
		f.endpoint(srv, "whsec_bench", "", "*")
		msgs := make([]ingest.Message, b.N)
		for i := range msgs {
			msgs[i] = ingest.Message{Value: payload(f.tenant.ID)}
		}
		for _, err := range webhooks.NewFanOut(f.pool).Handle(context.Background(), msgs) {
			if err != nil {
				b.Fatal(err)
			}
		}
		w := webhooks.NewWorker(webhooks.WorkerConfig{Pool: f.pool, Secrets: f.box, Guard: webhook.Guard{AllowLoopback: true}})
		b.ResetTimer()
		start := time.Now()
		done := 0
		for done < b.N {
			n, err := w.RunOnce(context.Background())
			if err != nil {
				b.Fatal(err)
			}
			if n == 0 {
				b.Fatalf("nothing due after %d of %d deliveries", done, b.N)
			}
			done += n
		}
		b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "deliveries/s")
		b.StopTimer()
		var ok int
		f.tx(func(tx pgx.Tx) error {
			return tx.QueryRow(context.Background(), `SELECT count(*) FROM webhook_deliveries WHERE status = 'succeeded'`).Scan(&ok)
		})
		if ok != b.N {
			b.Fatalf("%d of %d deliveries succeeded", ok, b.N)
		}
	})
}

package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/kommerce/kommerce/ingest/ingesttest"
	"github.com/kommerce/kommerce/internal/search"
	"github.com/kommerce/kommerce/internal/search/elasticsearch"
	"github.com/kommerce/kommerce/internal/testenv"
)

// jaegerTrace is the part of Jaeger's query API answer (GET /api/traces/<id>) the
// test reads.
type jaegerTrace struct {
	Data []struct {
		Spans []jaegerSpan `json:"spans"`
	} `json:"data"`
}

type jaegerSpan struct {
	SpanID        string `json:"spanID"`
	OperationName string `json:"operationName"`
	References    []struct {
		RefType string `json:"refType"`
		SpanID  string `json:"spanID"`
	} `json:"references"`
	Tags []struct {
		Key   string `json:"key"`
		Value any    `json:"value"`
	} `json:"tags"`
}

func (s jaegerSpan) tag(key string) string {
	for _, t := range s.Tags {
		if t.Key == key {
			return fmt.Sprint(t.Value)
		}
	}
	return ""
}

func (s jaegerSpan) parent() string {
	for _, r := range s.References {
		if r.RefType == "CHILD_OF" {
			return r.SpanID
		}
	}
	return ""
}

func readTrace(queryURL, traceID string) ([]jaegerSpan, error) {
	resp, err := testClient.Get(queryURL + "/api/traces/" + traceID)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("jaeger answered %d", resp.StatusCode)
	}
	var tr jaegerTrace
	if err := json.NewDecoder(resp.Body).Decode(&tr); err != nil {
		return nil, err
	}
	if len(tr.Data) != 1 {
		return nil, fmt.Errorf("%d traces", len(tr.Data))
	}
	return tr.Data[0].Spans, nil
}

// chain finds, in one trace, a server span of route, a producer span that is its
// descendant publishing to topic, and a consumer span of the search indexer that is
// the producer's child: the request → outbox relay → Kafka → indexer path.
func chain(spans []jaegerSpan, route, topic string) (server, producer, consumer *jaegerSpan, seen string) {
	byID := map[string]*jaegerSpan{}
	var names []string
	for i := range spans {
		byID[spans[i].SpanID] = &spans[i]
		names = append(names, spans[i].OperationName+"("+spans[i].tag("span.kind")+")")
	}
	seen = strings.Join(names, ", ")
	for i := range spans {
		s := &spans[i]
		switch {
		case s.tag("span.kind") == "server" && s.tag("http.route") == route:
			server = s
		case s.tag("span.kind") == "producer" && s.tag("messaging.destination.name") == topic:
			producer = s
		case s.tag("span.kind") == "consumer" && s.tag("messaging.destination.name") == topic && s.tag("messaging.consumer.group.name") == "search-indexer":
			consumer = s
		}
	}
	if server == nil || producer == nil || consumer == nil {
		return nil, nil, nil, seen
	}
	if consumer.parent() != producer.SpanID {
		return nil, nil, nil, seen + " (the consumer span is not the producer's child)"
	}
	for p := byID[producer.parent()]; ; p = byID[p.parent()] {
		if p == nil {
			return nil, nil, nil, seen + " (the producer span does not descend from the request)"
		}
		if p == server {
			return server, producer, consumer, seen
		}
	}
}

// TestOneTraceFromRequestToSearchIndex runs `kommerce api` and `kommerce ingest` with
// tracing on against the real PostgreSQL, Kafka, Elasticsearch and Jaeger, creates a
// product and checks out a cart, and reads each request's trace back from Jaeger's
// query API: the HTTP request, its queries, the outbox relay's publish span and the
// search indexer's span, in one trace, with the tenant as an attribute; and no
// attribute of the login, product or checkout traces holds a password, a token, an
// e-mail address or card data.
func TestOneTraceFromRequestToSearchIndex(t *testing.T) {
	otlpURL, queryURL := testenv.Jaeger(t)
	db := testenv.NewDatabase(t)
	brokers := testenv.KafkaBrokers(t)
	es := testenv.NewElasticsearchIndex(t)
	tenant := ingesttest.NewTenant(t, db.Pool, brokers, es.Index)
	const email, password = "boss@traced.test", "boss-password-traced-1"
	if code, _, stderr := invoke(t, map[string]string{"KOMMERCE_DATABASE_URL": db.URL}, "admin", "rotate-keys", "--tenant", tenant.Slug); code != 0 {
		t.Fatalf("rotate-keys: exit %d: %s", code, stderr)
	}
	code, _, stderr := invokeStdin(t, map[string]string{"KOMMERCE_DATABASE_URL": db.URL}, password+"\n",
		"admin", "create-user", "--tenant", tenant.Slug, "--email", email, "--role", "admin", "--password-stdin")
	if code != 0 {
		t.Fatalf("create-user: exit %d: %s", code, stderr)
	}

	addr := freeAddr(t)
	common := map[string]string{
		"KOMMERCE_DATABASE_URL":       db.URL,
		"KOMMERCE_ELASTICSEARCH_URL":  es.URL,
		"KOMMERCE_KAFKA_BROKERS":      strings.Join(brokers, ","),
		"KOMMERCE_LOG_LEVEL":          "debug",
		"OTEL_EXPORTER_OTLP_ENDPOINT": otlpURL,
		"OTEL_TRACES_SAMPLER":         "parentbased_always_on",
	}
	apiEnv := map[string]string{"KOMMERCE_HTTP_ADDR": addr}
	ingestEnv := map[string]string{"KOMMERCE_HTTP_ADDR": "127.0.0.1:0", "KOMMERCE_INGEST_GROUP": testenv.Name(t, "g", "-"), "KOMMERCE_KAFKA_PARTITIONS": "1"}
	for k, v := range common {
		apiEnv[k], ingestEnv[k] = v, v
	}
	ctx, cancel := context.WithCancel(context.Background())
	var apiLogs, ingestLogs testenv.SyncBuffer
	done := make(chan string, 2)
	for name, env := range map[string]map[string]string{"api": apiEnv, "ingest": ingestEnv} {
		logs := &apiLogs
		if name == "ingest" {
			logs = &ingestLogs
		}
		go func() {
			err := run(ctx, []string{"kommerce", name}, func(k string) string { return env[k] }, strings.NewReader(""), &bytes.Buffer{}, logs)
			if c := exitCode(err, logs); c != 0 {
				done <- fmt.Sprintf("kommerce %s exited %d", name, c)
				return
			}
			done <- ""
		}()
	}
	t.Cleanup(func() {
		cancel()
		for range 2 {
			if msg := <-done; msg != "" {
				t.Error(msg)
			}
		}
	})

	base := "http://" + addr
	// call sends a request as part of a trace the test chose, so it can read that
	// trace back.
	call := func(method, path, traceID string, body any, headers ...string) (int, map[string]any) {
		t.Helper()
		var rd io.Reader = http.NoBody
		if body != nil {
			j, _ := json.Marshal(body)
			rd = bytes.NewReader(j)
		}
		req, _ := http.NewRequest(method, base+path, rd)
		req.Header.Set("X-Kommerce-Tenant", tenant.Slug)
		req.Header.Set("Content-Type", "application/json")
		if traceID != "" {
			req.Header.Set("traceparent", "00-"+traceID+"-00f067aa0ba902b7-01")
		}
		for i := 0; i+1 < len(headers); i += 2 {
			req.Header.Set(headers[i], headers[i+1])
		}
		res, err := testClient.Do(req)
		if err != nil {
			return 0, nil
		}
		defer res.Body.Close()
		var m map[string]any
		_ = json.NewDecoder(res.Body).Decode(&m)
		return res.StatusCode, m
	}
	testenv.Eventually(t, 60*time.Second, "kommerce api ready", func() (bool, string) {
		code, m := call("GET", "/readyz", "", nil)
		return code == 200, fmt.Sprintf("/readyz %d %v", code, m)
	})

	loginTrace, productTrace, checkoutTrace := hexTraceID(1), hexTraceID(2), hexTraceID(3)
	code, login := call("POST", "/api/v1/auth/login", loginTrace, map[string]string{"email": email, "password": password})
	if code != 200 {
		t.Fatalf("login: %d %v\n%s", code, login, apiLogs.String())
	}
	accessToken := fmt.Sprint(login["access_token"])
	auth := []string{"Authorization", "Bearer " + accessToken}
	code, product := call("POST", "/api/v1/products", productTrace, map[string]any{"name": "Traced Mug", "status": "published",
		"variants": []any{map[string]any{"sku": "TMUG-1", "prices": []any{map[string]any{"currency": "EUR", "amount": 1500}}}}}, auth...)
	if code != 201 {
		t.Fatalf("product: %d %v", code, product)
	}
	if code, m := call("PUT", "/api/v1/stock/TMUG-1", "", map[string]any{"warehouse": "main", "on_hand": 3}, auth...); code != 200 {
		t.Fatalf("stock: %d %v", code, m)
	}
	_, cart := call("POST", "/api/v1/carts", "", nil)
	cartToken := fmt.Sprint(cart["token"])
	token := []string{"X-Cart-Token", cartToken}
	cartPath := "/api/v1/carts/" + fmt.Sprint(cart["id"])
	if code, m := call("POST", cartPath+"/items", "", map[string]any{"sku": "TMUG-1", "quantity": 1}, token...); code != 201 {
		t.Fatalf("add: %d %v", code, m)
	}
	const shopper = "shopper.traced@example.test"
	code, order := call("POST", cartPath+"/checkout", checkoutTrace, map[string]any{"email": shopper}, append(token, "Idempotency-Key", "trace-k1")...)
	if code != 201 {
		t.Fatalf("checkout: %d %v", code, order)
	}

	// The document is in the search index, with the checkout's stock change.
	b, err := elasticsearch.New(es.URL)
	if err != nil {
		t.Fatal(err)
	}
	sf := search.Storefront{TenantID: tenant.ID, Index: search.IndexName(tenant.IndexPrefix, "default")}
	testenv.Eventually(t, 90*time.Second, "the product searchable", func() (bool, string) {
		_ = b.Refresh(ctx, sf.Index)
		res, err := search.NewSearcher(b).Search(ctx, sf, search.Query{Text: "traced mug", Limit: 10})
		if err != nil {
			return false, err.Error()
		}
		return res.Total == 1, fmt.Sprintf("%d hits", res.Total)
	})

	catalog, inventory := tenant.TopicPrefix+".catalog", tenant.TopicPrefix+".inventory"
	for _, tc := range []struct{ name, traceID, route, topic string }{
		{name: "product", traceID: productTrace, route: "/api/v1/products", topic: catalog},
		{name: "checkout", traceID: checkoutTrace, route: "/api/v1/carts/:id/checkout", topic: inventory},
	} {
		var server, producer, consumer *jaegerSpan
		var spans []jaegerSpan
		testenv.Eventually(t, 90*time.Second, "the "+tc.name+" trace in Jaeger from request to indexer", func() (bool, string) {
			var err error
			if spans, err = readTrace(queryURL, tc.traceID); err != nil {
				return false, err.Error()
			}
			var seen string
			server, producer, consumer, seen = chain(spans, tc.route, tc.topic)
			return consumer != nil, "spans: " + seen
		})
		t.Logf("%s trace %s: %d spans: %s → %s → %s", tc.name, tc.traceID, len(spans), server.OperationName, producer.OperationName, consumer.OperationName)
		if got := server.tag("kommerce.tenant.id"); got != tenant.ID {
			t.Errorf("%s: request span's tenant = %q, want %q", tc.name, got, tenant.ID)
		}
		if got := producer.tag("kommerce.tenant.id"); got != tenant.ID {
			t.Errorf("%s: publish span's tenant = %q, want %q", tc.name, got, tenant.ID)
		}
		if got := consumer.tag("kommerce.tenant.id"); got != tenant.ID {
			t.Errorf("%s: indexer span's tenant = %q, want %q", tc.name, got, tenant.ID)
		}
		hasQuery := false
		for _, s := range spans {
			hasQuery = hasQuery || s.tag("db.system.name") == "postgresql"
		}
		if !hasQuery {
			t.Errorf("%s: no PostgreSQL span in the trace", tc.name)
		}
	}

	// Log lines of the traced checkout carry its trace id.
	if !strings.Contains(apiLogs.String(), `"trace_id":"`+checkoutTrace+`"`) {
		t.Errorf("no API log line carries the checkout's trace_id %s", checkoutTrace)
	}

	// No secret or personal data in any attribute of the login, product and checkout
	// traces.
	testenv.Eventually(t, 30*time.Second, "the login trace in Jaeger", func() (bool, string) {
		spans, err := readTrace(queryURL, loginTrace)
		if err != nil {
			return false, err.Error()
		}
		return len(spans) > 0, fmt.Sprintf("%d spans", len(spans))
	})
	forbiddenValues := []string{password, email, shopper, accessToken, cartToken, "4242"}
	forbiddenKeys := []string{"password", "token", "email", "card", "authorization", "cookie"}
	for _, id := range []string{loginTrace, productTrace, checkoutTrace} {
		spans, err := readTrace(queryURL, id)
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range spans {
			for _, tag := range s.Tags {
				key, val := strings.ToLower(tag.Key), fmt.Sprint(tag.Value)
				for _, k := range forbiddenKeys {
					if strings.Contains(key, k) {
						t.Errorf("span %q has attribute %q", s.OperationName, tag.Key)
					}
				}
				for _, v := range forbiddenValues {
					if v != "" && strings.Contains(val, v) {
						t.Errorf("span %q attribute %s = %q holds secret or personal data", s.OperationName, tag.Key, val)
					}
				}
			}
			for _, v := range forbiddenValues {
				if strings.Contains(s.OperationName, v) {
					t.Errorf("span name %q holds secret or personal data", s.OperationName)
				}
			}
		}
	}
}

// hexTraceID returns a trace id unique to this run and n.
func hexTraceID(n int) string {
	return fmt.Sprintf("%016x%016x", time.Now().UnixNano(), n)
}

// TestTracingSettingsRefused: a typo in the OTEL_* variables stops a server at start
// with a usage error naming the variable, rather than tracing everything or nothing.
func TestTracingSettingsRefused(t *testing.T) {
	tests := []struct {
		name, cmd, wantStderr string
		env                   map[string]string
	}{
		{"unknown sampler", "api", "OTEL_TRACES_SAMPLER", map[string]string{"OTEL_TRACES_SAMPLER": "sometimes"}},
		{"ratio above 1", "api", "OTEL_TRACES_SAMPLER_ARG", map[string]string{"OTEL_TRACES_SAMPLER": "parentbased_traceidratio", "OTEL_TRACES_SAMPLER_ARG": "10"}},
		{"grpc protocol", "ingest", "OTEL_EXPORTER_OTLP_PROTOCOL", map[string]string{"OTEL_EXPORTER_OTLP_PROTOCOL": "grpc", "KOMMERCE_KAFKA_BROKERS": "127.0.0.1:1"}},
		{"endpoint without scheme", "ingest", "OTEL_EXPORTER_OTLP_ENDPOINT", map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "collector:4318", "KOMMERCE_KAFKA_BROKERS": "127.0.0.1:1"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:1", "KOMMERCE_DATABASE_URL": "postgres://kommerce:x@127.0.0.1:1/kommerce?connect_timeout=1"}
			for k, v := range tt.env {
				env[k] = v
			}
			code, _, stderr := invoke(t, env, tt.cmd)
			if code != 2 || !strings.Contains(stderr, tt.wantStderr) {
				t.Fatalf("exit %d, stderr %q; want 2 naming %s", code, stderr, tt.wantStderr)
			}
		})
	}
}

// testClient is the test's own HTTP client: the servers under test wrap
// http.DefaultTransport for tracing when they start, while the test already sends
// requests.
var testClient = &http.Client{Transport: &http.Transport{}, Timeout: 30 * time.Second}

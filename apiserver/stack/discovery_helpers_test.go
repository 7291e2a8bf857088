package stack_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"testing"
	"time"

	kafka "github.com/segmentio/kafka-go"

	"github.com/kommerce/kommerce/apiserver"
	disc "github.com/kommerce/kommerce/apiserver/discovery"
	apikafka "github.com/kommerce/kommerce/apiserver/kafka"
	"github.com/kommerce/kommerce/apiserver/postgres"
	"github.com/kommerce/kommerce/apiserver/stack"
	ikafka "github.com/kommerce/kommerce/ingest/kafka"
	"github.com/kommerce/kommerce/internal/events"
	"github.com/kommerce/kommerce/internal/search"
	"github.com/kommerce/kommerce/internal/search/bleve"
	"github.com/kommerce/kommerce/internal/search/elasticsearch"
	"github.com/kommerce/kommerce/internal/testenv"
)

// engine is a search backend for a test, with the prefix its index names must
// start with so that cleanup finds them.
type engine struct {
	name    string
	backend search.Backend
	prefix  string
}

// engines returns both backends: Elasticsearch on the test cluster and Bleve in a
// temporary directory.
func engines(t *testing.T) []func(t *testing.T) engine {
	return []func(t *testing.T) engine{
		func(t *testing.T) engine {
			es := testenv.NewElasticsearchIndex(t)
			b, err := elasticsearch.New(es.URL)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { b.Close() })
			return engine{name: "elasticsearch", backend: b, prefix: es.Index}
		},
		func(t *testing.T) engine {
			b, err := bleve.Open(t.TempDir())
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { b.Close() })
			return engine{name: "bleve", backend: b, prefix: testenv.Name(t, "test", "-")}
		},
	}
}

// eachEngine runs fn once per backend.
func eachEngine(t *testing.T, fn func(t *testing.T, eng engine)) {
	for i, open := range engines(t) {
		name := []string{"elasticsearch", "bleve"}[i]
		t.Run(name, func(t *testing.T) { fn(t, open(t)) })
	}
}

// discTenant creates a tenant whose index and topic prefixes are unique to the test
// (and inside the engine's cleanup prefix), with a signing key.
func (e *apiEnv) discTenant(slug, indexPrefix, topicPrefix string) *apiserver.Tenant {
	e.t.Helper()
	ctx := context.Background()
	t, err := e.st.Tenants.CreateTenant(ctx, apiserver.TenantCreate{Slug: slug, RedisPrefix: e.redis.Prefix + slug + ":",
		TopicPrefix: topicPrefix, IndexPrefix: indexPrefix})
	if err != nil {
		e.t.Fatal(err)
	}
	if _, err := e.st.Keys.Rotate(ctx, t.ID, time.Hour); err != nil {
		e.t.Fatal(err)
	}
	return t
}

// index fills the tenant's storefront indexes from the catalog the way `kommerce
// dev` does at start and makes the writes visible.
func (e *apiEnv) index(b search.Backend, t *apiserver.Tenant, storefronts ...string) {
	e.t.Helper()
	if len(storefronts) == 0 {
		storefronts = []string{"default"}
	}
	ctx := apiserver.NewContextWithTenant(context.Background(), t)
	var idx []string
	for _, sf := range storefronts {
		idx = append(idx, search.IndexName(t.IndexPrefix, sf))
	}
	if _, err := disc.Backfill(ctx, b, &postgres.DiscoveryStore{DB: e.st.DB}, t.ID, idx); err != nil {
		e.t.Fatal(err)
	}
	for _, i := range idx {
		if err := b.Refresh(ctx, i); err != nil {
			e.t.Fatal(err)
		}
	}
}

// createProduct creates a product through the API and returns its id.
func (e *apiEnv) createProduct(tenant, token string, body map[string]any) string {
	e.t.Helper()
	r := e.do("POST", "/api/v1/products", tenant, token, body).want(201, "")
	return r.str("id")
}

func (e *apiEnv) createCategory(tenant, token, slug string) string {
	e.t.Helper()
	return e.do("POST", "/api/v1/categories", tenant, token, map[string]any{"slug": slug, "name": slug}).want(201, "").str("id")
}

// item is a product body: one variant per colour, EUR prices.
func item(name, sku string, status apiserver.ProductStatus, category string, eur int64, colours ...string) map[string]any {
	var variants []any
	for i, c := range colours {
		variants = append(variants, map[string]any{"sku": fmt.Sprintf("%s-%d", sku, i), "attributes": map[string]string{"color": c},
			"prices": []any{map[string]any{"currency": "EUR", "amount": eur + int64(i)*100}}})
	}
	p := map[string]any{"name": name, "description": "A " + name + " from the test catalog.", "status": status,
		"attributes": map[string]string{"brand": "Northwind"}, "variants": variants}
	if category != "" {
		p["category_ids"] = []string{category}
	}
	return p
}

// query builds a path with query parameters in the given order.
func query(path string, kv ...string) string {
	v := url.Values{}
	for i := 0; i+1 < len(kv); i += 2 {
		v.Add(kv[i], kv[i+1])
	}
	return path + "?" + v.Encode()
}

// decodeRaw decodes a response body into v.
func (r *resp) decodeRaw(v any) {
	r.t.Helper()
	if err := json.Unmarshal(r.raw, v); err != nil {
		r.t.Fatalf("%s: %v in %s", r.req, err, r.raw)
	}
}

// kafkaEnv is a tenant topic prefix on the test broker, deleted at cleanup.
type kafkaEnv struct {
	brokers []string
	prefix  string
	k       *apikafka.Kafka
}

func newKafkaEnv(t *testing.T) *kafkaEnv {
	t.Helper()
	brokers := testenv.KafkaBrokers(t)
	prefix := testenv.Name(t, "test", ".")
	k := apikafka.New(brokers, 1, 1, nil)
	t.Cleanup(func() {
		if err := k.Close(); err != nil {
			t.Logf("close kafka: %v", err)
		}
		if err := testenv.DeleteTopics(brokers, ikafka.PrefixTopics(prefix)...); err != nil {
			t.Logf("delete topics: %v", err)
		}
	})
	return &kafkaEnv{brokers: brokers, prefix: prefix, k: k}
}

// behaviourCount is the number of messages on the prefix's behaviour topic (one
// partition).
func (k *kafkaEnv) behaviourCount(t *testing.T) int64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := kafka.DialLeader(ctx, "tcp", k.brokers[0], events.Topic(k.prefix, events.StreamBehaviour), 0)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	n, err := conn.ReadLastOffset()
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// readBehaviour reads n envelopes from the start of the behaviour topic.
func (k *kafkaEnv) readBehaviour(t *testing.T, n int) []events.Envelope {
	t.Helper()
	r := kafka.NewReader(kafka.ReaderConfig{Brokers: k.brokers, Topic: events.Topic(k.prefix, events.StreamBehaviour), Partition: 0, MaxWait: 100 * time.Millisecond})
	defer r.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	out := make([]events.Envelope, 0, n)
	for len(out) < n {
		m, err := r.ReadMessage(ctx)
		if err != nil {
			t.Fatalf("read behaviour topic after %d of %d messages: %v", len(out), n, err)
		}
		var env events.Envelope
		if err := json.Unmarshal(m.Value, &env); err != nil {
			t.Fatal(err)
		}
		out = append(out, env)
	}
	return out
}

// withDiscovery sets the discovery options of a stack.
func withDiscovery(d stack.DiscoveryOptions) func(*stack.Options) {
	return func(o *stack.Options) { o.Discovery = d }
}

package indexer

import (
	"context"
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	jsonv1 "github.com/go-json-experiment/json/v1"

	"github.com/kommerce/kommerce/ingest"
	"github.com/kommerce/kommerce/ingest/ingesttest"
	"github.com/kommerce/kommerce/ingest/postgres"
	"github.com/kommerce/kommerce/internal/events"
	"github.com/kommerce/kommerce/internal/search"
	"github.com/kommerce/kommerce/internal/search/searchtest"
	"github.com/kommerce/kommerce/internal/testenv"
)

// TestOnePassDecodeMatchesTwoPass feeds the same messages to decode (one pass, with
// its fallback) and decodeTwoPass (the former decoder) and requires the same document,
// tenant, type and error — message and kind — for each, including bad input and the
// cases where one pass alone would read differently (a repeated data key).
func TestOnePassDecodeMatchesTwoPass(t *testing.T) {
	db := testenv.NewDatabase(t)
	tenant := ingesttest.NewTenant(t, db.Pool, nil, testenv.Name(t, "idx", "-"))
	x := New(nil, postgres.NewDirectory(db.Pool, time.Minute), nil)

	product := func(id string, version int64) string {
		b, _ := json.Marshal(ingesttest.Product(id, version, "Chair "+id))
		return string(b)
	}
	env := func(typ events.Type, aggregateID, data string) string {
		return fmt.Sprintf(`{"id":"00000000-0000-4000-8000-000000000001","type":%q,"tenant_id":%q,"aggregate_type":"product","aggregate_id":%q,"occurred_at":"2026-01-01T00:00:00Z","data":%s}`,
			typ, tenant.ID, aggregateID, data)
	}
	many := make([]events.Variant, MaxVariants+1)
	tooMany := ingesttest.Product("p1", 1, "Chair")
	tooMany.Variants = many
	tooManyJSON, _ := json.Marshal(tooMany)
	stock := `{"sku":"SKU-p1","product_id":"p1","available":3,"version":2}`

	cases := []struct {
		name  string
		value string
		typ   events.Type // topic's stream; product.created when empty
		key   string      // aggregate of the key; p1 when empty
		want  string      // "" = accepted, else a part of the error
	}{
		{name: "created", value: env(events.ProductCreated, "p1", product("p1", 1))},
		{name: "updated", value: env(events.ProductUpdated, "p1", product("p1", 4))},
		{name: "deleted", value: env(events.ProductDeleted, "p1", product("p1", 5))},
		{name: "stock", typ: events.StockChanged, value: env(events.StockChanged, "p1", stock)},
		{name: "category", value: env(events.CategoryCreated, "p1", `{"id":"p1","parent_id":null,"slug":"c","name":"C","version":1,"created_at":"2026-01-01T00:00:00Z"}`)},
		{name: "category data an array", value: env(events.CategoryCreated, "p1", `[1,2]`)},
		{name: "unknown type", value: env("product.exploded", "p1", product("p1", 1)), want: "not one the search indexer knows"},
		{name: "not json", value: `{not json`, want: "malformed event envelope"},
		{name: "trailing data", value: env(events.ProductCreated, "p1", product("p1", 1)) + ` x`, want: "malformed event envelope"},
		{name: "bad occurred_at", value: strings.Replace(env(events.ProductCreated, "p1", product("p1", 1)), `"2026-01-01T00:00:00Z"`, `"yesterday"`, 1), want: "malformed event envelope"},
		{name: "no data", value: strings.Replace(env(events.ProductCreated, "p1", "1"), `,"data":1`, ``, 1), want: "lacks id"},
		{name: "null data", value: env(events.ProductCreated, "p1", `null`), want: "lacks id"},
		{name: "null data with spaces", value: env(events.ProductCreated, "p1", ` null `), want: "lacks id"},
		{name: "empty object", value: env(events.ProductCreated, "p1", `{}`), want: "invalid product snapshot"},
		{name: "data a string", value: env(events.ProductCreated, "p1", `"x"`), want: "malformed product snapshot"},
		{name: "data an array", value: env(events.ProductCreated, "p1", `[]`), want: "malformed product snapshot"},
		{name: "name a number", value: env(events.ProductCreated, "p1", `{"id":"p1","version":1,"name":5}`), want: "malformed product snapshot"},
		{name: "no id", value: strings.Replace(env(events.ProductCreated, "p1", product("p1", 1)), `"id":"00000000-0000-4000-8000-000000000001",`, ``, 1), want: "lacks id"},
		{name: "version 0", value: env(events.ProductCreated, "p1", product("p1", 0)), want: "version 0"},
		{name: "id mismatch", value: env(events.ProductCreated, "p1", product("p2", 1)), want: "does not match the event's aggregate id"},
		{name: "too many variants", value: env(events.ProductCreated, "p1", string(tooManyJSON)), want: "variants; at most"},
		{name: "wrong key", key: "p9", value: env(events.ProductCreated, "p1", product("p1", 1)), want: "does not match tenant"},
		{name: "wrong topic", typ: events.StockChanged, value: env(events.ProductCreated, "p1", product("p1", 1)), want: "not on its own topic"},
		{name: "unknown tenant", value: strings.Replace(env(events.ProductCreated, "p1", product("p1", 1)), tenant.ID, "99999999-9999-4999-8999-999999999999", 1), want: "unknown tenant"},
		{name: "oversized", value: `{"pad":"` + strings.Repeat("x", MaxEventBytes) + `",` + env(events.ProductCreated, "p1", product("p1", 1))[1:], want: "exceeds"},
		// Fields of the other data type: ignored by the two-pass read, whatever their
		// JSON type.
		{name: "product with a stock field", value: env(events.ProductCreated, "p1", `{"id":"p1","version":1,"sku":"x","available":2}`)},
		{name: "product with a bad stock field", value: env(events.ProductCreated, "p1", `{"id":"p1","version":1,"sku":5}`)},
		{name: "stock with a bad product field", typ: events.StockChanged, value: env(events.StockChanged, "p1", `{"sku":"s","product_id":"p1","version":1,"name":5,"variants":"no"}`)},
		{name: "stock without sku", typ: events.StockChanged, value: env(events.StockChanged, "p1", `{"product_id":"p1","version":1}`), want: "stock event needs"},
		{name: "stock version a string", typ: events.StockChanged, value: env(events.StockChanged, "p1", `{"sku":"s","product_id":"p1","version":"1"}`), want: "malformed stock event"},
		// Keys matched case-insensitively, and repeated: the last data value wins.
		{name: "upper-case keys", value: env(events.ProductCreated, "p1", `{"ID":"p1","Version":2,"NAME":"Lamp"}`)},
		{name: "data twice", value: env(events.ProductCreated, "p1", `{"id":"p1","version":1,"name":"Lamp"},"data":{"id":"p1","version":2}`)},
		{name: "data twice, other case", value: env(events.ProductCreated, "p1", `{"id":"p1","version":1,"name":"Lamp"},"DaTa":{"id":"p1","version":2}`)},
		{name: "data twice, escaped", value: env(events.ProductCreated, "p1", `{"id":"p1","version":1,"name":"Lamp"},"d\u0061ta":{"id":"p1","version":2}`)},
		{name: "data then null", value: env(events.ProductCreated, "p1", `{"id":"p1","version":1},"data":null`), want: "lacks id"},
		{name: "nested data key", value: env(events.ProductCreated, "p1", `{"id":"p1","version":1,"attributes":{"data":"x"}}`)},
	}
	ctx := context.Background()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			typ, key := c.typ, c.key
			if typ == "" {
				typ = events.ProductCreated
			}
			if key == "" {
				key = "p1"
			}
			m := ingest.Message{Topic: events.Topic(tenant.TopicPrefix, events.StreamOf(typ)), Key: events.Key(tenant.ID, key), Value: []byte(c.value)}
			doc1, tenant1, typ1, err1 := x.decode(ctx, m)
			doc2, tenant2, typ2, err2 := x.decodeTwoPass(ctx, m)
			if fmt.Sprint(err1) != fmt.Sprint(err2) || ingest.IsPermanent(err1) != ingest.IsPermanent(err2) || ingest.IsUnavailable(err1) != ingest.IsUnavailable(err2) {
				t.Fatalf("one pass: %v; two passes: %v", err1, err2)
			}
			if !reflect.DeepEqual(doc1, doc2) || tenant1.ID != tenant2.ID || typ1 != typ2 {
				t.Fatalf("one pass: %+v %s %s; two passes: %+v %s %s", doc1, tenant1.ID, typ1, doc2, tenant2.ID, typ2)
			}
			switch {
			case c.want == "" && err1 != nil:
				t.Fatalf("refused: %v", err1)
			case c.want != "" && (!ingest.IsPermanent(err1) || !strings.Contains(err1.Error(), c.want)):
				t.Fatalf("got %v; want a permanent error about %q", err1, c.want)
			}
		})
	}
	// The repeated key keeps the last value: version 2 and no name.
	m := ingest.Message{Topic: events.Topic(tenant.TopicPrefix, events.StreamCatalog), Key: events.Key(tenant.ID, "p1"),
		Value: []byte(env(events.ProductCreated, "p1", `{"id":"p1","version":1,"name":"Lamp"},"data":{"id":"p1","version":2}`))}
	if doc, _, _, err := x.decode(ctx, m); err != nil || doc.Product.Version != 2 || doc.Product.Name != "" {
		t.Fatalf("repeated data key: %+v, %v; want version 2 and no name", doc.Product, err)
	}
}

func TestSingleDataKey(t *testing.T) {
	for _, c := range []struct {
		name string
		in   string
		want bool
	}{
		{"one data key", `{"data":{}}`, true},
		{"no data key", `{"id":"x"}`, true},
		{"twice", `{"data":{},"data":1}`, false},
		{"twice, other case", `{"data":{},"DATA":1}`, false},
		{"a value that looks like the key", `{"data":{"a":"data"}}`, false}, // the safe answer
		{"an escaped quote before data", `{"data":{"a":"\"data\""}}`, true},
		{"an escaped letter in a key", `{"d\u0061ta":1}`, false},
		{"an escaped letter in a value", `{"data":"\u0041"}`, false},
		{"other escapes", `{"data":"\u00e9 \u003c"}`, true},
		{"cut short", `"data`, true},
		{"twice, mixed case", `{"dATa":1,"data":2}`, false},
		{"longer keys ending in data", `{"xdata":1,"datax":2,"data":3,"Xta":4}`, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			if got := singleDataKey([]byte(c.in)); got != c.want {
				t.Errorf("singleDataKey(%s) = %v; want %v", c.in, got, c.want)
			}
		})
	}
}

// BenchmarkDecode compares the one-pass read with the two-pass one on the synthetic
// catalog of hack/bench/ingest (go test -bench Decode -benchmem ./ingest/indexer).
func BenchmarkDecode(b *testing.B) {
	db := testenv.NewDatabase(b)
	tenant := ingesttest.NewTenant(b, db.Pool, nil, testenv.Name(b, "idx", "-"))
	x := New(nil, postgres.NewDirectory(db.Pool, time.Minute), nil)
	var msgs []ingest.Message
	for i := range 100 {
		p := searchtest.SyntheticProduct(1, i, 1)
		msgs = append(msgs, ingest.Message{Topic: events.Topic(tenant.TopicPrefix, events.StreamCatalog), Key: events.Key(tenant.ID, p.ID),
			Value: ingesttest.Envelope(tenant.ID, events.ProductCreated, p.ID, p)})
	}
	ctx := context.Background()
	for name, decode := range map[string]func(context.Context, ingest.Message) (*search.Document, ingest.Tenant, events.Type, error){
		"one-pass": x.decode, "two-pass": x.decodeTwoPass,
	} {
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			for i := 0; b.Loop(); i++ {
				if _, _, _, err := decode(ctx, msgs[i%len(msgs)]); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// FuzzWireEvent: whatever the single pass's decoder reads without an error,
// encoding/json reads without an error too, into the same values (decode relies on
// it; go test -fuzz FuzzWireEvent ./ingest/indexer).
func FuzzWireEvent(f *testing.F) {
	p, _ := json.Marshal(searchtest.SyntheticProduct(1, 3, 2))
	for _, data := range []string{string(p), `{"sku":"s","product_id":"p1","available":3,"version":2}`, `{"ID":"p1","Version":2,"NAME":"Lamp","name":"Desk"}`,
		`{"attributes":{"a":"1"},"Attributes":{"b":"2"}}`, `{"variants":[{"sku":"a"}],"variants":[]}`, `{"name":"\ud800 \xff"}`, `{"version":1e3}`, `{"version":-0}`, `[1]`, `null`} {
		f.Add(`{"id":"e1","type":"product.created","tenant_id":"t1","aggregate_type":"product","aggregate_id":"p1","occurred_at":"2026-01-01T00:00:00Z","data":` + data + `}`)
	}
	f.Add(`{"occurred_at":"2026-01-01T00:00:00.123+01:00","data":{},"data":{"id":"x"}}`)
	f.Fuzz(func(t *testing.T, value string) {
		var fast wireEvent
		if err := jsonv1.Unmarshal([]byte(value), &fast); err != nil {
			return // decode falls back to the two-pass read
		}
		var std wireEvent
		if err := json.Unmarshal([]byte(value), &std); err != nil {
			t.Fatalf("encoding/json refuses what the single pass read: %v", err)
		}
		if !reflect.DeepEqual(fast, std) || !fast.OccurredAt.Equal(std.OccurredAt) {
			t.Fatalf("single pass %+v\nencoding/json %+v", fast, std)
		}
	})
}

package indexer_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/kommerce/kommerce/ingest"
	"github.com/kommerce/kommerce/ingest/indexer"
	"github.com/kommerce/kommerce/ingest/ingesttest"
	"github.com/kommerce/kommerce/ingest/postgres"
	"github.com/kommerce/kommerce/internal/events"
	"github.com/kommerce/kommerce/internal/search"
	"github.com/kommerce/kommerce/internal/search/bleve"
	"github.com/kommerce/kommerce/internal/search/elasticsearch"
	"github.com/kommerce/kommerce/internal/testenv"
)

// fixture is a tenant, a directory over the test database and a backend.
type fixture struct {
	tenant  ingest.Tenant
	backend search.Backend
	idx     *indexer.Indexer
	dir     *postgres.Directory
	db      *testenv.Database
}

type backendFactory func(t *testing.T) (search.Backend, string)

func backends() map[string]backendFactory {
	return map[string]backendFactory{
		"elasticsearch": func(t *testing.T) (search.Backend, string) {
			es := testenv.NewElasticsearchIndex(t)
			b, err := elasticsearch.New(es.URL)
			if err != nil {
				t.Fatal(err)
			}
			return b, es.Index
		},
		"bleve": func(t *testing.T) (search.Backend, string) {
			b, err := bleve.Open(t.TempDir())
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = b.Close() })
			return b, testenv.Name(t, "idx", "-")
		},
	}
}

func newFixture(t *testing.T, newBackend backendFactory) *fixture {
	db := testenv.NewDatabase(t)
	b, prefix := newBackend(t)
	tenant := ingesttest.NewTenant(t, db.Pool, nil, prefix)
	dir := postgres.NewDirectory(db.Pool, time.Minute)
	return &fixture{tenant: tenant, backend: b, idx: indexer.New(b, dir, nil), dir: dir, db: db}
}

func (f *fixture) msg(typ events.Type, aggregateID string, data any) ingest.Message {
	return ingest.Message{
		Topic: events.Topic(f.tenant.TopicPrefix, events.StreamOf(typ)),
		Key:   events.Key(f.tenant.ID, aggregateID),
		Value: ingesttest.Envelope(f.tenant.ID, typ, aggregateID, data),
	}
}

func (f *fixture) search(t *testing.T, storefront, q string) *search.Result {
	t.Helper()
	index := search.IndexName(f.tenant.IndexPrefix, storefront)
	if err := f.backend.Refresh(context.Background(), index); err != nil {
		t.Fatal(err)
	}
	res, err := search.NewSearcher(f.backend).Search(context.Background(), search.Storefront{TenantID: f.tenant.ID, Index: index}, search.Query{Text: q, Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	return res
}

func forEachBackend(t *testing.T, fn func(t *testing.T, f *fixture)) {
	for name, nb := range backends() {
		t.Run(name, func(t *testing.T) { fn(t, newFixture(t, nb)) })
	}
}

func TestOutOfOrderAndDuplicateEventsConverge(t *testing.T) {
	forEachBackend(t, func(t *testing.T, f *fixture) {
		p := func(v int64) events.Product { return ingesttest.Product("p1", v, fmt.Sprintf("Lamp v%d", v)) }
		batch1 := []ingest.Message{
			f.msg(events.ProductUpdated, "p1", p(3)),
			f.msg(events.ProductCreated, "p1", p(1)),
			f.msg(events.ProductUpdated, "p1", p(3)),
			f.msg(events.StockChanged, "SKU-p1", events.Stock{SKU: "SKU-p1", ProductID: "p1", Available: 0, Version: 2}),
		}
		batch2 := []ingest.Message{ // a later batch replaying older events
			f.msg(events.ProductUpdated, "p1", p(2)),
			f.msg(events.StockChanged, "SKU-p1", events.Stock{SKU: "SKU-p1", ProductID: "p1", Available: 7, Version: 1}),
		}
		for _, b := range [][]ingest.Message{batch1, batch2, batch1} {
			for i, err := range f.idx.Handle(context.Background(), b) {
				if err != nil {
					t.Fatalf("message %d: %v", i, err)
				}
			}
		}
		res := f.search(t, ingest.DefaultStorefront, "lamp")
		if len(res.Hits) != 1 || res.Hits[0].Name != "Lamp v3" || res.Hits[0].Version != 3 || res.Hits[0].InStock {
			t.Fatalf("hits %+v; want one Lamp v3, out of stock (stock v2 wins over v1)", res.Hits)
		}
		// Delete, then a replay of an older update must not bring it back.
		del := p(4)
		del.Deleted = true
		f.idx.Handle(context.Background(), []ingest.Message{f.msg(events.ProductDeleted, "p1", del)})
		f.idx.Handle(context.Background(), []ingest.Message{f.msg(events.ProductUpdated, "p1", p(3))})
		if res := f.search(t, ingest.DefaultStorefront, "lamp"); len(res.Hits) != 0 {
			t.Fatalf("deleted product found: %+v", res.Hits)
		}
	})
}

func TestBadMessagesFailAloneAndTheRestIsIndexed(t *testing.T) {
	forEachBackend(t, func(t *testing.T, f *fixture) {
		other := ingesttest.NewTenant(t, f.db.Pool, nil, "other-"+f.tenant.IndexPrefix)
		good := func(id string) ingest.Message {
			return f.msg(events.ProductCreated, id, ingesttest.Product(id, 1, "Chair "+id))
		}
		wrongTopic := f.msg(events.ProductCreated, "w1", ingesttest.Product("w1", 1, "Chair w1"))
		wrongTopic.Topic = events.Topic(other.TopicPrefix, events.StreamCatalog)
		wrongKey := f.msg(events.ProductCreated, "k1", ingesttest.Product("k1", 1, "Chair k1"))
		wrongKey.Key = events.Key(other.ID, "k1")
		unknownTenant := f.msg(events.ProductCreated, "u1", ingesttest.Product("u1", 1, "Chair u1"))
		unknownTenant.Value = ingesttest.Envelope("99999999-9999-4999-8999-999999999999", events.ProductCreated, "u1", ingesttest.Product("u1", 1, "Chair u1"))
		oversized := good("o1")
		oversized.Value = append([]byte(`{"pad":"`+strings.Repeat("x", indexer.MaxEventBytes)+`",`), oversized.Value[1:]...)
		badVersion := f.msg(events.ProductCreated, "v0", ingesttest.Product("v0", 0, "Chair v0"))
		mismatch := f.msg(events.ProductCreated, "m1", ingesttest.Product("m2", 1, "Chair m2"))
		huge := ingesttest.Product("h1", 1, "Chair h1")
		huge.Attributes = map[string]string{"notes": strings.Repeat("y", 40000)} // under our limit, over Elasticsearch's keyword limit
		category := f.msg(events.CategoryCreated, "c1", map[string]string{"id": "c1", "name": "Chairs"})

		msgs := []ingest.Message{
			good("g1"),
			{Topic: good("x").Topic, Key: good("x").Key, Value: []byte(`{not json`)},
			f.msg("product.exploded", "e1", ingesttest.Product("e1", 1, "Chair e1")),
			wrongTopic, wrongKey, unknownTenant, oversized, badVersion, mismatch,
			f.msg(events.ProductCreated, "h1", huge),
			category,
			good("g2"),
		}
		errs := f.idx.Handle(context.Background(), msgs)
		wantPermanent := map[int]string{1: "malformed", 2: "not one the search indexer knows", 3: "not on its own topic", 4: "does not match tenant", 5: "unknown tenant", 6: "exceeds", 7: "version 0", 8: "does not match the event's aggregate id"}
		if f.backend.Name() == "elasticsearch" {
			wantPermanent[9] = "refused"
		}
		for i, err := range errs {
			want, bad := wantPermanent[i]
			switch {
			case bad && (!ingest.IsPermanent(err) || !strings.Contains(err.Error(), want)):
				t.Errorf("message %d: %v; want a permanent error about %q", i, err, want)
			case !bad && err != nil:
				t.Errorf("message %d: unexpected %v", i, err)
			}
		}
		got := ids(f.search(t, ingest.DefaultStorefront, "chair"))
		want := []string{"g1", "g2"}
		if f.backend.Name() == "bleve" {
			want = []string{"g1", "g2", "h1"} // Bleve has no keyword length limit
		}
		if !slices.Equal(got, want) {
			t.Fatalf("indexed %v; want %v", got, want)
		}
	})
}

func TestEveryStorefrontIndexGetsTheCatalog(t *testing.T) {
	forEachBackend(t, func(t *testing.T, f *fixture) {
		err := pgx.BeginFunc(context.Background(), f.db.Pool, func(tx pgx.Tx) error {
			if _, err := tx.Exec(context.Background(), "SELECT set_config('kommerce.platform', 'on', true)"); err != nil {
				return err
			}
			_, err := tx.Exec(context.Background(), "INSERT INTO storefront_hosts (tenant_id, hostname, storefront) VALUES ($1, $2, 'web')", f.tenant.ID, f.tenant.Slug+".example")
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		for _, err := range f.idx.Handle(context.Background(), []ingest.Message{f.msg(events.ProductCreated, "p1", ingesttest.Product("p1", 1, "Sofa"))}) {
			if err != nil {
				t.Fatal(err)
			}
		}
		for _, sf := range []string{"default", "web"} {
			if got := ids(f.search(t, sf, "sofa")); !slices.Equal(got, []string{"p1"}) {
				t.Errorf("storefront %s: %v", sf, got)
			}
		}
	})
}

func TestUnreachableEngineMeansWait(t *testing.T) {
	db := testenv.NewDatabase(t)
	tenant := ingesttest.NewTenant(t, db.Pool, nil, "nowhere")
	b, err := elasticsearch.New("http://127.0.0.1:1")
	if err != nil {
		t.Fatal(err)
	}
	x := indexer.New(b, postgres.NewDirectory(db.Pool, time.Minute), nil)
	m := ingest.Message{
		Topic: events.Topic(tenant.TopicPrefix, events.StreamCatalog), Key: events.Key(tenant.ID, "p1"),
		Value: ingesttest.Envelope(tenant.ID, events.ProductCreated, "p1", ingesttest.Product("p1", 1, "Lamp")),
	}
	for _, err := range x.Handle(context.Background(), []ingest.Message{m}) {
		if !ingest.IsUnavailable(err) {
			t.Fatalf("err = %v; want Unavailable so the consumer waits", err)
		}
	}
}

func ids(res *search.Result) []string {
	var out []string
	for _, h := range res.Hits {
		out = append(out, h.ID)
	}
	slices.Sort(out)
	return out
}

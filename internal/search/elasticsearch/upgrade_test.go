package elasticsearch

import (
	"bytes"
	"context"
	"encoding/json"
	"testing"

	"github.com/elastic/go-elasticsearch/v8/esapi"

	"github.com/kommerce/kommerce/internal/events"
	"github.com/kommerce/kommerce/internal/search"
	"github.com/kommerce/kommerce/internal/testenv"
)

// TestOlderMappingIsUpgradedOnline: an index created by a release with mapping
// version 1 (no brand / attributes text fields, strict mapping) is rebuilt behind its
// alias on first use, keeping its documents, instead of refusing every new write.
func TestOlderMappingIsUpgradedOnline(t *testing.T) {
	es := testenv.NewElasticsearchIndex(t)
	b, err := New(es.URL)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	alias := es.Index
	var body map[string]any
	_ = json.Unmarshal(indexBody(alias, true), &body)
	mappings := body["mappings"].(map[string]any)
	mappings["_meta"] = map[string]any{"kommerce_mapping": 1}
	props := mappings["properties"].(map[string]any)
	delete(props, "brand")
	delete(props, "attributes")
	old, _ := json.Marshal(body)
	if _, err := b.ok(ctx, "create old index", esapi.IndicesCreateRequest{Index: physicalName(alias, 1), Body: bytes.NewReader(old)}); err != nil {
		t.Fatal(err)
	}
	d := search.Document{TenantID: "t", ProductID: "p1"}
	d.ApplyProduct(events.Product{ID: "p1", Version: 1, Name: "Desk Lamp", Status: "published", Attributes: map[string]string{"brand": "Lumen"}})
	src := source(d)
	delete(src, "brand")
	delete(src, "attributes")
	raw, _ := json.Marshal(src)
	if _, err := b.ok(ctx, "old doc", esapi.IndexRequest{Index: alias, DocumentID: "p1", Body: bytes.NewReader(raw), Refresh: "true"}); err != nil {
		t.Fatal(err)
	}

	d2 := search.Document{TenantID: "t", ProductID: "p2"}
	d2.ApplyProduct(events.Product{ID: "p2", Version: 1, Name: "Floor Lamp", Status: "published", Attributes: map[string]string{"brand": "Lumen"}})
	res, err := search.Upsert(ctx, b, alias, []search.Document{d2}, search.UpsertOptions{})
	if err != nil || res[0].Status != search.Written {
		t.Fatalf("write after upgrade: %v %+v", err, res)
	}
	current, _ := b.resolve(ctx, alias)
	if current != physicalName(alias, 2) {
		t.Fatalf("alias points at %s; want the rebuilt %s", current, physicalName(alias, 2))
	}
	_ = b.Refresh(ctx, alias)
	out, err := search.NewSearcher(b).Search(ctx, search.Storefront{TenantID: "t", Index: alias}, search.Query{Text: "lumen"})
	if err != nil || out.Total != 2 {
		t.Fatalf("brand search after upgrade: %v, %+v", err, out)
	}
}

// TestIndexDeletedBehindOurBack: writes never make Elasticsearch auto-create a
// concrete index named like the alias; the next write re-creates the real one.
func TestIndexDeletedBehindOurBack(t *testing.T) {
	es := testenv.NewElasticsearchIndex(t)
	b, err := New(es.URL)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	doc := func(id string) search.Document {
		d := search.Document{TenantID: "t", ProductID: id}
		d.ApplyProduct(events.Product{ID: id, Version: 1, Name: "Lamp " + id, Status: "published"})
		return d
	}
	if res, err := search.Upsert(ctx, b, es.Index, []search.Document{doc("a")}, search.UpsertOptions{CreateFirst: true}); err != nil || res[0].Status != search.Written {
		t.Fatalf("first write: %v %+v", err, res)
	}
	if _, err := b.ok(ctx, "delete", esapi.IndicesDeleteRequest{Index: []string{physicalName(es.Index, 1)}}); err != nil {
		t.Fatal(err)
	}
	res, err := search.Upsert(ctx, b, es.Index, []search.Document{doc("b")}, search.UpsertOptions{CreateFirst: true})
	if err != nil || res[0].Status != search.Failed {
		t.Fatalf("write to a vanished alias: %v %+v; want failed (retried later)", err, res)
	}
	res, err = search.Upsert(ctx, b, es.Index, []search.Document{doc("b")}, search.UpsertOptions{CreateFirst: true})
	if err != nil || res[0].Status != search.Written {
		t.Fatalf("retry: %v %+v", err, res)
	}
	if cur, _ := b.resolve(ctx, es.Index); cur != physicalName(es.Index, 1) {
		t.Fatalf("alias resolves to %q; want a re-created %s", cur, physicalName(es.Index, 1))
	}
}

package elasticsearch

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"

	"github.com/elastic/go-elasticsearch/v8/esapi"

	"github.com/kommerce/kommerce/internal/search"
)

const copyPage = 500

// Reindex implements search.Backend with an alias swap, while indexers keep writing:
//
//  1. create the next physical index with the current mappings;
//  2. copy every document into it, remembering the highest _seq_no at the start;
//  3. swap the alias in one atomic _aliases call (searches and new documents now
//     go to the new index);
//  4. write-block the old index, so writers still holding a revision of it get a
//     conflict and re-read through the alias;
//  5. copy what changed in the old index since step 2 (now frozen);
//  6. delete the old index.
//
// Copies merge into what the new index already holds (search.Document.Merge keeps the
// newer version of every part), so the order of copies and live writes never matters.
// The _reindex API is not used: it lives in a module the test cluster does not ship,
// and it could not merge.
func (b *Backend) Reindex(ctx context.Context, alias string) error {
	if err := search.ValidIndex(alias); err != nil {
		return err
	}
	old, err := b.ensureExists(ctx, alias)
	if err != nil {
		return err
	}
	return b.reindex(ctx, alias, old)
}

func (b *Backend) reindex(ctx context.Context, alias, old string) error {
	if old == "" {
		return search.Internal("reindex: alias "+alias+" vanished", nil)
	}
	next := physicalName(alias, generation(alias, old)+1)
	if _, err := b.ok(ctx, "create index "+next, esapi.IndicesCreateRequest{Index: next, Body: bytes.NewReader(indexBody(alias, false))}); err != nil {
		return err
	}
	mark, err := b.copyAll(ctx, old, next, -1)
	if err != nil {
		return fmt.Errorf("reindex copy: %w", err)
	}
	swap, _ := json.Marshal(obj{"actions": []any{
		obj{"remove": obj{"index": old, "alias": alias}},
		obj{"add": obj{"index": next, "alias": alias, "is_write_index": true}},
	}})
	if _, err := b.ok(ctx, "swap alias", esapi.IndicesUpdateAliasesRequest{Body: bytes.NewReader(swap)}); err != nil {
		return err
	}
	if _, err := b.ok(ctx, "block writes", esapi.IndicesAddBlockRequest{Index: []string{old}, Block: "write"}); err != nil {
		return err
	}
	if _, err := b.copyAll(ctx, old, next, mark); err != nil {
		return fmt.Errorf("reindex catch-up: %w", err)
	}
	_, err = b.ok(ctx, "delete old index", esapi.IndicesDeleteRequest{Index: []string{old}})
	return err
}

// copyAll merges every document of from with _seq_no above after into to and returns
// the highest _seq_no it saw.
func (b *Backend) copyAll(ctx context.Context, from, to string, after int64) (int64, error) {
	if _, err := b.ok(ctx, "refresh", esapi.IndicesRefreshRequest{Index: []string{from}}); err != nil {
		return 0, err
	}
	mark := after
	for {
		q, _ := json.Marshal(obj{
			"size":                copyPage,
			"query":               obj{"range": obj{"_seq_no": obj{"gt": mark}}},
			"sort":                []any{obj{"_seq_no": "asc"}},
			"seq_no_primary_term": true,
			"_source":             []string{"state"},
		})
		raw, err := b.ok(ctx, "scan", esapi.SearchRequest{Index: []string{from}, Body: bytes.NewReader(q)})
		if err != nil {
			return 0, err
		}
		var res struct {
			Hits struct {
				Hits []struct {
					SeqNo  int64 `json:"_seq_no"`
					Source struct {
						State search.Document `json:"state"`
					} `json:"_source"`
				} `json:"hits"`
			} `json:"hits"`
		}
		if err := json.Unmarshal(raw, &res); err != nil {
			return 0, search.Internal("decode scan", err)
		}
		if len(res.Hits.Hits) == 0 {
			return mark, nil
		}
		docs := make([]search.Document, len(res.Hits.Hits))
		for i, h := range res.Hits.Hits {
			docs[i] = h.Source.State
			mark = max(mark, h.SeqNo)
		}
		if err := b.mergeInto(ctx, to, docs); err != nil {
			return 0, err
		}
	}
}

// mergeInto merges docs into the physical index to, retrying conflicts.
func (b *Backend) mergeInto(ctx context.Context, to string, docs []search.Document) error {
	pending := docs
	for attempt := 0; len(pending) > 0; attempt++ {
		if attempt == 10 {
			return search.Internal(fmt.Sprintf("%d documents still conflict after %d attempts", len(pending), attempt), nil)
		}
		ids := make([]string, len(pending))
		for i, d := range pending {
			ids[i] = d.ProductID
		}
		cur, err := b.Get(ctx, to, ids)
		if err != nil {
			return err
		}
		var writes []search.Write
		for _, d := range pending {
			st, ok := cur[d.ProductID]
			if !ok {
				writes = append(writes, search.Write{Doc: d})
				continue
			}
			merged := st.Doc.Clone()
			if merged.Merge(d) {
				writes = append(writes, search.Write{Doc: merged, Rev: st.Rev})
			}
		}
		if len(writes) == 0 {
			return nil
		}
		results, err := b.writeTo(ctx, to, false, writes)
		if err != nil {
			return err
		}
		pending = pending[:0:0]
		for i, r := range results {
			switch r.Status {
			case search.Written:
			case search.Conflict:
				pending = append(pending, writes[i].Doc)
			default:
				return search.Internal("copy "+r.ID+": "+r.Status.String(), r.Err)
			}
		}
	}
	return nil
}

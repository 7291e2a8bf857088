package search

import (
	"context"
	"errors"
	"fmt"
)

// UpsertOptions tune Upsert.
type UpsertOptions struct {
	// CreateFirst skips the initial read and tries to create every document,
	// reading only those that exist already. It saves a round trip when most
	// documents are new (a first load, product.created events).
	CreateFirst bool
	// MaxAttempts bounds read-merge-write rounds for documents that keep
	// conflicting (default 8); what still conflicts then is reported Failed.
	MaxAttempts int
}

// Upsert merges every document into what the index holds and writes the result
// conditionally, re-reading and merging again on conflict. The result has one entry
// per input document, in order: Written when the index now holds the merge (also when
// nothing was newer — a replayed or stale event is a successful no-op), Rejected when
// the engine refuses the document for good, Failed when it could not be written now.
// Several input documents with the same id are merged first and share one outcome.
// err is set only when the engine could not be asked at all.
func Upsert(ctx context.Context, b Backend, index string, docs []Document, opt UpsertOptions) ([]WriteResult, error) {
	if opt.MaxAttempts <= 0 {
		opt.MaxAttempts = 8
	}
	// Fold duplicates: one write per id.
	pos := map[string]int{}
	var merged []Document
	for _, d := range docs {
		if i, ok := pos[d.ProductID]; ok {
			merged[i].Merge(d)
			continue
		}
		pos[d.ProductID] = len(merged)
		merged = append(merged, d.Clone())
	}
	outcome := make(map[string]WriteResult, len(merged))
	pending := merged
	create := opt.CreateFirst
	for attempt := 0; len(pending) > 0; attempt++ {
		if attempt == opt.MaxAttempts {
			for _, d := range pending {
				outcome[d.ProductID] = WriteResult{ID: d.ProductID, Status: Failed, Err: fmt.Errorf("still conflicting after %d attempts", attempt)}
			}
			break
		}
		var writes []Write
		if create {
			create = false
			for _, d := range pending {
				writes = append(writes, Write{Doc: d})
			}
		} else {
			ids := make([]string, len(pending))
			for i, d := range pending {
				ids[i] = d.ProductID
			}
			cur, err := b.Get(ctx, index, ids)
			if err != nil {
				return nil, err
			}
			for _, d := range pending {
				st, ok := cur[d.ProductID]
				if !ok {
					writes = append(writes, Write{Doc: d})
					continue
				}
				next := st.Doc.Clone()
				if !next.Merge(d) {
					outcome[d.ProductID] = WriteResult{ID: d.ProductID, Status: Written}
					continue
				}
				writes = append(writes, Write{Doc: next, Rev: st.Rev})
			}
		}
		if len(writes) == 0 {
			break
		}
		results, err := b.Write(ctx, index, writes)
		if err != nil {
			return nil, err
		}
		if len(results) != len(writes) {
			return nil, errors.New("backend answered a different number of results")
		}
		pending = pending[:0:0]
		for i, r := range results {
			id := writes[i].Doc.ProductID
			r.ID = id
			if r.Status == Conflict {
				pending = append(pending, merged[pos[id]])
				continue
			}
			outcome[id] = r
		}
	}
	out := make([]WriteResult, len(docs))
	for i, d := range docs {
		out[i] = outcome[d.ProductID]
		out[i].ID = d.ProductID
	}
	return out, nil
}

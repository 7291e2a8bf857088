package bleve

import (
	"context"
	"os"

	bv "github.com/blevesearch/bleve/v2"

	"github.com/kommerce/kommerce/internal/search"
)

// reindexPage is how many documents a reindex copies per batch.
const reindexPage = 500

// Reindex implements search.Backend: it builds the next generation with the current
// mapping from the stored document states, swaps CURRENT and removes the old
// generation. Writes to this alias wait while it runs (they hold the same lock), so
// nothing written meanwhile can be missed; searches keep using the old generation
// until the swap.
func (b *Backend) Reindex(ctx context.Context, alias string) error {
	ix, err := b.open(alias, true)
	if err != nil {
		return err
	}
	ix.mu.Lock()
	defer ix.mu.Unlock()
	return reindexLocked(ctx, ix, b.aliasDir(alias))
}

// reindexLocked rebuilds ix into its next generation; the caller holds ix.mu or is
// the only one who can see ix.
func reindexLocked(ctx context.Context, ix *index, ad string) error {
	next := ix.gen + 1
	nidx, err := newIndex(genDir(ad, next))
	if err != nil {
		return err
	}
	ok := false
	defer func() {
		if !ok {
			_ = nidx.Close()
			_ = os.RemoveAll(genDir(ad, next))
		}
	}()
	var after []string
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		sr := bv.NewSearchRequestOptions(bv.NewMatchAllQuery(), reindexPage, 0, false)
		sr.SortBy([]string{"_id"})
		if after != nil {
			sr.SearchAfter = after
		}
		res, err := ix.bidx.SearchInContext(ctx, sr)
		if err != nil {
			return search.Internal("reindex scan", err)
		}
		if len(res.Hits) == 0 {
			break
		}
		writes := make([]search.Write, 0, len(res.Hits))
		for _, h := range res.Hits {
			st, err := readState(ix.bidx, h.ID)
			if err != nil || st == nil {
				return search.Internal("reindex read "+h.ID, err)
			}
			writes = append(writes, search.Write{Doc: st.Doc})
		}
		results, err := writeLocked(nidx, genName(next), writes)
		if err != nil {
			return err
		}
		for _, r := range results {
			if r.Status != search.Written {
				return search.Internal("reindex write "+r.ID+": "+r.Status.String(), r.Err)
			}
		}
		after = []string{res.Hits[len(res.Hits)-1].ID}
	}
	if err := writeCurrent(ad, next); err != nil {
		return err
	}
	ok = true
	old := ix.bidx
	oldGen := ix.gen
	ix.bidx, ix.gen = nidx, next
	_ = old.Close()
	_ = os.RemoveAll(genDir(ad, oldGen))
	return nil
}

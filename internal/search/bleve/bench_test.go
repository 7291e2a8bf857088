package bleve_test

import (
	"context"
	"testing"

	"github.com/kommerce/kommerce/internal/search"
	"github.com/kommerce/kommerce/internal/search/bleve"
	"github.com/kommerce/kommerce/internal/search/searchtest"
)

// BenchmarkBulkLoad measures loading documents in batches of 500, as the indexer
// writes them (go test -bench BulkLoad ./internal/search/bleve).
func BenchmarkBulkLoad(b *testing.B) {
	be, err := bleve.Open(b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	defer be.Close()
	ctx := context.Background()
	const index = "bench"
	docs := make([]search.Document, 0, 500)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		docs = append(docs, searchtest.SyntheticDocument(1, "t", i))
		if len(docs) == cap(docs) || i == b.N-1 {
			if _, err := search.Upsert(ctx, be, index, docs, search.UpsertOptions{CreateFirst: true}); err != nil {
				b.Fatal(err)
			}
			docs = docs[:0]
		}
	}
}

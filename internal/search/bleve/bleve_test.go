package bleve_test

import (
	"testing"

	"github.com/kommerce/kommerce/internal/search"
	"github.com/kommerce/kommerce/internal/search/bleve"
	"github.com/kommerce/kommerce/internal/search/searchtest"
	"github.com/kommerce/kommerce/internal/testenv"
)

func TestConformance(t *testing.T) {
	searchtest.Run(t, func(t *testing.T) (search.Backend, string) {
		b, err := bleve.Open(t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = b.Close() })
		return b, testenv.Name(t, "test", "-")
	})
}

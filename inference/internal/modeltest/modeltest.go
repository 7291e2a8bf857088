// Package modeltest trains small real models with the training jobs `kommerce train`
// runs, for tests of the server, the runtimes and the clients.
package modeltest

import (
	"context"
	"os"
	"testing"

	"github.com/kommerce/kommerce/inference/training"
)

// Small is a synthetic source small enough to train in well under a second.
var Small = training.Synthetic{Seed: 42, Users: 300, Items: 120, Clusters: 6, Days: 60}

// Train runs the recommendation and fraud jobs into a temporary folder.
func Train(t testing.TB, version string) (recs, fraud *training.Result) {
	t.Helper()
	dir := t.TempDir()
	var err error
	recs, err = training.Job{Purpose: training.PurposeRecommendations, Source: Small, OutDir: dir, Version: version,
		Recs: training.RecsParams{Factors: 16, Iterations: 6, TopK: 20, Seed: 1}}.Run(context.Background())
	if err != nil {
		t.Fatalf("train recommendations: %v", err)
	}
	fraud, err = training.Job{Purpose: training.PurposeFraud, Source: Small, OutDir: dir, Version: version}.Run(context.Background())
	if err != nil {
		t.Fatalf("train fraud: %v", err)
	}
	return recs, fraud
}

// Read returns a file's bytes or fails the test.
func Read(t testing.TB, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// Package objectstoretest gives tests a bucket of their own on the S3-compatible
// server of hack/services.sh (SeaweedFS), removed with everything in it at the end.
package objectstoretest

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/kommerce/kommerce/internal/objectstore"
	"github.com/kommerce/kommerce/internal/testenv"
)

// Defaults match hack/services.sh's seaweedfs service.
const (
	DefaultURL       = "http://127.0.0.1:58333"
	DefaultAccessKey = "kommerce"
	DefaultSecretKey = "kommerce-dev-secret" //nolint:gosec // the local test server's key
)

func env(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}

// Config is the S3 configuration of the test server for bucket.
func Config(bucket string) objectstore.S3Config {
	return objectstore.S3Config{Endpoint: env("KOMMERCE_TEST_S3_URL", DefaultURL), Bucket: bucket,
		AccessKey: env("KOMMERCE_TEST_S3_ACCESS_KEY", DefaultAccessKey), SecretKey: env("KOMMERCE_TEST_S3_SECRET_KEY", DefaultSecretKey)}
}

// NewS3 creates a bucket for t and returns a store on it; the bucket goes at cleanup.
// Without the server the test is skipped (failed in CI), as with every service.
func NewS3(t testing.TB) *objectstore.S3 {
	t.Helper()
	cfg := Config(testenv.Name(t, "test", "-"))
	s, err := objectstore.NewS3(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := s.EnsureBucket(ctx); err != nil {
		testenv.Unavailable(t, "seaweedfs", cfg.Endpoint, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := s.RemoveBucket(ctx); err != nil {
			t.Logf("remove test bucket: %v", err)
		}
	})
	return s
}

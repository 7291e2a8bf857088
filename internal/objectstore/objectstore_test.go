package objectstore_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/kommerce/kommerce/internal/objectstore"
	"github.com/kommerce/kommerce/internal/objectstore/objectstoretest"
)

// TestStores runs the same contract against both implementations: the folder of
// `kommerce dev` and the real S3 server.
func TestStores(t *testing.T) {
	for _, tc := range []struct {
		name string
		new  func(t *testing.T) objectstore.Store
	}{
		{"fs", func(t *testing.T) objectstore.Store { return &objectstore.FS{Dir: t.TempDir()} }},
		{"s3", func(t *testing.T) objectstore.Store { return objectstoretest.NewS3(t) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := tc.new(t)
			ctx := context.Background()
			put := func(key, body string) {
				t.Helper()
				if err := s.Put(ctx, key, strings.NewReader(body), int64(len(body)), "text/plain"); err != nil {
					t.Fatal(err)
				}
			}
			put("tenants/a/x/1.txt", "one")
			put("tenants/a/x/2.txt", "two")
			put("tenants/a/y.txt", "why")
			put("tenants/b/x/1.txt", "other tenant")
			put("tenants/a/x/1.txt", "one again") // replaces
			obj, err := s.Get(ctx, "tenants/a/x/1.txt")
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(obj.Body)
			_ = obj.Body.Close()
			if string(b) != "one again" || obj.Size != 9 {
				t.Fatalf("got %q (%d bytes)", b, obj.Size)
			}
			keys, err := s.List(ctx, "tenants/a/")
			if err != nil || strings.Join(keys, ",") != "tenants/a/x/1.txt,tenants/a/x/2.txt,tenants/a/y.txt" {
				t.Fatalf("list: %v %v", keys, err)
			}
			if err := s.DeletePrefix(ctx, "tenants/a/x/"); err != nil {
				t.Fatal(err)
			}
			if _, err := s.Get(ctx, "tenants/a/x/2.txt"); !errors.Is(err, objectstore.ErrNotFound) {
				t.Fatalf("deleted object: %v", err)
			}
			if keys, _ := s.List(ctx, "tenants/"); strings.Join(keys, ",") != "tenants/a/y.txt,tenants/b/x/1.txt" {
				t.Fatalf("after delete: %v", keys)
			}
			if err := s.Put(ctx, "../escape", bytes.NewReader(nil), 0, ""); err == nil {
				t.Fatal("a key with .. was accepted")
			}
			if err := s.DeletePrefix(ctx, "tenants/nothing/"); err != nil {
				t.Fatalf("deleting nothing: %v", err)
			}
		})
	}
}

func TestValidKey(t *testing.T) {
	for _, tc := range []struct {
		key string
		ok  bool
	}{
		{"tenants/a/b.csv", true},
		{"", false},
		{"/abs", false},
		{"a//b", false},
		{"a/../b", false},
		{"a/./b", false},
		{"a b", false},
		{"a\\b", false},
		{"a/b/", false},
	} {
		t.Run(tc.key, func(t *testing.T) {
			if objectstore.ValidKey(tc.key) != tc.ok {
				t.Fatalf("ValidKey(%q) = %v", tc.key, !tc.ok)
			}
		})
	}
}

// Package objectstore keeps blobs — import uploads, export files, product images —
// under string keys. Two implementations: FS, a folder on the local disk, the embedded
// default of `kommerce dev` (like Bleve for search: a real store, not a mock), and S3,
// any S3-compatible server (SeaweedFS's S3 gateway in development and tests).
//
// Keys are slash-separated and always start with the owning tenant's prefix
// (TenantPrefix), so one tenant's objects can be listed, served and removed without
// touching another's.
package objectstore

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
)

// ErrNotFound is returned by Get for a key that holds no object.
var ErrNotFound = errors.New("object not found")

// Store is a blob store.
type Store interface {
	// Put stores the size bytes of r under key, replacing any object there. r must
	// yield exactly size bytes; pass an io.ReadSeeker (a spooled file), which S3
	// needs to sign the payload.
	Put(ctx context.Context, key string, r io.Reader, size int64, contentType string) error
	// Get opens the object under key. Errors: ErrNotFound.
	Get(ctx context.Context, key string) (*Object, error)
	// DeletePrefix removes every object whose key starts with prefix; removing
	// nothing is not an error.
	DeletePrefix(ctx context.Context, prefix string) error
	// List returns the keys under prefix, in key order.
	List(ctx context.Context, prefix string) ([]string, error)
}

// Object is an opened object; the caller closes Body.
type Object struct {
	Body        io.ReadCloser
	Size        int64
	ContentType string
}

// TenantPrefix is the folder of a tenant's objects.
func TenantPrefix(tenantID string) string { return "tenants/" + tenantID + "/" }

// ValidKey reports whether key is safe for every implementation: relative, no empty,
// "." or ".." segments, printable ASCII.
func ValidKey(key string) bool {
	if key == "" || len(key) > 1024 || strings.HasPrefix(key, "/") {
		return false
	}
	for _, seg := range strings.Split(key, "/") {
		if seg == "" || seg == "." || seg == ".." {
			return false
		}
	}
	for i := 0; i < len(key); i++ {
		if key[i] < 0x21 || key[i] > 0x7e || key[i] == '\\' {
			return false
		}
	}
	return true
}

func checkKey(key string) error {
	if !ValidKey(key) {
		return fmt.Errorf("objectstore: invalid key %q", key)
	}
	return nil
}

// checkPrefix is ValidKey for a prefix ending in "/".
func checkPrefix(prefix string) error {
	if !strings.HasSuffix(prefix, "/") || !ValidKey(strings.TrimSuffix(prefix, "/")) {
		return fmt.Errorf("objectstore: invalid prefix %q", prefix)
	}
	return nil
}

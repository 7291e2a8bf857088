package objectstore

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// FS stores objects as files under Dir: key a/b/c is the file Dir/a/b/c. Writes go to
// a temporary file renamed into place, so a reader never sees half an object. The
// content type is not kept; Get reports none.
type FS struct {
	Dir string
}

var _ Store = (*FS)(nil)

func (s *FS) path(key string) string { return filepath.Join(s.Dir, filepath.FromSlash(key)) }

// Put implements Store.
func (s *FS) Put(_ context.Context, key string, r io.Reader, size int64, _ string) error {
	if err := checkKey(key); err != nil {
		return err
	}
	p := s.path(key)
	if err := os.MkdirAll(filepath.Dir(p), 0o750); err != nil {
		return fmt.Errorf("objectstore: %w", err)
	}
	f, err := os.CreateTemp(filepath.Dir(p), ".put-*")
	if err != nil {
		return fmt.Errorf("objectstore: %w", err)
	}
	defer os.Remove(f.Name()) //nolint:errcheck // gone after the rename
	n, err := io.Copy(f, r)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil && n != size {
		err = fmt.Errorf("%d bytes instead of %d", n, size)
	}
	if err != nil {
		return fmt.Errorf("objectstore: put %s: %w", key, err)
	}
	if err := os.Rename(f.Name(), p); err != nil {
		return fmt.Errorf("objectstore: put %s: %w", key, err)
	}
	return nil
}

// Get implements Store.
func (s *FS) Get(_ context.Context, key string) (*Object, error) {
	if err := checkKey(key); err != nil {
		return nil, err
	}
	f, err := os.Open(s.path(key))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("objectstore: get %s: %w", key, err)
	}
	st, err := f.Stat()
	if err != nil || st.IsDir() {
		_ = f.Close()
		return nil, ErrNotFound
	}
	return &Object{Body: f, Size: st.Size()}, nil
}

// DeletePrefix implements Store.
func (s *FS) DeletePrefix(_ context.Context, prefix string) error {
	if err := checkPrefix(prefix); err != nil {
		return err
	}
	if err := os.RemoveAll(s.path(strings.TrimSuffix(prefix, "/"))); err != nil {
		return fmt.Errorf("objectstore: delete %s: %w", prefix, err)
	}
	return nil
}

// List implements Store.
func (s *FS) List(_ context.Context, prefix string) ([]string, error) {
	if err := checkPrefix(prefix); err != nil {
		return nil, err
	}
	var keys []string
	root := s.path(strings.TrimSuffix(prefix, "/"))
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		if err != nil {
			return err
		}
		if d.IsDir() || strings.HasPrefix(d.Name(), ".put-") {
			return nil
		}
		rel, err := filepath.Rel(s.Dir, p)
		if err != nil {
			return err
		}
		keys = append(keys, filepath.ToSlash(rel))
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("objectstore: list %s: %w", prefix, err)
	}
	sort.Strings(keys)
	return keys, nil
}

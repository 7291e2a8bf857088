package sfsettings

import (
	"fmt"
	"io"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

// PollInterval is how often a watched file is checked: a stat of the resolved path,
// cheap enough to do every second, so a change is live within about a second.
const PollInterval = time.Second

// File is a settings file that is re-read when the file its path resolves to
// changes. Readers get the last valid value without a lock; a new value replaces it
// in one atomic store, so a request sees either the old settings or the new ones,
// never a mix.
//
// It polls rather than subscribing to inotify events: a ConfigMap volume replaces
// its files by swapping the `..data` symlink to a new timestamped directory, which
// changes no watched inode of the path itself, while a stat through the symlinks
// sees at once that the path now resolves to another file (inode, size, mtime).
// The file is read through the descriptor that was stat'ed, so the value and the
// identity it is remembered under belong to the same file.
type File[T any] struct {
	path  string
	parse func([]byte) (*T, error)
	cur   atomic.Pointer[T]

	mu       sync.Mutex // serialises Reload
	last     os.FileInfo
	lastFail string
}

// OpenFile reads and parses path; an unreadable or invalid file is an error (a
// process must not start on settings it cannot serve).
func OpenFile[T any](path string, parse func([]byte) (*T, error)) (*File[T], error) {
	f := &File[T]{path: path, parse: parse}
	if _, err := f.Reload(); err != nil {
		return nil, err
	}
	return f, nil
}

// Path is the path the file was opened with.
func (f *File[T]) Path() string { return f.path }

// Current returns the last valid value.
func (f *File[T]) Current() *T { return f.cur.Load() }

// Reload re-reads the file if the path resolves to another file or the file's size
// or modification time changed. changed reports a new outcome: a new value (err
// nil) or a new failure (err set); a file that stays broken reports its failure
// once, not on every poll, and keeps the previous value.
func (f *File[T]) Reload() (changed bool, err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	fi, data, err := f.read()
	if err != nil {
		return f.fail(err)
	}
	if fi == nil {
		return false, nil // unchanged
	}
	f.last = fi
	v, err := f.parse(data)
	if err != nil {
		return f.fail(fmt.Errorf("%s: %w", f.path, err))
	}
	f.lastFail = ""
	f.cur.Store(v)
	return true, nil
}

// read returns the file's info and contents, or a nil info when it is the file
// read last time.
func (f *File[T]) read() (os.FileInfo, []byte, error) {
	fh, err := os.Open(f.path)
	if err != nil {
		return nil, nil, err
	}
	defer fh.Close()
	fi, err := fh.Stat()
	if err != nil {
		return nil, nil, err
	}
	if l := f.last; l != nil && os.SameFile(l, fi) && l.Size() == fi.Size() && l.ModTime().Equal(fi.ModTime()) {
		return nil, nil, nil
	}
	if !fi.Mode().IsRegular() {
		return nil, nil, fmt.Errorf("%s: not a regular file", f.path)
	}
	data, err := io.ReadAll(io.LimitReader(fh, MaxSize+1))
	if err != nil {
		return nil, nil, fmt.Errorf("read %s: %w", f.path, err)
	}
	if len(data) > MaxSize {
		return nil, nil, fmt.Errorf("%s: more than the %d bytes allowed", f.path, MaxSize)
	}
	return fi, data, nil
}

func (f *File[T]) fail(err error) (bool, error) {
	if err.Error() == f.lastFail {
		return false, err
	}
	f.lastFail = err.Error()
	return true, err
}

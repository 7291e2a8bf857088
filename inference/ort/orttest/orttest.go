// Package orttest gives tests the onnxruntime runtime, or skips (fails under CI and
// make test) with the command that installs the library.
package orttest

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/kommerce/kommerce/inference/ort"
	"github.com/kommerce/kommerce/internal/testenv"
)

// Library returns the path of libonnxruntime: KOMMERCE_ONNXRUNTIME_LIB, else where
// hack/onnxruntime.sh installs it.
func Library(t testing.TB) string {
	t.Helper()
	lib := os.Getenv("KOMMERCE_ONNXRUNTIME_LIB")
	if lib == "" {
		cache := os.Getenv("KOMMERCE_CACHE_DIR")
		if cache == "" {
			home, _ := os.UserHomeDir()
			cache = filepath.Join(home, ".cache", "kommerce")
		}
		lib = filepath.Join(cache, "onnxruntime", "1.24.3", "libonnxruntime.so.1")
	}
	if _, err := os.Stat(lib); err != nil { //nolint:gosec // the path is the developer's own setting
		testenv.Unavailable(t, "onnxruntime", lib, errors.New("library not installed"))
	}
	return lib
}

// Runtime returns the onnxruntime runtime with one intra-op thread.
func Runtime(t testing.TB) *ort.Runtime {
	t.Helper()
	rt, err := ort.New(Library(t), 1)
	if err != nil {
		t.Fatal(err)
	}
	return rt
}

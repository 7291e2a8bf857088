package ingest

import (
	"errors"
	"testing"
)

func TestErrorClasses(t *testing.T) {
	base := errors.New("x")
	if !IsPermanent(Permanent(base)) || IsPermanent(base) || IsUnavailable(Permanent(base)) {
		t.Fatal("Permanent")
	}
	if !IsUnavailable(Unavailable(base)) || !errors.Is(Unavailable(base), base) || Permanent(nil) != nil {
		t.Fatal("Unavailable")
	}
}

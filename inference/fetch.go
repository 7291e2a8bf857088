package inference

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
)

// Fetcher reads model files from a path or an http(s) URL, refusing files above
// MaxBytes and files whose sha256 differs from the configured one.
type Fetcher struct {
	// Client fetches http(s) URLs; http.DefaultClient when nil. Give it a timeout.
	Client *http.Client
	// MaxBytes bounds a model file (default 512 MiB).
	MaxBytes int64
}

// Fetch returns the bytes of the model at uri after checking its size and sha256.
// Every failure is CodeLoadFailed with a message naming the uri.
func (f Fetcher) Fetch(ctx context.Context, uri, wantSHA256 string) ([]byte, error) {
	limit := f.MaxBytes
	if limit <= 0 {
		limit = 512 << 20
	}
	b, err := f.read(ctx, uri, limit)
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256(b)
	if got := hex.EncodeToString(sum[:]); !strings.EqualFold(got, wantSHA256) {
		return nil, Errorf(CodeLoadFailed, "model file %s has sha256 %s, the config says %s; refused", redact(uri), got, wantSHA256)
	}
	return b, nil
}

func (f Fetcher) read(ctx context.Context, uri string, limit int64) ([]byte, error) {
	u, err := url.Parse(uri)
	if err != nil {
		return nil, &Error{Code: CodeLoadFailed, Message: fmt.Sprintf("model uri %q is not a path or URL", uri), Err: err}
	}
	var r io.ReadCloser
	switch u.Scheme {
	case "", "file":
		path := uri
		if u.Scheme == "file" {
			path = u.Path
		}
		fh, err := os.Open(path)
		if err != nil {
			return nil, &Error{Code: CodeLoadFailed, Message: fmt.Sprintf("cannot open model file %s", path), Err: err}
		}
		if st, err := fh.Stat(); err == nil && st.Size() > limit {
			fh.Close()
			return nil, Errorf(CodeLoadFailed, "model file %s has %d bytes; the limit is %d", path, st.Size(), limit)
		}
		r = fh
	case "http", "https":
		client := f.Client
		if client == nil {
			client = http.DefaultClient
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, uri, nil)
		if err != nil {
			return nil, &Error{Code: CodeLoadFailed, Message: fmt.Sprintf("bad model URL %s", redact(uri)), Err: err}
		}
		resp, err := client.Do(req)
		if err != nil {
			return nil, &Error{Code: CodeLoadFailed, Message: fmt.Sprintf("cannot fetch model %s", redact(uri)), Err: err}
		}
		if resp.StatusCode != http.StatusOK {
			resp.Body.Close()
			return nil, Errorf(CodeLoadFailed, "fetching model %s answered HTTP %d", redact(uri), resp.StatusCode)
		}
		if resp.ContentLength > limit {
			resp.Body.Close()
			return nil, Errorf(CodeLoadFailed, "model %s has %d bytes; the limit is %d", redact(uri), resp.ContentLength, limit)
		}
		r = resp.Body
	default:
		return nil, Errorf(CodeLoadFailed, "model uri %s has scheme %q; accepted are a path, file://, http:// and https://", redact(uri), u.Scheme)
	}
	defer r.Close()
	// Read one byte past the limit so that a file that grew, or a server that sent
	// no length, is still caught without holding more than the limit in memory.
	b, err := io.ReadAll(io.LimitReader(r, limit+1))
	if err != nil {
		return nil, &Error{Code: CodeLoadFailed, Message: fmt.Sprintf("reading model %s", redact(uri)), Err: err}
	}
	if int64(len(b)) > limit {
		return nil, Errorf(CodeLoadFailed, "model %s is larger than the limit of %d bytes", redact(uri), limit)
	}
	return b, nil
}

// redact drops credentials and query strings (signed URLs) from a URI before it is
// logged or shown.
func redact(uri string) string {
	u, err := url.Parse(uri)
	if err != nil || u.Scheme == "" {
		return uri
	}
	u.User = nil
	u.RawQuery = ""
	return u.String()
}

// SHA256 returns the lowercase hex sha256 of b, as model configs spell it.
func SHA256(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

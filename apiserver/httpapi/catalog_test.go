package httpapi

import (
	"net/http/httptest"
	"testing"

	"github.com/gin-gonic/gin"

	"github.com/kommerce/kommerce/apiserver"
)

// TestWriteDocumentReleasesAfterWriting: a list cache miss hands its buffer back
// through Document.Release, to be reused by the next miss — only once the body is
// out, and once.
func TestWriteDocumentReleasesAfterWriting(t *testing.T) {
	for _, tc := range []struct {
		name, ifNoneMatch string
		wantStatus        int
		wantBody          string
	}{
		{"written", "", 200, `{"items":[]}`},
		{"not modified", `"l1"`, 304, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			body := []byte(`{"items":[]}`)
			rec := httptest.NewRecorder()
			c, _ := gin.CreateTestContext(rec)
			c.Request = httptest.NewRequest("GET", "/api/v1/products", nil)
			if tc.ifNoneMatch != "" {
				c.Request.Header.Set("If-None-Match", tc.ifNoneMatch)
			}
			released := 0
			writeDocument(c, &apiserver.Document{ETag: `"l1"`, Body: body, Release: func() {
				released++
				if rec.Body.String() != tc.wantBody {
					t.Errorf("released with %q written, want %q", rec.Body.String(), tc.wantBody)
				}
				copy(body, "XXXXXXXXXXXX") // the next miss reuses the buffer
			}})
			c.Writer.WriteHeaderNow()
			if released != 1 || rec.Code != tc.wantStatus || rec.Body.String() != tc.wantBody {
				t.Fatalf("released %d times, status %d, body %q; want once, %d, %q", released, rec.Code, rec.Body.String(), tc.wantStatus, tc.wantBody)
			}
		})
	}
}

package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kommerce/kommerce/internal/testenv"
)

// checkDevBackOffice uploads an image and imports a CSV against `kommerce dev`: the
// image's files land in <data-dir>/media (the embedded default) and are served, and
// the import job runs in the dev process and reports its bad row.
func checkDevBackOffice(t *testing.T, p *devProcess, token, productID, dataDir string) {
	t.Helper()
	photo, err := os.ReadFile("../../docs/images/product-sample.jpg")
	if err != nil {
		t.Fatal(err)
	}
	var body bytes.Buffer
	w := multipart.NewWriter(&body)
	part, _ := w.CreateFormFile("file", "sample.jpg")
	_, _ = part.Write(photo)
	_ = w.Close()
	img := p.send(t, "POST", "/api/v1/products/"+productID+"/images", token, w.FormDataContentType(), &body, 201)
	url, _ := img["url"].(string)
	files, _ := filepath.Glob(filepath.Join(dataDir, "media", "tenants", "*", "products", productID, "images", "*", "*"))
	if len(files) != 5 || !strings.HasPrefix(url, p.base+"/media/") {
		t.Fatalf("image %v stored as %v; want 5 files under <data-dir>/media", img, files)
	}
	res, err := http.Get(url) //nolint:gosec,noctx // the test's own server
	if err != nil {
		t.Fatal(err)
	}
	_ = res.Body.Close()
	if res.StatusCode != 200 || res.Header.Get("Content-Type") != "image/jpeg" {
		t.Fatalf("GET %s: %d %s", url, res.StatusCode, res.Header.Get("Content-Type"))
	}

	job := p.send(t, "POST", "/api/v1/imports", token, "text/csv", strings.NewReader("sku,name,currency,price\nDEV-IMP-1,Imported,EUR,1.50\nDEV-IMP-2,Bad,EUR,x\n"), 202)
	testenv.Eventually(t, 30*time.Second, "the import job of kommerce dev", func() (bool, string) {
		j := p.call(t, "GET", "/api/v1/jobs/"+job["id"].(string), token, "", 200)
		errs, _ := j["errors"].([]any)
		return j["state"] == "succeeded" && j["rows_created"] == float64(1) && len(errs) == 1, fmt.Sprint(j)
	})
}

// send is call with a body of another type than JSON.
func (p *devProcess) send(t *testing.T, method, path, token, contentType string, body io.Reader, want int) map[string]any {
	t.Helper()
	req, err := http.NewRequest(method, p.base+path, body)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("X-Kommerce-Tenant", "demo")
	req.Header.Set("Content-Type", contentType)
	req.Header.Set("Authorization", "Bearer "+token)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	if res.StatusCode != want {
		t.Fatalf("%s %s: %d, want %d: %s", method, path, res.StatusCode, want, raw)
	}
	var out map[string]any
	if err := json.Unmarshal(raw, &out); err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	return out
}

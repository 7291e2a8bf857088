package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kommerce/kommerce/internal/testenv"
)

// devProcess is `kommerce dev` running in-process until the test ends.
type devProcess struct {
	base   string
	stdout *testenv.SyncBuffer
	stderr *testenv.SyncBuffer
	stop   func() error
}

func startDev(t *testing.T, env map[string]string) *devProcess {
	t.Helper()
	addr := freeAddr(t)
	env["KOMMERCE_HTTP_ADDR"] = addr
	p := &devProcess{base: "http://" + addr, stdout: &testenv.SyncBuffer{}, stderr: &testenv.SyncBuffer{}}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"kommerce", "dev"}, func(k string) string { return env[k] }, strings.NewReader(""), p.stdout, p.stderr)
	}()
	var once sync.Once
	var stopErr error
	p.stop = func() error {
		once.Do(func() { cancel(); stopErr = <-done })
		return stopErr
	}
	t.Cleanup(func() {
		if err := p.stop(); err != nil {
			t.Errorf("kommerce dev stopped with %v; stderr:\n%s", err, p.stderr.String())
		}
	})
	testenv.Eventually(t, 90*time.Second, "kommerce dev ready", func() (bool, string) {
		select {
		case err := <-done:
			done <- err
			t.Fatalf("kommerce dev exited early: %v\n%s", err, p.stderr.String())
		default:
		}
		code := status(p.base + "/readyz")
		return code == http.StatusOK, fmt.Sprintf("/readyz %d; stderr:\n%s", code, p.stderr.String())
	})
	return p
}

// call sends a request to the demo tenant and decodes the JSON answer.
func (p *devProcess) call(t *testing.T, method, path, token, body string, want int) map[string]any {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, p.base+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("X-Kommerce-Tenant", "demo")
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
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

func hitNames(res map[string]any) []string {
	hits, _ := res["hits"].([]any)
	var out []string
	for _, h := range hits {
		name, _ := h.(map[string]any)["name"].(string)
		out = append(out, name)
	}
	return out
}

// TestDev runs `kommerce dev` on a fresh database with embedded Kafka and Bleve and
// uses what it serves; a restart on a wiped data directory finds the catalog
// searchable again without seeding anything twice.
func TestDev(t *testing.T) {
	db := testenv.NewEmptyDatabase(t)
	dataDir := t.TempDir()
	env := func() map[string]string {
		return map[string]string{"KOMMERCE_DATABASE_URL": db.URL, "KOMMERCE_DATA_DIR": dataDir, "KOMMERCE_DEMO_PRODUCTS": "60", "KOMMERCE_LOG_LEVEL": "warn"}
	}
	p := startDev(t, env())
	if !strings.Contains(p.stdout.String(), "60 products created") {
		t.Fatalf("stdout %q", p.stdout.String())
	}
	// The demo catalog's products 0..59 include "Wireless Headphones" and skillets.
	res := p.call(t, "GET", "/api/v1/search?q=wireles+headphnes", "", "", 200)
	names := hitNames(res)
	if len(names) == 0 || !strings.Contains(names[0], "Headphones") {
		t.Fatalf("typo search: %v", names)
	}
	id := res["hits"].([]any)[0].(map[string]any)["id"].(string)
	if names := hitNames(p.call(t, "GET", "/api/v1/search?q=frying+pan", "", "", 200)); len(names) == 0 || !strings.Contains(names[0], "Skillet") {
		t.Fatalf("the demo synonyms are not applied: %v", names)
	}
	if s := p.call(t, "GET", "/api/v1/search/suggest?q=wirel", "", "", 200)["suggestions"].([]any); len(s) == 0 {
		t.Fatal("no suggestions")
	}
	if a := p.call(t, "POST", "/api/v1/events", "", fmt.Sprintf(`{"type":"view","session_id":"s-1","product_id":%q}`, id), 202); a["accepted"] != float64(1) {
		t.Fatalf("events: %v", a)
	}
	// make run serves a real model: trained at start over the demo catalog, answered
	// by the in-process inference server.
	recs := p.call(t, "GET", "/api/v1/recommendations?context=product:"+id+"&session_id=s-1&limit=3", "", "", 200)
	if items := recs["items"].([]any); len(items) != 3 || recs["source"] != "model" || recs["model"] != "recs" ||
		!strings.HasPrefix(fmt.Sprint(recs["version"]), "dev-") {
		t.Fatalf("recommendations (want the demo model's): %v", recs)
	}
	for _, it := range recs["items"].([]any) {
		if it.(map[string]any)["id"] == id {
			t.Fatalf("the context product %s was recommended: %v", id, recs)
		}
	}
	models, err := filepath.Glob(filepath.Join(dataDir, "models", "recs-dev-*.onnx"))
	if err != nil || len(models) != 1 {
		t.Fatalf("cached model files %v (%v), want one", models, err)
	}
	fi, err := os.Stat(models[0])
	if err != nil {
		t.Fatal(err)
	}
	trained := fi.ModTime()
	// A product created through the API becomes searchable through the in-process
	// outbox relay, Kafka and indexer.
	tok := p.call(t, "POST", "/api/v1/auth/login", "", `{"email":"admin@demo.test","password":"demo-admin-password"}`, 200)["access_token"].(string)
	teapot := p.call(t, "POST", "/api/v1/products", tok, `{"name":"Zanzibar Teapot","status":"published","variants":[{"sku":"ZZ-1","prices":[{"currency":"EUR","amount":2500}]}]}`, 201)
	checkDevBackOffice(t, p, tok, teapot["id"].(string), dataDir) // backoffice_jobs_test.go: media in <data-dir>/media, import jobs
	testenv.Eventually(t, 60*time.Second, "a new product searchable through the embedded pipeline", func() (bool, string) {
		names := hitNames(p.call(t, "GET", "/api/v1/search?q=zanzibar", "", "", 200))
		return len(names) == 1, fmt.Sprintf("hits %v", names)
	})
	if err := p.stop(); err != nil {
		t.Fatal(err)
	}

	if err := os.RemoveAll(filepath.Join(dataDir, "search")); err != nil {
		t.Fatal(err)
	}
	p = startDev(t, env())
	if !strings.Contains(p.stdout.String(), "0 products created, 60 already there") {
		t.Fatalf("second start seeded again: %q", p.stdout.String())
	}
	if names := hitNames(p.call(t, "GET", "/api/v1/search?q=headphones", "", "", 200)); len(names) == 0 {
		t.Fatal("a wiped search index was not refilled at start")
	}
	// The second start loads the cached model instead of training again.
	if fi, err := os.Stat(models[0]); err != nil || !fi.ModTime().Equal(trained) {
		t.Fatalf("second start did not reuse the cached model %s: %v", models[0], err)
	}
	if recs := p.call(t, "GET", "/api/v1/recommendations?context=product:"+id+"&limit=3", "", "", 200); recs["source"] != "model" {
		t.Fatalf("after a restart: %v", recs)
	}
}

func TestDevSettings(t *testing.T) {
	tests := []struct {
		name       string
		env        map[string]string
		args       []string
		wantCode   int
		wantStdout string
		wantStderr string
	}{
		{name: "help lists the embedded defaults", args: []string{"dev", "--help"}, wantStdout: "KOMMERCE_KAFKA_BROKERS"},
		{name: "help lists the demo settings", args: []string{"dev", "--help"}, wantStdout: "KOMMERCE_DEMO_PRODUCTS"},
		{name: "bad demo product count", env: map[string]string{"KOMMERCE_DEMO_PRODUCTS": "0"}, args: []string{"dev"}, wantCode: 2, wantStderr: "KOMMERCE_DEMO_PRODUCTS"},
		{name: "bad demo tenant", args: []string{"dev", "--demo-tenant", "Demo Shop"}, wantCode: 2, wantStderr: "--demo-tenant"},
		{name: "short demo password", env: map[string]string{"KOMMERCE_DEMO_ADMIN_PASSWORD": "short"}, args: []string{"dev"}, wantCode: 2, wantStderr: "10 to 128"},
		{name: "common demo password", env: map[string]string{"KOMMERCE_DEMO_SHOPPER_PASSWORD": "password12"}, args: []string{"dev"}, wantCode: 2, wantStderr: "most common passwords"},
		{name: "bad brokers", env: map[string]string{"KOMMERCE_KAFKA_BROKERS": "kafka"}, args: []string{"dev"}, wantCode: 2, wantStderr: "KOMMERCE_KAFKA_BROKERS"},
		{name: "bad inference url", args: []string{"api", "--inference-url", "ftp://x"}, wantCode: 2, wantStderr: "--inference-url"},
		{name: "bad control share", args: []string{"api", "--recs-control-percent", "101"}, wantCode: 2, wantStderr: "0 and 100"},
		{name: "no database", env: map[string]string{"KOMMERCE_DATABASE_URL": "postgres://kommerce:x@127.0.0.1:1/kommerce?connect_timeout=2"}, args: []string{"dev"}, wantCode: 1, wantStderr: "hack/services.sh up postgres"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, stdout, stderr := invoke(t, tt.env, tt.args...)
			if code != tt.wantCode || !strings.Contains(stdout, tt.wantStdout) || !strings.Contains(stderr, tt.wantStderr) {
				t.Fatalf("exit %d (want %d), stdout %q, stderr %q", code, tt.wantCode, stdout, stderr)
			}
		})
	}
}

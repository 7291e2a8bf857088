package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kommerce/kommerce/internal/sfsettings/sfsettingstest"
	"github.com/kommerce/kommerce/internal/testenv"
)

// TestStorefrontSettingsRefused: `kommerce api` refuses, with exit status 2 and a
// message naming the setting, a settings document it cannot serve, one of another
// tenant than --tenant, and --search-settings beside it; nothing starts.
func TestStorefrontSettingsRefused(t *testing.T) {
	vol := sfsettingstest.NewVolume(t.TempDir())
	if err := vol.WriteDocument(sfsettingstest.Document("acme", "web")); err != nil {
		t.Fatal(err)
	}
	broken := filepath.Join(t.TempDir(), "storefront.json")
	if err := os.WriteFile(broken, []byte(`{"apiVersion":"kommerce.io/storefront-settings/v1","tenant":"acme","storefront":"web","generation":1,"channels":[]}`), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		env  map[string]string
		args []string
		want string
	}{
		{"missing file", nil, []string{"api", "--storefront-settings", filepath.Join(t.TempDir(), "none.json")}, "no such file"},
		{"invalid document", map[string]string{"KOMMERCE_STOREFRONT_SETTINGS": broken}, []string{"api"}, "storefront.json: channels: want 1 to 20 channels, got 0"},
		{"another tenant", map[string]string{"KOMMERCE_TENANT": "globex"}, []string{"api", "--storefront-settings", vol.Path()}, `is for tenant "acme"`},
		{"with search settings", map[string]string{"KOMMERCE_SEARCH_SETTINGS": "/etc/search.yaml"}, []string{"api", "--storefront-settings", vol.Path()}, "give one"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, _, stderr := invoke(t, tc.env, tc.args...)
			if code != 2 || !strings.Contains(stderr, tc.want) {
				t.Fatalf("exit %d, stderr %q; want 2 and %q", code, stderr, tc.want)
			}
		})
	}
}

// TestAPIServesStorefrontSettings runs `kommerce api` on a settings document in a
// ConfigMap-like volume: it is ready, serves the document's CORS origins to any
// host, and a swap of the document is live (metrics and preflights) without a
// restart.
func TestAPIServesStorefrontSettings(t *testing.T) {
	db := testenv.NewDatabase(t)
	env := map[string]string{"KOMMERCE_DATABASE_URL": db.URL, "KOMMERCE_LOG_LEVEL": "warn"}
	if code, _, stderr := invokeStdin(t, env, "", "admin", "create-tenant", "acme"); code != 0 {
		t.Fatalf("create-tenant: exit %d %s", code, stderr)
	}
	vol := sfsettingstest.NewVolume(t.TempDir())
	doc := sfsettingstest.Document("acme", "web")
	if err := vol.WriteDocument(doc); err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	apiEnv := map[string]string{"KOMMERCE_DATABASE_URL": db.URL, "KOMMERCE_HTTP_ADDR": addr, "KOMMERCE_LOG_LEVEL": "warn",
		"KOMMERCE_STOREFRONT_SETTINGS": vol.Path(), "KOMMERCE_DATA_DIR": t.TempDir()}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan int, 1)
	go func() {
		var out, errb bytes.Buffer
		err := run(ctx, []string{"kommerce", "api"}, func(k string) string { return apiEnv[k] }, strings.NewReader(""), &out, &errb)
		done <- exitCode(err, &errb)
	}()
	t.Cleanup(func() {
		cancel()
		if code := <-done; code != 0 {
			t.Errorf("kommerce api exited %d", code)
		}
	})
	base := "http://" + addr
	testenv.Eventually(t, 30*time.Second, "kommerce api ready", func() (bool, string) {
		code := status(base + "/readyz")
		return code == 200, fmt.Sprintf("/readyz %d", code)
	})
	if body := get(t, base+"/readyz"); !strings.Contains(body, "storefront-settings") {
		t.Fatalf("/readyz does not check the settings: %s", body)
	}
	allowed := func(origin string) string {
		req, _ := http.NewRequest("OPTIONS", base+"/api/v1/products", nil)
		req.Host = "www.somewhere-else.example"
		req.Header.Set("Origin", origin)
		req.Header.Set("Access-Control-Request-Method", "GET")
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		return res.Header.Get("Access-Control-Allow-Origin")
	}
	if got := allowed("https://shop.example.com"); got != "https://shop.example.com" {
		t.Fatalf("document origin not allowed: %q", got)
	}
	if m := get(t, base+"/metrics"); !strings.Contains(m, "kommerce_storefront_settings_generation 1") {
		t.Fatalf("metrics: %s", grepLines(m, "kommerce_storefront_settings"))
	}

	doc.Generation, doc.CORS.AllowedOrigins = 2, []string{"https://next.example.com"}
	if err := vol.WriteDocument(doc); err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, 10*time.Second, "generation 2 is live", func() (bool, string) {
		m := get(t, base+"/metrics")
		return strings.Contains(m, "kommerce_storefront_settings_generation 2") &&
			strings.Contains(m, `kommerce_storefront_settings_reloads_total{result="ok"} 1`), grepLines(m, "kommerce_storefront_settings")
	})
	if got := allowed("https://next.example.com"); got != "https://next.example.com" {
		t.Fatalf("new origin not allowed: %q", got)
	}
	if got := allowed("https://shop.example.com"); got != "" {
		t.Fatalf("removed origin still allowed: %q", got)
	}
}

func get(t *testing.T, url string) string {
	t.Helper()
	res, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return string(b)
}

func grepLines(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

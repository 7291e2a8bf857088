package sfsettings_test

import (
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/kommerce/kommerce/internal/sfsettings"
	"github.com/kommerce/kommerce/internal/sfsettings/sfsettingstest"
	"github.com/kommerce/kommerce/internal/testenv"
)

func openStore(t *testing.T, vol *sfsettingstest.Volume) (*sfsettings.Store, *prometheus.Registry, *testenv.SyncBuffer) {
	t.Helper()
	reg := prometheus.NewRegistry()
	var logged testenv.SyncBuffer
	s, err := sfsettings.Open(vol.Path(), slog.New(slog.NewJSONHandler(&logged, nil)), reg)
	if err != nil {
		t.Fatal(err)
	}
	return s, reg, &logged
}

func reloads(t *testing.T, reg *prometheus.Registry, result string) int {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != "kommerce_storefront_settings_reloads_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			if m.GetLabel()[0].GetValue() == result {
				return int(m.GetCounter().GetValue())
			}
		}
	}
	t.Fatalf("no reloads_total{result=%q}", result)
	return 0
}

func TestStoreFollowsTheKubeletSwap(t *testing.T) {
	vol := sfsettingstest.NewVolume(t.TempDir())
	d := sfsettingstest.Document("acme", "web")
	if err := vol.WriteDocument(d); err != nil {
		t.Fatal(err)
	}
	s, reg, logged := openStore(t, vol)
	if s.Current().Checkout.TaxRateBasisPoints != 1900 || s.Tenant() != "acme" || s.Storefront() != "web" {
		t.Fatalf("loaded %+v", s.Current())
	}
	// Readers run through every swap: each sees a whole document, old or new.
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var bad sync.Map
	for range 4 {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				c := s.Current()
				if c == nil || (c.Generation == 1) != (c.Checkout.TaxRateBasisPoints == 1900) {
					bad.Store("torn", c)
				}
			}
		})
	}
	go s.Watch(t.Context(), 5*time.Millisecond)
	d.Generation, d.Checkout.TaxRateBasisPoints = 2, 700
	if err := vol.WriteDocument(d); err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, 10*time.Second, "generation 2 is served", func() (bool, string) {
		return s.Current().Generation == 2, logged.String()
	})
	close(stop)
	wg.Wait()
	if v, torn := bad.Load("torn"); torn {
		t.Fatalf("a reader saw %+v", v)
	}
	if s.Current().Checkout.TaxRateBasisPoints != 700 {
		t.Fatalf("tax %d", s.Current().Checkout.TaxRateBasisPoints)
	}
	if got := generationGauge(t, reg); got != 2 {
		t.Fatalf("generation gauge %v", got)
	}
	if n := reloads(t, reg, "ok"); n != 1 {
		t.Fatalf("%d ok reloads, want 1", n)
	}
	if !strings.Contains(logged.String(), `"msg":"storefront settings reloaded"`) || !strings.Contains(logged.String(), `"generation":2`) {
		t.Fatalf("log: %s", logged.String())
	}
}

func generationGauge(t *testing.T, reg *prometheus.Registry) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == "kommerce_storefront_settings_generation" {
			return mf.GetMetric()[0].GetGauge().GetValue()
		}
	}
	t.Fatal("no generation gauge")
	return 0
}

func TestStoreKeepsTheLastGoodDocument(t *testing.T) {
	vol := sfsettingstest.NewVolume(t.TempDir())
	d := sfsettingstest.Document("acme", "web")
	if err := vol.WriteDocument(d); err != nil {
		t.Fatal(err)
	}
	s, reg, logged := openStore(t, vol)
	for i, bad := range [][]byte{
		[]byte(`{"apiVersion":"kommerce.io/storefront-settings/v1","tenant":"acme"`), // truncated
		[]byte(`{"apiVersion":"kommerce.io/storefront-settings/v9"}`),
		func() []byte { // another storefront: a pod serves one for its life
			o := sfsettingstest.Document("acme", "other")
			o.Generation = 5
			return mustJSON(t, o)
		}(),
	} {
		if err := vol.Write(bad); err != nil {
			t.Fatal(err)
		}
		s.Poll()
		s.Poll() // the same broken file is counted once
		if n := reloads(t, reg, "invalid"); n != i+1 {
			t.Fatalf("after bad file %d: %d invalid reloads", i, n)
		}
		if c := s.Current(); c.Generation != 1 || c.Storefront != "web" {
			t.Fatalf("after bad file %d the pod serves %+v", i, c)
		}
	}
	if !strings.Contains(logged.String(), "a pod serves one storefront for its life") {
		t.Fatalf("log: %s", logged.String())
	}
	d.Generation = 3
	if err := vol.WriteDocument(d); err != nil {
		t.Fatal(err)
	}
	s.Poll()
	if s.Current().Generation != 3 || reloads(t, reg, "ok") != 1 {
		t.Fatalf("the good file after bad ones: generation %d", s.Current().Generation)
	}
}

func TestOpenRefusesWhatItCannotServe(t *testing.T) {
	dir := t.TempDir()
	big := filepath.Join(dir, "big.json")
	if err := os.WriteFile(big, []byte(strings.Repeat(" ", sfsettings.MaxSize+1)), 0o600); err != nil {
		t.Fatal(err)
	}
	bad := filepath.Join(dir, "bad.json")
	if err := os.WriteFile(bad, []byte(`{"apiVersion":"kommerce.io/storefront-settings/v1","tenant":"acme","storefront":"web"}`), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ name, path, want string }{
		{"missing", filepath.Join(dir, "none.json"), "no such file"},
		{"directory", dir, "not a regular file"},
		{"oversized", big, "more than the 1048576 bytes allowed"},
		{"invalid", bad, "channels"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := sfsettings.Open(tc.path, nil, nil)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Open: %v, want an error mentioning %q", err, tc.want)
			}
			if s.Check(t.Context()) == nil {
				t.Fatal("a store that did not open is ready")
			}
		})
	}
}

func mustJSON(t *testing.T, d *sfsettings.Document) []byte {
	t.Helper()
	return marshal(t, d)
}

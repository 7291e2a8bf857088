package discovery_test

import (
	"encoding/json"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"sigs.k8s.io/yaml"

	"github.com/kommerce/kommerce/api/v1alpha1"
	"github.com/kommerce/kommerce/apiserver/discovery"
	"github.com/kommerce/kommerce/internal/search"
	"github.com/kommerce/kommerce/internal/sfsettings"
	"github.com/kommerce/kommerce/internal/sfsettings/sfsettingstest"
	"github.com/kommerce/kommerce/internal/testenv"
)

func TestParseSettings(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		wantErr string
		check   func(t *testing.T, s discovery.StaticSettings)
	}{
		{name: "empty", in: "storefronts: []", check: func(t *testing.T, s discovery.StaticSettings) {
			if len(s) != 0 {
				t.Fatalf("%v", s)
			}
		}},
		{name: "full entry", in: `
storefronts:
- tenant: acme
  storefront: outlet
  currency: EUR
  search:
    synonyms: [{terms: [sneaker, trainer, running shoe]}]
    boosts: [{field: name, weightPercent: 300}, {field: sku, weightPercent: 50}]
    autocomplete: {enabled: false, minChars: 3, maxSuggestions: 5}
`, check: func(t *testing.T, s discovery.StaticSettings) {
			st := s.SearchSettings("acme", "outlet")
			if st.Currency != "EUR" || len(st.Synonyms) != 1 || len(st.Synonyms[0]) != 3 || st.FieldBoosts["name"] != 3 || st.FieldBoosts["sku"] != 0.5 {
				t.Fatalf("%+v", st)
			}
			if !st.Autocomplete.Disabled || st.Autocomplete.MinChars != 3 || st.Autocomplete.Limit != 5 {
				t.Fatalf("autocomplete %+v", st.Autocomplete)
			}
			if other := s.SearchSettings("acme", "default"); other.Currency != "" || other.Synonyms != nil {
				t.Fatalf("another storefront got settings: %+v", other)
			}
		}},
		{name: "storefront defaults to default", in: `{"storefronts": [{"tenant": "acme", "currency": "USD"}]}`, check: func(t *testing.T, s discovery.StaticSettings) {
			if s.SearchSettings("acme", "default").Currency != "USD" {
				t.Fatalf("%v", s)
			}
		}},
		{name: "unknown field", in: "storefronts: [{tenant: acme, search: {synonym: []}}]", wantErr: "unknown field"},
		{name: "bad tenant", in: "storefronts: [{tenant: Acme Shop}]", wantErr: "DNS labels"},
		{name: "listed twice", in: "storefronts: [{tenant: acme}, {tenant: acme, storefront: default}]", wantErr: "listed twice"},
		{name: "bad currency", in: "storefronts: [{tenant: acme, currency: euro}]", wantErr: "currency"},
		{name: "one-word synonym group", in: "storefronts: [{tenant: acme, search: {synonyms: [{terms: [tee]}]}}]", wantErr: "synonym"},
		{name: "unknown boost field", in: "storefronts: [{tenant: acme, search: {boosts: [{field: colour, weightPercent: 200}]}}]", wantErr: "colour"},
		{name: "not yaml", in: "storefronts: [", wantErr: "search settings"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := discovery.ParseSettings([]byte(tt.in))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			tt.check(t, s)
		})
	}
}

// TestSettingsHaveTheStorefrontShape: a Storefront's spec.search, as the operator
// would copy it, is a valid search part of the file.
func TestSettingsHaveTheStorefrontShape(t *testing.T) {
	on := true
	spec := v1alpha1.StorefrontSearch{
		Synonyms:     []v1alpha1.SynonymSet{{Terms: []string{"sofa", "couch"}}},
		Boosts:       []v1alpha1.Boost{{Field: "brand", WeightPercent: 200}},
		Autocomplete: v1alpha1.Autocomplete{Enabled: &on, MinChars: 2, MaxSuggestions: 8},
	}
	raw, err := json.Marshal(map[string]any{"storefronts": []any{map[string]any{"tenant": "acme", "search": spec}}})
	if err != nil {
		t.Fatal(err)
	}
	s, err := discovery.ParseSettings(raw)
	if err != nil {
		t.Fatal(err)
	}
	st := s.SearchSettings("acme", "default")
	if st.FieldBoosts["brand"] != 2 || st.Synonyms[0][1] != "couch" || st.Autocomplete.Disabled || st.Autocomplete.Limit != 8 {
		t.Fatalf("%+v", st)
	}
}

func TestSettingsFileReloads(t *testing.T) {
	path := filepath.Join(t.TempDir(), "settings.yaml")
	// Each version has another length: the file is re-read when its size or time
	// changes, and a coarse file system clock may not tell two writes apart.
	version := 0
	write := func(currency string) {
		version++
		b, _ := yaml.Marshal(map[string]any{"storefronts": []any{map[string]any{"tenant": "acme", "currency": currency}}})
		b = append(b, []byte("#"+strings.Repeat("-", version)+"\n")...)
		if err := replaceFile(path, b); err != nil {
			t.Fatal(err)
		}
	}
	write("EUR")
	var logged testenv.SyncBuffer
	f, err := discovery.LoadSettingsFile(path, slog.New(slog.NewTextHandler(&logged, nil)))
	if err != nil {
		t.Fatal(err)
	}
	if c := f.SearchSettings("acme", "default").Currency; c != "EUR" {
		t.Fatalf("currency %q", c)
	}
	ctx := t.Context()
	go f.Watch(ctx, 10*time.Millisecond)
	write("GBP")
	testenv.Eventually(t, 10*time.Second, "the watcher reads GBP", func() (bool, string) {
		c := f.SearchSettings("acme", "default").Currency
		return c == "GBP", "currency " + c
	})
	// A broken file keeps the last good settings: once the watcher has read and
	// refused it, they are still the ones before.
	if err := replaceFile(path, []byte("storefronts: [{tenant: acme, currency: pounds}]")); err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, 10*time.Second, "the watcher refuses the broken file", func() (bool, string) {
		out := logged.String()
		return strings.Contains(out, "search settings not reloaded"), "log: " + out
	})
	if c := f.SearchSettings("acme", "default").Currency; c != "GBP" {
		t.Fatalf("a broken file replaced the settings: %q", c)
	}
	if _, err := discovery.LoadSettingsFile(path, nil); err == nil {
		t.Fatal("a broken file loads at start")
	}
}

// replaceFile writes a whole new file in one step (a rename), as a ConfigMap volume
// does: a watcher tick that falls in the middle of os.WriteFile would read a
// half-written (e.g. empty) file.
func replaceFile(path string, data []byte) error {
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, data, 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// TestDocumentSettingsAreTheFileSettings: a storefront settings document's search
// part gives the same engine settings as the same spec.search in a
// --search-settings file, with the first channel's currency, for its own tenant and
// storefront only.
func TestDocumentSettingsAreTheFileSettings(t *testing.T) {
	vol := sfsettingstest.NewVolume(t.TempDir())
	doc := sfsettingstest.Document("acme", "web")
	doc.Search.Autocomplete.Enabled = false
	if err := vol.WriteDocument(doc); err != nil {
		t.Fatal(err)
	}
	store, err := sfsettings.Open(vol.Path(), nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := json.Marshal(map[string]any{"storefronts": []any{map[string]any{"tenant": "acme", "storefront": "web",
		"currency": "EUR", "search": doc.Search}}})
	if err != nil {
		t.Fatal(err)
	}
	file, err := discovery.ParseSettings(raw)
	if err != nil {
		t.Fatal(err)
	}
	d := &discovery.DocumentSettings{Store: store}
	got, want := d.SearchSettings("acme", "web"), file.SearchSettings("acme", "web")
	if !reflect.DeepEqual(got, want) || !got.Autocomplete.Disabled || got.FieldBoosts["name"] != 3 || got.Currency != "EUR" {
		t.Fatalf("document %+v, file %+v", got, want)
	}
	if other := d.SearchSettings("acme", "default"); !reflect.DeepEqual(other, search.Settings{}) {
		t.Fatalf("another storefront got the document's settings: %+v", other)
	}
}

package discovery

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"time"

	"sigs.k8s.io/yaml"

	"github.com/kommerce/kommerce/apiserver"
	"github.com/kommerce/kommerce/internal/search"
)

// SettingsSource gives a storefront's search settings (synonyms, boosts,
// autocomplete, currency). They are applied at query time, so a change needs no
// reindex.
type SettingsSource interface {
	SearchSettings(tenantSlug, storefront string) search.Settings
}

// StaticSettings are fixed settings by "<tenant slug>/<storefront>".
type StaticSettings map[string]search.Settings

// SearchSettings implements SettingsSource.
func (s StaticSettings) SearchSettings(tenant, storefront string) search.Settings {
	return s[tenant+"/"+storefront]
}

// settingsDoc is the settings file: one entry per storefront, whose search part has
// exactly the shape of the Storefront resource's spec.search, so the operator can
// render the file from the resources (a ConfigMap mounted into the API pods).
type settingsDoc struct {
	Storefronts []storefrontSettings `json:"storefronts"`
}

type storefrontSettings struct {
	Tenant     string `json:"tenant"`
	Storefront string `json:"storefront"`
	// Currency is the channel currency prices are filtered and sorted in.
	Currency string `json:"currency"`
	Search   struct {
		Synonyms []struct {
			Terms []string `json:"terms"`
		} `json:"synonyms"`
		Boosts []struct {
			Field         string `json:"field"`
			WeightPercent int32  `json:"weightPercent"`
		} `json:"boosts"`
		Autocomplete struct {
			Enabled        *bool `json:"enabled"`
			MinChars       int32 `json:"minChars"`
			MaxSuggestions int32 `json:"maxSuggestions"`
		} `json:"autocomplete"`
	} `json:"search"`
}

// ParseSettings reads a settings file (YAML or JSON):
//
//	storefronts:
//	- tenant: acme               # tenant slug
//	  storefront: default        # default "default"
//	  currency: EUR
//	  search:                    # a Storefront's spec.search
//	    synonyms: [{terms: [sneaker, trainer]}]
//	    boosts: [{field: name, weightPercent: 300}]
//	    autocomplete: {enabled: true, minChars: 2, maxSuggestions: 8}
//
// Unknown fields, duplicates and values search.Settings.Validate refuses are errors
// naming the entry.
func ParseSettings(data []byte) (StaticSettings, error) {
	j, err := yaml.YAMLToJSON(data)
	if err != nil {
		return nil, fmt.Errorf("search settings: %w", err)
	}
	var doc settingsDoc
	dec := json.NewDecoder(bytes.NewReader(j))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&doc); err != nil {
		return nil, fmt.Errorf("search settings: %w", err)
	}
	out := StaticSettings{}
	for i, sf := range doc.Storefronts {
		if sf.Storefront == "" {
			sf.Storefront = DefaultStorefront
		}
		where := fmt.Sprintf("storefronts[%d] (%s/%s)", i, sf.Tenant, sf.Storefront)
		if !apiserver.ValidSlug(sf.Tenant) || !apiserver.ValidSlug(sf.Storefront) {
			return nil, fmt.Errorf("search settings %s: tenant and storefront must be lower-case DNS labels", where)
		}
		key := sf.Tenant + "/" + sf.Storefront
		if _, dup := out[key]; dup {
			return nil, fmt.Errorf("search settings %s: listed twice", where)
		}
		st := search.Settings{Currency: sf.Currency}
		for _, g := range sf.Search.Synonyms {
			st.Synonyms = append(st.Synonyms, g.Terms)
		}
		for _, b := range sf.Search.Boosts {
			if st.FieldBoosts == nil {
				st.FieldBoosts = map[string]float64{}
			}
			st.FieldBoosts[b.Field] = float64(b.WeightPercent) / 100
		}
		ac := sf.Search.Autocomplete
		st.Autocomplete = search.Autocomplete{Disabled: ac.Enabled != nil && !*ac.Enabled, MinChars: int(ac.MinChars), Limit: int(ac.MaxSuggestions)}
		if err := st.Validate(); err != nil {
			return nil, fmt.Errorf("search settings %s: %w", where, err)
		}
		out[key] = st
	}
	return out, nil
}

// SettingsFile serves the settings of a file and re-reads it when it changes (a
// mounted ConfigMap is replaced in place). A file that no longer parses is logged
// and the previous settings stay.
type SettingsFile struct {
	path string
	log  *slog.Logger

	mu      sync.RWMutex
	current StaticSettings
	modTime time.Time
	size    int64
}

// LoadSettingsFile reads path; an unreadable or invalid file is an error.
func LoadSettingsFile(path string, log *slog.Logger) (*SettingsFile, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	f := &SettingsFile{path: path, log: log}
	if _, err := f.reload(); err != nil {
		return nil, err
	}
	return f, nil
}

// SearchSettings implements SettingsSource.
func (f *SettingsFile) SearchSettings(tenant, storefront string) search.Settings {
	f.mu.RLock()
	defer f.mu.RUnlock()
	return f.current.SearchSettings(tenant, storefront)
}

// reload re-reads the file if its size or modification time changed.
func (f *SettingsFile) reload() (bool, error) {
	fi, err := os.Stat(f.path)
	if err != nil {
		return false, fmt.Errorf("search settings: %w", err)
	}
	f.mu.RLock()
	same := f.current != nil && fi.ModTime().Equal(f.modTime) && fi.Size() == f.size
	f.mu.RUnlock()
	if same {
		return false, nil
	}
	data, err := os.ReadFile(f.path)
	if err != nil {
		return false, fmt.Errorf("search settings: %w", err)
	}
	s, err := ParseSettings(data)
	if err != nil {
		return false, fmt.Errorf("%s: %w", f.path, err)
	}
	f.mu.Lock()
	f.current, f.modTime, f.size = s, fi.ModTime(), fi.Size()
	f.mu.Unlock()
	return true, nil
}

// Watch re-reads the file every interval until ctx ends.
func (f *SettingsFile) Watch(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			changed, err := f.reload()
			switch {
			case err != nil:
				f.log.Error("search settings not reloaded; the previous ones stay", "error", err)
			case changed:
				f.log.Info("search settings reloaded", "path", f.path)
			}
		}
	}
}

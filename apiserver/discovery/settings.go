package discovery

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"sigs.k8s.io/yaml"

	"github.com/kommerce/kommerce/apiserver"
	"github.com/kommerce/kommerce/internal/search"
	"github.com/kommerce/kommerce/internal/sfsettings"
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
	Currency string     `json:"currency"`
	Search   specSearch `json:"search"`
}

// specSearch is a Storefront's spec.search.
type specSearch struct {
	Synonyms     []specSynonyms `json:"synonyms"`
	Boosts       []specBoost    `json:"boosts"`
	Autocomplete struct {
		Enabled        *bool `json:"enabled"`
		MinChars       int32 `json:"minChars"`
		MaxSuggestions int32 `json:"maxSuggestions"`
	} `json:"autocomplete"`
}

type specSynonyms struct {
	Terms []string `json:"terms"`
}

type specBoost struct {
	Field         string `json:"field"`
	WeightPercent int32  `json:"weightPercent"`
}

// settings converts spec.search (and the channel currency) to the engine's settings:
// weightPercent 100 is a boost of 1, and autocomplete is on unless disabled.
func (sp specSearch) settings(currency string) search.Settings {
	st := search.Settings{Currency: currency}
	for _, g := range sp.Synonyms {
		st.Synonyms = append(st.Synonyms, g.Terms)
	}
	for _, b := range sp.Boosts {
		if st.FieldBoosts == nil {
			st.FieldBoosts = map[string]float64{}
		}
		st.FieldBoosts[b.Field] = float64(b.WeightPercent) / 100
	}
	ac := sp.Autocomplete
	st.Autocomplete = search.Autocomplete{Disabled: ac.Enabled != nil && !*ac.Enabled, MinChars: int(ac.MinChars), Limit: int(ac.MaxSuggestions)}
	return st
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
		st := sf.Search.settings(sf.Currency)
		if err := st.Validate(); err != nil {
			return nil, fmt.Errorf("search settings %s: %w", where, err)
		}
		out[key] = st
	}
	return out, nil
}

// SettingsFile serves the settings of a file and re-reads it when it changes (a
// mounted ConfigMap is replaced in place), through sfsettings.File: the same
// polling of the resolved path as the storefront settings document. A file that no
// longer parses is logged and the previous settings stay.
type SettingsFile struct {
	file *sfsettings.File[StaticSettings]
	log  *slog.Logger
}

// LoadSettingsFile reads path; an unreadable or invalid file is an error.
func LoadSettingsFile(path string, log *slog.Logger) (*SettingsFile, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	f, err := sfsettings.OpenFile(path, func(data []byte) (*StaticSettings, error) {
		s, err := ParseSettings(data)
		return &s, err
	})
	if err != nil {
		return nil, fmt.Errorf("search settings: %w", err)
	}
	return &SettingsFile{file: f, log: log}, nil
}

// SearchSettings implements SettingsSource.
func (f *SettingsFile) SearchSettings(tenant, storefront string) search.Settings {
	return f.file.Current().SearchSettings(tenant, storefront)
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
			changed, err := f.file.Reload()
			switch {
			case !changed:
			case err != nil:
				f.log.Error("search settings not reloaded; the previous ones stay", "error", err)
			default:
				f.log.Info("search settings reloaded", "path", f.file.Path())
			}
		}
	}
}

// DocumentSettings serves the search settings of the storefront a settings
// document manages (sfsettings.Store): its spec.search with the first channel's
// currency, for that tenant and storefront only; others get the defaults.
type DocumentSettings struct {
	Store *sfsettings.Store

	cache atomic.Pointer[documentSettings]
}

type documentSettings struct {
	doc *sfsettings.Document
	st  search.Settings
}

// SearchSettings implements SettingsSource. The conversion is done once per
// document, not per query.
func (d *DocumentSettings) SearchSettings(tenant, storefront string) search.Settings {
	doc := d.Store.Current()
	if tenant != doc.Tenant || storefront != doc.Storefront {
		return search.Settings{}
	}
	if c := d.cache.Load(); c != nil && c.doc == doc {
		return c.st
	}
	c := &documentSettings{doc: doc, st: SearchSettingsOf(doc)}
	d.cache.Store(c)
	return c.st
}

// SearchSettingsOf converts a settings document's search part, with the first
// channel's currency, to the engine's settings.
func SearchSettingsOf(doc *sfsettings.Document) search.Settings {
	var sp specSearch
	for _, g := range doc.Search.Synonyms {
		sp.Synonyms = append(sp.Synonyms, specSynonyms{g.Terms})
	}
	for _, b := range doc.Search.Boosts {
		sp.Boosts = append(sp.Boosts, specBoost{b.Field, b.WeightPercent})
	}
	ac := doc.Search.Autocomplete
	sp.Autocomplete.Enabled, sp.Autocomplete.MinChars, sp.Autocomplete.MaxSuggestions = &ac.Enabled, ac.MinChars, ac.MaxSuggestions
	return sp.settings(doc.Currency())
}

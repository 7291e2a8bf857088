package storefront

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	kv1 "github.com/kommerce/kommerce/api/v1alpha1"
	"github.com/kommerce/kommerce/internal/search"
	"github.com/kommerce/kommerce/internal/sfsettings"
	"github.com/kommerce/kommerce/internal/tenancy"
)

const settingsKey = sfsettings.Key

// indexAlias is the search index alias of a storefront: the tenant's index prefix
// and the storefront's name, the rule the API and the indexer name indices by
// (search.IndexName).
func indexAlias(t *kv1.Tenant, storefront string) string {
	p := tenancy.Resolve(t.Name, tenancy.Prefixes{Index: t.Spec.Isolation.IndexPrefix})
	return search.IndexName(p.Index, storefront)
}

// renderSettings builds the settings document of sf, a pure function of the
// Storefront, its tenant's slug, its index alias and the models bound to it.
func renderSettings(sf *kv1.Storefront, slug, alias string, models []sfsettings.Model) sfsettings.Document {
	s := sf.Spec
	doc := sfsettings.Document{
		APIVersion:  sfsettings.APIVersion,
		Tenant:      slug,
		Storefront:  sf.Name,
		Generation:  sf.Generation,
		SearchIndex: alias,
		Channels:    make([]sfsettings.Channel, 0, len(s.Channels)),
		Models:      models,
	}
	for _, ch := range s.Channels {
		doc.Channels = append(doc.Channels, sfsettings.Channel{
			Name: ch.Name, Hostname: ch.Hostname, Currency: ch.Currency, Locales: slices.Clone(ch.Locales),
		})
	}
	for _, syn := range s.Search.Synonyms {
		doc.Search.Synonyms = append(doc.Search.Synonyms, sfsettings.Synonyms{Terms: slices.Clone(syn.Terms)})
	}
	for _, b := range s.Search.Boosts {
		doc.Search.Boosts = append(doc.Search.Boosts, sfsettings.Boost{Field: b.Field, WeightPercent: b.WeightPercent})
	}
	ac := s.Search.Autocomplete
	doc.Search.Autocomplete = sfsettings.Autocomplete{
		Enabled:        ac.Enabled == nil || *ac.Enabled,
		MinChars:       orInt32(ac.MinChars, 2),
		MaxSuggestions: orInt32(ac.MaxSuggestions, 8),
	}
	ttl := 15 * time.Minute
	if s.Inventory.ReservationTTL != nil {
		ttl = s.Inventory.ReservationTTL.Duration
	}
	doc.Inventory = sfsettings.Inventory{ReservationTTLSeconds: int64(ttl / time.Second), AllowBackorders: s.Inventory.AllowBackorders}
	label := s.Checkout.TaxLabel
	if label == "" {
		label = "Tax"
	}
	doc.Checkout = sfsettings.Checkout{
		TaxRateBasisPoints: s.Checkout.TaxRateBasisPoints, TaxLabel: label,
		ShippingAmount: s.Checkout.ShippingAmount, FreeShippingOver: s.Checkout.FreeShippingOver,
	}
	doc.CORS.AllowedOrigins = slices.Clone(s.CORS.AllowedOrigins)
	return doc
}

func orInt32(v, def int32) int32 {
	if v == 0 {
		return def
	}
	return v
}

// encodeSettings is the ConfigMap value of doc.
func encodeSettings(doc sfsettings.Document) ([]byte, error) {
	raw, err := json.MarshalIndent(doc, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("encode storefront settings: %w", err)
	}
	return raw, nil
}

// bindModels maps each of sf's model bindings to the ModelVersions of its model
// (mvs: every ModelVersion in the namespace) and their traffic split. The split is
// taken from the model's version whose rollout started last and that has one (the
// ModelVersion controller writes it on the version under rollout); without any, a
// Promoted version with an endpoint serves alone. Versions without an endpoint are
// left out: the API could not call them. A binding with no servable version gets
// no arms.
func bindModels(sf *kv1.Storefront, mvs []kv1.ModelVersion) ([]sfsettings.Model, []kv1.BoundModel) {
	var models []sfsettings.Model
	var bound []kv1.BoundModel
	for _, b := range sf.Spec.Models {
		byName := map[string]*kv1.ModelVersion{}
		var family []*kv1.ModelVersion
		for i := range mvs {
			if mvs[i].Spec.Model == b.Model && mvs[i].Spec.Purpose == b.Purpose {
				byName[mvs[i].Name] = &mvs[i]
				family = append(family, &mvs[i])
			}
		}
		m := sfsettings.Model{Purpose: string(b.Purpose), Model: b.Model}
		split, owner := currentSplit(family)
		for _, share := range split {
			mv := byName[share.ModelVersion]
			if mv == nil || mv.Status.Endpoint == "" {
				continue
			}
			m.Arms = append(m.Arms, sfsettings.Arm{
				ModelVersion: mv.Name, Revision: mv.Spec.Artifact.SHA256, URL: mv.Status.Endpoint,
				ModelName: mv.Name, Percent: share.Percent, Shadow: share.Mirrored,
			})
		}
		if owner != nil && owner.Spec.Rollout.ABTest != nil {
			m.StickyBy = string(owner.Spec.Rollout.ABTest.StickyBy)
			for i := range m.Arms {
				m.Arms[i].Baseline = m.Arms[i].ModelVersion == owner.Spec.Rollout.ABTest.Baseline
			}
		}
		if len(m.Arms) > 1 {
			m.Experiment = experimentName(b.Model, m.Arms)
		}
		for _, a := range m.Arms {
			bound = append(bound, kv1.BoundModel{Purpose: b.Purpose, ModelVersion: a.ModelVersion, Revision: a.Revision, Weight: a.Percent})
		}
		models = append(models, m)
	}
	return models, bound
}

// currentSplit is the traffic split of a model's versions and the version that
// holds it.
func currentSplit(family []*kv1.ModelVersion) ([]kv1.TrafficShare, *kv1.ModelVersion) {
	var owner *kv1.ModelVersion
	for _, mv := range family {
		if len(mv.Status.TrafficSplit) == 0 {
			continue
		}
		if owner == nil || startedAfter(mv, owner) {
			owner = mv
		}
	}
	if owner != nil {
		return owner.Status.TrafficSplit, owner
	}
	sort.Slice(family, func(i, j int) bool { return family[i].Name < family[j].Name })
	for _, mv := range family {
		if mv.Status.Phase == kv1.ModelPromoted && mv.Status.Endpoint != "" {
			return []kv1.TrafficShare{{ModelVersion: mv.Name, Percent: 100}}, mv
		}
	}
	return nil, nil
}

func startedAfter(a, b *kv1.ModelVersion) bool {
	ta, tb := a.Status.StartedAt, b.Status.StartedAt
	switch {
	case ta == nil && tb == nil:
		return a.Name > b.Name
	case tb == nil:
		return true
	case ta == nil:
		return false
	case ta.Equal(tb):
		return a.Name > b.Name
	}
	return tb.Before(ta)
}

// experimentName changes whenever the set of arms does, so a new split reshuffles
// shoppers.
func experimentName(model string, arms []sfsettings.Arm) string {
	parts := make([]string, 0, len(arms))
	for _, a := range arms {
		parts = append(parts, fmt.Sprintf("%s/%s/%d/%t", a.ModelVersion, a.Revision, a.Percent, a.Shadow))
	}
	sort.Strings(parts)
	sum := sha256.Sum256([]byte(strings.Join(parts, ",")))
	return model + "-" + hex.EncodeToString(sum[:4])
}

// modelsBound reports whether every binding has a version answering its traffic.
func modelsBound(models []sfsettings.Model) (bool, string) {
	var missing []string
	for _, m := range models {
		serving := false
		for _, a := range m.Arms {
			if !a.Shadow && a.Percent > 0 {
				serving = true
			}
		}
		if !serving {
			missing = append(missing, m.Purpose+" ("+m.Model+")")
		}
	}
	if len(missing) > 0 {
		return false, "no serving ModelVersion for " + strings.Join(missing, ", ")
	}
	return true, fmt.Sprintf("%d model bindings served", len(models))
}

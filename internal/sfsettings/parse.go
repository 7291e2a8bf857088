package sfsettings

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"unicode/utf8"
)

// MaxSize is the largest document accepted. A ConfigMap holds at most 1 MiB, so a
// larger file is not one the operator rendered; refusing it bounds what a reload
// reads and holds.
const MaxSize = 1 << 20

// Bounds of the document's values; they are the Storefront resource's (its CRD
// refuses anything else), so a document breaking them was not rendered from one.
const (
	MaxChannels          = 20
	MaxLocales           = 16
	MaxSynonymGroups     = 500
	MaxSynonymTerms      = 32
	MaxBoosts            = 6
	MaxAllowedOrigins    = 32
	MinReservationTTL    = 60    // seconds, the CRD's 1m
	MaxReservationTTL    = 86400 // seconds, the CRD's 24h
	MaxAmount            = 100_000_000_000
	MaxTaxRateBasisPoint = 10000
)

var (
	dnsLabel  = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`)
	hostname  = regexp.MustCompile(`^([a-z0-9]([-a-z0-9]*[a-z0-9])?\.)+[a-z]{2,63}$`)
	currency  = regexp.MustCompile(`^[A-Z]{3}$`)
	locale    = regexp.MustCompile(`^[a-z]{2,3}(-[A-Za-z0-9]{2,8})*$`)
	origin    = regexp.MustCompile(`^https?://[a-z0-9]([-a-z0-9.]*[a-z0-9])?(:[0-9]{1,5})?$`)
	boostable = []string{"name", "description", "brand", "sku", "attributes"}
	purposes  = []string{"Recommendations", "Ranking", "Fraud"}
)

// FieldError is a document value that breaks the contract; Field is its JSON path,
// e.g. "channels[0].currency".
type FieldError struct {
	Field   string
	Message string
}

func (e *FieldError) Error() string { return e.Field + ": " + e.Message }

func fieldErr(field, format string, args ...any) error {
	return &FieldError{Field: field, Message: fmt.Sprintf(format, args...)}
}

// Parse decodes and validates a document. It is strict on purpose: an unknown field,
// another apiVersion or a value outside the Storefront resource's bounds is an
// error naming the field, so an API pod never serves a document it misreads.
func Parse(data []byte) (*Document, error) {
	if len(data) > MaxSize {
		return nil, fmt.Errorf("storefront settings: %d bytes, more than the %d allowed", len(data), MaxSize)
	}
	// apiVersion first: a document of another version may have other fields, and
	// "unknown field" would hide the real reason. Unmarshal also refuses anything
	// after the document, which the streaming decoder below would not see.
	var head struct {
		APIVersion *string `json:"apiVersion"`
	}
	if err := json.Unmarshal(data, &head); err != nil {
		return nil, fmt.Errorf("storefront settings: %w", err)
	}
	switch {
	case head.APIVersion == nil:
		return nil, fieldErr("apiVersion", "missing; want %q", APIVersion)
	case *head.APIVersion != APIVersion:
		return nil, fieldErr("apiVersion", "%q is not understood by this API version; want %q", *head.APIVersion, APIVersion)
	}
	var d Document
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&d); err != nil {
		return nil, fmt.Errorf("storefront settings: %w", err)
	}
	if err := d.Validate(); err != nil {
		return nil, err
	}
	return &d, nil
}

// Validate checks every value against the Storefront resource's bounds. Errors are
// *FieldError.
func (d *Document) Validate() error {
	if d.APIVersion != APIVersion {
		return fieldErr("apiVersion", "%q is not understood by this API version; want %q", d.APIVersion, APIVersion)
	}
	for _, f := range []struct{ name, v string }{{"tenant", d.Tenant}, {"storefront", d.Storefront}} {
		if len(f.v) > 63 || !dnsLabel.MatchString(f.v) {
			return fieldErr(f.name, "%q is not a DNS label (lower-case letters, digits and inner dashes, at most 63)", f.v)
		}
	}
	if d.Generation < 0 {
		return fieldErr("generation", "must not be negative")
	}
	if err := d.validateChannels(); err != nil {
		return err
	}
	if err := d.Search.validate(); err != nil {
		return err
	}
	if len(d.SearchIndex) > 255 {
		return fieldErr("searchIndex", "longer than 255 characters")
	}
	if t := d.Inventory.ReservationTTLSeconds; t < MinReservationTTL || t > MaxReservationTTL {
		return fieldErr("inventory.reservationTTLSeconds", "%d is outside %d..%d", t, MinReservationTTL, MaxReservationTTL)
	}
	if err := d.Checkout.validate(); err != nil {
		return err
	}
	if err := d.CORS.validate(); err != nil {
		return err
	}
	return validateModels(d.Models)
}

func (d *Document) validateChannels() error {
	if len(d.Channels) == 0 || len(d.Channels) > MaxChannels {
		return fieldErr("channels", "want 1 to %d channels, got %d", MaxChannels, len(d.Channels))
	}
	names, hosts := map[string]bool{}, map[string]bool{}
	for i, c := range d.Channels {
		at := fmt.Sprintf("channels[%d]", i)
		if len(c.Name) > 63 || !dnsLabel.MatchString(c.Name) {
			return fieldErr(at+".name", "%q is not a DNS label", c.Name)
		}
		if len(c.Hostname) > 253 || !hostname.MatchString(c.Hostname) {
			return fieldErr(at+".hostname", "%q is not a lower-case DNS name", c.Hostname)
		}
		if !currency.MatchString(c.Currency) {
			return fieldErr(at+".currency", "%q is not an ISO 4217 code such as EUR", c.Currency)
		}
		if len(c.Locales) == 0 || len(c.Locales) > MaxLocales {
			return fieldErr(at+".locales", "want 1 to %d locales, got %d", MaxLocales, len(c.Locales))
		}
		for j, l := range c.Locales {
			if len(l) > 35 || !locale.MatchString(l) {
				return fieldErr(fmt.Sprintf("%s.locales[%d]", at, j), "%q is not a BCP 47 tag such as de-DE", l)
			}
		}
		if names[c.Name] {
			return fieldErr(at+".name", "%q is listed twice", c.Name)
		}
		if hosts[c.Hostname] {
			return fieldErr(at+".hostname", "%q is listed twice", c.Hostname)
		}
		names[c.Name], hosts[c.Hostname] = true, true
	}
	return nil
}

func (s *Search) validate() error {
	if len(s.Synonyms) > MaxSynonymGroups {
		return fieldErr("search.synonyms", "at most %d groups, got %d", MaxSynonymGroups, len(s.Synonyms))
	}
	for i, g := range s.Synonyms {
		at := fmt.Sprintf("search.synonyms[%d].terms", i)
		if len(g.Terms) < 2 || len(g.Terms) > MaxSynonymTerms {
			return fieldErr(at, "want 2 to %d terms, got %d", MaxSynonymTerms, len(g.Terms))
		}
		for j, term := range g.Terms {
			if strings.TrimSpace(term) == "" || len(term) > 100 || !utf8.ValidString(term) {
				return fieldErr(fmt.Sprintf("%s[%d]", at, j), "want 1 to 100 bytes of text")
			}
		}
	}
	if len(s.Boosts) > MaxBoosts {
		return fieldErr("search.boosts", "at most %d boosts, got %d", MaxBoosts, len(s.Boosts))
	}
	seen := map[string]bool{}
	for i, b := range s.Boosts {
		at := fmt.Sprintf("search.boosts[%d]", i)
		if !slices.Contains(boostable, b.Field) {
			return fieldErr(at+".field", "%q is not one of %s", b.Field, strings.Join(boostable, ", "))
		}
		if seen[b.Field] {
			return fieldErr(at+".field", "%q is boosted twice", b.Field)
		}
		seen[b.Field] = true
		if b.WeightPercent < 1 || b.WeightPercent > 10000 {
			return fieldErr(at+".weightPercent", "%d is outside 1..10000", b.WeightPercent)
		}
	}
	// Zero means "not rendered": the search engine's defaults apply.
	if m := s.Autocomplete.MinChars; m < 0 || m > 10 {
		return fieldErr("search.autocomplete.minChars", "%d is outside 1..10", m)
	}
	if m := s.Autocomplete.MaxSuggestions; m < 0 || m > 50 {
		return fieldErr("search.autocomplete.maxSuggestions", "%d is outside 1..50", m)
	}
	return nil
}

func (c *Checkout) validate() error {
	if c.TaxRateBasisPoints < 0 || c.TaxRateBasisPoints > MaxTaxRateBasisPoint {
		return fieldErr("checkout.taxRateBasisPoints", "%d is outside 0..%d", c.TaxRateBasisPoints, MaxTaxRateBasisPoint)
	}
	if len(c.TaxLabel) > 100 || !utf8.ValidString(c.TaxLabel) || strings.ContainsAny(c.TaxLabel, "\x00\r\n") {
		return fieldErr("checkout.taxLabel", "want at most 100 bytes of one-line text")
	}
	if c.ShippingAmount < 0 || c.ShippingAmount > MaxAmount {
		return fieldErr("checkout.shippingAmount", "%d is outside 0..%d", c.ShippingAmount, int64(MaxAmount))
	}
	if f := c.FreeShippingOver; f != nil && (*f < 0 || *f > MaxAmount) {
		return fieldErr("checkout.freeShippingOver", "%d is outside 0..%d", *f, int64(MaxAmount))
	}
	return nil
}

func (c *CORS) validate() error {
	if len(c.AllowedOrigins) > MaxAllowedOrigins {
		return fieldErr("cors.allowedOrigins", "at most %d origins, got %d", MaxAllowedOrigins, len(c.AllowedOrigins))
	}
	for i, o := range c.AllowedOrigins {
		if len(o) > 260 || !origin.MatchString(o) {
			return fieldErr(fmt.Sprintf("cors.allowedOrigins[%d]", i), "%q is not an origin such as https://shop.example.com", o)
		}
	}
	return nil
}

func validateModels(models []Model) error {
	seen := map[string]bool{}
	for i, m := range models {
		at := fmt.Sprintf("models[%d]", i)
		if !slices.Contains(purposes, m.Purpose) {
			return fieldErr(at+".purpose", "%q is not one of %s", m.Purpose, strings.Join(purposes, ", "))
		}
		if seen[m.Purpose] {
			return fieldErr(at+".purpose", "%s is bound twice", m.Purpose)
		}
		seen[m.Purpose] = true
		if len(m.Model) > 63 || !dnsLabel.MatchString(m.Model) {
			return fieldErr(at+".model", "%q is not a DNS label", m.Model)
		}
		if m.StickyBy != "" && m.StickyBy != "User" && m.StickyBy != "Session" {
			return fieldErr(at+".stickyBy", "%q is not User or Session", m.StickyBy)
		}
		for j, a := range m.Arms {
			if err := a.validate(fmt.Sprintf("%s.arms[%d]", at, j)); err != nil {
				return err
			}
		}
	}
	return nil
}

func (a *Arm) validate(at string) error {
	if len(a.ModelVersion) > 253 || !dnsLabel.MatchString(a.ModelVersion) {
		return fieldErr(at+".modelVersion", "%q is not a resource name", a.ModelVersion)
	}
	u, err := url.Parse(a.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fieldErr(at+".url", "%q is not an http(s) URL", a.URL)
	}
	if strings.TrimSpace(a.ModelName) == "" || len(a.ModelName) > 255 {
		return fieldErr(at+".modelName", "want 1 to 255 characters")
	}
	if a.Percent < 0 || a.Percent > 100 {
		return fieldErr(at+".percent", "%d is outside 0..100", a.Percent)
	}
	return nil
}

// Currency is the storefront's checkout currency: the first channel's.
func (d *Document) Currency() string {
	if len(d.Channels) == 0 {
		return ""
	}
	return d.Channels[0].Currency
}

// Label is the name of the tax line, "Tax" when the document leaves it empty
// (the Storefront resource's default).
func (c Checkout) Label() string {
	if strings.TrimSpace(c.TaxLabel) == "" {
		return "Tax"
	}
	return c.TaxLabel
}

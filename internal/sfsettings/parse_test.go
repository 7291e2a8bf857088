package sfsettings_test

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/kommerce/kommerce/internal/sfsettings"
	"github.com/kommerce/kommerce/internal/sfsettings/sfsettingstest"
)

// asMap is a valid document as generic JSON, for cases that break its shape.
func asMap(t *testing.T) map[string]any {
	t.Helper()
	b, err := json.Marshal(sfsettingstest.Document("acme", "web"))
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

func marshal(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestParse(t *testing.T) {
	doc := func(change func(d *sfsettings.Document)) func(t *testing.T) []byte {
		return func(t *testing.T) []byte {
			d := sfsettingstest.Document("acme", "web")
			change(d)
			return marshal(t, d)
		}
	}
	raw := func(change func(m map[string]any)) func(t *testing.T) []byte {
		return func(t *testing.T) []byte {
			m := asMap(t)
			change(m)
			return marshal(t, m)
		}
	}
	for _, tc := range []struct {
		name  string
		data  func(t *testing.T) []byte
		field string // the *FieldError's field, "" for a decoding error
		want  string // in the error text; "" means the document is valid
	}{
		{name: "valid", data: doc(func(*sfsettings.Document) {})},
		{name: "valid without optional parts", data: doc(func(d *sfsettings.Document) {
			d.Search, d.CORS, d.Checkout = sfsettings.Search{}, sfsettings.CORS{}, sfsettings.Checkout{}
		})},
		{name: "malformed", data: func(*testing.T) []byte { return []byte(`{"apiVersion": "kommerce.io/storefront-settings/v1",`) }, want: "unexpected end"},
		{name: "not an object", data: func(*testing.T) []byte { return []byte(`[]`) }, want: "cannot unmarshal array"},
		{name: "data after the document", data: func(t *testing.T) []byte { return append(marshal(t, sfsettingstest.Document("acme", "web")), "{}"...) }, want: "after top-level value"},
		{name: "unknown field", data: raw(func(m map[string]any) { m["surprise"] = 1 }), want: `unknown field "surprise"`},
		{name: "unknown nested field", data: raw(func(m map[string]any) { m["checkout"].(map[string]any)["vat"] = 1 }), want: `unknown field "vat"`},
		{name: "wrong type", data: raw(func(m map[string]any) { m["generation"] = "7" }), want: "generation"},
		{name: "no apiVersion", data: raw(func(m map[string]any) { delete(m, "apiVersion") }), field: "apiVersion", want: "missing"},
		{name: "wrong apiVersion", data: raw(func(m map[string]any) { m["apiVersion"] = "kommerce.io/storefront-settings/v2"; m["newField"] = 1 }), field: "apiVersion", want: "v2"},
		{name: "oversized", data: func(t *testing.T) []byte {
			return raw(func(m map[string]any) { m["searchIndex"] = strings.Repeat("x", sfsettings.MaxSize) })(t)
		}, want: "more than the 1048576 allowed"},
		{name: "bad tenant", data: doc(func(d *sfsettings.Document) { d.Tenant = "Acme" }), field: "tenant"},
		{name: "no storefront", data: doc(func(d *sfsettings.Document) { d.Storefront = "" }), field: "storefront"},
		{name: "negative generation", data: doc(func(d *sfsettings.Document) { d.Generation = -1 }), field: "generation"},
		{name: "no channels", data: doc(func(d *sfsettings.Document) { d.Channels = nil }), field: "channels"},
		{name: "lower-case currency", data: doc(func(d *sfsettings.Document) { d.Channels[0].Currency = "eur" }), field: "channels[0].currency"},
		{name: "bad hostname", data: doc(func(d *sfsettings.Document) { d.Channels[0].Hostname = "shop_1.example.com" }), field: "channels[0].hostname"},
		{name: "no locales", data: doc(func(d *sfsettings.Document) { d.Channels[0].Locales = nil }), field: "channels[0].locales"},
		{name: "bad locale", data: doc(func(d *sfsettings.Document) { d.Channels[0].Locales[1] = "EN" }), field: "channels[0].locales[1]"},
		{name: "hostname twice", data: doc(func(d *sfsettings.Document) {
			d.Channels = append(d.Channels, sfsettings.Channel{Name: "other", Hostname: d.Channels[0].Hostname, Currency: "USD", Locales: []string{"en"}})
		}), field: "channels[1].hostname"},
		{name: "one-term synonym", data: doc(func(d *sfsettings.Document) { d.Search.Synonyms[0].Terms = []string{"x"} }), field: "search.synonyms[0].terms"},
		{name: "blank synonym term", data: doc(func(d *sfsettings.Document) { d.Search.Synonyms[0].Terms[1] = " " }), field: "search.synonyms[0].terms[1]"},
		{name: "unknown boost field", data: doc(func(d *sfsettings.Document) { d.Search.Boosts[0].Field = "price" }), field: "search.boosts[0].field"},
		{name: "zero boost", data: doc(func(d *sfsettings.Document) { d.Search.Boosts[0].WeightPercent = 0 }), field: "search.boosts[0].weightPercent"},
		{name: "too many suggestions", data: doc(func(d *sfsettings.Document) { d.Search.Autocomplete.MaxSuggestions = 51 }), field: "search.autocomplete.maxSuggestions"},
		{name: "reservation TTL missing", data: doc(func(d *sfsettings.Document) { d.Inventory.ReservationTTLSeconds = 0 }), field: "inventory.reservationTTLSeconds"},
		{name: "reservation TTL above a day", data: doc(func(d *sfsettings.Document) { d.Inventory.ReservationTTLSeconds = 86401 }), field: "inventory.reservationTTLSeconds"},
		{name: "tax above 100 %", data: doc(func(d *sfsettings.Document) { d.Checkout.TaxRateBasisPoints = 10001 }), field: "checkout.taxRateBasisPoints"},
		{name: "negative shipping", data: doc(func(d *sfsettings.Document) { d.Checkout.ShippingAmount = -1 }), field: "checkout.shippingAmount"},
		{name: "negative free shipping", data: doc(func(d *sfsettings.Document) { f := int64(-5); d.Checkout.FreeShippingOver = &f }), field: "checkout.freeShippingOver"},
		{name: "two-line tax label", data: doc(func(d *sfsettings.Document) { d.Checkout.TaxLabel = "VAT\nX" }), field: "checkout.taxLabel"},
		{name: "origin with a path", data: doc(func(d *sfsettings.Document) { d.CORS.AllowedOrigins = []string{"https://shop.example.com/"} }), field: "cors.allowedOrigins[0]"},
		{name: "wildcard origin", data: doc(func(d *sfsettings.Document) { d.CORS.AllowedOrigins = []string{"*"} }), field: "cors.allowedOrigins[0]"},
		{name: "unknown model purpose", data: doc(func(d *sfsettings.Document) { d.Models = []sfsettings.Model{{Purpose: "Pricing", Model: "m"}} }), field: "models[0].purpose"},
		{name: "arm without URL", data: doc(func(d *sfsettings.Document) {
			d.Models = []sfsettings.Model{{Purpose: "Recommendations", Model: "recs", Arms: []sfsettings.Arm{{ModelVersion: "recs-v1", ModelName: "recs", Percent: 100}}}}
		}), field: "models[0].arms[0].url"},
		{name: "arm above 100 %", data: doc(func(d *sfsettings.Document) {
			d.Models = []sfsettings.Model{{Purpose: "Recommendations", Model: "recs", Arms: []sfsettings.Arm{{ModelVersion: "recs-v1", URL: "http://recs-v1:8080", ModelName: "recs", Percent: 101}}}}
		}), field: "models[0].arms[0].percent"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d, err := sfsettings.Parse(tc.data(t))
			if tc.field == "" && tc.want == "" {
				if err != nil {
					t.Fatalf("valid document refused: %v", err)
				}
				if d.Tenant != "acme" || d.Storefront != "web" {
					t.Fatalf("parsed %+v", d)
				}
				return
			}
			if err == nil {
				t.Fatal("invalid document accepted")
			}
			if tc.field != "" {
				var fe *sfsettings.FieldError
				if !errors.As(err, &fe) || fe.Field != tc.field {
					t.Fatalf("error %q, want one about field %s", err, tc.field)
				}
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %q, want it to mention %q", err, tc.want)
			}
		})
	}
}

package apiserver_test

import (
	"encoding/json"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/kommerce/kommerce/apiserver"
	"github.com/kommerce/kommerce/apiserver/demo"
)

// TestProductPageAppendJSON: the hand-written encoder writes exactly what
// encoding/json writes, for demo pages, every shape of nil and empty, tricky strings
// and times, and random strings.
func TestProductPageAppendJSON(t *testing.T) {
	at := time.Date(2026, 12, 5, 11, 37, 7, 123456000, time.UTC)
	cats := map[string]string{"shirts": "0f8fad5b-d9cb-469f-a165-70867728950e", "sneakers": "1f8fad5b-d9cb-469f-a165-70867728950e"}
	var demoPage apiserver.ProductPage
	for i := range 20 {
		in := demo.Product(i, cats)
		demoPage.Items = append(demoPage.Items, &apiserver.Product{ID: "9b8f5a4e-1c2d-4e5f-8a9b-0c1d2e3f4a5b", Name: *in.Name,
			Description: *in.Description, Status: *in.Status, CategoryIDs: *in.CategoryIDs, Attributes: *in.Attributes,
			Images: *in.Images, Variants: *in.Variants, Version: int64(i), CreatedAt: at, UpdatedAt: at.Add(time.Duration(i) * time.Second)})
	}
	demoPage.NextCursor = "eyJzIjoiLWNyZWF0ZWRfYXQifQ"
	tricky := []string{"", "plain", `quote " backslash \ slash /`, "<b>&amp;</b>", "tab\tnl\nret\rbs\bff\f", "\x00\x01\x1f\x7f",
		"ü€😀", "line\u2028para\u2029", "bad \xff\xfe utf8 \xc3", "é\u0301", strings.Repeat("x", 300)}
	var trickyPage apiserver.ProductPage
	for i, s := range tricky {
		trickyPage.Items = append(trickyPage.Items, &apiserver.Product{ID: s, Name: s, Description: s, Status: apiserver.ProductStatus(s),
			CategoryIDs: []string{s}, Attributes: map[string]string{s: s, "a" + s: ""}, Images: []string{s, s},
			Variants: []apiserver.Variant{{SKU: s, Attributes: map[string]string{s: s}, Prices: []apiserver.Price{{Currency: s, Amount: int64(-i)}}}},
			Version:  -1, CreatedAt: at.In(time.FixedZone("", -(3*3600 + 30*60))), UpdatedAt: time.Date(1, 1, 1, 0, 0, 0, 0, time.UTC)})
	}
	trickyPage.NextCursor = tricky[4]
	r := rand.New(rand.NewPCG(1, 2))
	alphabet := []string{"a", "Z", "0", " ", "<", ">", "&", `"`, `\`, "\n", "\x01", "\x7f", "é", "€", "😀", "\u2028", "\xff", "\xe2\x82"}
	randomString := func() string {
		var b strings.Builder
		for range r.IntN(12) {
			b.WriteString(alphabet[r.IntN(len(alphabet))])
		}
		return b.String()
	}
	var randomPage apiserver.ProductPage
	for range 200 {
		attrs := map[string]string{}
		for range r.IntN(5) {
			attrs[randomString()] = randomString()
		}
		randomPage.Items = append(randomPage.Items, &apiserver.Product{ID: randomString(), Name: randomString(), Attributes: attrs,
			Variants: []apiserver.Variant{{SKU: randomString(), Attributes: attrs}}, CreatedAt: at.Add(time.Duration(r.Int64()))})
	}
	for _, tc := range []struct {
		name string
		page apiserver.ProductPage
	}{
		{"demo", demoPage},
		{"tricky strings and times", trickyPage},
		{"random strings", randomPage},
		{"nil items", apiserver.ProductPage{}},
		{"no items", apiserver.ProductPage{Items: []*apiserver.Product{}}},
		{"nil product and nil fields", apiserver.ProductPage{Items: []*apiserver.Product{nil, {}, {Variants: []apiserver.Variant{{}}}}}},
		{"empty fields", apiserver.ProductPage{Items: []*apiserver.Product{{CategoryIDs: []string{}, Attributes: map[string]string{}, Images: []string{},
			Variants: []apiserver.Variant{{Attributes: map[string]string{}, Prices: []apiserver.Price{}}}}}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			want, err := json.Marshal(&tc.page)
			if err != nil {
				t.Fatal(err)
			}
			got, err := tc.page.AppendJSON([]byte("prefix"))
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != "prefix"+string(want) {
				i := 0
				for i < len(want) && i+6 < len(got) && got[i+6] == want[i] {
					i++
				}
				t.Fatalf("differs from encoding/json at byte %d:\n got …%.80s\nwant …%.80s", i, got[min(i+6, len(got)):], want[i:])
			}
		})
	}
	// A time encoding/json refuses is refused too.
	bad := apiserver.ProductPage{Items: []*apiserver.Product{{CreatedAt: time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)}}}
	if _, err := json.Marshal(&bad); err == nil {
		t.Fatal("encoding/json accepted the year 10000")
	}
	if _, err := bad.AppendJSON(nil); err == nil {
		t.Fatal("AppendJSON accepted the year 10000")
	}
}

func BenchmarkProductPageJSON(b *testing.B) {
	cats := map[string]string{}
	page := &apiserver.ProductPage{}
	for i := range 20 {
		in := demo.Product(i, cats)
		page.Items = append(page.Items, &apiserver.Product{ID: "9b8f5a4e-1c2d-4e5f-8a9b-0c1d2e3f4a5b", Name: *in.Name, Description: *in.Description,
			Status: *in.Status, CategoryIDs: *in.CategoryIDs, Attributes: *in.Attributes, Images: *in.Images, Variants: *in.Variants,
			CreatedAt: time.Now(), UpdatedAt: time.Now()})
	}
	b.Run("encoding/json", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := json.Marshal(page); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("AppendJSON", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := page.AppendJSON(nil); err != nil {
				b.Fatal(err)
			}
		}
	})
}

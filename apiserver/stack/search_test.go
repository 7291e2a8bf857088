package stack_test

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/kommerce/kommerce/apiserver"
	disc "github.com/kommerce/kommerce/apiserver/discovery"
	"github.com/kommerce/kommerce/apiserver/stack"
	"github.com/kommerce/kommerce/internal/search/elasticsearch"
)

type searchHit struct {
	ID         string            `json:"id"`
	Name       string            `json:"name"`
	Highlights map[string]string `json:"highlights"`
	Price      *struct {
		Currency string `json:"currency"`
		Amount   int64  `json:"amount"`
	} `json:"price"`
}

type searchPage struct {
	Hits   []searchHit `json:"hits"`
	Total  int64       `json:"total"`
	Facets struct {
		Categories []struct {
			Value string `json:"value"`
			Count int64  `json:"count"`
		} `json:"categories"`
		Attributes map[string][]struct {
			Value string `json:"value"`
			Count int64  `json:"count"`
		} `json:"attributes"`
	} `json:"facets"`
	NextCursor string `json:"next_cursor"`
}

func names(hits []searchHit) []string {
	out := make([]string, len(hits))
	for i, h := range hits {
		out[i] = h.Name
	}
	slices.Sort(out)
	return out
}

// shop is a small catalog in one tenant: four published products in two
// categories, a draft and a deleted product that share the searched words.
type shop struct {
	tenant     *apiserver.Tenant
	staff      string
	knit, tops string
}

func newShop(e *apiEnv, eng engine, slug string) *shop {
	t := e.discTenant(slug, eng.prefix+"-"+slug, "test."+slug)
	s := &shop{tenant: t, staff: e.user(t, "staff@"+slug+".test", apiserver.RoleStaff)}
	s.knit = e.createCategory(slug, s.staff, "knitwear")
	s.tops = e.createCategory(slug, s.staff, "tops")
	e.createProduct(slug, s.staff, item("Navy Merino Sweater", slug+"-SW", apiserver.StatusPublished, s.knit, 5900, "Navy"))
	e.createProduct(slug, s.staff, item("Grey Merino Cardigan", slug+"-CA", apiserver.StatusPublished, s.knit, 7900, "Grey"))
	e.createProduct(slug, s.staff, item("Cotton Tee", slug+"-TE", apiserver.StatusPublished, s.tops, 1900, "Navy", "White"))
	e.createProduct(slug, s.staff, item("Linen Shirt", slug+"-LI", apiserver.StatusPublished, s.tops, 3900, "White"))
	e.createProduct(slug, s.staff, item("Merino Scarf Draft", slug+"-SC", apiserver.StatusDraft, s.knit, 2900, "Navy"))
	gone := e.createProduct(slug, s.staff, item("Merino Beanie Gone", slug+"-BE", apiserver.StatusPublished, s.knit, 2500, "Navy"))
	e.do("DELETE", "/api/v1/products/"+gone, slug, s.staff, nil).want(204, "")
	return s
}

func TestSearch(t *testing.T) {
	eachEngine(t, func(t *testing.T, eng engine) {
		e := startAPI(t, withDiscovery(stack.DiscoveryOptions{Search: eng.backend,
			Settings: disc.StaticSettings{"acme/default": {Currency: "EUR"}}}))
		s := newShop(e, eng, "acme")
		e.index(eng.backend, s.tenant)
		get := func(kv ...string) searchPage {
			t.Helper()
			var p searchPage
			e.do("GET", query("/api/v1/search", kv...), "acme", "", nil).want(200, "").decodeRaw(&p)
			return p
		}

		t.Run("words find published products only", func(t *testing.T) {
			p := get("q", "merino")
			if got := names(p.Hits); p.Total != 2 || !slices.Equal(got, []string{"Grey Merino Cardigan", "Navy Merino Sweater"}) {
				t.Fatalf("merino: total %d hits %v", p.Total, got)
			}
		})
		t.Run("a typo still finds, highlighted", func(t *testing.T) {
			p := get("q", "merinp sweatr")
			if len(p.Hits) != 1 || p.Hits[0].Name != "Navy Merino Sweater" {
				t.Fatalf("merinp sweatr: %v", names(p.Hits))
			}
			if h := p.Hits[0].Highlights["name"]; !strings.Contains(h, "<em>Merino</em>") || !strings.Contains(h, "<em>Sweater</em>") {
				t.Fatalf("highlight %q", h)
			}
		})
		t.Run("facets count the whole result", func(t *testing.T) {
			p := get("q", "merino")
			if len(p.Facets.Categories) != 1 || p.Facets.Categories[0].Value != s.knit || p.Facets.Categories[0].Count != 2 {
				t.Fatalf("category facets %+v", p.Facets.Categories)
			}
			colours := map[string]int64{}
			for _, v := range p.Facets.Attributes["color"] {
				colours[v.Value] = v.Count
			}
			if colours["Navy"] != 1 || colours["Grey"] != 1 || len(colours) != 2 {
				t.Fatalf("colour facets %v", colours)
			}
		})
		t.Run("filters", func(t *testing.T) {
			tests := []struct {
				name string
				kv   []string
				want []string
			}{
				{"attribute", []string{"attr.color", "Navy"}, []string{"Cotton Tee", "Navy Merino Sweater"}},
				{"two values of one attribute", []string{"attr.color", "Grey", "attr.color", "White"}, []string{"Cotton Tee", "Grey Merino Cardigan", "Linen Shirt"}},
				{"category", []string{"category", s.tops}, []string{"Cotton Tee", "Linen Shirt"}},
				{"price range", []string{"min_price", "2000", "max_price", "6000"}, []string{"Linen Shirt", "Navy Merino Sweater"}},
				{"words and category", []string{"q", "merino", "category", s.tops}, []string{}},
			}
			for _, tt := range tests {
				t.Run(tt.name, func(t *testing.T) {
					if got := names(get(tt.kv...).Hits); !slices.Equal(got, tt.want) {
						t.Fatalf("got %v, want %v", got, tt.want)
					}
				})
			}
		})
		t.Run("cursor pages through a sorted result", func(t *testing.T) {
			var order []string
			kv := []string{"sort", "price_asc", "limit", "1"}
			for page := 0; page < 10; page++ {
				p := get(kv...)
				for _, h := range p.Hits {
					order = append(order, h.Name)
					if h.Price == nil || h.Price.Currency != "EUR" {
						t.Fatalf("hit %s has price %+v, want EUR", h.Name, h.Price)
					}
				}
				if p.NextCursor == "" {
					break
				}
				kv = []string{"sort", "price_asc", "limit", "1", "cursor", p.NextCursor}
			}
			want := []string{"Cotton Tee", "Linen Shirt", "Navy Merino Sweater", "Grey Merino Cardigan"}
			if !slices.Equal(order, want) {
				t.Fatalf("pages %v, want %v", order, want)
			}
		})
		t.Run("suggestions", func(t *testing.T) {
			var p struct {
				Suggestions []struct{ Text, Highlighted string } `json:"suggestions"`
			}
			e.do("GET", query("/api/v1/search/suggest", "q", "grey meri"), "acme", "", nil).want(200, "").decodeRaw(&p)
			if len(p.Suggestions) != 1 || p.Suggestions[0].Text != "Grey Merino Cardigan" || !strings.Contains(p.Suggestions[0].Highlighted, "<em>") {
				t.Fatalf("suggestions %+v", p.Suggestions)
			}
		})
	})
}

func TestSearchBadParameters(t *testing.T) {
	eng := engines(t)[1](t) // validation happens before the engine; Bleve is enough
	e := startAPI(t, withDiscovery(stack.DiscoveryOptions{Search: eng.backend}))
	e.discTenant("acme", eng.prefix+"-acme", "test.acme")
	tests := []struct {
		path  string
		kv    []string
		field string
	}{
		{"/api/v1/search", []string{"q", strings.Repeat("a", 201)}, "q"},
		{"/api/v1/search", []string{"q", strings.Repeat("word ", 17)}, "q"},
		{"/api/v1/search", []string{"limit", "0"}, "limit"},
		{"/api/v1/search", []string{"limit", "101"}, "limit"},
		{"/api/v1/search", []string{"limit", "ten"}, "limit"},
		{"/api/v1/search", []string{"sort", "cheapest"}, "sort"},
		{"/api/v1/search", []string{"min_price", "-1"}, "min_price"},
		{"/api/v1/search", []string{"min_price", "9.99"}, "min_price"},
		{"/api/v1/search", []string{"min_price", "500", "max_price", "100"}, "min_price"},
		{"/api/v1/search", []string{"in_stock", "maybe"}, "in_stock"},
		{"/api/v1/search", []string{"currency", "EURO"}, "currency"},
		{"/api/v1/search", []string{"cursor", "not-a-cursor"}, "cursor"},
		{"/api/v1/search", []string{"min-price", "10"}, "min-price"},
		{"/api/v1/search", []string{"attr.", "x"}, "attr."},
		{"/api/v1/search", []string{"attr.col or", "x"}, "attr.col or"},
		{"/api/v1/search", []string{"limit", "5", "limit", "6"}, "limit"},
		{"/api/v1/search/suggest", nil, "q"},
		{"/api/v1/search/suggest", []string{"q", "ab", "limit", "51"}, "limit"},
		{"/api/v1/search/suggest", []string{"q", "ab", "sort", "name"}, "sort"},
	}
	for _, tt := range tests {
		t.Run(tt.path+" "+tt.field, func(t *testing.T) {
			r := e.do("GET", query(tt.path, tt.kv...), "acme", "", nil).want(400, apiserver.ErrInvalid)
			if r.field() != tt.field {
				t.Fatalf("field %q, want %q (%s)", r.field(), tt.field, r.raw)
			}
		})
	}
	t.Run("a cursor of another query", func(t *testing.T) {
		s := newShop(e, eng, "other")
		e.index(eng.backend, s.tenant)
		var p searchPage
		e.do("GET", query("/api/v1/search", "sort", "name", "limit", "1"), "other", "", nil).want(200, "").decodeRaw(&p)
		if p.NextCursor == "" {
			t.Fatal("no cursor on a first page of four")
		}
		e.do("GET", query("/api/v1/search", "sort", "price_asc", "limit", "1", "cursor", p.NextCursor), "other", "", nil).want(400, apiserver.ErrInvalid)
	})
}

func TestSearchTenantIsolation(t *testing.T) {
	eachEngine(t, func(t *testing.T, eng engine) {
		e := startAPI(t, withDiscovery(stack.DiscoveryOptions{Search: eng.backend}))
		a := newShop(e, eng, "alpha")
		b := e.discTenant("beta", eng.prefix+"-beta", "test.beta")
		staffB := e.user(b, "staff@beta.test", apiserver.RoleStaff)
		socks := e.createProduct("beta", staffB, item("Merino Socks", "B-SO", apiserver.StatusPublished, "", 1200, "Navy"))
		e.index(eng.backend, a.tenant)
		e.index(eng.backend, b)
		var p searchPage
		e.do("GET", query("/api/v1/search", "q", "merino socks"), "alpha", "", nil).want(200, "").decodeRaw(&p)
		for _, h := range p.Hits {
			if h.ID == socks {
				t.Fatalf("tenant alpha found beta's product: %+v", p.Hits)
			}
		}
		p = searchPage{}
		e.do("GET", query("/api/v1/search", "q", "merino"), "beta", "", nil).want(200, "").decodeRaw(&p)
		if p.Total != 1 || p.Hits[0].ID != socks {
			t.Fatalf("beta sees %v", names(p.Hits))
		}
		// A token of alpha does not search beta.
		tok := e.user(a.tenant, "shopper@alpha.test", apiserver.RoleCustomer)
		e.do("GET", query("/api/v1/search", "q", "merino"), "beta", tok, nil).want(401, apiserver.ErrInvalidToken)
	})
}

// TestSearchStorefrontByHost: a host mapped to another storefront searches that
// storefront's index with its settings; other hosts get the default storefront.
func TestSearchStorefrontByHost(t *testing.T) {
	eng := engines(t)[1](t)
	settings := disc.StaticSettings{"acme/outlet": {Currency: "EUR", Synonyms: [][]string{{"jumper", "sweater"}}}}
	e := startAPI(t, withDiscovery(stack.DiscoveryOptions{Search: eng.backend, Settings: settings}))
	s := newShop(e, eng, "acme")
	if err := e.st.Tenants.AddStorefrontHost(context.Background(), apiserver.StorefrontHost{TenantID: s.tenant.ID, Hostname: "outlet.acme.test", Storefront: "outlet"}); err != nil {
		t.Fatal(err)
	}
	e.index(eng.backend, s.tenant, "default", "outlet")
	var p searchPage
	e.do("GET", query("/api/v1/search", "q", "jumper"), "", "", nil, "Host", "outlet.acme.test:8080").want(200, "").decodeRaw(&p)
	if got := names(p.Hits); !slices.Equal(got, []string{"Navy Merino Sweater"}) {
		t.Fatalf("outlet storefront with synonyms: %v", got)
	}
	p = searchPage{}
	e.do("GET", query("/api/v1/search", "q", "jumper"), "acme", "", nil).want(200, "").decodeRaw(&p)
	if p.Total != 0 {
		t.Fatalf("default storefront applied the outlet's synonyms: %v", names(p.Hits))
	}
}

func TestSearchEngineDown(t *testing.T) {
	dead, err := elasticsearch.New("http://127.0.0.1:1")
	if err != nil {
		t.Fatal(err)
	}
	e := startAPI(t, withDiscovery(stack.DiscoveryOptions{Search: dead}))
	e.discTenant("acme", "test-down-acme", "test.down.acme")
	for _, path := range []string{"/api/v1/search?q=merino", "/api/v1/search/suggest?q=mer"} {
		r := e.do("GET", path, "acme", "", nil).want(503, apiserver.ErrUnavailable)
		if strings.Contains(string(r.raw), "127.0.0.1") {
			t.Fatalf("internals leak: %s", r.raw)
		}
	}
	// Bad input is still a 400, not a 503.
	e.do("GET", "/api/v1/search?limit=0", "acme", "", nil).want(400, apiserver.ErrInvalid)

	t.Run("not configured", func(t *testing.T) {
		e := startAPI(t, nil)
		e.tenant("acme")
		e.do("GET", "/api/v1/search?q=x", "acme", "", nil).want(503, apiserver.ErrUnavailable)
	})
}

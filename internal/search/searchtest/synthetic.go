package searchtest

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"time"

	"github.com/kommerce/kommerce/internal/events"
	"github.com/kommerce/kommerce/internal/search"
)

// Word lists of the synthetic catalog: names are "<adjective> <material> <noun>",
// which gives realistic term overlap (many products share words) for benchmarks.
var (
	adjectives = []string{"classic", "modern", "vintage", "compact", "deluxe", "rustic", "slim", "heavy", "light", "soft",
		"bold", "bright", "cozy", "elegant", "sturdy", "portable", "premium", "simple", "urban", "outdoor"}
	materials = []string{"oak", "walnut", "maple", "steel", "leather", "cotton", "linen", "wool", "ceramic", "glass",
		"bamboo", "marble", "copper", "velvet", "canvas", "rattan", "denim", "silk", "brass", "pine"}
	nouns = []string{"chair", "table", "lamp", "sofa", "desk", "shelf", "jacket", "shirt", "boot", "sneaker",
		"mug", "vase", "rug", "blanket", "pillow", "mirror", "clock", "bag", "wallet", "bench",
		"stool", "cabinet", "dresser", "scarf", "hat", "glove", "kettle", "bowl", "plate", "candle"}
	colors  = []string{"black", "white", "red", "blue", "green", "grey", "brown", "beige", "yellow", "navy", "olive", "pink"}
	brands  = 40
	catsTop = 50
)

// SyntheticProduct returns product i of a deterministic synthetic catalog (same seed,
// same catalog), published, with one to three variants priced in USD and EUR.
func SyntheticProduct(seed uint64, i int, version int64) events.Product {
	r := rand.New(rand.NewPCG(seed, uint64(i))) //nolint:gosec // deterministic test data, not secrets
	name := fmt.Sprintf("%s %s %s", pick(r, adjectives), pick(r, materials), pick(r, nouns))
	desc := fmt.Sprintf("A %s %s made for everyday use. %s finish, %s details and a %s feel.",
		strings.Fields(name)[0], strings.Fields(name)[2], pick(r, colors), pick(r, materials), pick(r, adjectives))
	p := events.Product{
		ID:          fmt.Sprintf("prod-%07d", i),
		Version:     version,
		Name:        cases(name),
		Description: desc,
		Status:      "published",
		CategoryIDs: []string{fmt.Sprintf("cat-%02d", r.IntN(catsTop))},
		Attributes:  map[string]string{"brand": fmt.Sprintf("brand-%02d", r.IntN(brands)), "material": strings.Fields(name)[1]},
		Images:      []string{fmt.Sprintf("https://img.example/%d.jpg", i)},
		UpdatedAt:   time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).Add(time.Duration(i) * time.Minute),
	}
	base := int64(500 + r.IntN(200000))
	for v := 0; v < 1+r.IntN(3); v++ {
		p.Variants = append(p.Variants, events.Variant{
			SKU:        fmt.Sprintf("SKU-%07d-%d", i, v),
			Attributes: map[string]string{"color": pick(r, colors)},
			Prices:     []events.Price{{Currency: "USD", Amount: base + int64(v*500)}, {Currency: "EUR", Amount: base*9/10 + int64(v*450)}},
		})
	}
	return p
}

// SyntheticDocument is SyntheticProduct as a search document of tenant, with stock:
// about one product in five is out of stock.
func SyntheticDocument(seed uint64, tenant string, i int) search.Document {
	p := SyntheticProduct(seed, i, 1)
	d := search.Document{TenantID: tenant, ProductID: p.ID}
	d.ApplyProduct(p)
	for j, v := range p.Variants {
		avail := int64(0)
		if (i+j)%5 != 0 {
			avail = int64(1 + (i*7+j)%40)
		}
		d.ApplyStock(events.Stock{SKU: v.SKU, ProductID: p.ID, Available: avail, Version: 1})
	}
	return d
}

// SyntheticQueries returns n query strings of a realistic mix for the synthetic
// catalog: single words, two and three words, typos, and filtered or sorted queries
// (as URL query strings for search.ParseQuery).
func SyntheticQueries(seed uint64, n int) []string {
	r := rand.New(rand.NewPCG(seed, 99)) //nolint:gosec // deterministic test data
	out := make([]string, n)
	for i := range out {
		switch i % 8 {
		case 0:
			out[i] = "q=" + pick(r, nouns)
		case 1:
			out[i] = "q=" + pick(r, materials) + "+" + pick(r, nouns)
		case 2:
			out[i] = "q=" + pick(r, adjectives) + "+" + pick(r, materials) + "+" + pick(r, nouns)
		case 3:
			out[i] = "q=" + typo(r, pick(r, nouns))
		case 4:
			out[i] = fmt.Sprintf("q=%s&category=cat-%02d&in_stock=true", pick(r, nouns), r.IntN(catsTop))
		case 5:
			out[i] = fmt.Sprintf("q=%s&sort=price_asc&min_price=1000&max_price=50000", pick(r, materials))
		case 6:
			out[i] = fmt.Sprintf("attr.brand=brand-%02d&attr.color=%s&sort=newest", r.IntN(brands), pick(r, colors))
		default:
			out[i] = fmt.Sprintf("category=cat-%02d&sort=price_desc", r.IntN(catsTop))
		}
	}
	return out
}

func pick(r *rand.Rand, words []string) string { return words[r.IntN(len(words))] }

// typo replaces one letter (not the first) of a word of at least four letters.
func typo(r *rand.Rand, w string) string {
	if len(w) < 4 {
		return w
	}
	b := []byte(w)
	i := 1 + r.IntN(len(b)-1)
	b[i] = byte('a' + (int(b[i]-'a')+1+r.IntN(24))%26)
	return string(b)
}

func cases(s string) string {
	f := strings.Fields(s)
	for i, w := range f {
		f[i] = strings.ToUpper(w[:1]) + w[1:]
	}
	return strings.Join(f, " ")
}

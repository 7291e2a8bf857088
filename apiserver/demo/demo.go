// Package demo fills a tenant with a believable catalog for `make run`, demos and
// benchmarks: a category tree and products with sizes, colours, prices in EUR and USD,
// attributes and images. It is deterministic and idempotent: product i always has the
// same SKUs, and a product whose SKUs exist is skipped, so seeding twice changes nothing.
package demo

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strings"

	"github.com/kommerce/kommerce/apiserver"
)

type leaf struct {
	parent, slug, name string
	nouns              []string
	materials          []string
	sizes              []string
	basePrice          int64 // cents, EUR
}

var roots = map[string]string{
	"apparel": "Apparel", "footwear": "Footwear", "home": "Home & Kitchen", "electronics": "Electronics", "outdoor": "Outdoor",
}

var leaves = []leaf{
	{"apparel", "mens", "Men's Clothing", []string{"T-Shirt", "Oxford Shirt", "Hoodie", "Chinos", "Denim Jacket", "Polo"}, []string{"Organic Cotton", "Linen", "Merino Wool", "Denim"}, []string{"S", "M", "L", "XL"}, 3900},
	{"apparel", "womens", "Women's Clothing", []string{"Blouse", "Wrap Dress", "Cardigan", "Jeans", "Trench Coat", "Skirt"}, []string{"Silk", "Organic Cotton", "Cashmere", "Viscose"}, []string{"XS", "S", "M", "L"}, 4900},
	{"apparel", "kids", "Kids", []string{"Raincoat", "Pyjamas", "Sweatshirt", "Leggings"}, []string{"Cotton", "Fleece", "Recycled Polyester"}, []string{"104", "116", "128", "140"}, 2400},
	{"footwear", "sneakers", "Sneakers", []string{"Runner", "Court Sneaker", "Trail Shoe", "Slip-On"}, []string{"Suede", "Canvas", "Knit", "Leather"}, []string{"40", "41", "42", "43", "44"}, 8900},
	{"footwear", "boots", "Boots", []string{"Chelsea Boot", "Hiking Boot", "Ankle Boot"}, []string{"Leather", "Nubuck", "Waxed Suede"}, []string{"39", "41", "43", "45"}, 12900},
	{"home", "kitchen", "Kitchen", []string{"Chef's Knife", "Cast Iron Skillet", "French Press", "Cutting Board", "Espresso Cups"}, []string{"Stainless Steel", "Enamelled Iron", "Borosilicate Glass", "Walnut"}, nil, 3500},
	{"home", "decor", "Decor", []string{"Table Lamp", "Throw Pillow", "Ceramic Vase", "Wall Mirror", "Candle"}, []string{"Stoneware", "Brass", "Linen", "Oak"}, nil, 2900},
	{"home", "bedding", "Bedding", []string{"Duvet Cover", "Fitted Sheet", "Pillowcase Set", "Wool Blanket"}, []string{"Percale Cotton", "Sateen", "Linen", "Lambswool"}, []string{"Single", "Double", "King"}, 5900},
	{"electronics", "audio", "Audio", []string{"Wireless Headphones", "Bluetooth Speaker", "Earbuds", "Turntable"}, []string{"Aluminium", "Matte Black", "Walnut"}, nil, 9900},
	{"electronics", "accessories", "Accessories", []string{"USB-C Charger", "Power Bank", "Laptop Sleeve", "Phone Case"}, []string{"Recycled Plastic", "Vegan Leather", "Felt", "Silicone"}, nil, 1900},
	{"outdoor", "camping", "Camping", []string{"Two-Person Tent", "Sleeping Bag", "Camp Stove", "Headlamp", "Water Bottle"}, []string{"Ripstop Nylon", "Titanium", "Down", "Stainless Steel"}, nil, 6900},
	{"outdoor", "cycling", "Cycling", []string{"Bike Helmet", "Saddle Bag", "Cycling Jersey", "Bike Light"}, []string{"Carbon", "Merino Wool", "Recycled Polyester"}, []string{"S", "M", "L"}, 4500},
}

var (
	adjectives = []string{"Classic", "Essential", "Everyday", "Heritage", "Nordic", "Urban", "Coastal", "Alpine", "Studio", "Weekend", "Atelier", "Field"}
	colours    = []string{"Black", "Navy", "Olive", "Sand", "Rust", "Stone", "Forest", "Charcoal", "Ivory", "Sky"}
	brands     = []string{"Northwind", "Fjord & Co", "Kestrel", "Oakline", "Marlow", "Tideworks", "Ember", "Halden"}
)

// Categories creates the demo category tree (or finds it) and returns ids by slug.
func Categories(ctx context.Context, cat apiserver.CatalogService) (map[string]string, error) {
	ids := map[string]string{}
	existing, err := cat.ListCategories(ctx)
	if err != nil {
		return nil, err
	}
	for _, c := range existing {
		ids[c.Slug] = c.ID
	}
	ensure := func(slug, name, parent string) error {
		if ids[slug] != "" {
			return nil
		}
		in := apiserver.CategoryInput{Slug: &slug, Name: &name}
		if parent != "" {
			p := ids[parent]
			in.ParentID = &p
		}
		c, err := cat.CreateCategory(ctx, in)
		if err != nil {
			return fmt.Errorf("category %s: %w", slug, err)
		}
		ids[slug] = c.ID
		return nil
	}
	for _, slug := range []string{"apparel", "footwear", "home", "electronics", "outdoor"} {
		if err := ensure(slug, roots[slug], ""); err != nil {
			return nil, err
		}
	}
	for _, l := range leaves {
		if err := ensure(l.slug, l.name, l.parent); err != nil {
			return nil, err
		}
	}
	return ids, nil
}

// Product returns demo product i (deterministic) for the given category ids.
func Product(i int, catIDs map[string]string) apiserver.ProductInput {
	r := rand.New(rand.NewPCG(uint64(i), 0x6b6f6d6d)) //nolint:gosec // demo data must be the same on every run, not unpredictable
	l := leaves[i%len(leaves)]
	noun := l.nouns[r.IntN(len(l.nouns))]
	material := l.materials[r.IntN(len(l.materials))]
	adj := adjectives[r.IntN(len(adjectives))]
	brand := brands[r.IntN(len(brands))]
	name := fmt.Sprintf("%s %s %s", adj, material, noun)
	desc := fmt.Sprintf("The %s %s by %s, made of %s. Designed to last, easy to care for, and covered by a two-year warranty.",
		strings.ToLower(adj), strings.ToLower(noun), brand, strings.ToLower(material))
	status := apiserver.StatusPublished
	if r.IntN(10) < 2 {
		status = apiserver.StatusDraft
	}
	base := l.basePrice + int64(r.IntN(40))*100 - 1 // prices like 49.99
	cols := []string{colours[r.IntN(len(colours))], colours[r.IntN(len(colours))]}
	if cols[0] == cols[1] {
		cols = cols[:1]
	}
	sizes := l.sizes
	if len(sizes) == 0 {
		sizes = []string{""}
	}
	var variants []apiserver.Variant
	for ci, col := range cols {
		for si, size := range sizes {
			attrs := map[string]string{"color": col}
			sku := fmt.Sprintf("D%05d-%d", i, ci)
			if size != "" {
				attrs["size"] = size
				sku = fmt.Sprintf("D%05d-%d-%d", i, ci, si)
			}
			eur := base
			if si == len(sizes)-1 && len(sizes) > 2 {
				eur += 500 // the largest size costs a little more
			}
			variants = append(variants, apiserver.Variant{SKU: sku, Attributes: attrs, Prices: []apiserver.Price{
				{Currency: "EUR", Amount: eur},
				{Currency: "USD", Amount: eur*108/100/100*100 + 99},
			}})
		}
	}
	attrs := map[string]string{"brand": brand, "material": material}
	images := []string{fmt.Sprintf("https://images.example.com/demo/d%05d-1.jpg", i), fmt.Sprintf("https://images.example.com/demo/d%05d-2.jpg", i)}
	cats := []string{catIDs[l.slug]}
	return apiserver.ProductInput{Name: &name, Description: &desc, Status: &status, CategoryIDs: &cats, Attributes: &attrs, Images: &images, Variants: &variants}
}

// Seed makes sure demo products 0..n-1 exist and returns how many it created.
func Seed(ctx context.Context, cat apiserver.CatalogService, n int) (int, error) {
	ids, err := Categories(ctx, cat)
	if err != nil {
		return 0, err
	}
	created := 0
	for i := range n {
		_, err := cat.CreateProduct(ctx, Product(i, ids))
		switch apiserver.ErrorCode(err) {
		case "":
			created++
		case apiserver.ErrConflict: // seeded before
		default:
			return created, fmt.Errorf("demo product %d: %w", i, err)
		}
	}
	return created, nil
}

package jobs

import (
	"fmt"
	"regexp"
	"strings"

	"github.com/kommerce/kommerce/apiserver"
)

// The columns of a products file. A row is one SKU with its price in one currency, and
// a SKU appears at most once in a file (a second row with it is a row error): a
// catalog sold in several currencies is imported as one file per currency. An export
// of products writes one row per SKU and currency, in SKU order.
const (
	ColSKU         = "sku"
	ColName        = "name"
	ColDescription = "description"
	ColStatus      = "status"
	ColCurrency    = "currency"
	ColPrice       = "price"
)

var (
	requiredColumns = []string{ColSKU, ColName, ColCurrency, ColPrice}
	knownColumns    = map[string]bool{ColSKU: true, ColName: true, ColDescription: true, ColStatus: true, ColCurrency: true, ColPrice: true}
	// ProductColumns is the header exports write, in that order.
	ProductColumns = []string{ColSKU, ColName, ColDescription, ColStatus, ColCurrency, ColPrice}

	skuRE      = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`)
	currencyRE = regexp.MustCompile(`^[A-Z]{3}$`)
	priceRE    = regexp.MustCompile(`^([0-9]{1,13})(\.([0-9]{1,2}))?$`)
)

// Header maps column names to their index in a row.
type Header map[string]int

// ParseHeader checks the header row: every required column present, none unknown,
// none twice. Names are matched ignoring case and surrounding space, and a UTF-8
// byte order mark (spreadsheets write one) is dropped. The error is for the client.
func ParseHeader(rec []string) (Header, error) {
	h := Header{}
	for i, name := range rec {
		if i == 0 {
			name = strings.TrimPrefix(name, "\uFEFF")
		}
		n := strings.ToLower(strings.TrimSpace(name))
		if !knownColumns[n] {
			return nil, apiserver.FieldErrorf("file", "Column %d is %q, which a products file does not have; the columns are sku, name, description, status, currency and price.", i+1, name)
		}
		if _, dup := h[n]; dup {
			return nil, apiserver.FieldErrorf("file", "Column %s appears twice in the header.", n)
		}
		h[n] = i
	}
	var missing []string
	for _, c := range requiredColumns {
		if _, ok := h[c]; !ok {
			missing = append(missing, c)
		}
	}
	if len(missing) > 0 {
		return nil, apiserver.FieldErrorf("file", "The header lacks the required column(s) %s; sku, name, currency and price are required.", strings.Join(missing, ", "))
	}
	return h, nil
}

// Row is a valid row of a products file.
type Row struct {
	SKU         string
	Name        string
	Description *string // nil: column absent (kept on update, empty on create)
	Status      *string // nil: column absent or empty (kept on update, draft on create)
	Currency    string
	Amount      int64
}

func (h Header) get(rec []string, col string) (string, bool) {
	i, ok := h[col]
	if !ok || i >= len(rec) {
		return "", false
	}
	return rec[i], true
}

// SKU returns the row's SKU cell as written, to detect duplicates even in rows with
// other errors.
func (h Header) SKU(rec []string) string {
	s, _ := h.get(rec, ColSKU)
	return strings.TrimSpace(s)
}

// ParseRow validates one data row (rowNo counts the header as 1) and returns it, or
// every error it has, one per column.
func (h Header) ParseRow(rowNo int64, rec []string) (*Row, []apiserver.RowError) {
	var errs []apiserver.RowError
	bad := func(col, format string, args ...any) {
		errs = append(errs, apiserver.RowError{Row: rowNo, Column: col, Message: fmt.Sprintf(format, args...)})
	}
	if len(rec) != len(h) {
		bad("", "The row has %d fields; the header has %d.", len(rec), len(h))
		return nil, errs
	}
	r := &Row{}
	sku, _ := h.get(rec, ColSKU)
	r.SKU = strings.TrimSpace(sku)
	if !skuRE.MatchString(r.SKU) {
		bad(ColSKU, "SKUs are 1 to 64 letters, digits, dots, dashes and underscores, starting with a letter or digit.")
	}
	name, _ := h.get(rec, ColName)
	r.Name = strings.TrimSpace(name)
	if r.Name == "" {
		bad(ColName, "A product needs a name.")
	} else if err := apiserver.ValidText(ColName, r.Name, apiserver.MaxNameLen); err != nil {
		bad(ColName, "%s", apiserver.ErrorMessage(err))
	}
	if d, ok := h.get(rec, ColDescription); ok {
		if err := apiserver.ValidText(ColDescription, d, apiserver.MaxDescriptionLen); err != nil {
			bad(ColDescription, "%s", apiserver.ErrorMessage(err))
		}
		r.Description = &d
	}
	if s, ok := h.get(rec, ColStatus); ok && strings.TrimSpace(s) != "" {
		s = strings.ToLower(strings.TrimSpace(s))
		if !apiserver.ProductStatus(s).Valid() {
			bad(ColStatus, "Status must be draft or published, not %q.", s)
		}
		r.Status = &s
	}
	cur, _ := h.get(rec, ColCurrency)
	r.Currency = strings.TrimSpace(cur)
	if !currencyRE.MatchString(r.Currency) {
		bad(ColCurrency, "Currencies are ISO 4217 codes such as EUR.")
	}
	price, _ := h.get(rec, ColPrice)
	amount, err := ParsePrice(price)
	if err != "" {
		bad(ColPrice, "%s", err)
	}
	r.Amount = amount
	if len(errs) > 0 {
		return nil, errs
	}
	return r, nil
}

// ParsePrice reads a price in major units with at most two decimals ("19.99", "20",
// "0.5") as minor units; it returns a message for people when the text is not one.
// Currencies with other minor units (JPY, KWD) are not special-cased: the amount is
// always major × 100.
func ParsePrice(s string) (int64, string) {
	s = strings.TrimSpace(s)
	if s == "" {
		return 0, "A price is required."
	}
	m := priceRE.FindStringSubmatch(s)
	if m == nil {
		return 0, fmt.Sprintf("%q is not a price: write a non-negative number with at most two decimals and a dot, such as 19.99.", s)
	}
	var whole, frac int64
	for _, c := range m[1] {
		whole = whole*10 + int64(c-'0')
	}
	if f := m[3]; f != "" {
		if len(f) == 1 {
			f += "0"
		}
		frac = int64(f[0]-'0')*10 + int64(f[1]-'0')
	}
	amount := whole*100 + frac
	if amount > apiserver.MaxAmount {
		return 0, fmt.Sprintf("%s is above the largest price the catalog accepts.", s)
	}
	return amount, ""
}

// FormatPrice writes minor units as ParsePrice reads them.
func FormatPrice(amount int64) string {
	return fmt.Sprintf("%d.%02d", amount/100, amount%100)
}

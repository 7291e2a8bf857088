package elasticsearch

import (
	"bytes"
	"sort"
	"strconv"
	"sync"
	"unicode/utf8"

	"github.com/kommerce/kommerce/internal/events"
	"github.com/kommerce/kommerce/internal/search"
)

// The bulk body is written field by field into a pooled buffer: building a map per
// document and handing it to encoding/json (reflection, sorting the keys) was half of
// the indexer's CPU per message. The stored _source is the same JSON value as
// json.Marshal(source(d)) gives (TestBulkBodyMatchesMapEncoding): same keys, same
// values, strings escaped as encoding/json escapes them; only the key order differs,
// which the engine does not look at.

var bulkBufs = sync.Pool{New: func() any { return new(bytes.Buffer) }}

// maxPooledBulk keeps an unusually large body from staying in the pool.
const maxPooledBulk = 8 << 20

func getBulkBuf() *bytes.Buffer {
	b := bulkBufs.Get().(*bytes.Buffer)
	b.Reset()
	return b
}

func putBulkBuf(b *bytes.Buffer) {
	if b.Cap() <= maxPooledBulk {
		bulkBufs.Put(b)
	}
}

// appendMeta appends the action line of one write.
func appendMeta(b []byte, w search.Write, target string, targetIsAlias bool) []byte {
	if w.Rev.Exists() {
		b = append(b, `{"index":{"_index":`...)
		b = appendString(b, w.Rev.Index)
		b = append(b, `,"_id":`...)
		b = appendString(b, w.Doc.ProductID)
		b = append(b, `,"if_seq_no":`...)
		b = strconv.AppendInt(b, w.Rev.SeqNo, 10)
		b = append(b, `,"if_primary_term":`...)
		b = strconv.AppendInt(b, w.Rev.PrimaryTerm, 10)
		return append(b, "}}\n"...)
	}
	b = append(b, `{"create":{"_index":`...)
	b = appendString(b, target)
	b = append(b, `,"_id":`...)
	b = appendString(b, w.Doc.ProductID)
	if targetIsAlias {
		// Never let Elasticsearch auto-create a concrete index named like the alias
		// (with dynamic mappings) if the alias has vanished.
		b = append(b, `,"require_alias":true`...)
	}
	return append(b, "}}\n"...)
}

// appendSource appends the stored form of a document (see source) and a newline.
func appendSource(b []byte, d search.Document) ([]byte, error) {
	f := d.Fields()
	b = append(b, `{"tenant_id":`...)
	b = appendString(b, f.TenantID)
	b = append(b, `,"product_id":`...)
	b = appendString(b, f.ProductID)
	b = append(b, `,"version":`...)
	b = strconv.AppendInt(b, f.Version, 10)
	b = append(b, `,"product_version":`...)
	b = strconv.AppendInt(b, f.ProductVersion, 10)
	b = append(b, `,"visible":`...)
	b = strconv.AppendBool(b, f.Visible)
	b = append(b, `,"in_stock":`...)
	b = strconv.AppendBool(b, f.InStock)
	b = append(b, `,"name":`...)
	b = appendString(b, f.Name)
	b = append(b, `,"name_sort":`...)
	b = appendString(b, f.NameSort)
	b = append(b, `,"description":`...)
	b = appendString(b, f.Description)
	b = append(b, `,"brand":`...)
	b = appendString(b, f.Brand)
	b = append(b, `,"attributes":`...)
	b = appendString(b, f.AttrText)
	b = append(b, `,"category_ids":`...)
	b = appendStrings(b, f.CategoryIDs)
	b = append(b, `,"attrs":`...)
	b = appendStrings(b, f.Attrs)
	b = append(b, `,"skus":`...)
	b = appendStrings(b, f.SKUs)
	b = append(b, `,"prices":`...)
	if f.Prices == nil {
		b = append(b, "null"...)
	} else {
		b = append(b, '{')
		for i, k := range sortedKeys(f.Prices) {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendString(b, k)
			b = append(b, ':')
			b = strconv.AppendInt(b, f.Prices[k], 10)
		}
		b = append(b, '}')
	}
	b = append(b, `,"updated_at":`...)
	b = strconv.AppendInt(b, f.UpdatedAt.UnixMilli(), 10)
	b = append(b, `,"state":`...)
	b, err := appendDocument(b, d)
	if err != nil {
		return nil, err
	}
	return append(b, "}\n"...), nil
}

// appendDocument appends d as json.Marshal would (search.Document's tags).
func appendDocument(b []byte, d search.Document) ([]byte, error) {
	b = append(b, `{"tenant_id":`...)
	b = appendString(b, d.TenantID)
	b = append(b, `,"product_id":`...)
	b = appendString(b, d.ProductID)
	if p := d.Product; p != nil {
		b = append(b, `,"product":`...)
		var err error
		if b, err = appendProduct(b, p); err != nil {
			return nil, err
		}
	}
	if len(d.Stock) > 0 {
		b = append(b, `,"stock":{`...)
		for i, k := range sortedKeys(d.Stock) {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendString(b, k)
			b = append(b, `:{"available":`...)
			b = strconv.AppendInt(b, d.Stock[k].Available, 10)
			b = append(b, `,"version":`...)
			b = strconv.AppendInt(b, d.Stock[k].Version, 10)
			b = append(b, '}')
		}
		b = append(b, '}')
	}
	return append(b, '}'), nil
}

func appendProduct(b []byte, p *events.Product) ([]byte, error) {
	b = append(b, `{"id":`...)
	b = appendString(b, p.ID)
	b = append(b, `,"version":`...)
	b = strconv.AppendInt(b, p.Version, 10)
	b = append(b, `,"name":`...)
	b = appendString(b, p.Name)
	b = append(b, `,"description":`...)
	b = appendString(b, p.Description)
	b = append(b, `,"status":`...)
	b = appendString(b, p.Status)
	b = append(b, `,"deleted":`...)
	b = strconv.AppendBool(b, p.Deleted)
	b = append(b, `,"category_ids":`...)
	b = appendStrings(b, p.CategoryIDs)
	b = append(b, `,"attributes":`...)
	b = appendStringMap(b, p.Attributes)
	b = append(b, `,"images":`...)
	b = appendStrings(b, p.Images)
	b = append(b, `,"variants":`...)
	if p.Variants == nil {
		b = append(b, "null"...)
	} else {
		b = append(b, '[')
		for i, v := range p.Variants {
			if i > 0 {
				b = append(b, ',')
			}
			b = append(b, `{"sku":`...)
			b = appendString(b, v.SKU)
			b = append(b, `,"attributes":`...)
			b = appendStringMap(b, v.Attributes)
			b = append(b, `,"prices":`...)
			if v.Prices == nil {
				b = append(b, "null"...)
			} else {
				b = append(b, '[')
				for j, pr := range v.Prices {
					if j > 0 {
						b = append(b, ',')
					}
					b = append(b, `{"currency":`...)
					b = appendString(b, pr.Currency)
					b = append(b, `,"amount":`...)
					b = strconv.AppendInt(b, pr.Amount, 10)
					b = append(b, '}')
				}
				b = append(b, ']')
			}
			b = append(b, '}')
		}
		b = append(b, ']')
	}
	b = append(b, `,"updated_at":`...)
	t, err := p.UpdatedAt.MarshalJSON() // refuses years outside 0–9999, as before
	if err != nil {
		return nil, err
	}
	b = append(b, t...)
	return append(b, '}'), nil
}

func appendStrings(b []byte, ss []string) []byte {
	if ss == nil {
		return append(b, "null"...)
	}
	b = append(b, '[')
	for i, s := range ss {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendString(b, s)
	}
	return append(b, ']')
}

func appendStringMap(b []byte, m map[string]string) []byte {
	if m == nil {
		return append(b, "null"...)
	}
	b = append(b, '{')
	for i, k := range sortedKeys(m) {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendString(b, k)
		b = append(b, ':')
		b = appendString(b, m[k])
	}
	return append(b, '}')
}

// sortedKeys gives maps a stable order, so equal documents make equal bodies.
func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

const hexDigits = "0123456789abcdef"

// plainASCII says which ASCII bytes a JSON string holds as they are.
var plainASCII = func() (t [utf8.RuneSelf]bool) {
	for c := 0x20; c < utf8.RuneSelf; c++ {
		t[c] = c != '"' && c != '\\' && c != '<' && c != '>' && c != '&'
	}
	return t
}()

// appendString appends s as a JSON string the way encoding/json writes it: HTML
// characters, control characters, U+2028 and U+2029 escaped, and each byte of
// invalid UTF-8 replaced by U+FFFD.
func appendString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		if c := s[i]; c < utf8.RuneSelf {
			if plainASCII[c] {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\b':
				b = append(b, '\\', 'b')
			case '\f':
				b = append(b, '\\', 'f')
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hexDigits[r&0xf])
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}

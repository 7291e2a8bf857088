package postgres

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/kommerce/kommerce/apiserver"
	"github.com/kommerce/kommerce/apiserver/postgres/dbq"
)

var _ apiserver.ProductPageAppender = (*CatalogService)(nil)

// AppendProductPageJSON implements apiserver.ProductPageAppender: the statement and
// transaction of ListProducts, but each row is encoded into dst as it arrives, from
// the bytes pgx received — no string per array element, no attribute map, no product
// struct. A list cache miss spent most of its CPU building and then collecting those
// (~1,300 allocations per page of 20). The bytes are ListProducts' page through
// ProductPage.AppendJSON, exactly (TestListProductsMatchesGetProduct compares them
// on every page it reads); a connection that returns the rows in other formats than
// expected (e.g. the simple protocol's text) takes that path itself.
func (s *CatalogService) AppendProductPageJSON(ctx context.Context, dst []byte, f apiserver.ProductFilter) ([]byte, error) {
	params, err := listPageParams(&f)
	if err != nil {
		return nil, err
	}
	out := dst
	err = s.DB.readInTenant(ctx, func(p *pipelinedRead) error {
		params.TenantID = p.tenantID
		p.genericPlan = genericPlanFits(f)
		var st recorded // the statement and arguments as sqlc generated them
		if _, err := dbq.New(&st).ListProductPage(ctx, params); !errors.Is(err, errRecorded) {
			return fmt.Errorf("record statement: %w", err)
		}
		rows, err := p.Query(ctx, st.sql, st.args...)
		if err != nil {
			return err
		}
		defer rows.Close()
		out, err = appendPageRows(dst, rows, f)
		if err != nil {
			return err
		}
		rows.Close()
		return rows.Err()
	})
	if errors.Is(err, errPageLayout) {
		page, err := s.ListProducts(ctx, f)
		if err != nil {
			return nil, err
		}
		return page.AppendJSON(dst)
	}
	if err != nil {
		return nil, fmt.Errorf("list products: %w", err)
	}
	return out, nil
}

// genericPlanFits reports whether the page of f may run on the generic plan of
// ListProductPage: a first page (no cursor) without the category or name filter —
// the shop's plain listing, the most common page. PostgreSQL's default
// (plan_cache_mode auto) re-plans the statement with its arguments on many
// executions, and planning this statement (four sort branches, the category CTE,
// three laterals) costs PostgreSQL about as much again as running it (0.6–0.9 ms
// per page on the demo catalog, docs/benchmarks.md); which way auto mode goes even
// changed from one fresh database to the next. The generic plan of such a page walks the sort's index
// under the limit, as a custom one does. Pages after a cursor keep custom plans:
// only they turn the keyset condition into an index bound (the generic plan would
// filter from the first row on, slower with every page), and so do the selective
// filters, whose best plan depends on the value.
func genericPlanFits(f apiserver.ProductFilter) bool {
	return f.Cursor == "" && f.CategoryID == "" && f.Query == ""
}

// recorded is a dbq.DBTX that sends nothing: it keeps the statement a generated
// query would send, so that its rows can be read another way with sqlc still the
// source of the SQL and of the order of its arguments.
type recorded struct {
	sql  string
	args []any
}

var errRecorded = errors.New("statement recorded, not sent")

func (r *recorded) Exec(_ context.Context, sql string, args ...any) (pgconn.CommandTag, error) {
	r.sql, r.args = sql, args
	return pgconn.CommandTag{}, errRecorded
}

func (r *recorded) Query(_ context.Context, sql string, args ...any) (pgx.Rows, error) {
	r.sql, r.args = sql, args
	return nil, errRecorded
}

func (r *recorded) QueryRow(_ context.Context, sql string, args ...any) pgx.Row {
	r.sql, r.args = sql, args
	return errRow{errRecorded}
}

// errPageLayout reports rows of ListProductPage in another shape than pageColumns:
// AppendProductPageJSON then builds the page through ListProducts.
var errPageLayout = errors.New("unexpected layout of ListProductPage rows")

// pageColumns are the columns of ListProductPage as appendPageRows reads them: name,
// type and whether the value must come in binary format (text reads the same either
// way). pgx asks for binary results for all of these types when it describes the
// statement first, its default.
var pageColumns = [...]struct {
	name   string
	oid    uint32
	binary bool
}{
	{"id", pgtype.UUIDOID, true},
	{"name", pgtype.TextOID, false},
	{"description", pgtype.TextOID, false},
	{"status", pgtype.TextOID, false},
	{"images", pgtype.TextArrayOID, true},
	{"version", pgtype.Int8OID, true},
	{"created_at", pgtype.TimestamptzOID, true},
	{"updated_at", pgtype.TimestamptzOID, true},
	{"attributes", pgtype.TextOID, false},
	{"category_ids", pgtype.TextArrayOID, true},
	{"skus", pgtype.TextArrayOID, true},
	{"variant_attributes", pgtype.TextArrayOID, true},
	{"price_counts", pgtype.Int4ArrayOID, true},
	{"price_currencies", pgtype.TextArrayOID, true},
	{"price_amounts", pgtype.Int8ArrayOID, true},
}

const (
	colID = iota
	colName
	colDescription
	colStatus
	colImages
	colVersion
	colCreated
	colUpdated
	colAttributes
	colCategoryIDs
	colSKUs
	colVariantAttributes
	colPriceCounts
	colPriceCurrencies
	colPriceAmounts
)

func checkPageColumns(fds []pgconn.FieldDescription) error {
	if len(fds) != len(pageColumns) {
		return errPageLayout
	}
	for i, c := range pageColumns {
		fd := fds[i]
		if fd.Name != c.name || fd.DataTypeOID != c.oid || (c.binary && fd.Format != pgx.BinaryFormatCode) {
			return errPageLayout
		}
	}
	return nil
}

// appendPageRows appends the JSON of a ProductPage of f.Limit items at most from
// rows of ListProductPage, which holds one row more when a next page exists.
func appendPageRows(dst []byte, rows pgx.Rows, f apiserver.ProductFilter) ([]byte, error) {
	if err := checkPageColumns(rows.FieldDescriptions()); err != nil {
		return nil, err
	}
	// Times go through pgx's own plan, so they come out exactly as a Scan makes
	// them (the connection's time zone setting included).
	var t time.Time
	timePlan := rows.Conn().TypeMap().PlanScan(pgtype.TimestamptzOID, pgx.BinaryFormatCode, &t)
	scanTime := func(src []byte) (time.Time, error) {
		if err := timePlan.Scan(src, &t); err != nil {
			return time.Time{}, err
		}
		return t, nil
	}
	dst = slices.Grow(dst, 64+1536*f.Limit) // a demo product is ~1.3 kB
	dst = append(dst, `{"items":[`...)
	var last struct { // the key of the last item, for the next page's cursor
		created  time.Time
		id, name []byte
	}
	n := 0
	var next string
	for rows.Next() {
		vals := rows.RawValues()
		if n == f.Limit { // the row after the page: there is a next one
			next = cursor{Sort: f.Sort, Created: last.created, Name: string(last.name), ID: string(last.id), Filter: filterHash(f)}.encode()
			break
		}
		if n > 0 {
			dst = append(dst, ',')
		}
		var err error
		if dst, err = appendPageRow(dst, vals, scanTime); err != nil {
			return nil, err
		}
		if last.created, err = scanTime(vals[colCreated]); err != nil {
			return nil, err
		}
		last.id = appendUUID(last.id[:0], vals[colID])
		last.name = append(last.name[:0], vals[colName]...)
		n++
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	dst = append(dst, ']')
	if next != "" {
		dst = append(dst, `,"next_cursor":`...)
		dst = apiserver.AppendJSONString(dst, next)
	}
	return append(dst, '}'), nil
}

// appendPageRow appends one product as Product.AppendJSON does, from the raw values
// of its row (layout checked by checkPageColumns).
func appendPageRow(dst []byte, vals [][]byte, scanTime func([]byte) (time.Time, error)) ([]byte, error) {
	for i, v := range vals {
		if v == nil {
			return nil, fmt.Errorf("column %s is null", pageColumns[i].name)
		}
	}
	id := vals[colID]
	rowErr := func(err error) error { return fmt.Errorf("product %s: %w", appendUUID(nil, id), err) }
	dst = append(dst, `{"id":"`...)
	dst = append(appendUUID(dst, id), `","name":`...)
	dst = apiserver.AppendJSONString(dst, vals[colName])
	dst = append(dst, `,"description":`...)
	dst = apiserver.AppendJSONString(dst, vals[colDescription])
	dst = append(dst, `,"status":`...)
	dst = apiserver.AppendJSONString(dst, vals[colStatus])
	dst = append(dst, `,"category_ids":`...)
	dst, err := appendTextArray(dst, vals[colCategoryIDs])
	if err != nil {
		return nil, rowErr(err)
	}
	dst = append(dst, `,"attributes":`...)
	if dst, err = appendAttributes(dst, vals[colAttributes]); err != nil {
		return nil, rowErr(err)
	}
	dst = append(dst, `,"images":`...)
	if dst, err = appendTextArray(dst, vals[colImages]); err != nil {
		return nil, rowErr(err)
	}
	dst = append(dst, `,"variants":`...)
	if dst, err = appendVariants(dst, vals); err != nil {
		return nil, rowErr(err)
	}
	version, err := int8Value(vals[colVersion])
	if err != nil {
		return nil, rowErr(err)
	}
	dst = append(dst, `,"version":`...)
	dst = strconv.AppendInt(dst, version, 10)
	for _, c := range [...]struct {
		key string
		col int
	}{{`,"created_at":"`, colCreated}, {`","updated_at":"`, colUpdated}} {
		t, err := scanTime(vals[c.col])
		if err != nil {
			return nil, rowErr(err)
		}
		dst = append(dst, c.key...)
		if dst, err = t.AppendText(dst); err != nil {
			return nil, rowErr(err)
		}
	}
	return append(dst, `"}`...), nil
}

// appendVariants appends the variants of a row: SKUs, attributes and price counts
// are arrays of one entry per variant; price_counts[i] of the currencies and amounts
// belong to variant i, in order.
func appendVariants(dst []byte, vals [][]byte) ([]byte, error) {
	var skus, attrs, counts, currencies, amounts binaryArray
	for _, a := range [...]struct {
		arr *binaryArray
		col int
	}{{&skus, colSKUs}, {&attrs, colVariantAttributes}, {&counts, colPriceCounts}, {&currencies, colPriceCurrencies}, {&amounts, colPriceAmounts}} {
		var err error
		if *a.arr, err = parseBinaryArray(vals[a.col]); err != nil {
			return nil, fmt.Errorf("%s: %w", pageColumns[a.col].name, err)
		}
	}
	if attrs.n != skus.n || counts.n != skus.n || currencies.n != amounts.n {
		return nil, errors.New("inconsistent page row")
	}
	left := currencies.n // prices not yet given to a variant
	dst = append(dst, '[')
	for i := range skus.n {
		if i > 0 {
			dst = append(dst, ',')
		}
		sku, err := skus.next()
		if err != nil {
			return nil, err
		}
		attr, err := attrs.next()
		if err != nil {
			return nil, err
		}
		c, err := counts.next()
		if err != nil || len(c) != 4 {
			return nil, fmt.Errorf("price count: %w", errors.Join(err, errors.New("not an int4")))
		}
		n := int(int32(binary.BigEndian.Uint32(c))) //nolint:gosec // a count, sign kept to reject negatives
		if n < 0 || n > left {
			return nil, errors.New("inconsistent page row")
		}
		left -= n
		dst = append(dst, `{"sku":`...)
		dst = apiserver.AppendJSONString(dst, sku)
		dst = append(dst, `,"attributes":`...)
		if dst, err = appendAttributes(dst, attr); err != nil {
			return nil, fmt.Errorf("variant %s attributes: %w", sku, err)
		}
		dst = append(dst, `,"prices":[`...)
		for j := range n {
			cur, err := currencies.next()
			if err != nil {
				return nil, err
			}
			amt, err := amounts.next()
			if err != nil || len(amt) != 8 {
				return nil, fmt.Errorf("price amount: %w", errors.Join(err, errors.New("not an int8")))
			}
			if j > 0 {
				dst = append(dst, ',')
			}
			dst = append(dst, `{"currency":`...)
			dst = apiserver.AppendJSONString(dst, cur)
			dst = append(dst, `,"amount":`...)
			dst = strconv.AppendInt(dst, int64(binary.BigEndian.Uint64(amt)), 10) //nolint:gosec // int8 on the wire
			dst = append(dst, '}')
		}
		dst = append(dst, "]}"...)
	}
	return append(dst, ']'), nil
}

// binaryArray reads a one-dimensional array in PostgreSQL's binary format: a header
// (dimensions, flags, element type; per dimension its length and lower bound), then
// per element its length and bytes.
type binaryArray struct {
	n    int
	rest []byte
}

func parseBinaryArray(src []byte) (binaryArray, error) {
	if len(src) < 12 {
		return binaryArray{}, errors.New("short array header")
	}
	switch dims := int32(binary.BigEndian.Uint32(src)); dims { //nolint:gosec // int4 on the wire
	case 0:
		return binaryArray{}, nil
	case 1:
	default:
		return binaryArray{}, fmt.Errorf("array of %d dimensions", dims)
	}
	if len(src) < 20 {
		return binaryArray{}, errors.New("short array header")
	}
	n := int32(binary.BigEndian.Uint32(src[12:])) //nolint:gosec // int4 on the wire
	if n < 0 {
		return binaryArray{}, errors.New("negative array length")
	}
	return binaryArray{n: int(n), rest: src[20:]}, nil
}

// next returns the next element; NULL is an error, as it is for a Scan into a slice
// of strings or numbers.
func (a *binaryArray) next() ([]byte, error) {
	if len(a.rest) < 4 {
		return nil, errors.New("array shorter than its length")
	}
	l := int32(binary.BigEndian.Uint32(a.rest)) //nolint:gosec // int4 on the wire
	a.rest = a.rest[4:]
	if l < 0 {
		return nil, errors.New("NULL in array")
	}
	if int(l) > len(a.rest) {
		return nil, errors.New("array shorter than its length")
	}
	e := a.rest[:l]
	a.rest = a.rest[l:]
	return e, nil
}

// appendTextArray appends a text[] as a JSON array of strings.
func appendTextArray(dst []byte, src []byte) ([]byte, error) {
	a, err := parseBinaryArray(src)
	if err != nil {
		return nil, err
	}
	dst = append(dst, '[')
	for i := range a.n {
		e, err := a.next()
		if err != nil {
			return nil, err
		}
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = apiserver.AppendJSONString(dst, e)
	}
	return append(dst, ']'), nil
}

func int8Value(src []byte) (int64, error) {
	if len(src) != 8 {
		return 0, errors.New("not an int8")
	}
	return int64(binary.BigEndian.Uint64(src)), nil //nolint:gosec // int8 on the wire
}

// appendUUID appends a binary uuid in its text form, lower-case, as pgx scans it
// into a string.
func appendUUID(dst []byte, src []byte) []byte {
	if len(src) != 16 {
		return append(dst, "invalid uuid"...) // not a uuid column: checkPageColumns rules it out
	}
	for i, b := range src {
		if i == 4 || i == 6 || i == 8 || i == 10 {
			dst = append(dst, '-')
		}
		dst = append(dst, hexDigits[b>>4], hexDigits[b&0xf])
	}
	return dst
}

const hexDigits = "0123456789abcdef"

// appendAttributes appends a JSON object of strings given as jsonb text, as
// Product.AppendJSON appends the map stringMap would make of it: keys in byte order
// (jsonb orders them by length first), strings escaped as encoding/json does. The
// layout plainStringMap reads is handled without a map; anything else goes through
// stringMap.
func appendAttributes(dst []byte, src []byte) ([]byte, error) {
	var buf [16]attribute
	attrs, ok := plainAttributes(buf[:0], src)
	if !ok {
		m, err := stringMap(string(src))
		if err != nil {
			return nil, err
		}
		return apiserver.AppendJSONMap(dst, m), nil
	}
	slices.SortFunc(attrs, func(a, b attribute) int { return bytes.Compare(a.key, b.key) })
	dst = append(dst, '{')
	for i, a := range attrs {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = apiserver.AppendJSONString(dst, a.key)
		dst = append(dst, ':')
		dst = apiserver.AppendJSONString(dst, a.value)
	}
	return append(dst, '}'), nil
}

type attribute struct{ key, value []byte }

// plainAttributes is plainStringMap without the map: the pairs of s, if s is exactly
// jsonb's layout of an object whose keys and values are strings without escapes.
func plainAttributes(dst []attribute, s []byte) ([]attribute, bool) {
	if len(s) < 2 || s[0] != '{' || s[len(s)-1] != '}' {
		return nil, false
	}
	body := s[1 : len(s)-1]
	if len(body) == 0 {
		return dst, true
	}
	for {
		k, rest, ok := plainBytes(body)
		if !ok || !bytes.HasPrefix(rest, []byte(": ")) {
			return nil, false
		}
		v, rest, ok := plainBytes(rest[2:])
		if !ok {
			return nil, false
		}
		dst = append(dst, attribute{k, v})
		if len(rest) == 0 {
			return dst, true
		}
		if !bytes.HasPrefix(rest, []byte(", ")) {
			return nil, false
		}
		body = rest[2:]
	}
}

// plainBytes is plainString on bytes.
func plainBytes(s []byte) (str, rest []byte, ok bool) {
	if len(s) == 0 || s[0] != '"' {
		return nil, nil, false
	}
	end := bytes.IndexByte(s[1:], '"')
	if end < 0 {
		return nil, nil, false
	}
	str = s[1 : 1+end]
	if bytes.IndexByte(str, '\\') >= 0 {
		return nil, nil, false
	}
	return str, s[2+end:], true
}

package postgres

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/kommerce/kommerce/apiserver"
	"github.com/kommerce/kommerce/apiserver/demo"
	"github.com/kommerce/kommerce/apiserver/postgres/dbq"
	"github.com/kommerce/kommerce/internal/testenv"
)

func newTenant(t testing.TB, db *DB, slug string) context.Context {
	t.Helper()
	tn, err := (&TenantService{DB: db}).CreateTenant(context.Background(), apiserver.TenantCreate{Slug: slug, RedisPrefix: slug + ":"})
	if err != nil {
		t.Fatal(err)
	}
	return apiserver.NewContextWithTenant(context.Background(), tn)
}

// TestListProductsMatchesGetProduct checks the one-statement list page against the
// single-product read (GetProductFull, which aggregates JSON instead of arrays): for
// every sort and filter, paging through with a small limit must give every matching
// product exactly once, in order, each item byte for byte as GetProduct encodes it.
// Edge cases ride along: a product without attributes, categories, images or prices,
// one with several categories in a given order, a deleted one, and another tenant's.
func TestListProductsMatchesGetProduct(t *testing.T) {
	db := NewDB(testenv.NewDatabase(t).Pool)
	cat := &CatalogService{DB: db}
	ctx := newTenant(t, db, "shop")
	other := newTenant(t, db, "other")
	textCat := &CatalogService{DB: NewDB(simpleProtocolPool(t, db.Pool))}
	if _, err := demo.Seed(ctx, cat, 30); err != nil {
		t.Fatal(err)
	}
	if _, err := demo.Seed(other, cat, 5); err != nil {
		t.Fatal(err)
	}
	cats, err := cat.ListCategories(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var root, leaf string // a root with children, and a leaf
	for _, c := range cats {
		if c.ParentID == nil && root == "" && slices.ContainsFunc(cats, func(d *apiserver.Category) bool { return d.ParentID != nil && *d.ParentID == c.ID }) {
			root = c.ID
		}
		if c.ParentID != nil {
			leaf = c.ID
		}
	}
	published := apiserver.StatusPublished
	bare := apiserver.ProductInput{Name: new("Bare <thing> & \"more\""), Status: &published,
		Variants: &[]apiserver.Variant{{SKU: "BARE-1"}, {SKU: "BARE-2", Attributes: map[string]string{"z": "1", "a": "ü", "q": "say \"hi\"\\ \n\u2028 <b>", "e": ""}}}}
	if _, err := cat.CreateProduct(ctx, bare); err != nil {
		t.Fatal(err)
	}
	multi := apiserver.ProductInput{Name: new("Multi"), Status: &published, CategoryIDs: &[]string{leaf, root},
		Attributes: &map[string]string{"b": "2", "a": "1"},
		Variants: &[]apiserver.Variant{{SKU: "MULTI-2", Prices: []apiserver.Price{{Currency: "USD", Amount: 2}, {Currency: "EUR", Amount: 1}}},
			{SKU: "MULTI-1", Prices: []apiserver.Price{{Currency: "CHF", Amount: 3}}}}}
	if _, err := cat.CreateProduct(ctx, multi); err != nil {
		t.Fatal(err)
	}
	gone, err := cat.CreateProduct(ctx, apiserver.ProductInput{Name: new("Gone"), Status: &published, Variants: &[]apiserver.Variant{{SKU: "GONE-1"}}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cat.DeleteProduct(ctx, gone.ID, 0); err != nil {
		t.Fatal(err)
	}

	for _, f := range []apiserver.ProductFilter{
		{},
		{Sort: apiserver.SortCreatedAsc},
		{Sort: apiserver.SortNameAsc, Status: apiserver.StatusPublished},
		{Sort: apiserver.SortNameDesc, Status: apiserver.StatusDraft},
		{CategoryID: root},
		{CategoryID: leaf, Sort: apiserver.SortNameAsc},
		{Query: "BARE"},
		{Query: "%"},
		{CategoryID: "00000000-0000-4000-8000-000000000000"},
	} {
		name, _ := json.Marshal(f)
		t.Run(string(name), func(t *testing.T) {
			all, err := cat.ListProducts(ctx, apiserver.ProductFilter{CategoryID: f.CategoryID, Status: f.Status, Query: f.Query, Sort: f.Sort, Limit: apiserver.MaxPageSize})
			if err != nil {
				t.Fatal(err)
			}
			if all.NextCursor != "" {
				t.Fatalf("%d products need more than one page of %d", len(all.Items), apiserver.MaxPageSize)
			}
			var paged []*apiserver.Product
			f.Limit = 7
			for pages := 0; ; pages++ {
				if pages > 20 {
					t.Fatal("paging does not end")
				}
				page, err := cat.ListProducts(ctx, f)
				if err != nil {
					t.Fatal(err)
				}
				// The page as a list cache miss encodes it, straight from the rows, in
				// binary formats and (the fallback) in the simple protocol's text.
				want, err := page.AppendJSON([]byte("prefix"))
				if err != nil {
					t.Fatal(err)
				}
				for _, c := range []*CatalogService{cat, textCat} {
					got, err := c.AppendProductPageJSON(ctx, []byte("prefix"), f)
					if err != nil {
						t.Fatal(err)
					}
					if string(got) != string(want) {
						t.Fatalf("AppendProductPageJSON differs from ListProducts:\n got %s\nwant %s", got, want)
					}
				}
				if len(page.Items) > f.Limit || (page.NextCursor != "" && len(page.Items) != f.Limit) {
					t.Fatalf("page of %d items for limit %d (next cursor %q)", len(page.Items), f.Limit, page.NextCursor)
				}
				paged = append(paged, page.Items...)
				if page.NextCursor == "" {
					break
				}
				f.Cursor = page.NextCursor
			}
			if len(paged) != len(all.Items) {
				t.Fatalf("paging gave %d products, one page %d", len(paged), len(all.Items))
			}
			for i, p := range paged {
				if p.ID != all.Items[i].ID {
					t.Fatalf("item %d: paging gave %s, one page %s", i, p.ID, all.Items[i].ID)
				}
				if p.ID == gone.ID {
					t.Fatal("a deleted product is listed")
				}
				if f.Status != "" && p.Status != f.Status {
					t.Fatalf("%s is %s", p.ID, p.Status)
				}
				if f.Query != "" && !strings.Contains(strings.ToLower(p.Name), strings.ToLower(f.Query)) {
					t.Fatalf("%q does not match %q", p.Name, f.Query)
				}
				want, err := cat.GetProduct(ctx, p.ID) // another tenant's product is not found
				if err != nil {
					t.Fatalf("item %d (%s): %v", i, p.ID, err)
				}
				got, _ := json.Marshal(p)
				wantJSON, _ := json.Marshal(want)
				if string(got) != string(wantJSON) {
					t.Fatalf("item %d differs from GetProduct:\n got %s\nwant %s", i, got, wantJSON)
				}
			}
			switch {
			case f.Query == "BARE" && len(paged) != 1, f.Query == "%" && len(paged) != 0,
				f.CategoryID == root && !slices.ContainsFunc(paged, func(p *apiserver.Product) bool { return p.Name == "Multi" }),
				f.CategoryID == root && !slices.ContainsFunc(paged, func(p *apiserver.Product) bool { return !slices.Contains(p.CategoryIDs, root) }),
				f.CategoryID == "" && f.Query == "" && f.Status == "" && len(paged) != 32:
				t.Fatalf("%d products listed", len(paged))
			}
		})
	}
}

// TestStringMap: jsonb's text form is read by the fast path, everything else as
// encoding/json reads it.
func TestStringMap(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		fast     bool
	}{
		{"empty", `{}`, true},
		{"one", `{"color": "red"}`, true},
		{"two", `{"size": "M", "color": "dark blue"}`, true},
		{"empty strings", `{"": ""}`, true},
		{"unicode", `{"a": "ü€😀"}`, true},
		{"comma and colon inside", `{"a": "x\", \"b\": y", "c": "d"}`, false},
		{"escapes", `{"q": "say \"hi\"\\ \n \u00e9"}`, false},
		{"compact layout", `{"a":"b"}`, false},
		{"number", `{"a": 1}`, false},
		{"null", `null`, false},
		{"array", `["a"]`, false},
		{"truncated", `{"a": "b"`, false},
		{"trailing comma", `{"a": "b", }`, false},
		{"garbage", `{x}`, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, fast := plainStringMap(tc.in); fast != tc.fast {
				t.Errorf("fast path %v, want %v", fast, tc.fast)
			}
			got, err := stringMap(tc.in)
			var want map[string]string
			werr := json.Unmarshal([]byte(tc.in), &want)
			if (err != nil) != (werr != nil) {
				t.Fatalf("error %v, encoding/json says %v", err, werr)
			}
			if err == nil && (got == nil || !maps.Equal(got, want)) {
				t.Fatalf("got %q, encoding/json gives %q", got, want)
			}
		})
	}
}

// TestReadInTenant: the pipelined read is read-only, sees only its tenant, reports
// a failed statement, and leaves its connection fit for the next request.
func TestReadInTenant(t *testing.T) {
	tdb := testenv.NewDatabase(t)
	db := NewDB(tdb.Pool)
	ctx := newTenant(t, db, "shop")
	other := newTenant(t, db, "other")
	c, err := (&CatalogService{DB: db}).CreateCategory(ctx, apiserver.CategoryInput{Slug: new("shoes"), Name: new("Shoes")})
	if err != nil {
		t.Fatal(err)
	}
	for range 2 * int(tdb.Pool.Config().MaxConns) { // every connection of the pool, and again
		err := db.ReadInTenant(ctx, func(q *dbq.Queries, tid string) error {
			return q.InsertOutbox(ctx, dbq.InsertOutboxParams{TenantID: tid, AggregateType: "x", AggregateID: "x", EventType: "x", Payload: []byte("{}")})
		})
		if code, _ := pgCode(err); code != "25006" { // read_only_sql_transaction
			t.Fatalf("write in a read: %v", err)
		}
		err = db.ReadInTenant(ctx, func(q *dbq.Queries, tid string) error {
			_, err := q.GetCategory(ctx, dbq.GetCategoryParams{TenantID: tid, ID: "not-a-uuid"})
			return err
		})
		if code, _ := pgCode(err); code != pgInvalidText {
			t.Fatalf("bad uuid: %v", err)
		}
		err = db.ReadInTenant(ctx, func(q *dbq.Queries, tid string) error {
			got, err := q.GetCategory(ctx, dbq.GetCategoryParams{TenantID: tid, ID: c.ID})
			if err == nil && got.Slug != "shoes" {
				t.Errorf("read %+v", got)
			}
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		// The other tenant does not see it even when asking with this tenant's id:
		// the row-level security policy follows the transaction's tenant setting.
		err = db.ReadInTenant(other, func(q *dbq.Queries, _ string) error {
			_, err := q.GetCategory(ctx, dbq.GetCategoryParams{TenantID: apiserver.TenantFromContext(ctx).ID, ID: c.ID})
			return err
		})
		if apiserver.ErrorCode(notFound(err, "category")) != apiserver.ErrNotFound {
			t.Fatalf("another tenant read the category: %v", err)
		}
	}
	err = db.ReadInTenant(ctx, func(q *dbq.Queries, tid string) error {
		if _, err := q.ListCategories(ctx, tid); err != nil {
			return err
		}
		_, err := q.ListCategories(ctx, tid)
		return err
	})
	if !errors.Is(err, errSecondStatement) {
		t.Fatalf("two statements: %v", err)
	}
	if _, err := (&CatalogService{DB: db}).ListCategories(ctx); err != nil {
		t.Fatal(err)
	}
}

// TestReadInTenantLeavesNothingBehind: the read runs without BEGIN and COMMIT, in
// the implicit transaction of its pipeline, so its settings (tenant, read-only,
// plan_cache_mode) must end with that transaction whether the statement succeeded
// or failed: the next user of the pooled connection sees no tenant — row-level
// security shows it no row — may write, and plans as configured. One connection,
// so every step is on the same one.
func TestReadInTenantLeavesNothingBehind(t *testing.T) {
	ctx, pool := seededOneConnPool(t, 30)
	db := NewDB(pool)
	cat := &CatalogService{DB: db}
	bg := context.Background()
	var pid0 int
	if err := pool.QueryRow(bg, "SELECT pg_backend_pid()").Scan(&pid0); err != nil {
		t.Fatal(err)
	}
	check := func(after string) {
		t.Helper()
		var pid int
		var tenant, traceparent, readOnly, planMode string
		var visible int
		err := pool.QueryRow(bg, `SELECT pg_backend_pid(), coalesce(current_setting('kommerce.tenant_id', true), ''), coalesce(current_setting('kommerce.traceparent', true), ''),
			current_setting('transaction_read_only'), current_setting('plan_cache_mode'), (SELECT count(*) FROM products)`).
			Scan(&pid, &tenant, &traceparent, &readOnly, &planMode, &visible)
		if err != nil {
			t.Fatalf("after %s: %v", after, err)
		}
		if pid != pid0 {
			t.Fatalf("after %s: another connection (%d, not %d): the check proves nothing", after, pid, pid0)
		}
		if tenant != "" || traceparent != "" || readOnly != "off" || planMode != "auto" || visible != 0 {
			t.Fatalf("after %s the connection keeps tenant %q, traceparent %q, read only %s, plan_cache_mode %s, sees %d products",
				after, tenant, traceparent, readOnly, planMode, visible)
		}
		// It may write again (as the platform: the write needs no tenant).
		if _, err := pool.Exec(bg, "CREATE TEMP TABLE IF NOT EXISTS w (x int); INSERT INTO w VALUES (1)"); err != nil {
			t.Fatalf("after %s the connection cannot write: %v", after, err)
		}
	}
	check("nothing")
	first := apiserver.ProductFilter{Status: apiserver.StatusPublished, Limit: 5}
	page, err := cat.AppendProductPageJSON(ctx, nil, first) // a generic-plan page
	if err != nil || !bytes.Contains(page, []byte(`"next_cursor"`)) {
		t.Fatalf("first page: %v %.100s", err, page)
	}
	check("a first page")
	var p apiserver.ProductPage
	if err := json.Unmarshal(page, &p); err != nil {
		t.Fatal(err)
	}
	second := first
	second.Cursor = p.NextCursor
	if _, err := cat.AppendProductPageJSON(ctx, nil, second); err != nil {
		t.Fatal(err)
	}
	check("a page after a cursor")
	err = db.ReadInTenant(ctx, func(q *dbq.Queries, tid string) error {
		return q.InsertOutbox(ctx, dbq.InsertOutboxParams{TenantID: tid, AggregateType: "x", AggregateID: "x", EventType: "x", Payload: []byte("{}")})
	})
	if code, _ := pgCode(err); code != "25006" { // read_only_sql_transaction
		t.Fatalf("write in a read: %v", err)
	}
	check("a refused write")
	err = db.ReadInTenant(ctx, func(q *dbq.Queries, tid string) error {
		_, err := q.GetCategory(ctx, dbq.GetCategoryParams{TenantID: tid, ID: "not-a-uuid"})
		return err
	})
	if code, _ := pgCode(err); code != pgInvalidText {
		t.Fatalf("bad uuid: %v", err)
	}
	check("a failed statement")
}

// TestGenericPlanOnlyForPlainFirstPages: the plain first page runs on the generic
// plan of ListProductPage; a page after a cursor, or with the category or name
// filter, is planned for its arguments (PostgreSQL's own counts on the connection).
func TestGenericPlanOnlyForPlainFirstPages(t *testing.T) {
	for _, c := range []struct {
		f       apiserver.ProductFilter
		generic bool
	}{
		{apiserver.ProductFilter{}, true},
		{apiserver.ProductFilter{Status: apiserver.StatusPublished, Sort: apiserver.SortNameAsc, Limit: 7}, true},
		{apiserver.ProductFilter{Cursor: "x"}, false},
		{apiserver.ProductFilter{CategoryID: "x"}, false},
		{apiserver.ProductFilter{Query: "x"}, false},
	} {
		if got := genericPlanFits(c.f); got != c.generic {
			t.Errorf("genericPlanFits(%+v) = %v", c.f, got)
		}
	}

	ctx, pool := seededOneConnPool(t, 30)
	cat := &CatalogService{DB: NewDB(pool)}
	plans := func() (generic, custom int64) {
		t.Helper()
		err := pool.QueryRow(context.Background(), "SELECT generic_plans, custom_plans FROM pg_prepared_statements WHERE statement LIKE '-- name: ListProductPage %'").Scan(&generic, &custom)
		if err != nil {
			t.Fatal(err)
		}
		return generic, custom
	}
	f := apiserver.ProductFilter{Status: apiserver.StatusPublished, Limit: 5}
	var cursor string
	for range 3 {
		page, err := cat.AppendProductPageJSON(ctx, nil, f)
		if err != nil {
			t.Fatal(err)
		}
		var p apiserver.ProductPage
		if err := json.Unmarshal(page, &p); err != nil {
			t.Fatal(err)
		}
		cursor = p.NextCursor
	}
	if g, c := plans(); g != 3 || c != 0 {
		t.Fatalf("3 first pages: %d generic and %d custom plans, want 3 and 0", g, c)
	}
	// PostgreSQL's auto mode plans the first five executions of a statement for
	// their arguments, whatever it does later: these must not be generic.
	next := f
	next.Cursor = cursor
	filtered := f
	filtered.Query = "a"
	for _, g := range []apiserver.ProductFilter{next, filtered} {
		if _, err := cat.AppendProductPageJSON(ctx, nil, g); err != nil {
			t.Fatal(err)
		}
	}
	if g, c := plans(); g != 3 || c != 2 {
		t.Fatalf("then a page after a cursor and a name filter: %d generic and %d custom plans, want 3 and 2", g, c)
	}
}

// simpleProtocolPool is a pool on the database of p whose queries use the simple
// protocol, so every result comes in text format.
func simpleProtocolPool(t *testing.T, p *pgxpool.Pool) *pgxpool.Pool {
	t.Helper()
	cfg := p.Config().Copy()
	cfg.ConnConfig.DefaultQueryExecMode = pgx.QueryExecModeSimpleProtocol
	pool, err := pgxpool.NewWithConfig(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	return pool
}

// seededOneConnPool seeds a new database's tenant "shop" with n demo products and
// returns the tenant's context and a pool of exactly one connection, so every
// statement of a test runs on the same one.
func seededOneConnPool(tb testing.TB, n int) (context.Context, *pgxpool.Pool) {
	tb.Helper()
	tdb := testenv.NewDatabase(tb)
	seed := NewDB(tdb.Pool)
	ctx := newTenant(tb, seed, "shop")
	if _, err := demo.Seed(ctx, &CatalogService{DB: seed}, n); err != nil {
		tb.Fatal(err)
	}
	cfg := tdb.Pool.Config().Copy()
	cfg.MinConns, cfg.MaxConns = 1, 1
	pool, err := pgxpool.NewWithConfig(context.Background(), cfg)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(pool.Close)
	return ctx, pool
}

// BenchmarkListProducts is the list cache miss without HTTP: a page of 20 published
// products of the demo catalog, read and encoded as the cache encodes it, over one
// connection. Besides wall time it reports the CPU time per page of this process
// (cpu-µs/op, what the API benchmark counts) and of the PostgreSQL backend serving
// the connection (pg-cpu-µs/op, from /proc; 0 where that is not readable).
func BenchmarkListProducts(b *testing.B) {
	ctx, pool := seededOneConnPool(b, 100)
	var pid int
	if err := pool.QueryRow(context.Background(), "SELECT pg_backend_pid()").Scan(&pid); err != nil {
		b.Fatal(err)
	}
	cat := &CatalogService{DB: NewDB(pool)}
	f := apiserver.ProductFilter{Status: apiserver.StatusPublished, Limit: 20}
	for _, bc := range []struct {
		name   string
		encode func() error
	}{
		{"ListProducts+AppendJSON", func() error {
			page, err := cat.ListProducts(ctx, f)
			if err != nil {
				return err
			}
			_, err = page.AppendJSON(make([]byte, 0, 32<<10))
			return err
		}},
		{"AppendProductPageJSON", func() error { // what a list cache miss does
			_, err := cat.AppendProductPageJSON(ctx, make([]byte, 0, 32<<10), f)
			return err
		}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			cpu0, pg0 := processCPU(), backendCPU(pid)
			for b.Loop() {
				if err := bc.encode(); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64((processCPU()-cpu0).Microseconds())/float64(b.N), "cpu-µs/op")
			b.ReportMetric(float64((backendCPU(pid)-pg0).Microseconds())/float64(b.N), "pg-cpu-µs/op")
		})
	}
}

func processCPU() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// backendCPU is the user and system time of process pid, from /proc/<pid>/stat
// (fields 14 and 15, in clock ticks of 1/100 s on Linux).
func backendCPU(pid int) time.Duration {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	f := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+1:])) // the name may hold spaces
	if len(f) < 13 {
		return 0
	}
	utime, _ := strconv.ParseInt(f[11], 10, 64)
	stime, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(utime+stime) * 10 * time.Millisecond
}

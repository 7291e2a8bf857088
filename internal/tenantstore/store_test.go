package tenantstore_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"

	"github.com/kommerce/kommerce/internal/tenantstore"
	"github.com/kommerce/kommerce/internal/testenv"
)

func newStore(t *testing.T) (*tenantstore.Postgres, *testenv.Database) {
	t.Helper()
	db := testenv.NewDatabase(t)
	return tenantstore.NewPostgres(db.Pool), db
}

// countRows counts tenants rows as the platform sees them (bypassing nothing: the
// test role is not a superuser, so it needs the platform scope like the operator).
func countRows(t *testing.T, db *testenv.Database, slug string) int {
	t.Helper()
	return platformCount(t, db, "SELECT count(*) FROM tenants WHERE slug = $1", slug)
}

func platformCount(t *testing.T, db *testenv.Database, query string, args ...any) int {
	t.Helper()
	ctx := context.Background()
	tx, err := db.Pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(ctx)
	if _, err := tx.Exec(ctx, "SELECT set_config('kommerce.platform', 'on', true)"); err != nil {
		t.Fatal(err)
	}
	var n int
	if err := tx.QueryRow(ctx, query, args...).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func TestEnsureCreatesWithDefaultsAndIsIdempotent(t *testing.T) {
	s, db := newStore(t)
	ctx := context.Background()
	first, err := s.Ensure(ctx, tenantstore.Desired{Slug: "acme", Name: "ACME"})
	if err != nil {
		t.Fatal(err)
	}
	if len(first.ID) != 36 || first.TopicPrefix != "kommerce.acme" || first.IndexPrefix != "kommerce-acme" ||
		first.RedisPrefix != "k:acme:" || first.Status != "active" || first.Name != "ACME" {
		t.Fatalf("created %+v", first)
	}
	again, err := s.Ensure(ctx, tenantstore.Desired{Slug: "acme", Name: "ACME", ID: first.ID})
	if err != nil {
		t.Fatal(err)
	}
	if again != first {
		t.Errorf("second Ensure changed the row: %+v -> %+v", first, again)
	}
	if n := countRows(t, db, "acme"); n != 1 {
		t.Errorf("%d rows for acme, want 1", n)
	}
}

func TestEnsureKeepsChosenValuesAndUpdatesProfile(t *testing.T) {
	s, _ := newStore(t)
	ctx := context.Background()
	want := tenantstore.Desired{
		Slug: "globex", Name: "Globex", ID: "5f0c6a1e-8d2b-4c3a-9e7f-1a2b3c4d5e6f",
		TopicPrefix: "gx", IndexPrefix: "gx-search", RedisPrefix: "gx:",
	}
	rec, err := s.Ensure(ctx, want)
	if err != nil {
		t.Fatal(err)
	}
	if rec.ID != want.ID || rec.TopicPrefix != "gx" || rec.IndexPrefix != "gx-search" || rec.RedisPrefix != "gx:" {
		t.Fatalf("stored %+v, want the chosen values", rec)
	}
	// A spec that names nothing adopts what is stored; name and status follow the spec.
	rec, err = s.Ensure(ctx, tenantstore.Desired{Slug: "globex", Name: "Globex Corp", Suspended: true})
	if err != nil {
		t.Fatal(err)
	}
	if rec.ID != want.ID || rec.TopicPrefix != "gx" || rec.Name != "Globex Corp" || rec.Status != "suspended" {
		t.Fatalf("after update %+v", rec)
	}
}

func TestEnsureConflicts(t *testing.T) {
	s, db := newStore(t)
	ctx := context.Background()
	acme, err := s.Ensure(ctx, tenantstore.Desired{Slug: "acme", Name: "ACME"})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		d    tenantstore.Desired
		want string
	}{
		{"other id for the same slug", tenantstore.Desired{Slug: "acme", Name: "ACME", ID: "00000000-0000-4000-8000-000000000001"}, "tenant id"},
		{"other topic prefix for the same slug", tenantstore.Desired{Slug: "acme", Name: "ACME", TopicPrefix: "acme2"}, "topic prefix"},
		{"other redis prefix for the same slug", tenantstore.Desired{Slug: "acme", Name: "ACME", RedisPrefix: "r:acme:"}, "redis prefix"},
		{"another tenant's id", tenantstore.Desired{Slug: "initech", Name: "Initech", ID: acme.ID}, "tenant id already belongs to another tenant"},
		{"another tenant's topic prefix", tenantstore.Desired{Slug: "initech", Name: "Initech", TopicPrefix: "kommerce.acme"}, "topic prefix already belongs to another tenant"},
		{"another tenant's index prefix", tenantstore.Desired{Slug: "initech", Name: "Initech", IndexPrefix: "kommerce-acme"}, "index prefix already belongs to another tenant"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := s.Ensure(ctx, tt.d)
			if !errors.Is(err, tenantstore.ErrConflict) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Ensure = %v; want ErrConflict mentioning %q", err, tt.want)
			}
		})
	}
	// Nothing was written by the refused calls.
	if n := countRows(t, db, "initech"); n != 0 {
		t.Errorf("a refused Ensure left %d rows", n)
	}
	after, err := s.Ensure(ctx, tenantstore.Desired{Slug: "acme", Name: "ACME"})
	if err != nil || after != acme {
		t.Errorf("acme changed after refused calls: %+v (%v)", after, err)
	}
}

func TestEnsureRejectsValuesTheSchemaRefuses(t *testing.T) {
	s, db := newStore(t)
	for _, d := range []tenantstore.Desired{
		{Slug: "Bad Slug", Name: "x"},
		{Slug: strings.Repeat("x", 41), Name: "x"},    // a DNS label, but longer than a Tenant name may be
		{Slug: "acme", Name: "x", RedisPrefix: "a b"}, // refused by the tenants table's CHECK
	} {
		_, err := s.Ensure(context.Background(), d)
		if !errors.Is(err, tenantstore.ErrInvalid) {
			t.Errorf("Ensure(%+v) = %v; want ErrInvalid", d, err)
		}
	}
	if n := platformCount(t, db, "SELECT count(*) FROM tenants"); n != 0 {
		t.Errorf("%d tenants rows after refused calls, want 0", n)
	}
}

func TestEnsureConcurrentCallsCreateOneRow(t *testing.T) {
	s, db := newStore(t)
	ctx := context.Background()
	ids := make([]string, 8)
	errs := make([]error, 8)
	var wg sync.WaitGroup
	for i := range ids {
		wg.Go(func() {
			rec, err := s.Ensure(ctx, tenantstore.Desired{Slug: "umbrella", Name: "Umbrella"})
			ids[i], errs[i] = rec.ID, err
		})
	}
	wg.Wait()
	for i := range ids {
		if errs[i] != nil || ids[i] != ids[0] {
			t.Fatalf("call %d: id %q err %v; want the same id %q for all", i, ids[i], errs[i], ids[0])
		}
	}
	if n := countRows(t, db, "umbrella"); n != 1 {
		t.Errorf("%d rows, want 1", n)
	}
}

func TestDelete(t *testing.T) {
	s, db := newStore(t)
	ctx := context.Background()
	rec, err := s.Ensure(ctx, tenantstore.Desired{Slug: "acme", Name: "ACME"})
	if err != nil {
		t.Fatal(err)
	}
	// The tenant's data goes with it (outbox references tenants ON DELETE CASCADE).
	tx, err := db.Pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	_, err = tx.Exec(ctx, "SELECT set_config('kommerce.tenant_id', $1, true)", rec.ID)
	if err == nil {
		_, err = tx.Exec(ctx, "INSERT INTO outbox (tenant_id, aggregate_type, aggregate_id, event_type, payload) VALUES ($1, 'product', 'p1', 'product.created', '{}')", rec.ID)
	}
	if err != nil {
		t.Fatal(err)
	}
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}

	if n := platformCount(t, db, "SELECT count(*) FROM outbox"); n != 1 {
		t.Fatalf("%d outbox rows before the delete, want 1", n)
	}
	if err := s.Delete(ctx, "acme", "00000000-0000-4000-8000-000000000001"); err != nil {
		t.Fatal(err)
	}
	if n := countRows(t, db, "acme"); n != 1 {
		t.Fatalf("delete with another id removed the row")
	}
	if err := s.Delete(ctx, "acme", rec.ID); err != nil {
		t.Fatal(err)
	}
	if n := countRows(t, db, "acme"); n != 0 {
		t.Fatalf("row still there after delete")
	}
	if n := platformCount(t, db, "SELECT count(*) FROM outbox"); n != 0 {
		t.Errorf("%d outbox rows survived the tenant", n)
	}
	if err := s.Delete(ctx, "acme", rec.ID); err != nil {
		t.Errorf("deleting a deleted tenant: %v", err)
	}
	// Without a known id the slug decides.
	if _, err := s.Ensure(ctx, tenantstore.Desired{Slug: "acme", Name: "ACME"}); err != nil {
		t.Fatal(err)
	}
	if err := s.Delete(ctx, "acme", ""); err != nil {
		t.Fatal(err)
	}
	if n := countRows(t, db, "acme"); n != 0 {
		t.Errorf("delete by slug left the row")
	}
}

// TestEnsureKeepsTheRedisPrefixAnAdoptingTenantRecorded: a Tenant resource that adopted
// a CLI-made tenant recorded the CLI's old default Redis prefix, and migration 00009
// has since moved the row to the shared default. The resource cannot change its
// prefix, so Ensure puts the row back to it instead of reporting a conflict; any other
// differing prefix still is one.
func TestEnsureKeepsTheRedisPrefixAnAdoptingTenantRecorded(t *testing.T) {
	s, _ := newStore(t)
	ctx := context.Background()
	moved, err := s.Ensure(ctx, tenantstore.Desired{Slug: "acme", Name: "ACME"}) // the row as 00009 leaves it
	if err != nil {
		t.Fatal(err)
	}
	if moved.RedisPrefix != "k:acme:" {
		t.Fatalf("redis prefix %q, want the default k:acme:", moved.RedisPrefix)
	}
	rec, err := s.Ensure(ctx, tenantstore.Desired{Slug: "acme", Name: "ACME", ID: moved.ID,
		TopicPrefix: moved.TopicPrefix, IndexPrefix: moved.IndexPrefix, RedisPrefix: "kommerce:acme:"})
	if err != nil {
		t.Fatalf("Ensure with the recorded old prefix: %v", err)
	}
	if rec.RedisPrefix != "kommerce:acme:" || rec.ID != moved.ID {
		t.Errorf("after Ensure: %+v; want the recorded prefix kommerce:acme: on the same row", rec)
	}
	if _, err := s.Ensure(ctx, tenantstore.Desired{Slug: "acme", Name: "ACME", RedisPrefix: "k:acme:"}); !errors.Is(err, tenantstore.ErrConflict) {
		t.Errorf("Ensure with the default after the row went back: %v; want ErrConflict", err)
	}
	if _, err := s.Ensure(ctx, tenantstore.Desired{Slug: "globex", Name: "Globex", RedisPrefix: "kommerce:acme:"}); !errors.Is(err, tenantstore.ErrConflict) {
		t.Errorf("another tenant asking for acme's old prefix: %v; want ErrConflict", err)
	}
}

// A storefront's channels become its rows in storefront_hosts, which the ingest
// pipeline reads to index into each storefront's search index; a hostname another
// tenant holds is a conflict, and nothing of the call is stored.
func TestSetStorefrontHosts(t *testing.T) {
	s, db := newStore(t)
	ctx := context.Background()
	acme, err := s.Ensure(ctx, tenantstore.Desired{Slug: "acme", Name: "ACME"})
	if err != nil {
		t.Fatal(err)
	}
	other, err := s.Ensure(ctx, tenantstore.Desired{Slug: "other", Name: "Other"})
	if err != nil {
		t.Fatal(err)
	}
	hosts := func(tenantID, storefront string) int {
		return platformCount(t, db, "SELECT count(*) FROM storefront_hosts WHERE tenant_id = $1 AND storefront = $2", tenantID, storefront)
	}
	if err := s.SetStorefrontHosts(ctx, acme.ID, "web", []string{"shop.acme.example", "uk.shop.acme.example"}); err != nil {
		t.Fatal(err)
	}
	if err := s.SetStorefrontHosts(ctx, acme.ID, "web", []string{"shop.acme.example", "uk.shop.acme.example"}); err != nil {
		t.Fatalf("again: %v", err)
	}
	if n := hosts(acme.ID, "web"); n != 2 {
		t.Fatalf("%d hosts of acme/web, want 2", n)
	}
	// A channel removed is unregistered; one moved to another storefront follows it.
	if err := s.SetStorefrontHosts(ctx, acme.ID, "web", []string{"shop.acme.example"}); err != nil {
		t.Fatal(err)
	}
	if err := s.SetStorefrontHosts(ctx, acme.ID, "outlet", []string{"shop.acme.example"}); err != nil {
		t.Fatal(err)
	}
	if a, b := hosts(acme.ID, "web"), hosts(acme.ID, "outlet"); a != 0 || b != 1 {
		t.Fatalf("web %d outlet %d, want 0 and 1", a, b)
	}
	err = s.SetStorefrontHosts(ctx, other.ID, "web", []string{"b.other.example", "shop.acme.example"})
	if !errors.Is(err, tenantstore.ErrConflict) || !strings.Contains(err.Error(), "hostname") {
		t.Fatalf("another tenant's hostname: %v, want ErrConflict naming the hostname", err)
	}
	if n := hosts(other.ID, "web"); n != 0 {
		t.Fatalf("%d hosts of other/web stored by the refused call", n)
	}
}

func TestPlanWritesNothingAndEnsureCreatesThePlannedRow(t *testing.T) {
	s, db := newStore(t)
	ctx := context.Background()
	plan, err := s.Plan(ctx, tenantstore.Desired{Slug: "acme", Name: "ACME", IndexPrefix: "acme-search"})
	if err != nil {
		t.Fatal(err)
	}
	if len(plan.ID) != 36 || plan.TopicPrefix != "kommerce.acme" || plan.IndexPrefix != "acme-search" || plan.RedisPrefix != "k:acme:" {
		t.Fatalf("planned %+v", plan)
	}
	if n := countRows(t, db, "acme"); n != 0 {
		t.Fatalf("Plan left %d rows", n)
	}
	// Two plans draw two ids: nothing is reserved.
	if again, err := s.Plan(ctx, tenantstore.Desired{Slug: "acme", Name: "ACME"}); err != nil || again.ID == plan.ID {
		t.Errorf("second plan %+v (%v): want another id", again, err)
	}
	rec, err := s.Ensure(ctx, tenantstore.Desired{Slug: "acme", Name: "ACME",
		ID: plan.ID, TopicPrefix: plan.TopicPrefix, IndexPrefix: plan.IndexPrefix, RedisPrefix: plan.RedisPrefix})
	if err != nil {
		t.Fatal(err)
	}
	if rec.ID != plan.ID || rec.TopicPrefix != plan.TopicPrefix || rec.IndexPrefix != plan.IndexPrefix || rec.RedisPrefix != plan.RedisPrefix {
		t.Errorf("created %+v, planned %+v", rec, plan)
	}
	// A stored row is planned as it is; a new name is not written.
	stored, err := s.Plan(ctx, tenantstore.Desired{Slug: "acme", Name: "ACME Corp"})
	if err != nil || stored.ID != rec.ID || stored.Name != "ACME Corp" {
		t.Errorf("plan of the stored row %+v (%v)", stored, err)
	}
	if got, err := s.Ensure(ctx, tenantstore.Desired{Slug: "acme", Name: "ACME", ID: rec.ID}); err != nil || got != rec {
		t.Errorf("row after the plan %+v (%v), want %+v unchanged", got, err, rec)
	}
}

func TestPlanReportsWhatEnsureWouldRefuse(t *testing.T) {
	s, db := newStore(t)
	ctx := context.Background()
	acme, err := s.Ensure(ctx, tenantstore.Desired{Slug: "acme", Name: "ACME"})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		d    tenantstore.Desired
		want error
	}{
		{"other id for the same slug", tenantstore.Desired{Slug: "acme", ID: "00000000-0000-4000-8000-000000000001"}, tenantstore.ErrConflict},
		{"another tenant's id", tenantstore.Desired{Slug: "initech", ID: acme.ID}, tenantstore.ErrConflict},
		{"another tenant's default topic prefix", tenantstore.Desired{Slug: "initech", TopicPrefix: "kommerce.acme"}, tenantstore.ErrConflict},
		{"a slug that is no DNS label", tenantstore.Desired{Slug: "Not_A_Label"}, tenantstore.ErrInvalid},
		{"a prefix the schema refuses", tenantstore.Desired{Slug: "initech", RedisPrefix: "has space"}, tenantstore.ErrInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.d.Name = "x"
			if _, err := s.Plan(ctx, tt.d); !errors.Is(err, tt.want) {
				t.Errorf("Plan = %v, want %v", err, tt.want)
			}
		})
	}
	if n := countRows(t, db, "initech"); n != 0 {
		t.Errorf("a refused Plan left %d rows", n)
	}
}

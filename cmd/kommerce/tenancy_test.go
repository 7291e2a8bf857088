package main

import (
	"context"
	"regexp"
	"strings"
	"testing"

	"github.com/kommerce/kommerce/internal/tenancy"
	"github.com/kommerce/kommerce/internal/tenantstore"
	"github.com/kommerce/kommerce/internal/testenv"
)

// uuidV4 is what gen_random_uuid() returns.
var uuidV4 = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)

// namingRule is a tenants row with its slug replaced by <slug> everywhere, so two
// tenants named by the same rule have equal rules.
type namingRule struct {
	ID, Status, Topic, Index, Redis string
}

func ruleOf(slug, id, status, topic, index, redis string) namingRule {
	generic := func(s string) string { return strings.ReplaceAll(s, slug, "<slug>") }
	idRule := "not a random UUID: " + id
	if uuidV4.MatchString(id) {
		idRule = "random UUID"
	}
	return namingRule{ID: idRule, Status: status, Topic: generic(topic), Index: generic(index), Redis: generic(redis)}
}

// TestCLIAndOperatorNameTenantsAlike creates one tenant with `kommerce admin
// create-tenant` and one the way the operator's Tenant controller does (tenantstore's
// Ensure with the resource's name and no isolation settings) in one database, and
// checks that every name the row holds follows the same rule — the one of
// internal/tenancy — and that both paths refuse the same slugs.
func TestCLIAndOperatorNameTenantsAlike(t *testing.T) {
	ctx := context.Background()
	db := testenv.NewDatabase(t)
	env := map[string]string{"KOMMERCE_DATABASE_URL": db.URL, "KOMMERCE_LOG_LEVEL": "warn"}
	if code, _, stderr := invokeStdin(t, env, "", "admin", "create-tenant", "made-by-cli"); code != 0 {
		t.Fatalf("admin create-tenant: exit %d, stderr %s", code, stderr)
	}
	store := tenantstore.NewPostgres(db.Pool)
	if _, err := store.Ensure(ctx, tenantstore.Desired{Slug: "made-by-operator", Name: "made-by-operator"}); err != nil {
		t.Fatal(err)
	}

	rules := tenantRules(t, db)
	for slug, r := range rules {
		if want := tenancy.DefaultPrefixes(slug); r.prefixes != want {
			t.Errorf("tenant %s has prefixes %+v; tenancy.DefaultPrefixes gives %+v", slug, r.prefixes, want)
		}
	}
	cli, op := rules["made-by-cli"].rule, rules["made-by-operator"].rule
	if cli == (namingRule{}) || op == (namingRule{}) {
		t.Fatalf("tenants rows: %+v; want made-by-cli and made-by-operator", rules)
	}
	if cli != op {
		t.Errorf("the CLI and the operator name tenants differently:\n CLI      %+v\n operator %+v", cli, op)
	}
	if cli.ID != "random UUID" || cli.Status != "active" {
		t.Errorf("CLI tenant: %+v; want a random UUID and status active", cli)
	}

	for _, slug := range []string{strings.Repeat("x", tenancy.MaxSlugLength+1), "Not_A_Slug"} {
		code, _, stderr := invokeStdin(t, env, "", "admin", "create-tenant", slug)
		_, err := store.Ensure(ctx, tenantstore.Desired{Slug: slug, Name: slug})
		if code == 0 || err == nil {
			t.Errorf("slug %q: CLI exit %d (%s), operator store %v; want both to refuse it", slug, code, strings.TrimSpace(stderr), err)
		}
	}
	cliLong, opLong := strings.Repeat("x", tenancy.MaxSlugLength), strings.Repeat("y", tenancy.MaxSlugLength)
	code, _, stderr := invokeStdin(t, env, "", "admin", "create-tenant", cliLong)
	if _, err := store.Ensure(ctx, tenantstore.Desired{Slug: opLong, Name: opLong}); code != 0 || err != nil {
		t.Errorf("slugs of %d characters: CLI exit %d (%s), operator store %v; want both to accept them", tenancy.MaxSlugLength, code, strings.TrimSpace(stderr), err)
	}
}

// tenantRow is one tenants row: its naming rule and its prefixes.
type tenantRow struct {
	rule     namingRule
	prefixes tenancy.Prefixes
}

// tenantRules reads every tenants row of db, by slug.
func tenantRules(t *testing.T, db *testenv.Database) map[string]tenantRow {
	t.Helper()
	ctx := context.Background()
	tx, err := db.Pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = tx.Rollback(ctx) }()
	if _, err := tx.Exec(ctx, "SELECT set_config('kommerce.platform', 'on', true)"); err != nil {
		t.Fatal(err)
	}
	rows, err := tx.Query(ctx, "SELECT slug, id::text, status, topic_prefix, index_prefix, redis_prefix FROM tenants")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	out := map[string]tenantRow{}
	for rows.Next() {
		var slug, id, status string
		var p tenancy.Prefixes
		if err := rows.Scan(&slug, &id, &status, &p.Topic, &p.Index, &p.Redis); err != nil {
			t.Fatal(err)
		}
		out[slug] = tenantRow{rule: ruleOf(slug, id, status, p.Topic, p.Index, p.Redis), prefixes: p}
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

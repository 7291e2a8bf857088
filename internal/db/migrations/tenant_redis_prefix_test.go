package migrations_test

import (
	"context"
	"testing"

	"github.com/kommerce/kommerce/internal/tenancy"
)

// TestTenantRedisPrefixRepair migrates tenants rows written before the CLI and the
// operator shared one default (00008) to 00009: the rows the CLI gave its old default
// 'kommerce:<slug>:' get the default of internal/tenancy; chosen prefixes, rows that
// already have the default, and a row whose default another tenant holds stay as they
// were. Down and up again change nothing more.
func TestTenantRedisPrefixRepair(t *testing.T) {
	ctx := context.Background()
	db, p := migratedTo(t, 8)
	tx := platformTx(t, db)
	_, err := tx.ExecContext(ctx, `
		INSERT INTO tenants (slug, name, topic_prefix, index_prefix, redis_prefix) VALUES
			('cli',      'made by the CLI',                     'kommerce.cli',      'kommerce-cli',      'kommerce:cli:'),
			('cli-2',    'made by the CLI too',                 'kommerce.cli-2',    'kommerce-cli-2',    'kommerce:cli-2:'),
			('operator', 'made by the operator',                'kommerce.operator', 'kommerce-operator', 'k:operator:'),
			('custom',   'chose its prefix',                    'custom',            'custom',            'custom:'),
			('mixed',    'chose another slug''s old default',   'mixed',             'mixed',             'kommerce:other:'),
			('blocked',  'old default, new one taken',          'kommerce.blocked',  'kommerce-blocked',  'kommerce:blocked:'),
			('squatter', 'chose what blocked would move to',    'squatter',          'squatter',          'k:blocked:')`)
	if err != nil {
		_ = tx.Rollback()
		t.Fatal(err)
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	want := []string{
		"blocked kommerce:blocked:",
		"cli " + tenancy.DefaultPrefixes("cli").Redis,
		"cli-2 " + tenancy.DefaultPrefixes("cli-2").Redis,
		"custom custom:",
		"mixed kommerce:other:",
		"operator k:operator:",
		"squatter k:blocked:",
	}
	const query = `SELECT slug, redis_prefix FROM tenants ORDER BY slug`

	if _, err := p.UpTo(ctx, 9); err != nil {
		t.Fatal(err)
	}
	same(t, "redis prefixes after 00009", rows(t, db, query), want)
	same(t, "topic and index prefixes after 00009", rows(t, db, `SELECT slug, topic_prefix, index_prefix FROM tenants WHERE slug LIKE 'cli%' ORDER BY slug`),
		[]string{"cli kommerce.cli kommerce-cli", "cli-2 kommerce.cli-2 kommerce-cli-2"})

	if _, err := p.DownTo(ctx, 8); err != nil {
		t.Fatal(err)
	}
	if _, err := p.UpTo(ctx, 9); err != nil {
		t.Fatal(err)
	}
	same(t, "redis prefixes after down and up again", rows(t, db, query), want)
}

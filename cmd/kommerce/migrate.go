package main

import (
	"context"
	"fmt"

	"github.com/kommerce/kommerce/internal/config"
	"github.com/kommerce/kommerce/internal/db/migrations"
)

// defaultDatabaseURL is the local server hack/services.sh starts; its password is
// a well-known development value, not a secret.
const defaultDatabaseURL = "postgres://kommerce:kommerce@127.0.0.1:55432/kommerce?sslmode=disable" //nolint:gosec // local development default

func databaseURLFlag(set *config.Set, p *string) {
	set.String(p, "database-url", "KOMMERCE_DATABASE_URL", defaultDatabaseURL,
		"PostgreSQL URL (the default is the server hack/services.sh starts)",
		config.Secret(), config.Check(config.URL(false, "postgres", "postgresql")))
}

func runMigrate(ctx context.Context, e *env) error {
	set := config.NewSet("migrate up|down|status", `Apply, roll back or list the PostgreSQL schema migrations embedded in this binary.

  up      apply every pending migration (safe to run from several replicas at once)
  down    roll back the most recent migration
  status  list every migration and whether it is applied`, e.getenv)
	var lc logConfig
	var dbURL string
	lc.register(set)
	databaseURLFlag(set, &dbURL)
	rest, err := set.Parse(e.args, e.stdout)
	if err != nil {
		return err
	}
	if len(rest) != 1 {
		return config.Usagef("migrate needs exactly one of up, down, status (got %d arguments)", len(rest))
	}
	log := lc.logger(e.stderr)
	db, err := migrations.Open(dbURL)
	if err != nil {
		return err
	}
	defer db.Close()
	if err := db.PingContext(ctx); err != nil {
		return fmt.Errorf("connect to PostgreSQL: %w", err)
	}
	switch rest[0] {
	case "up":
		return migrations.Up(ctx, db, log)
	case "down":
		return migrations.Down(ctx, db, log)
	case "status":
		return migrations.Status(ctx, db, e.stdout)
	default:
		return config.Usagef("unknown migrate action %q: accepted values are up, down, status", rest[0])
	}
}

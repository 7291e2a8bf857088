package main

import (
	"context"

	"github.com/kommerce/kommerce/internal/config"
)

func runAdmin(_ context.Context, e *env) error {
	set := config.NewSet("admin", "Bootstrap without a cluster: create tenants and users, rotate keys.", e.getenv)
	var lc logConfig
	var dbURL string
	lc.register(set)
	databaseURLFlag(set, &dbURL)
	if _, err := set.Parse(e.args, e.stdout); err != nil {
		return err
	}
	return notBuilt("kommerce admin", "tenant and user bootstrap is not written yet")
}

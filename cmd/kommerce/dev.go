package main

import (
	"context"

	"github.com/kommerce/kommerce/internal/config"
)

func runDev(_ context.Context, e *env) error {
	set := config.NewSet("dev", "Run everything in one process on embedded defaults, seeded with a demo catalog.", e.getenv)
	var c serverConfig
	var dataDir string
	c.register(set, ":8080")
	set.String(&dataDir, "data-dir", "KOMMERCE_DATA_DIR", ".kommerce", "local state for embedded defaults (Bleve index, models)")
	if _, err := set.Parse(e.args, e.stdout); err != nil {
		return err
	}
	return notBuilt("kommerce dev", "the all-in-one mode is not written yet; `make run` starts the services and `kommerce api`")
}

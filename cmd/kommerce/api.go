package main

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/redis/go-redis/v9"

	"github.com/kommerce/kommerce/internal/config"
	"github.com/kommerce/kommerce/internal/server"
)

// apiConfig is the settings of `kommerce api`.
type apiConfig struct {
	serverConfig
	databaseURL string
	redisURL    string
}

func runAPI(ctx context.Context, e *env) error {
	set := config.NewSet("api", `Serve the commerce REST API under /api/v1, with /healthz, /readyz and /metrics.
/readyz answers 200 only while PostgreSQL (and Redis, when configured) answer.`, e.getenv)
	var c apiConfig
	c.register(set, ":8080")
	databaseURLFlag(set, &c.databaseURL)
	set.String(&c.redisURL, "redis-url", "KOMMERCE_REDIS_URL", "", "Redis URL; unset means in-process cache and limiter (single replica only)",
		config.Secret(), config.Check(config.URL(true, "redis", "rediss")))
	if _, err := set.Parse(e.args, e.stdout); err != nil {
		return err
	}
	log := c.logger(e.stderr)

	pool, err := pgxpool.New(ctx, c.databaseURL)
	if err != nil {
		return fmt.Errorf("database: %w", err)
	}
	defer pool.Close()
	opts := c.options("api", log)
	opts.Checks = append(opts.Checks, pingCheck("postgres", pool.Ping))
	if c.redisURL != "" {
		ro, err := redis.ParseURL(c.redisURL)
		if err != nil {
			return config.Usagef("invalid --redis-url / KOMMERCE_REDIS_URL: %v", err)
		}
		rdb := redis.NewClient(ro)
		defer rdb.Close()
		opts.Checks = append(opts.Checks, pingCheck("redis", func(ctx context.Context) error { return rdb.Ping(ctx).Err() }))
	}
	return server.New(opts).Run(ctx)
}

package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"strings"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/redis/go-redis/v9"
	"golang.org/x/sync/errgroup"

	"github.com/kommerce/kommerce/apiserver"
	"github.com/kommerce/kommerce/apiserver/demo"
	"github.com/kommerce/kommerce/apiserver/discovery"
	"github.com/kommerce/kommerce/apiserver/postgres"
	"github.com/kommerce/kommerce/apiserver/stack"
	"github.com/kommerce/kommerce/ingest/pipeline"
	ingestpg "github.com/kommerce/kommerce/ingest/postgres"
	"github.com/kommerce/kommerce/internal/config"
	"github.com/kommerce/kommerce/internal/db/migrations"
	"github.com/kommerce/kommerce/internal/kafkadev"
	"github.com/kommerce/kommerce/internal/search"
	"github.com/kommerce/kommerce/internal/search/bleve"
	"github.com/kommerce/kommerce/internal/server"
	"github.com/kommerce/kommerce/internal/tracing"
)

// devConfig is the settings of `kommerce dev`.
type devConfig struct {
	serverConfig
	limits        limitsConfig
	discovery     discoveryConfig
	commerce      commerceConfig
	payments      paymentConfig
	jobsMedia     jobsMediaConfig
	databaseURL   string
	redisURL      string
	noDemo        bool
	demoTenant    string
	demoProducts  int
	adminPassword string
	shopperPass   string
	secretsKey    string
	backoffice    backofficeConfig  // e-mail notifier and outbound webhooks (backoffice.go)
	tracing       *tracing.Provider // nil unless OTEL_* variables turn tracing on
}

func runDev(ctx context.Context, e *env) error {
	set := config.NewSet("dev", `Run the platform in one process on embedded defaults: migrations, the commerce API
(search, behaviour events and recommendations included), the outbox relay and the
search indexer, seeded with a demo tenant and catalog. PostgreSQL is the one service
it needs (hack/services.sh up postgres). Kafka is franz-go's in-process cluster and
search is Bleve, both keeping their state under --data-dir, unless
--kafka-brokers / --elasticsearch-url name real ones; the cache and rate limiter are
in process unless --redis-url is set. Recommendations come from a model trained at
first start over the demo catalog (ALS on synthetic shoppers with one taste per
category; cached under <data-dir>/models) and served by an in-process inference server
on a loopback port with the pure-Go runtime, unless --inference-url names a server.
/readyz answers 200 once the demo is seeded, the search index holds the catalog and
the model is loaded (a model that fails to train is logged and popularity answers).`, e.getenv)
	var c devConfig
	c.register(set, defaultAPIAddr)
	databaseURLFlag(set, &c.databaseURL)
	set.String(&c.redisURL, "redis-url", "KOMMERCE_REDIS_URL", "", "Redis URL; unset means in-process cache and limiter",
		config.Secret(), config.Check(config.URL(true, "redis", "rediss")))
	c.limits.register(set)
	c.discovery.register(set, "comma-separated Kafka brokers; unset means the in-process cluster (state in <data-dir>/kafka)")
	c.commerce.register(set)
	c.payments.register(set) // Stripe only when configured: --stripe-api-url (stripe-mock) and keys
	c.jobsMedia.register(set, "unset uses <data-dir>/media")
	secretsKeyFlag(set, &c.secretsKey, "created (0600) on first start if missing; unset uses <data-dir>/secrets.key")
	c.backoffice.register(set)
	set.Bool(&c.noDemo, "no-demo", "KOMMERCE_NO_DEMO", false, "do not create the demo tenant, users and catalog")
	set.String(&c.demoTenant, "demo-tenant", "KOMMERCE_DEMO_TENANT", "demo", "slug of the demo tenant")
	set.Int(&c.demoProducts, "demo-products", "KOMMERCE_DEMO_PRODUCTS", 1000, "number of demo products", config.Check(config.Positive))
	set.String(&c.adminPassword, "demo-admin-password", "KOMMERCE_DEMO_ADMIN_PASSWORD", "demo-admin-password", "password of admin@<tenant>.test", config.Secret())
	set.String(&c.shopperPass, "demo-shopper-password", "KOMMERCE_DEMO_SHOPPER_PASSWORD", "demo-shopper-password", "password of shopper@<tenant>.test", config.Secret())
	if _, err := set.Parse(e.args, e.stdout); err != nil {
		return err
	}
	if !apiserver.ValidSlug(c.demoTenant) {
		return config.Usagef("invalid --demo-tenant / KOMMERCE_DEMO_TENANT %q: want a tenant slug", c.demoTenant)
	}
	// The demo users are checked as registration would check them, before any
	// service is touched: a refused demo password is a usage error, not a failed seed.
	for _, u := range c.demoUsers() {
		in := u
		in.TenantSlug = c.demoTenant
		if err := in.Validate(); err != nil {
			return config.Usagef("demo password of %s refused: %s", u.Email, apiserver.ErrorMessage(err))
		}
	}
	log := c.logger(e.stderr)
	tp, stopTracing, err := startTracing(e, "dev", log)
	if err != nil {
		return err
	}
	defer stopTracing()
	c.tracing = tp
	return c.run(ctx, log, e.stdout)
}

// demoUsers lists the accounts the demo tenant is seeded with.
func (c *devConfig) demoUsers() []apiserver.UserCreate {
	return []apiserver.UserCreate{
		{Email: "admin@" + c.demoTenant + ".test", Name: "Demo Admin", Password: c.adminPassword, Role: apiserver.RoleAdmin},
		{Email: "shopper@" + c.demoTenant + ".test", Name: "Demo Shopper", Password: c.shopperPass, Role: apiserver.RoleCustomer},
	}
}

func (c *devConfig) run(ctx context.Context, log *slog.Logger, stdout io.Writer) error {
	pool, err := tracing.NewPool(ctx, c.databaseURL)
	if err != nil {
		return fmt.Errorf("database: %w", err)
	}
	defer pool.Close()
	pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	err = pool.Ping(pctx)
	cancel()
	if err != nil {
		return fmt.Errorf("connect to PostgreSQL (start it with hack/services.sh up postgres): %w", err)
	}
	if err := migrate(ctx, c.databaseURL, log); err != nil {
		return err
	}
	// dev makes its key file on first use, wherever it is named: a laptop's database
	// outlives any one checkout, so make run names a file beside the database
	// (hack/run.sh) rather than one in the data dir.
	localKey := c.secretsKey
	if localKey == "" {
		localKey = filepath.Join(c.discovery.search.dataDir, "secrets.key")
	}
	box, err := loadSecretsKey("", localKey)
	if err != nil {
		return err
	}
	if err := sealStoredSecrets(ctx, pool, box, localKey, log); err != nil {
		return err
	}

	parts, closeParts, err := c.openParts(log)
	if err != nil {
		return err
	}
	defer closeParts()

	var defaults discovery.SettingsSource
	var demoModel *devInference
	if !c.noDemo {
		defaults = demoSearchSettings(c.demoTenant)
		if c.discovery.inferenceURL == "" {
			if demoModel, err = startDevInference(log.With("component", "inference")); err != nil {
				return err
			}
			defer demoModel.Close()
			c.discovery.inferenceURL = demoModel.url
		}
	}
	disc, checks, closeDisc, err := c.discovery.options(ctx, log, parts, defaults)
	if err != nil {
		return err
	}
	defer closeDisc()

	commerce, err := c.commerce.options(ctx)
	if err != nil {
		return err
	}
	commerce.Payments = c.payments.options()
	opts := c.options("dev", log)
	stopProfiling, err := c.startProfiling(log)
	if err != nil {
		return err
	}
	defer stopProfiling()
	if err := c.tracing.Register(opts.Registry); err != nil {
		return err
	}
	so := stack.Options{Pool: pool, Logger: log, Registry: opts.Registry, Discovery: disc, Commerce: commerce, Secrets: box, WebhookGuard: c.backoffice.guard()}
	c.limits.apply(&so)
	jm, where, err := c.jobsMedia.options(ctx, filepath.Join(c.discovery.search.dataDir, "media"))
	if err != nil {
		return err
	}
	so.JobsMedia = jm
	logObjectStore(log, where)
	if c.redisURL != "" {
		rdb, err := devRedis(c.redisURL)
		if err != nil {
			return err
		}
		defer rdb.Close()
		so.Redis = rdb
		checks = append(checks, pingCheck("redis", func(ctx context.Context) error { return rdb.Ping(ctx).Err() }))
	}
	st, err := stack.New(so)
	if err != nil {
		return err
	}

	// Ready only once the demo exists and the search index holds the catalog, so the
	// examples `make run` prints work as soon as /readyz says so.
	var started atomic.Bool
	opts.Handler = st.Handler
	opts.Checks = append([]server.Check{
		pingCheck("postgres", pool.Ping),
		{Name: "startup", Fn: func(context.Context) error {
			if !started.Load() {
				return errors.New("seeding the demo and filling the search index")
			}
			return nil
		}},
	}, checks...)

	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { return server.New(opts).Run(gctx) })
	g.Go(func() error { st.Sweep(gctx, c.commerce.sweepInterval, log); return nil })
	g.Go(func() error { st.RunBackOffice(gctx, log); return nil })
	g.Go(func() error {
		return pipeline.Run(gctx, pipeline.Config{Pool: pool, Brokers: parts.brokers, Search: parts.backend,
			Partitions: c.discovery.partitions, Replication: c.discovery.replication,
			// A tenant made at start (the demo) is consumed within seconds, not half a minute.
			TopicRefresh: 3 * time.Second}, log.With("component", "ingest"))
	})
	c.backoffice.start(gctx, g, pool, parts.brokers, c.discovery.partitions, c.discovery.replication, 3*time.Second, box, log.With("component", "ingest"))
	g.Go(func() error {
		if !c.noDemo {
			if err := c.seed(gctx, st, log, stdout); err != nil {
				return err
			}
		}
		if err := backfill(gctx, pool, st.DB, parts.backend, log); err != nil {
			return err
		}
		if demoModel != nil {
			err := demoModel.loadDemoModel(gctx, st.Tenants, &postgres.CatalogService{DB: st.DB}, c.demoTenant, c.discovery.recsModel, filepath.Join(c.discovery.search.dataDir, "models"))
			if err != nil && gctx.Err() == nil {
				log.Warn("no demo recommendation model; recommendations come from popularity", "error", err)
			}
		}
		started.Store(true)
		log.Info("kommerce dev is ready", "addr", c.addr, "kafka", strings.Join(parts.brokers, ","), "search", parts.backend.Name())
		return nil
	})
	return g.Wait()
}

// openParts starts the embedded Kafka and opens Bleve unless real ones are
// configured; close stops what was started here.
func (c *devConfig) openParts(log *slog.Logger) (discoveryParts, func(), error) {
	var p discoveryParts
	var closers []func()
	closeAll := func() {
		for i := len(closers) - 1; i >= 0; i-- {
			closers[i]()
		}
	}
	p.brokers = splitBrokers(c.discovery.brokers)
	if len(p.brokers) == 0 {
		k, err := kafkadev.Start(kafkadev.Options{DataDir: filepath.Join(c.discovery.search.dataDir, "kafka")})
		if err != nil {
			return p, nil, err
		}
		closers = append(closers, k.Close)
		p.brokers = k.Brokers()
		log.Info("in-process Kafka started", "brokers", strings.Join(p.brokers, ","))
	}
	var err error
	if c.discovery.search.esURL != "" {
		p.backend, err = c.discovery.search.open()
	} else {
		p.backend, err = bleve.Open(filepath.Join(c.discovery.search.dataDir, "search"))
	}
	if err != nil {
		closeAll()
		return p, nil, fmt.Errorf("search: %w", err)
	}
	b := p.backend
	closers = append(closers, func() { _ = b.Close() })
	return p, closeAll, nil
}

func migrate(ctx context.Context, url string, log *slog.Logger) error {
	db, err := migrations.Open(url)
	if err != nil {
		return err
	}
	defer db.Close()
	return migrations.Up(ctx, db, log)
}

func devRedis(url string) (*redis.Client, error) {
	ro, err := redis.ParseURL(url)
	if err != nil {
		return nil, config.Usagef("invalid --redis-url / KOMMERCE_REDIS_URL: %v", err)
	}
	ro.DialTimeout, ro.ReadTimeout, ro.WriteTimeout = time.Second, 500*time.Millisecond, 500*time.Millisecond
	return redis.NewClient(ro), nil
}

// seed creates the demo tenant with a signing key, its admin and shopper, maps
// localhost to it and fills its catalog; each step leaves what exists alone, so a
// second start changes nothing.
func (c *devConfig) seed(ctx context.Context, st *stack.Stack, log *slog.Logger, stdout io.Writer) error {
	t, err := st.Tenants.CreateTenant(ctx, apiserver.TenantCreate{Slug: c.demoTenant, Name: "Demo Shop"})
	if apiserver.ErrorCode(err) == apiserver.ErrConflict {
		var r *apiserver.Resolved
		if r, err = st.Tenants.TenantBySlug(ctx, c.demoTenant); err == nil {
			t = r.Tenant
		}
	}
	if err != nil {
		return fmt.Errorf("demo tenant: %w", err)
	}
	if _, err := st.Keys.SigningKey(ctx, t.ID); err != nil {
		if _, err := st.Keys.Rotate(ctx, t.ID, 24*time.Hour); err != nil {
			return fmt.Errorf("demo tenant key: %w", err)
		}
	}
	tctx := apiserver.NewContextWithTenant(ctx, t)
	for _, u := range c.demoUsers() {
		if _, err := st.Users.CreateUser(tctx, u); err != nil && apiserver.ErrorCode(err) != apiserver.ErrConflict {
			return fmt.Errorf("demo user %s: %w", u.Email, err)
		}
	}
	// Requests to localhost need no X-Kommerce-Tenant: the host maps to the demo storefront.
	for _, host := range []string{"localhost"} {
		err := st.Tenants.AddStorefrontHost(ctx, apiserver.StorefrontHost{TenantID: t.ID, Hostname: host,
			CORSOrigins: []string{"http://localhost:3000", "http://127.0.0.1:3000"}})
		if err != nil && apiserver.ErrorCode(err) != apiserver.ErrConflict {
			return fmt.Errorf("demo host %s: %w", host, err)
		}
	}
	n, err := demo.Seed(tctx, &postgres.CatalogService{DB: st.DB}, c.demoProducts)
	if err != nil {
		return err
	}
	log.Info("demo catalog seeded", "tenant", c.demoTenant, "created", n, "wanted", c.demoProducts)
	if err := seedCommerce(tctx, st, log, c.demoProducts); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "demo catalog of tenant %s: %d products created, %d already there\n", c.demoTenant, n, c.demoProducts-n)
	return nil
}

// backfill merges every tenant's current catalog into its storefront indexes (see
// discovery.Backfill): a wiped data directory refills at start instead of staying
// empty while PostgreSQL says every event was published.
func backfill(ctx context.Context, pool *pgxpool.Pool, db *postgres.DB, backend search.Backend, log *slog.Logger) error {
	tenants, err := ingestpg.NewDirectory(pool, time.Minute).Tenants(ctx)
	if err != nil {
		return fmt.Errorf("list tenants: %w", err)
	}
	store := &postgres.DiscoveryStore{DB: db}
	for _, t := range tenants {
		indexes := make([]string, len(t.Storefronts))
		for i, sf := range t.Storefronts {
			indexes[i] = search.IndexName(t.IndexPrefix, sf)
		}
		tctx := apiserver.NewContextWithTenant(ctx, &apiserver.Tenant{ID: t.ID, Slug: t.Slug, IndexPrefix: t.IndexPrefix, TopicPrefix: t.TopicPrefix})
		n, err := discovery.Backfill(tctx, backend, store, t.ID, indexes)
		if err != nil {
			return fmt.Errorf("tenant %s: %w", t.Slug, err)
		}
		for _, index := range indexes {
			if err := backend.Refresh(ctx, index); err != nil {
				return fmt.Errorf("refresh %s: %w", index, err)
			}
		}
		log.Info("search index checked against the catalog", "tenant", t.Slug, "products", n, "indexes", strings.Join(indexes, ","))
	}
	return nil
}

// demoSearchSettings are the demo storefront's search settings when no settings
// file is given: prices in EUR and synonyms the demo catalog can show off.
func demoSearchSettings(tenant string) discovery.StaticSettings {
	return discovery.StaticSettings{tenant + "/" + discovery.DefaultStorefront: {
		Currency: "EUR",
		Synonyms: [][]string{
			{"sneaker", "trainer", "runner"},
			{"t-shirt", "tee"},
			{"skillet", "frying pan"},
			{"headphones", "headset"},
			{"sweatshirt", "hoodie", "jumper"},
		},
		Autocomplete: search.Autocomplete{MinChars: 2},
	}}
}

package main

import (
	"bufio"
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/kommerce/kommerce/apiserver"
	"github.com/kommerce/kommerce/apiserver/demo"
	"github.com/kommerce/kommerce/apiserver/postgres"
	"github.com/kommerce/kommerce/internal/config"
	"github.com/kommerce/kommerce/internal/tenancy"
)

const adminSynopsis = `Bootstrap without a cluster (in a cluster the operator creates tenants and keys).

  create-tenant <slug>     register a tenant and give it a signing key
  create-user              create a user: --tenant, --email, --password-stdin, --role
  add-host                 map a storefront hostname to a tenant: --tenant, --host [--origin]
  rotate-keys              give a tenant a new signing key; old ones verify for --retain
  seed-demo                fill a tenant with the demo catalog: --tenant [--products]
  rotate-secrets-key       seal every stored signing key and Stripe secret under the first
                           key of --secrets-key-file (after adding a new first line);
                           keys below it can then be removed from the file
  set-stripe-keys          store a tenant's Stripe keys: --tenant, standard input holds the
                           secret key (sk_/rk_) on its first line and the webhook signing
                           secret (whsec_) on its second (in a cluster they come from the
                           Secret of the Tenant's stripeSecretRef instead)

create-tenant and create-user with --if-not-exists succeed when the tenant or user is
already there, so scripts can run them on every start.`

// adminActions lists the actions in the order --help shows them; both usage errors
// name them from here so a new action cannot be missing from one of them.
const adminActions = "create-tenant, create-user, add-host, rotate-keys, seed-demo, rotate-secrets-key, set-stripe-keys"

type adminConfig struct {
	logConfig
	dbURL         string
	tenant        string
	name          string
	email         string
	role          string
	passwordStdin bool
	ifNotExists   bool
	host          string
	origins       string
	storefront    string
	retain        time.Duration
	products      int
	secretsKey    string
}

func runAdmin(ctx context.Context, e *env) error {
	set := config.NewSet("admin <action>", adminSynopsis, e.getenv)
	var c adminConfig
	c.register(set)
	databaseURLFlag(set, &c.dbURL)
	set.String(&c.tenant, "tenant", "", "", "tenant slug the action applies to")
	set.String(&c.name, "name", "", "", "display name of the tenant or user")
	set.String(&c.email, "email", "", "", "email of the user to create")
	set.String(&c.role, "role", "", "customer", "role of the user to create", config.Enum("customer", "staff", "admin"))
	set.Bool(&c.passwordStdin, "password-stdin", "", false, "read the user's password from the first line of standard input")
	set.Bool(&c.ifNotExists, "if-not-exists", "", false, "succeed without change when the tenant or user exists")
	set.String(&c.host, "host", "", "", "storefront hostname (add-host)")
	set.String(&c.origins, "origin", "", "", "comma-separated browser origins allowed by CORS for the host (add-host)")
	set.String(&c.storefront, "storefront", "", "default", "storefront name of the host (add-host)")
	set.Duration(&c.retain, "retain", "", 24*time.Hour, "how long retired keys keep verifying (rotate-keys)")
	set.Int(&c.products, "products", "", 1000, "number of demo products (seed-demo)")
	secretsKeyFlag(set, &c.secretsKey, "unset stores new keys in plaintext (the API seals them at its next start); rotate-secrets-key needs it")
	rest, err := set.Parse(e.args, e.stdout)
	if err != nil {
		return err
	}
	if len(rest) == 0 {
		return config.Usagef("admin needs an action: %s (see kommerce admin --help)", adminActions)
	}
	action := rest[0]
	switch action {
	case "create-tenant":
		if len(rest) != 2 {
			return config.Usagef("create-tenant needs exactly one tenant slug")
		}
		if !tenancy.ValidSlug(rest[1]) {
			return config.Usagef("tenant slug %q must be a DNS label: lower-case letters, digits and dashes, at most %d long", rest[1], tenancy.MaxSlugLength)
		}
	case "rotate-secrets-key":
		if len(rest) != 1 {
			return config.Usagef("%s takes no arguments, only flags", action)
		}
		if c.secretsKey == "" {
			return config.Usagef("rotate-secrets-key needs --secrets-key-file / KOMMERCE_SECRETS_KEY_FILE")
		}
	case "create-user", "add-host", "rotate-keys", "seed-demo", "set-stripe-keys":
		if len(rest) != 1 {
			return config.Usagef("%s takes no arguments, only flags", action)
		}
		if c.tenant == "" {
			return config.Usagef("%s needs --tenant <slug>", action)
		}
	default:
		return config.Usagef("unknown admin action %q: accepted values are %s", action, adminActions)
	}
	if action == "create-user" && (c.email == "" || !c.passwordStdin) {
		return config.Usagef("create-user needs --email and --password-stdin (the password is never a flag: flags show up in process lists)")
	}
	if action == "add-host" && c.host == "" {
		return config.Usagef("add-host needs --host")
	}
	log := c.logger(e.stderr)
	pool, err := pgxpool.New(ctx, c.dbURL)
	if err != nil {
		return fmt.Errorf("database: %w", err)
	}
	defer pool.Close()
	if err := pool.Ping(ctx); err != nil {
		return fmt.Errorf("connect to PostgreSQL: %w", err)
	}
	db := postgres.NewDB(pool)
	tenants := &postgres.TenantService{DB: db}
	box, err := loadSecretsKey(c.secretsKey, "")
	if err != nil {
		return err
	}
	keys := &postgres.KeyStore{DB: db, Box: box}

	if action == "rotate-secrets-key" {
		rep, err := postgres.SealSecrets(ctx, db, box, true)
		if err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "%d stored secrets sealed under key %s (%d were plaintext); keys other than %s can now be removed from the key file\n", rep.Rewritten, box.KeyID(), rep.Plaintext, box.KeyID())
		return nil
	}

	if action == "create-tenant" {
		return createTenant(ctx, e, &c, tenants, keys, rest[1])
	}
	r, err := tenants.TenantBySlug(ctx, c.tenant)
	if err != nil {
		return fmt.Errorf("tenant %s: %s", c.tenant, apiserver.ErrorMessage(err))
	}
	tctx := apiserver.NewContextWithTenant(ctx, r.Tenant)
	switch action {
	case "create-user":
		pw, err := bufio.NewReader(e.stdin).ReadString('\n')
		pw = strings.TrimRight(pw, "\r\n")
		if pw == "" {
			return config.Usagef("no password on standard input (%v)", err)
		}
		u, err := (&postgres.UserService{DB: db}).CreateUser(tctx, apiserver.UserCreate{Email: c.email, Password: pw, Name: c.name, Role: apiserver.Role(c.role)})
		if apiserver.ErrorCode(err) == apiserver.ErrConflict && c.ifNotExists {
			fmt.Fprintf(e.stdout, "user %s already exists in tenant %s; left unchanged\n", c.email, c.tenant)
			return nil
		}
		if err := adminError(err); err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "created %s %s (%s) in tenant %s\n", u.Role, u.Email, u.ID, c.tenant)
	case "add-host":
		var origins []string
		for _, o := range strings.Split(c.origins, ",") {
			if o = strings.TrimSpace(o); o != "" {
				origins = append(origins, o)
			}
		}
		if err := adminError(tenants.AddStorefrontHost(ctx, apiserver.StorefrontHost{TenantID: r.Tenant.ID, Hostname: c.host, Storefront: c.storefront, CORSOrigins: origins})); err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "host %s now serves tenant %s (CORS origins: %s)\n", c.host, c.tenant, strings.Join(origins, ", "))
	case "rotate-keys":
		k, err := keys.Rotate(ctx, r.Tenant.ID, c.retain)
		if err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "tenant %s signs with key %s now; earlier keys verify tokens for %s more\n", c.tenant, k.KID, c.retain)
	case "set-stripe-keys":
		return setStripeKeys(ctx, e, db, box, r.Tenant.ID, c.tenant)
	case "seed-demo":
		cat := &postgres.CatalogService{DB: db}
		n, err := demo.Seed(tctx, cat, c.products)
		if err != nil {
			return err
		}
		log.Info("demo catalog seeded", "tenant", c.tenant, "created", n, "wanted", c.products)
		fmt.Fprintf(e.stdout, "demo catalog of tenant %s: %d products created, %d already there\n", c.tenant, n, c.products-n)
	}
	return nil
}

func createTenant(ctx context.Context, e *env, c *adminConfig, tenants *postgres.TenantService, keys *postgres.KeyStore, slug string) error {
	t, err := tenants.CreateTenant(ctx, apiserver.TenantCreate{Slug: slug, Name: c.name})
	if apiserver.ErrorCode(err) == apiserver.ErrConflict && c.ifNotExists {
		r, err := tenants.TenantBySlug(ctx, slug)
		if err != nil {
			return err
		}
		t = r.Tenant
		// A tenant made by a run that died before its key still gets one.
		if _, err := keys.SigningKey(ctx, t.ID); err == nil {
			fmt.Fprintf(e.stdout, "tenant %s already exists (%s); left unchanged\n", slug, t.ID)
			return nil
		}
	} else if err := adminError(err); err != nil {
		return err
	}
	k, err := keys.Rotate(ctx, t.ID, c.retain)
	if err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "created tenant %s (%s) with signing key %s\n", slug, t.ID, k.KID)
	return nil
}

// adminError shows a domain error as the sentence it carries.
func adminError(err error) error {
	if err == nil {
		return nil
	}
	if code := apiserver.ErrorCode(err); code != apiserver.ErrInternal {
		if f := apiserver.ErrorField(err); f != "" {
			return fmt.Errorf("%s (%s): %s", code, f, apiserver.ErrorMessage(err))
		}
		return fmt.Errorf("%s: %s", code, apiserver.ErrorMessage(err))
	}
	return err
}

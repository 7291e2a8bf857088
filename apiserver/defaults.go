package apiserver

import "time"

// Defaults of the commerce API, in one place: the flags of `kommerce api` show them,
// and stack.New and httpapi.New fill a zero setting with them, so a setting left out
// in code and one left unset on the command line mean the same thing.
const (
	// DefaultIssuer and DefaultAudience are the iss and aud of access tokens.
	DefaultIssuer   = "kommerce"
	DefaultAudience = "kommerce-api"
	// DefaultAccessTokenTTL is short because an access token cannot be revoked; the
	// refresh token (DefaultRefreshTokenTTL) is, and renews it.
	DefaultAccessTokenTTL  = 15 * time.Minute
	DefaultRefreshTokenTTL = 30 * 24 * time.Hour
	// DefaultMaxBodyBytes bounds request bodies (413 above): 1 MiB.
	DefaultMaxBodyBytes = 1 << 20
	// DefaultCacheTTL is how long product reads stay cached; writes refresh them at once.
	DefaultCacheTTL = 10 * time.Minute
	// DefaultCurrency and DefaultReservationTTL are the checkout settings of
	// storefronts without stored ones.
	DefaultCurrency       = "EUR"
	DefaultReservationTTL = 15 * time.Minute
	// DefaultPaymentRetryWindow is how long an unpaid order keeps its stock after a
	// declined payment, for the shopper to retry, before it is cancelled.
	DefaultPaymentRetryWindow = 15 * time.Minute
	// DefaultGuestCartRetention and DefaultCustomerCartRetention are how long an open
	// cart nobody changes is kept before the background sweep deletes it.
	DefaultGuestCartRetention    = 30 * 24 * time.Hour
	DefaultCustomerCartRetention = 90 * 24 * time.Hour
)

// Default rate limits (requests per second and burst).
var (
	// DefaultUserLimit applies per user, per client address when anonymous.
	DefaultUserLimit = RateLimit{Rate: 20, Burst: 40}
	// DefaultTenantLimit applies to all requests of a tenant together.
	DefaultTenantLimit = RateLimit{Rate: 1000, Burst: 2000}
	// DefaultWebhookLimit applies per client address to Stripe webhook deliveries
	// addressed to no tenant, in each process.
	DefaultWebhookLimit = RateLimit{Rate: 50, Burst: 100}
	// DefaultRegisterAddressLimit and DefaultRegisterEmailLimit bound registrations
	// per client address and per e-mail address: registration answers the same
	// whether the e-mail was taken or not, and these bound how fast anyone can probe
	// the remaining signals (docs/api.md, Identity) or fill a shop with accounts.
	// The per-address limit is loose because many shoppers can share one address
	// (a mobile carrier's or an office's NAT): it caps a prober at 600 addresses an
	// hour without refusing a busy network's honest sign-ups.
	DefaultRegisterAddressLimit = RateLimit{Rate: 600, Burst: 600, Period: time.Hour}
	DefaultRegisterEmailLimit   = RateLimit{Rate: 5, Burst: 5, Period: time.Hour}

	// DefaultHoardPolicy: 20 units of a SKU per order for guests, 100 for signed-in
	// customers, 50 unpaid orders holding stock per client address, and a guest's
	// reservation lasts 10 minutes (a customer's the storefront's TTL, 15 by default).
	// One address thus holds at most 1,000 units of a SKU for 10 minutes, against
	// 80,000 the request limit alone let it take (docs/security.md, Stock hoarding);
	// honest shoppers behind one NAT are refused only when one address has 50 unpaid
	// orders at once, which takes about 10 checkouts a minute from that address (at
	// 5 a minute the chance is 2e-7). The per-e-mail cap stays off: a guest gives any
	// e-mail address, so it bounds no attacker, while it refuses a buying office's
	// orders from one mailbox (docs/api.md, Checkout).
	DefaultHoardPolicy = HoardPolicy{MaxUnitsGuest: 20, MaxUnitsCustomer: 100, MaxUnpaid: -1, MaxUnpaidPerAddress: 50,
		GuestReservationTTLSeconds: 600}

	// DefaultLoginPolicy throttles sign-in per account (per e-mail address, known or
	// not): 5 attempts at once, then 1 s, 2 s, 4 s … doubling to a 15-minute cap,
	// reached after about 17 minutes and 15 attempts; from then on 4 attempts an hour
	// per account however many addresses send them, against the 72,000 an hour one
	// address got from the request limit alone. Counts are forgotten after a day
	// without attempts, or at a successful sign-in (docs/api.md, Identity).
	DefaultLoginPolicy = LoginPolicy{Free: 5, Delay: time.Second, Max: 15 * time.Minute, Forget: 24 * time.Hour}
)

package postgres

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/kommerce/kommerce/apiserver"
	"github.com/kommerce/kommerce/apiserver/postgres/dbq"
	"github.com/kommerce/kommerce/internal/events"
)

// storedError is how a checkout's first failure is kept for its retries.
type storedError struct {
	Code    string `json:"code"`
	Message string `json:"message"`
	Field   string `json:"field,omitempty"`
}

// errRetryExpired asks Checkout to release expired reservations of skus and try once
// more: they hold units the checkout needs.
type errRetryExpired struct{ skus []string }

func (e errRetryExpired) Error() string {
	return "expired reservations hold " + strings.Join(e.skus, ", ")
}

// Checkout implements apiserver.OrderService.
//
// The caller must be allowed the cart before anything else: a stored outcome is
// never shown to, nor written for, a caller without its token or its owner's sign-in.
// The idempotency key's row is then inserted first in the checkout's own transaction: a
// concurrent request with the same key blocks on it and, once this one commits, finds
// the stored outcome. A client error rolls back to a savepoint taken right after the
// claim and stores the error instead, so the first failure is also what every retry
// gets; server errors store nothing and can be retried. Fraud scoring, when
// configured, runs before, in a read-only transaction that locks nothing.
func (s *OrderService) Checkout(ctx context.Context, req apiserver.CheckoutRequest) (*apiserver.Order, bool, error) {
	if !apiserver.ValidIdempotencyKey(req.IdempotencyKey) {
		return nil, false, apiserver.FieldErrorf("Idempotency-Key", "Send an Idempotency-Key of 1 to %d printable ASCII characters.", apiserver.MaxIdemKeyLen)
	}
	if !apiserver.ValidID(req.Cart.ID) {
		return nil, false, noCart()
	}
	if err := req.Input.Validate(); err != nil {
		return nil, false, err
	}
	body, err := json.Marshal(req.Input)
	if err != nil {
		return nil, false, err
	}
	fingerprint := sha256.Sum256(append([]byte(req.Cart.ID+"\n"), body...))
	scope := keyScope(ctx)
	var decision *apiserver.FraudDecision
	if s.Fraud != nil {
		if decision, err = s.score(ctx, req); err != nil {
			return nil, false, err
		}
	}
	for attempt := 0; ; attempt++ {
		o, replayed, err := s.checkoutOnce(ctx, req, scope, fingerprint[:], decision)
		var retry errRetryExpired
		switch {
		case errors.As(err, &retry) && attempt < 2:
			if _, err := s.expireHolders(ctx, retry.skus); err != nil {
				return nil, false, err
			}
			continue
		case errors.As(err, &retry):
			return nil, false, &apiserver.Error{Code: apiserver.ErrInsufficientStock, Field: "lines",
				Message: "Not enough of " + strings.Join(retry.skus, ", ") + " is available."}
		}
		if code, _ := pgCode(err); code == pgDeadlock && attempt < 3 {
			continue
		}
		if err != nil {
			return nil, replayed, orderError(err, "checkout")
		}
		return o, replayed, nil
	}
}

func (s *OrderService) checkoutOnce(ctx context.Context, req apiserver.CheckoutRequest, scope string, fingerprint []byte, decision *apiserver.FraudDecision) (*apiserver.Order, bool, error) {
	var out *apiserver.Order
	var replayed bool
	var result error
	err := s.DB.InTenant(ctx, false, func(tx pgx.Tx, q *dbq.Queries, tid string) error {
		// The caller must be allowed the cart before any stored outcome is looked at,
		// and a refused caller leaves nothing behind for the cart's owner to replay.
		if _, err := openCart(ctx, q, tid, req.Cart, false); err != nil {
			return err
		}
		key := dbq.ClaimIdempotencyKeyParams{TenantID: tid, Scope: scope, Key: req.IdempotencyKey, RequestHash: fingerprint}
		n, err := q.ClaimIdempotencyKey(ctx, key)
		if err != nil {
			return err
		}
		if n == 0 {
			replayed = true
			out, result, err = replay(ctx, q, key)
			return err
		}
		if _, err := tx.Exec(ctx, "SAVEPOINT checkout"); err != nil {
			return err
		}
		o, err := s.place(ctx, q, tid, req, key, decision)
		var ae *apiserver.Error
		if errors.As(err, &ae) && ae.Code != apiserver.ErrInternal && ae.Code != apiserver.ErrUnavailable {
			if _, err := tx.Exec(ctx, "ROLLBACK TO SAVEPOINT checkout"); err != nil {
				return err
			}
			b, _ := json.Marshal(storedError{Code: ae.Code, Message: ae.Message, Field: ae.Field})
			result = ae
			return q.CompleteIdempotencyKey(ctx, dbq.CompleteIdempotencyKeyParams{TenantID: tid, Scope: scope, Key: req.IdempotencyKey, ErrorCode: &ae.Code, Response: b})
		}
		out = o
		return err
	})
	if err != nil {
		return nil, false, err
	}
	return out, replayed, result
}

// keyScope is whose Idempotency-Keys a checkout's key is among: the signed-in
// customer's, or the shop's guests' (a guest has no identity beyond a cart's token,
// and a token names one cart). The request's fingerprint holds the cart, so a key
// sent again for another cart of the same caller is idempotency_key_reused rather
// than a second order; the cart is authorised first, so only a caller who may use
// the cart a key was first sent for can ever get its stored outcome.
func keyScope(ctx context.Context) string {
	if p := apiserver.PrincipalFromContext(ctx); p != nil {
		return "user:" + p.UserID
	}
	return "guest"
}

// replay answers a request whose key was used before: the stored outcome if the
// request is the same, else ErrIdempotencyKeyReused.
func replay(ctx context.Context, q *dbq.Queries, key dbq.ClaimIdempotencyKeyParams) (*apiserver.Order, error, error) {
	row, err := q.GetIdempotencyKey(ctx, dbq.GetIdempotencyKeyParams{TenantID: key.TenantID, Scope: key.Scope, Key: key.Key})
	if err != nil {
		return nil, nil, err
	}
	if !bytes.Equal(row.RequestHash, key.RequestHash) {
		return nil, &apiserver.Error{Code: apiserver.ErrIdempotencyKeyReused, Field: "Idempotency-Key",
			Message: "This Idempotency-Key was used for a different request; use a new key for a new checkout."}, nil
	}
	if row.ErrorCode != nil {
		var se storedError
		if err := json.Unmarshal(row.Response, &se); err != nil {
			return nil, nil, fmt.Errorf("stored checkout error: %w", err)
		}
		return nil, &apiserver.Error{Code: se.Code, Message: se.Message, Field: se.Field}, nil
	}
	var o apiserver.Order
	if err := json.Unmarshal(row.Response, &o); err != nil {
		return nil, nil, fmt.Errorf("stored checkout response: %w", err)
	}
	return &o, nil, nil
}

// cartForCheckout closes the cart for checkout, or says why it cannot be used.
func cartForCheckout(ctx context.Context, q *dbq.Queries, tid string, ref apiserver.CartRef) (dbq.Cart, error) {
	args := dbq.CheckoutCartParams{TenantID: tid, ID: ref.ID}
	if ref.Token != "" {
		args.TokenHash = hashSecret(ref.Token)
	}
	if p := apiserver.PrincipalFromContext(ctx); p != nil {
		args.CustomerID = &p.UserID
	}
	c, err := q.CheckoutCart(ctx, args)
	if !errors.Is(err, pgx.ErrNoRows) {
		return c, err
	}
	c, err = openCart(ctx, q, tid, ref, false)
	if err != nil {
		return c, err
	}
	return c, closedCart(c)
}

// place writes the order of a cart: it checks the lines, computes the totals, writes
// the order with its lines, history, event and idempotent response in one statement,
// and reserves the stock last, so the stock rows stay locked only for that statement
// and the commit.
func (s *OrderService) place(ctx context.Context, q *dbq.Queries, tid string, req apiserver.CheckoutRequest, key dbq.ClaimIdempotencyKeyParams, decision *apiserver.FraudDecision) (*apiserver.Order, error) {
	cart, err := cartForCheckout(ctx, q, tid, req.Cart)
	if err != nil {
		return nil, err
	}
	settings, err := s.settingsFor(ctx, q, tid)
	if err != nil {
		return nil, err
	}
	rows, err := q.CartLinesPriced(ctx, dbq.CartLinesPricedParams{TenantID: tid, CartID: cart.ID, Currency: cart.Currency})
	if err != nil {
		return nil, err
	}
	lines, subtotal, _ := priceLines(rows)
	if err := checkLines(lines); err != nil {
		return nil, err
	}
	if decision != nil && decision.Action == apiserver.FraudBlock {
		return nil, apiserver.Errorf(apiserver.ErrFraudBlocked, "This order cannot be placed online. Please contact the shop.")
	}
	p := apiserver.PrincipalFromContext(ctx)
	email := req.Input.Email
	var customerCreated *time.Time
	if p != nil && cart.CustomerID != nil {
		u, err := q.UserByID(ctx, dbq.UserByIDParams{TenantID: tid, ID: p.UserID})
		if err != nil {
			return nil, err
		}
		customerCreated = &u.CreatedAt
		if email == "" {
			email = u.Email
		}
	}
	if email == "" {
		return nil, apiserver.FieldErrorf("email", "Guests give an email address for the order.")
	}

	at := now()
	if err := checkHoarding(ctx, q, tid, settings.Hoarding, lines, email, cart.CustomerID, req.ClientIP, at); err != nil {
		return nil, err
	}
	expires := at.Add(settings.ReservationTTLFor(cart.CustomerID == nil))
	o := &apiserver.Order{ID: newFamily(), Status: apiserver.OrderPendingPayment, CartID: cart.ID, CustomerID: cart.CustomerID, Email: email,
		Currency: cart.Currency, Subtotal: subtotal, ShippingAddress: req.Input.ShippingAddress, BillingAddress: req.Input.BillingAddress,
		ReservationExpiresAt: &expires, Version: 1, CreatedAt: at, UpdatedAt: at, Fraud: decision}
	if o.BillingAddress == nil {
		o.BillingAddress = o.ShippingAddress
	}
	o.Shipping, o.Tax = settings.Charges(subtotal)
	o.Total = o.Subtotal + o.Shipping + o.Tax
	o.Review = decision != nil && decision.Action == apiserver.FraudReview
	for _, l := range lines {
		sku, pid := l.SKU, l.ProductID
		o.Lines = append(o.Lines, apiserver.OrderLine{Kind: apiserver.LineItem, SKU: &sku, ProductID: &pid, Name: l.Name,
			Quantity: l.Quantity, UnitPrice: l.UnitPrice, Amount: l.Amount})
	}
	if o.Shipping > 0 {
		o.Lines = append(o.Lines, apiserver.OrderLine{Kind: apiserver.LineShipping, Name: "Shipping", Quantity: 1, UnitPrice: o.Shipping, Amount: o.Shipping})
	}
	if o.Tax > 0 {
		o.Lines = append(o.Lines, apiserver.OrderLine{Kind: apiserver.LineTax, Name: settings.TaxName(), Quantity: 1, UnitPrice: o.Tax, Amount: o.Tax})
	}
	actor := actorOf(ctx)
	o.History = []apiserver.OrderTransition{{To: apiserver.OrderPendingPayment, Actor: actor, Reason: "checkout", At: at}}

	args, err := placeArgs(o, tid, settings.Storefront, req.ClientIP, customerCreated, key, actor)
	if err != nil {
		return nil, err
	}
	if err := q.PlaceOrder(ctx, args); err != nil {
		return nil, err
	}
	if err := s.reserve(ctx, q, tid, o.ID, lines, &expires); err != nil {
		return nil, err
	}
	return o, nil
}

// checkLines refuses a checkout whose cart is empty or has a line that cannot be sold
// as it is. A line short of stock with expired reservations holding its SKU asks for
// a retry after they are released.
func checkLines(lines []pricedLine) error {
	if len(lines) == 0 {
		return apiserver.Errorf(apiserver.ErrCartEmpty, "The cart has no lines to order.")
	}
	var expired []string
	for i, l := range lines {
		f := fmt.Sprintf("lines[%d]", i)
		switch l.Problem {
		case apiserver.LineUnknownSKU:
			return &apiserver.Error{Code: apiserver.ErrUnknownSKU, Field: f + ".sku", Message: fmt.Sprintf("%s is not for sale any more; remove it from the cart.", l.SKU)}
		case apiserver.LinePriceUnavailable:
			return &apiserver.Error{Code: apiserver.ErrPriceUnavailable, Field: f + ".sku", Message: fmt.Sprintf("%s has no price in the cart's currency.", l.SKU)}
		case apiserver.LineInsufficientStock:
			if l.hasExpired {
				expired = append(expired, l.SKU)
				continue
			}
			return insufficient(i, l.SKU, l.Available)
		}
	}
	if len(expired) > 0 {
		return errRetryExpired{expired}
	}
	return nil
}

func insufficient(i int, sku string, available int64) error {
	return &apiserver.Error{Code: apiserver.ErrInsufficientStock, Field: fmt.Sprintf("lines[%d].quantity", i),
		Message: fmt.Sprintf("Only %d of %s are available.", max(available, 0), sku)}
}

// clientIPHash is the key of a client address in orders (the per-address hoarding
// cap, the fraud history): the tenant's hash of the address, so the database holds
// no addresses.
func clientIPHash(tid, ip string) []byte {
	if ip == "" {
		return nil
	}
	return hashSecret(tid + "|" + clientNetwork(ip))
}

// clientNetwork is the network one client controls: an IPv4 address (or an
// IPv4-mapped IPv6 one) as itself, an IPv6 address as its /64, since a single
// subscriber is routed a whole /64 and could otherwise rotate through 2^64
// addresses past every per-address cap. Anything unparsable is kept as it is.
func clientNetwork(ip string) string {
	a, err := netip.ParseAddr(ip)
	if err != nil {
		return ip
	}
	a = a.Unmap().WithZone("")
	if a.Is4() {
		return a.String()
	}
	p, _ := a.Prefix(64) // an IPv6 address always has a /64
	return p.String()
}

func placeArgs(o *apiserver.Order, tid, storefront, clientIP string, customerCreated *time.Time, key dbq.ClaimIdempotencyKeyParams, actor string) (dbq.PlaceOrderParams, error) {
	a := dbq.PlaceOrderParams{TenantID: tid, ID: o.ID, Scope: key.Scope, Key: key.Key, Storefront: storefront, CartID: o.CartID,
		CustomerID: o.CustomerID, Email: o.Email, Currency: o.Currency, Subtotal: o.Subtotal, Shipping: o.Shipping, Tax: o.Tax, Total: o.Total,
		ClientIpHash: clientIPHash(tid, clientIP), Review: o.Review, ReservationExpiresAt: o.ReservationExpiresAt, CreatedAt: o.CreatedAt, Actor: actor}
	var err error
	if o.ShippingAddress != nil {
		if a.ShippingAddress, err = json.Marshal(o.ShippingAddress); err != nil {
			return a, err
		}
	}
	if o.BillingAddress != nil {
		if a.BillingAddress, err = json.Marshal(o.BillingAddress); err != nil {
			return a, err
		}
	}
	if d := o.Fraud; d != nil {
		m := d.Model + "@" + d.Version
		a.FraudScore, a.FraudAction, a.FraudModel = &d.Score, &d.Action, &m
	}
	ev := events.Order{ID: o.ID, Status: string(o.Status), Storefront: storefront, Guest: o.CustomerID == nil, CustomerCreatedAt: customerCreated,
		Total: events.Price{Currency: o.Currency, Amount: o.Total}, Subtotal: o.Subtotal, Shipping: o.Shipping, Tax: o.Tax,
		Review: o.Review, Version: o.Version, CreatedAt: o.CreatedAt}
	if o.CustomerID != nil {
		ev.CustomerID = *o.CustomerID
	}
	if h := clientIPHash(tid, clientIP); h != nil {
		ev.ClientIP = hex.EncodeToString(h)
	}
	if o.ShippingAddress != nil {
		ev.ShippingCountry = o.ShippingAddress.Country
	}
	if o.BillingAddress != nil {
		ev.BillingCountry = o.BillingAddress.Country
	}
	for i, l := range o.Lines {
		a.Positions = append(a.Positions, int32(i))
		a.Kinds = append(a.Kinds, l.Kind)
		a.Skus = append(a.Skus, deref(l.SKU))
		a.ProductIds = append(a.ProductIds, deref(l.ProductID))
		a.Names = append(a.Names, l.Name)
		a.Quantities = append(a.Quantities, int32(l.Quantity)) //nolint:gosec // cart lines hold at most MaxLineQty
		a.UnitPrices = append(a.UnitPrices, l.UnitPrice)
		a.Amounts = append(a.Amounts, l.Amount)
		if l.Kind == apiserver.LineItem {
			ev.Lines = append(ev.Lines, events.OrderLine{SKU: *l.SKU, ProductID: *l.ProductID, Quantity: l.Quantity, UnitPrice: l.UnitPrice, Amount: l.Amount})
		}
	}
	if a.Event, err = events.Encode(events.OrderCreated, ev); err != nil {
		return a, err
	}
	a.Response, err = json.Marshal(o)
	return a, err
}

// reserve takes the order's units from availability with the configured strategy,
// places them in the SKUs' warehouses and records the reservations and
// stock.changed events. Lines are handled in SKU order, the order every writer locks
// stock rows in.
func (s *OrderService) reserve(ctx context.Context, q *dbq.Queries, tid, orderID string, lines []pricedLine, expires *time.Time) error {
	sorted := make([]pricedLine, len(lines))
	copy(sorted, lines)
	sort.Slice(sorted, func(i, j int) bool { return sorted[i].SKU < sorted[j].SKU })
	n := len(sorted)
	skus, qtys, pids := make([]string, n), make([]int64, n), make([]string, n)
	for i, l := range sorted {
		skus[i], qtys[i], pids[i] = l.SKU, l.Quantity, l.ProductID
	}
	switch s.Lock {
	case LockUnsafe:
		return reserveUnsafe(ctx, q, tid, orderID, lines, skus, qtys, pids, expires)
	case LockForUpdate:
		// Lock and check first; the conditional update below then always passes,
		// and places the units exactly as the conditional strategy does.
		rows, err := q.LockStocks(ctx, dbq.LockStocksParams{TenantID: tid, Skus: skus})
		if err != nil {
			return err
		}
		if sku := shortOf(rows, skus, qtys); sku != "" {
			return short(ctx, q, tid, lines, sku)
		}
	}
	sku, err := q.ReserveStock(ctx, dbq.ReserveStockParams{TenantID: tid, OrderID: orderID, Skus: skus, Quantities: qtys, ProductIds: pids, ExpiresAt: expires})
	if err != nil || sku == "" {
		return err
	}
	return short(ctx, q, tid, lines, sku)
}

// shortOf returns the first of skus whose row has fewer than its quantity
// available, or "".
func shortOf(rows []dbq.LockStocksRow, skus []string, qtys []int64) string {
	have := make(map[string]dbq.LockStocksRow, len(rows))
	for _, r := range rows {
		have[r.Sku] = r
	}
	for i, sku := range skus {
		if r, ok := have[sku]; !ok || r.OnHand-r.Reserved < qtys[i] {
			return sku
		}
	}
	return ""
}

// reserveUnsafe is the benchmark's control (LockUnsafe): it reads the stock and the
// warehouses without a lock, checks and places the units in Go with the rule of
// kommerce_place_reservation, and writes the reserved quantities it computed, so
// concurrent checkouts overwrite each other. Never used to serve shoppers.
func reserveUnsafe(ctx context.Context, q *dbq.Queries, tid, orderID string, lines []pricedLine, skus []string, qtys []int64, pids []string, expires *time.Time) error {
	locs, err := q.ReadStocks(ctx, dbq.ReadStocksParams{TenantID: tid, Skus: skus})
	if err != nil {
		return err
	}
	var rows []dbq.LockStocksRow
	reserved := make(map[string]int64, len(skus))
	for _, r := range locs {
		if _, ok := reserved[r.Sku]; !ok {
			rows, reserved[r.Sku] = append(rows, dbq.LockStocksRow{Sku: r.Sku, OnHand: r.OnHand, Reserved: r.Reserved}), r.Reserved
		}
	}
	if sku := shortOf(rows, skus, qtys); sku != "" {
		return short(ctx, q, tid, lines, sku)
	}
	args := dbq.ReserveStockUnsafeParams{TenantID: tid, OrderID: orderID, Skus: skus, Quantities: qtys, ProductIds: pids, ExpiresAt: expires,
		Reserved: make([]int64, len(skus))}
	for i, sku := range skus {
		args.Reserved[i] = reserved[sku] + qtys[i]
		left := qtys[i]
		for _, l := range locs { // most available first, ties by name (ReadStocks' order)
			if l.Sku != sku || l.Warehouse == "" || left == 0 {
				continue
			}
			take := min(left, l.WarehouseOnHand-l.WarehouseReserved)
			args.PlaceSkus = append(args.PlaceSkus, sku)
			args.PlaceWarehouses = append(args.PlaceWarehouses, l.Warehouse)
			args.PlaceQuantities = append(args.PlaceQuantities, take)
			args.PlaceReserved = append(args.PlaceReserved, l.WarehouseReserved+take)
			left -= take
		}
		if left > 0 {
			return short(ctx, q, tid, lines, sku)
		}
	}
	_, err = q.ReserveStockUnsafe(ctx, args)
	return err
}

// short explains why sku could not be reserved: expired reservations hold it (retry
// after releasing them) or there is not enough of it.
func short(ctx context.Context, q *dbq.Queries, tid string, lines []pricedLine, sku string) error {
	ids, err := q.ExpiredHolders(ctx, dbq.ExpiredHoldersParams{TenantID: tid, Skus: []string{sku}})
	if err != nil {
		return err
	}
	if len(ids) > 0 {
		return errRetryExpired{[]string{sku}}
	}
	var available int64
	if st, err := q.GetStock(ctx, dbq.GetStockParams{TenantID: tid, Sku: sku}); err == nil {
		available = st.OnHand - st.Reserved
	} else if !errors.Is(err, pgx.ErrNoRows) {
		return err
	}
	for i, l := range lines {
		if l.SKU == sku {
			return insufficient(i, sku, available)
		}
	}
	return insufficient(0, sku, available)
}

// score evaluates the storefront's fraud policy for a checkout before any stock is
// locked. It returns nil when the storefront has no policy or the cart cannot be
// checked out (the checkout itself then says why).
func (s *OrderService) score(ctx context.Context, req apiserver.CheckoutRequest) (*apiserver.FraudDecision, error) {
	var out *apiserver.FraudDecision
	err := s.DB.InTenant(ctx, true, func(_ pgx.Tx, q *dbq.Queries, tid string) error {
		settings, err := s.settingsFor(ctx, q, tid)
		if err != nil || settings.Fraud == nil {
			return err
		}
		cart, err := openCart(ctx, q, tid, req.Cart, false)
		if err != nil || cart.Status != apiserver.CartActive {
			return nil
		}
		rows, err := q.CartLinesPriced(ctx, dbq.CartLinesPricedParams{TenantID: tid, CartID: cart.ID, Currency: cart.Currency})
		if err != nil {
			return err
		}
		lines, subtotal, items := priceLines(rows)
		shipping, tax := settings.Charges(subtotal)
		at := time.Now()
		o := apiserver.FraudOrder{Guest: cart.CustomerID == nil, At: at, Amount: subtotal + shipping + tax, Currency: cart.Currency,
			Lines: len(lines), Quantity: int(items), Customer: strings.ToLower(req.Input.Email)}
		if cart.CustomerID != nil {
			u, err := q.UserByID(ctx, dbq.UserByIDParams{TenantID: tid, ID: *cart.CustomerID})
			if err != nil {
				return err
			}
			o.Customer, o.AccountAge = u.ID, at.Sub(u.CreatedAt)
		}
		if a := req.Input.ShippingAddress; a != nil {
			o.ShippingCountry, o.BillingCountry = a.Country, a.Country
		}
		if a := req.Input.BillingAddress; a != nil {
			o.BillingCountry = a.Country
		}
		ipHash := clientIPHash(tid, req.ClientIP)
		o.ClientIP = hex.EncodeToString(ipHash)
		h, err := q.FraudHistory(ctx, dbq.FraudHistoryParams{TenantID: tid, ClientIpHash: ipHash, Customer: o.Customer})
		if err != nil {
			return err
		}
		o.OtherCustomersOnIP, o.CustomerOrders = int(h.OthersOnIp), int(h.CustomerOrders)
		d := s.Fraud.Score(o, *settings.Fraud)
		out = &d
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("fraud check: %w", err)
	}
	return out, nil
}

// checkHoarding enforces the storefront's hoarding policy p before checkout
// reserves anything: the units of each SKU, then the unpaid orders of the shopper's
// e-mail address, customer and client address. The advisory locks, taken in key
// order so two checkouts never wait on each other crosswise, make concurrent
// checkouts of one shopper count one after the other; the transaction holds them
// until it commits its order, so a checkout counts every order committed before it.
func checkHoarding(ctx context.Context, q *dbq.Queries, tid string, p apiserver.HoardPolicy, lines []pricedLine, email string, customerID *string, clientIP string, at time.Time) error {
	maxUnits := p.MaxUnitsGuest
	if customerID != nil {
		maxUnits = p.MaxUnitsCustomer
	}
	for i, l := range lines {
		if maxUnits > 0 && l.Quantity > maxUnits {
			return &apiserver.Error{Code: apiserver.ErrQuantityLimit, Field: fmt.Sprintf("lines[%d].quantity", i),
				Message: fmt.Sprintf("One order may take at most %d units of %s.", maxUnits, l.SKU)}
		}
	}
	var keys []int64
	if p.MaxUnpaid > 0 {
		keys = append(keys, shopperKey(tid, "email", strings.ToLower(email)))
		if customerID != nil {
			keys = append(keys, shopperKey(tid, "customer", *customerID))
		}
	}
	var ipHash []byte
	if clientIP != "" && p.MaxUnpaidPerAddress > 0 {
		ipHash = clientIPHash(tid, clientIP)
	}
	if len(keys) == 0 && ipHash == nil {
		return nil
	}
	if ipHash != nil {
		keys = append(keys, shopperKey(tid, "ip", string(ipHash)))
	}
	slices.Sort(keys)
	for _, k := range slices.Compact(keys) {
		if err := q.LockShopper(ctx, k); err != nil {
			return err
		}
	}
	n, err := q.UnpaidOrders(ctx, dbq.UnpaidOrdersParams{TenantID: tid, Email: email, At: &at, CustomerID: customerID, ClientIpHash: ipHash})
	if err != nil {
		return err
	}
	if (p.MaxUnpaid > 0 && max(n.ByEmail, n.ByCustomer) >= p.MaxUnpaid) || (ipHash != nil && n.ByAddress >= p.MaxUnpaidPerAddress) {
		return apiserver.Errorf(apiserver.ErrTooManyUnpaid,
			"There are already too many unpaid orders for this shopper; pay or cancel one, or wait until its reservation expires.")
	}
	return nil
}

// shopperKey is the advisory lock key of one shopper of a tenant. Two shoppers
// sharing a key only wait for each other; they are still counted apart.
func shopperKey(tid, kind, id string) int64 {
	h := sha256.Sum256([]byte("kommerce-hoard\x00" + tid + "\x00" + kind + "\x00" + id))
	return int64(binary.BigEndian.Uint64(h[:8])) //nolint:gosec // a lock key: any 64 bits do
}

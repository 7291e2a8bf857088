package main

import (
	"context"
	"encoding/json"
	"fmt"
	"time"
)

// hoardStock is the stock of the hoarded SKU: twice what the default policy lets
// one client address hold (50 unpaid orders of 20 units), so that a bounded
// attacker leaves some for honest buyers and an unbounded one takes it all.
const hoardStock = 2000

// Client addresses, named in X-Forwarded-For: the attacker's, and the first of
// the honest buyers' (each buyer has an address of their own).
const (
	attackerAddress = "198.51.100.66"
	honestNetwork   = "203.0.113."
)

// policyView is what staff read of the checkout settings: the storefront's
// reservation TTL and its hoarding policy (absent before the policy existed).
type policyView struct {
	ReservationTTLSeconds int64 `json:"reservation_ttl_seconds"`
	Hoarding              *struct {
		MaxUnitsGuest              int64 `json:"max_units_guest"`
		MaxUnpaidPerAddress        int64 `json:"max_unpaid_orders_per_address"`
		GuestReservationTTLSeconds int64 `json:"guest_reservation_ttl_seconds"`
	} `json:"hoarding"`
}

// hoardOutcome is what the attacker got.
type hoardOutcome struct {
	units, orders int64
	stoppedBy     string        // the answer that ended the attack
	hold          time.Duration // how long the attacker's first order holds its stock
}

// inventoryHoarding replays finding 3: a guest reserves the whole stock of a SKU,
// first in one order, then (refused) in as many orders of as many units as it may,
// each from a new cart with a new e-mail address, all from one client address.
// Meanwhile honest buyers from other addresses buy one unit each, and one more
// after the attack. The policy holds when the attacker is stopped by it (429) below
// its bound (per-address cap × units per order), every honest buyer gets an order,
// the stock reserved is exactly what the orders took and never above on hand, and
// a guest's order holds its stock for less than the storefront's reservation TTL.
func inventoryHoarding(ctx context.Context, c *checker) (string, error) {
	var pol policyView
	if err := c.do(ctx, req{method: "GET", path: "/api/v1/storefronts/default/checkout-settings", tenant: c.tenantA, bearer: c.adminA}).decode(200, &pol); err != nil {
		return "", fmt.Errorf("reading the checkout settings: %w", err)
	}
	if err := c.do(ctx, req{method: "PUT", path: "/api/v1/stock/" + c.hoardSKU, tenant: c.tenantA, bearer: c.adminA,
		body: map[string]any{"warehouse": "main", "on_hand": hoardStock}}).want(200, ""); err != nil {
		return "", fmt.Errorf("stocking %s: %w", c.hoardSKU, err)
	}

	done := make(chan struct{})
	honest := make(chan honestOutcome, 1)
	go func() { honest <- c.honestBuyers(ctx, done) }()
	got, err := c.hoard(ctx, pol)
	close(done)
	h := <-honest
	if err != nil {
		return "", err
	}

	var st struct {
		OnHand    int64 `json:"on_hand"`
		Reserved  int64 `json:"reserved"`
		Available int64 `json:"available"`
	}
	if err := c.do(ctx, req{method: "GET", path: "/api/v1/stock/" + c.hoardSKU, tenant: c.tenantA, bearer: c.adminA}).decode(200, &st); err != nil {
		return "", fmt.Errorf("reading the stock of %s: %w", c.hoardSKU, err)
	}
	saw := fmt.Sprintf("one address held %d of %d units in %d orders, stopped by %s; %d honest buyers from other addresses got %d orders; stock on hand %d, reserved %d, available %d",
		got.units, hoardStock, got.orders, got.stoppedBy, h.tries, h.orders, st.OnHand, st.Reserved, st.Available)
	switch {
	case st.Reserved > st.OnHand || st.Available != st.OnHand-st.Reserved:
		return "", fmt.Errorf("oversold: %s", saw)
	case st.Reserved != got.units+h.orders:
		return "", fmt.Errorf("the stock reserved is not what the orders took (%d + %d): %s", got.units, h.orders, saw)
	case got.units >= hoardStock || got.stoppedBy != "429 too_many_unpaid_orders":
		return "", fmt.Errorf("the policy did not stop the attacker: %s", saw)
	case h.orders != h.tries || h.tries == 0:
		return "", fmt.Errorf("honest buyers were refused (%s): %s", h.refusals, saw)
	}
	if hp := pol.Hoarding; hp != nil && hp.MaxUnpaidPerAddress > 0 && hp.MaxUnitsGuest > 0 {
		if bound := hp.MaxUnpaidPerAddress * hp.MaxUnitsGuest; got.units > bound {
			return "", fmt.Errorf("above the policy's bound of %d units (%d orders × %d): %s", bound, hp.MaxUnpaidPerAddress, hp.MaxUnitsGuest, saw)
		}
	}
	storefront := time.Duration(pol.ReservationTTLSeconds) * time.Second
	if pol.Hoarding == nil || got.hold <= 0 || got.hold >= storefront {
		return "", fmt.Errorf("a guest's order holds its stock for %v, want less than the storefront's %v: %s", got.hold, storefront, saw)
	}
	return fmt.Sprintf("%s; a guest's order holds stock for %v (the storefront's TTL is %v)", saw, got.hold, storefront), nil
}

// hoard is the attacker: the whole stock in one order, then, on 422
// quantity_limit, orders of the policy's most units a guest may take (half as many
// again while refused), each from a new cart with a new e-mail address, until
// something other than an order or quantity_limit answers.
func (c *checker) hoard(ctx context.Context, pol policyView) (hoardOutcome, error) {
	var out hoardOutcome
	units := int64(hoardStock)
	for try := 0; try < 400; try++ {
		cart, token, err := c.cartFrom(ctx, attackerAddress)
		if err != nil {
			return out, fmt.Errorf("attacker: %w", err)
		}
		r := c.do(ctx, req{method: "POST", path: "/api/v1/carts/" + cart + "/items", tenant: c.tenantA, cartToken: token, forwardedFor: attackerAddress,
			body: map[string]any{"sku": c.hoardSKU, "quantity": units}})
		if r.status != 201 {
			out.stoppedBy = fmt.Sprintf("%d %s at adding to a cart", r.status, r.code())
			return out, nil
		}
		r = c.do(ctx, req{method: "POST", path: "/api/v1/carts/" + cart + "/checkout", tenant: c.tenantA, cartToken: token,
			forwardedFor: attackerAddress, idempotencyKey: c.unique("hoard"), body: map[string]string{"email": c.unique("hoarder") + "@shopper.test"},
			noRetry: true})
		switch {
		case r.status == 201:
			var o struct {
				CreatedAt            time.Time  `json:"created_at"`
				ReservationExpiresAt *time.Time `json:"reservation_expires_at"`
			}
			if err := json.Unmarshal(r.body, &o); err != nil {
				return out, fmt.Errorf("attacker's order: %w", err)
			}
			if out.orders == 0 && o.ReservationExpiresAt != nil {
				out.hold = o.ReservationExpiresAt.Sub(o.CreatedAt)
			}
			out.units += units
			out.orders++
		case r.status == 422 && r.code() == "quantity_limit" && units > 1:
			if hp := pol.Hoarding; hp != nil && hp.MaxUnitsGuest > 0 && hp.MaxUnitsGuest < units {
				units = hp.MaxUnitsGuest
			} else {
				units /= 2
			}
		default:
			out.stoppedBy = fmt.Sprintf("%d %s", r.status, r.code())
			return out, nil
		}
	}
	out.stoppedBy = "nothing (400 tries)"
	return out, nil
}

// honestOutcome is what the honest buyers got.
type honestOutcome struct {
	tries, orders int64
	refusals      []string
}

// honestBuyers buys one unit of the hoarded SKU about once a second, each time as
// a new guest from a new address, while the attack runs, then once more after it.
func (c *checker) honestBuyers(ctx context.Context, done <-chan struct{}) honestOutcome {
	var out honestOutcome
	buy := func() {
		out.tries++
		addr := fmt.Sprintf("%s%d", honestNetwork, out.tries)
		cart, token, err := c.cartFrom(ctx, addr)
		if err != nil {
			out.refusals = append(out.refusals, err.Error())
			return
		}
		r := c.do(ctx, req{method: "POST", path: "/api/v1/carts/" + cart + "/items", tenant: c.tenantA, cartToken: token, forwardedFor: addr,
			body: map[string]any{"sku": c.hoardSKU, "quantity": 1}})
		if r.status == 201 {
			r = c.do(ctx, req{method: "POST", path: "/api/v1/carts/" + cart + "/checkout", tenant: c.tenantA, cartToken: token, forwardedFor: addr,
				idempotencyKey: "honest-" + cart, body: map[string]string{"email": fmt.Sprintf("honest%d@shopper.test", out.tries)}, noRetry: true})
		}
		if r.status == 201 {
			out.orders++
			return
		}
		out.refusals = append(out.refusals, r.String())
	}
	for {
		select {
		case <-done:
			buy()
			return out
		case <-time.After(time.Second):
			buy()
		}
	}
}

// cartFrom creates a guest cart as the client at addr.
func (c *checker) cartFrom(ctx context.Context, addr string) (id, token string, err error) {
	var cart struct {
		ID    string `json:"id"`
		Token string `json:"token"`
	}
	if err := c.do(ctx, req{method: "POST", path: "/api/v1/carts", tenant: c.tenantA, forwardedFor: addr}).decode(201, &cart); err != nil {
		return "", "", fmt.Errorf("creating a guest cart from %s: %w", addr, err)
	}
	return cart.ID, cart.Token, nil
}

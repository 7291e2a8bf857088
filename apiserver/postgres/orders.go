package postgres

import (
	"context"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/kommerce/kommerce/apiserver"
	"github.com/kommerce/kommerce/apiserver/postgres/dbq"
	"github.com/kommerce/kommerce/internal/events"
)

// OrderService implements apiserver.OrderService.
type OrderService struct{ *Commerce }

var _ apiserver.OrderService = (*OrderService)(nil)

func noOrder() error { return apiserver.Errorf(apiserver.ErrNotFound, "No order with that id.") }

// loadOrders completes order rows with their lines and history in two queries.
func loadOrders(ctx context.Context, q *dbq.Queries, tid string, rows []dbq.Order) ([]*apiserver.Order, error) {
	out := make([]*apiserver.Order, len(rows))
	byID := make(map[string]*apiserver.Order, len(rows))
	ids := make([]string, len(rows))
	for i, r := range rows {
		o, err := orderOf(r)
		if err != nil {
			return nil, err
		}
		out[i], byID[r.ID], ids[i] = o, o, r.ID
	}
	if len(rows) == 0 {
		return out, nil
	}
	lines, err := q.OrderLines(ctx, dbq.OrderLinesParams{TenantID: tid, OrderIds: ids})
	if err != nil {
		return nil, err
	}
	for _, l := range lines {
		o := byID[l.OrderID]
		o.Lines = append(o.Lines, apiserver.OrderLine{Kind: l.Kind, SKU: l.Sku, ProductID: l.ProductID, Name: l.Name,
			Quantity: int64(l.Quantity), UnitPrice: l.UnitPrice, Amount: l.Amount})
	}
	hist, err := q.OrderTransitions(ctx, dbq.OrderTransitionsParams{TenantID: tid, OrderIds: ids})
	if err != nil {
		return nil, err
	}
	for _, h := range hist {
		o := byID[h.OrderID]
		t := apiserver.OrderTransition{To: apiserver.OrderStatus(h.ToStatus), Actor: h.Actor, Reason: h.Reason, At: h.CreatedAt}
		if h.FromStatus != nil {
			from := apiserver.OrderStatus(*h.FromStatus)
			t.From = &from
		}
		o.History = append(o.History, t)
	}
	return out, nil
}

func orderOf(r dbq.Order) (*apiserver.Order, error) {
	o := &apiserver.Order{ID: r.ID, Status: apiserver.OrderStatus(r.Status), CartID: r.CartID, CustomerID: r.CustomerID, Email: r.Email,
		Currency: r.Currency, Lines: []apiserver.OrderLine{}, Subtotal: r.Subtotal, Shipping: r.Shipping, Tax: r.Tax, Total: r.Total,
		History: []apiserver.OrderTransition{}, ReservationExpiresAt: r.ReservationExpiresAt, Review: r.Review, Version: r.Version,
		CreatedAt: r.CreatedAt, UpdatedAt: r.UpdatedAt}
	for _, a := range []struct {
		raw []byte
		dst **apiserver.Address
	}{{r.ShippingAddress, &o.ShippingAddress}, {r.BillingAddress, &o.BillingAddress}} {
		if len(a.raw) == 0 {
			continue
		}
		if err := json.Unmarshal(a.raw, a.dst); err != nil {
			return nil, fmt.Errorf("order %s address: %w", r.ID, err)
		}
	}
	if r.FraudScore != nil {
		o.Fraud = &apiserver.FraudDecision{Score: *r.FraudScore, Action: deref(r.FraudAction)}
		if m := deref(r.FraudModel); m != "" {
			o.Fraud.Model, o.Fraud.Version, _ = strings.Cut(m, "@")
		}
	}
	return o, nil
}

func loadOrder(ctx context.Context, q *dbq.Queries, tid string, r dbq.Order) (*apiserver.Order, error) {
	os, err := loadOrders(ctx, q, tid, []dbq.Order{r})
	if err != nil {
		return nil, err
	}
	return os[0], nil
}

// visible reports whether the caller may see an order: staff always, a customer
// their own, a guest with the token of the cart the order came from.
func visible(ctx context.Context, q *dbq.Queries, tid string, r dbq.Order, cartToken string) (bool, error) {
	p := apiserver.PrincipalFromContext(ctx)
	switch {
	case p != nil && p.Role.AtLeast(apiserver.RoleStaff):
		return true, nil
	case p != nil && r.CustomerID != nil && *r.CustomerID == p.UserID:
		return true, nil
	case cartToken == "" || r.CustomerID != nil:
		return false, nil
	}
	h, err := q.OrderCartToken(ctx, dbq.OrderCartTokenParams{TenantID: tid, ID: r.ID})
	if err != nil {
		return false, err
	}
	return len(h) > 0 && subtle.ConstantTimeCompare(hashSecret(cartToken), h) == 1, nil
}

// GetOrder implements apiserver.OrderService. An unpaid order whose reservation ran
// out is expired first, so what it shows is what holds.
func (s *OrderService) GetOrder(ctx context.Context, id, cartToken string) (*apiserver.Order, error) {
	if !apiserver.ValidID(id) {
		return nil, noOrder()
	}
	if apiserver.PrincipalFromContext(ctx) == nil && cartToken == "" {
		return nil, apiserver.Errorf(apiserver.ErrUnauthenticated, "Sign in, or send the X-Cart-Token of the cart the order came from.")
	}
	for attempt := 0; ; attempt++ {
		var out *apiserver.Order
		var expired bool
		err := s.DB.InTenant(ctx, true, func(_ pgx.Tx, q *dbq.Queries, tid string) error {
			r, err := q.GetOrder(ctx, dbq.GetOrderParams{TenantID: tid, ID: id})
			if errors.Is(err, pgx.ErrNoRows) {
				return noOrder()
			}
			if err != nil {
				return err
			}
			ok, err := visible(ctx, q, tid, r, cartToken)
			if err != nil {
				return err
			}
			if !ok {
				return noOrder()
			}
			expired = r.Status == string(apiserver.OrderPendingPayment) && r.ReservationExpiresAt != nil && !r.ReservationExpiresAt.After(time.Now())
			out, err = loadOrder(ctx, q, tid, r)
			return err
		})
		if err != nil {
			return nil, orderError(err, "get order")
		}
		if !expired || attempt > 0 {
			return out, nil
		}
		if err := s.expireOrder(ctx, id); err != nil {
			return nil, err
		}
	}
}

func orderError(err error, op string) error {
	var ae *apiserver.Error
	if errors.As(err, &ae) {
		return err
	}
	return fmt.Errorf("%s: %w", op, err)
}

type orderCursor struct {
	At time.Time `json:"t"`
	ID string    `json:"i"`
}

// ListOrders implements apiserver.OrderService: a customer's own orders, or all of
// the tenant's for staff, newest first.
func (s *OrderService) ListOrders(ctx context.Context, f apiserver.OrderFilter) (*apiserver.OrderPage, error) {
	if err := f.Normalize(); err != nil {
		return nil, err
	}
	p := apiserver.PrincipalFromContext(ctx)
	if p == nil {
		return nil, apiserver.Errorf(apiserver.ErrUnauthenticated, "Sign in to list orders.")
	}
	args := dbq.ListOrdersParams{Lim: int32(f.Limit + 1)} //nolint:gosec // Normalize bounds Limit to MaxPageSize
	if !p.Role.AtLeast(apiserver.RoleStaff) {
		args.CustomerID = &p.UserID
	}
	if f.Status != "" {
		st := string(f.Status)
		args.Status = &st
	}
	if f.Cursor != "" {
		var c orderCursor
		b, err := base64.RawURLEncoding.DecodeString(f.Cursor)
		if err != nil || json.Unmarshal(b, &c) != nil || !apiserver.ValidID(c.ID) {
			return nil, apiserver.FieldErrorf("cursor", "The cursor is not one this API returned.")
		}
		args.AfterCreated, args.AfterID = &c.At, &c.ID
	}
	out := &apiserver.OrderPage{Items: []*apiserver.Order{}}
	err := s.DB.InTenant(ctx, true, func(_ pgx.Tx, q *dbq.Queries, tid string) error {
		args.TenantID = tid
		rows, err := q.ListOrders(ctx, args)
		if err != nil {
			return err
		}
		if len(rows) > f.Limit {
			last := rows[f.Limit-1]
			b, _ := json.Marshal(orderCursor{At: last.CreatedAt, ID: last.ID})
			out.NextCursor = base64.RawURLEncoding.EncodeToString(b)
			rows = rows[:f.Limit]
		}
		out.Items, err = loadOrders(ctx, q, tid, rows)
		return err
	})
	if err != nil {
		return nil, orderError(err, "list orders")
	}
	return out, nil
}

// Transition implements apiserver.OrderService.
func (s *OrderService) Transition(ctx context.Context, id string, req apiserver.TransitionRequest) (*apiserver.Order, error) {
	if !req.To.Valid() {
		return nil, apiserver.FieldErrorf("to", "The target must be one of the order states.")
	}
	if err := apiserver.ValidText("reason", req.Reason, apiserver.MaxReasonLen); err != nil {
		return nil, err
	}
	if !apiserver.ValidID(id) {
		return nil, noOrder()
	}
	p := apiserver.PrincipalFromContext(ctx)
	actor := req.Actor
	if actor == "" {
		if p == nil {
			return nil, apiserver.Errorf(apiserver.ErrUnauthenticated, "Sign in to change an order.")
		}
		actor = "user:" + p.UserID
	}
	var out *apiserver.Order
	err := s.DB.InTenant(ctx, false, func(_ pgx.Tx, q *dbq.Queries, tid string) error {
		r, err := q.LockOrder(ctx, dbq.LockOrderParams{TenantID: tid, ID: id})
		if errors.Is(err, pgx.ErrNoRows) {
			return noOrder()
		}
		if err != nil {
			return err
		}
		from := apiserver.OrderStatus(r.Status)
		if req.Actor == "" && !p.Role.AtLeast(apiserver.RoleStaff) {
			if r.CustomerID == nil || *r.CustomerID != p.UserID {
				return noOrder()
			}
			if req.To != apiserver.OrderCancelled || from != apiserver.OrderPendingPayment {
				return apiserver.Errorf(apiserver.ErrForbidden, "Customers can only cancel their own orders, and only before they are paid.")
			}
		}
		if !from.CanBecome(req.To) {
			return &apiserver.Error{Code: apiserver.ErrInvalidTransition, Field: "to",
				Message: fmt.Sprintf("An order that is %s cannot become %s.", from, req.To)}
		}
		if req.Actor == "" {
			if err := manualStep(ctx, q, tid, r.ID, req); err != nil {
				return err
			}
		}
		r, err = applyTransition(ctx, q, tid, r, req.To, actor, req.Reason)
		if err != nil {
			return err
		}
		out, err = loadOrder(ctx, q, tid, r)
		return err
	})
	if err != nil {
		return nil, orderError(err, "order transition")
	}
	return out, nil
}

// manualStep checks a step staff take by hand against the order's money: payments
// move orders to paid and refunded themselves, so marking an order paid by hand is an
// override that must say why (it stays in the history and its event), and an order
// whose payment holds money is refunded with POST /orders/{id}/refunds, which gives the
// money back, rather than cancelled or marked refunded without moving it.
func manualStep(ctx context.Context, q *dbq.Queries, tid, orderID string, req apiserver.TransitionRequest) error {
	switch req.To {
	case apiserver.OrderPaid:
		if strings.TrimSpace(req.Reason) == "" {
			return apiserver.FieldErrorf("reason", "Marking an order paid by hand needs a reason (such as \"paid at the counter\"); payments mark orders paid themselves.")
		}
	case apiserver.OrderCancelled, apiserver.OrderRefunded:
		held, err := q.UnrefundedPayment(ctx, dbq.UnrefundedPaymentParams{TenantID: tid, OrderID: orderID})
		if err != nil {
			return err
		}
		if held > 0 {
			return &apiserver.Error{Code: apiserver.ErrRefundRequired, Field: "to", Message: fmt.Sprintf(
				"The order's payment holds %d (minor units) not refunded: refund it with POST /api/v1/orders/%s/refunds, which moves the order to refunded.", held, orderID)}
		}
	}
	return nil
}

// applyTransition moves a locked order to `to` (already checked against the state
// machine) with the effects on stock: leaving pending_payment or paid for cancelled
// or refunded releases the reservations, paid keeps them without expiry, fulfilled
// takes the units out of the warehouses. It records the step and its events.
func applyTransition(ctx context.Context, q *dbq.Queries, tid string, r dbq.Order, to apiserver.OrderStatus, actor, reason string) (dbq.Order, error) {
	from := apiserver.OrderStatus(r.Status)
	var changes []stockChange
	var err error
	switch {
	case from.HoldsStock() && !to.HoldsStock() && to != apiserver.OrderFulfilled:
		changes, err = releaseReservations(ctx, q, tid, r.ID)
	case to == apiserver.OrderPaid:
		err = q.KeepReservations(ctx, dbq.KeepReservationsParams{TenantID: tid, OrderID: r.ID})
	case to == apiserver.OrderFulfilled:
		err = consumeReservations(ctx, q, tid, r.ID, actor)
	}
	if err != nil {
		return r, err
	}
	at := now()
	var expires *time.Time
	if to == apiserver.OrderPendingPayment {
		expires = r.ReservationExpiresAt
	}
	r, err = q.SetOrderStatus(ctx, dbq.SetOrderStatusParams{TenantID: tid, ID: r.ID, Status: string(to), ReservationExpiresAt: expires, UpdatedAt: at})
	if err != nil {
		return r, err
	}
	fromS := string(from)
	if err := q.InsertOrderTransition(ctx, dbq.InsertOrderTransitionParams{TenantID: tid, OrderID: r.ID, FromStatus: &fromS,
		ToStatus: string(to), Actor: actor, Reason: reason, CreatedAt: at}); err != nil {
		return r, err
	}
	var ev outboxBatch
	if err := ev.add("order", r.ID, events.OrderTransitioned, events.OrderTransition{OrderID: r.ID, From: string(from), To: string(to), Actor: actor, Reason: reason, Version: r.Version, At: at}); err != nil {
		return r, err
	}
	if err := ev.write(ctx, q, tid); err != nil {
		return r, err
	}
	return r, stockEvents(ctx, q, tid, changes)
}

// lockReserved locks the stock rows of the SKUs an order holds, in SKU order (the
// order every checkout locks them in), and returns whether it holds any. Every writer
// of a SKU's warehouses holds its stock row first, so the statement that follows
// reads the warehouses as they are.
func lockReserved(ctx context.Context, q *dbq.Queries, tid, orderID string) (bool, error) {
	skus, err := q.LockReservedStocks(ctx, dbq.LockReservedStocksParams{TenantID: tid, OrderID: orderID})
	return len(skus) > 0, err
}

// releaseReservations gives an order's reserved units back to availability, in the
// warehouses they were placed in.
func releaseReservations(ctx context.Context, q *dbq.Queries, tid, orderID string) ([]stockChange, error) {
	if ok, err := lockReserved(ctx, q, tid, orderID); !ok {
		return nil, err
	}
	rows, err := q.ReleaseStock(ctx, dbq.ReleaseStockParams{TenantID: tid, OrderID: orderID})
	if err != nil {
		return nil, err
	}
	changes := make([]stockChange, len(rows))
	for i, r := range rows {
		changes[i] = stockChange{r.Sku, r.Available, r.Version}
	}
	return changes, nil
}

// consumeReservations takes a fulfilled order's units out of stock: each reservation
// leaves the warehouse it was placed in (on hand and reserved drop together, so
// availability does not change), recorded in the ledger.
func consumeReservations(ctx context.Context, q *dbq.Queries, tid, orderID, actor string) error {
	if ok, err := lockReserved(ctx, q, tid, orderID); !ok {
		return err
	}
	return q.ConsumeReservations(ctx, dbq.ConsumeReservationsParams{TenantID: tid, OrderID: orderID, Actor: actor})
}

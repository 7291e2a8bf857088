package postgres

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/kommerce/kommerce/apiserver"
	"github.com/kommerce/kommerce/apiserver/postgres/dbq"
	"github.com/kommerce/kommerce/internal/events"
	"github.com/kommerce/kommerce/internal/secretbox"
)

// ActorStripe is the actor of order steps taken because of a Stripe event.
const ActorStripe = "payment:stripe"

// PaymentService implements apiserver.PaymentService: the database is the record,
// the gateway (Stripe) moves the money. Every method that calls the gateway commits
// what it is about to do first and records the answer in a second transaction; no
// transaction is open during a gateway call, and none of them locks stock rows
// before it (the order transitions they cause lock stock only in their own short
// transaction).
type PaymentService struct {
	*Commerce
	Gateway  apiserver.PaymentGateway
	Webhooks apiserver.WebhookVerifier
	Keys     apiserver.PaymentKeySource
	// RetryWindow defaults to apiserver.DefaultPaymentRetryWindow.
	RetryWindow time.Duration
	Logger      *slog.Logger
}

var _ apiserver.PaymentService = (*PaymentService)(nil)

var (
	eventIDRE   = regexp.MustCompile(`^evt_[A-Za-z0-9_]{1,250}$`)
	intentIDRE  = regexp.MustCompile(`^pi_[A-Za-z0-9_]{1,250}$`)
	chargeIDRE  = regexp.MustCompile(`^(ch|py)_[A-Za-z0-9_]{1,250}$`)
	disputeIDRE = regexp.MustCompile(`^(dp|du)_[A-Za-z0-9_]{1,250}$`)
	refundIDRE  = regexp.MustCompile(`^(re|pyr)_[A-Za-z0-9_]{1,250}$`)
)

func (s *PaymentService) log() *slog.Logger {
	if s.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return s.Logger
}

// keys returns the Stripe keys of the tenant in ctx.
func (s *PaymentService) keys(ctx context.Context) (apiserver.StripeKeys, error) {
	t, err := apiserver.RequireTenant(ctx)
	if err != nil {
		return apiserver.StripeKeys{}, err
	}
	if s.Keys == nil {
		return apiserver.StripeKeys{}, notConfigured()
	}
	k, err := s.Keys.StripeKeys(ctx, t.ID)
	if errors.Is(err, apiserver.ErrNoPaymentKeys) {
		return k, notConfigured()
	}
	if err != nil {
		return k, fmt.Errorf("stripe keys: %w", err)
	}
	return k, nil
}

func notConfigured() error {
	return apiserver.Errorf(apiserver.ErrPaymentsNotConfigured, "Payments are not configured for this shop.")
}

func secretKey(k apiserver.StripeKeys, err error) (string, error) {
	if err == nil && k.SecretKey == "" {
		err = notConfigured()
	}
	return k.SecretKey, err
}

func paymentOf(p dbq.Payment) *apiserver.Payment {
	return &apiserver.Payment{ID: p.ID, OrderID: p.OrderID, Provider: p.Provider, IntentID: deref(p.IntentID), Status: p.Status,
		Amount: p.Amount, Currency: p.Currency, AmountReceived: p.AmountReceived, AmountRefunded: p.AmountRefunded,
		Failures: int(p.Failures), LastFailure: p.LastFailure, Version: p.Version, CreatedAt: p.CreatedAt, UpdatedAt: p.UpdatedAt}
}

// Statuses of payment.updated beside the intent's own.
const (
	evFailed            = "failed"
	evRefunded          = "refunded"
	evPartiallyRefunded = "partially_refunded"
	evDisputed          = "disputed"
)

// updated is the payment.updated event of p's state with status, keyed by the order
// (aggregate "payment", id = order id) so an order's and its payment's events stay
// in one partition, in order.
func updated(p dbq.Payment, status string) events.Payment {
	attempts := int(p.Failures)
	if p.Status == apiserver.PaymentSucceeded {
		attempts++
	}
	return events.Payment{OrderID: p.OrderID, PaymentID: p.ID, IntentID: deref(p.IntentID), Status: status, Amount: p.Amount,
		AmountReceived: p.AmountReceived, AmountRefunded: p.AmountRefunded, Currency: p.Currency, Attempts: attempts,
		Source: "api", Version: p.Version, At: now()}
}

func writeUpdated(ctx context.Context, q *dbq.Queries, tid string, ev events.Payment) error {
	var b outboxBatch
	if err := b.add("payment", ev.OrderID, events.PaymentUpdated, ev); err != nil {
		return err
	}
	return b.write(ctx, q, tid)
}

// intentKey is the Idempotency-Key of an order's create-intent call: derived from the
// order and the Idempotency-Key it was checked out with, so every retry of the call,
// from any replica and after any crash, sends the same one and Stripe answers with
// the same intent.
func intentKey(tid, orderID, checkoutKey string) string {
	if checkoutKey == "" {
		return "kommerce-pi-" + orderID
	}
	h := sha256.Sum256([]byte(tid + "\n" + checkoutKey))
	return "kommerce-pi-" + orderID + "-" + hex.EncodeToString(h[:8])
}

func notPayable(format string, args ...any) error {
	return apiserver.Errorf(apiserver.ErrOrderNotPayable, format, args...)
}

// errExpired asks PayOrder to expire the order (its reservation ran out) and refuse.
var errExpired = errors.New("reservation expired")

// PayOrder implements apiserver.PaymentService.
func (s *PaymentService) PayOrder(ctx context.Context, orderID, cartToken string) (*apiserver.PaymentSession, bool, error) {
	if err := orderCaller(ctx, orderID, cartToken); err != nil {
		return nil, false, err
	}
	keys, keyErr := s.keys(ctx)
	var pay dbq.Payment
	err := s.DB.InTenant(ctx, false, func(_ pgx.Tx, q *dbq.Queries, tid string) error {
		// The order's row lock serializes concurrent pays of one order; it is held
		// only for this short transaction and no stock row is locked.
		o, err := seeOrder(ctx, q, tid, orderID, cartToken, true)
		if err != nil {
			return err
		}
		pay, err = q.PaymentByOrder(ctx, dbq.PaymentByOrderParams{TenantID: tid, OrderID: orderID})
		found := err == nil
		if err != nil && !errors.Is(err, pgx.ErrNoRows) {
			return err
		}
		status := apiserver.OrderStatus(o.Status)
		switch {
		case found && pay.Status == apiserver.PaymentSucceeded && status != apiserver.OrderCancelled && status != apiserver.OrderRefunded:
			return nil // paid: the same intent again
		case status != apiserver.OrderPendingPayment:
			return notPayable("An order that is %s cannot be paid.", status)
		case o.ReservationExpiresAt != nil && !o.ReservationExpiresAt.After(time.Now()):
			return errExpired
		case found && pay.Status == "canceled":
			return notPayable("The order's payment was canceled; the order cannot be paid any more.")
		case found:
			return nil
		case o.Total <= 0:
			return notPayable("The order has nothing to pay.")
		}
		if _, err := secretKey(keys, keyErr); err != nil {
			return err
		}
		ck, err := q.CheckoutKeyOfOrder(ctx, dbq.CheckoutKeyOfOrderParams{TenantID: tid, OrderID: &orderID})
		if err != nil && !errors.Is(err, pgx.ErrNoRows) {
			return err
		}
		pay, err = q.InsertPayment(ctx, dbq.InsertPaymentParams{TenantID: tid, OrderID: orderID, IdempotencyKey: intentKey(tid, orderID, ck),
			Amount: o.Total, Currency: o.Currency})
		if errors.Is(err, pgx.ErrNoRows) {
			pay, err = q.PaymentByOrder(ctx, dbq.PaymentByOrderParams{TenantID: tid, OrderID: orderID})
		}
		return err
	})
	if errors.Is(err, errExpired) {
		if err := s.expireOrder(ctx, orderID); err != nil {
			return nil, false, err
		}
		return nil, false, notPayable("The order's reservation expired and the order was cancelled; it cannot be paid.")
	}
	if err != nil {
		return nil, false, orderError(err, "pay order")
	}
	key, err := secretKey(keys, keyErr)
	if err != nil {
		return nil, false, err
	}
	if pay.IntentID != nil {
		in, err := s.Gateway.GetIntent(ctx, key, *pay.IntentID)
		if err != nil {
			return nil, false, err
		}
		return &apiserver.PaymentSession{Payment: *paymentOf(pay), ClientSecret: in.ClientSecret}, false, nil
	}
	return s.createIntent(ctx, key, pay)
}

// orderCaller refuses, before any query, a request about an order that names no
// order or no caller who could see one.
func orderCaller(ctx context.Context, orderID, cartToken string) error {
	if !apiserver.ValidID(orderID) {
		return noOrder()
	}
	if apiserver.PrincipalFromContext(ctx) == nil && cartToken == "" {
		return apiserver.Errorf(apiserver.ErrUnauthenticated, "Sign in, or send the X-Cart-Token of the cart the order came from.")
	}
	return nil
}

// seeOrder reads the order, under its row lock when lock is set, as the caller may
// see it: not_found when it does not exist or the caller may not see it.
func seeOrder(ctx context.Context, q *dbq.Queries, tid, orderID, cartToken string, lock bool) (dbq.Order, error) {
	var o dbq.Order
	var err error
	if lock {
		o, err = q.LockOrder(ctx, dbq.LockOrderParams{TenantID: tid, ID: orderID})
	} else {
		o, err = q.GetOrder(ctx, dbq.GetOrderParams{TenantID: tid, ID: orderID})
	}
	if errors.Is(err, pgx.ErrNoRows) {
		return o, noOrder()
	}
	if err != nil {
		return o, err
	}
	ok, err := visible(ctx, q, tid, o, cartToken)
	if err == nil && !ok {
		err = noOrder()
	}
	return o, err
}

// createIntent calls Stripe for a payment recorded as "creating" and records the
// answer. A concurrent request (or the intent's webhook) may have recorded it first;
// then that one is the answer.
func (s *PaymentService) createIntent(ctx context.Context, key string, pay dbq.Payment) (*apiserver.PaymentSession, bool, error) {
	t := apiserver.TenantFromContext(ctx)
	in, err := s.Gateway.CreateIntent(ctx, key, apiserver.IntentRequest{Amount: pay.Amount, Currency: pay.Currency,
		IdempotencyKey: pay.IdempotencyKey, Description: "Order " + pay.OrderID,
		Metadata: map[string]string{apiserver.MetaTenantID: t.ID, apiserver.MetaOrderID: pay.OrderID, apiserver.MetaPaymentID: pay.ID}})
	if err != nil {
		return nil, false, err
	}
	if !intentIDRE.MatchString(in.ID) {
		return nil, false, fmt.Errorf("stripe answered with intent id %q", in.ID)
	}
	created := false
	err = s.DB.InTenant(ctx, false, func(_ pgx.Tx, q *dbq.Queries, tid string) error {
		status := in.Status
		if !validIntentStatus(status) {
			status = "requires_payment_method"
		}
		rec, err := q.RecordIntent(ctx, dbq.RecordIntentParams{TenantID: tid, ID: pay.ID, IntentID: &in.ID, Status: status})
		if errors.Is(err, pgx.ErrNoRows) {
			pay, err = q.PaymentByOrder(ctx, dbq.PaymentByOrderParams{TenantID: tid, OrderID: pay.OrderID})
			return err
		}
		if err != nil {
			return err
		}
		pay, created = rec, true
		return writeUpdated(ctx, q, tid, updated(rec, rec.Status))
	})
	if err != nil {
		return nil, false, fmt.Errorf("record payment intent: %w", err)
	}
	secret := in.ClientSecret
	if pay.IntentID != nil && *pay.IntentID != in.ID {
		other, err := s.Gateway.GetIntent(ctx, key, *pay.IntentID)
		if err != nil {
			return nil, false, err
		}
		secret = other.ClientSecret
	}
	return &apiserver.PaymentSession{Payment: *paymentOf(pay), ClientSecret: secret}, created, nil
}

func validIntentStatus(s string) bool {
	switch s {
	case "requires_payment_method", "requires_confirmation", "requires_action", "processing", "requires_capture", "canceled", "succeeded":
		return true
	}
	return false
}

// PaymentRecords implements apiserver.PaymentService.
func (s *PaymentService) PaymentRecords(ctx context.Context, orderID, cartToken string) (*apiserver.PaymentRecords, error) {
	if err := orderCaller(ctx, orderID, cartToken); err != nil {
		return nil, err
	}
	p := apiserver.PrincipalFromContext(ctx)
	staff := p != nil && p.Role.AtLeast(apiserver.RoleStaff)
	out := &apiserver.PaymentRecords{OrderID: orderID, Intents: []*apiserver.Payment{}, Charges: []apiserver.Charge{}, Refunds: []apiserver.Refund{}, Disputes: []apiserver.Dispute{}}
	err := s.DB.InTenant(ctx, true, func(_ pgx.Tx, q *dbq.Queries, tid string) error {
		if _, err := seeOrder(ctx, q, tid, orderID, cartToken, false); err != nil {
			return err
		}
		pay, err := q.PaymentByOrder(ctx, dbq.PaymentByOrderParams{TenantID: tid, OrderID: orderID})
		if errors.Is(err, pgx.ErrNoRows) {
			return nil
		}
		if err != nil {
			return err
		}
		out.Intents = append(out.Intents, paymentOf(pay))
		if pay.ChargeID != nil {
			out.Charges = append(out.Charges, apiserver.Charge{ID: *pay.ChargeID, IntentID: deref(pay.IntentID), Amount: pay.AmountReceived,
				AmountRefunded: pay.AmountRefunded, Currency: pay.Currency})
		}
		refunds, err := q.OrderRefunds(ctx, dbq.OrderRefundsParams{TenantID: tid, OrderID: orderID})
		if err != nil {
			return err
		}
		for _, r := range refunds {
			v := refundOf(r, pay.Currency)
			if !staff {
				v.Actor = ""
			}
			out.Refunds = append(out.Refunds, v)
		}
		disputes, err := q.OrderDisputes(ctx, dbq.OrderDisputesParams{TenantID: tid, OrderID: orderID})
		if err != nil {
			return err
		}
		for _, d := range disputes {
			out.Disputes = append(out.Disputes, apiserver.Dispute{ID: d.StripeID, Amount: d.Amount, Currency: d.Currency, Reason: d.Reason,
				Status: d.Status, OpenedAt: d.OpenedAt})
		}
		return nil
	})
	if err != nil {
		return nil, orderError(err, "payment records")
	}
	return out, nil
}

func refundOf(r dbq.PaymentRefund, currency string) apiserver.Refund {
	return apiserver.Refund{ID: r.ID, OrderID: r.OrderID, StripeID: deref(r.StripeID), Amount: r.Amount, Currency: currency, Status: r.Status,
		Reason: r.Reason, Note: r.Note, Actor: r.Actor, Failure: r.Failure, CreatedAt: r.CreatedAt, UpdatedAt: r.UpdatedAt}
}

// SetStripeKeys stores a tenant's Stripe keys in the database (kommerce admin
// set-stripe-keys), sealed with box (nil: in plaintext); PaymentKeyStore reads them.
func SetStripeKeys(ctx context.Context, db *DB, box *secretbox.Keyring, tenantID string, k apiserver.StripeKeys) error {
	secret, err := sealText(box, tenantID, ColumnStripeSecretKey, k.SecretKey)
	if err != nil {
		return err
	}
	webhook, err := sealText(box, tenantID, ColumnStripeWebhookSecret, k.WebhookSecret)
	if err != nil {
		return err
	}
	ctx = apiserver.NewContextWithTenant(ctx, &apiserver.Tenant{ID: tenantID})
	return db.InTenant(ctx, false, func(_ pgx.Tx, q *dbq.Queries, tid string) error {
		return q.UpsertPaymentKeys(ctx, dbq.UpsertPaymentKeysParams{TenantID: tid, StripeSecretKey: secret, StripeWebhookSecret: webhook})
	})
}

// PaymentKeyStore reads tenants' Stripe keys from the database: the source for
// installs without a cluster. It implements apiserver.PaymentKeySource. Box opens
// sealed keys (nil: only plaintext rows can be read).
type PaymentKeyStore struct {
	DB  *DB
	Box *secretbox.Keyring
}

// StripeKeys implements apiserver.PaymentKeySource.
func (s *PaymentKeyStore) StripeKeys(ctx context.Context, tenantID string) (apiserver.StripeKeys, error) {
	var out apiserver.StripeKeys
	ctx = apiserver.NewContextWithTenant(ctx, &apiserver.Tenant{ID: tenantID})
	err := s.DB.InTenant(ctx, true, func(_ pgx.Tx, q *dbq.Queries, tid string) error {
		r, err := q.PaymentKeys(ctx, tid)
		if errors.Is(err, pgx.ErrNoRows) {
			return apiserver.ErrNoPaymentKeys
		}
		if err != nil {
			return err
		}
		if out.SecretKey, err = openText(s.Box, tid, ColumnStripeSecretKey, r.StripeSecretKey); err != nil {
			return err
		}
		out.WebhookSecret, err = openText(s.Box, tid, ColumnStripeWebhookSecret, r.StripeWebhookSecret)
		return err
	})
	if err == nil && out.SecretKey == "" && out.WebhookSecret == "" {
		err = apiserver.ErrNoPaymentKeys
	}
	return out, err
}

// requestHash fingerprints a refund request, to tell a retry from a different
// request reusing its key.
func requestHash(in apiserver.RefundInput) []byte {
	b, _ := json.Marshal(in)
	h := sha256.Sum256(b)
	return h[:]
}

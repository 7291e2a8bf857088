package postgres

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/kommerce/kommerce/apiserver"
	"github.com/kommerce/kommerce/apiserver/postgres/dbq"
)

// CartService implements apiserver.CartService.
type CartService struct{ *Commerce }

var _ apiserver.CartService = (*CartService)(nil)

func noCart() error {
	return apiserver.Errorf(apiserver.ErrNotFound, "No cart with that id (a guest cart needs its X-Cart-Token).")
}

func closedCart(c dbq.Cart) error {
	if c.Status == apiserver.CartMerged {
		return apiserver.Errorf(apiserver.ErrCartClosed, "This cart was merged into the customer's cart at login.")
	}
	return apiserver.Errorf(apiserver.ErrCartClosed, "This cart was checked out; start a new one.")
}

// mayUse reports whether the caller in ctx may use cart: a guest cart with its token,
// a customer cart by its owner.
func mayUse(ctx context.Context, c dbq.Cart, token string) bool {
	if c.CustomerID != nil {
		p := apiserver.PrincipalFromContext(ctx)
		return p != nil && p.UserID == *c.CustomerID
	}
	return token != "" && subtle.ConstantTimeCompare(hashSecret(token), c.TokenHash) == 1
}

// openCart finds a cart the caller may use, locked for a change when lock is set.
func openCart(ctx context.Context, q *dbq.Queries, tid string, ref apiserver.CartRef, lock bool) (dbq.Cart, error) {
	if !apiserver.ValidID(ref.ID) {
		return dbq.Cart{}, noCart()
	}
	var c dbq.Cart
	var err error
	if lock {
		c, err = q.LockCart(ctx, dbq.LockCartParams{TenantID: tid, ID: ref.ID})
	} else {
		c, err = q.GetCart(ctx, dbq.GetCartParams{TenantID: tid, ID: ref.ID})
	}
	if errors.Is(err, pgx.ErrNoRows) || (err == nil && !mayUse(ctx, c, ref.Token)) {
		return dbq.Cart{}, noCart()
	}
	return c, err
}

// pricedLine is a cart line with what the catalog and the stock say about it now.
type pricedLine struct {
	apiserver.CartLine
	hasExpired bool
}

func lineName(product *string, attrs []byte) string {
	name := ""
	if product != nil {
		name = *product
	}
	var a map[string]string
	if json.Unmarshal(attrs, &a) != nil || len(a) == 0 {
		return name
	}
	keys := make([]string, 0, len(a))
	for k := range a {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	vals := make([]string, len(keys))
	for i, k := range keys {
		vals[i] = a[k]
	}
	return name + " (" + strings.Join(vals, ", ") + ")"
}

// priceLines computes each line's price, availability and problem, and the totals of
// the lines without a problem.
func priceLines(rows []dbq.CartLinesPricedRow) (lines []pricedLine, subtotal, items int64) {
	lines = make([]pricedLine, len(rows))
	for i, r := range rows {
		l := apiserver.CartLine{ID: r.ID, SKU: r.Sku, Name: lineName(r.ProductName, r.VariantAttributes), Quantity: int64(r.Quantity), Available: max(r.Available, 0)}
		if r.ProductID != nil {
			l.ProductID = *r.ProductID
		}
		switch {
		case !r.Sellable:
			l.Problem = apiserver.LineUnknownSKU
		case r.Price == nil:
			l.Problem = apiserver.LinePriceUnavailable
		default:
			l.UnitPrice = *r.Price
			l.Amount = l.UnitPrice * l.Quantity
			if l.Quantity > l.Available {
				l.Problem = apiserver.LineInsufficientStock
			}
		}
		if l.Problem == "" {
			subtotal += l.Amount
			items += l.Quantity
		}
		lines[i] = pricedLine{CartLine: l, hasExpired: r.HasExpired}
	}
	return lines, subtotal, items
}

// loadCart renders a cart as the API shows it. It returns the SKUs whose availability
// is held down by expired reservations, for the caller to release and read again.
func (s *CartService) loadCart(ctx context.Context, q *dbq.Queries, tid string, c dbq.Cart) (*apiserver.Cart, []string, error) {
	out := &apiserver.Cart{ID: c.ID, Status: c.Status, CustomerID: c.CustomerID, Currency: c.Currency, Lines: []apiserver.CartLine{},
		CreatedAt: c.CreatedAt, UpdatedAt: c.UpdatedAt}
	if c.Status == apiserver.CartCheckedOut {
		id, err := q.CartOrderID(ctx, dbq.CartOrderIDParams{TenantID: tid, CartID: c.ID})
		if err != nil && !errors.Is(err, pgx.ErrNoRows) {
			return nil, nil, err
		}
		if id != "" {
			out.OrderID = &id
		}
	}
	rows, err := q.CartLinesPriced(ctx, dbq.CartLinesPricedParams{TenantID: tid, CartID: c.ID, Currency: c.Currency})
	if err != nil {
		return nil, nil, err
	}
	lines, subtotal, items := priceLines(rows)
	var expired []string
	for _, l := range lines {
		out.Lines = append(out.Lines, l.CartLine)
		if l.hasExpired && l.Problem == apiserver.LineInsufficientStock && c.Status == apiserver.CartActive {
			expired = append(expired, l.SKU)
		}
	}
	settings, err := s.settingsFor(ctx, q, tid)
	if err != nil {
		return nil, nil, err
	}
	out.Subtotal, out.ItemCount = subtotal, items
	out.Shipping, out.Tax = settings.Charges(subtotal)
	out.Total = out.Subtotal + out.Shipping + out.Tax
	return out, expired, nil
}

// read runs fn, then renders the cart it names; when expired reservations hold some
// of the cart's SKUs, they are released and the cart read again.
func (s *CartService) read(ctx context.Context, readOnly bool, fn func(q *dbq.Queries, tid string) (dbq.Cart, error)) (*apiserver.Cart, error) {
	var out *apiserver.Cart
	var expired []string
	run := func(fn func(q *dbq.Queries, tid string) (dbq.Cart, error), readOnly bool) error {
		return s.DB.InTenant(ctx, readOnly, func(_ pgx.Tx, q *dbq.Queries, tid string) error {
			c, err := fn(q, tid)
			if err != nil {
				return err
			}
			out, expired, err = s.loadCart(ctx, q, tid, c)
			return err
		})
	}
	if err := run(fn, readOnly); err != nil {
		return nil, cartError(err)
	}
	if len(expired) == 0 {
		return out, nil
	}
	if released, err := s.expireHolders(ctx, expired); err != nil || !released {
		return out, err
	}
	id := out.ID
	err := run(func(q *dbq.Queries, tid string) (dbq.Cart, error) {
		return q.GetCart(ctx, dbq.GetCartParams{TenantID: tid, ID: id})
	}, true)
	if err != nil {
		return nil, cartError(err)
	}
	return out, nil
}

func cartError(err error) error {
	var ae *apiserver.Error
	if errors.As(err, &ae) {
		return err
	}
	return fmt.Errorf("cart: %w", err)
}

// CreateCart implements apiserver.CartService.
func (s *CartService) CreateCart(ctx context.Context) (*apiserver.Cart, bool, error) {
	p := apiserver.PrincipalFromContext(ctx)
	token, created := "", false
	out, err := s.read(ctx, false, func(q *dbq.Queries, tid string) (dbq.Cart, error) {
		settings, err := s.settingsFor(ctx, q, tid)
		if err != nil {
			return dbq.Cart{}, err
		}
		in := dbq.InsertCartParams{TenantID: tid, Storefront: settings.Storefront, Currency: settings.Currency}
		if p != nil {
			c, err := q.ActiveCustomerCart(ctx, dbq.ActiveCustomerCartParams{TenantID: tid, CustomerID: &p.UserID})
			if err == nil || !errors.Is(err, pgx.ErrNoRows) {
				return c, err
			}
			in.CustomerID = &p.UserID
		} else {
			token = "ct_" + rand.Text() + rand.Text()
			in.TokenHash = hashSecret(token)
		}
		created = true
		return q.InsertCart(ctx, in)
	})
	if err != nil {
		// Two first requests of one customer raced; the other one created the cart.
		if code, _ := pgCode(err); code == pgUniqueViolation && p != nil {
			return s.CreateCart(ctx)
		}
		return nil, false, err
	}
	out.Token = token
	return out, created, nil
}

// GetCart implements apiserver.CartService.
func (s *CartService) GetCart(ctx context.Context, ref apiserver.CartRef) (*apiserver.Cart, error) {
	return s.read(ctx, true, func(q *dbq.Queries, tid string) (dbq.Cart, error) {
		return openCart(ctx, q, tid, ref, false)
	})
}

// setLine sets the quantity of a SKU's line after checking the SKU is for sale in the
// cart's currency and that the quantity is available.
func setLine(ctx context.Context, q *dbq.Queries, tid string, c dbq.Cart, sku string, qty int64, field string) error {
	info, err := q.SKUForCart(ctx, dbq.SKUForCartParams{TenantID: tid, Sku: sku, Currency: c.Currency})
	switch {
	case errors.Is(err, pgx.ErrNoRows) || (err == nil && !info.Sellable):
		return &apiserver.Error{Code: apiserver.ErrUnknownSKU, Field: "sku", Message: fmt.Sprintf("This shop sells nothing with the SKU %s.", sku)}
	case err != nil:
		return err
	case info.Price == nil:
		return &apiserver.Error{Code: apiserver.ErrPriceUnavailable, Field: "sku", Message: fmt.Sprintf("SKU %s has no price in %s.", sku, c.Currency)}
	case qty > apiserver.MaxLineQty:
		// The request's quantity is in range (the spec says so); the line's total is
		// what conflicts, so 409 like insufficient stock, not 400.
		return &apiserver.Error{Code: apiserver.ErrConflict, Field: field, Message: fmt.Sprintf("A cart line holds at most %d units.", apiserver.MaxLineQty)}
	case qty > info.Available:
		if info.HasExpired {
			return errExpiredHold{sku}
		}
		return &apiserver.Error{Code: apiserver.ErrInsufficientStock, Field: field,
			Message: fmt.Sprintf("Only %d of %s are available.", max(info.Available, 0), sku)}
	}
	return q.SetCartLine(ctx, dbq.SetCartLineParams{TenantID: tid, CartID: c.ID, Sku: sku, Quantity: int32(qty)}) //nolint:gosec // qty <= MaxLineQty, checked above
}

// errExpiredHold means expired reservations hold units a request needs; the request is
// retried once after they are released.
type errExpiredHold struct{ sku string }

func (e errExpiredHold) Error() string { return "expired reservations hold " + e.sku }

// change locks an active cart the caller may use, applies fn and renders the cart.
func (s *CartService) change(ctx context.Context, ref apiserver.CartRef, fn func(q *dbq.Queries, tid string, c dbq.Cart) error) (*apiserver.Cart, error) {
	for attempt := 0; ; attempt++ {
		out, err := s.read(ctx, false, func(q *dbq.Queries, tid string) (dbq.Cart, error) {
			c, err := openCart(ctx, q, tid, ref, true)
			if err != nil {
				return c, err
			}
			if c.Status != apiserver.CartActive {
				return c, closedCart(c)
			}
			if err := fn(q, tid, c); err != nil {
				return c, err
			}
			return c, q.TouchCart(ctx, dbq.TouchCartParams{TenantID: tid, ID: c.ID})
		})
		var hold errExpiredHold
		if errors.As(err, &hold) && attempt == 0 {
			if _, err := s.expireHolders(ctx, []string{hold.sku}); err != nil {
				return nil, err
			}
			continue
		}
		if errors.As(err, &hold) {
			return nil, &apiserver.Error{Code: apiserver.ErrInsufficientStock, Field: "quantity", Message: fmt.Sprintf("Not enough of %s is available.", hold.sku)}
		}
		return out, err
	}
}

// AddItem implements apiserver.CartService.
func (s *CartService) AddItem(ctx context.Context, ref apiserver.CartRef, in apiserver.CartItemInput) (*apiserver.Cart, error) {
	if err := in.Validate(); err != nil {
		return nil, err
	}
	return s.change(ctx, ref, func(q *dbq.Queries, tid string, c dbq.Cart) error {
		qty := in.Quantity
		line, err := q.CartLineBySKU(ctx, dbq.CartLineBySKUParams{TenantID: tid, CartID: c.ID, Sku: in.SKU})
		switch {
		case err == nil:
			qty += int64(line.Quantity)
		case !errors.Is(err, pgx.ErrNoRows):
			return err
		default:
			n, err := q.CountCartLines(ctx, dbq.CountCartLinesParams{TenantID: tid, CartID: c.ID})
			if err != nil {
				return err
			}
			if n >= apiserver.MaxCartLines {
				return &apiserver.Error{Code: apiserver.ErrConflict, Field: "sku", Message: fmt.Sprintf("A cart holds at most %d different SKUs.", apiserver.MaxCartLines)}
			}
		}
		return setLine(ctx, q, tid, c, in.SKU, qty, "quantity")
	})
}

// SetItemQuantity implements apiserver.CartService.
func (s *CartService) SetItemQuantity(ctx context.Context, ref apiserver.CartRef, lineID string, quantity int64) (*apiserver.Cart, error) {
	if err := apiserver.ValidateLineQuantity(quantity); err != nil {
		return nil, err
	}
	return s.change(ctx, ref, func(q *dbq.Queries, tid string, c dbq.Cart) error {
		line, err := cartLine(ctx, q, tid, c.ID, lineID)
		if err != nil {
			return err
		}
		return setLine(ctx, q, tid, c, line.Sku, quantity, "quantity")
	})
}

func cartLine(ctx context.Context, q *dbq.Queries, tid, cartID, lineID string) (dbq.CartLine, error) {
	if !apiserver.ValidID(lineID) {
		return dbq.CartLine{}, apiserver.Errorf(apiserver.ErrNotFound, "No line with that id in this cart.")
	}
	l, err := q.CartLine(ctx, dbq.CartLineParams{TenantID: tid, CartID: cartID, ID: lineID})
	if errors.Is(err, pgx.ErrNoRows) {
		return l, apiserver.Errorf(apiserver.ErrNotFound, "No line with that id in this cart.")
	}
	return l, err
}

// RemoveItem implements apiserver.CartService.
func (s *CartService) RemoveItem(ctx context.Context, ref apiserver.CartRef, lineID string) (*apiserver.Cart, error) {
	return s.change(ctx, ref, func(q *dbq.Queries, tid string, c dbq.Cart) error {
		if _, err := cartLine(ctx, q, tid, c.ID, lineID); err != nil {
			return err
		}
		_, err := q.DeleteCartLine(ctx, dbq.DeleteCartLineParams{TenantID: tid, CartID: c.ID, ID: lineID})
		return err
	})
}

// MergeGuestCart implements apiserver.CartService. A customer without an active cart
// adopts the guest cart as it is; otherwise each guest line is added to the
// customer's line of that SKU, capped at what is available (lines of SKUs no longer
// for sale are dropped), and the guest cart is closed as merged.
func (s *CartService) MergeGuestCart(ctx context.Context, customerID, token string) (string, error) {
	if token == "" || len(token) > 200 {
		return "", nil
	}
	var out string
	err := s.DB.InTenant(ctx, false, func(_ pgx.Tx, q *dbq.Queries, tid string) error {
		guest, err := q.LockGuestCartByToken(ctx, dbq.LockGuestCartByTokenParams{TenantID: tid, TokenHash: hashSecret(token)})
		if errors.Is(err, pgx.ErrNoRows) {
			return nil
		}
		if err != nil {
			return err
		}
		own, err := q.ActiveCustomerCart(ctx, dbq.ActiveCustomerCartParams{TenantID: tid, CustomerID: &customerID})
		if errors.Is(err, pgx.ErrNoRows) {
			out = guest.ID
			return q.AdoptCart(ctx, dbq.AdoptCartParams{TenantID: tid, ID: guest.ID, CustomerID: &customerID})
		}
		if err != nil {
			return err
		}
		if own, err = q.LockCart(ctx, dbq.LockCartParams{TenantID: tid, ID: own.ID}); err != nil {
			return err
		}
		rows, err := q.CartLinesPriced(ctx, dbq.CartLinesPricedParams{TenantID: tid, CartID: guest.ID, Currency: own.Currency})
		if err != nil {
			return err
		}
		n, err := q.CountCartLines(ctx, dbq.CountCartLinesParams{TenantID: tid, CartID: own.ID})
		if err != nil {
			return err
		}
		for _, r := range rows {
			if !r.Sellable {
				continue
			}
			qty := int64(r.Quantity)
			l, err := q.CartLineBySKU(ctx, dbq.CartLineBySKUParams{TenantID: tid, CartID: own.ID, Sku: r.Sku})
			switch {
			case err == nil:
				qty += int64(l.Quantity)
			case !errors.Is(err, pgx.ErrNoRows):
				return err
			case n >= apiserver.MaxCartLines:
				continue
			default:
				n++
			}
			qty = min(qty, max(r.Available, 0), apiserver.MaxLineQty)
			if qty < 1 {
				continue
			}
			if err := q.SetCartLine(ctx, dbq.SetCartLineParams{TenantID: tid, CartID: own.ID, Sku: r.Sku, Quantity: int32(qty)}); err != nil {
				return err
			}
		}
		if err := q.CloseCart(ctx, dbq.CloseCartParams{TenantID: tid, ID: guest.ID, Status: apiserver.CartMerged}); err != nil {
			return err
		}
		out = own.ID
		return q.TouchCart(ctx, dbq.TouchCartParams{TenantID: tid, ID: own.ID})
	})
	if err != nil {
		return "", fmt.Errorf("merge guest cart: %w", err)
	}
	return out, nil
}

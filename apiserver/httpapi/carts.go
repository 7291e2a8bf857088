package httpapi

import (
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/kommerce/kommerce/apiserver"
)

func cartRef(c *gin.Context) apiserver.CartRef {
	return apiserver.CartRef{ID: c.Param("id"), Token: c.GetHeader("X-Cart-Token")}
}

// createCart starts a guest cart (its token is in the answer, once) or returns the
// signed-in customer's cart.
func (h *handler) createCart(c *gin.Context) {
	cart, created, err := h.Carts.CreateCart(c.Request.Context())
	if err != nil {
		h.writeError(c, err)
		return
	}
	status := http.StatusOK
	if created {
		status = http.StatusCreated
	}
	c.Header("Location", "/api/v1/carts/"+cart.ID)
	writeNoStore(c, status, cart)
}

func (h *handler) getCart(c *gin.Context) {
	cart, err := h.Carts.GetCart(c.Request.Context(), cartRef(c))
	if err != nil {
		h.writeError(c, err)
		return
	}
	writeNoStore(c, http.StatusOK, cart)
}

func (h *handler) addCartItem(c *gin.Context) {
	var in apiserver.CartItemInput
	if err := decode(c, &in); err != nil {
		h.writeError(c, err)
		return
	}
	cart, err := h.Carts.AddItem(c.Request.Context(), cartRef(c), in)
	if err != nil {
		h.writeError(c, err)
		return
	}
	writeNoStore(c, http.StatusCreated, cart)
}

type lineQuantity struct {
	Quantity int64 `json:"quantity"`
}

func (h *handler) setCartItem(c *gin.Context) {
	var in lineQuantity
	if err := decode(c, &in); err != nil {
		h.writeError(c, err)
		return
	}
	cart, err := h.Carts.SetItemQuantity(c.Request.Context(), cartRef(c), c.Param("line_id"), in.Quantity)
	if err != nil {
		h.writeError(c, err)
		return
	}
	writeNoStore(c, http.StatusOK, cart)
}

func (h *handler) removeCartItem(c *gin.Context) {
	cart, err := h.Carts.RemoveItem(c.Request.Context(), cartRef(c), c.Param("line_id"))
	if err != nil {
		h.writeError(c, err)
		return
	}
	writeNoStore(c, http.StatusOK, cart)
}

// mergeCartOnLogin moves the guest cart named by X-Cart-Token into the customer's
// cart after a successful login and names the result in X-Cart-Id. Login never fails
// because of a cart: a failure is logged and the guest cart stays as it was.
func (h *handler) mergeCartOnLogin(c *gin.Context, pair *apiserver.TokenPair) {
	token := c.GetHeader("X-Cart-Token")
	if token == "" || h.Carts == nil {
		return
	}
	ctx := c.Request.Context()
	p, err := h.Tokens.Verify(ctx, pair.AccessToken)
	if err == nil {
		var id string
		if id, err = h.Carts.MergeGuestCart(ctx, p.UserID, token); err == nil && id != "" {
			c.Header("X-Cart-Id", id)
		}
	}
	if err != nil {
		h.log.WarnContext(ctx, "guest cart not merged at login", "error", err.Error())
	}
}

package httpapi

import (
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/kommerce/kommerce/apiserver"
	"github.com/kommerce/kommerce/apiserver/metrics"
)

// forCaller hides what only staff may see of an order.
func forCaller(c *gin.Context, o *apiserver.Order) *apiserver.Order {
	if isStaff(c) {
		return o
	}
	return o.ForCustomer()
}

// checkout places the order of a cart. A retry with the same Idempotency-Key gets the
// first answer again (an order or an error), marked Idempotent-Replayed: true.
func (h *handler) checkout(c *gin.Context) {
	var in apiserver.CheckoutInput
	if c.Request.ContentLength != 0 {
		if err := decode(c, &in); err != nil {
			h.Metrics.Checkout(apiserver.ErrorCode(err))
			h.writeError(c, err)
			return
		}
	}
	o, replayed, err := h.Orders.Checkout(c.Request.Context(), apiserver.CheckoutRequest{Cart: cartRef(c),
		IdempotencyKey: c.GetHeader("Idempotency-Key"), Input: in, ClientIP: c.ClientIP()})
	if replayed {
		c.Header("Idempotent-Replayed", "true")
	}
	switch {
	case err != nil:
		h.Metrics.Checkout(apiserver.ErrorCode(err))
		h.writeError(c, err)
		return
	case replayed:
		h.Metrics.Checkout(metrics.Replayed)
	default:
		h.Metrics.Checkout(metrics.Created)
	}
	c.Header("Location", "/api/v1/orders/"+o.ID)
	writeNoStore(c, http.StatusCreated, forCaller(c, o))
}

func (h *handler) getOrder(c *gin.Context) {
	o, err := h.Orders.GetOrder(c.Request.Context(), c.Param("id"), c.GetHeader("X-Cart-Token"))
	if err != nil {
		h.writeError(c, err)
		return
	}
	writeNoStore(c, http.StatusOK, forCaller(c, o))
}

func (h *handler) listOrders(c *gin.Context) {
	page, err := h.Orders.ListOrders(c.Request.Context(), apiserver.OrderFilter{Status: apiserver.OrderStatus(c.Query("status")),
		Limit: queryLimit(c), Cursor: c.Query("cursor")})
	if err != nil {
		h.writeError(c, err)
		return
	}
	if !isStaff(c) {
		for i, o := range page.Items {
			page.Items[i] = o.ForCustomer()
		}
	}
	writeNoStore(c, http.StatusOK, page)
}

type transitionBody struct {
	To     apiserver.OrderStatus `json:"to"`
	Reason string                `json:"reason"`
}

func (h *handler) transitionOrder(c *gin.Context) {
	var in transitionBody
	if err := decode(c, &in); err != nil {
		h.writeError(c, err)
		return
	}
	o, err := h.Orders.Transition(c.Request.Context(), c.Param("id"), apiserver.TransitionRequest{To: in.To, Reason: in.Reason})
	if err != nil {
		h.writeError(c, err)
		return
	}
	writeNoStore(c, http.StatusOK, forCaller(c, o))
}

package httpapi

import (
	"github.com/gin-gonic/gin"

	"github.com/kommerce/kommerce/apiserver"
)

// CommerceConfig holds the services behind the stock, cart, checkout, order and
// payment routes. A nil service answers its routes with 503 unavailable.
type CommerceConfig struct {
	Inventory apiserver.InventoryService
	Carts     apiserver.CartService
	Orders    apiserver.OrderService
	Settings  apiserver.SettingsService
	// Payments takes payments and refunds and applies Stripe's webhook events; nil
	// answers the payment routes with 503 payments_not_configured.
	Payments apiserver.PaymentService
}

// commerceRoutes registers stock, cart, checkout, order and checkout-settings routes
// (handlers in stock.go, carts.go, orders.go). Their services learn the request's
// storefront from its Host.
func (h *handler) commerceRoutes(v1 *gin.RouterGroup) {
	g := v1.Group("", h.withHost, h.commerceAvailable)

	g.GET("/stock/:sku", h.getStock)
	g.PUT("/stock/:sku", h.setStock)
	g.GET("/stock/:sku/adjustments", h.listStockAdjustments)
	g.POST("/stock/:sku/adjustments", h.adjustStock)

	g.POST("/carts", h.createCart)
	g.GET("/carts/:id", h.getCart)
	g.POST("/carts/:id/items", h.addCartItem)
	g.PATCH("/carts/:id/items/:line_id", h.setCartItem)
	g.DELETE("/carts/:id/items/:line_id", h.removeCartItem)
	g.POST("/carts/:id/checkout", h.checkout)

	g.GET("/orders", h.listOrders)
	g.GET("/orders/:id", h.getOrder)
	g.POST("/orders/:id/transitions", h.transitionOrder)

	// Payments (payments.go): the order's PaymentIntent, its records, refunds.
	g.POST("/orders/:id/payments", h.paymentsAvailable, h.payOrder)
	g.GET("/orders/:id/payments", h.paymentsAvailable, h.orderPayments)
	g.POST("/orders/:id/refunds", h.paymentsAvailable, h.refundOrder)

	g.GET("/storefronts/:storefront/checkout-settings", h.getCheckoutSettings)
	g.PUT("/storefronts/:storefront/checkout-settings", h.putCheckoutSettings)
}

// paymentWebhookRoutes registers Stripe's webhook outside the /api/v1 group: Stripe
// sends neither a tenant header nor a token, and its signature over the raw body is
// the request's authentication (payments.go). The engine's middleware still applies
// (request id, security headers, the body limit).
func (h *handler) paymentWebhookRoutes(e *gin.Engine) {
	e.POST("/api/v1/payments/stripe/webhook", h.paymentsAvailable, h.stripeWebhook)
}

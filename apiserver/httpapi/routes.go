package httpapi

import (
	"github.com/gin-gonic/gin"
)

// routes lists every route. Each must be described by openapi.yaml and the reverse;
// TestRoutesMatchSpec fails otherwise.
func (h *handler) routes(e *gin.Engine) {
	e.Use(h.recovery, h.requestContext, h.securityHeaders, h.limitBody, h.preflight)
	e.NoRoute(h.noRoute)
	e.NoMethod(h.noMethod)

	e.GET("/openapi.yaml", h.openAPIDocument)
	e.GET("/docs", h.docsPage)
	e.GET("/docs/:file", h.docsAsset)

	// Order matters: the tenant is needed to check a token, the principal to pick the
	// rate limit key, and the validator enforces the spec's roles before any handler.
	v1 := e.Group("/api/v1", h.resolveTenant, h.authenticate, h.rateLimit, h.validate)

	v1.POST("/auth/register", h.register)
	v1.POST("/auth/login", h.login)
	v1.POST("/auth/refresh", h.refresh)
	v1.POST("/auth/logout", h.logout)
	v1.GET("/me", h.me)

	v1.GET("/products", h.listProducts)
	v1.POST("/products", h.createProduct)
	v1.GET("/products/:id", h.getProduct)
	v1.PATCH("/products/:id", h.updateProduct)
	v1.DELETE("/products/:id", h.deleteProduct)
	v1.POST("/products/:id/publish", h.publishProduct)
	v1.POST("/products/:id/unpublish", h.unpublishProduct)

	v1.GET("/categories", h.listCategories)
	v1.POST("/categories", h.createCategory)
	v1.GET("/categories/:id", h.getCategory)
	v1.PATCH("/categories/:id", h.updateCategory)

	h.commerceRoutes(v1)      // routes_commerce.go: stock, carts, checkout, orders, payments
	h.paymentWebhookRoutes(e) // routes_commerce.go: Stripe's signed webhook, no tenant header or token
	h.discoveryRoutes(v1)     // routes_discovery.go: search, suggestions, events, recommendations
	h.jobsMediaRoutes(e, v1)  // routes_backoffice_jobs.go: imports, exports, jobs, product media
	h.backofficeRoutes(v1)    // webhooks.go: webhooks, e-mail templates, password reset, e-mail verification
}

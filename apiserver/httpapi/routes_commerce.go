package httpapi

import "github.com/gin-gonic/gin"

// CommerceConfig holds the services behind the stock, cart, checkout, order and
// payment routes.
type CommerceConfig struct{}

// commerceRoutes registers stock, cart, checkout, order and payment routes.
func (h *handler) commerceRoutes(v1 *gin.RouterGroup) {}

package httpapi

import "github.com/gin-gonic/gin"

// DiscoveryConfig holds the services behind the search, suggestion, behaviour-event
// and recommendation routes.
type DiscoveryConfig struct{}

// discoveryRoutes registers search, suggestion, behaviour-event and recommendation
// routes.
func (h *handler) discoveryRoutes(v1 *gin.RouterGroup) {}

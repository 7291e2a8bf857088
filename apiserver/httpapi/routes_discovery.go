package httpapi

import (
	"github.com/gin-gonic/gin"

	"github.com/kommerce/kommerce/apiserver"
)

// DiscoveryConfig holds the services behind the search, suggestion, behaviour-event
// and recommendation routes. A nil service answers its routes with 503 unavailable.
type DiscoveryConfig struct {
	Search          apiserver.SearchService
	Behaviour       apiserver.BehaviourService
	Recommendations apiserver.RecommendationService
}

// discoveryRoutes registers search, suggestion, behaviour-event and recommendation
// routes (handlers in discovery.go).
func (h *handler) discoveryRoutes(v1 *gin.RouterGroup) {
	v1.GET("/search", h.search)
	v1.GET("/search/suggest", h.suggest)
	v1.POST("/events", h.postEvents)
	v1.GET("/recommendations", h.recommendations)
}

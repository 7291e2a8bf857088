package httpapi

import (
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/kommerce/kommerce/apiserver"
	"github.com/kommerce/kommerce/internal/search"
)

var hvNoStore = []string{"no-store"}

func notConfigured(what string) error {
	return apiserver.Errorf(apiserver.ErrUnavailable, "%s is not configured on this server.", what)
}

// search answers GET /api/v1/search. Highlights hold <em> tags, so the body is
// written without gin's HTML escaping (it is JSON, never HTML).
func (h *handler) search(c *gin.Context) {
	if h.Search == nil {
		h.writeError(c, notConfigured("Search"))
		return
	}
	res, err := h.Search.Search(c.Request.Context(), c.Request.Host, c.Request.URL.Query())
	if err != nil {
		h.writeError(c, err)
		return
	}
	c.Writer.Header()["Cache-Control"] = hvNoStore
	c.PureJSON(http.StatusOK, res)
}

type suggestions struct {
	Suggestions []search.Suggestion `json:"suggestions"`
}

// suggest answers GET /api/v1/search/suggest.
func (h *handler) suggest(c *gin.Context) {
	if h.Search == nil {
		h.writeError(c, notConfigured("Search"))
		return
	}
	res, err := h.Search.Suggest(c.Request.Context(), c.Request.Host, c.Request.URL.Query())
	if err != nil {
		h.writeError(c, err)
		return
	}
	c.Writer.Header()["Cache-Control"] = hvNoStore
	c.PureJSON(http.StatusOK, suggestions{Suggestions: res})
}

type eventsAccepted struct {
	Accepted int `json:"accepted"`
}

// postEvents answers POST /api/v1/events: 202 once the broker has the events.
func (h *handler) postEvents(c *gin.Context) {
	if h.Behaviour == nil {
		h.writeError(c, notConfigured("Behaviour events"))
		return
	}
	n, err := h.Behaviour.Record(c.Request.Context(), c.Request.Body)
	if err != nil {
		h.writeError(c, err)
		return
	}
	c.JSON(http.StatusAccepted, eventsAccepted{Accepted: n})
}

// recommendations answers GET /api/v1/recommendations.
func (h *handler) recommendations(c *gin.Context) {
	if h.Recommendations == nil {
		h.writeError(c, notConfigured("Recommendations"))
		return
	}
	res, err := h.Recommendations.Recommend(c.Request.Context(), c.Request.Host, c.Request.URL.Query())
	if err != nil {
		h.writeError(c, err)
		return
	}
	h.Metrics.Recommendation(res.Source, res.FallbackReason)
	c.Writer.Header()["Cache-Control"] = hvNoStore
	c.JSON(http.StatusOK, res)
}

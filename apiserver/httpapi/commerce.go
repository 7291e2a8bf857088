package httpapi

import (
	"net/http"
	"strconv"

	"github.com/gin-gonic/gin"

	"github.com/kommerce/kommerce/apiserver"
)

// withHost hands the request's Host to the commerce services, which pick the
// storefront (and its checkout settings) from it.
func (h *handler) withHost(c *gin.Context) {
	c.Request = c.Request.WithContext(apiserver.NewContextWithHost(c.Request.Context(), c.Request.Host))
	c.Next()
}

// commerceAvailable answers 503 when the server was built without commerce services
// (a partial stack in a test or tool).
func (h *handler) commerceAvailable(c *gin.Context) {
	if h.Inventory == nil || h.Carts == nil || h.Orders == nil || h.Settings == nil {
		h.writeError(c, apiserver.Errorf(apiserver.ErrUnavailable, "Commerce is not configured on this server."))
		return
	}
	c.Next()
}

// writeNoStore answers with a JSON body that no cache may keep: carts, orders and
// stock change under the client's feet.
func writeNoStore(c *gin.Context, status int, v any) {
	c.Header("Cache-Control", "no-store")
	c.JSON(status, v)
}

func queryLimit(c *gin.Context) int {
	n, _ := strconv.Atoi(c.Query("limit")) // the validator checked it is an integer in range
	return n
}

func (h *handler) getStock(c *gin.Context) {
	st, err := h.Inventory.GetStock(c.Request.Context(), c.Param("sku"))
	if err != nil {
		h.writeError(c, err)
		return
	}
	writeNoStore(c, http.StatusOK, st)
}

func (h *handler) setStock(c *gin.Context) {
	var in apiserver.StockSet
	if err := decode(c, &in); err != nil {
		h.writeError(c, err)
		return
	}
	st, err := h.Inventory.SetStock(c.Request.Context(), c.Param("sku"), in)
	if err != nil {
		h.writeError(c, err)
		return
	}
	writeNoStore(c, http.StatusOK, st)
}

func (h *handler) adjustStock(c *gin.Context) {
	var in apiserver.StockAdjust
	if err := decode(c, &in); err != nil {
		h.writeError(c, err)
		return
	}
	st, err := h.Inventory.AdjustStock(c.Request.Context(), c.Param("sku"), in)
	if err != nil {
		h.writeError(c, err)
		return
	}
	writeNoStore(c, http.StatusCreated, st)
}

func (h *handler) listStockAdjustments(c *gin.Context) {
	page, err := h.Inventory.ListAdjustments(c.Request.Context(), c.Param("sku"), queryLimit(c), c.Query("cursor"))
	if err != nil {
		h.writeError(c, err)
		return
	}
	writeNoStore(c, http.StatusOK, page)
}

func (h *handler) getCheckoutSettings(c *gin.Context) {
	s, err := h.Settings.CheckoutSettings(c.Request.Context(), c.Param("storefront"))
	if err != nil {
		h.writeError(c, err)
		return
	}
	writeNoStore(c, http.StatusOK, s)
}

func (h *handler) putCheckoutSettings(c *gin.Context) {
	var in apiserver.CheckoutSettingsInput
	if err := decode(c, &in); err != nil {
		h.writeError(c, err)
		return
	}
	s, err := h.Settings.PutCheckoutSettings(c.Request.Context(), c.Param("storefront"), in)
	if err != nil {
		h.writeError(c, err)
		return
	}
	writeNoStore(c, http.StatusOK, s)
}

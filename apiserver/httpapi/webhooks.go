package httpapi

import (
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/kommerce/kommerce/apiserver"
	"github.com/kommerce/kommerce/apiserver/metrics"
)

// BackofficeConfig holds the services behind the webhook, e-mail template and
// account-token routes (issue 17). A nil service answers its routes with 503.
type BackofficeConfig struct {
	Webhooks      apiserver.WebhookService
	Notifications apiserver.NotificationService
	AccountTokens apiserver.AccountTokenService
	// AccountTokenAddressLimit and AccountTokenEmailLimit bound password-reset and
	// verification requests per client address and per e-mail address (defaults
	// apiserver.DefaultRegisterAddressLimit and DefaultRegisterEmailLimit).
	AccountTokenAddressLimit apiserver.RateLimit
	AccountTokenEmailLimit   apiserver.RateLimit
}

// backofficeRoutes registers the routes of webhooks.go.
func (h *handler) backofficeRoutes(v1 *gin.RouterGroup) {
	v1.POST("/auth/password-reset", h.accountTokensAvailable, h.requestPasswordReset)
	v1.POST("/auth/password-reset/confirm", h.accountTokensAvailable, h.confirmPasswordReset)
	v1.POST("/auth/email-verification", h.accountTokensAvailable, h.requestVerification)
	v1.POST("/auth/email-verification/confirm", h.accountTokensAvailable, h.confirmVerification)

	w := v1.Group("/webhooks", h.webhooksAvailable)
	w.GET("", h.listWebhooks)
	w.POST("", h.createWebhook)
	w.GET("/:id", h.getWebhook)
	w.PATCH("/:id", h.updateWebhook)
	w.DELETE("/:id", h.deleteWebhook)
	w.POST("/:id/rotate-secret", h.rotateWebhookSecret)
	w.GET("/:id/deliveries", h.listWebhookDeliveries)
	w.POST("/:id/deliveries/:delivery_id/redeliver", h.redeliverWebhook)

	n := v1.Group("/notifications", h.notificationsAvailable)
	n.GET("", h.listNotifications)
	n.GET("/templates/:kind/:locale", h.getNotificationTemplate)
	n.PUT("/templates/:kind/:locale", h.putNotificationTemplate)
	n.DELETE("/templates/:kind/:locale", h.deleteNotificationTemplate)
}

func (h *handler) webhooksAvailable(c *gin.Context) {
	if h.Webhooks == nil {
		h.writeError(c, apiserver.Errorf(apiserver.ErrUnavailable, "Webhooks are not configured on this server."))
		return
	}
	c.Next()
}

func (h *handler) notificationsAvailable(c *gin.Context) {
	if h.Notifications == nil {
		h.writeError(c, apiserver.Errorf(apiserver.ErrUnavailable, "Notifications are not configured on this server."))
		return
	}
	c.Next()
}

func (h *handler) accountTokensAvailable(c *gin.Context) {
	if h.AccountTokens == nil {
		h.writeError(c, apiserver.Errorf(apiserver.ErrUnavailable, "Password reset and e-mail verification are not configured on this server."))
		return
	}
	c.Next()
}

type emailRequest struct {
	Email string `json:"email"`
}

type accountTokenAccepted struct {
	Message string `json:"message"`
}

const accountTokenMessage = "If an account uses this e-mail address, a message with a link is on its way."

// locale is the request's first Accept-Language tag, "en" when there is none.
func locale(c *gin.Context) string {
	al := c.GetHeader("Accept-Language")
	tag := strings.TrimSpace(strings.SplitN(strings.SplitN(al, ",", 2)[0], ";", 2)[0])
	if tag == "" || tag == "*" {
		return "en"
	}
	parts := strings.SplitN(tag, "-", 2)
	tag = strings.ToLower(parts[0])
	if len(parts) == 2 {
		tag += "-" + strings.ToUpper(parts[1])
	}
	return tag
}

// requestAccountToken is the one answer of both request routes: 202 with the same
// body whether or not an account has the address, rate limited per client address
// and per e-mail address (the e-mail key is a hash).
func (h *handler) requestAccountToken(c *gin.Context, kind string, issue func(email, locale string) error) {
	var req emailRequest
	if err := decode(c, &req); err != nil {
		h.writeError(c, err)
		return
	}
	email := strings.TrimSpace(req.Email)
	if err := apiserver.ValidateEmail(email); err != nil {
		h.writeError(c, err)
		return
	}
	if !h.allowAccountToken(c, kind, email) {
		return
	}
	if err := issue(email, locale(c)); err != nil {
		h.writeError(c, err)
		return
	}
	c.Header("Cache-Control", "no-store")
	c.JSON(http.StatusAccepted, accountTokenAccepted{Message: accountTokenMessage})
}

func (h *handler) allowAccountToken(c *gin.Context, kind, email string) bool {
	ctx := c.Request.Context()
	t := apiserver.TenantFromContext(ctx)
	sum := sha256.Sum256([]byte(strings.ToLower(email)))
	addr, byEmail := h.AccountTokenAddressLimit, h.AccountTokenEmailLimit
	if addr.Rate == 0 {
		addr = apiserver.DefaultRegisterAddressLimit
	}
	if byEmail.Rate == 0 {
		byEmail = apiserver.DefaultRegisterEmailLimit
	}
	res, err := h.Limiter.Allow(ctx, []apiserver.RateLimitKey{
		{Key: t.RedisPrefix + "rl:" + kind + ":ip:" + c.ClientIP(), Limit: addr},
		{Key: t.RedisPrefix + "rl:" + kind + ":email:" + hex.EncodeToString(sum[:16]), Limit: byEmail},
	})
	if err != nil {
		h.Metrics.RateLimit(metrics.FailedOpen)
		h.warnLimiterFailed(ctx, "rate limiter failed; account token request let through", err)
		return true
	}
	if !res.Allowed {
		h.Metrics.RateLimit(metrics.Limited)
		setRetryAfter(c, res.RetryAfter)
		h.writeError(c, apiserver.Errorf(apiserver.ErrRateLimited, "Too many requests for this address; retry after the time in Retry-After."))
		return false
	}
	return true
}

func (h *handler) requestPasswordReset(c *gin.Context) {
	h.requestAccountToken(c, "reset", func(email, loc string) error {
		return h.AccountTokens.RequestPasswordReset(c.Request.Context(), email, loc)
	})
}

func (h *handler) requestVerification(c *gin.Context) {
	h.requestAccountToken(c, "verify", func(email, loc string) error {
		return h.AccountTokens.RequestVerification(c.Request.Context(), email, loc)
	})
}

type passwordResetConfirm struct {
	Token    string `json:"token"`
	Password string `json:"password"`
}

func (h *handler) confirmPasswordReset(c *gin.Context) {
	var req passwordResetConfirm
	if err := decode(c, &req); err != nil {
		h.writeError(c, err)
		return
	}
	if err := h.AccountTokens.ResetPassword(c.Request.Context(), req.Token, req.Password); err != nil {
		h.writeError(c, err)
		return
	}
	c.Status(http.StatusNoContent)
}

type tokenRequest struct {
	Token string `json:"token"`
}

func (h *handler) confirmVerification(c *gin.Context) {
	var req tokenRequest
	if err := decode(c, &req); err != nil {
		h.writeError(c, err)
		return
	}
	if err := h.AccountTokens.VerifyEmail(c.Request.Context(), req.Token); err != nil {
		h.writeError(c, err)
		return
	}
	c.Status(http.StatusNoContent)
}

type webhookList struct {
	Items []apiserver.WebhookEndpoint `json:"items"`
}

func (h *handler) listWebhooks(c *gin.Context) {
	out, err := h.Webhooks.Endpoints(c.Request.Context())
	if err != nil {
		h.writeError(c, err)
		return
	}
	writeNoStore(c, http.StatusOK, webhookList{Items: out})
}

func (h *handler) createWebhook(c *gin.Context) {
	var in apiserver.WebhookEndpointInput
	if err := decode(c, &in); err != nil {
		h.writeError(c, err)
		return
	}
	out, err := h.Webhooks.CreateEndpoint(c.Request.Context(), in)
	if err != nil {
		h.writeError(c, err)
		return
	}
	c.Header("Location", "/api/v1/webhooks/"+out.ID)
	writeNoStore(c, http.StatusCreated, out)
}

func (h *handler) getWebhook(c *gin.Context) {
	out, err := h.Webhooks.Endpoint(c.Request.Context(), c.Param("id"))
	if err != nil {
		h.writeError(c, err)
		return
	}
	writeNoStore(c, http.StatusOK, out)
}

func (h *handler) updateWebhook(c *gin.Context) {
	var in apiserver.WebhookEndpointInput
	if err := decode(c, &in); err != nil {
		h.writeError(c, err)
		return
	}
	out, err := h.Webhooks.UpdateEndpoint(c.Request.Context(), c.Param("id"), in)
	if err != nil {
		h.writeError(c, err)
		return
	}
	writeNoStore(c, http.StatusOK, out)
}

func (h *handler) deleteWebhook(c *gin.Context) {
	if err := h.Webhooks.DeleteEndpoint(c.Request.Context(), c.Param("id")); err != nil {
		h.writeError(c, err)
		return
	}
	c.Status(http.StatusNoContent)
}

type rotateRequest struct {
	PreviousSecretValidSeconds *int64 `json:"previous_secret_valid_seconds"`
}

func (h *handler) rotateWebhookSecret(c *gin.Context) {
	var req rotateRequest
	if c.Request.ContentLength != 0 {
		if err := decode(c, &req); err != nil {
			h.writeError(c, err)
			return
		}
	}
	overlap := apiserver.DefaultSecretOverlap
	if req.PreviousSecretValidSeconds != nil {
		overlap = time.Duration(*req.PreviousSecretValidSeconds) * time.Second
	}
	out, err := h.Webhooks.RotateSecret(c.Request.Context(), c.Param("id"), overlap)
	if err != nil {
		h.writeError(c, err)
		return
	}
	writeNoStore(c, http.StatusOK, out)
}

type deliveryList struct {
	Items []apiserver.WebhookDelivery `json:"items"`
}

func (h *handler) listWebhookDeliveries(c *gin.Context) {
	limit := queryLimit(c)
	if limit <= 0 {
		limit = 20
	}
	out, err := h.Webhooks.Deliveries(c.Request.Context(), c.Param("id"), limit)
	if err != nil {
		h.writeError(c, err)
		return
	}
	writeNoStore(c, http.StatusOK, deliveryList{Items: out})
}

func (h *handler) redeliverWebhook(c *gin.Context) {
	out, err := h.Webhooks.Redeliver(c.Request.Context(), c.Param("id"), c.Param("delivery_id"))
	if err != nil {
		h.writeError(c, err)
		return
	}
	writeNoStore(c, http.StatusAccepted, out)
}

type notificationList struct {
	Items []apiserver.NotificationSend `json:"items"`
}

func (h *handler) listNotifications(c *gin.Context) {
	limit := queryLimit(c)
	if limit <= 0 {
		limit = 20
	}
	out, err := h.Notifications.Sends(c.Request.Context(), c.Query("status"), limit)
	if err != nil {
		h.writeError(c, err)
		return
	}
	writeNoStore(c, http.StatusOK, notificationList{Items: out})
}

func (h *handler) getNotificationTemplate(c *gin.Context) {
	out, err := h.Notifications.Template(c.Request.Context(), c.Param("kind"), c.Param("locale"))
	if err != nil {
		h.writeError(c, err)
		return
	}
	writeNoStore(c, http.StatusOK, out)
}

type templateInput struct {
	Subject string `json:"subject"`
	HTML    string `json:"html"`
	Text    string `json:"text"`
}

func (h *handler) putNotificationTemplate(c *gin.Context) {
	var in templateInput
	if err := decode(c, &in); err != nil {
		h.writeError(c, err)
		return
	}
	out, err := h.Notifications.PutTemplate(c.Request.Context(), apiserver.NotificationTemplate{
		Kind: c.Param("kind"), Locale: c.Param("locale"), Subject: in.Subject, HTML: in.HTML, Text: in.Text,
	})
	if err != nil {
		h.writeError(c, err)
		return
	}
	writeNoStore(c, http.StatusOK, out)
}

func (h *handler) deleteNotificationTemplate(c *gin.Context) {
	if err := h.Notifications.DeleteTemplate(c.Request.Context(), c.Param("kind"), c.Param("locale")); err != nil {
		h.writeError(c, err)
		return
	}
	c.Status(http.StatusNoContent)
}

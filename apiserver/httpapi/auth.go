package httpapi

import (
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/kommerce/kommerce/apiserver"
	"github.com/kommerce/kommerce/apiserver/metrics"
)

type registerRequest struct {
	Email    string `json:"email"`
	Password string `json:"password"`
	Name     string `json:"name"`
}

// registrationAccepted is the one answer to a valid registration, whether the e-mail
// was free (the account now exists) or taken (nothing changed).
type registrationAccepted struct {
	Email   string `json:"email"`
	Message string `json:"message"`
}

const registrationMessage = "If no account used this e-mail address, it has been created: sign in to use it."

// register creates a customer: the role is not an input (mass assignment). It answers
// 202 with the same body whether the e-mail address was taken or not, so registration
// does not tell who has an account (the remaining signals are in docs/api.md); it is
// rate limited per client address and per e-mail address.
func (h *handler) register(c *gin.Context) {
	var req registerRequest
	if err := decode(c, &req); err != nil {
		h.writeError(c, err)
		return
	}
	in := apiserver.UserCreate{Email: req.Email, Password: req.Password, Name: req.Name, Role: apiserver.RoleCustomer}
	if t := apiserver.TenantFromContext(c.Request.Context()); t != nil {
		in.TenantSlug = t.Slug
	}
	if err := in.Validate(); err != nil {
		h.writeError(c, err)
		return
	}
	if !h.allowRegistration(c, in.Email) {
		return
	}
	_, err := h.Users.CreateUser(c.Request.Context(), in)
	if err != nil && apiserver.ErrorCode(err) != apiserver.ErrConflict {
		h.writeError(c, err)
		return
	}
	c.Header("Cache-Control", "no-store")
	c.JSON(http.StatusAccepted, registrationAccepted{Email: in.Email, Message: registrationMessage})
}

// allowRegistration applies the registration limits; it writes the 429 when one is
// spent. The e-mail address is hashed into the key: Redis holds no addresses. A
// failing limiter lets the registration through, as the request limits do.
func (h *handler) allowRegistration(c *gin.Context, email string) bool {
	ctx := c.Request.Context()
	t := apiserver.TenantFromContext(ctx)
	sum := sha256.Sum256([]byte(strings.ToLower(email)))
	res, err := h.Limiter.Allow(ctx, []apiserver.RateLimitKey{
		{Key: t.RedisPrefix + "rl:register:ip:" + c.ClientIP(), Limit: h.RegisterAddressLimit},
		{Key: t.RedisPrefix + "rl:register:email:" + hex.EncodeToString(sum[:16]), Limit: h.RegisterEmailLimit},
	})
	if err != nil {
		h.Metrics.RateLimit(metrics.FailedOpen)
		h.warnLimiterFailed(ctx, "rate limiter failed; registration let through", err)
		return true
	}
	if !res.Allowed {
		h.Metrics.RateLimit(metrics.Limited)
		setRetryAfter(c, res.RetryAfter)
		h.writeError(c, apiserver.Errorf(apiserver.ErrRateLimited, "Too many registrations; retry after the time in Retry-After."))
		return false
	}
	return true
}

// allowLogin counts a sign-in attempt against its account's delay and writes the 429
// when the account must wait. The key is a hash of the trimmed, lower-cased e-mail
// address (as the database compares them): Redis holds no addresses. A failing
// throttle lets the attempt through, as the request limits do; the per-address limit
// still applies then.
func (h *handler) allowLogin(c *gin.Context, email string) (string, bool) {
	ctx := c.Request.Context()
	t := apiserver.TenantFromContext(ctx)
	sum := sha256.Sum256([]byte(strings.ToLower(strings.TrimSpace(email))))
	key := t.RedisPrefix + "login:" + hex.EncodeToString(sum[:16])
	wait, err := h.LoginThrottle.Attempt(ctx, key, h.LoginPolicy)
	if err != nil {
		h.Metrics.RateLimit(metrics.FailedOpen)
		h.warnLimiterFailed(ctx, "login throttle failed; sign-in let through", err)
		return key, true
	}
	if wait > 0 {
		h.Metrics.LoginThrottled()
		setRetryAfter(c, wait)
		h.writeError(c, apiserver.Errorf(apiserver.ErrRateLimited, "Too many sign-in attempts for this account; retry after the time in Retry-After."))
		return key, false
	}
	return key, true
}

type loginRequest struct {
	Email    string `json:"email"`
	Password string `json:"password"`
}

// login signs in. Attempts are throttled per account (LoginPolicy) before the
// password is checked: while an account waits out a delay every attempt, the right
// password included, is answered 429 — a 200 then would tell a guesser which guess
// was right, and the delay would slow nothing. Unknown addresses are counted and
// answered the same way, so a 429 does not say whether an account exists.
func (h *handler) login(c *gin.Context) {
	var req loginRequest
	if err := decode(c, &req); err != nil {
		h.writeError(c, err)
		return
	}
	key, ok := h.allowLogin(c, req.Email)
	if !ok {
		return
	}
	pair, err := h.Auth.Login(c.Request.Context(), req.Email, req.Password)
	if err != nil {
		h.writeError(c, err)
		return
	}
	if err := h.LoginThrottle.Reset(c.Request.Context(), key); err != nil {
		h.warnLimiterFailed(c.Request.Context(), "login throttle not reset after a sign-in", err)
	}
	h.mergeCartOnLogin(c, pair) // carts.go
	c.Header("Cache-Control", "no-store")
	c.JSON(http.StatusOK, pair)
}

type refreshRequest struct {
	RefreshToken string `json:"refresh_token"`
}

func (h *handler) refresh(c *gin.Context) {
	var req refreshRequest
	if err := decode(c, &req); err != nil {
		h.writeError(c, err)
		return
	}
	pair, err := h.Auth.Refresh(c.Request.Context(), req.RefreshToken)
	if err != nil {
		h.writeError(c, err)
		return
	}
	c.Header("Cache-Control", "no-store")
	c.JSON(http.StatusOK, pair)
}

func (h *handler) logout(c *gin.Context) {
	var req refreshRequest
	if err := decode(c, &req); err != nil {
		h.writeError(c, err)
		return
	}
	if err := h.Auth.Logout(c.Request.Context(), req.RefreshToken); err != nil {
		h.writeError(c, err)
		return
	}
	c.Status(http.StatusNoContent)
}

func (h *handler) me(c *gin.Context) {
	p := apiserver.PrincipalFromContext(c.Request.Context())
	u, err := h.Users.GetUser(c.Request.Context(), p.UserID)
	if apiserver.ErrorCode(err) == apiserver.ErrNotFound {
		// The account was deleted after the token was issued.
		err = apiserver.Errorf(apiserver.ErrInvalidToken, "The account of this token no longer exists.")
	}
	if err != nil {
		h.writeError(c, err)
		return
	}
	c.Header("Cache-Control", "no-store")
	c.JSON(http.StatusOK, u)
}

package httpapi

import (
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/kommerce/kommerce/apiserver"
)

type registerRequest struct {
	Email    string `json:"email"`
	Password string `json:"password"`
	Name     string `json:"name"`
}

// register creates a customer: the role is not an input (mass assignment).
func (h *handler) register(c *gin.Context) {
	var req registerRequest
	if err := decode(c, &req); err != nil {
		h.writeError(c, err)
		return
	}
	u, err := h.Users.CreateUser(c.Request.Context(), apiserver.UserCreate{Email: req.Email, Password: req.Password, Name: req.Name, Role: apiserver.RoleCustomer})
	if err != nil {
		h.writeError(c, err)
		return
	}
	c.Header("Cache-Control", "no-store")
	c.JSON(http.StatusCreated, u)
}

type loginRequest struct {
	Email    string `json:"email"`
	Password string `json:"password"`
}

func (h *handler) login(c *gin.Context) {
	var req loginRequest
	if err := decode(c, &req); err != nil {
		h.writeError(c, err)
		return
	}
	pair, err := h.Auth.Login(c.Request.Context(), req.Email, req.Password)
	if err != nil {
		h.writeError(c, err)
		return
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

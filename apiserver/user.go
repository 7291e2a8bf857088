package apiserver

import (
	"context"
	"net/mail"
	"strings"
	"time"
)

// Role is what a user may do. Roles are ordered: each includes the ones below it.
type Role string

// The roles, lowest first.
const (
	RoleCustomer Role = "customer"
	RoleStaff    Role = "staff"
	RoleAdmin    Role = "admin"
)

// Roles lists every role, lowest first.
var Roles = []Role{RoleCustomer, RoleStaff, RoleAdmin}

func (r Role) rank() int {
	switch r {
	case RoleCustomer:
		return 1
	case RoleStaff:
		return 2
	case RoleAdmin:
		return 3
	}
	return 0
}

// Valid reports whether r is a known role.
func (r Role) Valid() bool { return r.rank() > 0 }

// AtLeast reports whether r includes the permissions of min.
func (r Role) AtLeast(min Role) bool { return r.Valid() && r.rank() >= min.rank() }

// User is an account of one tenant. Emails are unique per tenant only.
type User struct {
	ID        string    `json:"id"`
	TenantID  string    `json:"tenant_id"`
	Email     string    `json:"email"`
	Name      string    `json:"name"`
	Role      Role      `json:"role"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

// UserCreate is the input of CreateUser.
type UserCreate struct {
	Email    string
	Password string
	Name     string
	Role     Role
	// TenantSlug is the shop's slug, a word the password check counts as guessable.
	// CreateUser sets it from the tenant in ctx; a handler validating early sets it too.
	TenantSlug string
}

// Validate checks a UserCreate and normalises its email.
func (u *UserCreate) Validate() error {
	u.Email = strings.TrimSpace(u.Email)
	if err := ValidateEmail(u.Email); err != nil {
		return err
	}
	if err := ValidText("name", u.Name, 200); err != nil {
		return err
	}
	if err := CheckPassword(u.Password, passwordGuessable(u.Email, u.Name, u.TenantSlug)...); err != nil {
		return err
	}
	if u.Role == "" {
		u.Role = RoleCustomer
	}
	if !u.Role.Valid() {
		return FieldErrorf("role", "Role must be customer, staff or admin.")
	}
	return nil
}

// ValidateEmail accepts a plain address such as jane@example.com.
func ValidateEmail(email string) error {
	a, err := mail.ParseAddress(email)
	if err != nil || a.Address != email || len(email) > 254 || !strings.Contains(email[strings.LastIndexByte(email, '@'):], ".") {
		return FieldErrorf("email", "Email must be a plain address such as jane@example.com.")
	}
	return nil
}

// UserService manages the accounts of the tenant in ctx.
type UserService interface {
	// CreateUser creates an account. Errors: ErrInvalid, ErrConflict (email taken).
	CreateUser(ctx context.Context, in UserCreate) (*User, error)
	// GetUser returns an account. Errors: ErrNotFound.
	GetUser(ctx context.Context, id string) (*User, error)
}

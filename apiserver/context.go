package apiserver

import "context"

type tenantKey struct{}
type principalKey struct{}

// NewContextWithTenant returns ctx carrying the tenant a request is for. Every service
// method that touches tenant data reads it from there, so no handler can forget it.
func NewContextWithTenant(ctx context.Context, t *Tenant) context.Context {
	return context.WithValue(ctx, tenantKey{}, t)
}

// TenantFromContext returns the request's tenant, or nil.
func TenantFromContext(ctx context.Context) *Tenant {
	t, _ := ctx.Value(tenantKey{}).(*Tenant)
	return t
}

// RequireTenant returns the request's tenant or an internal error: a service called
// without a tenant is a bug, never a client mistake.
func RequireTenant(ctx context.Context) (*Tenant, error) {
	if t := TenantFromContext(ctx); t != nil {
		return t, nil
	}
	return nil, Errorf(ErrInternal, "no tenant in context")
}

// NewContextWithPrincipal returns ctx carrying the authenticated caller.
func NewContextWithPrincipal(ctx context.Context, p *Principal) context.Context {
	return context.WithValue(ctx, principalKey{}, p)
}

// PrincipalFromContext returns the authenticated caller, or nil for anonymous ones.
func PrincipalFromContext(ctx context.Context) *Principal {
	p, _ := ctx.Value(principalKey{}).(*Principal)
	return p
}

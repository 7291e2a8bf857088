package stack

import (
	"github.com/kommerce/kommerce/apiserver/httpapi"
	"github.com/kommerce/kommerce/apiserver/postgres"
)

// CommerceOptions configures inventory, carts, checkout, orders and payments.
type CommerceOptions struct{}

// commerce builds the services behind the commerce routes.
func commerce(o Options, db *postgres.DB) httpapi.CommerceConfig {
	return httpapi.CommerceConfig{}
}

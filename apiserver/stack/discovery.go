package stack

import (
	"github.com/kommerce/kommerce/apiserver/httpapi"
	"github.com/kommerce/kommerce/apiserver/postgres"
)

// DiscoveryOptions configures search, behaviour events and recommendations.
type DiscoveryOptions struct{}

// discovery builds the services behind the discovery routes.
func discovery(o Options, db *postgres.DB) httpapi.DiscoveryConfig {
	return httpapi.DiscoveryConfig{}
}

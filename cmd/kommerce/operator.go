package main

import (
	"context"

	"github.com/kommerce/kommerce/internal/config"
)

func runOperator(_ context.Context, e *env) error {
	set := config.NewSet("operator", "Run the Kubernetes operator: the Tenant, Storefront and ModelVersion controllers.", e.getenv)
	var lc logConfig
	var kubeconfig string
	lc.register(set)
	set.String(&kubeconfig, "kubeconfig", "KUBECONFIG", "", "kubeconfig file; in-cluster configuration when unset")
	if _, err := set.Parse(e.args, e.stdout); err != nil {
		return err
	}
	return notBuilt("kommerce operator", "the controllers are not written yet")
}

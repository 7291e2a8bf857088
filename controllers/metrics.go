// Package controllers holds what the operator's controllers share; each kind's
// reconciler lives in its own subpackage (controllers/tenant, ...).
package controllers

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	kommercev1alpha1 "github.com/kommerce/kommerce/api/v1alpha1"
)

// +kubebuilder:rbac:groups=kommerce.io,resources=tenants;storefronts,verbs=get;list;watch

// readyDesc is kommerce_operator_resource_ready. The label is resource_namespace,
// not namespace: Prometheus sets namespace to the operator pod's own at scrape time.
var readyDesc = prometheus.NewDesc("kommerce_operator_resource_ready",
	"1 while a Tenant or Storefront has condition Ready=True, 0 otherwise, by kind, resource_namespace (empty for Tenants) and name.",
	[]string{"kind", "resource_namespace", "name"}, nil)

// ReadinessCollector exports the Ready condition of every Tenant and Storefront the
// operator's cache holds, read at scrape time, so an alert can name the resource
// that stays not Ready without any reconciler keeping a gauge in step.
type ReadinessCollector struct {
	// Reader is the manager's cached client.
	Reader client.Reader
	// Timeout bounds one scrape's reads (default 5s).
	Timeout time.Duration
}

// Describe implements prometheus.Collector.
func (c ReadinessCollector) Describe(ch chan<- *prometheus.Desc) { ch <- readyDesc }

// Collect implements prometheus.Collector. A kind that cannot be listed (its CRD not
// installed, the cache not synced yet) is left out of this scrape.
func (c ReadinessCollector) Collect(ch chan<- prometheus.Metric) {
	timeout := c.Timeout
	if timeout <= 0 {
		timeout = 5 * time.Second
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	var tenants kommercev1alpha1.TenantList
	if err := c.Reader.List(ctx, &tenants); err == nil {
		for i := range tenants.Items {
			t := &tenants.Items[i]
			ch <- readyMetric("Tenant", "", t.Name, t.Status.Conditions)
		}
	}
	var sfs kommercev1alpha1.StorefrontList
	if err := c.Reader.List(ctx, &sfs); err == nil {
		for i := range sfs.Items {
			s := &sfs.Items[i]
			ch <- readyMetric("Storefront", s.Namespace, s.Name, s.Status.Conditions)
		}
	}
}

func readyMetric(kind, ns, name string, conds []metav1.Condition) prometheus.Metric {
	v := 0.0
	if meta.IsStatusConditionTrue(conds, kommercev1alpha1.ConditionReady) {
		v = 1
	}
	return prometheus.MustNewConstMetric(readyDesc, prometheus.GaugeValue, v, kind, ns, name)
}

package storefront

import (
	"context"
	"fmt"
	"strings"

	discoveryv1 "k8s.io/api/discovery/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	kv1 "github.com/kommerce/kommerce/api/v1alpha1"
)

// previewRouted reports whether the preview Service sends traffic to pods of colour
// c only, and to at least one ready one. A Deployment reports its pods available
// before the EndpointSlice controller (and kube-proxy after it) moves the Service
// to them, and at the start of a rollout the preview Service still lists the
// serving colour's pods: checks run in that moment would test the old version, or
// nothing. The pods are recognised by name (a Deployment's pods are named
// <deployment>-<hash>-<suffix>), so no pod needs to be read. Read uncached: the
// operator does not watch EndpointSlices.
func (r *Reconciler) previewRouted(ctx context.Context, sf *kv1.Storefront, c kv1.Color) (bool, string, error) {
	var list discoveryv1.EndpointSliceList
	err := r.APIReader.List(ctx, &list, client.InNamespace(sf.Namespace), client.MatchingLabels{discoveryv1.LabelServiceName: previewName(sf)})
	if err != nil {
		return false, "", fmt.Errorf("list the endpoints of Service %s: %w", previewName(sf), err)
	}
	ok, why := routedTo(list.Items, previewName(sf), apiName(sf, c)+"-")
	return ok, why, nil
}

// routedTo reports whether the ready endpoints of a Service's slices are all pods
// named with prefix, and there is at least one.
func routedTo(slices []discoveryv1.EndpointSlice, service, prefix string) (bool, string) {
	ready := 0
	for _, sl := range slices {
		for _, ep := range sl.Endpoints {
			if ep.Conditions.Ready != nil && !*ep.Conditions.Ready {
				continue
			}
			if ep.TargetRef == nil || !strings.HasPrefix(ep.TargetRef.Name, prefix) {
				name := "an endpoint without a pod"
				if ep.TargetRef != nil {
					name = "pod " + ep.TargetRef.Name
				}
				return false, fmt.Sprintf("Service %s still routes to %s", service, name)
			}
			ready++
		}
	}
	if ready == 0 {
		return false, fmt.Sprintf("Service %s has no ready endpoint yet", service)
	}
	return true, ""
}

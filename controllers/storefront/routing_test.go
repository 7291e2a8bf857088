package storefront

import (
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
)

func TestRoutedTo(t *testing.T) {
	yes, no := true, false
	ep := func(pod string, ready *bool) discoveryv1.Endpoint {
		e := discoveryv1.Endpoint{Addresses: []string{"10.244.0.7"}, Conditions: discoveryv1.EndpointConditions{Ready: ready}}
		if pod != "" {
			e.TargetRef = &corev1.ObjectReference{Kind: "Pod", Name: pod}
		}
		return e
	}
	slice := func(eps ...discoveryv1.Endpoint) discoveryv1.EndpointSlice {
		return discoveryv1.EndpointSlice{Endpoints: eps}
	}
	tests := []struct {
		name   string
		slices []discoveryv1.EndpointSlice
		ok     bool
		why    string
	}{
		{"no slice yet", nil, false, "no ready endpoint"},
		{"only a pod that is not ready", []discoveryv1.EndpointSlice{slice(ep("web-api-green-7f9c-abcde", &no))}, false, "no ready endpoint"},
		{"still the serving colour", []discoveryv1.EndpointSlice{slice(ep("web-api-blue-6d5f-x2k4q", &yes))}, false, "routes to pod web-api-blue-6d5f-x2k4q"},
		{"both colours during the switch", []discoveryv1.EndpointSlice{slice(ep("web-api-green-7f9c-abcde", &yes)), slice(ep("web-api-blue-6d5f-x2k4q", nil))}, false, "web-api-blue"},
		{"an endpoint without a pod", []discoveryv1.EndpointSlice{slice(ep("", &yes))}, false, "without a pod"},
		{"the preview only", []discoveryv1.EndpointSlice{slice(ep("web-api-green-7f9c-abcde", &yes), ep("web-api-green-7f9c-fghij", nil), ep("web-api-blue-6d5f-x2k4q", &no))}, true, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ok, why := routedTo(tt.slices, "web-preview", "web-api-green-")
			if ok != tt.ok || !strings.Contains(why, tt.why) {
				t.Fatalf("routedTo = %t %q, want %t %q", ok, why, tt.ok, tt.why)
			}
		})
	}
}

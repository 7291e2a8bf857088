// Package v1alpha1 holds the kommerce.io/v1alpha1 API: the Tenant, Storefront and
// ModelVersion custom resources, their condition types and reasons. It contains
// types only; the controllers live in controllers/<kind>.
//
// +kubebuilder:object:generate=true
// +groupName=kommerce.io
package v1alpha1

import (
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/scheme"
)

var (
	// GroupVersion is the API group and version of every kind in this package.
	GroupVersion = schema.GroupVersion{Group: "kommerce.io", Version: "v1alpha1"}

	// SchemeBuilder registers the kinds of this package with a runtime.Scheme.
	SchemeBuilder = &scheme.Builder{GroupVersion: GroupVersion}

	// AddToScheme adds the kinds of this package to a scheme; the operator, tests and
	// tools that read these resources call it once at start.
	AddToScheme = SchemeBuilder.AddToScheme
)

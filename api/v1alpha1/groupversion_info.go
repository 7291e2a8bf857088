// Package v1alpha1 holds the kommerce.io/v1alpha1 API: the Tenant, Storefront and
// ModelVersion custom resources, their condition types and reasons. It contains
// types only and depends on nothing but apimachinery, so any program can import it
// to read or write these resources; the controllers live in controllers/<kind>.
//
// +kubebuilder:object:generate=true
// +groupName=kommerce.io
package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

var (
	// GroupVersion is the API group and version of every kind in this package.
	GroupVersion = schema.GroupVersion{Group: "kommerce.io", Version: "v1alpha1"}

	// SchemeBuilder registers the kinds of this package with a runtime.Scheme.
	SchemeBuilder = runtime.NewSchemeBuilder(addKnownTypes)

	// AddToScheme adds the kinds of this package to a scheme; the operator, tests and
	// tools that read these resources call it once at start.
	AddToScheme = SchemeBuilder.AddToScheme

	knownTypes []runtime.Object
)

// register is called from each kind's file so the list of kinds lives beside them.
func register(objs ...runtime.Object) { knownTypes = append(knownTypes, objs...) }

func addKnownTypes(s *runtime.Scheme) error {
	s.AddKnownTypes(GroupVersion, knownTypes...)
	metav1.AddToGroupVersion(s, GroupVersion)
	return nil
}

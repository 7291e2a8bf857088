//go:build tools

// Package tools pins the Kubernetes commands that hack/envtest.sh (kube-apiserver,
// kubectl) and hack/cluster.sh (the node and control-plane components) build, so that
// every one of them comes from the same k8s.io/kubernetes version.
package tools

import (
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
	_ "k8s.io/kubernetes/cmd/kube-controller-manager"
	_ "k8s.io/kubernetes/cmd/kube-proxy"
	_ "k8s.io/kubernetes/cmd/kube-scheduler"
	_ "k8s.io/kubernetes/cmd/kubectl"
	_ "k8s.io/kubernetes/cmd/kubelet"
)

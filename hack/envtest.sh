#!/usr/bin/env bash
# envtest.sh builds kube-apiserver, kubectl and etcd from their Go modules (no release
# binaries can be downloaded on our machines) and caches them by version under
# ~/.cache/kommerce/envtest/<version>. It prints the folder to use as KUBEBUILDER_ASSETS.
#
# A cold build takes ~15-25 minutes on 2 cores; later runs return at once.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
cache=${KOMMERCE_CACHE_DIR:-$HOME/.cache/kommerce}
modversion() { sed -nE "s#^(require)?[[:space:]]*$2 (v[^ ]+).*#\\2#p" "$1" | head -1; }
k8s_version=$(modversion "$here/tools/k8s/go.mod" k8s.io/kubernetes)
etcd_version=$(modversion "$here/tools/etcd/go.mod" go.etcd.io/etcd/server/v3)
dir="$cache/envtest/k8s-$k8s_version-etcd-$etcd_version"

log() { echo "envtest: $*" >&2; }

build() { # build <name> <module dir> <package> [ldflags]
	local name=$1 mod=$2 pkg=$3 ldflags=${4:-}
	if [[ -x "$dir/$name" ]]; then return 0; fi
	log "building $name ($pkg) - first time only, this takes several minutes"
	local start=$SECONDS
	(cd "$mod" && CGO_ENABLED=0 go build -trimpath -ldflags "-s -w $ldflags" -o "$dir/$name.tmp" "$pkg")
	mv "$dir/$name.tmp" "$dir/$name"
	log "built $name in $((SECONDS - start))s"
}

mkdir -p "$dir"
minor=${k8s_version#v1.}; minor=${minor%%.*}
vflags="-X k8s.io/component-base/version.gitVersion=$k8s_version -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=$minor -X k8s.io/component-base/version.gitTreeState=clean"
vflags="$vflags -X k8s.io/client-go/pkg/version.gitVersion=$k8s_version -X k8s.io/client-go/pkg/version.gitMajor=1 -X k8s.io/client-go/pkg/version.gitMinor=$minor"
build etcd "$here/tools/etcd" .
build kube-apiserver "$here/tools/k8s" k8s.io/kubernetes/cmd/kube-apiserver "$vflags"
if [[ ${1:-} != --no-kubectl ]]; then
	build kubectl "$here/tools/k8s" k8s.io/kubernetes/cmd/kubectl "$vflags"
fi
echo "$dir"

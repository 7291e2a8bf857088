#!/usr/bin/env bash
# generate.sh runs the code generators with the versions pinned in the Makefile.
#
#   hack/generate.sh generate   deepcopy (controller-gen object) and sqlc queries
#   hack/generate.sh manifests  CRDs and RBAC (controller-gen crd rbac), and their copies in charts/kommerce
#   hack/generate.sh verify     both, then fail if any generated file differs from git
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

have_api_types() { compgen -G "api/v1alpha1/*_types.go" >/dev/null; }

generate() {
	if have_api_types; then
		make -s controller-gen
		bin/controller-gen object:headerFile=hack/boilerplate.go.txt paths=./api/...
	fi
	# Each package with SQL queries has its own sqlc.yaml beside them.
	local f
	for f in $(git ls-files '*sqlc.yaml' '*sqlc.yml'); do
		make -s sqlc
		(cd "$(dirname "$f")" && "$OLDPWD/bin/sqlc" generate)
	done
	# Further generators (OpenAPI code, ONNX protobuf, ...) are one script each in
	# hack/gen.d, run in name order.
	for f in hack/gen.d/*.sh; do
		[[ -x $f ]] && "$f"
	done
	return 0
}

manifests() {
	if have_api_types; then
		make -s controller-gen
		bin/controller-gen rbac:roleName=kommerce-operator crd webhook paths=./api/... paths=./controllers/... \
			output:crd:artifacts:config=config/crd/bases output:rbac:artifacts:config=config/rbac
	fi
	# The Helm chart carries copies of the CRDs and the ClusterRole just written.
	hack/gen.d/operator-chart.sh
}

case ${1:-} in
generate) generate ;;
manifests) manifests ;;
verify)
	# Compare the whole work tree before and after regenerating, so this works in a
	# clean clone (CI) and in a tree with work in progress alike.
	snapshot() { { git status --porcelain=v1 -uall; git diff; git ls-files --others --exclude-standard -z | xargs -0r sha256sum; } | sha256sum; }
	before=$(snapshot)
	generate
	manifests
	if [[ $(snapshot) != "$before" ]]; then
		echo "verify-gen: regenerating changed files; run make generate manifests and commit the result:" >&2
		git status --short >&2
		exit 1
	fi
	echo "verify-gen: generated files are up to date" >&2
	;;
*) echo "usage: hack/generate.sh generate|manifests|verify" >&2; exit 2 ;;
esac

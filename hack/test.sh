#!/usr/bin/env bash
# test.sh runs the whole test suite against the services hack/services.sh started and
# prints a per-package summary, the smoke tests, skipped tests and total coverage.
# Arguments are passed to `go test` (make test passes -race and ./...).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
eval "$(hack/services.sh env)"
export KOMMERCE_TEST_REQUIRE_SERVICES=1
out=${KOMMERCE_TEST_OUT:-$(mktemp -d)}
mkdir -p "$out"
start=$SECONDS
args=("$@")
((${#args[@]})) || args=(./...)
echo "test: go test -count=1 -json -coverprofile $out/cover.out ${args[*]}" >&2
set +e
go test -count=1 -json -timeout 40m -coverprofile "$out/cover.out" "${args[@]}" 2>&1 | tee "$out/test.json" | go run ./hack/testsummary
st=("${PIPESTATUS[@]}")
rc=${st[0]} sum_rc=${st[2]}
set -e
if [[ -s $out/cover.out ]]; then
	echo "Total statement coverage: $(go tool cover -func="$out/cover.out" | awk '/^total:/ {print $3}')"
fi
echo "go test took $((SECONDS - start))s; raw output in $out/test.json"
((rc == 0 && sum_rc == 0)) || exit 1
for e2e in hack/e2e/*.sh; do
	[[ -x $e2e ]] || continue
	echo "test: running $e2e" >&2
	"$e2e"
done

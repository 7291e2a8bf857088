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
# Coverage counts every package of the module in every test binary (-coverpkg), so
# code exercised by black-box tests in another package (apiserver/stack drives
# apiserver/postgres, for example) is counted where it lives.
coverpkg=${KOMMERCE_COVERPKG:-./api/...,./apiserver/...,./cmd/...,./controllers/...,./inference/...,./ingest/...,./internal/...}
echo "test: go test -count=1 -json -coverpkg $coverpkg -coverprofile $out/cover.out ${args[*]}" >&2
set +e
go test -count=1 -json -timeout 40m -coverpkg "$coverpkg" -coverprofile "$out/cover.out" "${args[@]}" 2>&1 | tee "$out/test.json" | go run ./hack/testsummary -cover "$out/cover.out"
st=("${PIPESTATUS[@]}")
rc=${st[0]} sum_rc=${st[2]}
set -e
echo "go test took $((SECONDS - start))s; raw output in $out/test.json"
((rc == 0 && sum_rc == 0)) || exit 1
for e2e in hack/e2e/*.sh; do
	[[ -x $e2e ]] || continue
	echo "test: running $e2e" >&2
	"$e2e"
done

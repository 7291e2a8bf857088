#!/usr/bin/env bash
# test.sh runs the whole test suite against the services hack/services.sh started, then
# every end-to-end script under hack/e2e (each one counts as a test), and prints one
# summary: per-package results, the smoke tests, the scripts, skipped tests, total
# coverage and, as its very last line, "Tests: N passed, N failed, N skipped".
# Arguments are passed to `go test` (make test passes -race and ./...).
#
# Services are required here (KOMMERCE_TEST_REQUIRE_SERVICES=1): a missing one fails
# its tests, and any skipped test fails the run unless hack/testsummary/allowed-skips.txt
# names it with a reason. It exits non-zero when anything failed.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
eval "$(hack/services.sh env)"
export KOMMERCE_TEST_REQUIRE_SERVICES=1
out=${KOMMERCE_TEST_OUT:-$(mktemp -d)}
mkdir -p "$out"
# Tests leave artefacts a person may want to look at (screenshots) here.
export KOMMERCE_TEST_OUT=$out
start=$SECONDS
args=("$@")
((${#args[@]})) || args=(./...)
# Coverage counts every package of the module in every test binary (-coverpkg), so
# code exercised by black-box tests in another package (apiserver/stack drives
# apiserver/postgres, for example) is counted where it lives.
coverpkg=${KOMMERCE_COVERPKG:-./api/...,./apiserver/...,./cmd/...,./controllers/...,./inference/...,./ingest/...,./internal/...}
# The summary is built once at the end; build it first so a broken summarizer is
# known before twenty minutes of tests.
go build -o "$out/testsummary" ./hack/testsummary
echo "test: go test -count=1 -json -coverpkg $coverpkg -coverprofile $out/cover.out ${args[*]}" >&2
set +e
# Progress while it runs: one line per finished package, on stderr.
go test -count=1 -json -timeout 40m -coverpkg "$coverpkg" -coverprofile "$out/cover.out" "${args[@]}" 2>&1 |
	tee "$out/test.json" |
	sed -nuE 's/^\{"Time":"[^"]*","Action":"(pass|fail|skip)","Package":"([^"]*)","Elapsed":([0-9.]+)\}$/test: \1 \2 (\3s)/p' >&2
rc=${PIPESTATUS[0]}
set -e
echo "test: go test took $((SECONDS - start))s (exit $rc); raw output in $out/test.json" >&2

# Every end-to-end script runs, whatever go test said, so one run reports every
# failure; each is one test in the summary: "<script> <exit code> <seconds> <log>".
: >"$out/e2e.txt"
for e2e in hack/e2e/*.sh; do
	log=$out/e2e-$(basename "$e2e" .sh).log
	echo "test: running $e2e" >&2
	e2e_start=$SECONDS
	set +e
	bash "$e2e" 2>&1 | tee "$log"
	e2e_rc=${PIPESTATUS[0]}
	set -e
	echo "test: $e2e exit $e2e_rc in $((SECONDS - e2e_start))s" >&2
	echo "$e2e $e2e_rc $((SECONDS - e2e_start)) $log" >>"$out/e2e.txt"
done
echo "test: tests and end-to-end scripts took $((SECONDS - start))s" >&2

# Nothing may be printed after the summary: its last line is the totals.
set +e
"$out/testsummary" -strict -allowed-skips hack/testsummary/allowed-skips.txt -cover "$out/cover.out" -e2e "$out/e2e.txt" <"$out/test.json"
sum_rc=$?
set -e
((rc == 0 && sum_rc == 0))

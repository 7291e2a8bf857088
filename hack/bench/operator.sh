#!/usr/bin/env bash
# operator.sh measures Tenant apply → Ready on envtest + PostgreSQL for the operator
# against baselines measured in the same run (the bare writes of the objects the
# operator gives a Tenant, the smaller bare writes of earlier rounds, the same
# reconcile code called directly), and the operator's memory.
#
#   hack/bench/operator.sh              # 20 one at a time, then a burst of 200
#   hack/bench/operator.sh -n 1000      # the DESIGN budget's size (issue 18's target)
#   BENCH_SHORT=1 hack/bench/operator.sh   # a burst of at most 200 (about a minute)
#   hack/bench/operator.sh -n 1000 -rate 40   # the creates paced at 40 a second (a figure)
#   hack/bench/operator.sh -cpuprofile op.pprof -apiserver-profile api   # profiles
#
# It prints the latencies, the API requests and CPU per Tenant of each burst, and a
# BENCHSUMMARY line. Extra flags go to hack/bench/operatorbench (see -help there).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
eval "$(hack/services.sh env postgres envtest)"
KUBEBUILDER_ASSETS=$(hack/envtest.sh --no-kubectl)
export KUBEBUILDER_ASSETS
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
go build -o "$tmp/kommerce" ./cmd/kommerce
go build -o "$tmp/operatorbench" ./hack/bench/operatorbench
"$tmp/operatorbench" -kommerce "$tmp/kommerce" "$@"

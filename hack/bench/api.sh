#!/usr/bin/env bash
# api.sh benchmarks product reads of the API (cache hit and miss, single product and a
# list page) next to bare net/http serving the same bytes, in the same run, against a
# fresh database on the PostgreSQL and Redis of hack/services.sh. Flags go to the Go
# program (hack/bench/api): -duration, -rounds, -concurrency, -products, -only,
# -cpuprofile, -scenario-cpuprofile. BENCH_SHORT=1 runs a short pass (-duration 3s -rounds 2, about a
# minute; flags given still win). Ends with BENCHSUMMARY lines for hack/bench/all.sh.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
hack/services.sh up postgres redis >/dev/null
eval "$(hack/services.sh env postgres redis)"
db=kommerce_bench_api_$$
admin_url=$KOMMERCE_TEST_DATABASE_URL
db_url=${admin_url/\/kommerce\?/\/$db?}
psql -q "$admin_url" -c "CREATE DATABASE $db"
trap 'psql -q "$admin_url" -c "DROP DATABASE IF EXISTS $db WITH (FORCE)"' EXIT
go build -o bin/kommerce ./cmd/kommerce
go build -o bin/bench-api ./hack/bench/api
KOMMERCE_DATABASE_URL=$db_url bin/kommerce migrate up --log-level warn
echo "api bench: $(nproc) cores, $(go version | cut -d' ' -f3), $(date -u +%Y-%m-%dT%H:%MZ)"
redis_port=${KOMMERCE_TEST_REDIS_URL##*:}
redis_port=${redis_port%%/*}
redis_pid=$(pgrep -f "redis-server.*:$redis_port" | head -1 || true)
echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg) (other work on the machine slows every scenario alike: rounds are interleaved)"
short=()
if [[ ${BENCH_SHORT:-} == 1 ]]; then
	short=(-duration 3s -rounds 2)
fi
KOMMERCE_DATABASE_URL=$db_url KOMMERCE_REDIS_URL=$KOMMERCE_TEST_REDIS_URL bin/bench-api -redis-pid "${redis_pid:-0}" "${short[@]}" "$@"

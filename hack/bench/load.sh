#!/usr/bin/env bash
# load.sh is the seed's load target (issue 18, target 3): a mixed shop workload
# (hack/bench/load/scenario.json: browse and search ~85 %, cart ~10 %, guest checkout
# and payment ~5 %, Zipf-hot products, many shoppers with think times) driven by
# vegeta, used as a library by hack/bench/load, against the real stack on this
# machine: `kommerce api` and `kommerce ingest` as separate processes, PostgreSQL,
# Redis, Kafka, Elasticsearch and stripe-mock of hack/services.sh. It steps the rate
# up and reports the highest at which p95 < 200 ms with no error, then stalls
# PostgreSQL and Redis for 1 s each (toxiproxy between the API and them) and checks
# that nothing is lost.
#
# A fresh database and tenant per run; the tenant gets the demo catalog
# (LOAD_PRODUCTS, default 2000 products) through `kommerce admin seed-demo`.
# The API runs with KOMMERCE_TENANT_RATE raised to 100000 (the default 1000/s would
# cap the whole shop below the target) and KOMMERCE_TRUSTED_PROXIES=127.0.0.1, so each
# shopper's X-Forwarded-For address is its client address: the per-address limit
# (20/s, the default) stays in force, per shopper, as behind an ingress.
#
# Short mode (BENCH_SHORT=1 or -short): rates 100,200,400 for 10 s each. Flags go to
# the Go program: -rates, -step, -warmup, -stall, -stall-rate, -timeout, -scenario.
# LOAD_PROFILE=1 records the API's CPU with perf during the second step (the API has
# no pprof endpoint) and prints the top of it.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
services="postgres redis kafka elasticsearch stripe-mock"
while pgrep -f 'services.sh up' >/dev/null; do sleep 2; done # another up is running: wait, never race it
hack/services.sh up $services >/dev/null
eval "$(hack/services.sh env $services)"
db=kommerce_bench_load_$$
tenant=load$$
admin_url=$KOMMERCE_TEST_DATABASE_URL
db_url=${admin_url/\/kommerce\?/\/$db?}
out=$(mktemp -d /tmp/kommerce-load.XXXXXX)
cleanup() {
	psql -q "$admin_url" -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" || true
	curl -fsS -o /dev/null -X DELETE "$KOMMERCE_TEST_ELASTICSEARCH_URL/kommerce-$tenant-*" 2>/dev/null || true
	hack/kafka.sh topics --delete --topic "kommerce\\.$tenant\\..*" >/dev/null 2>&1 || true
}
trap cleanup EXIT
psql -q "$admin_url" -c "CREATE DATABASE $db"
go build -o bin/kommerce ./cmd/kommerce
go build -o bin/bench-load ./hack/bench/load
export KOMMERCE_DATABASE_URL=$db_url
unset KOMMERCE_SECRETS_KEY_FILE
bin/kommerce migrate up --log-level warn
bin/kommerce admin create-tenant "$tenant" --name "Load test" --log-level warn >/dev/null
start=$(date +%s)
bin/kommerce admin seed-demo --tenant "$tenant" --products "${LOAD_PRODUCTS:-2000}" --log-level warn
echo "seeded in $(($(date +%s) - start)) s; results in $out"
echo "load bench: $(nproc) cores, $(go version | cut -d' ' -f3), PostgreSQL $(psql -Atc 'show server_version' "$admin_url"), $(date -u +%Y-%m-%dT%H:%MZ)"
if [[ -n ${LOAD_PROFILE:-} ]]; then
	# Profile the API during the second step: find it once it listens, wait for
	# the warm-up and first step, then sample 15 s.
	(
		for _ in $(seq 120); do
			pid=$(cat "$out/api.pid" 2>/dev/null || true)
			[[ -n $pid ]] && break
			sleep 1
		done
		[[ -n ${pid:-} ]] || exit 0
		sleep "${LOAD_PROFILE_DELAY:-60}"
		perf record -F 499 -g -p "$pid" -o "$out/perf.data" -- sleep 15 >/dev/null 2>&1 || exit 0
		perf report -i "$out/perf.data" --stdio --no-children --sort symbol 2>/dev/null | grep -E '^ +[0-9]' | head -40 >"$out/perf-top.txt"
	) &
fi
bin/bench-load -kommerce bin/kommerce -tenant "$tenant" -database-url "$db_url" \
	-redis-url "$KOMMERCE_TEST_REDIS_URL" -elasticsearch-url "$KOMMERCE_TEST_ELASTICSEARCH_URL" \
	-kafka-brokers "$KOMMERCE_TEST_KAFKA_BROKERS" -stripe-url "$KOMMERCE_TEST_STRIPE_URL" -out "$out" "$@"
wait
if [[ -s $out/perf-top.txt ]]; then
	echo "API CPU profile (perf, 15 s of the second step, self time by symbol):"
	cat "$out/perf-top.txt"
fi

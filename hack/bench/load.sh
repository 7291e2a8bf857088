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
# Short mode (BENCH_SHORT=1 or -short): rates 200,400,700,1000 for 10 s each. Flags go to
# the Go program: -rates, -step, -warmup, -stall, -stall-rate, -timeout, -scenario.
# LOAD_PROFILE=<rate> records the API's CPU with perf during the step at that rate
# (native frames included) and prints the top of it; `kommerce api --pprof-addr` is the
# Go-level alternative.
#
# Against a running API instead (`make run`'s, or any other), nothing started or
# stalled: `hack/bench/load.sh -target http://127.0.0.1:8080 [-tenant demo] [flags]`.
# It tops up the stock of the demo catalog in make run's database (the local
# PostgreSQL of hack/services.sh; -database-url to change, -database-url= to skip) and
# signs Stripe deliveries with make run's demo secret. Start make run so that each
# simulated shopper counts as its own client and the tenant limit is above the rates:
#   KOMMERCE_TRUSTED_PROXIES=127.0.0.1 KOMMERCE_TENANT_RATE=100000 KOMMERCE_TENANT_BURST=200000 make run
# (and `hack/services.sh up stripe-mock` first, or the checkouts' payments fail).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
if [[ " $* " == *" -target "* || " $* " == *" --target "* || " $* " == *" -target="* || " $* " == *" --target="* ]]; then
	eval "$(hack/services.sh env postgres)"
	go build -o bin/bench-load ./hack/bench/load
	exec bin/bench-load -database-url "${KOMMERCE_DATABASE_URL:-$KOMMERCE_TEST_DATABASE_URL}" \
		-stripe-webhook-secret "${KOMMERCE_STRIPE_WEBHOOK_SECRET:-whsec_kommerce_demo}" "$@"
fi
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
	for index in $(curl -fsS "$KOMMERCE_TEST_ELASTICSEARCH_URL/_cat/indices/kommerce-$tenant-*?h=index" 2>/dev/null); do
		curl -fsS -o /dev/null -X DELETE "$KOMMERCE_TEST_ELASTICSEARCH_URL/$index" || true
	done
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
prof=()
if [[ -n ${LOAD_PROFILE:-} ]] && command -v perf >/dev/null; then
	prof=(-perf-out "$out/perf.data" -profile-rate "$LOAD_PROFILE")
fi
bin/bench-load -kommerce bin/kommerce -tenant "$tenant" -database-url "$db_url" \
	-redis-url "$KOMMERCE_TEST_REDIS_URL" -elasticsearch-url "$KOMMERCE_TEST_ELASTICSEARCH_URL" \
	-kafka-brokers "$KOMMERCE_TEST_KAFKA_BROKERS" -stripe-url "$KOMMERCE_TEST_STRIPE_URL" -out "$out" "${prof[@]}" "$@"
if [[ -s $out/perf.data ]]; then
	echo "API CPU profile at $LOAD_PROFILE req/s (perf, self time by symbol, top 40):"
	perf report -i "$out/perf.data" --stdio --no-children --sort symbol 2>/dev/null | grep -E '^ +[0-9]' | head -40
	echo "API CPU profile at $LOAD_PROFILE req/s (share including callees, the API's own code and its libraries, top 50):"
	perf report -i "$out/perf.data" --stdio --children --sort symbol -g none 2>/dev/null | grep -E '^ +[0-9]' |
		grep -E 'kommerce|gin-gonic|pgx|go-redis|encoding/json|net/http' | head -50
fi

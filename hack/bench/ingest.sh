#!/usr/bin/env bash
# ingest.sh benchmarks ingest on the real services of hack/services.sh: throughput of
# Kafka -> searchable and outbox -> searchable against a direct bulk load into the same
# engine in the same run, for Elasticsearch and Bleve, and write-to-searchable latency
# with the whole pipeline running. The outbox path is measured twice per round: with
# the relay and indexer started inside the timed span (cold start, the measurement
# of runs before 2026-12-05 17:00Z) and through a pipeline already running, rows
# committed once it is up (see docs/benchmarks.md); the outbox BENCHSUMMARY line is
# judged on the second and prints the first beside it. Flags go to the Go program
# (hack/bench/ingest): -engine, -n, -batch, -partitions, -latency-samples,
# -concurrency, -rounds, -paths (direct,kafka,outbox,running), -relay-batch,
# -relay-workers, -in-flight, -cpuprofile.
# BENCH_SHORT=1 (or --short as the first argument) measures Elasticsearch only, with
# 20,000 products, three interleaved rounds (best of each path; every round's own
# ratios are printed as well, the first being the one-round figure of earlier short
# runs) and 60 latency samples (about 2–3 minutes); flags given after it still apply. The last lines are BENCHSUMMARY lines (target, goal, figure, met).
set -euo pipefail
if [[ ${1:-} == --short ]]; then
	BENCH_SHORT=1
	shift
fi
if [[ ${BENCH_SHORT:-} == 1 ]]; then
	set -- -engine elasticsearch -n 20000 -rounds 3 -latency-samples 60 "$@"
fi
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
hack/services.sh up postgres kafka elasticsearch >/dev/null
eval "$(hack/services.sh env postgres kafka elasticsearch)"
db=kommerce_bench_ingest_$$
admin_url=$KOMMERCE_TEST_DATABASE_URL
db_url=${admin_url/\/kommerce\?/\/$db?}
psql -q "$admin_url" -c "CREATE DATABASE $db"
trap 'psql -q "$admin_url" -c "DROP DATABASE IF EXISTS $db WITH (FORCE)"' EXIT
go build -o bin/kommerce ./cmd/kommerce
go build -o bin/bench-ingest ./hack/bench/ingest
KOMMERCE_DATABASE_URL=$db_url bin/kommerce migrate up --log-level warn
echo "ingest bench: $(nproc) cores, $(go version | cut -d' ' -f3), Elasticsearch $(curl -fsS "$KOMMERCE_TEST_ELASTICSEARCH_URL/_nodes/_local?filter_path=nodes.*.version" | sed -nE 's/.*"version":"([^"]+)".*/\1/p'), $(date -u +%Y-%m-%dT%H:%MZ)"
echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
KOMMERCE_DATABASE_URL=$db_url KOMMERCE_KAFKA_BROKERS=$KOMMERCE_TEST_KAFKA_BROKERS \
	KOMMERCE_ELASTICSEARCH_URL=$KOMMERCE_TEST_ELASTICSEARCH_URL bin/bench-ingest "$@"

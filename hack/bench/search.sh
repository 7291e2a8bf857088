#!/usr/bin/env bash
# search.sh benchmarks product search on a synthetic catalog of 100,000 products:
# latency of search.Searcher (what the API calls) next to the engine's own "took", for
# Elasticsearch (hack/services.sh) and Bleve, over a mix of words, typos, filters,
# facets and sorts, plus autocomplete. Flags go to the Go program (hack/bench/search):
# -engine, -products, -queries, -warmup, -keep.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
# BENCH_SHORT=1 (what hack/bench/all.sh sets): a smaller run, done in a few minutes;
# flags given on the command line still win.
short=()
[[ -z ${BENCH_SHORT:-} ]] || short=(-engine elasticsearch -products 20000 -queries 500 -warmup 100)
hack/services.sh up elasticsearch >/dev/null
eval "$(hack/services.sh env elasticsearch)"
go build -o bin/bench-search ./hack/bench/search
echo "search bench: $(nproc) cores, $(go version | cut -d' ' -f3), Elasticsearch $(curl -fsS "$KOMMERCE_TEST_ELASTICSEARCH_URL/_nodes/_local?filter_path=nodes.*.version" | sed -nE 's/.*"version":"([^"]+)".*/\1/p'), $(date -u +%Y-%m-%dT%H:%MZ)"
echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
KOMMERCE_ELASTICSEARCH_URL=$KOMMERCE_TEST_ELASTICSEARCH_URL bin/bench-search "${short[@]}" "$@"

#!/usr/bin/env bash
# tracing.sh measures what OpenTelemetry tracing costs a product read through the whole
# server (apiserver/stack BenchmarkProductReadTracing: off, 10 % sampled, 100 %
# sampled), medians of -count runs, and prints the ratios to "off" as summary lines.
# BENCH_SHORT=1: fewer iterations. Needs PostgreSQL (hack/services.sh).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
count=5 benchtime=5000x
[[ -z ${BENCH_SHORT:-} ]] || count=3 benchtime=2000x
hack/services.sh up postgres >/dev/null
eval "$(hack/services.sh env postgres)"
echo "tracing bench: $(nproc) cores, $(go version | cut -d' ' -f3), $(date -u +%Y-%m-%dT%H:%MZ), load average $(cut -d' ' -f1-3 /proc/loadavg)"
out=$(mktemp)
trap 'rm -f "$out"' EXIT
go test -run '^$' -bench ProductReadTracing -benchtime "$benchtime" -count "$count" ./apiserver/stack/ | tee "$out"
# Median ns/op per sub-benchmark, then each ratio to "off".
awk -v count="$count" '
	$1 ~ /^BenchmarkProductReadTracing\// {
		name = $1; sub(/^BenchmarkProductReadTracing\//, "", name); sub(/-[0-9]+$/, "", name)
		v[name] = v[name] " " $3
	}
	END {
		for (name in v) {
			n = split(substr(v[name], 2), a, " ")
			for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (a[j] + 0 < a[i] + 0) { t = a[i]; a[i] = a[j]; a[j] = t }
			med[name] = a[int((n + 1) / 2)]
		}
		if (!("off" in med)) { print "tracing.sh: no \"off\" result" > "/dev/stderr"; exit 1 }
		for (name in med) if (name != "off")
			printf "BENCHSUMMARY\tproduct read with tracing %s vs off (in process)\t\t%.2fx (%d vs %d ns/op, medians of %d)\tmet\n", name, med[name] / med["off"], med[name], med["off"], count
	}' "$out"

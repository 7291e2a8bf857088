#!/usr/bin/env bash
# all.sh runs every benchmark under hack/bench in its short mode (BENCH_SHORT=1) and
# rewrites the summary table at the top of docs/benchmarks.md from the BENCHSUMMARY
# lines they print (hack/bench/benchsummary): target, goal, today's figure with its
# ratio, met or not, and the command that measured it. One command re-measures all:
#
#   hack/bench/all.sh                    every benchmark, then the table
#   hack/bench/all.sh --only api,ingest  some of them (their rows are replaced, the
#                                        others kept)
#   hack/bench/all.sh --skip storefront  all but some (storefront needs root: it runs
#                                        the real cluster of hack/cluster.sh)
#   hack/bench/all.sh --no-write         measure, print the table, leave the doc alone
#
# A benchmark that fails stays in the table as failed; all.sh goes on with the next
# and exits non-zero at the end. Each benchmark's full output is kept in the folder
# printed at the start. Short runs are noisier than the full runs the sections of
# docs/benchmarks.md report: compare ratios, and re-run one benchmark in full to
# settle a doubt.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."

# name, then the script; the order is the document's.
benches=(
	"api hack/bench/api.sh"
	"checkout hack/bench/checkout.sh"
	"ingest hack/bench/ingest.sh"
	"search hack/bench/search.sh"
	"inference hack/bench/inference.sh"
	"operator hack/bench/operator.sh"
	"jobs hack/bench/jobs.sh"
	"tracing hack/bench/tracing.sh"
	"load hack/bench/load.sh"
	"storefront hack/bench/storefront.sh"
)

only= skip= write=1
while (($#)); do
	case $1 in
	--only) only=,$2, && shift ;;
	--skip) skip=,$2, && shift ;;
	--no-write) write= ;;
	-h | --help)
		sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//'
		echo "benchmarks: $(printf '%s ' "${benches[@]%% *}")"
		exit 0
		;;
	*)
		echo "all.sh: unknown argument $1 (see --help)" >&2
		exit 2
		;;
	esac
	shift
done

out=$(mktemp -d "${TMPDIR:-/tmp}/kommerce-bench.XXXXXX")
manifest=$out/manifest
: >"$manifest"
load_before=$(cut -d' ' -f1-3 /proc/loadavg)
started=$(date -u +%Y-%m-%dT%H:%MZ)
commit=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
[[ -z $(git status --porcelain 2>/dev/null) ]] || commit="$commit (with uncommitted changes)"
echo "all.sh: $started, commit $commit, $(nproc) cores, load average $load_before; logs in $out"

selected=()
for b in "${benches[@]}"; do
	name=${b%% *}
	[[ -z $only || $only == *",$name,"* ]] || continue
	[[ $skip != *",$name,"* ]] || continue
	selected+=("$b")
done
((${#selected[@]})) || { echo "all.sh: no benchmark selected" >&2; exit 2; }

failed=()
i=0
for b in "${selected[@]}"; do
	i=$((i + 1))
	name=${b%% *} script=${b#* }
	log=$out/$name.log
	cmd="BENCH_SHORT=1 $script"
	echo "all.sh: [$i/${#selected[@]}] $name: $cmd"
	t0=$SECONDS
	rc=0
	if [[ -x $script ]]; then
		# The benchmark's output goes to its log; its summary lines to the terminal,
		# so a long run shows progress without drowning it.
		BENCH_SHORT=1 "$script" >"$log" 2>&1 </dev/null || rc=$?
	else
		echo "all.sh: $script is missing or not executable" >"$log"
		rc=127
	fi
	secs=$((SECONDS - t0))
	printf '%s\t%s\t%d\t%d\t%s\n' "$name" "$cmd" "$rc" "$secs" "$log" >>"$manifest"
	grep -a '^BENCHSUMMARY	' "$log" | cut -f2- | sed 's/^/        /; s/\t/ | /g' || true
	if ((rc != 0)); then
		failed+=("$name")
		echo "all.sh: [$i/${#selected[@]}] $name FAILED (exit $rc after ${secs}s); the end of its log:"
		tail -15 "$log" | sed 's/^/        /'
	else
		echo "all.sh: [$i/${#selected[@]}] $name done in ${secs}s"
	fi
done

header="Every target of the benchmarks below, as \`hack/bench/all.sh\` last measured it in its
short mode (\`BENCH_SHORT=1\`): noisier than the full runs in the sections that follow,
each ratio against a baseline measured in the same run, on this project's 2-core
machines shared with other work. A run of some benchmarks (\`--only\`) replaces their
rows and keeps the others; the last column says when and on which commit each row was
measured."
when="$started, $commit, load $load_before"
doc=docs/benchmarks.md
if [[ -n $write ]]; then
	go run ./hack/bench/summarize -doc "$doc" -header "$header" -when "$when" "$manifest"
else
	cp "$doc" "$out/benchmarks.md"
	go run ./hack/bench/summarize -doc "$out/benchmarks.md" -header "$header" -when "$when" "$manifest"
	sed -n '/<!-- benchsummary:begin/,/<!-- benchsummary:end -->/p' "$out/benchmarks.md"
fi
if ((${#failed[@]})); then
	echo "all.sh: failed: ${failed[*]} (logs in $out)" >&2
	exit 1
fi
echo "all.sh: every benchmark ran; logs in $out"

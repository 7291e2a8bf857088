#!/usr/bin/env bash
# storefront.sh benchmarks the Storefront controller on the real cluster of
# hack/cluster.sh, in one run:
#
#   1. apply → Available for N storefronts (default 10; api.replicas 1, ingest.replicas
#      0 so that the API pods alone are measured and fit two cores), from `kubectl
#      apply` to every `kubectl wait --for=condition=Available` returning;
#   2. the same by hand: the Deployments, Services, ConfigMaps, Secrets and
#      ServiceAccounts the controller made, copied into another namespace of the
#      tenant (owner references, status and cluster-assigned fields removed) and
#      applied with kubectl, until every Deployment is Available — the ratio of the two
#      is the controller's overhead;
#   3. promotions of one storefront under load (hack/loadgen, 25 req/s through the
#      active Service, as four logged-in shoppers): from the status as `kubectl get -w`
#      streams it, stamped on arrival, the time from "every check passed" to "active
#      version switched"; the same from the controller's ChecksPassed and Promoted
#      Events (microsecond eventTime); the whole rollout (spec.version changed →
#      promoted); and the requests lost (must be 0).
#
#   hack/bench/storefront.sh [storefronts] [promotions] [API replicas during the promotions]
#
# A cluster that is already up is used and left up; one this script started is taken
# down. Needs root (the cluster does).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
name=sf-bench
# shellcheck source=hack/e2e/lib/cluster.sh
source hack/e2e/lib/cluster.sh

# BENCH_SHORT=1 (hack/bench/all.sh): 4 storefronts and 2 promotions by default.
def_count=10 def_promotions=3
[[ -z ${BENCH_SHORT:-} ]] || def_count=4 def_promotions=2
count=${1:-$def_count}
promotions=${2:-$def_promotions}
replicas=${3:-2} # API replicas of the storefront promoted in part 3
rate=25
tenant=sfbench$$
sfns=$tenant-sf
handns=$tenant-hand
db=kommerce_bench_sf_$$

diagnose() {
	k get pods -A -o wide >&2 || true
	k -n "$sfns" get sf -o wide >&2 || true
	k -n "$sfns" get events --sort-by=.lastTimestamp 2>/dev/null | tail -30 >&2 || true
}
cleanup_more() {
	[[ -n ${load_pid:-} ]] && kill "$load_pid" 2>/dev/null
	[[ -n ${watch_pid:-} ]] && kill "$watch_pid" 2>/dev/null
	[[ -n ${svc_watch_pid:-} ]] && kill "$svc_watch_pid" 2>/dev/null
	if [[ -n ${KUBECONFIG:-} && -z $own_cluster ]]; then
		k -n "$sfns" delete sf --all --wait=false >/dev/null 2>&1
		k delete tenant "$tenant" --wait=false >/dev/null 2>&1
		h uninstall "$release" -n "$opns" >/dev/null 2>&1
		k delete ns "$opns" "$sfns" "$handns" --wait=false >/dev/null 2>&1
	fi
	[[ -n ${KOMMERCE_TEST_ELASTICSEARCH_URL:-} ]] &&
		curl -s -X DELETE "$KOMMERCE_TEST_ELASTICSEARCH_URL/kommerce-$tenant*?expand_wildcards=all" >/dev/null 2>&1
	return 0
}

now() { date +%s.%N; }
# quiet <namespace>: wait (bounded) until no pod there is terminating, so a round does
# not share the CPU with the previous round's draining pods.
quiet() {
	local i
	for i in $(seq 1 120); do
		[[ $(k -n "$1" get pods -o json | jq '[.items[] | select(.metadata.deletionTimestamp != null)] | length') == 0 ]] && return 0
		sleep 1
	done
	fail "pods in $1 still terminating after 120 s"
}
secs() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.2f", b - a}'; }

cluster_lock
make -s helm crane >/dev/null
go build -o "$tmp/loadgen" ./hack/loadgen
go build -o "$tmp/kommerce" ./cmd/kommerce
image_build
services_up
cluster_up
tags=("$repo:bench-v1")
for i in $(seq 1 "$promotions"); do tags+=("$repo:bench-p$i"); done
load_tags bin/kommerce-image.tar "${tags[@]}" "$ref"
data_plane "$db"
operator_install --set dataPlane.existingSecret=kommerce-data-plane
k apply -f - >/dev/null <<EOF
apiVersion: kommerce.io/v1alpha1
kind: Tenant
metadata: {name: $tenant}
spec:
  owners: [{kind: User, name: bench@$tenant.example}]
  namespaces: [$sfns, $handns]
EOF
k wait --for=condition=Ready "tenant/$tenant" --timeout=120s >/dev/null || fail "Tenant not Ready"
shoppers "$tmp/kommerce" "$tenant" 4

storefronts() { # storefronts <version>: N Storefronts in one document
	local i
	for i in $(seq -f %02g 1 "$count"); do # shop01, shop02, … whatever the count
		cat <<EOF
---
apiVersion: kommerce.io/v1alpha1
kind: Storefront
metadata: {name: shop$i, namespace: $sfns}
spec:
  tenantRef: {name: $tenant}
  version: $1
  channels: [{name: web, currency: EUR, locales: [en], hostname: shop$i.$tenant.example}]
  api: {replicas: 1, resources: {cpu: 20m, memory: 96Mi}}
  ingest: {replicas: 0}
  rollout:
    promotion: Auto
    progressDeadline: 120s
    rollbackWindow: 0s
    prePromotionChecks:
      - {name: ready, path: /readyz}
      - {name: catalog, path: "/api/v1/products?limit=1"}
EOF
	done
}

echo "storefront bench: $(nproc) cores, $(date -u +%Y-%m-%dT%H:%MZ), load average $(cut -d' ' -f1-3 /proc/loadavg)"

say "1. apply → Available: $count Storefronts (api.replicas 1, ingest.replicas 0)"
storefronts bench-v1 >"$tmp/sf.yaml"
start=$(now)
k apply -f "$tmp/sf.yaml" >/dev/null
k -n "$sfns" wait --for=condition=Available sf --all --timeout=300s >/dev/null || fail "Storefronts not Available"
sf_secs=$(secs "$start" "$(now)")
say "$count Storefronts Available in ${sf_secs}s"
k -n "$sfns" get sf >&2

say "2. the same objects by hand in $handns"
# Every object the controller made, as a user would write it.
k -n "$sfns" get deploy,svc,cm,secret,sa -o json | jq --arg ns "$handns" '
	[.items[] | select(any(.metadata.ownerReferences[]?; .kind == "Storefront"))
	 | del(.status, .metadata.uid, .metadata.resourceVersion, .metadata.creationTimestamp, .metadata.managedFields,
	       .metadata.ownerReferences, .metadata.generation, .metadata.annotations["deployment.kubernetes.io/revision"],
	       .spec.clusterIP, .spec.clusterIPs)
	 | .metadata.namespace = $ns] | {apiVersion: "v1", kind: "List", items: .}' >"$tmp/hand.json"
kinds=$(jq -r '[.items[].kind] | group_by(.) | map("\(length) \(.[0])") | join(", ")' "$tmp/hand.json")
deploys=$(jq '[.items[] | select(.kind == "Deployment" and (.spec.replicas // 1) > 0)] | length' "$tmp/hand.json")
say "by hand: $kinds ($deploys Deployments with replicas)"
k -n "$sfns" delete sf --all --wait=true --timeout=180s >/dev/null || fail "delete the Storefronts"
quiet "$sfns"
start=$(now)
k apply -f "$tmp/hand.json" >/dev/null
k -n "$handns" wait --for=condition=Available deploy --all --timeout=300s >/dev/null || fail "hand-made Deployments not Available"
hand_secs=$(secs "$start" "$(now)")
say "by hand: Available in ${hand_secs}s"
k -n "$handns" delete deploy,svc,cm,sa --all --wait=true --timeout=180s >/dev/null
k -n "$handns" delete secret -l '!kommerce.io/tenant' --wait=true >/dev/null 2>&1 || true
quiet "$handns"

say "1b. apply → Available again ($count Storefronts), so neither side gets only a warm cache"
start=$(now)
k apply -f "$tmp/sf.yaml" >/dev/null
k -n "$sfns" wait --for=condition=Available sf --all --timeout=300s >/dev/null || fail "Storefronts not Available (second round)"
sf2_secs=$(secs "$start" "$(now)")
say "$count Storefronts Available in ${sf2_secs}s"

say "3. $promotions promotions of shop01 ($replicas API replicas) under $rate req/s"
for i in $(seq -f %02g 2 "$count"); do echo "sf/shop$i"; done | xargs -r "$kubectl" --kubeconfig "$KUBECONFIG" -n "$sfns" delete --wait=true --timeout=180s >/dev/null
# Two API replicas, as a shop would run: with one, the preview is Available the moment
# its only pod is ready, and the checks (run at once) find no endpoint yet.
k -n "$sfns" patch sf shop01 --type merge -p "{\"spec\":{\"api\":{\"replicas\":$replicas}}}" >/dev/null
k -n "$sfns" wait deploy/shop01-api-blue --for=jsonpath='{.status.readyReplicas}'="$replicas" --timeout=120s >/dev/null || fail "shop01 not scaled to $replicas"
svc_ip=$(k -n "$sfns" get svc shop01 -o jsonpath='{.spec.clusterIP}')
svc_port=$(k -n "$sfns" get svc shop01 -o jsonpath='{.spec.ports[0].port}')
# The status as the API server sends it, each change stamped when it arrives.
{
	"$kubectl" --kubeconfig "$KUBECONFIG" -n "$sfns" get sf shop01 -w -o json 8>&- &
	echo $! >"$tmp/watch.pid"
	wait
} | jq --unbuffered -r '
	# every check of the current preview passed (results older than the preview do not count)
	def passed: .status.previewStarted as $ps | .status.previewVersion == .spec.version and $ps != null and
		([.status.checks[]? | select(.passed and .time != null and .time >= $ps)] | length) as $n |
		(.spec.rollout.prePromotionChecks | length) as $want | $want > 0 and $n == $want;
	[.spec.version, (.status.activeVersion // "-"), (.status.phase // "-"), passed] | @tsv' |
	while IFS=$'\t' read -r v a p passed; do echo "$(now) $v $a $p $passed"; done >"$tmp/watch.log" 8>&- &
# The active Service's selector: when traffic really switches colours.
{
	"$kubectl" --kubeconfig "$KUBECONFIG" -n "$sfns" get svc shop01 -w -o jsonpath='{.spec.selector.kommerce\.io/color}{"\n"}' 8>&- &
	echo $! >"$tmp/svc-watch.pid"
	wait
} | while read -r color; do echo "$(now) $color"; done >"$tmp/svc.log" 8>&- &
sleep 1 # both watches have listed the current state
watch_pid=$(cat "$tmp/watch.pid") svc_watch_pid=$(cat "$tmp/svc-watch.pid")
rm -f "$tmp/stop"
shopper_logins "$tenant" "http://$svc_ip:$svc_port"
"$tmp/loadgen" -url "http://$svc_ip:$svc_port/api/v1/products?limit=5" -rate "$rate" -H "X-Kommerce-Tenant: $tenant" "${rotate_args[@]}" \
	-stop-file "$tmp/stop" >"$tmp/load.json" 2>"$tmp/load.err" &
load_pid=$!
rows=()
aborted=0
for i in $(seq 1 "$promotions"); do
	version=bench-p$i
	# A quiet start: no pod of an earlier rollout still draining.
	quiet "$sfns"
	begin=$(now)
	k -n "$sfns" patch sf shop01 --type merge -p "{\"spec\":{\"version\":\"$version\"}}" >/dev/null
	outcome=
	for _ in $(seq 1 180); do
		st=$(k -n "$sfns" get sf shop01 -o jsonpath='{.status.activeVersion} {.status.phase} {.status.conditions[?(@.type=="Promoted")].status}')
		[[ $st == "$version Ready True" ]] && { outcome=promoted; break; }
		[[ $st == *" Aborted "* ]] && { outcome=aborted; break; }
		sleep 0.5
	done
	[[ -n $outcome ]] || fail "promotion $i to $version: neither promoted nor aborted after 90 s ($st)"
	if [[ $outcome == aborted ]]; then
		aborted=$((aborted + 1))
		rows+=("promotion $i → $version: aborted: $(k -n "$sfns" get sf shop01 -o jsonpath='{.status.blockedBy}' | cut -c1-120)")
		say "${rows[-1]}"
		continue
	fi
	sleep 1 # the watch line of the switch arrives
	# checks passed: the first status of this rollout with every check passed while the
	# old version is still active; switched: the first with the new version active.
	passed=$(awk -v b="$begin" -v v="$version" '$1 >= b && $2 == v && $3 != v && $5 == "true" {print $1; exit}' "$tmp/watch.log")
	switched=$(awk -v b="$begin" -v v="$version" '$1 >= b && $3 == v {print $1; exit}' "$tmp/watch.log")
	whole=$(secs "$begin" "${switched:-$begin}")
	if [[ -n $passed && -n $switched ]]; then
		gap=$(secs "$passed" "$switched")
	else
		gap="n/a (checks and switch in one status write)"
	fi
	# The controller's own Events (events.k8s.io, microsecond times): ChecksPassed →
	# Promoted of this version, the last of each (a version seen before has a series).
	event_gap=$(k -n "$sfns" get events.v1.events.k8s.io -o json | jq -r --arg v "$version" '
		def at: (.series.lastObservedTime // .eventTime) |
			(sub("\\.[0-9]+Z$"; "Z") | fromdate) + ((capture("(?<f>\\.[0-9]+)Z$").f // ".0") | tonumber);
		[.items[] | select(.regarding.name == "shop01")] as $e |
		([$e[] | select(.reason == "ChecksPassed" and (.note | endswith("against " + $v))) | at] | max) as $c |
		([$e[] | select(.reason == "Promoted" and (.note | startswith("version " + $v + " "))) | at] | max) as $p |
		if $c == null or $p == null then "n/a" else ($p - $c) * 1000 | round | tostring + " ms" end' 2>/dev/null || echo "?")
	# The Service's selector reached the new colour (as the watch delivered it).
	color=$(k -n "$sfns" get sf shop01 -o jsonpath='{.status.activeColor}' | tr A-Z a-z)
	svc_at=$(awk -v b="$begin" -v c="$color" '$1 >= b && $2 == c {print $1; exit}' "$tmp/svc.log")
	checks_at=$(k -n "$sfns" get events.v1.events.k8s.io -o json | jq -r --arg v "$version" '
		[.items[] | select(.regarding.name == "shop01" and .reason == "ChecksPassed" and (.note | endswith("against " + $v)))
		 | .eventTime][0] // empty' | xargs -r -I{} date -d {} +%s.%N)
	svc_gap=n/a
	[[ -n $svc_at && -n $checks_at ]] && svc_gap="$(secs "$checks_at" "$svc_at") s"
	rows+=("$(printf 'promotion %d → %s: rollout %ss; checks passed → switched: %s s (status as watched), %s (ChecksPassed → Promoted Events), Service selector seen switched %s after the ChecksPassed Event' "$i" "$version" "$whole" "$gap" "$event_gap" "$svc_gap")")
	say "${rows[-1]}"
done
touch "$tmp/stop"
wait "$load_pid" || true
load_pid=
kill "$watch_pid" "$svc_watch_pid" 2>/dev/null || true
watch_pid= svc_watch_pid=
load=$(tail -1 "$tmp/load.json")
sent=$(jq -r .sent <<<"$load") failed=$(jq -r .failed <<<"$load")
say "requests during the promotions: $sent sent, $failed failed"
((failed == 0)) || { cat "$tmp/load.err" >&2; fail "$failed requests lost during promotion"; }

ratio=$(awk -v a="$sf_secs" -v b="$sf2_secs" -v c="$hand_secs" 'BEGIN {printf "%.2f", (a + b) / 2 / c}')
echo
echo "## Storefront controller ($(date -u +%Y-%m-%d), $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg))"
echo
echo "| What | Figure |"
echo "|---|---|"
echo "| $count Storefronts apply → Available (api.replicas 1, ingest 0), round 1 / round 2 | ${sf_secs} s / ${sf2_secs} s |"
echo "| the same objects by hand ($kinds) → Deployments Available | ${hand_secs} s |"
echo "| ratio controller / by hand (mean of both rounds) | ${ratio} |"
for r in "${rows[@]}"; do echo "| ${r%%:*} | ${r#*: } |"; done
echo "| requests during $promotions rollouts of a storefront with $replicas API replicas at $rate req/s ($aborted aborted by a check) | $sent sent, $failed failed |"
tab=$'\t'
met() { if (($1)); then echo met; else echo "not met"; fi; }
echo "BENCHSUMMARY${tab}$count Storefronts apply → Available vs the same objects applied by hand (real cluster)${tab}<= 1x (the controller adds no time)${tab}${ratio}x (${sf_secs} s and ${sf2_secs} s vs ${hand_secs} s)${tab}$(met "$(awk -v r="$ratio" 'BEGIN {print (r <= 1)}')")"
echo "BENCHSUMMARY${tab}requests lost during $promotions promotions at $rate req/s ($replicas API replicas)${tab}0${tab}$failed of $sent ($aborted of $promotions rollouts aborted by a check)${tab}$(met "$((failed == 0))")"

#!/usr/bin/env bash
# models.sh proves the ModelVersion controller and its judge on the real cluster of
# hack/cluster.sh, the way a data scientist uses them, with simulated shoppers
# (hack/shoppers) whose clicks and guest checkouts follow tastes planted in a real
# catalog:
#
#   make image → cluster up (or reuse) → host services → fresh database migrated by a Job
#   → helm install (the operator's own image runs the inference pods) → Tenant +
#   Storefront bound to the model recs-mf → a catalog of 60 products in 6 taste clusters
#   created through the active Service → two models trained over its real product ids
#   (recs-mf-v1 learnt tastes dealt at random: worse; recs-mf-v2 learnt the shop's
#   tastes: better) → an artifact store pods reach (python3 -m http.server on the
#   bridge address, a Service without selector + EndpointSlice) →
#   v1 Direct: serves every answer · v2 A/B test against v1 (ClickThroughRate, small
#   minSamples, autoPromote) while shoppers shop: promoted by the operator with its
#   measured lift in status; the report page of the operator's :8085 saved · a candidate
#   with a wrong sha256 and one with a corrupt file: Failed with the reason, never in
#   the split · a candidate worse than v2 (its worst items) in an A/B test with a
#   business-drop guardrail: rolled back · a shadow candidate: no answer changes.
#
# Each step is one line with the elapsed seconds; the A/B tests' timelines (phase,
# split, verdict, lift as kubectl shows them) are printed as they change. A cluster that
# is already up is used and left up; one this script started is taken down. Needs root
# (the cluster does). Artefacts (report page, timelines) go to $KOMMERCE_TEST_OUT/models.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
name=mv-e2e
# shellcheck source=hack/e2e/lib/cluster.sh
source hack/e2e/lib/cluster.sh

# services_up of the library waits while any `services.sh up` process exists; the
# shell that services.sh leaves supervising a daemon (seen with seaweedfs) keeps that
# name for the daemon's life, so the wait would last its whole 15 minutes. Services
# that already run need no `up`: only then is the library's version skipped.
eval "lib_$(declare -f services_up)"
services_up() {
	local st
	st=$(hack/services.sh status postgres redis kafka elasticsearch 2>/dev/null || true)
	if [[ $(grep -c ' running ' <<<"$st") == 4 ]]; then
		eval "$(hack/services.sh env postgres redis kafka elasticsearch)"
		admin_url=$KOMMERCE_TEST_DATABASE_URL
		return
	fi
	lib_services_up
}

# operator_install of the library with the tag as a string: a commit hash of digits
# only (1580650) would reach the chart as a number and fail its schema.
operator_install() {
	h upgrade --install "$release" charts/kommerce -n "$opns" \
		--set "image.repository=$repo" --set-string "image.tag=$tag" --set image.pullPolicy=Never \
		--set database.existingSecret=kommerce-database \
		--set leaderElection.leaseDuration=8s --set leaderElection.renewDeadline=6s --set leaderElection.retryPeriod=1s \
		"$@" >"$tmp/install.log" 2>&1 || { cat "$tmp/install.log" >&2; fail "helm install"; }
	k -n "$opns" rollout status deploy/$opdeploy --timeout=180s >/dev/null || fail "operator rollout"
}

tenant=mve2e$(printf '%04x' $((RANDOM % 65536)))$$
ns=$tenant-shop
sf=web
model=recs-mf
db=kommerce_e2e_mv_$$
art_port=$((38000 + $$ % 1000))
# The planted taste: a shopper clicks a recommended item of its taste with probability
# p_in, any other with p_out, and buys what it clicked with p_buy (a rerun may plant
# another lift).
p_in=${KOMMERCE_E2E_CLICK_IN:-0.3}
p_out=${KOMMERCE_E2E_CLICK_OUT:-0.03}
p_buy=${KOMMERCE_E2E_BUY:-0.5}
out=${KOMMERCE_TEST_OUT:-$tmp}/models
mkdir -p "$out"
timeline=$out/timeline.txt
: >"$timeline"

diagnose() {
	say "model versions:"
	k -n "$ns" get mv -o wide >&2 2>/dev/null || true
	k -n "$ns" get mv -o yaml 2>/dev/null | grep -v '^\s*f:' | tail -150 >&2 || true
	say "storefront:"
	k -n "$ns" get sf "$sf" -o jsonpath='{.status}' >&2 2>/dev/null || true
	echo >&2
	say "pods:"
	k get pods -A -o wide >&2 || true
	say "events in $ns:"
	k -n "$ns" get events --sort-by=.lastTimestamp 2>/dev/null | tail -40 >&2 || true
	local p
	for p in $(k -n "$opns" get pods -l app.kubernetes.io/instance=$release -o name 2>/dev/null); do
		say "last log lines of $p:"
		k -n "$opns" logs "$p" --tail=40 >&2 || true
	done
	for p in $(k -n "$ns" get pods -o name 2>/dev/null); do
		say "describe and last log lines of $p:"
		k -n "$ns" describe "$p" 2>/dev/null | sed -n '/^Containers:/,/^Conditions:/p' | grep -E 'State|Reason|Message|Exit|Ready|Restart' >&2 || true
		k -n "$ns" logs "$p" --tail=20 --all-containers >&2 || true
	done
}

cleanup_more() {
	[[ -n ${shop_pid:-} ]] && kill "$shop_pid" 2>/dev/null
	[[ -n ${art_pid:-} ]] && kill "$art_pid" 2>/dev/null
	if [[ -n ${KUBECONFIG:-} && -z $own_cluster ]]; then
		# Someone else's cluster: leave it as it was.
		k -n "$ns" delete mv --all --wait=false >/dev/null 2>&1
		k -n "$ns" delete sf --all --wait=false >/dev/null 2>&1
		k delete tenant "$tenant" --wait=false >/dev/null 2>&1
		h uninstall "$release" -n "$opns" >/dev/null 2>&1
		k delete ns "$opns" "$ns" --wait=false >/dev/null 2>&1
	fi
	drop_tenant_data "$tenant"
}

# ---------------------------------------------------------------- helpers

mvj() { k -n "$ns" get mv "$1" -o jsonpath="$2"; }
phase() { mvj "$1" '{.status.phase}'; }
# split_of <mv>: the split the version records, e.g. "recs-mf-v1=50 recs-mf-v2=50".
split_of() { mvj "$1" '{range .status.trafficSplit[*]}{.modelVersion}={.percent}{.mirrored} {end}'; }
# status_line <mv>: what kubectl shows of it, in one line.
status_line() {
	printf 'phase=%s verdict=%s split=[%s] lift=%s samples=%s blockedBy=%s' "$(phase "$1")" "$(mvj "$1" '{.status.verdict}')" \
		"$(split_of "$1")" "$(mvj "$1" '{.status.metrics[0].liftPercent}')" "$(mvj "$1" '{.status.metrics[0].samples}')" \
		"$(mvj "$1" '{.status.blockedBy}')"
}
phase_is() { local p; p=$(phase "$1"); echo "$1: $(status_line "$1")"; [[ $p == "$2" ]]; }
# mark <text>: a timeline line with the elapsed seconds.
mark() { echo "[$((SECONDS - t0))s] $*" | tee -a "$timeline" >&2; }

# publish <version> <shoppers train flags...>: train, copy the ONNX file into the
# artifact store; sets art (the artifact JSON) and sha.
publish() {
	local v=$1
	shift
	"$tmp/shoppers" train -catalog "$tmp/catalog.json" -out "$tmp/train-$v" -name $model -version "$v" -namespace "$ns" \
		-artifact-base "http://artifacts.$ns.svc.cluster.local:8000" "$@" >"$tmp/train-$v.json" || fail "train $model $v"
	cp "$(jq -r .onnx "$tmp/train-$v.json")" "$tmp/store/"
	art=$(jq -c .artifact "$tmp/train-$v.json")
	sha=$(jq -r .sha256 "$tmp/train-$v.json")
	say "trained $model-$v ($*): offline $(jq -c '.metrics.model | {hr_at_10, ndcg_at_10}' "$tmp/train-$v.json"), sha256 ${sha:0:12}…"
}

# modelversion <name> <artifact JSON> <rollout JSON>: the manifest a data scientist applies.
modelversion() {
	cat <<EOF
apiVersion: kommerce.io/v1alpha1
kind: ModelVersion
metadata: {name: $1, namespace: $ns}
spec:
  model: $model
  purpose: Recommendations
  replicas: 1
  resources: {cpu: 50m, memory: 96Mi}
  artifact: $2
  rollout: $3
EOF
}

# answers_from <versions...>: recommendations through the active Service come from
# each of the versions (by the answer's version) and from no other.
answers_from() {
	"$tmp/shoppers" probe -url "$base" -tenant "$tenant" -catalog "$tmp/catalog.json" -n 24 -rate 12 \
		-session-prefix "probe$((SECONDS))" >"$tmp/probe.jsonl" || return 1
	local got want
	got=$(jq -r 'if .source == "model" then .version else .source end' "$tmp/probe.jsonl" | sort -u | tr '\n' ' ')
	want=$(printf '%s\n' "$@" | sort -u | tr '\n' ' ')
	echo "answered by: $got(want $want)"
	[[ $got == "$want" ]]
}

# shop_until <mv> <phase> <seconds> <label>: shoppers shop (batches of sessions at
# 16 requests a second) until the version reaches the phase; the timeline records each
# change of what kubectl shows.
shop_until() {
	local mv=$1 want=$2 limit=$3 label=$4 start=$SECONDS batch=0 last="" now
	while :; do
		if [[ -z ${shop_pid:-} ]]; then
			batch=$((batch + 1))
			"$tmp/shoppers" shop -url "$base" -tenant "$tenant" -catalog "$tmp/catalog.json" -sessions 400 -rate 16 \
				-p-in "$p_in" -p-out "$p_out" -p-buy "$p_buy" -staff-token "$token" -seed "$batch" -session-prefix "$label-$batch" >"$tmp/shop-$label-$batch.json" 2>"$tmp/shop.err" &
			shop_pid=$!
		fi
		if ! kill -0 "$shop_pid" 2>/dev/null; then
			wait "$shop_pid" || { cat "$tmp/shop.err" >&2; fail "$label: shoppers batch $batch"; }
			shop_pid=
			mark "$label: shoppers batch $batch done: $(jq -c '{failed, seconds: (.seconds|floor), by_version: (.by_version | map_values({sessions, clicks, ctr: (.ctr*1000|floor/1000), in_taste_items, items, orders, revenue, checkout_errors})), first_checkout_error}' "$tmp/shop-$label-$batch.json")"
			(($(jq .failed "$tmp/shop-$label-$batch.json") == 0)) || fail "$label: $(jq -r .first_error "$tmp/shop-$label-$batch.json")"
			continue
		fi
		now=$(status_line "$mv")
		if [[ $now != "$last" ]]; then
			mark "$label: $mv $now"
			last=$now
		fi
		[[ $(phase "$mv") == "$want" ]] && break
		if ((SECONDS - start >= limit)); then
			fail "$label: $mv not $want after ${limit}s of shopping"
		fi
		sleep 2
	done
	if [[ -n ${shop_pid:-} ]]; then
		kill "$shop_pid" 2>/dev/null
		wait "$shop_pid" 2>/dev/null || true
		shop_pid=
	fi
	say "$label: $mv $want after $((SECONDS - start))s of shopping, $batch batch(es)"
}

# ---------------------------------------------------------------- set-up

cluster_lock
say "tools, shoppers, kommerce (host), make image"
make -s helm crane >/dev/null
go build -o "$tmp/shoppers" ./hack/shoppers
go build -o "$tmp/kommerce" ./cmd/kommerce
image_build
say "image $ref"

say "host services"
services_up
cluster_up
load_tags bin/kommerce-image.tar "$ref"
say "loaded $ref"

say "fresh database $db; data-plane Secret $opns/kommerce-data-plane"
data_plane "$db"
say "migrate up (Job) done"

say "helm install (the inference pods run $ref)"
# helm installs a chart's CRDs only when they are missing, never updates them: a
# cluster that had an older chart keeps the older ModelVersion schema.
k apply --server-side --force-conflicts -f charts/kommerce/crds/kommerce.io_modelversions.yaml >/dev/null ||
	fail "apply the ModelVersion CRD"
operator_install --set dataPlane.existingSecret=kommerce-data-plane
inference_image=$(k -n "$opns" get deploy $opdeploy -o jsonpath='{.spec.template.spec.containers[0].env[?(@.name=="KOMMERCE_INFERENCE_IMAGE")].value}')
[[ $inference_image == "$ref" ]] || fail "the operator's KOMMERCE_INFERENCE_IMAGE is '$inference_image', not $ref"

say "Tenant $tenant (namespace $ns)"
k apply -f - >/dev/null <<EOF
apiVersion: kommerce.io/v1alpha1
kind: Tenant
metadata: {name: $tenant}
spec:
  owners: [{kind: User, name: ds@$tenant.example}]
  namespaces: [$ns]
EOF
k wait --for=condition=Ready "tenant/$tenant" --timeout=120s >/dev/null || fail "Tenant $tenant not Ready"

say "artifact store: python3 -m http.server on 10.244.0.1:$art_port, Service artifacts.$ns:8000"
mkdir -p "$tmp/store"
python3 -m http.server "$art_port" --bind 10.244.0.1 --directory "$tmp/store" >"$tmp/artifacts.log" 2>&1 &
art_pid=$!
k apply -f - >/dev/null <<EOF
apiVersion: v1
kind: Service
metadata: {name: artifacts, namespace: $ns}
spec:
  ports:
  - {name: http, port: 8000, targetPort: $art_port, protocol: TCP}
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: artifacts-host
  namespace: $ns
  labels:
    kubernetes.io/service-name: artifacts
    endpointslice.kubernetes.io/managed-by: models.sh.kommerce.dev
addressType: IPv4
ports:
- {name: http, port: $art_port, protocol: TCP}
endpoints:
- addresses: [10.244.0.1]
  conditions: {ready: true}
EOF
echo ok >"$tmp/store/ping"
until_ok 10 "artifact store answers on the bridge address" curl -fsS --max-time 2 "http://10.244.0.1:$art_port/ping"

say "Storefront $ns/$sf version $tag, models: [{purpose: Recommendations, model: $model}]"
k apply -f - >/dev/null <<EOF
apiVersion: kommerce.io/v1alpha1
kind: Storefront
metadata: {name: $sf, namespace: $ns}
spec:
  tenantRef: {name: $tenant}
  version: "$tag"
  channels:
    - {name: web, currency: EUR, locales: [en], hostname: $tenant.shop.example}
  api:
    replicas: 1
    resources: {cpu: 50m, memory: 128Mi}
  ingest:
    replicas: 1
    resources: {cpu: 50m, memory: 128Mi}
  rollout:
    promotion: Auto
    progressDeadline: 60s
  models:
    - {purpose: Recommendations, model: $model}
EOF
k -n "$ns" wait --for=condition=Available "sf/$sf" --timeout=180s >/dev/null || fail "Storefront not Available"
ip=$(k -n "$ns" get svc "$sf" -o jsonpath='{.spec.clusterIP}')
port=$(k -n "$ns" get svc "$sf" -o jsonpath='{.spec.ports[0].port}')
base=http://$ip:$port
hdr=(-H "X-Kommerce-Tenant: $tenant")
until_ok 30 "the active Service $base answers from the host" curl -fsS --max-time 3 "${hdr[@]}" "$base/api/v1/products?limit=1"

say "a staff user; 60 products in 6 taste clusters, stocked, through the active Service"
echo 'e2e-staff-password-1' | KOMMERCE_DATABASE_URL=$db_url "$tmp/kommerce" admin create-user --tenant "$tenant" \
	--email "staff@$tenant.example" --role admin --password-stdin --log-level warn >/dev/null || fail "create-user"
token=$(curl -fsS "${hdr[@]}" -H 'Content-Type: application/json' \
	-d "{\"email\":\"staff@$tenant.example\",\"password\":\"e2e-staff-password-1\"}" "$base/api/v1/auth/login" | jq -r .access_token) ||
	fail "login through the active Service"
"$tmp/shoppers" seed -url "$base" -tenant "$tenant" -token "$token" -products 60 -clusters 6 -out "$tmp/catalog.json" >&2 ||
	fail "seed the catalog"
cp "$tmp/catalog.json" "$out/"

say "two models over the catalog's real product ids"
publish v1 -shuffle -seed 11
art_v1=$art sha_v1=$sha
publish v2 -seed 12
art_v2=$art
publish v4 -shuffle -seed 13
art_v4=$art
publish v5 -seed 15
art_v5=$art

# ---------------------------------------------------------------- v1: Direct

say "ModelVersion $model-v1 (Direct)"
modelversion $model-v1 "$art_v1" '{strategy: Direct}' | k apply -f - >/dev/null || fail "apply a ModelVersion"
until_ok 120 "$model-v1 Promoted and serving" phase_is $model-v1 Promoted
mark "v1: $(status_line $model-v1)"
until_ok 150 "every answer comes from $model-v1 (the settings reached the API: the kubelet refreshes a ConfigMap volume within about a minute)" answers_from $model-v1
mark "v1 gets all the traffic"

# ---------------------------------------------------------------- v2: A/B test

say "ModelVersion $model-v2 (ABTest against v1, 50/50, ClickThroughRate, minSamples 150, autoPromote)"
abtest() { # abtest <baseline> <guardrail JSON>
	echo "{strategy: ABTest, abTest: {baseline: $1, candidateWeight: 50, baselineWeight: 50, maxDuration: 1h}," \
		"successCriteria: {confidencePercent: 95, minSamples: 150, business: [{metric: ClickThroughRate, minLiftPercent: 0}]}," \
		"autoPromote: true, rollbackOn: $2}"
}
modelversion $model-v2 "$art_v2" "$(abtest $model-v1 '{}')" | k apply -f - >/dev/null || fail "apply a ModelVersion"
until_ok 120 "$model-v2 Progressing with 50 % of the shoppers" \
	bash -c "[[ \$(\"$kubectl\" --kubeconfig \"$KUBECONFIG\" -n $ns get mv $model-v2 -o jsonpath='{.status.phase} {.status.candidateWeight}') == 'Progressing 50' ]]"
mark "v2: $(status_line $model-v2)"
until_ok 150 "answers come from both $model-v1 and $model-v2" answers_from $model-v1 $model-v2
mark "v2 gets traffic (experiment $(mvj $model-v2 '{.status.experiment}'))"
shop_until $model-v2 Promoted 300 abtest
mark "v2 promoted: $(status_line $model-v2)"
k -n "$ns" get mv -o wide | tee -a "$timeline" >&2
mvj $model-v2 '{.status.metrics}' | jq . | tee "$out/v2-metrics.json" >&2
k -n "$ns" get events --field-selector involvedObject.name=$model-v2 --sort-by=.lastTimestamp 2>/dev/null | tail -8 | tee -a "$timeline" >&2
lift=$(mvj $model-v2 '{.status.metrics[?(@.name=="ClickThroughRate")].liftPercent}')
[[ -n $lift && $(mvj $model-v2 '{.status.verdict}') == Better ]] || fail "v2 promoted without a Better verdict and a lift: $(status_line $model-v2)"
until_ok 150 "every answer comes from $model-v2" answers_from $model-v2

say "the experiment report of the operator's :8085"
op_ip=$(k -n "$opns" get pods -l app.kubernetes.io/instance=$release -o jsonpath='{.items[0].status.podIP}')
until_ok 20 "GET http://$op_ip:8085/experiments/$ns/$model-v2" \
	curl -fsS --max-time 5 -o "$out/report-$model-v2.html" "http://$op_ip:8085/experiments/$ns/$model-v2"
for arm in $model-v1 $model-v2; do
	grep -q "data-arm=\"$arm\"" "$out/report-$model-v2.html" || fail "the report of the finished A/B test has no row of arm $arm"
done
say "report saved: $out/report-$model-v2.html ($(wc -c <"$out/report-$model-v2.html") bytes)"

# ---------------------------------------------------------------- broken candidates

say "broken candidates: v3a with a wrong sha256, v3b with a corrupt file"
bad_sha=$(printf '%s' "$sha_v1" | tr '0-9a-f' '1-9a-f0')
modelversion $model-v3a "$(jq -c --arg s "$bad_sha" '.sha256 = $s' <<<"$art_v1")" "$(abtest $model-v2 '{}')" | k apply -f - >/dev/null || fail "apply a ModelVersion"
head -c 4096 /dev/urandom >"$tmp/store/corrupt.onnx"
corrupt=$(jq -c --arg s "$(sha256sum "$tmp/store/corrupt.onnx" | cut -d' ' -f1)" --arg u "http://artifacts.$ns.svc.cluster.local:8000/corrupt.onnx" \
	'.sha256 = $s | .uri = $u' <<<"$art_v1")
modelversion $model-v3b "$corrupt" "$(abtest $model-v2 '{}')" | k apply -f - >/dev/null || fail "apply a ModelVersion"
never_in_split() { # the broken versions have no share of anyone's split
	local v s
	for v in $model-v2 $model-v3a $model-v3b; do
		s=$(split_of $v)
		echo "$v: [$s]"
		[[ $s != *"$model-v3"* ]] || { echo "a broken version is in $v's split"; return 2; }
	done
}
failed_both() {
	never_in_split || fail "a broken candidate got a share of the traffic"
	phase_is $model-v3a Failed && phase_is $model-v3b Failed
}
until_ok 120 "$model-v3a and $model-v3b Failed" failed_both
mark "v3a: $(status_line $model-v3a)"
mark "v3b: $(status_line $model-v3b)"
mvj $model-v3a '{.status.blockedBy}' | grep -qi sha256 || fail "v3a's reason does not name the checksum"
answers_from $model-v2 >&2 || fail "a broken candidate changed the answers"

# ---------------------------------------------------------------- worst items: guardrail

say "ModelVersion $model-v4 (worse than v2: ABTest against v2, rollbackOn.businessDropPercent 10)"
modelversion $model-v4 "$art_v4" "$(abtest $model-v2 '{businessDropPercent: 10}')" | k apply -f - >/dev/null || fail "apply a ModelVersion"
until_ok 120 "$model-v4 Progressing" phase_is $model-v4 Progressing
mark "v4: $(status_line $model-v4)"
shop_until $model-v4 RolledBack 300 guardrail
mark "v4 rolled back: $(status_line $model-v4)"
until_ok 150 "every answer comes from $model-v2 again" answers_from $model-v2

# ---------------------------------------------------------------- shadow

say "ModelVersion $model-v5 (Shadow, mirrors 100 %): no answer changes"
"$tmp/shoppers" probe -url "$base" -tenant "$tenant" -catalog "$tmp/catalog.json" -n 30 -rate 12 -session-prefix shadow >"$out/shadow-before.jsonl" ||
	fail "probe before the shadow"
api_deploy=$sf-api-$(k -n "$ns" get sf "$sf" -o jsonpath='{.status.activeColor}' | tr '[:upper:]' '[:lower:]')
reloads() { k -n "$ns" logs "deploy/$api_deploy" 2>/dev/null | grep -c 'storefront settings reloaded' || true; }
reloads_before=$(reloads)
modelversion $model-v5 "$art_v5" '{strategy: Shadow, shadow: {mirrorPercent: 100, duration: 30m}}' | k apply -f - >/dev/null || fail "apply a ModelVersion"
until_ok 120 "$model-v5 Shadowing and serving" \
	bash -c "[[ \$(\"$kubectl\" --kubeconfig \"$KUBECONFIG\" -n $ns get mv $model-v5 -o jsonpath='{.status.phase} {.status.readyReplicas}') == 'Shadowing 1' ]]"
mark "v5: $(status_line $model-v5)"
mirrored() { split_of $model-v2 | tee /dev/stderr | grep -q "$model-v5=[0-9]*true"; }
until_ok 60 "the split mirrors to $model-v5" mirrored
reloaded() { local n; n=$(reloads); echo "$n settings reloads of $api_deploy, $reloads_before before the shadow"; ((n > reloads_before)); }
until_ok 150 "the API reloaded its settings with the shadow arm" reloaded
"$tmp/shoppers" probe -url "$base" -tenant "$tenant" -catalog "$tmp/catalog.json" -n 30 -rate 12 -session-prefix shadow >"$out/shadow-after.jsonl" ||
	fail "probe during the shadow"
if ! diff <(jq -c . "$out/shadow-before.jsonl") <(jq -c . "$out/shadow-after.jsonl") >&2; then
	fail "the shadow candidate changed answers"
fi
mark "shadow: 30 answers identical before and during the shadow of $model-v5"

say "--- kubectl get mv -o wide"
k -n "$ns" get mv -o wide | tee -a "$timeline" >&2
say "--- timeline"
cat "$timeline" >&2
say "PASS"

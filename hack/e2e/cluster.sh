#!/usr/bin/env bash
# cluster.sh installs the operator the way a platform team does, on a real cluster
# (hack/cluster.sh: kubelet, containerd, kube-proxy, CoreDNS, kube-router's policy
# controller), and checks what a user would see:
#
#   make image → cluster up → load the image → helm template | kubectl apply --dry-run=server →
#   a bad chart value refused → helm install → operator pods Ready → kubectl apply -f
#   config/samples/ (the Tenant and Storefront) and a second tenant → kubectl wait --for=condition=Ready → namespaces,
#   quota, limits, policy and RBAC exist → NetworkPolicy enforced between tenants →
#   leader pod deleted: the other replica takes over and repairs a deleted quota →
#   helm upgrade rolls the operator → helm rollback → database away: the Tenant says so,
#   a pod started meanwhile runs unready without restarts → tenants deleted → helm uninstall
#   (CRDs stay, nothing of the release is left) → cluster down.
#
# A cluster that is already up (someone else's) is used and left up; one this script
# started is taken down. Every wait is bounded and prints what it saw when it gives up.
# Needs root (the cluster does). KOMMERCE_CLUSTER_SH names another cluster script.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."

t0=$SECONDS
say() { echo "cluster-e2e: [$((SECONDS - t0))s] $*" >&2; }
cluster=${KOMMERCE_CLUSTER_SH:-hack/cluster.sh}
[[ -x $cluster ]] || { say "FAIL: $cluster is missing"; exit 1; }
[[ $(id -u) == 0 ]] || { say "FAIL: the cluster needs root"; exit 1; }

release=kommerce
ns=kommerce-e2e
deploy=$release-operator
lease=kommerce-operator.kommerce.io
db=kommerce_e2e_cluster_$$
tmp=$(mktemp -d)

eval "$(hack/services.sh env postgres)"
admin_url=$KOMMERCE_TEST_DATABASE_URL
db_url=${admin_url/\/kommerce\?/\/$db?}
kubectl=$(hack/envtest.sh)/kubectl
make -s helm crane
helm=$PWD/bin/helm

k() { "$kubectl" --kubeconfig "$KUBECONFIG" "$@"; }
h() { "$helm" --kubeconfig "$KUBECONFIG" "$@"; }

diagnose() {
	[[ -n ${KUBECONFIG:-} ]] || return 0
	say "pods:"
	k get pods -A -o wide >&2 || true
	say "tenants:"
	k get tenants -o wide >&2 || true
	local p
	for p in $(k -n "$ns" get pods -l app.kubernetes.io/instance=$release -o name 2>/dev/null); do
		say "last log lines of $p:"
		k -n "$ns" logs "$p" --tail=30 >&2 || true
	done
}

fail() {
	say "FAIL: $*"
	diagnose
	exit 1
}

# until_ok <seconds> <what> <command...>: run the command until it succeeds; on timeout
# print its last output.
until_ok() {
	local limit=$1 what=$2 start=$SECONDS
	shift 2
	until "$@" >"$tmp/last" 2>&1; do
		if ((SECONDS - start >= limit)); then
			say "$what: not after ${limit}s; last output:"
			cat "$tmp/last" >&2
			fail "$what"
		fi
		sleep 1
	done
	say "$what ($((SECONDS - start))s)"
}

own_cluster=
cleanup() {
	local code=$?
	set +e
	if [[ -n ${KUBECONFIG:-} && -z $own_cluster ]]; then
		# Someone else's cluster: leave it as it was.
		k delete tenant acme globex --wait=false >/dev/null 2>&1
		h uninstall "$release" -n "$ns" >/dev/null 2>&1
		k delete ns "$ns" acme-shop acme-ml globex-shop --wait=false >/dev/null 2>&1
	fi
	if [[ -n $own_cluster ]]; then
		say "hack/cluster.sh down"
		"$cluster" down >"$tmp/down.log" 2>&1 || { cat "$tmp/down.log" >&2; code=1; }
	fi
	psql -q "$admin_url" -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null 2>&1
	psql -q "$admin_url" -c "DROP DATABASE IF EXISTS ${db}_away WITH (FORCE)" >/dev/null 2>&1
	rm -rf "$tmp"
	say "took $((SECONDS - t0))s, exit $code"
	exit $code
}
trap cleanup EXIT

# The image first: it needs no cluster, and the cluster is up for less time.
say "make image"
make -s image >"$tmp/image.log" 2>&1 || { cat "$tmp/image.log" >&2; fail "make image"; }
grep '^image: wrote' "$tmp/image.log" >&2 || true
ref=$(cat bin/kommerce-image.ref)
repo=${ref%:*} tag=${ref##*:}

if "$cluster" status >/dev/null 2>&1; then
	say "cluster already up: using it, leaving it up"
else
	pgrep -f "$(basename "$cluster") (up|down)" >/dev/null && fail "another $cluster up/down is running"
	say "hack/cluster.sh up"
	# A failed up cleans up after itself; only a cluster that came up is ours to take down.
	"$cluster" up >"$tmp/up.log" 2>&1 || { cat "$tmp/up.log" >&2; fail "hack/cluster.sh up"; }
	own_cluster=1
	grep -i 'ready' "$tmp/up.log" | tail -3 >&2 || true
fi
eval "$("$cluster" env)"
[[ -n ${KUBECONFIG:-} ]] || fail "hack/cluster.sh env printed no KUBECONFIG"
export KUBECONFIG

"$cluster" load bin/kommerce-image.tar "$ref" >&2 || fail "hack/cluster.sh load"

values=(--set "image.repository=$repo" --set "image.tag=$tag" --set image.pullPolicy=Never
	--set database.existingSecret=kommerce-database --set leaderElection.leaseDuration=8s
	--set leaderElection.renewDeadline=6s --set leaderElection.retryPeriod=1s)

say "helm lint; helm template | kubectl apply --dry-run=server"
h lint charts/kommerce "${values[@]}" >"$tmp/lint.log" 2>&1 || { cat "$tmp/lint.log" >&2; fail "helm lint"; }
k create namespace "$ns" --dry-run=client -o yaml | k apply -f - >/dev/null
h template "$release" charts/kommerce -n "$ns" --include-crds "${values[@]}" >"$tmp/rendered.yaml"
k apply --dry-run=server -f "$tmp/rendered.yaml" >"$tmp/dry-run.log" 2>&1 || { cat "$tmp/dry-run.log" >&2; fail "server-side dry run of the rendered chart"; }
say "the API server accepts all $(grep -c '^kind:' "$tmp/rendered.yaml") rendered objects"

say "bad values are refused by helm install"
refused() { # refused <what the message must name> <helm args...>
	local want=$1
	shift
	if h install bad charts/kommerce -n "$ns" "${values[@]}" "$@" >"$tmp/bad.log" 2>&1; then
		h uninstall bad -n "$ns" >/dev/null 2>&1 || true
		fail "helm install $* was accepted"
	fi
	grep -q "$want" "$tmp/bad.log" || { cat "$tmp/bad.log" >&2; fail "the refusal of $* does not name $want"; }
	say "refused $*: $(grep -m1 "$want" "$tmp/bad.log")"
}
refused replicas --set replicas=0
refused port --set-json 'metrics={"port":"eighty"}'
refused level --set log.level=loud
h status bad -n "$ns" >/dev/null 2>&1 && fail "a refused install left a release"

say "fresh database $db, its URL in Secret $ns/kommerce-database"
psql -q "$admin_url" -c "CREATE DATABASE $db" || fail "create database"
pod_url=$(sed -E "s#@[^/]+/[^?]+#@postgres.kommerce-system.svc.cluster.local:5432/$db#" <<<"$admin_url")
k -n "$ns" create secret generic kommerce-database --from-literal=url="$pod_url" --dry-run=client -o yaml | k apply -f - >/dev/null

say "migrate up as a Job from the image"
k -n "$ns" apply -f - >/dev/null <<EOF
apiVersion: batch/v1
kind: Job
metadata: {name: migrate}
spec:
  backoffLimit: 2
  template:
    spec:
      restartPolicy: Never
      securityContext: {runAsNonRoot: true, seccompProfile: {type: RuntimeDefault}}
      containers:
        - name: migrate
          image: $ref
          imagePullPolicy: Never
          args: [migrate, up]
          env:
            - name: KOMMERCE_DATABASE_URL
              valueFrom: {secretKeyRef: {name: kommerce-database, key: url}}
          securityContext: {allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: {drop: [ALL]}}
EOF
k -n "$ns" wait --for=condition=Complete job/migrate --timeout=120s >&2 ||
	{ k -n "$ns" logs job/migrate >&2; fail "migrate job"; }

say "helm install"
h install "$release" charts/kommerce -n "$ns" "${values[@]}" >"$tmp/install.log" 2>&1 || { cat "$tmp/install.log" >&2; fail "helm install"; }
k -n "$ns" rollout status deploy/$deploy --timeout=180s >&2 || fail "operator rollout"
ready=$(k -n "$ns" get deploy $deploy -o jsonpath='{.status.readyReplicas}')
[[ $ready == 2 ]] || fail "operator has $ready ready replicas, want 2"
k -n "$ns" get pods -l app.kubernetes.io/instance=$release -o wide >&2

# The sample ModelVersions are left out: their artifacts live on a made-up host, and
# their inference pods would crash-loop and take the node's CPU from the probe pods
# below (hack/e2e/models.sh proves ModelVersions with real artifacts).
say "kubectl apply -f config/samples/ (Tenant, Storefront) and a second tenant"
k apply -f config/samples/01-tenant.yaml -f config/samples/02-storefront.yaml >&2 || fail "apply samples"
k apply -f - >&2 <<'EOF'
apiVersion: kommerce.io/v1alpha1
kind: Tenant
metadata: {name: globex}
spec:
  owners: [{kind: User, name: hank@globex.example}]
  namespaces: [globex-shop]
EOF
k wait --for=condition=Ready tenant/acme tenant/globex --timeout=120s >&2 || fail "tenants not Ready"
k get tenants >&2

say "namespaces, quota, limits, policy and RBAC of each tenant"
for n in acme-shop acme-ml globex-shop; do
	k -n "$n" get resourcequota/kommerce-tenant limitrange/kommerce-tenant networkpolicy/kommerce-tenant-isolation \
		role/kommerce-tenant-admin rolebinding/kommerce-tenant-admins >/dev/null || fail "$n lacks a tenant object"
done
k get ns,quota,limitrange,networkpolicy,rolebinding -A -l kommerce.io/tenant=acme >&2
# The registry has row-level security: only the platform role sees every row.
got=$(psql -qAt "$db_url" -c "SELECT set_config('kommerce.platform','on',false)" -c "SELECT slug FROM tenants ORDER BY slug" 2>&1 | tail -n +2 | tr '\n' ' ')
[[ $got == "acme globex " ]] || fail "tenant rows in $db: $got, want acme globex"
say "database rows: $got"

say "NetworkPolicy: a pod reaches its own tenant, not another"
# probe_pod <ns> <name> <args...>: a long-running pod of the cluster's probe image. The
# clients are long-running too (checks run with kubectl exec): the policy controller
# learns a new pod's address a moment after it starts, so a one-shot client pod would
# race it; a client that is already known retries in place.
probe_pod() {
	local n=$1 name=$2
	shift 2
	local args
	args=$(printf '"%s",' "$@")
	k -n "$n" apply -f - >/dev/null <<EOF
apiVersion: v1
kind: Pod
metadata: {name: $name, labels: {app: $name}}
spec:
  securityContext: {runAsNonRoot: true, runAsUser: 65532, seccompProfile: {type: RuntimeDefault}}
  containers:
    - name: probe
      image: kommerce.local/probe:1
      imagePullPolicy: Never
      command: [/probe, ${args%,}]
      securityContext: {allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: {drop: [ALL]}}
EOF
}
probe_pod acme-shop server serve :8080
for n in acme-shop acme-ml globex-shop; do probe_pod "$n" client serve :8081; done
k -n acme-shop wait --for=condition=Ready pod/server pod/client --timeout=60s >&2 || fail "probe pods not Ready"
k -n acme-ml wait --for=condition=Ready pod/client --timeout=60s >&2 || fail "probe pod not Ready"
k -n globex-shop wait --for=condition=Ready pod/client --timeout=60s >&2 || fail "probe pod not Ready"
server=http://$(k -n acme-shop get pod server -o jsonpath='{.status.podIP}'):8080/
get() { k -n "$1" exec client -- /probe get "$server"; }
until_ok 30 "a pod in acme-shop reaches the server in acme-shop" get acme-shop
until_ok 30 "a pod in acme-ml (same tenant) reaches the server in acme-shop" get acme-ml
for i in 1 2 3; do
	get globex-shop >"$tmp/reach.log" 2>&1 && fail "a pod of tenant globex reached acme's server"
	sleep 1
done
say "a pod in globex-shop is refused by acme's policy, 3 of 3 times: $(head -1 "$tmp/reach.log")"
k -n acme-shop delete pod server client --wait=false >/dev/null
k -n acme-ml delete pod client --wait=false >/dev/null
k -n globex-shop delete pod client --wait=false >/dev/null

say "failover: delete the leader pod"
holder() { k -n "$ns" get lease $lease -o jsonpath='{.spec.holderIdentity}'; }
leader=$(holder)
leader=${leader%%_*}
[[ -n $leader ]] || fail "no leader in lease $ns/$lease"
say "leader is $leader"
k -n "$ns" delete pod "$leader" --wait=false >&2
new_leader() { local h; h=$(holder); h=${h%%_*}; echo "holder: ${h:-none}"; [[ -n $h && $h != "$leader" ]]; }
until_ok 60 "another replica holds the lease" new_leader
say "new leader: $(holder)"
k -n acme-shop delete resourcequota kommerce-tenant >&2
until_ok 60 "the new leader recreated the deleted ResourceQuota" k -n acme-shop get resourcequota kommerce-tenant
k -n "$ns" rollout status deploy/$deploy --timeout=120s >&2 || fail "replacement pod not Ready"

loglevel() { k -n "$ns" get deploy $deploy -o jsonpath='{.spec.template.spec.containers[0].env[?(@.name=="KOMMERCE_LOG_LEVEL")].value}'; }
generation() { k -n "$ns" get deploy $deploy -o jsonpath='{.metadata.generation}'; }
template_hash() { k -n "$ns" get rs -l app.kubernetes.io/instance=$release -o jsonpath='{range .items[?(@.status.readyReplicas==2)]}{.metadata.labels.pod-template-hash}{end}'; }
gen=$(generation) before=$(template_hash)
say "helm upgrade --set log.level=debug (Deployment generation $gen, pods of template $before)"
h upgrade "$release" charts/kommerce -n "$ns" --reuse-values --set log.level=debug >"$tmp/upgrade.log" 2>&1 || { cat "$tmp/upgrade.log" >&2; fail "helm upgrade"; }
k -n "$ns" rollout status deploy/$deploy --timeout=180s >&2 || fail "upgrade rollout"
[[ $(loglevel) == debug ]] || fail "log level after upgrade: $(loglevel)"
after=$(template_hash)
(($(generation) > gen)) && [[ -n $after && $after != "$before" ]] || fail "helm upgrade did not roll the pods (generation $(generation), template ${after:-none})"
say "rolled: generation $(generation), 2 ready pods of template $after"

say "helm rollback $release 1"
h rollback "$release" 1 -n "$ns" >"$tmp/rollback.log" 2>&1 || { cat "$tmp/rollback.log" >&2; fail "helm rollback"; }
k -n "$ns" rollout status deploy/$deploy --timeout=180s >&2 || fail "rollback rollout"
[[ $(loglevel) == info ]] || fail "log level after rollback: $(loglevel)"
h history "$release" -n "$ns" >&2
k -n acme-shop delete resourcequota kommerce-tenant >&2
until_ok 60 "after the rollback the operator still repairs drift" k -n acme-shop get resourcequota kommerce-tenant

say "without its database: the operator reports it on the Tenant and does not crash-loop"
# Renaming the database away makes every new connection fail, as an outage would.
rename_away() {
	psql -q "$admin_url" -c "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '$db'" >/dev/null &&
		psql -q "$admin_url" -c "ALTER DATABASE $db RENAME TO ${db}_away"
}
until_ok 30 "database $db renamed away" rename_away
k -n acme-shop delete resourcequota kommerce-tenant >/dev/null
db_condition() { k get tenant acme -o jsonpath='{range .status.conditions[?(@.type=="DatabaseReady")]}{.status} {.reason}: {.message}{end}'; }
db_down() { local c; c=$(db_condition); echo "DatabaseReady $c"; [[ $c == "False DatabaseError"* ]]; }
until_ok 90 "Tenant acme says DatabaseReady=False (DatabaseError)" db_down
say "$(db_condition | cut -c1-160)"
# A pod that starts while the database is away keeps running: it logs the outage, its
# readiness probe fails, and it is never restarted.
pods() { k -n "$ns" get pods -l app.kubernetes.io/instance=$release -o jsonpath='{range .items[*]}{.metadata.name}{"\n"}{end}'; }
old_pods=$(pods)
# Not a pod the rollback is still stopping (deleting that one brings no replacement).
victim=$(k -n "$ns" get pods -l app.kubernetes.io/instance=$release -o jsonpath='{range .items[*]}{.metadata.name} {.metadata.deletionTimestamp}{"\n"}{end}' | awk 'NF == 1 {print $1; exit}')
[[ -n $victim ]] || fail "no running operator pod to delete"
k -n "$ns" delete pod "$victim" --wait=false >/dev/null
new_pod() { grep -vxF -f <(echo "$old_pods") <(pods) | head -1; }
started_without_db() {
	local p out
	p=$(new_pod)
	[[ -n $p ]] || { echo "no replacement pod yet"; return 1; }
	out=$(k -n "$ns" get pod "$p" -o jsonpath='{.status.phase} ready={.status.containerStatuses[0].ready} restarts={.status.containerStatuses[0].restartCount}')
	echo "$p: $out"
	k -n "$ns" logs "$p" 2>/dev/null | grep -q 'PostgreSQL unreachable at start' || { echo "its log does not report the outage yet"; return 1; }
	k -n "$ns" get events --field-selector "involvedObject.name=$p,reason=Unhealthy" -o jsonpath='{.items[*].message}' | grep -q 'Readiness probe failed' || { echo "no failed readiness probe yet"; return 1; }
	[[ $out == "Running ready=false restarts=0" ]]
}
until_ok 90 "a pod started without the database logs it, runs unready (readiness probe failing), never restarted" started_without_db
psql -q "$admin_url" -c "ALTER DATABASE ${db}_away RENAME TO $db" || fail "rename the database back"
# A watch event reconciles at once; the failed reconciles' back-off may be long by now.
k -n acme-shop delete resourcequota kommerce-tenant >/dev/null
until_ok 120 "database back: Tenant acme Ready again" k wait --for=condition=Ready tenant/acme --timeout=5s
restarts=$(k -n "$ns" get pods -l app.kubernetes.io/instance=$release -o jsonpath='{.items[*].status.containerStatuses[0].restartCount}')
[[ $restarts =~ ^[0\ ]+$ ]] || fail "operator containers restarted: $restarts"
k -n "$ns" rollout status deploy/$deploy --timeout=120s >&2 || fail "operator pods not Ready after the database came back"

say "delete the tenants (the operator removes their rows), then helm uninstall"
k delete -f config/samples/02-storefront.yaml -f config/samples/01-tenant.yaml --ignore-not-found --wait=false >/dev/null
k delete tenant globex --wait=false >/dev/null
no_tenants() { local t; t=$(k get tenants -o name) || return 1; echo "tenants: ${t:-none}"; [[ -z $t ]]; }
until_ok 120 "tenants gone" no_tenants
got=$(psql -qAt "$db_url" -c "SELECT set_config('kommerce.platform','on',false)" -c "SELECT count(*) FROM tenants" 2>&1 | tail -n +2)
[[ $got == 0 ]] || fail "$got tenant rows left in $db after the tenants were deleted"
say "the operator removed the tenants' database rows"
h uninstall "$release" -n "$ns" --wait >&2 || fail "helm uninstall"
gone() {
	local left
	left=$(k get all,serviceaccounts,roles,rolebindings,clusterroles,clusterrolebindings,validatingadmissionpolicies,validatingadmissionpolicybindings -A -l app.kubernetes.io/instance=$release -o name)
	echo "left: ${left:-nothing}"
	[[ -z $left ]]
}
until_ok 120 "nothing of the release is left" gone
k get crd tenants.kommerce.io storefronts.kommerce.io modelversions.kommerce.io >/dev/null || fail "helm uninstall removed a CRD"
say "CRDs stay: $(k get crd -o name | grep -c kommerce.io) kommerce.io CRDs"
k delete ns "$ns" --wait=false >/dev/null
say "PASS"

#!/usr/bin/env bash
# operator.sh checks the operator end to end, the way a platform team uses it: a real
# kube-apiserver (envtest) and a fresh PostgreSQL database, `kubectl apply -k
# config/default` (CRDs, RBAC, Deployment), `kommerce operator` running against both,
# `kubectl apply -f config/samples/`, then `kubectl wait --for=condition=Ready` and
# `kubectl get ns,quota,limitrange,networkpolicy,rolebinding -l kommerce.io/tenant=acme`.
# It also checks the database row, the metrics, an invalid Tenant being refused and
# the finalizer removing the row. Every process it starts is stopped on exit.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."

say() { echo "operator-e2e: $*" >&2; }
fail() {
	say "FAIL: $*"
	if [[ -f ${tmp:-}/operator.log ]]; then
		say "operator log (last 40 lines):"
		tail -40 "$tmp/operator.log" >&2
	fi
	exit 1
}

eval "$(hack/services.sh env postgres envtest)"
assets=$(hack/envtest.sh)
kubectl="$assets/kubectl"
export KUBEBUILDER_ASSETS=$assets

tmp=$(mktemp -d)
db=kommerce_e2e_operator_$$
admin_url=$KOMMERCE_TEST_DATABASE_URL
db_url=${admin_url/\/kommerce\?/\/$db?}
freeport() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

cleanup() {
	local code=$?
	for pid in ${operator_pid:-} ${kubeenv_pid:-}; do
		kill "$pid" 2>/dev/null || true
		wait "$pid" 2>/dev/null || true
	done
	psql -q "$admin_url" -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null 2>&1 || true
	rm -rf "$tmp"
	exit $code
}
trap cleanup EXIT

say "building kommerce and kubeenv"
go build -o "$tmp/kommerce" ./cmd/kommerce
go build -o "$tmp/kubeenv" ./hack/kubeenv

say "fresh database $db"
psql -q "$admin_url" -c "CREATE DATABASE $db"
KOMMERCE_DATABASE_URL=$db_url KOMMERCE_LOG_FORMAT=text "$tmp/kommerce" migrate up >/dev/null 2>&1 || fail "migrate up"

say "starting kube-apiserver and etcd"
export KUBECONFIG=$tmp/kubeconfig
"$tmp/kubeenv" -out "$KUBECONFIG" 2>"$tmp/kubeenv.log" &
kubeenv_pid=$!
for _ in $(seq 1 600); do
	[[ -f $KUBECONFIG ]] && break
	kill -0 "$kubeenv_pid" 2>/dev/null || { cat "$tmp/kubeenv.log" >&2; fail "kubeenv died"; }
	sleep 0.1
done
[[ -f $KUBECONFIG ]] || fail "no kubeconfig after 60s"

say "installing with kustomize: kubectl apply -k config/default"
"$kubectl" apply -k config/default >"$tmp/install.txt" || fail "kubectl apply -k config/default"
"$kubectl" wait --for=condition=Established crd/tenants.kommerce.io crd/storefronts.kommerce.io crd/modelversions.kommerce.io --timeout=30s >/dev/null
grep -q 'deployment.apps/kommerce-operator created' "$tmp/install.txt" || fail "install did not create the Deployment: $(cat "$tmp/install.txt")"

say "running kommerce operator"
metrics=127.0.0.1:$(freeport)
probes=127.0.0.1:$(freeport)
KOMMERCE_DATABASE_URL=$db_url "$tmp/kommerce" operator --metrics-addr "$metrics" --probe-addr "$probes" \
	--leader-elect --leader-election-namespace kommerce-system --log-format text >"$tmp/operator.log" 2>&1 &
operator_pid=$!
for _ in $(seq 1 300); do
	curl -sf "http://$probes/readyz" >/dev/null 2>&1 && break
	kill -0 "$operator_pid" 2>/dev/null || fail "operator exited"
	sleep 0.1
done
curl -sf "http://$probes/readyz" >/dev/null || fail "operator not ready"

say "kubectl apply -f config/samples/"
"$kubectl" apply -f config/samples/ || fail "applying the samples"
"$kubectl" wait --for=condition=Ready tenant/acme --timeout=60s || fail "tenant acme not Ready"

got=$("$kubectl" get ns,quota,limitrange,networkpolicy,rolebinding -A -l kommerce.io/tenant=acme -o name | sort)
want=$(sort <<'EOF'
namespace/acme-ml
namespace/acme-shop
resourcequota/kommerce-tenant
resourcequota/kommerce-tenant
limitrange/kommerce-tenant
limitrange/kommerce-tenant
networkpolicy.networking.k8s.io/kommerce-tenant-isolation
networkpolicy.networking.k8s.io/kommerce-tenant-isolation
rolebinding.rbac.authorization.k8s.io/kommerce-tenant-admins
rolebinding.rbac.authorization.k8s.io/kommerce-tenant-admins
EOF
)
[[ $got == "$want" ]] || fail "objects of tenant acme:
$got
want:
$want"
"$kubectl" get ns,quota,limitrange,networkpolicy,rolebinding -A -l kommerce.io/tenant=acme >&2

"$kubectl" get tenants >&2
row=$("$kubectl" get tenant acme -o 'jsonpath={.status.phase} {.status.namespaceList} {.spec.isolation.topicPrefix} {.spec.isolation.tenantID}')
read -r phase nslist topic tenant_id <<<"$row"
[[ $phase == Ready && $nslist == acme-shop,acme-ml && $topic == kommerce.acme && ${#tenant_id} == 36 ]] || fail "tenant status: $row"

secret_id=$("$kubectl" -n acme-ml get secret kommerce-identity -o 'jsonpath={.data.tenant-id}' | base64 -d)
[[ $secret_id == "$tenant_id" ]] || fail "identity secret tenant-id $secret_id, spec $tenant_id"
key=$("$kubectl" -n acme-shop get secret kommerce-identity -o 'jsonpath={.data.jwt-signing-key}' | base64 -d)
[[ $key == "-----BEGIN PRIVATE KEY-----"* ]] || fail "identity secret has no PKCS#8 signing key"

db_row=$(psql -qtA "$db_url" -c "BEGIN; SELECT set_config('kommerce.platform','on',true); SELECT id || ' ' || topic_prefix FROM tenants WHERE slug='acme'; COMMIT;" | grep -- "-")
[[ $db_row == "$tenant_id kommerce.acme" ]] || fail "database row: '$db_row'"

"$kubectl" get storefronts,modelversions -n acme-shop >&2
[[ $("$kubectl" get mv -n acme-shop -o name | wc -l) == 2 ]] || fail "want two ModelVersions"

metrics_text=$(curl -sf "http://$metrics/metrics") || fail "metrics endpoint"
grep -q 'controller_runtime_reconcile_total{controller="tenant",result="success"} [1-9]' <<<"$metrics_text" ||
	fail "no successful tenant reconciles in the metrics: $(grep reconcile_total <<<"$metrics_text")"

say "an invalid Tenant is refused with a readable message"
if out=$("$kubectl" apply -f - 2>&1 <<'EOF'
apiVersion: kommerce.io/v1alpha1
kind: Tenant
metadata: {name: broken}
spec:
  owners: []
  namespaces: [kube-system]
  quota: {requestsCPU: "-1"}
EOF
); then
	fail "an invalid tenant was accepted"
fi
for msg in "spec.owners" "system namespaces" "quota must not be negative"; do
	grep -q -- "$msg" <<<"$out" || fail "rejection lacks '$msg': $out"
done

say "a protected tenant cannot be deleted (config/policy)"
"$kubectl" patch tenant acme --type merge -p '{"spec":{"preventDeletion":true}}' >/dev/null
refused=
for _ in $(seq 1 50); do # the API server compiles a new policy in the background
	if out=$("$kubectl" delete tenant acme --dry-run=server 2>&1); then sleep 0.2; else refused=1; break; fi
done
[[ -n $refused && $out == *"has spec.preventDeletion: true; set it to false before deleting it"* ]] ||
	fail "deleting a protected tenant was not refused: $out"
"$kubectl" patch tenant acme --type merge -p '{"spec":{"preventDeletion":false}}' >/dev/null

say "deleting the tenant removes its database row"
"$kubectl" delete tenant acme --timeout=60s >/dev/null || fail "delete tenant"
left=$(psql -qtA "$db_url" -c "BEGIN; SELECT set_config('kommerce.platform','on',true); SELECT count(*) FROM tenants WHERE slug='acme'; COMMIT;" | tail -1)
[[ $left == 0 ]] || fail "the tenants row survived the deletion"

kill "$operator_pid"
wait "$operator_pid" || fail "operator exited non-zero on SIGTERM"
operator_pid=
say "OK"

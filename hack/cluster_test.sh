#!/usr/bin/env bash
# cluster_test.sh proves hack/cluster.sh on this machine, from a machine without a cluster
# back to the same machine:
#
#   1. `up` refuses, names the cause, exits non-zero and leaves nothing behind when a port
#      is taken, when a binary is missing and when containerd fails to start;
#   2. `up` starts the cluster; `status`, `env` and `load` work; cluster DNS, Services and
#      the host services of hack/services.sh answer from pods; the kubelet's host sysctls
#      are restored; a default-deny NetworkPolicy in one namespace stops a pod of another
#      namespace and lets a pod of its own namespace through (kube-router enforces it);
#   3. `down` leaves the machine as it was: processes, network links, addresses and routes,
#      iptables/ip6tables rules, nftables, ipsets, mounts, sysctls, cgroups and the paths
#      the components hard-code are listed before and after and compared.
#
# Needs root and no cluster running (it refuses to take down one it did not start). The
# host-service checks use whatever hack/services.sh runs and say which they skipped.
# Prints one line per check and "N passed, N failed"; exits non-zero if any failed.
set -euo pipefail

HACK=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
CLUSTER=$HACK/cluster.sh
CACHE=${KOMMERCE_CACHE_DIR:-$HOME/.cache/kommerce}
STATE=${KOMMERCE_CLUSTER_DIR:-/var/lib/kommerce-cluster}
WORK=$(mktemp -d)
NS_A=kommerce-test-a
NS_B=kommerce-test-b

passed=0
failed=0
ok() {
	echo "ok   $*"
	passed=$((passed + 1))
}
fail() {
	echo "FAIL $*"
	failed=$((failed + 1))
}
check() { # check <description> <command...>
	local what=$1
	shift
	if "$@" >"$WORK/out" 2>&1; then ok "$what"; else
		fail "$what"
		sed 's/^/     | /' "$WORK/out" | tail -n 20
	fi
}
since() { awk -v a="$1" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f", b - a }'; }
finish() {
	echo "$passed passed, $failed failed"
	rm -rf "$WORK"
	((failed == 0))
}

[[ $EUID -eq 0 ]] || {
	echo "cluster_test: needs root" >&2
	exit 1
}
if "$CLUSTER" status >/dev/null 2>&1 || [[ -e $STATE ]]; then
	echo "cluster_test: a cluster is running (or its state is left in $STATE); this test must start from none: hack/cluster.sh down" >&2
	exit 1
fi

# ---------------------------------------------------------------- the machine, listed

# snapshot <dir>: everything down must restore, one file per kind. Values that change on
# their own (counters, pids, random ids) and the cgroups of this sandbox's own job runner
# are left out.
snapshot() {
	local d=$1
	mkdir -p "$d"
	set +e # an empty listing is a listing too
	ps -eo args= | grep -E -- "$STATE|containerd|runc |^/pause|^/probe|^/coredns|kube-router|socat .*bind=10\.244" |
		grep -vE 'grep|cluster_test' | sort >"$d/processes" || true
	ip -o link show | awk '{print $2}' | sed 's/@.*//' | sort >"$d/links"
	ip -o addr show | awk '{print $2, $3, $4}' | sort >"$d/addresses"
	ip route show table all | sort >"$d/routes"
	ip rule show >"$d/rules"
	{ iptables-save 2>/dev/null; ip6tables-save 2>/dev/null; } | grep -v '^#' | sed -E 's/\[[0-9]+:[0-9]+\]//' >"$d/iptables"
	nft list ruleset 2>/dev/null >"$d/nftables"
	ipset list -n 2>/dev/null | sort >"$d/ipsets"
	awk '{print $5, $9, $10}' /proc/self/mountinfo | sort >"$d/mounts"
	sysctl -a 2>/dev/null | grep -vE '^(fs\.(dentry-state|file-nr|inode-nr|inode-state|quota\.[a-z_]+)|kernel\.(ns_last_pid|random\.uuid|random\.entropy_avail|pty\.nr)|net\.netfilter\.nf_conntrack_count) ' |
		sort >"$d/sysctls"
	find /sys/fs/cgroup -maxdepth 4 -type d -not -path '*/process_api*' | sort >"$d/cgroups"
	local p
	for p in /var/lib/kubelet /var/log/containers /run/containerd /var/lib/cni /etc/cni /opt/cni \
		/var/lib/containerd /run/netns /var/run/netns /etc/kubernetes "$STATE"; do
		[[ -e $p ]] && find "$p" -maxdepth 3 | sort
	done >"$d/paths"
	set -e
}

# same_as_before <what> <snapshot dir>: every file of the snapshot equal to the first one.
same_as_before() {
	local what=$1 d=$2 f diffs=""
	snapshot "$d"
	for f in "$WORK/before"/*; do
		f=$(basename "$f")
		if ! diff -u "$WORK/before/$f" "$d/$f" >"$d/$f.diff"; then diffs="$diffs $f"; fi
	done
	if [[ -z $diffs ]]; then
		ok "$what: the machine is as before (processes links addresses routes iptables nftables ipsets mounts sysctls cgroups paths)"
	else
		fail "$what: differs from before in$diffs"
		for f in $diffs; do sed "s/^/     | $f: /" "$d/$f.diff" | tail -n +3 | head -n 20; done
	fi
}

snapshot "$WORK/before"

# ---------------------------------------------------------------- up fails cleanly

# up_fails <description> <expected text> <env...>: up exits non-zero, names the cause,
# and leaves nothing behind.
up_fails() {
	local what=$1 expect=$2
	shift 2
	local rc=0
	env "$@" "$CLUSTER" up >"$WORK/up.out" 2>&1 || rc=$?
	if ((rc != 0)) && grep -q -- "$expect" "$WORK/up.out"; then
		ok "$what: up exits $rc saying: $(grep -m1 -- "$expect" "$WORK/up.out" | sed 's/^cluster: //')"
	else
		fail "$what: up exited $rc without saying '$expect'"
		sed 's/^/     | /' "$WORK/up.out" | tail -n 20
	fi
	same_as_before "$what" "$WORK/after-$(echo "$what" | tr ' ' -)"
}

socat -u TCP-LISTEN:16443,bind=127.0.0.1,reuseaddr OPEN:/dev/null &
squatter=$!
for _ in $(seq 1 50); do [[ -n $(ss -Hltn 'sport = :16443') ]] && break || sleep 0.1; done
snapshot "$WORK/before" # the squatter is part of the machine for this case
up_fails "port taken" "port 16443 (needed by kube-apiserver) is taken by socat (pid $squatter)"
kill "$squatter"
wait "$squatter" 2>/dev/null || true
snapshot "$WORK/before"

up_fails "binary missing" "binary .* is missing" PATH=/usr/local/go/bin:/usr/bin:/bin

mkdir -p "$WORK/fake"
printf '#!/bin/sh\necho "containerd: simulated failure: cannot open the state folder" >&2\nexit 1\n' >"$WORK/fake/containerd"
chmod +x "$WORK/fake/containerd"
up_fails "containerd fails" "containerd failed to start" PATH="$WORK/fake:$PATH"

# ---------------------------------------------------------------- up

start=$EPOCHREALTIME
if "$CLUSTER" up >"$WORK/up.out" 2>&1; then
	ok "$(grep -m1 'cluster: up in' "$WORK/up.out" | sed 's/^cluster: //')"
else
	fail "up"
	sed 's/^/     | /' "$WORK/up.out" | tail -n 40
	"$CLUSTER" down >/dev/null 2>&1 || true
	finish
	exit 1
fi
eval "$("$CLUSTER" env)"
check "env: KUBECONFIG set, kubectl reaches the cluster" kubectl get --raw /readyz
status_shows_all() {
	"$CLUSTER" status >"$WORK/status" 2>&1 || {
		cat "$WORK/status"
		return 1
	}
	local c
	for c in containerd etcd kube-apiserver kube-controller-manager kube-scheduler kubelet kube-proxy kube-router \
		forward-postgres forward-redis forward-kafka forward-elasticsearch; do
		grep -qE "^$c +[0-9]+ +healthy" "$WORK/status" || return 1
	done
	grep -qE '^kommerce +Ready' "$WORK/status" || {
		cat "$WORK/status"
		return 1
	}
}
check "status: exits 0, lists every component healthy with its pid, and the node Ready" status_shows_all
check "up again: already up" "$CLUSTER" up
check "node Ready" kubectl wait --for=condition=Ready "node/kommerce" --timeout=10s

kubelet_sysctls_restored() {
	local key
	for key in vm.overcommit_memory kernel.panic kernel.panic_on_oops; do
		[[ $(sysctl -n "$key") == $(sed -n "s/^$key = //p" "$WORK/before/sysctls") ]] || {
			echo "$key is $(sysctl -n "$key") while up, was $(sed -n "s/^$key = //p" "$WORK/before/sysctls")"
			return 1
		}
	done
}
check "the kubelet's host sysctls are restored while the cluster runs" kubelet_sysctls_restored
check "pod traffic to other interfaces is dropped (mangle FORWARD)" iptables -t mangle -C FORWARD -i kommerce0 ! -o kommerce0 \
	-m comment --comment "kommerce: pod traffic never leaves the host" -j DROP

# ---------------------------------------------------------------- pods and policy

pod() { # pod <namespace> <name> [image]
	cat <<-EOF
		---
		apiVersion: v1
		kind: Pod
		metadata: {name: $2, namespace: $1, labels: {app: $2}}
		spec:
		  terminationGracePeriodSeconds: 5
		  securityContext: {runAsNonRoot: true, seccompProfile: {type: RuntimeDefault}}
		  containers:
		  - name: probe
		    image: ${3:-kommerce.local/probe:1}
		    imagePullPolicy: Never
		    args: [serve]
		    ports: [{containerPort: 8080}]
		    readinessProbe: {httpGet: {path: /, port: 8080}, periodSeconds: 1}
		    securityContext: {allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: {drop: [ALL]}}
	EOF
}

probe_tar=$(ls -t "$CACHE"/cluster/images/probe-*.tar | head -1)
check "load: import an image tarball under a new name" "$CLUSTER" load "$probe_tar" kommerce.local/probe:loaded

{
	printf 'apiVersion: v1\nkind: Namespace\nmetadata: {name: %s}\n---\napiVersion: v1\nkind: Namespace\nmetadata: {name: %s}\n' "$NS_A" "$NS_B"
	pod "$NS_A" server
	pod "$NS_A" client
	pod "$NS_B" client
	pod "$NS_B" loaded kommerce.local/probe:loaded
	cat <<-EOF
		---
		apiVersion: v1
		kind: Service
		metadata: {name: server, namespace: $NS_A}
		spec:
		  selector: {app: server}
		  ports: [{port: 80, targetPort: 8080}]
	EOF
} >"$WORK/pods.yaml"
check "pods created" kubectl apply -f "$WORK/pods.yaml"
check "pods Ready in $NS_A" kubectl wait --for=condition=Ready pod --all -n "$NS_A" --timeout=120s
check "pods Ready in $NS_B (one of them from the loaded image)" kubectl wait --for=condition=Ready pod --all -n "$NS_B" --timeout=60s

server_ip=$(kubectl -n "$NS_A" get pod server -o 'jsonpath={.status.podIP}')
svc=server.$NS_A.svc.cluster.local
probe() { kubectl -n "$1" exec "$2" -- /probe "${@:3}"; }

check "DNS: kubernetes.default resolves to 10.96.0.1" bash -c "$(declare -f probe); probe $NS_A client lookup kubernetes.default.svc.cluster.local | grep -q 10.96.0.1"
check "DNS: names outside the cluster are not resolved (CoreDNS forwards nothing)" bash -c "$(declare -f probe); ! probe $NS_A client lookup example.com"
check "pod reaches the API server through the kubernetes Service" probe "$NS_B" client tcp kubernetes.default.svc.cluster.local:443
# A pod just Ready may not be behind its Service yet (kube-proxy programs the endpoints
# asynchronously): reachability is awaited, bounded, like the policies below.
check "before any policy: pod in $NS_B reaches the server in $NS_A" bash -c "$(declare -f probe)
	for _ in \$(seq 1 20); do probe $NS_B client get http://$svc/ && exit 0; sleep 1; done; exit 1"

kubectl apply -f - >/dev/null <<-EOF
	apiVersion: networking.k8s.io/v1
	kind: NetworkPolicy
	metadata: {name: default-deny, namespace: $NS_A}
	spec:
	  podSelector: {}
	  policyTypes: [Ingress]
	---
	apiVersion: networking.k8s.io/v1
	kind: NetworkPolicy
	metadata: {name: allow-same-namespace, namespace: $NS_A}
	spec:
	  podSelector: {}
	  policyTypes: [Ingress]
	  ingress:
	  - from: [{podSelector: {}}]
EOF

# kube-router applies policies asynchronously: wait (bounded) until the denial shows.
denied() {
	local i
	for i in $(seq 1 10); do
		probe "$NS_B" client get "http://$server_ip:8080/" >/dev/null 2>&1 || return 0
		sleep 1
	done
	return 1
}
check "default-deny in $NS_A: pod in $NS_B can no longer reach the server pod" denied
check "default-deny in $NS_A: pod in $NS_B cannot reach it through its Service either" bash -c "$(declare -f probe); ! probe $NS_B client get http://$svc/"
check "default-deny in $NS_A: pod in $NS_A still reaches it" probe "$NS_A" client get "http://$server_ip:8080/"
check "default-deny in $NS_A: pod in $NS_A still reaches it through its Service" probe "$NS_A" client get "http://$svc/"

# The denial is the policy's doing: without the policies the pod in $NS_B gets through again.
kubectl -n "$NS_A" delete networkpolicy default-deny allow-same-namespace >/dev/null
allowed_again() {
	local i
	for i in $(seq 1 10); do
		probe "$NS_B" client get "http://$server_ip:8080/" >/dev/null 2>&1 && return 0
		sleep 1
	done
	return 1
}
check "policies deleted: pod in $NS_B reaches the server pod again" allowed_again

# ---------------------------------------------------------------- host services

for entry in postgres:5432:${KOMMERCE_PG_PORT:-55432} redis:6379:${KOMMERCE_REDIS_PORT:-56379} elasticsearch:9200:${KOMMERCE_ES_PORT:-59200}; do
	IFS=: read -r name port host_port <<<"$entry"
	if [[ -z $(ss -Hltn "sport = :$host_port") ]]; then
		echo "skip host service $name: nothing listens on 127.0.0.1:$host_port (hack/services.sh up $name)"
		continue
	fi
	check "host service $name reachable from a pod as $name.kommerce-system:$port" probe "$NS_B" client tcp "$name.kommerce-system.svc.cluster.local:$port"
done
kafka_port=${KOMMERCE_KAFKA_PORT:-59092}
if [[ -n $(ss -Hltn "sport = :$kafka_port") ]]; then
	# A client bootstraps through the Service and is told the broker's CLUSTER listener
	# (the Service's own name), which it must reach to produce or consume.
	kafka_from_pod() {
		probe "$NS_B" client kafka "kafka.kommerce-system.svc.cluster.local:9092" >"$WORK/kafka" 2>&1
		local rc=$?
		cat "$WORK/kafka"
		((rc == 0)) && grep -q "advertises kafka.kommerce-system.svc.cluster.local:9092: reachable" "$WORK/kafka"
	}
	check "host service kafka: a pod bootstraps through kafka.kommerce-system:9092 and reaches the broker it is told" kafka_from_pod
else
	echo "skip host service kafka: nothing listens on 127.0.0.1:$kafka_port (hack/services.sh up kafka)"
fi

# ---------------------------------------------------------------- down

start=$EPOCHREALTIME
if "$CLUSTER" down >"$WORK/down.out" 2>&1; then
	ok "down in $(since "$start")s"
else
	fail "down"
	sed 's/^/     | /' "$WORK/down.out" | tail -n 20
fi
check "status after down says not running" bash -c "! '$CLUSTER' status"
same_as_before "down" "$WORK/after-down"
finish

# shellcheck shell=bash
# cluster.sh is sourced by the scripts that run kommerce on the real cluster of
# hack/cluster.sh (hack/e2e/storefront.sh, hack/bench/storefront.sh): logging with
# elapsed seconds, bounded waits that print what they saw, the cluster up (or reused),
# the image built and loaded, a fresh database migrated by a Job, and the operator
# installed with helm. The caller sets `name` (the log prefix) before sourcing it, may
# define `diagnose` (run on failure) and `cleanup_more` (run first on exit), and calls
# cluster_cleanup from its own EXIT trap or lets this file's trap run.
#
# Only one such script at a time: cluster_lock takes a lock that the others wait for,
# as the cluster, the release and the images are shared.

t0=$SECONDS
say() { echo "${name:-e2e}: [$((SECONDS - t0))s] $*" >&2; }

cluster=${KOMMERCE_CLUSTER_SH:-hack/cluster.sh}
release=kommerce
opns=kommerce-e2e
opdeploy=$release-operator
lease=kommerce-operator.kommerce.io
tmp=$(mktemp -d)
kubectl=$(hack/envtest.sh)/kubectl
helm=$PWD/bin/helm
own_cluster=
dbs=()

k() { "$kubectl" --kubeconfig "$KUBECONFIG" "$@"; }
h() { "$helm" --kubeconfig "$KUBECONFIG" "$@"; }

# diagnose prints what a person needs to see when a step fails; callers override it.
declare -F diagnose >/dev/null || diagnose() { :; }
declare -F cleanup_more >/dev/null || cleanup_more() { :; }

# failed_because is the reason fail was given, repeated on the script's last line:
# a CI log that keeps only the end of a long output still shows why.
failed_because=
fail() {
	say "FAIL: $*"
	failed_because=$*
	set +e
	[[ -n ${KUBECONFIG:-} ]] && diagnose
	exit 1
}

# until_ok <seconds> <what> <command...>: run the command every second until it
# succeeds; on timeout print its last output and fail.
until_ok() {
	local limit=$1 what=$2 start=$SECONDS
	shift 2
	until "$@" >"$tmp/last" 2>&1; do
		if ((SECONDS - start >= limit)); then
			say "$what: not after ${limit}s; last output:"
			cat "$tmp/last" >&2
			cp "$tmp/last" "$tmp/failed-last"
			fail "$what"
		fi
		sleep 1
	done
	say "$what ($((SECONDS - start))s)"
}

# until_ok_soft is until_ok that reports a timeout with soft_fail and returns 1
# instead of failing the script.
until_ok_soft() {
	local limit=$1 what=$2 start=$SECONDS
	shift 2
	until "$@" >"$tmp/last" 2>&1; do
		if ((SECONDS - start >= limit)); then
			say "$what: not after ${limit}s; last output:"
			tail -5 "$tmp/last" >&2
			soft_fail "$what"
			return 1
		fi
		sleep 1
	done
	say "$what ($((SECONDS - start))s)"
}

# drop_tenant_data <slug> removes a tenant's indices from the shared Elasticsearch
# and its topics from the shared Kafka (each one by name: Elasticsearch refuses
# wildcard deletes).
drop_tenant_data() {
	local slug=$1 index
	[[ -n $slug && -n ${KOMMERCE_TEST_ELASTICSEARCH_URL:-} ]] || return 0
	for index in $(curl -s "$KOMMERCE_TEST_ELASTICSEARCH_URL/_cat/indices/kommerce-$slug*?h=index&expand_wildcards=all" 2>/dev/null); do
		curl -s -X DELETE "$KOMMERCE_TEST_ELASTICSEARCH_URL/$index" >/dev/null 2>&1
	done
	hack/kafka.sh topics --delete --if-exists --topic "kommerce\\.$slug\\..*" >/dev/null 2>&1 || true
}

cluster_cleanup() {
	local code=$?
	set +e
	cleanup_more
	if [[ -n $own_cluster ]]; then
		say "hack/cluster.sh down"
		"$cluster" down >"$tmp/down.log" 2>&1 || { cat "$tmp/down.log" >&2; code=1; }
	fi
	local db
	for db in "${dbs[@]}"; do
		psql -q "$admin_url" -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null 2>&1
	done
	if [[ -n $failed_because && -s $tmp/failed-last ]]; then
		say "the failed step's last output:"
		tail -8 "$tmp/failed-last" >&2
	fi
	rm -rf "$tmp"
	say "took $((SECONDS - t0))s, exit $code${failed_because:+, failed: $failed_because}"
	exit $code
}
trap cluster_cleanup EXIT

cluster_lock() {
	exec 8>"${KOMMERCE_CACHE_DIR:-$HOME/.cache/kommerce}/.cluster-e2e.lock"
	flock -w 1800 8 || fail "another cluster e2e or bench is still running after 30 minutes"
}

# services_up starts the host services pods reach through kommerce-system (waiting
# for another services.sh up rather than running two) and sets admin_url.
services_up() {
	local waited=0
	# Running already (the usual case): nothing to start, no one to wait for.
	if [[ $(hack/services.sh status postgres redis kafka elasticsearch 2>/dev/null | grep -c ' running ') == 4 ]]; then
		eval "$(hack/services.sh env postgres redis kafka elasticsearch)"
		admin_url=$KOMMERCE_TEST_DATABASE_URL
		return 0
	fi
	while pgrep -f 'services.sh up' >/dev/null; do
		((waited >= 900)) && fail "another hack/services.sh up is still running after 15 minutes"
		((waited % 60 == 0)) && say "waiting for another hack/services.sh up to finish"
		sleep 5
		waited=$((waited + 5))
	done
	# 8>&-: the services outlive this script and must not keep its lock held.
	hack/services.sh up postgres redis kafka elasticsearch >"$tmp/services.log" 2>&1 8>&- ||
		{ cat "$tmp/services.log" >&2; fail "hack/services.sh up"; }
	eval "$(hack/services.sh env postgres redis kafka elasticsearch)"
	admin_url=$KOMMERCE_TEST_DATABASE_URL
}

# image_build runs make image and sets ref, repo, tag.
image_build() {
	make -s image >"$tmp/image.log" 2>&1 || { cat "$tmp/image.log" >&2; fail "make image"; }
	ref=$(cat bin/kommerce-image.ref)
	repo=${ref%:*} tag=${ref##*:}
}

# cluster_up uses a cluster that is up (and leaves it up) or starts one (and takes it
# down on exit); it exports KUBECONFIG.
cluster_up() {
	[[ -x $cluster ]] || fail "$cluster is missing"
	[[ $(id -u) == 0 ]] || fail "the cluster needs root"
	if "$cluster" status >/dev/null 2>&1; then
		say "cluster already up: using it, leaving it up"
	else
		pgrep -f "$(basename "$cluster") (up|down)" >/dev/null && fail "another $cluster up/down is running"
		# A failed up cleans up after itself; only a cluster that came up is ours to take down.
		# 8>&-: the cluster's daemons must not inherit the e2e lock (cluster_lock),
		# or a cluster left up would hold it for every later script.
		"$cluster" up >"$tmp/up.log" 2>&1 8>&- || { cat "$tmp/up.log" >&2; fail "hack/cluster.sh up"; }
		own_cluster=1
		say "hack/cluster.sh up: $(grep -o 'up in .*' "$tmp/up.log" | tail -1)"
	fi
	eval "$("$cluster" env)"
	[[ -n ${KUBECONFIG:-} ]] || fail "hack/cluster.sh env printed no KUBECONFIG"
	export KUBECONFIG
	# A node under disk pressure schedules nothing: say so rather than time out later.
	# (The kubelet's default thresholds: less than 15 % free for images, 10 % for pods.)
	local taints
	taints=$(k get nodes -o jsonpath='{.items[*].spec.taints[*].key}')
	if [[ $taints == *disk-pressure* ]]; then
		fail "the node is tainted disk-pressure: $(df -h --output=avail,pcent "${KOMMERCE_CLUSTER_DIR:-/var/lib/kommerce-cluster}" 2>/dev/null | tail -1 | awk '{print $1 " free, " $2 " used"}') where the cluster keeps its images and pods"
	fi
}

# load_tags <tar> <name:tag...>: import the image once per tag.
load_tags() {
	local tar=$1 t
	shift
	for t in "$@"; do
		"$cluster" load "$tar" "$t" >"$tmp/load.log" 2>&1 || { cat "$tmp/load.log" >&2; fail "hack/cluster.sh load $tar $t"; }
	done
}

# fresh_database <name>: create the database, dropped on exit; sets db_url (from the
# host) and pod_url (from pods, through the postgres Service of kommerce-system).
fresh_database() {
	local db=$1
	psql -q "$admin_url" -c "CREATE DATABASE $db" || fail "create database $db"
	dbs+=("$db")
	db_url=${admin_url/\/kommerce\?/\/$db?}
	pod_url=$(sed -E "s#@[^/]+/[^?]+#@postgres.kommerce-system.svc.cluster.local:5432/$db#" <<<"$admin_url")
}

# migrate_job <namespace> <secret> <key>: `kommerce migrate up` as a Job of the image
# $ref, with the database URL from the Secret's key.
migrate_job() {
	local ns=$1 secret=$2 key=$3
	k -n "$ns" delete job migrate --ignore-not-found >/dev/null
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
              valueFrom: {secretKeyRef: {name: $secret, key: $key}}
          securityContext: {allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: {drop: [ALL]}}
EOF
	k -n "$ns" wait --for=condition=Complete job/migrate --timeout=120s >/dev/null 2>&1 ||
		{ k -n "$ns" logs job/migrate >&2 || true; fail "migrate job"; }
}

# data_plane <database>: a fresh database, the operator's namespace $opns with the
# database Secret and the data-plane Secret (the host services as pods reach them
# through kommerce-system), and the schema migrated by a Job.
data_plane() {
	fresh_database "$1"
	k create namespace "$opns" --dry-run=client -o yaml | k apply -f - >/dev/null
	k -n "$opns" create secret generic kommerce-database --from-literal=url="$pod_url" --dry-run=client -o yaml | k apply -f - >/dev/null
	k -n "$opns" create secret generic kommerce-data-plane \
		--from-literal=database-url="$pod_url" \
		--from-literal=redis-url=redis://redis.kommerce-system.svc.cluster.local:6379/0 \
		--from-literal=kafka-brokers=kafka.kommerce-system.svc.cluster.local:9092 \
		--from-literal=elasticsearch-url=http://elasticsearch.kommerce-system.svc.cluster.local:9200 \
		--dry-run=client -o yaml | k apply -f - >/dev/null
	migrate_job "$opns" kommerce-database url
}

# operator_install <helm args...>: helm install (or upgrade) the chart in $opns with
# the image $ref, short leader-election timings (a killed leader is replaced within
# seconds), and wait for both replicas.
operator_install() {
	h upgrade --install "$release" charts/kommerce -n "$opns" \
		--set "image.repository=$repo" --set-string "image.tag=$tag" --set image.pullPolicy=Never \
		--set database.existingSecret=kommerce-database \
		--set leaderElection.leaseDuration=8s --set leaderElection.renewDeadline=6s --set leaderElection.retryPeriod=1s \
		"$@" >"$tmp/install.log" 2>&1 || { cat "$tmp/install.log" >&2; fail "helm install"; }
	k -n "$opns" rollout status deploy/$opdeploy --timeout=180s >/dev/null || fail "operator rollout"
}

# shoppers <kommerce binary> <tenant> <n>: create n customer users of the tenant (on
# the host, against $db_url) for the load: one client at 25 req/s trips the API's
# per-user (or per-address) rate limit of 20 req/s, as a bot should.
shoppers() {
	local bin=$1 slug=$2 n=$3 i
	for i in $(seq 1 "$n"); do
		echo 'e2e-shopper-password-1' | KOMMERCE_DATABASE_URL=$db_url "$bin" admin create-user --tenant "$slug" \
			--email "shopper$i@$slug.example" --role customer --password-stdin --if-not-exists --log-level warn >/dev/null ||
			fail "create-user shopper$i"
	done
	shopper_count=$n
}

# shopper_logins <tenant> <base URL>: log every shopper in through the API at base;
# sets rotate_args, loadgen's -rotate flags (one bearer token per shopper; tokens live
# 15 minutes, so log in again for each load).
shopper_logins() {
	local slug=$1 base=$2 i token
	rotate_args=()
	for i in $(seq 1 "$shopper_count"); do
		token=$(curl -fsS --max-time 5 -H "X-Kommerce-Tenant: $slug" -H 'Content-Type: application/json' \
			-d "{\"email\":\"shopper$i@$slug.example\",\"password\":\"e2e-shopper-password-1\"}" "$base/api/v1/auth/login" | jq -r .access_token) ||
			fail "shopper$i login through $base"
		[[ -n $token && $token != null ]] || fail "shopper$i login through $base: no access token"
		rotate_args+=(-rotate "Authorization: Bearer $token")
	done
}

# leader prints the operator pod holding the lease.
leader() {
	local h
	h=$(k -n "$opns" get lease $lease -o jsonpath='{.spec.holderIdentity}' 2>/dev/null)
	echo "${h%%_*}"
}

#!/usr/bin/env bash
# services.sh installs (first time only), starts, stops and reports the real services
# kommerce is developed and tested against, each on loopback under one state folder.
#
#   hack/services.sh up     [service...]   install if needed, start, wait until it answers
#   hack/services.sh down   [service...]   stop; no process is left behind
#   hack/services.sh status [service...]   running or not, and how to reach it
#   hack/services.sh env    [service...]   export lines for the variables tests read
#   hack/services.sh logs   <service>      the tail of a service's log
#
# Services: postgres redis kafka elasticsearch envtest stripe-mock onnxruntime chromium seaweedfs mailpit jaeger (default: all).
# Where each comes from: PostgreSQL and Redis from Debian packages, Kafka and
# Elasticsearch from Maven Central, kube-apiserver/etcd/kubectl, stripe-mock and
# SeaweedFS (the S3-compatible object store), mailpit (an SMTP server whose HTTP
# API shows what arrived) and the Jaeger v2 trace backend built from their Go modules. Downloads and builds are cached under $KOMMERCE_CACHE_DIR
# (~/.cache/kommerce) and ~/.m2, so only the first run on a machine is slow.
#
# PostgreSQL and Elasticsearch refuse to run as root; when this script runs as root it
# runs them as the system user "kommerce", which it creates.
set -euo pipefail

HACK=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ALL_SERVICES=(postgres redis kafka elasticsearch envtest stripe-mock onnxruntime chromium seaweedfs mailpit jaeger)

CACHE=${KOMMERCE_CACHE_DIR:-$HOME/.cache/kommerce}
if [[ $EUID -eq 0 ]]; then
	SVC_USER=${KOMMERCE_SERVICE_USER:-kommerce}
	STATE=${KOMMERCE_STATE_DIR:-/var/lib/kommerce-services}
else
	SVC_USER=$(id -un)
	STATE=${KOMMERCE_STATE_DIR:-${XDG_STATE_HOME:-$HOME/.local/state}/kommerce}
fi

PG_PORT=${KOMMERCE_PG_PORT:-55432}
REDIS_PORT=${KOMMERCE_REDIS_PORT:-56379}
KAFKA_PORT=${KOMMERCE_KAFKA_PORT:-59092}
KAFKA_CONTROLLER_PORT=$((KAFKA_PORT + 1))
# A second listener for pods of hack/cluster.sh's cluster: it advertises the name of the
# cluster's kafka Service, which forwards to this port, so a client in a pod that
# bootstraps through the Service is told an address it can reach (the PLAINTEXT
# listener advertises 127.0.0.1, which in a pod is the pod itself).
KAFKA_CLUSTER_PORT=$((KAFKA_PORT + 2))
KAFKA_CLUSTER_NAME=${KOMMERCE_KAFKA_CLUSTER_NAME:-kafka.kommerce-system.svc.cluster.local:9092}
ES_PORT=${KOMMERCE_ES_PORT:-59200}
ES_TRANSPORT_PORT=$((ES_PORT + 100))
STRIPE_PORT=${KOMMERCE_STRIPE_PORT:-12111}
# SeaweedFS: the S3 gateway on S3_PORT; its master, volume and filer (and their gRPC
# ports, which SeaweedFS would otherwise put 10000 above each) on the ports after it.
S3_PORT=${KOMMERCE_S3_PORT:-58333}
S3_ACCESS_KEY=kommerce
S3_SECRET_KEY=kommerce-dev-secret
MAILPIT_SMTP_PORT=${KOMMERCE_MAILPIT_SMTP_PORT:-51025}
MAILPIT_HTTP_PORT=${KOMMERCE_MAILPIT_HTTP_PORT:-58025}
# Jaeger: OTLP/HTTP in, the query API (/api/traces/<id>) and UI out, a health port.
JAEGER_OTLP_HTTP_PORT=${KOMMERCE_JAEGER_OTLP_PORT:-54318}
JAEGER_OTLP_GRPC_PORT=$((JAEGER_OTLP_HTTP_PORT - 1))
JAEGER_QUERY_PORT=${KOMMERCE_JAEGER_QUERY_PORT:-56686}
JAEGER_QUERY_GRPC_PORT=$((JAEGER_QUERY_PORT - 1))
JAEGER_HEALTH_PORT=${KOMMERCE_JAEGER_HEALTH_PORT:-53133}

KAFKA_VERSION=$(sed -nE 's#.*<kafka.version>([^<]+)</kafka.version>.*#\1#p' "$HACK/tools/kafka/pom.xml")
ES_VERSION=${KOMMERCE_ES_VERSION:-8.19.9}
JAEGER_VERSION=$(sed -nE 's#^require github.com/jaegertracing/jaeger (v[^ ]+)#\1#p' "$HACK/tools/jaeger/go.mod")
MAILPIT_VERSION=${KOMMERCE_MAILPIT_VERSION:-v1.33.1}
STRIPE_MOCK_VERSION=$(sed -nE 's#^require github.com/stripe/stripe-mock (v[^ ]+)#\1#p' "$HACK/tools/stripe-mock/go.mod")
SEAWEEDFS_VERSION=$(sed -nE 's#^require github.com/seaweedfs/seaweedfs (v[^ ]+)#\1#p' "$HACK/tools/seaweedfs/go.mod")

PG_URL="postgres://kommerce:kommerce@127.0.0.1:$PG_PORT/kommerce?sslmode=disable"
REDIS_URL="redis://127.0.0.1:$REDIS_PORT/0"
KAFKA_BROKERS="127.0.0.1:$KAFKA_PORT"
JAEGER_OTLP_URL="http://127.0.0.1:$JAEGER_OTLP_HTTP_PORT"
JAEGER_QUERY_URL="http://127.0.0.1:$JAEGER_QUERY_PORT"
ES_URL="http://127.0.0.1:$ES_PORT"
MAILPIT_SMTP="127.0.0.1:$MAILPIT_SMTP_PORT"
MAILPIT_URL="http://127.0.0.1:$MAILPIT_HTTP_PORT"
STRIPE_URL="http://127.0.0.1:$STRIPE_PORT"
S3_URL="http://127.0.0.1:$S3_PORT"

say() { echo "services: $*" >&2; }
die() { say "error: $*"; exit 1; }

# as_svc runs a command as the service user (a no-op switch when not root).
as_svc() {
	if [[ $EUID -eq 0 ]]; then runuser -u "$SVC_USER" -- "$@"; else "$@"; fi
}

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

pid_alive() { [[ -f $1 ]] && kill -0 "$(cat "$1")" 2>/dev/null; }

# wait_for <name> <seconds> <log file> <command...>: polls the command until it
# succeeds; on timeout prints the log tail and fails, so `up` never hangs.
wait_for() {
	local name=$1 timeout=$2 logf=$3
	shift 3
	local start=$SECONDS
	until "$@" >/dev/null 2>&1; do
		if ((SECONDS - start >= timeout)); then
			say "$name did not answer within ${timeout}s; last lines of $logf:"
			tail -n 40 "$logf" >&2 2>/dev/null || true
			return 1
		fi
		sleep 0.5
	done
	say "$name ready in $((SECONDS - start))s"
}

# stop_pid <name> <pid file>: TERM, wait up to 30 s, then KILL.
stop_pid() {
	local name=$1 pidf=$2
	if ! pid_alive "$pidf"; then
		rm -f "$pidf"
		say "$name not running"
		return 0
	fi
	local pid
	pid=$(cat "$pidf")
	kill -TERM "$pid" 2>/dev/null || true
	for _ in $(seq 1 60); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.5
	done
	if kill -0 "$pid" 2>/dev/null; then
		say "$name did not stop in 30s, killing"
		kill -KILL "$pid" 2>/dev/null || true
	fi
	rm -f "$pidf"
	say "$name stopped"
}

apt_install() { # apt_install <package...>
	[[ $EUID -eq 0 ]] || die "need the Debian packages $* - run as root, or install them first"
	say "installing Debian packages: $*"
	export DEBIAN_FRONTEND=noninteractive
	if [[ ! -f $CACHE/.apt-updated ]] || [[ -n $(find "$CACHE/.apt-updated" -mmin +720 2>/dev/null) ]]; then
		apt-get update -qq >&2
		mkdir -p "$CACHE" && touch "$CACHE/.apt-updated"
	fi
	apt-get install -y -qq --no-install-recommends "$@" >&2
}

ensure_state() {
	if [[ $EUID -eq 0 ]] && ! id "$SVC_USER" >/dev/null 2>&1; then
		say "creating system user $SVC_USER for PostgreSQL and Elasticsearch"
		useradd --system --home-dir "$STATE" --shell /usr/sbin/nologin "$SVC_USER"
	fi
	mkdir -p "$STATE" "$CACHE"
	if [[ $EUID -eq 0 ]]; then chown "$SVC_USER:" "$STATE"; fi
	reserve_ports
}

# reserve_ports keeps the kernel from handing the services' ports out as source ports
# of outgoing connections. Most of them lie in Linux's ephemeral range (32768-60999),
# so on a busy machine a client's connection could hold, say, 54318 for a moment and
# a service (re)started right then failed with "address already in use" (seen with
# Jaeger). Listening on a reserved port still works. Only as root, and only adding to
# what is reserved already; elsewhere it is skipped.
reserve_ports() {
	local f=/proc/sys/net/ipv4/ip_local_reserved_ports
	[[ $EUID -eq 0 && -w $f ]] || return 0
	local ports=("$PG_PORT" "$REDIS_PORT" "$KAFKA_PORT-$KAFKA_CLUSTER_PORT" "$ES_PORT" "$ES_TRANSPORT_PORT"
		"$S3_PORT-$((S3_PORT + 9))" "$MAILPIT_SMTP_PORT" "$MAILPIT_HTTP_PORT"
		"$JAEGER_OTLP_GRPC_PORT-$JAEGER_OTLP_HTTP_PORT" "$JAEGER_QUERY_GRPC_PORT-$JAEGER_QUERY_PORT" "$JAEGER_HEALTH_PORT")
	local have want
	have=$(<"$f")
	want=$(IFS=,; echo "${have:+$have,}${ports[*]}")
	echo "$want" >"$f" 2>/dev/null || say "could not reserve the services' ports (continuing)"
}

# ---------------------------------------------------------------- postgres

pg_bin() { ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1; }

postgres_up() {
	if [[ -z $(pg_bin) ]]; then apt_install postgresql; fi
	local bin dir=$STATE/postgres
	bin=$(pg_bin)
	as_svc mkdir -p "$dir/run"
	if [[ ! -f $dir/data/PG_VERSION ]]; then
		say "initialising PostgreSQL cluster in $dir/data"
		as_svc "$bin/initdb" -D "$dir/data" -U postgres --auth-local=trust --auth-host=scram-sha-256 -E UTF8 --locale=C.UTF-8 >"$dir/initdb.log" 2>&1 ||
			{ tail -n 20 "$dir/initdb.log" >&2; die "initdb failed"; }
		as_svc tee -a "$dir/data/postgresql.conf" >/dev/null <<-EOF
			listen_addresses = '127.0.0.1'
			port = $PG_PORT
			unix_socket_directories = '$dir/run'
			max_connections = 400
			shared_buffers = 256MB
			logging_collector = off
		EOF
	fi
	if as_svc "$bin/pg_ctl" -D "$dir/data" status >/dev/null 2>&1; then
		say "postgres already running on 127.0.0.1:$PG_PORT"
	else
		as_svc "$bin/pg_ctl" -D "$dir/data" -l "$dir/postgres.log" -w -t 60 start >/dev/null ||
			{ tail -n 40 "$dir/postgres.log" >&2; die "postgres failed to start"; }
	fi
	wait_for postgres 60 "$dir/postgres.log" "$bin/pg_isready" -h 127.0.0.1 -p "$PG_PORT" -q
	# The application role is deliberately not a superuser: superusers bypass row-level
	# security, which is how kommerce isolates tenants. It is a member of
	# pg_signal_backend so that tests' DROP DATABASE ... WITH (FORCE) can end an
	# autovacuum worker that happens to be in the database (such a worker has no role, and
	# without the membership PostgreSQL refuses to terminate it and the drop fails).
	as_svc "$bin/psql" -h "$dir/run" -p "$PG_PORT" -U postgres -d postgres -v ON_ERROR_STOP=1 -q >/dev/null <<-'EOF'
		SELECT 'CREATE ROLE kommerce LOGIN CREATEDB PASSWORD ''kommerce'''
		 WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'kommerce') \gexec
		SELECT 'CREATE DATABASE kommerce OWNER kommerce'
		 WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = 'kommerce') \gexec
		SELECT 'GRANT pg_signal_backend TO kommerce'
		 WHERE NOT pg_has_role('kommerce', 'pg_signal_backend', 'MEMBER') \gexec
	EOF
}

postgres_down() {
	local bin dir=$STATE/postgres
	bin=$(pg_bin)
	if [[ -n $bin && -f $dir/data/PG_VERSION ]] && as_svc "$bin/pg_ctl" -D "$dir/data" status >/dev/null 2>&1; then
		as_svc "$bin/pg_ctl" -D "$dir/data" -m fast -w -t 30 stop >/dev/null
		say "postgres stopped"
	else
		say "postgres not running"
	fi
}

postgres_status() {
	local bin
	bin=$(pg_bin)
	if [[ -n $bin ]] && "$bin/pg_isready" -h 127.0.0.1 -p "$PG_PORT" -q 2>/dev/null; then
		echo "postgres       running  $PG_URL   (psql \"$PG_URL\")"
	else
		echo "postgres       stopped"
		return 1
	fi
}

# ---------------------------------------------------------------- redis

redis_up() {
	command -v redis-server >/dev/null || apt_install redis-server
	local dir=$STATE/redis
	mkdir -p "$dir"
	if pid_alive "$dir/redis.pid" && redis-cli -p "$REDIS_PORT" ping >/dev/null 2>&1; then
		say "redis already running on 127.0.0.1:$REDIS_PORT"
		return 0
	fi
	redis-server --bind 127.0.0.1 --port "$REDIS_PORT" --daemonize yes --pidfile "$dir/redis.pid" \
		--logfile "$dir/redis.log" --dir "$dir" --save "" --appendonly no --protected-mode yes >/dev/null ||
		{ tail -n 40 "$dir/redis.log" >&2; die "redis failed to start"; }
	wait_for redis 20 "$dir/redis.log" redis-cli -p "$REDIS_PORT" ping
}

redis_down() { stop_pid redis "$STATE/redis/redis.pid"; }

redis_status() {
	if redis-cli -p "$REDIS_PORT" ping >/dev/null 2>&1; then
		echo "redis          running  $REDIS_URL   (redis-cli -p $REDIS_PORT)"
	else
		echo "redis          stopped"
		return 1
	fi
}

# ---------------------------------------------------------------- kafka

kafka_libs() { echo "$CACHE/kafka/$KAFKA_VERSION/libs"; }

kafka_install() {
	local libs
	libs=$(kafka_libs)
	[[ -f $libs/.complete ]] && return 0
	command -v java >/dev/null || apt_install openjdk-17-jre-headless
	command -v mvn >/dev/null || apt_install maven
	say "downloading Apache Kafka $KAFKA_VERSION jars from Maven Central (first time only)"
	rm -rf "$libs" && mkdir -p "$libs"
	mvn -B -f "$HACK/tools/kafka/pom.xml" dependency:copy-dependencies \
		-DoutputDirectory="$libs" -DincludeScope=runtime >"$CACHE/kafka/mvn.log" 2>&1 ||
		{ tail -n 30 "$CACHE/kafka/mvn.log" >&2; die "mvn could not resolve Kafka $KAFKA_VERSION"; }
	touch "$libs/.complete"
}

# kafka_java runs one of Kafka's own Java tools with the cached jars.
kafka_java() {
	java -Xmx256m -Dlog4j2.configurationFile="$HACK/tools/kafka/log4j2-tools.properties" -cp "$(kafka_libs)/*" "$@"
}

# kafka_properties prints the broker's server.properties for state folder $1.
kafka_properties() {
	local dir=$1
	cat <<-EOF
		process.roles=broker,controller
		node.id=1
		controller.quorum.voters=1@127.0.0.1:$KAFKA_CONTROLLER_PORT
		listeners=PLAINTEXT://127.0.0.1:$KAFKA_PORT,CONTROLLER://127.0.0.1:$KAFKA_CONTROLLER_PORT,CLUSTER://127.0.0.1:$KAFKA_CLUSTER_PORT
		advertised.listeners=PLAINTEXT://127.0.0.1:$KAFKA_PORT,CLUSTER://$KAFKA_CLUSTER_NAME
		controller.listener.names=CONTROLLER
		listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT,CLUSTER:PLAINTEXT
		inter.broker.listener.name=PLAINTEXT
		log.dirs=$dir/data
		num.partitions=3
		offsets.topic.replication.factor=1
		offsets.topic.num.partitions=10
		transaction.state.log.replication.factor=1
		transaction.state.log.min.isr=1
		share.coordinator.state.topic.replication.factor=1
		share.coordinator.state.topic.min.isr=1
		group.initial.rebalance.delay.ms=0
		auto.create.topics.enable=false
		delete.topic.enable=true
	EOF
}

kafka_up() {
	kafka_install
	local dir=$STATE/kafka
	mkdir -p "$dir"
	local props
	props=$(kafka_properties "$dir")
	if pid_alive "$dir/kafka.pid" && port_open "$KAFKA_PORT"; then
		if [[ $props == "$(cat "$dir/server.properties" 2>/dev/null)" ]]; then
			say "kafka already running on $KAFKA_BROKERS"
			return 0
		fi
		say "kafka's settings changed; restarting it"
		kafka_down
	fi
	printf '%s\n' "$props" >"$dir/server.properties"
	if [[ ! -f $dir/data/meta.properties ]]; then
		say "formatting Kafka KRaft storage in $dir/data"
		kafka_java kafka.tools.StorageTool format -t "$(kafka_java kafka.tools.StorageTool random-uuid)" \
			-c "$dir/server.properties" >"$dir/format.log" 2>&1 || { tail -n 20 "$dir/format.log" >&2; die "kafka storage format failed"; }
	fi
	: >"$dir/kafka.log"
	nohup java -Xms256m -Xmx768m -XX:+UseG1GC -Djava.awt.headless=true \
		-Dlog4j2.configurationFile="$HACK/tools/kafka/log4j2.properties" \
		-cp "$(kafka_libs)/*" kafka.Kafka "$dir/server.properties" >>"$dir/kafka.log" 2>&1 &
	echo $! >"$dir/kafka.pid"
	wait_for kafka 120 "$dir/kafka.log" kafka_started "$dir" || { kafka_down; exit 1; }
}

kafka_started() {
	pid_alive "$1/kafka.pid" || return 1
	grep -q "Kafka Server started" "$1/kafka.log" && port_open "$KAFKA_PORT"
}

kafka_down() { stop_pid kafka "$STATE/kafka/kafka.pid"; }

kafka_status() {
	if pid_alive "$STATE/kafka/kafka.pid" && port_open "$KAFKA_PORT"; then
		echo "kafka          running  $KAFKA_BROKERS   (hack/kafka.sh topics --list)"
	else
		echo "kafka          stopped"
		return 1
	fi
}

# ---------------------------------------------------------------- elasticsearch

es_home() { echo "$STATE/elasticsearch/elasticsearch-$ES_VERSION"; }

es_install() {
	local zip=$CACHE/elasticsearch/elasticsearch-$ES_VERSION.zip
	if [[ ! -f $zip ]]; then
		command -v mvn >/dev/null || apt_install maven
		say "downloading Elasticsearch $ES_VERSION (integ-test-zip) from Maven Central (first time only)"
		mkdir -p "$CACHE/elasticsearch"
		mvn -B -f "$HACK/tools/kafka/pom.xml" dependency:copy \
			-Dartifact="org.elasticsearch.distribution.integ-test-zip:elasticsearch:$ES_VERSION:zip" \
			-DoutputDirectory="$CACHE/elasticsearch" >"$CACHE/elasticsearch/mvn.log" 2>&1 ||
			{ tail -n 30 "$CACHE/elasticsearch/mvn.log" >&2; die "mvn could not resolve Elasticsearch $ES_VERSION"; }
	fi
	local home
	home=$(es_home)
	if [[ ! -x $home/bin/elasticsearch ]]; then
		command -v unzip >/dev/null || apt_install unzip
		as_svc mkdir -p "$STATE/elasticsearch"
		say "unpacking Elasticsearch $ES_VERSION into $STATE/elasticsearch"
		rm -rf "$home.tmp" && mkdir -p "$home.tmp"
		unzip -q "$zip" -d "$home.tmp"
		mv "$home.tmp/elasticsearch-$ES_VERSION" "$home" && rm -rf "$home.tmp"
		if [[ $EUID -eq 0 ]]; then chown -R "$SVC_USER:" "$STATE/elasticsearch"; fi
	fi
}

es_java_home() {
	if [[ -n ${KOMMERCE_ES_JAVA_HOME:-} ]]; then echo "$KOMMERCE_ES_JAVA_HOME"; return; fi
	dirname "$(dirname "$(readlink -f "$(command -v java)")")"
}

es_up() {
	command -v java >/dev/null || apt_install openjdk-17-jre-headless
	es_install
	local home dir=$STATE/elasticsearch
	home=$(es_home)
	if pid_alive "$dir/es.pid" && curl -fsS "$ES_URL/_cluster/health" >/dev/null 2>&1; then
		say "elasticsearch already running on $ES_URL"
		return 0
	fi
	as_svc mkdir -p "$dir/data" "$dir/logs"
	as_svc tee "$home/config/elasticsearch.yml" >/dev/null <<-EOF
		cluster.name: kommerce-dev
		node.name: node-1
		network.host: 127.0.0.1
		http.port: $ES_PORT
		transport.port: $ES_TRANSPORT_PORT
		discovery.type: single-node
		path.data: $dir/data
		path.logs: $dir/logs
		xpack.security.enabled: false
		action.destructive_requires_name: false
		cluster.routing.allocation.disk.threshold_enabled: false
	EOF
	rm -f "$dir/es.pid"
	as_svc env ES_JAVA_HOME="$(es_java_home)" ES_JAVA_OPTS="-Xms1g -Xmx1g" \
		"$home/bin/elasticsearch" -d -p "$dir/es.pid" >"$dir/start.log" 2>&1 ||
		{ tail -n 40 "$dir/start.log" "$dir/logs/kommerce-dev.log" >&2 2>/dev/null; die "elasticsearch failed to start"; }
	wait_for elasticsearch 180 "$dir/logs/kommerce-dev.log" \
		curl -fsS "$ES_URL/_cluster/health?wait_for_status=yellow&timeout=1s" || { es_down; exit 1; }
}

es_down() { stop_pid elasticsearch "$STATE/elasticsearch/es.pid"; }

es_status() {
	if curl -fsS "$ES_URL/_cluster/health" >/dev/null 2>&1; then
		echo "elasticsearch  running  $ES_URL   (curl $ES_URL/_cluster/health)"
	else
		echo "elasticsearch  stopped"
		return 1
	fi
}

# ---------------------------------------------------------------- envtest

envtest_assets() { "$HACK/envtest.sh" "$@" | tail -1; }

envtest_up() {
	command -v go >/dev/null || die "envtest binaries are built with Go, which is not on PATH"
	local assets
	assets=$(envtest_assets)
	say "envtest binaries ready in $assets"
}

envtest_down() { say "envtest starts per test package; nothing to stop"; }

envtest_status() {
	local assets
	assets=$(find "$CACHE/envtest" -maxdepth 1 -mindepth 1 -type d 2>/dev/null | sort | tail -1)
	if [[ -n $assets && -x $assets/kube-apiserver && -x $assets/etcd ]]; then
		echo "envtest        built    KUBEBUILDER_ASSETS=$assets"
	else
		echo "envtest        not built"
		return 1
	fi
}

# ---------------------------------------------------------------- stripe-mock

stripe_bin() { echo "$CACHE/bin/stripe-mock-$STRIPE_MOCK_VERSION"; }

stripe_up() {
	local bin dir=$STATE/stripe-mock
	bin=$(stripe_bin)
	if [[ ! -x $bin ]]; then
		say "building stripe-mock $STRIPE_MOCK_VERSION from its Go module (first time only)"
		mkdir -p "$(dirname "$bin")"
		(cd "$HACK/tools/stripe-mock" && CGO_ENABLED=0 go build -trimpath -o "$bin.tmp" github.com/stripe/stripe-mock) && mv "$bin.tmp" "$bin"
	fi
	mkdir -p "$dir"
	if pid_alive "$dir/stripe-mock.pid" && port_open "$STRIPE_PORT"; then
		say "stripe-mock already running on $STRIPE_URL"
		return 0
	fi
	nohup "$bin" -http-addr "127.0.0.1:$STRIPE_PORT" >"$dir/stripe-mock.log" 2>&1 &
	echo $! >"$dir/stripe-mock.pid"
	wait_for stripe-mock 60 "$dir/stripe-mock.log" \
		curl -fsS -u sk_test_123: "$STRIPE_URL/v1/customers?limit=1" || { stripe_down; exit 1; }
}

stripe_down() { stop_pid stripe-mock "$STATE/stripe-mock/stripe-mock.pid"; }

stripe_status() {
	if curl -fsS -u sk_test_123: "$STRIPE_URL/v1/customers?limit=1" >/dev/null 2>&1; then
		echo "stripe-mock    running  $STRIPE_URL   (curl -u sk_test_123: $STRIPE_URL/v1/customers)"
	else
		echo "stripe-mock    stopped"
		return 1
	fi
}

# ---------------------------------------------------------------- onnxruntime
# Install-only, like envtest: the library the inference server loads (hack/onnxruntime.sh).

onnxruntime_up() { "$HACK/onnxruntime.sh" >/dev/null; }
onnxruntime_down() { say "onnxruntime is a library; nothing to stop"; }
onnxruntime_status() {
	local lib
	if lib=$("$HACK/onnxruntime.sh" --check 2>/dev/null); then
		echo "onnxruntime    installed KOMMERCE_ONNXRUNTIME_LIB=$lib"
	else
		echo "onnxruntime    not installed"
		return 1
	fi
}

# ---------------------------------------------------------------- chromium
# Install-only: a headless browser for the tests that check pages as a browser renders
# them (the experiment report). Debian's chromium package; installing it needs root.

chromium_bin() { command -v chromium || true; }
chromium_up() {
	[[ -n $(chromium_bin) ]] && return 0
	[[ $(id -u) == 0 ]] || die "chromium is not installed and installing it needs root: apt-get install chromium"
	say "installing chromium (Debian package, first run only)"
	apt-get update -qq >/dev/null
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium >/dev/null
	[[ -n $(chromium_bin) ]] || die "chromium did not install"
}
chromium_down() { say "chromium is a program; nothing to stop"; }
chromium_status() {
	if [[ -n $(chromium_bin) ]]; then
		echo "chromium       installed KOMMERCE_TEST_CHROMIUM=$(chromium_bin)"
	else
		echo "chromium       not installed"
		return 1
	fi
}

# ---------------------------------------------------------------- seaweedfs
# SeaweedFS's all-in-one `weed mini` (master, volume, filer and S3 gateway in one
# process), built from its Go module; only the S3 gateway is used. Data under
# $STATE/seaweedfs; the S3 user comes from AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY at
# start. Telemetry, WebDAV, the admin UI and the Iceberg/Lance endpoints are off.
# The volume size and count are fixed: left to itself, mini sizes them from the free
# disk space, and with a few GiB free it allowed three 1-GiB volumes, fewer than the
# tests' buckets need at once ("No writable volumes and no free volumes left").
# Volumes are sparse files, so 200 of 64 MiB take only what is written.

seaweedfs_bin() { echo "$CACHE/bin/weed-${SEAWEEDFS_VERSION##*-}"; }

seaweedfs_up() {
	local bin dir=$STATE/seaweedfs
	bin=$(seaweedfs_bin)
	if [[ ! -x $bin ]]; then
		say "building SeaweedFS $SEAWEEDFS_VERSION from its Go module (first time only, several minutes)"
		mkdir -p "$(dirname "$bin")"
		(cd "$HACK/tools/seaweedfs" && CGO_ENABLED=0 go build -trimpath -o "$bin.tmp" github.com/seaweedfs/seaweedfs/weed) && mv "$bin.tmp" "$bin"
	fi
	mkdir -p "$dir/data"
	if pid_alive "$dir/weed.pid" && seaweedfs_ready; then
		say "seaweedfs already running on $S3_URL"
		return 0
	fi
	local p=$S3_PORT
	# The subshell only changes directory (weed writes mini.options there); the
	# background job is weed itself, so the pid file names the process to stop.
	(cd "$dir" || exit 1
	AWS_ACCESS_KEY_ID=$S3_ACCESS_KEY AWS_SECRET_ACCESS_KEY=$S3_SECRET_KEY nohup "$bin" mini -dir="$dir/data" \
		-ip=127.0.0.1 -ip.bind=127.0.0.1 -master.telemetry=false -webdav=false -admin.ui=false \
		-s3.port="$p" -s3.port.grpc=$((p + 7)) -s3.port.iceberg=0 -s3.port.lance=0 \
		-master.port=$((p + 1)) -master.port.grpc=$((p + 2)) -volume.port=$((p + 3)) -volume.port.grpc=$((p + 4)) \
		-filer.port=$((p + 5)) -filer.port.grpc=$((p + 6)) -admin.port=$((p + 8)) -admin.port.grpc=$((p + 9)) -admin.port.legacy=0 \
		-s3.allowDeleteBucketNotEmpty=true -master.volumeSizeLimitMB=64 -volume.max=200 \
		>"$dir/weed.log" 2>&1 &
		echo $! >"$dir/weed.pid")
	wait_for seaweedfs 120 "$dir/weed.log" seaweedfs_ready || { seaweedfs_down; exit 1; }
}

# seaweedfs_ready: the S3 gateway answers (an anonymous request is refused with 403,
# which proves it is up).
seaweedfs_ready() {
	local code
	code=$(curl -s -o /dev/null -w '%{http_code}' "$S3_URL/" 2>/dev/null) || return 1
	[[ $code == 403 || $code == 200 ]]
}

seaweedfs_down() { stop_pid seaweedfs "$STATE/seaweedfs/weed.pid"; }

seaweedfs_status() {
	if seaweedfs_ready; then
		echo "seaweedfs      running  $S3_URL   (S3; access key $S3_ACCESS_KEY, secret $S3_SECRET_KEY)"
	else
		echo "seaweedfs      stopped"
		return 1
	fi
}

# ---------------------------------------------------------------- mailpit
# An SMTP server that keeps what it receives and shows it through a web UI and an HTTP
# API (tests read arrived e-mails there). Built with `go install` from its Go module.

mailpit_bin() { echo "$CACHE/mailpit-$MAILPIT_VERSION/mailpit"; }

mailpit_up() {
	local bin dir=$STATE/mailpit
	bin=$(mailpit_bin)
	if [[ ! -x $bin ]]; then
		command -v go >/dev/null || die "mailpit is built with Go, which is not on PATH"
		say "building mailpit $MAILPIT_VERSION from its Go module (first time only)"
		mkdir -p "$(dirname "$bin")"
		(cd "$(dirname "$bin")" && GOBIN=$(dirname "$bin") CGO_ENABLED=0 go install -trimpath "github.com/axllent/mailpit@$MAILPIT_VERSION") ||
			die "go install github.com/axllent/mailpit@$MAILPIT_VERSION failed"
	fi
	mkdir -p "$dir"
	if pid_alive "$dir/mailpit.pid" && port_open "$MAILPIT_SMTP_PORT" && curl -fsS "$MAILPIT_URL/livez" >/dev/null 2>&1; then
		say "mailpit already running: SMTP $MAILPIT_SMTP, web UI and API $MAILPIT_URL"
		return 0
	fi
	# --max 0 keeps every message (tests of several runs share it, each with its own
	# recipients); accept any SMTP login so clients configured with credentials work.
	nohup "$bin" --smtp "$MAILPIT_SMTP" --listen "127.0.0.1:$MAILPIT_HTTP_PORT" --database "$dir/mailpit.db" \
		--max 0 --smtp-auth-accept-any --smtp-auth-allow-insecure >"$dir/mailpit.log" 2>&1 &
	echo $! >"$dir/mailpit.pid"
	wait_for mailpit 60 "$dir/mailpit.log" curl -fsS "$MAILPIT_URL/livez" || { mailpit_down; exit 1; }
}

mailpit_down() { stop_pid mailpit "$STATE/mailpit/mailpit.pid"; }

mailpit_status() {
	if port_open "$MAILPIT_SMTP_PORT" && curl -fsS "$MAILPIT_URL/livez" >/dev/null 2>&1; then
		echo "mailpit        running  smtp://$MAILPIT_SMTP   (web UI and API $MAILPIT_URL)"
	else
		echo "mailpit        stopped"
		return 1
	fi
}

# ---------------------------------------------------------------- jaeger
# Jaeger v2 (cmd/jaeger of its Go module, pinned in hack/tools/jaeger/go.mod): receives
# OTLP, keeps traces in memory, answers the query API the tracing tests read back.

jaeger_bin() { echo "$CACHE/bin/jaeger-$JAEGER_VERSION"; }

jaeger_up() {
	local bin dir=$STATE/jaeger
	bin=$(jaeger_bin)
	if [[ ! -x $bin ]]; then
		say "building jaeger $JAEGER_VERSION from its Go module (first time only, a few minutes)"
		mkdir -p "$(dirname "$bin")"
		(cd "$HACK/tools/jaeger" && CGO_ENABLED=0 go build -trimpath -o "$bin.tmp" github.com/jaegertracing/jaeger/cmd/jaeger) && mv "$bin.tmp" "$bin"
	fi
	mkdir -p "$dir"
	if pid_alive "$dir/jaeger.pid" && port_open "$JAEGER_QUERY_PORT"; then
		say "jaeger already running on $JAEGER_QUERY_URL"
		return 0
	fi
	JAEGER_OTLP_HTTP_PORT=$JAEGER_OTLP_HTTP_PORT JAEGER_OTLP_GRPC_PORT=$JAEGER_OTLP_GRPC_PORT \
		JAEGER_QUERY_PORT=$JAEGER_QUERY_PORT JAEGER_QUERY_GRPC_PORT=$JAEGER_QUERY_GRPC_PORT JAEGER_HEALTH_PORT=$JAEGER_HEALTH_PORT \
		nohup "$bin" --config "$HACK/tools/jaeger/config.yaml" >"$dir/jaeger.log" 2>&1 &
	echo $! >"$dir/jaeger.pid"
	wait_for jaeger 60 "$dir/jaeger.log" \
		curl -fsS "$JAEGER_QUERY_URL/api/services" || { jaeger_down; exit 1; }
}

jaeger_down() { stop_pid jaeger "$STATE/jaeger/jaeger.pid"; }

jaeger_status() {
	if curl -fsS "$JAEGER_QUERY_URL/api/services" >/dev/null 2>&1; then
		echo "jaeger         running  OTLP $JAEGER_OTLP_URL, query $JAEGER_QUERY_URL"
	else
		echo "jaeger         stopped"
		return 1
	fi
}

# ---------------------------------------------------------------- dispatch

fn_prefix() {
	case $1 in
	postgres) echo postgres ;;
	redis) echo redis ;;
	kafka) echo kafka ;;
	elasticsearch | es) echo es ;;
	envtest) echo envtest ;;
	stripe-mock | stripe) echo stripe ;;
	onnxruntime | ort) echo onnxruntime ;;
	chromium) echo chromium ;;
	jaeger) echo jaeger ;;
	mailpit | smtp) echo mailpit ;;
	seaweedfs | s3) echo seaweedfs ;;
	*) die "unknown service '$1' (known: ${ALL_SERVICES[*]})" ;;
	esac
}

print_env() {
	local s
	for s in "$@"; do
		case $(fn_prefix "$s") in
		postgres)
			echo "export KOMMERCE_TEST_DATABASE_URL='$PG_URL'"
			# The secrets key of `make run`'s database lives beside that database, not in
			# a checkout: every clone on this machine shares the database, so each must
			# open the signing keys and Stripe secrets the others stored (docs/security.md).
			echo "export KOMMERCE_TEST_SECRETS_KEY_FILE='$STATE/dev-secrets.key'"
			;;
		redis) echo "export KOMMERCE_TEST_REDIS_URL='$REDIS_URL'" ;;
		kafka) echo "export KOMMERCE_TEST_KAFKA_BROKERS='$KAFKA_BROKERS'" ;;
		es) echo "export KOMMERCE_TEST_ELASTICSEARCH_URL='$ES_URL'" ;;
		envtest) echo "export KUBEBUILDER_ASSETS='$(envtest_assets --no-kubectl)'" ;;
		stripe) echo "export KOMMERCE_TEST_STRIPE_URL='$STRIPE_URL'" ;;
		jaeger)
			echo "export KOMMERCE_TEST_JAEGER_OTLP_URL='$JAEGER_OTLP_URL'"
			echo "export KOMMERCE_TEST_JAEGER_QUERY_URL='$JAEGER_QUERY_URL'"
			;;
		onnxruntime) echo "export KOMMERCE_ONNXRUNTIME_LIB='$("$HACK/onnxruntime.sh" --path)'" ;;
		chromium) echo "export KOMMERCE_TEST_CHROMIUM='$(chromium_bin)'" ;;
		seaweedfs)
			echo "export KOMMERCE_TEST_S3_URL='$S3_URL'"
			echo "export KOMMERCE_TEST_S3_ACCESS_KEY='$S3_ACCESS_KEY'"
			echo "export KOMMERCE_TEST_S3_SECRET_KEY='$S3_SECRET_KEY'"
			;;
		mailpit)
			echo "export KOMMERCE_TEST_SMTP_ADDR='$MAILPIT_SMTP'"
			echo "export KOMMERCE_TEST_MAILPIT_URL='$MAILPIT_URL'"
			echo "export KOMMERCE_TEST_MAILPIT_BIN='$(mailpit_bin)'"
			;;
		esac
	done
}

main() {
	local cmd=${1:-}
	[[ -n $cmd ]] || { sed -n '2,19p' "$0" | sed 's/^# \{0,1\}//'; exit 2; }
	shift
	local services=("$@")
	((${#services[@]})) || services=("${ALL_SERVICES[@]}")
	local s
	case $cmd in
	up)
		ensure_state
		for s in "${services[@]}"; do
			local t0=$SECONDS
			"$(fn_prefix "$s")_up"
			say "$s up (${s} took $((SECONDS - t0))s)"
		done
		;;
	down)
		for s in "${services[@]}"; do "$(fn_prefix "$s")_down"; done
		;;
	status)
		local rc=0
		for s in "${services[@]}"; do "$(fn_prefix "$s")_status" || rc=1; done
		exit $rc
		;;
	env) print_env "${services[@]}" ;;
	logs)
		case $(fn_prefix "${services[0]}") in
		postgres) tail -n 100 "$STATE/postgres/postgres.log" ;;
		redis) tail -n 100 "$STATE/redis/redis.log" ;;
		kafka) tail -n 100 "$STATE/kafka/kafka.log" ;;
		es) tail -n 100 "$STATE/elasticsearch/logs/kommerce-dev.log" ;;
		stripe) tail -n 100 "$STATE/stripe-mock/stripe-mock.log" ;;
		envtest) echo "envtest logs go to each test's output" ;;
		onnxruntime) echo "onnxruntime is a library; it logs through the inference server" ;;
		chromium) echo "chromium runs per test; its output is in the test's" ;;
		mailpit) tail -n 100 "$STATE/mailpit/mailpit.log" ;;
		seaweedfs) tail -n 100 "$STATE/seaweedfs/weed.log" ;;
		jaeger) tail -n 100 "$STATE/jaeger/jaeger.log" ;;
		esac
		;;
	*) die "unknown command '$cmd' (up, down, status, env, logs)" ;;
	esac
}

main "$@"

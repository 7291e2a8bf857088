#!/usr/bin/env bash
# security.sh replays the attacks of the second security round (issue 16) against a
# running `kommerce api`, black box over HTTP (hack/securitycheck), and fails if any
# is not defended. The server runs with its default limits, throttles and log level
# on a fresh database with two tenants: "seca-<pid>" (seeded, no Stripe keys: the
# attacked shop) and "secb-<pid>" (for cross-tenant attacks; the pid keeps concurrent
# runs' Redis keys and Kafka topics apart), with secrets sealed by a key file so
# that finding 10 (secrets at rest) can be checked in the database.
# Arguments are passed on to securitycheck.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
eval "$(hack/services.sh env postgres redis kafka)"
# A Redis database of its own (3), emptied of these tenants' keys (prefix k:<slug>:)
# before and after.
redis_url=${KOMMERCE_TEST_REDIS_URL%/*}/3
redis_port=${redis_url##*:}
redis_port=${redis_port%%/*}
a=seca-$$
b=secb-$$
flush_tenants() {
	local t
	for t in "$a" "$b"; do
		redis-cli -p "$redis_port" -n 3 --scan --pattern "k:$t:*" | xargs -r redis-cli -p "$redis_port" -n 3 del >/dev/null
	done
}
db=kommerce_e2e_sec_$$
admin_url=$KOMMERCE_TEST_DATABASE_URL
db_url=${admin_url/\/kommerce\?/\/$db?}
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
log=$(mktemp)
data=$(mktemp -d) # Bleve search index and the secrets key file of this run
psql -q "$admin_url" -c "CREATE DATABASE $db"
flush_tenants
cleanup() {
	[[ -n ${pid:-} ]] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
	flush_tenants || true
	psql -q "$admin_url" -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" || true
	hack/kafka.sh topics --delete --topic "kommerce[.]sec[ab]-$$[.].*" >/dev/null 2>&1 || true
	rm -rf "$log" "$data"
}
trap cleanup EXIT
go build -o bin/kommerce ./cmd/kommerce
go build -o bin/securitycheck ./hack/securitycheck
# The defaults are what is under test: no KOMMERCE_* setting of the caller's shell (a
# raised limit, a throttle turned off) reaches the server.
while read -r v; do unset "$v"; done < <(compgen -e | grep '^KOMMERCE_' | grep -v '^KOMMERCE_TEST_')
export KOMMERCE_DATABASE_URL=$db_url
export KOMMERCE_SECRETS_KEY_FILE=$data/secrets.key
(umask 077 && printf 'sec1 %s\n' "$(head -c 32 /dev/urandom | base64)" >"$KOMMERCE_SECRETS_KEY_FILE")
password=security-admin-password
bin/kommerce migrate up --log-level warn
for t in "$a" "$b"; do
	bin/kommerce admin create-tenant "$t" >/dev/null
	printf '%s\n' "$password" | bin/kommerce admin create-user --tenant "$t" --email "admin@$t.test" --role admin --password-stdin >/dev/null
done
bin/kommerce admin seed-demo --tenant "$a" --products 5 --log-level warn >/dev/null
# The checker stands in for a proxy (trusted: 127.0.0.1) that names each client's
# address in X-Forwarded-For, so the hoarding attack's attacker and honest buyers
# are different clients; attacks that send no X-Forwarded-For are all 127.0.0.1.
KOMMERCE_TRUSTED_PROXIES=127.0.0.1 KOMMERCE_HTTP_ADDR=127.0.0.1:$port KOMMERCE_REDIS_URL=$redis_url KOMMERCE_DATA_DIR=$data KOMMERCE_KAFKA_BROKERS=$KOMMERCE_TEST_KAFKA_BROKERS \
	bin/kommerce api >"$log" 2>&1 &
pid=$!
base=http://127.0.0.1:$port
ready=
for _ in $(seq 1 300); do
	if curl -sf "$base/readyz" >/dev/null 2>&1; then ready=1 && break; fi
	kill -0 "$pid" 2>/dev/null || break
	sleep 0.2
done
if [[ -z $ready ]]; then
	echo "security: the API did not become ready; /readyz said: $(curl -s "$base/readyz" 2>&1 | head -c 500)" >&2
	tail -50 "$log" >&2
	exit 1
fi
set +e
bin/securitycheck -base "$base" -tenant-a "$a" -tenant-b "$b" -admin-password "$password" \
	-server-log "$log" -database-url "$db_url" "$@"
rc=$?
set -e
if ((rc != 0)); then
	echo "security: FAILED; the server's log ends with:" >&2
	tail -30 "$log" >&2
fi
exit "$rc"

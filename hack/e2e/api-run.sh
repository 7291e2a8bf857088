#!/usr/bin/env bash
# api-run.sh checks `make run` end to end: hack/run.sh against a fresh database on a
# free port, then every curl line it prints must succeed, and a second seeding must
# create nothing.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
eval "$(hack/services.sh env postgres redis)"
# A Redis database of its own, emptied of this tenant's keys before and after, so a
# `make run` demo on the same Redis (same tenant prefix, other database) never mixes in.
redis_url=${KOMMERCE_TEST_REDIS_URL%/*}/2
redis_port=${redis_url##*:}
redis_port=${redis_port%%/*}
flush_tenant() { redis-cli -p "$redis_port" -n 2 --scan --pattern 'kommerce:demo:*' | xargs -r redis-cli -p "$redis_port" -n 2 del >/dev/null; }
db=kommerce_e2e_run_$$
admin_url=$KOMMERCE_TEST_DATABASE_URL
db_url=${admin_url/\/kommerce\?/\/$db?}
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
out=$(mktemp)
psql -q "$admin_url" -c "CREATE DATABASE $db"
flush_tenant
cleanup() {
	[[ -n ${pid:-} ]] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
	flush_tenant || true
	psql -q "$admin_url" -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" || true
	rm -f "$out"
}
trap cleanup EXIT
go build -o bin/kommerce ./cmd/kommerce
KOMMERCE_DATABASE_URL=$db_url KOMMERCE_REDIS_URL=$redis_url KOMMERCE_HTTP_ADDR=127.0.0.1:$port DEMO_PRODUCTS=${DEMO_PRODUCTS:-200} hack/run.sh >"$out" 2>&1 &
pid=$!
for _ in $(seq 1 300); do
	curl -sf "http://127.0.0.1:$port/readyz" >/dev/null 2>&1 && break
	kill -0 "$pid" 2>/dev/null || { cat "$out"; echo "api-run: hack/run.sh died" >&2; exit 1; }
	sleep 0.2
done
grep -q "products created" "$out" || { cat "$out"; echo "api-run: no seeding line" >&2; exit 1; }
# Run the printed examples in one shell (TOKEN carries over), each must succeed.
mapfile -t lines < <(sed -n 's/^  \(curl\|TOKEN=\)/\1/p' "$out" | sed 's/    #.*$//')
((${#lines[@]} >= 8)) || { cat "$out"; echo "api-run: expected at least 8 examples" >&2; exit 1; }
script=$(mktemp)
{
	echo 'set -e'
	for l in "${lines[@]}"; do
		if [[ $l == *"limit=1000"* ]]; then
			echo "[[ \$($l -o /dev/null -w '%{http_code}') == 400 ]]"
		else
			echo "$l >/dev/null"
		fi
	done
} >"$script"
bash "$script" || { cat "$out"; echo "api-run: a printed example failed; script:" >&2; cat "$script" >&2; exit 1; }
rm -f "$script"
# Seeding again is a no-op.
again=$(KOMMERCE_DATABASE_URL=$db_url bin/kommerce admin seed-demo --tenant demo --products "${DEMO_PRODUCTS:-200}" --log-level warn)
[[ $again == *" 0 products created"* ]] || { echo "api-run: second seed created products: $again" >&2; exit 1; }
echo "api-run: ${#lines[@]} printed examples work; seeding is idempotent"

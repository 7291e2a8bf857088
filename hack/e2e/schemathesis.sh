#!/usr/bin/env bash
# schemathesis.sh fuzzes the running API from its own /openapi.yaml with Schemathesis
# (PyPI, pinned, installed into a venv under ~/.cache/kommerce) with all of its checks:
# no 5xx, only documented statuses, headers and bodies, input outside the schema
# refused, input inside it accepted. It runs against a fresh database with a seeded
# tenant, as an admin so that write operations are exercised too. Bounded: -n examples
# per operation, a few minutes.
#
# One exception, taken from the spec: an operation's x-kommerce-valid-input-refused
# lists statuses with which it refuses schema-valid input, each with the reason (stored
# state such as a product version or an Idempotency-Key, or a rule OpenAPI 3.0 cannot
# state). Only for those operations and statuses does positive_data_acceptance accept
# the refusal; every other check applies to every operation unchanged.
#
# Arguments are passed on to `schemathesis run`, e.g. --include-operation-id deleteProduct
# --report ndjson to look into one operation.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
SCHEMATHESIS_VERSION=4.32.5
EXAMPLES=${SCHEMATHESIS_EXAMPLES:-100}
venv=${KOMMERCE_CACHE_DIR:-$HOME/.cache/kommerce}/venv-schemathesis-$SCHEMATHESIS_VERSION
if [[ ! -x $venv/bin/schemathesis ]]; then
	echo "schemathesis: installing schemathesis==$SCHEMATHESIS_VERSION into $venv" >&2
	python3 -m venv "$venv"
	"$venv/bin/pip" install -q "schemathesis==$SCHEMATHESIS_VERSION"
fi
eval "$(hack/services.sh env postgres redis kafka stripe-mock)"
# A Redis database of its own, emptied of this tenant's keys before and after, so a
# `make run` demo on the same Redis (same tenant prefix, other database) never mixes in.
redis_url=${KOMMERCE_TEST_REDIS_URL%/*}/2
redis_port=${redis_url##*:}
redis_port=${redis_port%%/*}
flush_tenant() { redis-cli -p "$redis_port" -n 2 --scan --pattern 'k:fuzz:*' | xargs -r redis-cli -p "$redis_port" -n 2 del >/dev/null; }
db=kommerce_e2e_st_$$
admin_url=$KOMMERCE_TEST_DATABASE_URL
db_url=${admin_url/\/kommerce\?/\/$db?}
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
log=$(mktemp)
data=$(mktemp -d) # Bleve search index of this run
psql -q "$admin_url" -c "CREATE DATABASE $db"
flush_tenant
cleanup() {
	[[ -n ${pid:-} ]] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
	flush_tenant || true
	psql -q "$admin_url" -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" || true
	hack/kafka.sh topics --delete --topic 'kommerce[.]fuzz[.].*' >/dev/null 2>&1 || true # behaviour events and exposures
	rm -rf "$log" "$data" "${config:-}"
}
trap cleanup EXIT
go build -o bin/kommerce ./cmd/kommerce
export KOMMERCE_DATABASE_URL=$db_url
bin/kommerce migrate up --log-level warn
bin/kommerce admin create-tenant fuzz >/dev/null
printf 'fuzz-admin-password\n' | bin/kommerce admin create-user --tenant fuzz --email admin@fuzz.test --role admin --password-stdin >/dev/null
bin/kommerce admin seed-demo --tenant fuzz --products 20 --log-level warn >/dev/null
# Limits raised so that the fuzzer's many requests and checkouts from one address and
# one account reach the handlers (429 is still an accepted answer everywhere).
KOMMERCE_MAX_UNPAID_ORDERS_PER_ADDRESS=-1 \
	KOMMERCE_HTTP_ADDR=127.0.0.1:$port KOMMERCE_REDIS_URL=$redis_url KOMMERCE_DATA_DIR=$data KOMMERCE_KAFKA_BROKERS=$KOMMERCE_TEST_KAFKA_BROKERS KOMMERCE_USER_RATE=100000 KOMMERCE_USER_BURST=100000 \
	KOMMERCE_TENANT_RATE=100000 KOMMERCE_TENANT_BURST=100000 KOMMERCE_REGISTER_RATE=100000 KOMMERCE_REGISTER_EMAIL_RATE=100000 KOMMERCE_LOGIN_DELAY=0 KOMMERCE_ACCESS_TOKEN_TTL=1h \
	KOMMERCE_STRIPE_API_URL=$KOMMERCE_TEST_STRIPE_URL KOMMERCE_STRIPE_SECRET_KEY=sk_test_fuzz KOMMERCE_STRIPE_WEBHOOK_SECRET=whsec_fuzz bin/kommerce api >"$log" 2>&1 &
pid=$!
base=http://127.0.0.1:$port
for _ in $(seq 1 100); do curl -sf "$base/readyz" >/dev/null 2>&1 && break; sleep 0.1; done
token=$(curl -sf -H 'X-Kommerce-Tenant: fuzz' -H 'Content-Type: application/json' \
	-d '{"email":"admin@fuzz.test","password":"fuzz-admin-password"}' "$base/api/v1/auth/login" | sed -E 's/.*"access_token":"([^"]+)".*/\1/')
[[ -n $token ]] || { cat "$log"; echo "schemathesis: login failed" >&2; exit 1; }
config=$(mktemp)
"$venv/bin/python" - apiserver/openapi.yaml >"$config" <<'PY'
import json, sys, yaml
# positive_data_acceptance's own default, plus the statuses the spec names per operation.
default = ["2xx", "3xx", "401", "403", "404", "409", "429", "5xx"]
spec = yaml.safe_load(open(sys.argv[1]))
for item in spec["paths"].values():
    for op in item.values():
        refused = isinstance(op, dict) and op.get("x-kommerce-valid-input-refused")
        if refused:
            print("[[operations]]")
            print("include-operation-id = " + json.dumps(op["operationId"]))
            print("checks.positive_data_acceptance.expected-statuses = " + json.dumps(default + sorted(refused)))
PY
set +e
timeout 900 "$venv/bin/schemathesis" --config-file "$config" run "$base/openapi.yaml" \
	--checks all \
	-H "X-Kommerce-Tenant: fuzz" -H "Authorization: Bearer $token" \
	-n "$EXAMPLES" --generation-deterministic --request-timeout 10 --no-color "$@"
rc=$?
set -e
if grep -q '"request failed"\|msg="request failed"' "$log"; then
	echo "schemathesis: the server logged failed requests:" >&2
	grep 'request failed' "$log" | head -20 >&2
	rc=1
fi
((rc == 0)) || { echo "schemathesis: FAILED (exit $rc)" >&2; exit "$rc"; }
echo "schemathesis: every check passed"

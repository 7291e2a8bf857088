#!/usr/bin/env bash
# api-run.sh checks `make run` end to end: hack/run.sh (kommerce dev on its embedded
# Kafka and Bleve) against a fresh database and data directory on a free port, then
# every curl line it prints must succeed, search, suggestions, events and
# recommendations must answer with content, and a second seeding must create nothing.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
eval "$(hack/services.sh env postgres)"
db=kommerce_e2e_run_$$
admin_url=$KOMMERCE_TEST_DATABASE_URL
db_url=${admin_url/\/kommerce\?/\/$db?}
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
out=$(mktemp)
data=$(mktemp -d)
psql -q "$admin_url" -c "CREATE DATABASE $db"
cleanup() {
	[[ -n ${pid:-} ]] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
	psql -q "$admin_url" -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" || true
	rm -rf "$out" "$data"
}
trap cleanup EXIT
go build -o bin/kommerce ./cmd/kommerce
env -u KOMMERCE_REDIS_URL -u KOMMERCE_KAFKA_BROKERS -u KOMMERCE_ELASTICSEARCH_URL -u KOMMERCE_INFERENCE_URL \
	KOMMERCE_DATABASE_URL=$db_url KOMMERCE_DATA_DIR=$data KOMMERCE_HTTP_ADDR=127.0.0.1:$port DEMO_PRODUCTS=${DEMO_PRODUCTS:-200} hack/run.sh >"$out" 2>&1 &
pid=$!
for _ in $(seq 1 300); do
	curl -sf "http://127.0.0.1:$port/readyz" >/dev/null 2>&1 && break
	kill -0 "$pid" 2>/dev/null || { cat "$out"; echo "api-run: hack/run.sh died" >&2; exit 1; }
	sleep 0.2
done
grep -q "products created" "$out" || { cat "$out"; echo "api-run: no seeding line" >&2; exit 1; }
# Run the printed examples in one shell (TOKEN carries over), each must succeed.
mapfile -t lines < <(sed -En 's/^  (curl|printf|[A-Z_]+=\$\(curl)/\1/p' "$out" | sed 's/    #.*$//')
((${#lines[@]} >= 26)) || { cat "$out"; echo "api-run: expected at least 26 examples" >&2; exit 1; }
script=$(mktemp)
{
	echo 'set -e'
	# Answers that must carry content, not just a 2xx: search (also with a typo and a
	# synonym), suggestions, events and recommendations.
	declare -A want=(
		["q=wireles+headphnes"]='"hits":\[\{"id"' ["q=frying+pan"]='"name":"[^"]*Skillet'
		["suggest?q=cast+ir"]='"text":"[^"]*Cast Iron' ["/api/v1/events"]='"accepted":1'
		["recommendations?"]='"items":\[\{"id"'
		# Stock, carts and checkout: a priced cart, the order, a replayed retry, the stock
		# the order holds, and the staff's step to paid.
		['carts/$CART_ID -H']='"lines":\[\{"id"[^]]*"quantity":2.*"tax":[1-9]' ['orders/$ORDER -H']='"status":"pending_payment"'
		['curl -sf -i']='Idempotent-Replayed: true' ['stock/$SKU']='"on_hand":50' ['"to":"paid"']='"status":"paid"'
		# Payments (printed when stripe-mock runs): the same intent again, Stripe's signed
		# event applied then reported as a duplicate, the order paid, the refund made
		# through stripe-mock and the records showing it.
		['X-Request-Id: pay-again']='"intent_id":"pi_[^"]+".*"client_secret":"[^"]+"' ['X-Request-Id: first-delivery']='"event_id":"evt_demo_[0-9]+"\}'
		['X-Request-Id: redelivery']='"duplicate":true' ['orders/$PORDER -H']='"status":"paid"'
		['$PORDER/refunds']='"status":"succeeded"' ['X-Request-Id: payment-records']='"refunds":\[\{"id"[^]]*"status":"succeeded"'
	)
	for l in "${lines[@]}"; do
		if [[ $l == *"limit=1000"* ]]; then
			echo "[[ \$($l -o /dev/null -w '%{http_code}') == 400 ]]"
			continue
		fi
		if [[ $l == *'"to":"shipped"'* ]]; then
			echo "[[ \$($l -o /dev/null -w '%{http_code}') == 409 ]]"
			continue
		fi
		if [[ $l == *'v1=forged'* ]]; then
			echo "[[ \$($l -o /dev/null -w '%{http_code}') == 400 ]]"
			continue
		fi
		check=
		for k in "${!want[@]}"; do
			[[ $l == *"$k"* ]] && check=${want[$k]}
		done
		if [[ -n $check && ! $l =~ ^[A-Z_0-9]+= ]]; then # an assignment piped to grep would be lost
			printf '%s | grep -Eq %q || { echo %q >&2; false; }\n' "$l" "$check" "api-run: the answer lacks $check"
		else
			echo "$l >/dev/null"
		fi
	done
	echo '[[ $PRODUCT =~ ^[0-9a-f-]{36}$ && $ORDER =~ ^[0-9a-f-]{36}$ && -n $SKU && -n $CART_TOKEN ]]'
	# With stripe-mock the payment examples must have been printed and have run.
	if curl -sf -u sk_test_123: "${KOMMERCE_TEST_STRIPE_URL:-http://127.0.0.1:12111}/v1/customers?limit=1" >/dev/null 2>&1; then
		echo '[[ $PI =~ ^pi_ && $PORDER =~ ^[0-9a-f-]{36}$ ]] || { echo "api-run: stripe-mock runs but no payment example did" >&2; false; }'
	fi
} >"$script"
bash -x "$script" 2>"$script.trace" || { tail -5 "$script.trace" >&2; cat "$out"; echo "api-run: a printed example failed; script:" >&2; cat "$script" >&2; exit 1; }
rm -f "$script"
# The examples show up in the API's own metrics (apiserver/metrics).
metrics=$(curl -sf "http://127.0.0.1:$port/metrics") || { echo "api-run: /metrics did not answer" >&2; exit 1; }
for series in 'kommerce_api_rate_limit_checks_total{result="allowed"}' 'kommerce_api_checkouts_total{result="created"}' \
	'kommerce_api_checkouts_total{result="replayed"}' 'kommerce_api_recommendations_total{'; do
	grep -F "$series" <<<"$metrics" | grep -Eq ' [1-9][0-9]*(\.[0-9]+)?(e\+[0-9]+)?$' ||
		{ echo "api-run: /metrics has no non-zero $series" >&2; exit 1; }
done
# Seeding again is a no-op.
again=$(KOMMERCE_DATABASE_URL=$db_url bin/kommerce admin seed-demo --tenant demo --products "${DEMO_PRODUCTS:-200}" --log-level warn)
[[ $again == *" 0 products created"* ]] || { echo "api-run: second seed created products: $again" >&2; exit 1; }
echo "api-run: ${#lines[@]} printed examples work against kommerce dev; seeding is idempotent"

#!/usr/bin/env bash
# run.sh is `make run`: it starts PostgreSQL and Redis, applies the migrations, seeds a
# demo tenant (an admin, a shopper and ~1,000 products — idempotent, so a second run
# changes nothing), prints requests to try and runs the API in the foreground.
#
# Settings: KOMMERCE_HTTP_ADDR (default :8080), KOMMERCE_DATABASE_URL, KOMMERCE_REDIS_URL,
# DEMO_PRODUCTS (default 1000), DEMO_ADMIN_PASSWORD, DEMO_SHOPPER_PASSWORD.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
hack/services.sh up postgres redis
eval "$(hack/services.sh env postgres redis)"
export KOMMERCE_DATABASE_URL=${KOMMERCE_DATABASE_URL:-$KOMMERCE_TEST_DATABASE_URL}
export KOMMERCE_REDIS_URL=${KOMMERCE_REDIS_URL:-$KOMMERCE_TEST_REDIS_URL}
export KOMMERCE_HTTP_ADDR=${KOMMERCE_HTTP_ADDR:-:8080}
export KOMMERCE_LOG_FORMAT=${KOMMERCE_LOG_FORMAT:-text}
products=${DEMO_PRODUCTS:-1000}
admin_pw=${DEMO_ADMIN_PASSWORD:-demo-admin-password}
shopper_pw=${DEMO_SHOPPER_PASSWORD:-demo-shopper-password}
port=${KOMMERCE_HTTP_ADDR##*:}
base=http://127.0.0.1:$port

bin/kommerce migrate up --log-level warn
bin/kommerce admin create-tenant demo --name "Demo Shop" --if-not-exists
printf '%s\n' "$admin_pw" | bin/kommerce admin create-user --tenant demo --email admin@demo.test --name "Demo Admin" --role admin --password-stdin --if-not-exists
printf '%s\n' "$shopper_pw" | bin/kommerce admin create-user --tenant demo --email shopper@demo.test --name "Demo Shopper" --role customer --password-stdin --if-not-exists
# Requests to localhost need no X-Kommerce-Tenant: the host maps to the demo storefront.
bin/kommerce admin add-host --tenant demo --host localhost --origin http://localhost:3000,http://127.0.0.1:3000 >/dev/null
bin/kommerce admin seed-demo --tenant demo --products "$products" --log-level warn

cat <<EOT

kommerce API starting on $base  (Ctrl-C stops it; hack/services.sh down stops the services)
Swagger UI: $base/docs    OpenAPI document: $base/openapi.yaml
Demo tenant "demo": admin@demo.test / $admin_pw (admin), shopper@demo.test / $shopper_pw (customer)

Try (each line works as is in bash):
  curl -sf $base/readyz
  curl -sf -H 'X-Kommerce-Tenant: demo' '$base/api/v1/products?limit=2&sort=name'
  curl -sf http://localhost:$port/api/v1/categories
  TOKEN=\$(curl -sf -H 'X-Kommerce-Tenant: demo' -H 'Content-Type: application/json' -d '{"email":"admin@demo.test","password":"$admin_pw"}' $base/api/v1/auth/login | sed -E 's/.*"access_token":"([^"]+)".*/\1/')
  curl -sf -H 'X-Kommerce-Tenant: demo' -H "Authorization: Bearer \$TOKEN" $base/api/v1/me
  curl -sf -H 'X-Kommerce-Tenant: demo' -H "Authorization: Bearer \$TOKEN" -H 'Content-Type: application/json' -d '{"name":"Travel Mug","status":"published","variants":[{"sku":"MUG-'\$RANDOM'","prices":[{"currency":"EUR","amount":1999}]}]}' $base/api/v1/products
  curl -sf -H 'X-Kommerce-Tenant: demo' '$base/api/v1/products?q=mug&limit=5'
  curl -s -H 'X-Kommerce-Tenant: demo' '$base/api/v1/products?limit=1000'    # 400: page size above 100
  curl -s $base/metrics | grep kommerce_http_requests_total

EOT
exec bin/kommerce api

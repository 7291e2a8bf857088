#!/usr/bin/env bash
# run.sh is `make run`: it starts PostgreSQL (the one service the platform cannot embed),
# prints requests to try and runs `kommerce dev` in the foreground: migrations, the API,
# the outbox relay and search indexer on the in-process Kafka and Bleve (state in
# .kommerce/), and a demo tenant (an admin, a shopper and ~1,000 products — seeded
# idempotently, so a second run changes nothing).
#
# Settings: KOMMERCE_HTTP_ADDR (default :8080), KOMMERCE_DATABASE_URL, KOMMERCE_DATA_DIR,
# and to use real services instead of the embedded ones KOMMERCE_KAFKA_BROKERS,
# KOMMERCE_ELASTICSEARCH_URL, KOMMERCE_REDIS_URL, KOMMERCE_INFERENCE_URL;
# DEMO_PRODUCTS (default 1000), DEMO_ADMIN_PASSWORD, DEMO_SHOPPER_PASSWORD.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
hack/services.sh up postgres
eval "$(hack/services.sh env postgres)"
export KOMMERCE_DATABASE_URL=${KOMMERCE_DATABASE_URL:-$KOMMERCE_TEST_DATABASE_URL}
export KOMMERCE_HTTP_ADDR=${KOMMERCE_HTTP_ADDR:-:8080}
export KOMMERCE_LOG_FORMAT=${KOMMERCE_LOG_FORMAT:-text}
export KOMMERCE_DEMO_PRODUCTS=${DEMO_PRODUCTS:-1000}
export KOMMERCE_DEMO_ADMIN_PASSWORD=${DEMO_ADMIN_PASSWORD:-demo-admin-password}
export KOMMERCE_DEMO_SHOPPER_PASSWORD=${DEMO_SHOPPER_PASSWORD:-demo-shopper-password}
admin_pw=$KOMMERCE_DEMO_ADMIN_PASSWORD
shopper_pw=$KOMMERCE_DEMO_SHOPPER_PASSWORD
port=${KOMMERCE_HTTP_ADDR##*:}
base=http://127.0.0.1:$port

cat <<EOT

kommerce dev starting on $base  (ready when curl $base/readyz says so; Ctrl-C stops it)
Swagger UI: $base/docs    OpenAPI document: $base/openapi.yaml
Demo tenant "demo": admin@demo.test / $admin_pw (admin), shopper@demo.test / $shopper_pw (customer)
Requests to localhost need no X-Kommerce-Tenant: the host maps to the demo storefront.

Try (each line works as is in bash):
  curl -sf $base/readyz
  curl -sf -H 'X-Kommerce-Tenant: demo' '$base/api/v1/products?limit=2&sort=name'
  curl -sf http://localhost:$port/api/v1/categories
  TOKEN=\$(curl -sf -H 'X-Kommerce-Tenant: demo' -H 'Content-Type: application/json' -d '{"email":"admin@demo.test","password":"$admin_pw"}' $base/api/v1/auth/login | sed -E 's/.*"access_token":"([^"]+)".*/\1/')
  curl -sf -H 'X-Kommerce-Tenant: demo' -H "Authorization: Bearer \$TOKEN" $base/api/v1/me
  curl -sf -H 'X-Kommerce-Tenant: demo' -H "Authorization: Bearer \$TOKEN" -H 'Content-Type: application/json' -d '{"name":"Travel Mug","status":"published","variants":[{"sku":"MUG-'\$RANDOM'","prices":[{"currency":"EUR","amount":1999}]}]}' $base/api/v1/products
  curl -sf -H 'X-Kommerce-Tenant: demo' '$base/api/v1/products?q=mug&limit=5'
  curl -s -H 'X-Kommerce-Tenant: demo' '$base/api/v1/products?limit=1000'    # 400: page size above 100

Stock, a cart and a checkout (a guest cart is reached with its token; staff move the order on):
  SKU=\$(curl -sf -H 'X-Kommerce-Tenant: demo' '$base/api/v1/products?limit=1&sort=name' | sed -E 's/.*"sku":"([^"]+)".*/\1/')
  curl -sf -X PUT -H 'X-Kommerce-Tenant: demo' -H "Authorization: Bearer \$TOKEN" -H 'Content-Type: application/json' -d '{"warehouse":"main","on_hand":50,"reason":"delivery"}' $base/api/v1/stock/\$SKU
  CART=\$(curl -sf -X POST -H 'X-Kommerce-Tenant: demo' $base/api/v1/carts); CART_ID=\$(echo "\$CART" | sed -E 's/.*"id":"([^"]+)".*/\1/'); CART_TOKEN=\$(echo "\$CART" | sed -E 's/.*"token":"([^"]+)".*/\1/')
  curl -sf -H 'X-Kommerce-Tenant: demo' -H "X-Cart-Token: \$CART_TOKEN" -H 'Content-Type: application/json' -d '{"sku":"'\$SKU'","quantity":2}' $base/api/v1/carts/\$CART_ID/items
  curl -sf $base/api/v1/carts/\$CART_ID -H 'X-Kommerce-Tenant: demo' -H "X-Cart-Token: \$CART_TOKEN"    # priced now: lines, shipping, 20% VAT, total
  ORDER=\$(curl -sf -H 'X-Kommerce-Tenant: demo' -H "X-Cart-Token: \$CART_TOKEN" -H "Idempotency-Key: \$CART_ID" -H 'Content-Type: application/json' -d '{"email":"guest@example.com","shipping_address":{"country":"DE"}}' $base/api/v1/carts/\$CART_ID/checkout | sed -E 's/^\{"id":"([^"]+)".*/\1/')
  curl -sf -i -H 'X-Kommerce-Tenant: demo' -H "X-Cart-Token: \$CART_TOKEN" -H "Idempotency-Key: \$CART_ID" -H 'Content-Type: application/json' -d '{"email":"guest@example.com","shipping_address":{"country":"DE"}}' $base/api/v1/carts/\$CART_ID/checkout    # a retry: the same order, Idempotent-Replayed: true
  curl -sf $base/api/v1/orders/\$ORDER -H 'X-Kommerce-Tenant: demo' -H "X-Cart-Token: \$CART_TOKEN"
  curl -sf -H 'X-Kommerce-Tenant: demo' -H "Authorization: Bearer \$TOKEN" $base/api/v1/stock/\$SKU    # staff: on hand, reserved, available
  curl -sf -H 'X-Kommerce-Tenant: demo' -H "Authorization: Bearer \$TOKEN" -H 'Content-Type: application/json' -d '{"to":"paid","reason":"paid at the counter"}' $base/api/v1/orders/\$ORDER/transitions
  curl -s -H 'X-Kommerce-Tenant: demo' -H "Authorization: Bearer \$TOKEN" -H 'Content-Type: application/json' -d '{"to":"shipped"}' $base/api/v1/orders/\$ORDER/transitions    # 409 invalid_transition: fulfil first

Search, behaviour events and recommendations:
  curl -sf -H 'X-Kommerce-Tenant: demo' '$base/api/v1/search?q=wireles+headphnes&limit=3'    # typos are tolerated
  curl -sf -H 'X-Kommerce-Tenant: demo' '$base/api/v1/search?q=frying+pan&sort=price_asc&limit=3'    # demo synonym: frying pan = skillet
  curl -sf -H 'X-Kommerce-Tenant: demo' '$base/api/v1/search?q=merino&attr.color=Navy&max_price=10000&limit=3'    # filters; facets count the whole result
  curl -sf -H 'X-Kommerce-Tenant: demo' '$base/api/v1/search/suggest?q=cast+ir'
  PRODUCT=\$(curl -sf -H 'X-Kommerce-Tenant: demo' '$base/api/v1/search?q=skillet&limit=1' | sed -E 's/.*"id":"([^"]+)".*/\1/')
  curl -sf -H 'X-Kommerce-Tenant: demo' -H 'Content-Type: application/json' -d '{"type":"view","session_id":"s-123","product_id":"'\$PRODUCT'"}' $base/api/v1/events
  curl -sf -H 'X-Kommerce-Tenant: demo' "$base/api/v1/recommendations?context=product:\$PRODUCT&session_id=s-123&limit=3"
  curl -s $base/metrics | grep kommerce_http_requests_total

EOT
exec bin/kommerce dev

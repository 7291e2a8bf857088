#!/usr/bin/env bash
# run.sh is `make run`: it starts PostgreSQL (the one service the platform cannot embed),
# prints requests to try and runs `kommerce dev` in the foreground: migrations, the API,
# the outbox relay and search indexer on the in-process Kafka and Bleve (state in
# .kommerce/), and a demo tenant (an admin, a shopper and ~1,000 products — seeded
# idempotently, so a second run changes nothing).
#
# Settings: KOMMERCE_HTTP_ADDR (default :8080), KOMMERCE_DATABASE_URL, KOMMERCE_DATA_DIR,
# KOMMERCE_SECRETS_KEY_FILE (default: beside the local PostgreSQL's state, shared by every checkout),
# and to use real services instead of the embedded ones KOMMERCE_KAFKA_BROKERS,
# KOMMERCE_ELASTICSEARCH_URL, KOMMERCE_REDIS_URL, KOMMERCE_INFERENCE_URL;
# DEMO_PRODUCTS (default 1000), DEMO_ADMIN_PASSWORD, DEMO_SHOPPER_PASSWORD.
# When stripe-mock answers (hack/services.sh up stripe-mock), payments run against it
# with demo keys (KOMMERCE_STRIPE_API_URL, KOMMERCE_STRIPE_SECRET_KEY,
# KOMMERCE_STRIPE_WEBHOOK_SECRET override them) and payment examples are printed.
# Import files, export files and product images go to <data-dir>/media, or to the S3
# bucket "kommerce" when SeaweedFS answers (hack/services.sh up seaweedfs;
# KOMMERCE_S3_ENDPOINT and its keys override it); examples of both are printed.
# E-mails go to mailpit (hack/services.sh up mailpit, tried here; KOMMERCE_SMTP_ADDR
# overrides it, NO_MAILPIT=1 skips it): its web UI shows every e-mail sent. Without
# it, `make run` works the same and sends no e-mail. Webhook endpoints on loopback are
# allowed (KOMMERCE_WEBHOOKS_ALLOW_LOOPBACK=false refuses them as production does)
# and failed deliveries are retried after 1 s, doubling (KOMMERCE_WEBHOOK_BACKOFF).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
hack/services.sh up postgres
eval "$(hack/services.sh env postgres)"
export KOMMERCE_DATABASE_URL=${KOMMERCE_DATABASE_URL:-$KOMMERCE_TEST_DATABASE_URL}
mail_ui=
if [[ -z ${KOMMERCE_SMTP_ADDR:-} && -z ${NO_MAILPIT:-} ]]; then
	if hack/services.sh up mailpit; then
		eval "$(hack/services.sh env mailpit)"
		export KOMMERCE_SMTP_ADDR=$KOMMERCE_TEST_SMTP_ADDR
		mail_ui=$KOMMERCE_TEST_MAILPIT_URL
	else
		echo "run: mailpit did not start; kommerce dev runs without sending e-mail" >&2
	fi
fi
export KOMMERCE_SMTP_FROM=${KOMMERCE_SMTP_FROM:-demo shop <shop@demo.test>}
export KOMMERCE_WEBHOOKS_ALLOW_LOOPBACK=${KOMMERCE_WEBHOOKS_ALLOW_LOOPBACK:-true}
export KOMMERCE_WEBHOOK_BACKOFF=${KOMMERCE_WEBHOOK_BACKOFF:-1s} # retries within seconds on a laptop (10s in production)
export KOMMERCE_SECRETS_KEY_FILE=${KOMMERCE_SECRETS_KEY_FILE:-$KOMMERCE_TEST_SECRETS_KEY_FILE}
export KOMMERCE_HTTP_ADDR=${KOMMERCE_HTTP_ADDR:-:8080}
export KOMMERCE_MAIL_LINK_BASE=${KOMMERCE_MAIL_LINK_BASE:-http://localhost:${KOMMERCE_HTTP_ADDR##*:}}
export KOMMERCE_LOG_FORMAT=${KOMMERCE_LOG_FORMAT:-text}
export KOMMERCE_DEMO_PRODUCTS=${DEMO_PRODUCTS:-1000}
export KOMMERCE_DEMO_ADMIN_PASSWORD=${DEMO_ADMIN_PASSWORD:-demo-admin-password}
export KOMMERCE_DEMO_SHOPPER_PASSWORD=${DEMO_SHOPPER_PASSWORD:-demo-shopper-password}
admin_pw=$KOMMERCE_DEMO_ADMIN_PASSWORD
shopper_pw=$KOMMERCE_DEMO_SHOPPER_PASSWORD
port=${KOMMERCE_HTTP_ADDR##*:}
base=http://127.0.0.1:$port
stripe_url=${KOMMERCE_STRIPE_API_URL:-http://127.0.0.1:12111}
if curl -sf -u sk_test_123: "$stripe_url/v1/customers?limit=1" >/dev/null 2>&1; then
	export KOMMERCE_STRIPE_API_URL=$stripe_url
	export KOMMERCE_STRIPE_SECRET_KEY=${KOMMERCE_STRIPE_SECRET_KEY:-sk_test_kommercedemo}
	export KOMMERCE_STRIPE_WEBHOOK_SECRET=${KOMMERCE_STRIPE_WEBHOOK_SECRET:-whsec_kommerce_demo}
else
	stripe_url=
fi

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
  curl -sf -H 'X-Kommerce-Tenant: demo' "$base/api/v1/recommendations?context=product:\$PRODUCT&session_id=s-123&limit=3"    # "source":"model": the demo model, trained at first start
  curl -s $base/metrics | grep kommerce_http_requests_total

EOT
if [[ -n $stripe_url ]]; then
	whsec=$KOMMERCE_STRIPE_WEBHOOK_SECRET
	hook="-H 'Content-Type: application/json' -H \"Stripe-Signature: t=\$TS,v1=\$(printf '%s.%s' \"\$TS\" \"\$EVENT\" | openssl dgst -sha256 -hmac '$whsec' | sed 's/.* //')\" --data-binary \"\$EVENT\" $base/api/v1/payments/stripe/webhook"
	cat <<EOT
Payments: a PaymentIntent per order on stripe-mock ($stripe_url), Stripe's events signed with the webhook secret $whsec:
  PCART=\$(curl -sf -X POST -H 'X-Kommerce-Tenant: demo' $base/api/v1/carts); PCART_ID=\$(echo "\$PCART" | sed -E 's/.*"id":"([^"]+)".*/\1/'); PCART_TOKEN=\$(echo "\$PCART" | sed -E 's/.*"token":"([^"]+)".*/\1/')
  curl -sf -H 'X-Kommerce-Tenant: demo' -H "X-Cart-Token: \$PCART_TOKEN" -H 'Content-Type: application/json' -d '{"sku":"'\$SKU'","quantity":1}' $base/api/v1/carts/\$PCART_ID/items
  PORDER=\$(curl -sf -H 'X-Kommerce-Tenant: demo' -H "X-Cart-Token: \$PCART_TOKEN" -H "Idempotency-Key: \$PCART_ID" -H 'Content-Type: application/json' -d '{"email":"guest@example.com"}' $base/api/v1/carts/\$PCART_ID/checkout | sed -E 's/^\{"id":"([^"]+)".*/\1/')
  PAY=\$(curl -sf -X POST -H 'X-Kommerce-Tenant: demo' -H "X-Cart-Token: \$PCART_TOKEN" $base/api/v1/orders/\$PORDER/payments); echo "\$PAY"; PI=\$(echo "\$PAY" | sed -E 's/.*"intent_id":"([^"]+)".*/\1/'); AMOUNT=\$(echo "\$PAY" | sed -E 's/.*"amount":([0-9]+),.*/\1/'); TS=\$(date +%s); EVENT='{"id":"evt_demo_'\$TS\$RANDOM'","object":"event","type":"payment_intent.succeeded","created":'\$TS',"data":{"object":{"id":"'\$PI'","object":"payment_intent","status":"succeeded","amount":'\$AMOUNT',"amount_received":'\$AMOUNT',"currency":"eur"}}}'    # the intent and the client_secret for Stripe.js
  curl -sf -X POST -H 'X-Request-Id: pay-again' -H 'X-Kommerce-Tenant: demo' -H "X-Cart-Token: \$PCART_TOKEN" $base/api/v1/orders/\$PORDER/payments    # asked again: the same intent (200), never a second one
  curl -sf -H 'X-Request-Id: first-delivery' $hook    # Stripe's signed payment_intent.succeeded: the order is paid
  curl -sf -H 'X-Request-Id: redelivery' $hook    # delivered again: "duplicate":true, nothing changes
  curl -s -H 'Content-Type: application/json' -H "Stripe-Signature: t=\$TS,v1=forged" --data-binary "\$EVENT" $base/api/v1/payments/stripe/webhook    # 400 invalid_signature
  curl -sf $base/api/v1/orders/\$PORDER -H 'X-Kommerce-Tenant: demo' -H "X-Cart-Token: \$PCART_TOKEN"    # "status":"paid", by payment:stripe
  curl -sf -H 'X-Kommerce-Tenant: demo' -H "Authorization: Bearer \$TOKEN" -H "Idempotency-Key: refund-\$PORDER" -H 'Content-Type: application/json' -d '{"reason":"requested_by_customer"}' $base/api/v1/orders/\$PORDER/refunds    # staff: refund it all through Stripe; the order is refunded
  curl -sf -H 'X-Request-Id: payment-records' -H 'X-Kommerce-Tenant: demo' -H "Authorization: Bearer \$TOKEN" $base/api/v1/orders/\$PORDER/payments    # intents, charges, refunds, disputes; no secrets

EOT
fi
# Back office: imports, exports and product media (docs/imports-exports.md, docs/media.md).
s3_url=${KOMMERCE_S3_ENDPOINT:-http://127.0.0.1:58333}
if [[ $(curl -s -o /dev/null -w '%{http_code}' "$s3_url/" 2>/dev/null || true) =~ ^(200|403)$ ]]; then
	export KOMMERCE_S3_ENDPOINT=$s3_url
	export KOMMERCE_S3_ACCESS_KEY=${KOMMERCE_S3_ACCESS_KEY:-kommerce}
	export KOMMERCE_S3_SECRET_KEY=${KOMMERCE_S3_SECRET_KEY:-kommerce-dev-secret}
	media_where="the S3 bucket ${KOMMERCE_S3_BUCKET:-kommerce} at $s3_url (SeaweedFS)"
else
	media_where="the folder ${KOMMERCE_DATA_DIR:-.kommerce}/media (hack/services.sh up seaweedfs to use S3)"
fi
cat <<EOT
Imports, exports and product images (files in $media_where); needs \$TOKEN and \$SKU from above:
  printf 'sku,name,status,currency,price\nIMP-1,Imported mug,published,EUR,12.50\nIMP-2,,draft,EUR,3\nIMP-1,Twice,draft,EUR,1\nIMP-3,Bad price,draft,EUR,1;50\n' | tee /tmp/catalog.csv
  JOB=\$(curl -sf -H 'X-Kommerce-Tenant: demo' -H "Authorization: Bearer \$TOKEN" -H 'Content-Type: text/csv' --data-binary @/tmp/catalog.csv $base/api/v1/imports | sed -E 's/^\{"id":"([^"]+)".*/\1/')
  curl -sf -H 'X-Kommerce-Tenant: demo' -H "Authorization: Bearer \$TOKEN" $base/api/v1/jobs/\$JOB    # succeeded: 1 created, 3 rejected rows with row, column and reason
  EXP=\$(curl -sf -H 'X-Kommerce-Tenant: demo' -H "Authorization: Bearer \$TOKEN" -H 'Content-Type: application/json' -d '{"entity":"products","format":"csv"}' $base/api/v1/exports | sed -E 's/^\{"id":"([^"]+)".*/\1/')
  curl -sf -H 'X-Kommerce-Tenant: demo' -H "Authorization: Bearer \$TOKEN" $base/api/v1/jobs/\$EXP/download | head -3    # once the job says succeeded
  PRODUCT=\$(curl -sf -H 'X-Kommerce-Tenant: demo' -H "Authorization: Bearer \$TOKEN" '$base/api/v1/products?limit=1&sort=name' | sed -E 's/.*"items":\[\{"id":"([^"]+)".*/\1/')
  IMG=\$(curl -sf -H 'X-Kommerce-Tenant: demo' -H "Authorization: Bearer \$TOKEN" -F file=@docs/images/product-sample.jpg $base/api/v1/products/\$PRODUCT/images); echo "\$IMG"    # 201: the image and its thumbnails (JPEG and WebP)
  URL=\$(echo "\$IMG" | sed -E 's/.*"url":"([^"]+)".*/\1/'); curl -s -o /tmp/product.jpg -w '%{http_code} %{content_type} %{size_download} bytes\n' \$URL; xdg-open /tmp/product.jpg 2>/dev/null || echo "open /tmp/product.jpg, or \$URL in a browser"    # served through the API, EXIF stripped
  curl -s -H 'X-Kommerce-Tenant: demo' -H "Authorization: Bearer \$TOKEN" -F file=@hack/run.sh $base/api/v1/products/\$PRODUCT/images    # 415: not an image

EOT
if [[ -n $mail_ui ]]; then
	cat <<EOT
E-mails (order created/paid/shipped/refunded, password reset, verification) go to mailpit: open $mail_ui
  curl -sf '$mail_ui/api/v1/messages?limit=5'    # the latest e-mails, as JSON
  curl -sf -H 'X-Kommerce-Tenant: demo' -H 'Content-Type: application/json' -d '{"email":"shopper@demo.test"}' $base/api/v1/auth/password-reset    # 202; the reset link arrives in mailpit

EOT
fi
cat <<EOT
Webhooks (staff register endpoints; deliveries are signed, see docs/webhooks.md):
  HOOK=\$(curl -sf -H 'X-Kommerce-Tenant: demo' -H "Authorization: Bearer \$TOKEN" -H 'Content-Type: application/json' -d '{"url":"http://127.0.0.1:9999/hooks","event_types":["order.created","order.transitioned"]}' $base/api/v1/webhooks); echo "\$HOOK"    # the answer holds the signing secret
  curl -sf -H 'X-Kommerce-Tenant: demo' -H "Authorization: Bearer \$TOKEN" $base/api/v1/webhooks/\$(echo "\$HOOK" | sed -E 's/^\{"id":"([^"]+)".*/\1/')/deliveries    # attempts, status, latency

EOT
exec bin/kommerce dev

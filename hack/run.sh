#!/usr/bin/env bash
# run.sh is `make run`: it starts what the platform needs on this machine, applies the
# migrations and runs the API in the foreground, printing what to try.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
hack/services.sh up postgres redis
eval "$(hack/services.sh env postgres redis)"
export KOMMERCE_DATABASE_URL=${KOMMERCE_DATABASE_URL:-$KOMMERCE_TEST_DATABASE_URL}
export KOMMERCE_REDIS_URL=${KOMMERCE_REDIS_URL:-$KOMMERCE_TEST_REDIS_URL}
export KOMMERCE_HTTP_ADDR=${KOMMERCE_HTTP_ADDR:-:8080}
export KOMMERCE_LOG_FORMAT=${KOMMERCE_LOG_FORMAT:-text}
bin/kommerce migrate up
port=${KOMMERCE_HTTP_ADDR##*:}
cat <<EOT

kommerce API starting on http://127.0.0.1:$port  (Ctrl-C stops it; hack/services.sh down stops the services)

Try:
  curl -s http://127.0.0.1:$port/readyz
  curl -s http://127.0.0.1:$port/metrics | grep kommerce_http
  bin/kommerce migrate status

EOT
exec bin/kommerce api

#!/usr/bin/env bash
# jobs.sh benchmarks imports, exports and thumbnails on the real PostgreSQL and
# SeaweedFS of hack/services.sh, each against a baseline in the same run (parse only,
# one COPY in, one COPY out, decode+encode only). Flags go to the Go program
# (hack/bench/jobs): -n, -batch, -images.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
# BENCH_SHORT=1 (what hack/bench/all.sh sets): a smaller run, done in a few minutes;
# flags given on the command line still win.
short=()
[[ -z ${BENCH_SHORT:-} ]] || short=(-n 20000 -images 5)
hack/services.sh up postgres seaweedfs >/dev/null
eval "$(hack/services.sh env postgres seaweedfs)"
db=kommerce_bench_jobs_$$
admin_url=$KOMMERCE_TEST_DATABASE_URL
db_url=${admin_url/\/kommerce\?/\/$db?}
psql -q "$admin_url" -c "CREATE DATABASE $db"
trap 'psql -q "$admin_url" -c "DROP DATABASE IF EXISTS $db WITH (FORCE)"' EXIT
go build -o bin/kommerce ./cmd/kommerce
go build -o bin/bench-jobs ./hack/bench/jobs
KOMMERCE_DATABASE_URL=$db_url bin/kommerce migrate up --log-level warn
echo "jobs bench: $(go version | cut -d' ' -f3), SeaweedFS $(sed -nE 's#^require github.com/seaweedfs/seaweedfs (v[^ ]+)#\1#p' hack/tools/seaweedfs/go.mod), $(date -u +%Y-%m-%dT%H:%MZ)"
KOMMERCE_DATABASE_URL=$db_url KOMMERCE_S3_URL=$KOMMERCE_TEST_S3_URL KOMMERCE_S3_ACCESS_KEY=$KOMMERCE_TEST_S3_ACCESS_KEY \
	KOMMERCE_S3_SECRET_KEY=$KOMMERCE_TEST_S3_SECRET_KEY bin/bench-jobs "${short[@]}" "$@"

#!/usr/bin/env bash
# checkout.sh benchmarks checkout through the whole API on the PostgreSQL of
# hack/services.sh, against a fresh database: each reservation strategy (conditional
# UPDATE, SELECT FOR UPDATE, and the unsafe read-then-write control) on one hot SKU
# and on spread SKUs, then a race for the last units that the control must lose
# (see hack/bench/checkout). It first measures the disk's fsync rate with
# pg_test_fsync on the filesystem PostgreSQL writes to. Flags go to the Go program:
# -concurrency, -checkouts, -rounds, -skus, -race-units, -race-buyers, -pool.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
# BENCH_SHORT=1 (what hack/bench/all.sh sets): a smaller run, done in a few minutes;
# flags given on the command line still win.
short=()
[[ -z ${BENCH_SHORT:-} ]] || short=(-checkouts 250 -rounds 2) # two rounds: each strategy goes first once
hack/services.sh up postgres >/dev/null
eval "$(hack/services.sh env postgres)"
db=kommerce_bench_checkout_$$
admin_url=$KOMMERCE_TEST_DATABASE_URL
db_url=${admin_url/\/kommerce\?/\/$db?}
psql -q "$admin_url" -c "CREATE DATABASE $db"
trap 'psql -q "$admin_url" -c "DROP DATABASE IF EXISTS $db WITH (FORCE)"' EXIT
go build -o bin/kommerce ./cmd/kommerce
go build -o bin/bench-checkout ./hack/bench/checkout
KOMMERCE_DATABASE_URL=$db_url bin/kommerce migrate up --log-level warn

# PostgreSQL's state lives under /var/lib/kommerce-services (root) or
# ~/.local/state/kommerce; test fsync on that filesystem.
state=/var/lib/kommerce-services
[[ $EUID -eq 0 ]] || state=${XDG_STATE_HOME:-$HOME/.local/state}/kommerce
fsync="not measured (pg_test_fsync not found)"
if tool=$(ls /usr/lib/postgresql/*/bin/pg_test_fsync 2>/dev/null | tail -1) && [[ -n $tool ]]; then
	tmp=$(mktemp -p "$state" pg_test_fsync.XXXXXX)
	rate=$("$tool" -s 2 -f "$tmp" 2>/dev/null | awk '/one 8kB write/ {one=1} one && $1 == "fdatasync" {print $2; exit}')
	rm -f "$tmp"
	fsync="fdatasync ${rate:-?} ops/s of one 8kB write"
fi
echo "checkout bench: $(nproc) cores, $(go version | cut -d' ' -f3), PostgreSQL $(psql -Atc 'show server_version' "$admin_url"), $(date -u +%Y-%m-%dT%H:%MZ)"
echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
KOMMERCE_DATABASE_URL=$db_url bin/bench-checkout -fsync "$fsync" "${short[@]}" "$@"

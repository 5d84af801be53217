#!/usr/bin/env bash
# Karvon report benchmark: seeds a million consultations (`karvon seed-demo`, 200 000 migrants,
# five consultations each on average over two years, eight centres), starts the release server and
# times each report as an admin over every centre (the largest scope), on PostgreSQL and SQLite.
# pgbench -S runs in the same session as the reference for what this machine's database can do.
#
#   bash bench/reports.sh                       # both backends, 200 000 migrants
#   MIGRANTS=20000 BACKENDS=postgres bash bench/reports.sh
#
# Needs: PostgreSQL at 127.0.0.1:5432 (trust auth for `postgres`), pgbench, python3.
# Results: bench/results/reports-<backend>.md (not committed; copied into bench/README.md by hand).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
MIGRANTS=${MIGRANTS:-200000}
PER_MIGRANT=${PER_MIGRANT:-5}
ROUNDS=${ROUNDS:-5}
BACKENDS=${BACKENDS:-postgres sqlite}
TARGET=${CARGO_TARGET_DIR:-target}
cargo build --release --quiet
BIN=$TARGET/release/karvon
OUT=bench/results
mkdir -p "$OUT"
WORK=$(mktemp -d)
DB=karvon_reports_$$
PG=postgres://postgres@127.0.0.1:5432
trap 'kill $(jobs -p) 2>/dev/null || true; psql "$PG/postgres" -qc "DROP DATABASE IF EXISTS $DB WITH (FORCE)" >/dev/null 2>&1 || true; rm -rf "$WORK"' EXIT

free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

run_backend() {
    local name=$1 url=$2 port pid started
    echo "== $name: seeding $MIGRANTS migrants x $PER_MIGRANT consultations"
    started=$(date +%s)
    "$BIN" seed-demo --database-url "$url" --migrants "$MIGRANTS" --consultations-per-migrant "$PER_MIGRANT" \
        --centres 8 --seed 1 2>/dev/null | head -1
    local seeded=$(($(date +%s) - started))
    echo "bench-admin-password-1" | "$BIN" create-user --database-url "$url" --username bench.admin \
        --role admin --full-name "Bench Admin" >/dev/null
    port=$(free_port)
    DATABASE_URL=$url BIND=127.0.0.1:$port LOG_FORMAT=json RUST_LOG=warn \
        KARVON_JWT_SECRET=bench-secret-bench-secret-bench-secret-42 "$BIN" serve >"$WORK/$name.log" 2>&1 &
    pid=$!
    for _ in $(seq 1 120); do
        curl -fsS --noproxy '*' "http://127.0.0.1:$port/readyz" >/dev/null 2>&1 && break
        sleep 0.5
    done
    local ceiling=""
    if [ "$name" = postgres ]; then
        pgbench -q -i -s 10 "$url" >/dev/null 2>&1
        ceiling=$(pgbench -n -S -c 8 -j 2 -T 10 "$url" 2>/dev/null | awk '/^tps/ {print int($3)}')
    fi
    python3 bench/reports.py "http://127.0.0.1:$port" "$ROUNDS" "$name" "$seeded" "$ceiling" | tee "$OUT/reports-$name.md"
    kill "$pid"
    wait "$pid" 2>/dev/null || true
}

for backend in $BACKENDS; do
    case $backend in
        postgres)
            psql "$PG/postgres" -qc "CREATE DATABASE $DB"
            run_backend postgres "$PG/$DB"
            psql "$PG/postgres" -qc "DROP DATABASE $DB WITH (FORCE)"
            ;;
        sqlite) run_backend sqlite "sqlite://$WORK/reports.db" ;;
    esac
done

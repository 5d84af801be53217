#!/usr/bin/env bash
# Karvon benchmark: seeds a demo centre with many records, starts the release server and measures
# request latency of the everyday calls, on SQLite and on PostgreSQL. Traffic stays on 127.0.0.1.
#
#   bash bench/run.sh                 # 20 000 migrants, 40 000 consultations per backend
#   MIGRANTS=100000 bash bench/run.sh
#
# Needs: a PostgreSQL at 127.0.0.1:5432 with trust auth for `postgres` (skipped if absent), python3.
# Results: bench/results/<backend>.md (not committed; the numbers go into bench/README.md by hand).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
MIGRANTS=${MIGRANTS:-20000}
REQUESTS=${REQUESTS:-200}
TARGET=${CARGO_TARGET_DIR:-target}
cargo build --release --quiet
BIN=$TARGET/release/karvon
OUT=bench/results
mkdir -p "$OUT"
WORK=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$WORK"' EXIT

run_backend() {
    local name=$1 url=$2 port
    port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
    echo "== $name: seeding $MIGRANTS migrants"
    local started=$(date +%s)
    local seeded
    seeded=$("$BIN" seed-demo --database-url "$url" --migrants "$MIGRANTS" 2>/dev/null | tail -1)
    echo "$seeded"
    echo "seeded in $(($(date +%s) - started)) s"
    local users
    users=$(echo "$seeded" | sed 's/.*: //')
    DATABASE_URL=$url BIND=127.0.0.1:$port LOG_FORMAT=json RUST_LOG=warn \
        KARVON_JWT_SECRET=bench-secret-bench-secret-bench-secret-42 "$BIN" serve >"$WORK/$name.log" 2>&1 &
    local pid=$!
    for _ in $(seq 1 60); do
        curl -fsS --noproxy '*' "http://127.0.0.1:$port/readyz" >/dev/null 2>&1 && break
        sleep 0.5
    done
    python3 bench/measure.py "http://127.0.0.1:$port" "$users" "$REQUESTS" "$pid" "$name" "$MIGRANTS" | tee "$OUT/$name.md"
    kill "$pid"
    wait "$pid" 2>/dev/null || true
}

run_backend sqlite "sqlite://$WORK/bench.db"
if pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null; then
    DB=karvon_bench_$$
    psql -h 127.0.0.1 -U postgres -qc "CREATE DATABASE $DB"
    run_backend postgres "postgres://postgres@127.0.0.1:5432/$DB"
    psql -h 127.0.0.1 -U postgres -qc "DROP DATABASE $DB WITH (FORCE)"
else
    echo "PostgreSQL not reachable on 127.0.0.1:5432: skipped"
fi

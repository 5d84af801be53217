#!/usr/bin/env bash
# What a `SELECT 1` check on every pool checkout (DATABASE_CHECK_ON_CHECKOUT=true) costs, measured
# against the default (a dead connection is discarded when its query fails) and against the
# database's own ceiling (pgbench -S), in one run on PostgreSQL. Traffic stays on 127.0.0.1.
#
#   bash bench/pool-check.sh            # DURATION=15 CONNECTIONS=32 ROUNDS=2
#
# Needs: PostgreSQL at 127.0.0.1:5432 (trust auth for `postgres`), wrk and pgbench (Debian).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
DURATION=${DURATION:-15}
CONNECTIONS=${CONNECTIONS:-32}
ROUNDS=${ROUNDS:-2}
TARGET=${CARGO_TARGET_DIR:-target}
cargo build --release --quiet
BIN=$TARGET/release/karvon
WORK=$(mktemp -d)
DB=karvon_poolcheck_$$
URL=postgres://postgres@127.0.0.1:5432/$DB
trap 'kill $(jobs -p) 2>/dev/null || true; psql -h 127.0.0.1 -U postgres -qc "DROP DATABASE IF EXISTS $DB WITH (FORCE)" >/dev/null 2>&1; rm -rf "$WORK"' EXIT
psql -h 127.0.0.1 -U postgres -qc "CREATE DATABASE $DB"
users=$("$BIN" seed-demo --database-url "$URL" --migrants 2000 2>&1 | tail -1 | sed 's/.*: //')
supervisor=${users%%,*}
supervisor=${supervisor// /}

free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

# serve CHECK -> sets PORT and PID
serve() {
    PORT=$(free_port)
    DATABASE_URL=$URL BIND=127.0.0.1:$PORT LOG_FORMAT=json RUST_LOG=warn DATABASE_CHECK_ON_CHECKOUT=$1 \
        KARVON_JWT_SECRET=bench-secret-bench-secret-bench-secret-42 "$BIN" serve >"$WORK/server.log" 2>&1 &
    PID=$!
    for _ in $(seq 1 60); do
        curl -fsS --noproxy '*' "http://127.0.0.1:$PORT/readyz" >/dev/null 2>&1 && return
        sleep 0.5
    done
    echo "server did not start" >&2
    exit 1
}

# A supervisor's token and one open case of the centre, through the API.
prepare() {
    python3 - "http://127.0.0.1:$PORT" "$supervisor" <<'PY' >"$WORK/target"
import json, sys, urllib.request
base, user = sys.argv[1], sys.argv[2]
def call(method, path, token=None, body=None):
    req = urllib.request.Request(base + path, method=method, data=json.dumps(body).encode() if body else None)
    req.add_header("content-type", "application/json")
    if token:
        req.add_header("authorization", "Bearer " + token)
    return json.load(urllib.request.urlopen(req))
token = call("POST", "/api/v1/auth/login", body={"username": user, "password": "demo-password-karvon"})["access_token"]
case = call("GET", "/api/v1/cases?status=open&limit=1", token)["items"][0]["id"]
print(token, case)
PY
    read -r TOKEN CASE <"$WORK/target"
}

# wrk_rps -> requests/s and p99 of an audited GET of one case
measure() {
    wrk -t2 -c"$CONNECTIONS" -d"${DURATION}s" --latency -H "Authorization: Bearer $TOKEN" \
        "http://127.0.0.1:$PORT/api/v1/cases/$CASE" | awk '/Requests\/sec/ {rps=$2} / 99%/ {p99=$2} END {print rps, p99}'
}

pgbench -q -i -s 10 "$URL" >/dev/null 2>&1
echo "| round | pgbench -S tps | GET case, check off (req/s, p99) | GET case, check on (req/s, p99) |"
echo "|---|---|---|---|"
for round in $(seq 1 "$ROUNDS"); do
    ceiling=$(pgbench -n -S -c "$CONNECTIONS" -j 2 -T "$DURATION" "$URL" 2>/dev/null | awk '/^tps/ {print int($3)}')
    results=()
    for check in false true; do
        serve "$check"
        prepare
        results+=("$(measure)")
        kill "$PID"
        wait "$PID" 2>/dev/null || true
    done
    echo "| $round | $ceiling | ${results[0]} | ${results[1]} |"
done

#!/usr/bin/env bash
# Side by side: two or more server binaries (or one binary with different settings) in turn, on
# fresh copies of one seeded database, with pgbench -S as the machine's reference in each round.
# For deciding whether a change pays: the rounds interleave, so a machine that speeds up or slows
# down during the run affects every binary alike. Traffic stays on 127.0.0.1.
#
#   bash bench/ab.sh sqlite /tmp/karvon-before /tmp/karvon-after
#   ROUNDS=5 SCENARIOS="get_case post_consultation" bash bench/ab.sh postgres A B
#   ENV_1="DATABASE_POOL_SIZE=4" ENV_2="DATABASE_POOL_SIZE=16" bash bench/ab.sh sqlite K K
#   SQL_1="REINDEX SCHEMA public; ANALYZE;" SQL_2="$(cat change.sql)" bash bench/ab.sh postgres K K
#
# Knobs (environment): MIGRANTS (20000), ROUNDS (3), DURATION (10 s), CONNECTIONS (64),
# SCENARIOS ("get_case list_cases post_consultation"; any script of bench/wrk), ENV_<n> (extra
# settings for the n-th binary, space-separated NAME=value), SQL_<n> (statements run on the n-th
# binary's copy of the database before it starts: a schema change tried without building it;
# psql, or sqlite3 on SQLite), CREATE_OPTS (the seeded PostgreSQL database's CREATE DATABASE
# options, e.g. "TEMPLATE template0 LOCALE 'en_US.utf8'", the postgres image's default). The
# database is seeded by the first binary. Prints one line per binary, scenario and round; exits
# non-zero when a run errored.
# Needs: wrk, python3, curl; PostgreSQL 15 at 127.0.0.1:5432 (trust auth for `postgres`), psql
# and pgbench.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT=$PWD

BACKEND=${1:-}
shift || true
[[ $BACKEND == sqlite || $BACKEND == postgres ]] && (($# >= 1)) || {
    sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'
    exit 2
}
BINS=()
for bin in "$@"; do BINS+=("$(realpath "$bin")"); done
MIGRANTS=${MIGRANTS:-20000}
ROUNDS=${ROUNDS:-3}
DURATION=${DURATION:-10}
CONNECTIONS=${CONNECTIONS:-64}
SCENARIOS=${SCENARIOS:-get_case list_cases post_consultation}
JWT_SECRET=bench-secret-bench-secret-bench-secret-42
PG="psql -X -q -h 127.0.0.1 -p 5432 -U postgres -d postgres"
PG_URL=postgres://postgres@127.0.0.1:5432

export NO_PROXY='*' no_proxy='*'
unset http_proxy https_proxy HTTP_PROXY HTTPS_PROXY all_proxy ALL_PROXY

WORK=$(mktemp -d -t karvon-ab.XXXXXX)
TAG=$$
TEMPLATE=karvon_ab_template_$TAG RUN=karvon_ab_run_$TAG PGBENCH=karvon_ab_pgbench_$TAG
SERVER_PID=""
FAILURES=0

cleanup() {
    local code=$?
    set +e
    [[ -n $SERVER_PID ]] && kill "$SERVER_PID" 2>/dev/null && wait "$SERVER_PID" 2>/dev/null
    for db in "$RUN" "$TEMPLATE" "$PGBENCH"; do
        $PG -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null 2>&1
    done
    rm -rf "$WORK"
    exit "$code"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Run a binary with nothing but its own settings, in the scratch directory (no .env is read).
karvon() { cd "$WORK" && exec env -i PATH="$PATH" HOME="$WORK" "$@"; }

$PG -c "CREATE DATABASE $PGBENCH"
pgbench -q -i -s 10 "$PG_URL/$PGBENCH" >"$WORK/pgbench-init.log" 2>&1

if [[ $BACKEND == sqlite ]]; then
    SEEDED=sqlite://$WORK/template.db
else
    $PG -c "CREATE DATABASE $TEMPLATE ${CREATE_OPTS:-}"
    SEEDED=$PG_URL/$TEMPLATE
fi
(karvon "${BINS[0]}" seed-demo --database-url "$SEEDED" --migrants "$MIGRANTS") >"$WORK/seed.out"
accounts=$(tail -1 "$WORK/seed.out" | sed 's/.*: //')
SUPERVISOR=$(echo "$accounts" | cut -d, -f1 | tr -d ' ')
COUNSELLOR=$(echo "$accounts" | cut -d, -f2 | tr -d ' ')
echo "seeded $MIGRANTS migrants on $BACKEND; $ROUNDS round(s) x $DURATION s, $CONNECTIONS connections"

# A fresh copy of the seeded database, for one binary's turn.
fresh_database() {
    if [[ $BACKEND == sqlite ]]; then
        rm -f "$WORK"/run.db*
        cp "$WORK/template.db" "$WORK/run.db"
        echo "sqlite://$WORK/run.db"
    else
        $PG -c "DROP DATABASE IF EXISTS $RUN WITH (FORCE)" 2>/dev/null
        $PG -c "CREATE DATABASE $RUN TEMPLATE $TEMPLATE"
        echo "$PG_URL/$RUN"
    fi
}

# prepare N: runs SQL_<n>, if given, on the copy the n-th binary is about to use.
prepare() {
    local sql_var=SQL_$1
    [[ -n ${!sql_var:-} ]] || return 0
    if [[ $BACKEND == sqlite ]]; then
        sqlite3 "$WORK/run.db" <<<"${!sql_var}"
    else
        psql -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p 5432 -U postgres -d "$RUN" <<<"${!sql_var}" >/dev/null
    fi
}

# report ROUND N SCENARIO HWM_KIB: one line from wrk's summary (bench/wrk/common.lua); fails
# when the run errored (no summary, a non-2xx answer or a socket error).
report() {
    local summary
    summary=$(grep -m1 '^KARVON requests=' "$WORK/wrk.out" || true)
    if [[ -z $summary ]]; then
        printf 'round %s  binary %s  %-18s FAILED: %s\n' "$1" "$2" "$3" "$(tail -1 "$WORK/wrk.out")"
        return 1
    fi
    local rps p50 p99 errors=0 pair
    for pair in $summary; do
        case $pair in
            rps=*) rps=${pair#rps=} ;;
            p50_ms=*) p50=${pair#p50_ms=} ;;
            p99_ms=*) p99=${pair#p99_ms=} ;;
            non2xx=* | connect=* | read=* | write=* | timeout=*) errors=$((errors + ${pair#*=})) ;;
        esac
    done
    printf 'round %s  binary %s  %-18s %9s req/s  p50 %7s ms  p99 %7s ms  peak RSS %d MiB  errors %d\n' \
        "$1" "$2" "$3" "$rps" "$p50" "$p99" "$(($4 / 1024))" "$errors"
    ((errors == 0))
}

# turn ROUND N BIN: start the n-th binary, run every scenario, stop it.
turn() {
    local round=$1 n=$2 bin=$3 url port base settings_var scenario hwm
    settings_var=ENV_$n
    url=$(fresh_database)
    prepare "$n"
    port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
    base=http://127.0.0.1:$port
    # shellcheck disable=SC2086 # ENV_<n> is a list of NAME=value words
    karvon DATABASE_URL="$url" BIND="127.0.0.1:$port" LOG_FORMAT=json KARVON_JWT_SECRET="$JWT_SECRET" \
        ${!settings_var:-} "$bin" serve >"$WORK/server-$n.log" 2>&1 &
    SERVER_PID=$!
    for _ in $(seq 1 120); do
        curl -fsS "$base/readyz" >/dev/null 2>&1 && break
        sleep 0.5
    done
    python3 bench/tput.py prepare "$base" "$SUPERVISOR" "$COUNSELLOR" "$WORK" >/dev/null
    for scenario in $SCENARIOS; do
        python3 bench/tput.py lua "$base" "$SUPERVISOR" "$COUNSELLOR" "$WORK" "$DURATION"
        KARVON_WRK_DATA=$WORK/data.lua wrk -t2 -c"$CONNECTIONS" -d"${DURATION}s" --timeout 10s --latency \
            -s "$ROOT/bench/wrk/$scenario.lua" "$base" >"$WORK/wrk.out" 2>&1 || true
        if ! hwm=$(awk '/^VmHWM/ {print $2}' "/proc/$SERVER_PID/status" 2>/dev/null); then
            printf 'round %s  binary %s  %-18s FAILED: the server exited: %s\n' "$round" "$n" "$scenario" \
                "$(tail -1 "$WORK/server-$n.log")"
            FAILURES=$((FAILURES + 1))
            break
        fi
        report "$round" "$n" "$scenario" "$hwm" || FAILURES=$((FAILURES + 1))
    done
    kill "$SERVER_PID" 2>/dev/null || true
    wait "$SERVER_PID" 2>/dev/null || true
    SERVER_PID=""
}

for round in $(seq 1 "$ROUNDS"); do
    pgbench -n -S -c "$CONNECTIONS" -j 2 -T "$DURATION" "$PG_URL/$PGBENCH" 2>/dev/null |
        awk -v r="$round" '/^tps/ {printf "round %s  pgbench -S %d tps\n", r, $3}'
    n=0
    for bin in "${BINS[@]}"; do
        n=$((n + 1))
        turn "$round" "$n" "$bin"
    done
done
((FAILURES == 0)) || { echo "$FAILURES run(s) errored" >&2; exit 1; }

#!/usr/bin/env bash
# Karvon throughput and memory: seeds a demo centre, starts the release server with production
# defaults (argon2id at OWASP cost, info-level JSON logs to a file, pool of 8) and drives it with
# wrk (scenarios in bench/wrk/*.lua), interleaved with pgbench as the machine's reference, on
# SQLite and then on PostgreSQL. Traffic stays on 127.0.0.1; no proxies.
#
#   bash bench/throughput.sh                  # 100 000 migrants, 3 rounds x 20 s, 64 connections
#   BIN=/path/to/karvon bash bench/throughput.sh
#   MIGRANTS=20000 ROUNDS=1 DURATION=10 CONNECTIONS=32 bash bench/throughput.sh
#   SOAK=600 bash bench/throughput.sh         # plus 10 minutes of mixed traffic, RSS every 10 s
#   bash bench/throughput.sh --smoke          # CI: 2 000 migrants, 1 round x 2 s, 16 connections
#
# Knobs (environment): BIN (default: cargo build --release, ${CARGO_TARGET_DIR:-target}/release/
# karvon), MIGRANTS, ROUNDS, DURATION (s), CONNECTIONS, REPORT_CONNECTIONS (8), STORM_ACCOUNTS
# (50), PGBENCH_SCALE (10), SOAK (s, 0 = none), SOAK_CONNECTIONS (32), WRK_TIMEOUT (10 s),
# BACKENDS ("sqlite postgres").
# Exit status: non-zero only when something errored (a non-2xx answer, a socket error, the server
# died, wrk or pgbench failed, seeding failed) -- never because of speed.
# Needs: wrk, python3, curl; PostgreSQL 15 at 127.0.0.1:5432 with trust auth for `postgres`, psql
# and pgbench (the PostgreSQL backend and the pgbench reference are skipped if absent).
# Results: bench/results/throughput-<backend>.md (-smoke.md for --smoke; not committed).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT=$PWD

SMOKE=0
for arg in "$@"; do
    case $arg in
        --smoke) SMOKE=1 ;;
        -h | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
        *) echo "unknown argument: $arg (try --help)" >&2; exit 2 ;;
    esac
done
if ((SMOKE)); then
    MIGRANTS=2000 DURATION=2 ROUNDS=1 CONNECTIONS=16 SOAK=0 PGBENCH_SCALE=1
fi
MIGRANTS=${MIGRANTS:-100000}
ROUNDS=${ROUNDS:-3}
DURATION=${DURATION:-20}
CONNECTIONS=${CONNECTIONS:-64}
REPORT_CONNECTIONS=${REPORT_CONNECTIONS:-8}
((REPORT_CONNECTIONS > CONNECTIONS)) && REPORT_CONNECTIONS=$CONNECTIONS
((REPORT_CONNECTIONS < 2)) && REPORT_CONNECTIONS=2 # wrk: at least one connection per thread
STORM_ACCOUNTS=${STORM_ACCOUNTS:-50}
PGBENCH_SCALE=${PGBENCH_SCALE:-10}
SOAK=${SOAK:-0}
SOAK_CONNECTIONS=${SOAK_CONNECTIONS:-32}
WRK_TIMEOUT=${WRK_TIMEOUT:-10}
BACKENDS=${BACKENDS:-sqlite postgres}
SCENARIOS="get_case list_cases search post_consultation caseloads report login_storm"
JWT_SECRET=bench-secret-bench-secret-bench-secret-42
DEMO_PASSWORD=demo-password-karvon
STORM_PASSWORD=storm-passphrase-karvon-bench
PG="psql -X -q -h 127.0.0.1 -p 5432 -U postgres -d postgres"

# Loopback only, never through a proxy.
export NO_PROXY='*' no_proxy='*'
unset http_proxy https_proxy HTTP_PROXY HTTPS_PROXY all_proxy ALL_PROXY

for tool in wrk python3 curl; do
    command -v "$tool" >/dev/null || { echo "throughput.sh needs $tool" >&2; exit 2; }
done
if [[ -z ${BIN:-} ]]; then
    cargo build --release --quiet
    BIN=${CARGO_TARGET_DIR:-target}/release/karvon
fi
BIN=$(realpath "$BIN")
[[ -x $BIN ]] || { echo "no server binary at $BIN" >&2; exit 2; }

OUT=bench/results
mkdir -p "$OUT"
WORK=$(mktemp -d -t karvon-tput.XXXXXX)
RESULTS=$WORK/results.jsonl
SERVER_PID="" SAMPLER_PID="" STORM_PID=""
DATABASES=()
FAILURES=0
STARTED=$(date +%s)

stop_server() {
    [[ -n $SAMPLER_PID ]] && { kill "$SAMPLER_PID" 2>/dev/null || true; wait "$SAMPLER_PID" 2>/dev/null || true; }
    [[ -n $SERVER_PID ]] && { kill "$SERVER_PID" 2>/dev/null || true; wait "$SERVER_PID" 2>/dev/null || true; }
    SAMPLER_PID="" SERVER_PID=""
}

cleanup() {
    local code=$?
    set +e
    trap - EXIT INT TERM
    [[ -n $STORM_PID ]] && kill "$STORM_PID" 2>/dev/null
    stop_server
    for pid in $(jobs -p); do kill "$pid" 2>/dev/null || true; done
    for db in "${DATABASES[@]}"; do
        $PG -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null 2>&1 || echo "could not drop $db" >&2
    done
    rm -rf "$WORK"
    exit "$code"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

say() { ((SMOKE)) || echo "$@"; }
free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
rss_kib() { awk '/^VmRSS:/ {print $2}' "/proc/$SERVER_PID/status" 2>/dev/null || echo 0; }
now() { date +%s.%N; }

# The server's binary with nothing but its own settings: production defaults for everything the
# script does not set (no RUST_LOG, no KARVON_PASSWORD_HASHING, no DATABASE_POOL_SIZE), run in
# the scratch directory so that no developer's .env is read.
# Call it in a subshell or in the background (it execs: `$!` is then the server's pid).
karvon() { cd "$WORK" && exec env -i PATH="$PATH" HOME="$WORK" "$@" "$BIN" "${KARVON_ARGS[@]}"; }

PG_OK=0
if command -v psql >/dev/null && command -v pgbench >/dev/null && pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null; then
    PG_OK=1
    PGBENCH_DB=karvon_tput_pgbench_$$
    PGBENCH_URL=postgres://postgres@127.0.0.1:5432/$PGBENCH_DB
    DATABASES+=("$PGBENCH_DB")
    $PG -c "CREATE DATABASE $PGBENCH_DB"
    pgbench -q -i -s "$PGBENCH_SCALE" "$PGBENCH_URL" >"$WORK/pgbench-init.log" 2>&1 ||
        { cat "$WORK/pgbench-init.log" >&2; exit 1; }
else
    echo "PostgreSQL (psql, pgbench, 127.0.0.1:5432) not available: PostgreSQL backend and pgbench reference skipped"
fi

# seed NAME URL -> SUPERVISOR COUNSELLOR SEED_LINE SEED_SECONDS
seed() {
    local name=$1 url=$2 started accounts
    started=$(date +%s)
    KARVON_ARGS=(seed-demo --database-url "$url" --migrants "$MIGRANTS")
    if ! (karvon) >"$WORK/$name-seed.out" 2>"$WORK/$name-seed.err"; then
        tail -5 "$WORK/$name-seed.err" >&2
        return 1
    fi
    SEED_SECONDS=$(($(date +%s) - started))
    SEED_LINE=$(head -1 "$WORK/$name-seed.out")
    accounts=$(tail -1 "$WORK/$name-seed.out" | sed 's/.*: //')
    SUPERVISOR=$(echo "$accounts" | cut -d, -f1 | tr -d ' ')
    COUNSELLOR=$(echo "$accounts" | cut -d, -f2 | tr -d ' ')
}

# start_server NAME URL -> PORT SERVER_PID SAMPLER_PID BASE
start_server() {
    local name=$1 url=$2
    PORT=$(free_port)
    BASE=http://127.0.0.1:$PORT
    KARVON_ARGS=(serve)
    karvon DATABASE_URL="$url" BIND="127.0.0.1:$PORT" LOG_FORMAT=json KARVON_JWT_SECRET="$JWT_SECRET" \
        >"$WORK/$name-server.log" 2>&1 &
    SERVER_PID=$!
    for _ in $(seq 1 120); do
        curl -fsS --noproxy '*' "$BASE/readyz" >/dev/null 2>&1 && break
        kill -0 "$SERVER_PID" 2>/dev/null || break
        sleep 0.5
    done
    if ! curl -fsS --noproxy '*' "$BASE/readyz" >/dev/null 2>&1; then
        echo "$name: the server did not become ready; its log ends:" >&2
        tail -5 "$WORK/$name-server.log" | cut -c1-300 >&2
        return 1
    fi
    python3 bench/tput.py sample "$SERVER_PID" "$WORK/$name-rss.txt" &
    SAMPLER_PID=$!
}

# Staff accounts for the login storm, made with `karvon create-user` (two at a time).
create_storm_accounts() {
    local url=$1 centre=$2 i pids=() failed=0
    STORM_USERS=()
    for i in $(seq 1 "$STORM_ACCOUNTS"); do
        STORM_USERS+=("tput.storm$i")
        KARVON_ARGS=(create-user --database-url "$url" --username "tput.storm$i" --role counsellor
            --centre "$centre" --full-name "Storm $i")
        (printf '%s' "$STORM_PASSWORD" | karvon >/dev/null 2>>"$WORK/create-user.err") &
        pids+=($!)
        if ((${#pids[@]} == 2 || i == STORM_ACCOUNTS)); then
            for pid in "${pids[@]}"; do wait "$pid" || failed=$((failed + 1)); done
            pids=()
        fi
    done
    if ((failed)); then
        echo "create-user failed $failed time(s):" >&2
        grep -iv '^\s*$' "$WORK/create-user.err" | tail -3 >&2
        return 1
    fi
}

server_alive() { kill -0 "$SERVER_PID" 2>/dev/null; }

# run_wrk NAME ROUND SCENARIO SCRIPT CONNECTIONS SECONDS [key=value...]
run_wrk() {
    local name=$1 round=$2 scenario=$3 script=$4 connections=$5 seconds=$6 timeout=$WRK_TIMEOUT
    shift 6
    local problem="" rss_start rss_end t_start t_end
    [[ $scenario == report ]] && timeout=$((WRK_TIMEOUT * 3))
    python3 bench/tput.py lua "$BASE" "$SUPERVISOR" "$COUNSELLOR" "$WORK" "$seconds" || problem="could not log in to prepare tokens"
    if [[ $scenario == login_storm && -z $problem ]]; then
        # Every storm account logs in again and again from its own loopback address while wrk runs.
        python3 bench/tput.py storm "$BASE" "$STORM_PASSWORD" "$seconds" "${STORM_USERS[@]}" \
            >"$WORK/storm.json" 2>"$WORK/storm.err" &
        STORM_PID=$!
    fi
    rss_start=$(rss_kib)
    t_start=$(now)
    if [[ -z $problem ]]; then
        KARVON_WRK_DATA=$WORK/data.lua wrk -t2 -c"$connections" -d"${seconds}s" --timeout "${timeout}s" --latency \
            -s "$ROOT/bench/wrk/$script.lua" "$BASE" >"$WORK/wrk.out" 2>&1 || problem="wrk exited with $?"
    fi
    if [[ -n $STORM_PID ]]; then
        # The storm stops starting logins at the same deadline as wrk; the end of the scenario is
        # when its last login has been answered.
        wait "$STORM_PID" || problem="${problem:+$problem; }the login storm failed: $(tail -1 "$WORK/storm.err")"
        STORM_PID=""
    fi
    t_end=$(now)
    rss_end=$(rss_kib)
    server_alive || problem="${problem:+$problem; }server died"
    # A wrk run is a failure when the wrk output file lacks the summary line: keep its tail.
    [[ -f $WORK/wrk.out ]] || : >"$WORK/wrk.out"
    local line
    line=$(python3 bench/tput.py record wrk "$WORK/wrk.out" "$RESULTS" backend="$name" round="$round" \
        scenario="$scenario" connections="$connections" t_start="$t_start" t_end="$t_end" \
        rss_start="$rss_start" rss_end="$rss_end" problem="$problem" "$@") || problem="${problem:-could not record the run}"
    say "  $line"
    if [[ -n $problem ]] || ! grep -q '^KARVON ' "$WORK/wrk.out"; then
        FAILURES=$((FAILURES + 1))
        tail -3 "$WORK/wrk.out" >&2
    fi
    rm -f "$WORK/wrk.out"
}

# run_pgbench NAME ROUND FLAG
run_pgbench() {
    local name=$1 round=$2 flag=$3 problem=""
    pgbench -n "$flag" -c "$CONNECTIONS" -j 2 -T "$DURATION" "$PGBENCH_URL" >"$WORK/pgbench.out" 2>&1 ||
        problem="pgbench exited with $?"
    local line
    line=$(python3 bench/tput.py record pgbench "$WORK/pgbench.out" "$RESULTS" backend="$name" round="$round" \
        scenario="pgbench${flag/-/_}" connections="$CONNECTIONS" problem="$problem") || problem="${problem:-could not record the run}"
    say "  $line"
    if [[ -n $problem ]] || ! grep -q '^tps = ' "$WORK/pgbench.out"; then
        FAILURES=$((FAILURES + 1))
        tail -3 "$WORK/pgbench.out" >&2
    fi
}

# One round: every scenario, then pgbench -S and -N.
run_round() {
    local name=$1 round=$2 scenario
    for scenario in $SCENARIOS; do
        server_alive || return 1
        case $scenario in
            report) run_wrk "$name" "$round" report report "$REPORT_CONNECTIONS" "$DURATION" ;;
            login_storm)
                run_wrk "$name" "$round" login_storm get_case "$CONNECTIONS" "$DURATION" storm="@$WORK/storm.json"
                ;;
            *) run_wrk "$name" "$round" "$scenario" "$scenario" "$CONNECTIONS" "$DURATION" ;;
        esac
    done
    if ((PG_OK)); then
        run_pgbench "$name" "$round" -S
        run_pgbench "$name" "$round" -N
    fi
}

# The soak: mixed reads and writes, in runs of at most 600 s (an access token lives 900 s).
run_soak() {
    local name=$1 left=$SOAK chunk start
    say "  soak: $SOAK s of 3 get_case : 1 post_consultation at $SOAK_CONNECTIONS connections"
    start=$(now)
    while ((left > 0)) && server_alive; do
        chunk=$((left > 600 ? 600 : left))
        run_wrk "$name" soak soak mixed "$SOAK_CONNECTIONS" "$chunk"
        left=$((left - chunk))
    done
    python3 bench/tput.py soak "$WORK/$name-rss.txt" "$start" "$(now)" >"$WORK/$name-soak.txt"
}

run_backend() {
    local name=$1 url=$2 round
    echo "== $name: seeding $MIGRANTS migrants"
    if ! seed "$name" "$url"; then
        echo "$name: seed-demo failed" >&2
        FAILURES=$((FAILURES + 1))
        return
    fi
    say "$SEED_LINE"
    say "seeded in $SEED_SECONDS s; supervisor $SUPERVISOR, counsellor $COUNSELLOR"
    if ! start_server "$name" "$url"; then
        FAILURES=$((FAILURES + 1))
        stop_server
        return
    fi
    local prepared
    if ! prepared=$(python3 bench/tput.py prepare "$BASE" "$SUPERVISOR" "$COUNSELLOR" "$WORK"); then
        echo "$name: could not prepare ids through the API" >&2
        FAILURES=$((FAILURES + 1))
        stop_server
        return
    fi
    read -r centre cases migrants <<<"$prepared"
    say "prepared through the API: $cases open cases of $COUNSELLOR, $migrants migrants"
    if ! create_storm_accounts "$url" "$centre"; then
        FAILURES=$((FAILURES + 1))
        stop_server
        return
    fi
    for round in $(seq 1 "$ROUNDS"); do
        say "-- $name round $round/$ROUNDS (wrk -t2 -c$CONNECTIONS -d${DURATION}s; report -c$REPORT_CONNECTIONS)"
        if ! run_round "$name" "$round"; then
            echo "$name: the server died; its log ends:" >&2
            tail -5 "$WORK/$name-server.log" | cut -c1-300 >&2
            echo '{"backend": "'"$name"'", "round": '"$round"', "scenario": "server", "ok": false, "problem": "server died"}' >>"$RESULTS"
            FAILURES=$((FAILURES + 1))
            break
        fi
    done
    ((SOAK > 0)) && server_alive && run_soak "$name"
    local peak_hwm
    peak_hwm=$(awk '/^VmHWM:/ {print $2}' "/proc/$SERVER_PID/status" 2>/dev/null || echo 0)
    stop_server

    local log=$WORK/$name-server.log suffix="" file
    ((SMOKE)) && suffix=-smoke
    file=$OUT/throughput-$name$suffix.md
    local summary=$WORK/$name-summary.md
    python3 bench/tput.py summary "$RESULTS" "$WORK/$name-rss.txt" "$name" "" >"$summary" 2>/dev/null ||
        FAILURES=$((FAILURES + 1))
    {
        echo "## $name: $MIGRANTS migrants, $ROUNDS round(s) x $DURATION s, wrk -t2 -c$CONNECTIONS (report -c$REPORT_CONNECTIONS), medians"
        echo
        echo "$(date -u +%Y-%m-%dT%H:%MZ), $(nproc) CPUs, load at start $LOAD_AT_START; binary $BIN ($(git rev-parse --short HEAD 2>/dev/null || echo '?') checked out);"
        echo "seed-demo: $SEED_LINE (${SEED_SECONDS} s). Server: production defaults (argon2id OWASP, JSON info logs, pool of 8)."
        echo "Ratio: req/s over the median pgbench tps of the same rounds (-S select-only for reads, -N for the POST);"
        echo "pgbench -c$CONNECTIONS -j2 -T$DURATION, scale $PGBENCH_SCALE, on PostgreSQL 15 of the same machine."
        echo
        cat "$summary"
        echo "VmHWM at the end: $((peak_hwm / 1024)) MiB. Server log: $(du -m "$log" | cut -f1) MB, $(wc -l <"$log") lines" \
            "($(grep -c '"level":"WARN"' "$log" || true) warn, $(grep -c '"level":"ERROR"' "$log" || true) error)."
        [[ -f $WORK/$name-soak.txt ]] && { echo; cat "$WORK/$name-soak.txt"; }
    } >"$file"
    if ((SMOKE)); then
        cat "$summary" # short: no header
    else
        echo
        cat "$file"
        echo "(written to $file)"
    fi
    echo
}

LOAD_AT_START=$(cut -d' ' -f1-3 /proc/loadavg)
for backend in $BACKENDS; do
    case $backend in
        sqlite) run_backend sqlite "sqlite://$WORK/karvon.db" ;;
        postgres)
            if ((PG_OK)); then
                db=karvon_tput_$$
                DATABASES+=("$db")
                $PG -c "CREATE DATABASE $db"
                run_backend postgres "postgres://postgres@127.0.0.1:5432/$db"
                $PG -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null
            fi
            ;;
        *) echo "unknown backend $backend" >&2; exit 2 ;;
    esac
done

echo "throughput.sh: $(($(date +%s) - STARTED)) s, $FAILURES failure(s)"
((FAILURES == 0))

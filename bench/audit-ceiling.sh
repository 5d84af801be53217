#!/usr/bin/env bash
# What PostgreSQL alone can do with a page of 50 cases, with no server in between: pgbench runs
# the page's list query, and the audit a page writes (one event naming 50 people) in today's
# shape and in the other shapes it could take, beside pgbench -S. It shows how far the audit's
# shape bounds a page's throughput whatever the server does. The audits go to scratch copies of
# the audit tables (LIKE ... INCLUDING ALL: today's columns, collations and indexes) on a seeded
# database, emptied before each run; the audits are committed GROUP to a transaction on WRITERS
# connections, as the server's audit writers commit them.
#
#   bash bench/audit-ceiling.sh
#   BIN=/path/to/karvon MIGRANTS=100000 ROUNDS=5 bash bench/audit-ceiling.sh
#
# Shapes of a page's audit:
#   rows        today's: a row per person shown (audit_event_subjects), in the person's index
#               (person, event), the key of "who saw this person", and the event's index;
#   person-day  the ids on the event row, and a row per person in one index on (person, day):
#               the access log stays a range of an index (by day, then the event's id within a
#               day), and a person's entries of one day share one index entry (deduplication);
#   array-gin   the ids on the event row with a GIN index over them, no rows: finding a person's
#               reads then means fetching every event that named them and sorting, no keyset;
#   array       the ids on the event row, no index: the floor (no way to find a person's reads).
#
# Knobs (environment): BIN (default: cargo build --release), MIGRANTS (20000), ROUNDS (3),
# DURATION (8 s), CONNECTIONS (64, for -S and the list), GROUP (32), WRITERS (2).
# Needs: PostgreSQL 15 at 127.0.0.1:5432 (trust auth for `postgres`), psql and pgbench.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

MIGRANTS=${MIGRANTS:-20000}
ROUNDS=${ROUNDS:-3}
DURATION=${DURATION:-8}
CONNECTIONS=${CONNECTIONS:-64}
GROUP=${GROUP:-32}
WRITERS=${WRITERS:-2}
SHAPES="rows person-day array-gin array"
PG_URL=postgres://postgres@127.0.0.1:5432
PG="psql -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p 5432 -U postgres"
if [[ -z ${BIN:-} ]]; then
    cargo build --release --quiet
    BIN=${CARGO_TARGET_DIR:-target}/release/karvon
fi

WORK=$(mktemp -d -t karvon-ceiling.XXXXXX)
DB=karvon_ceiling_$$ PGBENCH=karvon_ceiling_pgbench_$$
cleanup() {
    local code=$?
    set +e
    for db in "$DB" "$PGBENCH"; do
        $PG -d postgres -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null 2>&1
    done
    rm -rf "$WORK"
    exit "$code"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

$PG -d postgres -c "CREATE DATABASE $DB" -c "CREATE DATABASE $PGBENCH"
pgbench -q -i -s 10 "$PG_URL/$PGBENCH" >"$WORK/pgbench-init.log" 2>&1
env -i PATH="$PATH" "$BIN" seed-demo --database-url "$PG_URL/$DB" --migrants "$MIGRANTS" >"$WORK/seed.log" 2>&1 ||
    { cat "$WORK/seed.log" >&2; exit 1; }

# Forty pages of fifty of the centre's people; the copies of the audit tables; the other shapes.
$PG -d "$DB" <<'SQL'
CREATE TABLE pages AS
    SELECT n, (array_agg(id ORDER BY id))[1:50] AS ids
    FROM (SELECT id, row_number() OVER (ORDER BY md5(id)) % 40 AS n FROM migrants) people
    GROUP BY n;
CREATE TABLE rows_events (LIKE audit_events INCLUDING ALL);
CREATE TABLE rows_subjects (LIKE audit_event_subjects INCLUDING ALL);
CREATE TABLE array_events (LIKE audit_events INCLUDING ALL);
ALTER TABLE array_events ADD COLUMN subjects text[] COLLATE "C" NOT NULL;
CREATE TABLE array_gin_events (LIKE array_events INCLUDING ALL);
CREATE INDEX ON array_gin_events USING gin (subjects);
CREATE TABLE person_day_events (LIKE array_events INCLUDING ALL);
CREATE TABLE person_day_subjects (
    event_id text COLLATE "C" NOT NULL,
    migrant_id text COLLATE "C" NOT NULL,
    day date NOT NULL
);
CREATE INDEX ON person_day_subjects (migrant_id, day);
SQL

# The list query as the server sends it for a counsellor's first page.
read -r CENTRE COUNSELLOR < <($PG -d "$DB" -At -F ' ' -c \
    "SELECT centre_id, assigned_to FROM cases GROUP BY 1, 2 ORDER BY count(*) DESC LIMIT 1")
cat >"$WORK/list.sql" <<SQL
SELECT id, migrant_id, centre_id, assigned_to, opened_by, status, priority, summary, opened_at, closed_at, closure_reason, version, created_at, updated_at FROM cases WHERE centre_id = '$CENTRE' AND assigned_to = '$COUNSELLOR' ORDER BY id DESC LIMIT 51;
SQL

# insert_events TABLE EXTRA_COLUMN EXTRA_VALUE: GROUP events in one statement, each a page of its
# own (the g-th takes page n + g; g ends the event's id).
EVENT_ID="(extract(epoch FROM clock_timestamp()) * 1e6)::bigint || '-' || :client_id || '-' || g"
insert_events() {
    printf "INSERT INTO %s (id, at, actor_id, actor_username, action, entity_type, centre_id, \
request_id, changed_fields, endpoint%s) SELECT %s, now(), '%s', 'demo.counsellor', 'case.list', \
'case', '%s', md5(random()::text), '[]', 'GET /api/v1/cases'%s \
FROM generate_series(1, %d) g JOIN pages ON pages.n = (:n + g) %% 40" \
        "$1" "$2" "$EVENT_ID" "$COUNSELLOR" "$CENTRE" "$3" "$GROUP"
}
PAGE='\set n random(0, 39)'
printf '%s\nWITH e AS (%s RETURNING id) INSERT INTO rows_subjects (event_id, migrant_id) %s\n' "$PAGE" \
    "$(insert_events rows_events '' '')" \
    "SELECT e.id, unnest(pages.ids) FROM e JOIN pages ON pages.n = (:n + split_part(e.id, '-', 3)::int) % 40;" >"$WORK/rows.sql"
printf '%s\nWITH e AS (%s RETURNING id, subjects) INSERT INTO person_day_subjects %s\n' "$PAGE" \
    "$(insert_events person_day_events ', subjects' ', pages.ids')" \
    "SELECT e.id, unnest(e.subjects), current_date FROM e;" >"$WORK/person-day.sql"
printf '%s\n%s;\n' "$PAGE" "$(insert_events array_gin_events ', subjects' ', pages.ids')" >"$WORK/array-gin.sql"
printf '%s\n%s;\n' "$PAGE" "$(insert_events array_events ', subjects' ', pages.ids')" >"$WORK/array.sql"

# Each shape's run must have named fifty people in every event it wrote.
declare -A NAMED_FIFTY=(
    [rows]="SELECT count(*) > 0 AND count(*) * 50 = (SELECT count(*) FROM rows_subjects) FROM rows_events"
    [person-day]="SELECT count(*) > 0 AND count(*) * 50 = (SELECT count(*) FROM person_day_subjects) FROM person_day_events"
    [array-gin]="SELECT count(*) > 0 AND bool_and(cardinality(subjects) = 50) FROM array_gin_events"
    [array]="SELECT count(*) > 0 AND bool_and(cardinality(subjects) = 50) FROM array_events"
)

tps() { grep -m1 '^tps' "$WORK/out" | awk '{printf "%d", $3}'; }
run() { # run CLIENTS SCRIPT_OR_FLAG DATABASE
    local what=(-S)
    [[ $2 == -S ]] || what=(-M prepared -f "$WORK/$2.sql")
    pgbench -n "${what[@]}" -c "$1" -j 2 -T "$DURATION" "$PG_URL/$3" >"$WORK/out" 2>&1 ||
        { cat "$WORK/out" >&2; exit 1; }
}

echo "$MIGRANTS migrants; $ROUNDS round(s) x $DURATION s; -S and the list at $CONNECTIONS connections;" \
    "page audits $GROUP to a transaction on $WRITERS connections"
for round in $(seq 1 "$ROUNDS"); do
    run "$CONNECTIONS" -S "$PGBENCH"
    select=$(tps)
    line="round $round  -S $select tps"
    run "$CONNECTIONS" list "$DB"
    line+=$(awk -v n="$(tps)" -v s="$select" 'BEGIN {printf "  list %d/s (%.2fx)", n, n / s}')
    for shape in $SHAPES; do
        $PG -d "$DB" -c "TRUNCATE rows_events, rows_subjects, person_day_events, person_day_subjects, \
            array_gin_events, array_events" -c CHECKPOINT
        run "$WRITERS" "$shape" "$DB"
        [[ $($PG -d "$DB" -At -c "${NAMED_FIFTY[$shape]}") == t ]] ||
            { echo "the $shape run did not name fifty people per event" >&2; exit 1; }
        line+=$(awk -v n="$(tps)" -v g="$GROUP" -v s="$select" -v k="$shape" \
            'BEGIN {printf "  %s %d/s (%.2fx)", k, n * g, n * g / s}')
    done
    echo "$line"
done

//! The SQLite and PostgreSQL migration trees must describe the same schema, and migrating twice
//! must be harmless.

mod common;

use std::collections::BTreeSet;

use common::{establish, PostgresDatabase};
use diesel::prelude::*;
use diesel::sql_types::{Integer, Text};
use karvon::db::{DatabaseUrl, DbConnection};

/// (table, column, nullable)
type Columns = BTreeSet<(String, String, bool)>;

#[derive(QueryableByName)]
struct PgColumn {
    #[diesel(sql_type = Text)]
    table_name: String,
    #[diesel(sql_type = Text)]
    column_name: String,
    #[diesel(sql_type = Text)]
    is_nullable: String,
}

#[derive(QueryableByName)]
struct SqliteColumn {
    #[diesel(sql_type = Text)]
    table_name: String,
    #[diesel(sql_type = Text)]
    column_name: String,
    #[diesel(sql_type = Integer)]
    not_null: i32,
    #[diesel(sql_type = Integer)]
    pk: i32,
}

#[derive(QueryableByName)]
struct Name {
    #[diesel(sql_type = Text)]
    name: String,
}

struct Schema {
    tables: BTreeSet<String>,
    columns: Columns,
    indexes: BTreeSet<String>,
}

const MIGRATIONS_TABLE: &str = "__diesel_schema_migrations";

fn postgres_schema(conn: &mut PgConnection) -> Schema {
    let columns: Vec<PgColumn> = diesel::sql_query(
        "SELECT table_name::text AS table_name, column_name::text AS column_name, \
                is_nullable::text AS is_nullable \
         FROM information_schema.columns WHERE table_schema = 'public'",
    )
    .load(conn)
    .expect("columns");
    let indexes: Vec<Name> = diesel::sql_query(
        "SELECT indexname::text AS name FROM pg_indexes \
         WHERE schemaname = 'public' AND indexname NOT LIKE '%\\_pkey'",
    )
    .load(conn)
    .expect("indexes");
    let columns: Columns = columns
        .into_iter()
        .filter(|c| c.table_name != MIGRATIONS_TABLE)
        .map(|c| (c.table_name, c.column_name, c.is_nullable == "YES"))
        .collect();
    Schema {
        tables: columns.iter().map(|(t, _, _)| t.clone()).collect(),
        columns,
        indexes: indexes.into_iter().map(|i| i.name).collect(),
    }
}

fn sqlite_schema(conn: &mut SqliteConnection) -> Schema {
    let columns: Vec<SqliteColumn> = diesel::sql_query(
        "SELECT m.name AS table_name, p.name AS column_name, p.\"notnull\" AS not_null, p.pk AS pk \
         FROM sqlite_master m, pragma_table_info(m.name) p \
         WHERE m.type = 'table' AND m.name NOT LIKE 'sqlite\\_%' ESCAPE '\\'",
    )
    .load(conn)
    .expect("columns");
    let indexes: Vec<Name> = diesel::sql_query(
        "SELECT name FROM sqlite_master \
         WHERE type = 'index' AND name NOT LIKE 'sqlite\\_autoindex\\_%' ESCAPE '\\'",
    )
    .load(conn)
    .expect("indexes");
    // PostgreSQL makes primary-key columns NOT NULL implicitly; count them so here too.
    // (SQLite itself would accept NULL in a non-INTEGER primary key unless declared NOT NULL;
    // the application always supplies ids.)
    let columns: Columns = columns
        .into_iter()
        .filter(|c| c.table_name != MIGRATIONS_TABLE)
        .map(|c| (c.table_name, c.column_name, c.not_null == 0 && c.pk == 0))
        .collect();
    Schema {
        tables: columns.iter().map(|(t, _, _)| t.clone()).collect(),
        columns,
        indexes: indexes.into_iter().map(|i| i.name).collect(),
    }
}

/// Migrates a fresh database of each backend and returns both schemas.
fn migrated_schemas(admin_url: &str) -> (Schema, Schema, PostgresDatabase) {
    let database = PostgresDatabase::create_empty(admin_url);
    let mut pg = establish(&database.url);
    karvon::db::run_migrations(&mut pg).expect("postgres migrations");
    let DbConnection::Postgresql(pg) = &mut pg else {
        unreachable!("a postgres url gives a postgres connection")
    };
    let postgres = postgres_schema(pg);

    let dir = tempfile::tempdir().expect("temp dir");
    let url = DatabaseUrl::parse(&format!("sqlite://{}/schema.db", dir.path().display())).unwrap();
    let mut sqlite = establish(&url);
    karvon::db::run_migrations(&mut sqlite).expect("sqlite migrations");
    let DbConnection::Sqlite(sqlite) = &mut sqlite else {
        unreachable!("a sqlite url gives a sqlite connection")
    };
    (postgres, sqlite_schema(sqlite), database)
}

postgres_test!(fn both_backends_have_the_same_tables);
fn both_backends_have_the_same_tables(admin_url: String) {
    let (postgres, sqlite, _db) = migrated_schemas(&admin_url);
    assert!(postgres.tables.contains("users"), "{:?}", postgres.tables);
    assert_eq!(postgres.tables, sqlite.tables);
}

postgres_test!(fn both_backends_have_the_same_columns_and_nullability);
fn both_backends_have_the_same_columns_and_nullability(admin_url: String) {
    let (postgres, sqlite, _db) = migrated_schemas(&admin_url);
    let only_pg: Vec<_> = postgres.columns.difference(&sqlite.columns).collect();
    let only_sqlite: Vec<_> = sqlite.columns.difference(&postgres.columns).collect();
    assert!(
        only_pg.is_empty() && only_sqlite.is_empty(),
        "only on PostgreSQL: {only_pg:?}\nonly on SQLite: {only_sqlite:?}"
    );
}

postgres_test!(fn both_backends_have_the_same_indexes);
fn both_backends_have_the_same_indexes(admin_url: String) {
    let (postgres, sqlite, _db) = migrated_schemas(&admin_url);
    assert!(postgres.indexes.contains("users_username_key_key"));
    assert_eq!(postgres.indexes, sqlite.indexes);
}

fn migrate_with_cli(url: &str) -> String {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_karvon"))
        .arg("migrate")
        .env("DATABASE_URL", url)
        .output()
        .expect("run karvon migrate");
    assert!(
        output.status.success(),
        "karvon migrate failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn assert_migrate_is_idempotent(url: &str) {
    let first = migrate_with_cli(url);
    assert!(
        !first.starts_with("0 "),
        "first run applies migrations: {first}"
    );
    let second = migrate_with_cli(url);
    assert!(second.starts_with("0 migration"), "second run: {second}");
}

#[test]
fn karvon_migrate_twice_applies_nothing_the_second_time_on_sqlite() {
    let dir = tempfile::tempdir().expect("temp dir");
    assert_migrate_is_idempotent(&format!("sqlite://{}/cli.db", dir.path().display()));
}

postgres_test!(fn karvon_migrate_twice_applies_nothing_the_second_time_on_postgres);
fn karvon_migrate_twice_applies_nothing_the_second_time_on_postgres(admin_url: String) {
    let database = PostgresDatabase::create_empty(&admin_url);
    let DatabaseUrl::Postgres(url) = &database.url else {
        unreachable!()
    };
    assert_migrate_is_idempotent(url);
}

postgres_test!(name_search_works_under_a_linguistic_database_collation);
/// Production databases often use a linguistic collation (the postgres Docker image defaults to
/// en_US.utf8), under which `'gulru' < 'gul' || chr(127)` is false. Name search relies on byte
/// order for its prefix ranges: the token column is `COLLATE "C"`. This proves it on an ICU
/// en-US database.
async fn name_search_works_under_a_linguistic_database_collation(admin_url: String) {
    let database = PostgresDatabase::create_with(
        &admin_url,
        "TEMPLATE template0 LOCALE_PROVIDER icu ICU_LOCALE 'en-US' LOCALE 'C.UTF-8'",
    );
    let app = common::spawn(database.url.clone(), common::Backend::Postgres, &|_| {}).await;
    let centre = app.create_centre("MRC Collation").await;
    let counsellor = app.create_staff("amina", "counsellor", Some(&centre)).await;
    let registered = app
        .post(
            "/api/v1/migrants",
            &counsellor.token,
            serde_json::json!({
                "given_name": "Gulru", "family_name": "Jabborzoda", "sex": "female",
                "birth_year": 1994, "nationality": "TJ", "migration_status": "prospective",
                "consent": {"services": true, "referral_sharing": false, "statistics": false}
            }),
        )
        .await;
    assert_eq!(registered.status(), reqwest::StatusCode::CREATED);
    for q in [
        "gul",
        "Gulru",
        "%D0%B4%D0%B6%D0%B0%D0%B1",
        "jabborzoda%20gul",
    ] {
        let page: serde_json::Value = app
            .get(&format!("/api/v1/migrants?q={q}"), &counsellor.token)
            .await
            .json()
            .await
            .unwrap();
        assert_eq!(
            page["items"].as_array().map(Vec::len),
            Some(1),
            "q={q}: {page}"
        );
    }
}

#[derive(QueryableByName)]
struct ColumnCollation {
    #[diesel(sql_type = Text)]
    column: String,
    #[diesel(sql_type = Text)]
    collation: String,
}

postgres_test!(fn every_id_and_reference_to_one_compares_bytewise_on_postgres);
/// Ids, and every column naming one, are `COLLATE "C"` on PostgreSQL, as SQLite compares them:
/// an id column left to the database's collation makes every index entry on it pay the
/// locale's string comparison (and the two backends could order ids differently).
fn every_id_and_reference_to_one_compares_bytewise_on_postgres(admin_url: String) {
    let database = PostgresDatabase::create_empty(&admin_url);
    let mut conn = establish(&database.url);
    karvon::db::run_migrations(&mut conn).expect("postgres migrations");
    let DbConnection::Postgresql(pg) = &mut conn else {
        unreachable!("a postgres url gives a postgres connection")
    };
    let columns: Vec<ColumnCollation> = diesel::sql_query(
        "SELECT c.table_name || '.' || c.column_name AS column, \
                coalesce(c.collation_name, 'default')::text AS collation \
         FROM information_schema.columns c \
         JOIN information_schema.tables t USING (table_schema, table_name) \
         WHERE c.table_schema = 'public' AND t.table_type = 'BASE TABLE' \
           AND c.data_type = 'text' AND c.table_name <> '__diesel_schema_migrations' \
           AND (c.column_name = 'id' OR c.column_name LIKE '%\\_id' OR EXISTS ( \
                SELECT 1 FROM pg_constraint k \
                JOIN pg_class r ON r.oid = k.conrelid \
                JOIN pg_attribute a ON a.attrelid = k.conrelid AND a.attnum = ANY (k.conkey) \
                WHERE k.contype = 'f' AND r.relname = c.table_name \
                  AND r.relnamespace = 'public'::regnamespace AND a.attname = c.column_name))",
    )
    .load(pg)
    .expect("columns");
    let names: BTreeSet<&str> = columns.iter().map(|c| c.column.as_str()).collect();
    for expected in [
        "cases.id",
        "cases.assigned_to",
        "audit_event_subjects.migrant_id",
    ] {
        assert!(names.contains(expected), "{expected} not among {names:?}");
    }
    let not_bytewise: Vec<String> = columns
        .iter()
        .filter(|c| c.collation != "C")
        .map(|c| format!("{} ({})", c.column, c.collation))
        .collect();
    assert!(not_bytewise.is_empty(), "{not_bytewise:?}");
}

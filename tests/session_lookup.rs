//! The caller's session is looked up once per request, even when the idempotency layer needs it
//! before the handler does; a request that needs no session makes no lookup. Counted on
//! PostgreSQL as scans of the `sessions` table (its statistics), which SQLite does not keep.

mod common;

use std::time::{Duration, Instant};

use common::{spawn, Backend, PostgresDatabase, TestApp};
use diesel::prelude::*;
use karvon::db::DbConnection;
use reqwest::StatusCode;
use serde_json::json;

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    count: i64,
}

fn count(conn: &mut DbConnection, sql: &str) -> i64 {
    let rows: Vec<Count> = diesel::sql_query(sql).load(conn).expect(sql);
    rows[0].count
}

/// Scans of `sessions` so far. Statistics reach the shared counters late, except when a server
/// process ends: so the server's connections are ended first (its pool replaces them).
fn session_scans(app: &TestApp) -> i64 {
    let mut conn = app.db();
    count(
        &mut conn,
        "SELECT count(pg_terminate_backend(pid)) AS count FROM pg_stat_activity \
         WHERE datname = current_database() AND pid <> pg_backend_pid()",
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    while count(
        &mut conn,
        "SELECT count(*) AS count FROM pg_stat_activity \
         WHERE datname = current_database() AND pid <> pg_backend_pid()",
    ) > 0
    {
        assert!(
            Instant::now() < deadline,
            "the server's connections did not end"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    count(
        &mut conn,
        "SELECT coalesce(seq_scan, 0) + coalesce(idx_scan, 0) AS count \
         FROM pg_stat_user_tables WHERE relname = 'sessions'",
    )
}

async fn centre(app: &TestApp, name: &str, key: Option<&str>) -> reqwest::Response {
    let mut request = app
        .client
        .post(app.url("/api/v1/centres"))
        .bearer_auth(&app.admin)
        .json(&json!({"name": name, "city": name, "country": "TJ"}));
    if let Some(key) = key {
        request = request.header("Idempotency-Key", key);
    }
    request.send().await.expect("request")
}

postgres_test!(a_keyed_post_looks_its_session_up_once);
async fn a_keyed_post_looks_its_session_up_once(admin_url: String) {
    let database = PostgresDatabase::create(&admin_url);
    let app = spawn(database.url.clone(), Backend::Postgres, &|config| {
        config.database.database_check_on_checkout = true;
    })
    .await;

    let before = session_scans(&app);
    let response = centre(&app, "Khujand", Some("centre-1")).await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let after_keyed = session_scans(&app);
    assert_eq!(after_keyed - before, 1, "lookups for one keyed POST");

    let replay = centre(&app, "Khujand", Some("centre-1")).await;
    assert_eq!(replay.status(), StatusCode::CREATED);
    assert_eq!(replay.headers()["idempotent-replayed"], "true");
    let after_replay = session_scans(&app);
    assert_eq!(after_replay - after_keyed, 1, "lookups for its replay");

    let plain = centre(&app, "Kulob", None).await;
    assert_eq!(plain.status(), StatusCode::CREATED);
    let after_plain = session_scans(&app);
    assert_eq!(
        after_plain - after_replay,
        1,
        "lookups for a POST without a key"
    );

    let probe = app.client.get(app.url("/healthz")).send().await.unwrap();
    assert_eq!(probe.status(), StatusCode::OK);
    assert_eq!(session_scans(&app) - after_plain, 0, "lookups for a probe");
}

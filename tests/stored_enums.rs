//! Status and kind columns are read as enums: a stored value that is none of the known names
//! fails the read (500 without internals) instead of being shown as some other value.

mod common;

use common::world::World;
use common::world::*;
use common::{expect, problem, TestApp};
use diesel::connection::SimpleConnection;
use karvon::db::DbConnection;
use reqwest::StatusCode;
use serde_json::Value;

/// Writes `sql` past the CHECK constraint on `table.column`, as a corrupted row would be.
fn corrupt(app: &TestApp, table: &str, column: &str, sql: &str) {
    let mut conn = app.db();
    let bypass = match conn {
        DbConnection::Postgresql(_) => {
            format!("ALTER TABLE {table} DROP CONSTRAINT IF EXISTS {table}_{column}_check;")
        }
        DbConnection::Sqlite(_) => "PRAGMA ignore_check_constraints = ON;".to_owned(),
    };
    conn.batch_execute(&format!("{bypass} {sql}"))
        .expect("write the corrupted value");
}

/// A generic 500 problem that gives away neither the stored value nor the Rust type.
async fn assert_internal(response: reqwest::Response, stored: &str, what: &str) {
    assert_eq!(
        response.status(),
        StatusCode::INTERNAL_SERVER_ERROR,
        "{what}"
    );
    let body: Value = problem(response).await;
    assert_eq!(body["status"], 500, "{what}: {body}");
    let text = body.to_string();
    assert!(
        !text.contains(stored),
        "{what} leaks the stored value: {text}"
    );
    assert!(!text.contains("Status"), "{what} leaks the type: {text}");
}

backend_test!(an_unknown_case_status_is_an_error_not_another_status);
async fn an_unknown_case_status_is_an_error_not_another_status(app: TestApp) {
    let w = World::build(&app).await;
    let path = format!("/api/v1/cases/{}", w.case);
    let before = expect(
        app.get(&path, &w.counsellor.token).await,
        StatusCode::OK,
        "read",
    )
    .await;
    assert_eq!(before["status"], "open");

    corrupt(
        &app,
        "cases",
        "status",
        &format!(
            "UPDATE cases SET status = 'archived' WHERE id = '{}';",
            w.case
        ),
    );

    let read = app.get(&path, &w.counsellor.token).await;
    assert_internal(read, "archived", "reading the case").await;
    let list = app.get("/api/v1/cases", &w.counsellor.token).await;
    assert_internal(list, "archived", "listing cases").await;
}

backend_test!(an_unknown_role_is_an_error_not_a_counsellor);
async fn an_unknown_role_is_an_error_not_a_counsellor(app: TestApp) {
    let w = World::build(&app).await;
    let path = format!("/api/v1/cases/{}", w.case);
    expect(
        app.get(&path, &w.counsellor.token).await,
        StatusCode::OK,
        "read",
    )
    .await;

    corrupt(
        &app,
        "users",
        "role",
        &format!(
            "UPDATE users SET role = 'superuser' WHERE id = '{}';",
            w.counsellor.id
        ),
    );

    let read = app.get(&path, &w.counsellor.token).await;
    assert_internal(read, "superuser", "a request of the corrupted account").await;
}

backend_test!(an_unknown_status_in_a_referral_history_is_an_error);
async fn an_unknown_status_in_a_referral_history_is_an_error(app: TestApp) {
    let care = Care::new(&app).await;
    let token = &care.counsellor.token;
    let referral = refer(&app, token, &care.case_id, &care.global_provider, None).await["id"]
        .as_str()
        .expect("referral id")
        .to_owned();
    let path = format!("/api/v1/referrals/{referral}");
    expect(app.get(&path, token).await, StatusCode::OK, "read").await;

    // The history has no CHECK constraint: only the read guards it.
    corrupt(
        &app,
        "referral_transitions",
        "to_status",
        &format!(
            "UPDATE referral_transitions SET to_status = 'lost' WHERE referral_id = '{referral}';"
        ),
    );

    let read = app.get(&path, token).await;
    assert_internal(read, "lost", "reading the referral").await;
}

//! Writes at once: concurrent walk-ins for one person all land, with their audit trail and
//! their report facts; on SQLite, committed writes reach the database file itself without
//! waiting for the log to fill.

mod common;

use std::time::{Duration, Instant};

use chrono::{Duration as Days, Utc};
use common::world::{for_migrant, migrant_body, register, World};
use common::{expect, Backend, TestApp};
use diesel::prelude::*;
use futures_util::future::join_all;
use karvon::db::schema::{audit_events, centres, consultations};
use karvon::db::DatabaseUrl;
use reqwest::StatusCode;
use serde_json::json;

const WALK_INS: usize = 40;

backend_test!(concurrent_walk_ins_for_one_person_all_land);
async fn concurrent_walk_ins_for_one_person_all_land(app: TestApp) {
    let w = World::build(&app).await;
    let posts = (0..WALK_INS).map(|minute| {
        let mut body = for_migrant(&w.migrant);
        let at = Utc::now() - Days::minutes(i64::try_from(minute).unwrap() + 1);
        body["occurred_at"] = json!(at.format("%Y-%m-%dT%H:%M:%SZ").to_string());
        app.post("/api/v1/consultations", &w.counsellor.token, body)
    });
    let statuses: Vec<StatusCode> = join_all(posts).await.iter().map(|r| r.status()).collect();
    assert_eq!(statuses, vec![StatusCode::CREATED; WALK_INS]);

    let stored: i64 = consultations::table
        .filter(consultations::migrant_id.eq(&w.migrant))
        .count()
        .get_result(&mut app.db())
        .unwrap();
    assert_eq!(
        stored,
        1 + WALK_INS as i64,
        "the world's consultation and every walk-in"
    );
    let audited: i64 = audit_events::table
        .filter(audit_events::action.eq("consultation.create"))
        .filter(audit_events::actor_id.eq(&w.counsellor.id))
        .count()
        .get_result(&mut app.db())
        .unwrap();
    assert_eq!(audited, 1 + WALK_INS as i64);

    let from = (Utc::now() - Days::days(7)).date_naive();
    let to = (Utc::now() + Days::days(1)).date_naive();
    let path = format!("/api/v1/reports/consultations?from={from}&to={to}&group_by=channel");
    let report = expect(
        app.get(&path, &w.supervisor.token).await,
        StatusCode::OK,
        "report",
    )
    .await;
    assert_eq!(
        report["total"]["consultations"],
        1 + WALK_INS,
        "the report counts every walk-in: {report}"
    );
    assert_eq!(report["total"]["people"], 1, "{report}");
}

backend_test!(refused_writes_among_concurrent_ones_change_nothing);
async fn refused_writes_among_concurrent_ones_change_nothing(app: TestApp) {
    let w = World::build(&app).await;
    let elsewhere = register(
        &app,
        &w.other_supervisor.token,
        migrant_body("Zarina", "Rahimova"),
    )
    .await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let ended = app
        .create_staff("ended", "counsellor", Some(&w.centre))
        .await;
    let logout = app
        .post("/api/v1/auth/logout", &ended.token, json!({}))
        .await;
    assert_eq!(logout.status(), StatusCode::NO_CONTENT);

    // Valid walk-ins, walk-ins for a person of another centre and walk-ins on an ended
    // session, all at once: on SQLite they share groups of one transaction.
    let expected = [
        StatusCode::CREATED,
        StatusCode::UNPROCESSABLE_ENTITY,
        StatusCode::UNAUTHORIZED,
    ];
    let posts = (0..WALK_INS).map(|n| {
        let (token, migrant) = match n % 3 {
            0 => (&w.counsellor.token, &w.migrant),
            1 => (&w.counsellor.token, &elsewhere),
            _ => (&ended.token, &w.migrant),
        };
        app.post("/api/v1/consultations", token, for_migrant(migrant))
    });
    let statuses: Vec<StatusCode> = join_all(posts).await.iter().map(|r| r.status()).collect();
    let wanted: Vec<StatusCode> = (0..WALK_INS).map(|n| expected[n % 3]).collect();
    assert_eq!(statuses, wanted);

    let landed = WALK_INS.div_ceil(3);
    let stored: Vec<(Option<String>, String)> = consultations::table
        .select((consultations::migrant_id, consultations::counsellor_id))
        .load(&mut app.db())
        .unwrap();
    assert_eq!(
        stored.len(),
        1 + landed,
        "the world's consultation and the valid walk-ins"
    );
    assert!(stored.iter().all(
        |(migrant, by)| migrant.as_deref() == Some(w.migrant.as_str()) && *by == w.counsellor.id
    ));
    let audited: i64 = audit_events::table
        .filter(audit_events::action.eq("consultation.create"))
        .count()
        .get_result(&mut app.db())
        .unwrap();
    assert_eq!(
        audited,
        1 + landed as i64,
        "one audit row per stored consultation"
    );
}

#[tokio::test]
async fn sqlite_commits_reach_the_database_file_before_the_log_fills() {
    common::run_on(Backend::Sqlite, |_| {}, writes_reach_the_database_file).await;
}

/// A write of a few pages is far below the log size at which a request would checkpoint, so
/// only the server's checkpoint thread can have copied it into the file.
async fn writes_reach_the_database_file(app: TestApp) {
    let centre = app.create_centre("Khujand MRC").await;
    let DatabaseUrl::Sqlite(path) = &app.database_url else {
        panic!("a SQLite test app");
    };
    let deadline = Instant::now() + Duration::from_secs(10);
    while !file_alone_holds(path, &centre) {
        assert!(
            Instant::now() < deadline,
            "the new centre never reached the database file"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Whether a copy of the database file without its log holds the centre (a copy taken while a
/// checkpoint writes may be torn: that counts as not yet).
fn file_alone_holds(path: &str, centre: &str) -> bool {
    let dir = tempfile::tempdir().expect("temp dir");
    let copy = dir.path().join("copy.db");
    if std::fs::copy(path, &copy).is_err() {
        return false;
    }
    let Ok(mut conn) = SqliteConnection::establish(&copy.display().to_string()) else {
        return false;
    };
    centres::table
        .filter(centres::id.eq(centre))
        .count()
        .get_result::<i64>(&mut conn)
        .is_ok_and(|found| found == 1)
}

//! `karvon seed-demo`: the demo centre it adds is usable at once — its accounts log in with the
//! published password and see the people, cases, consultations and directory it promised.

mod common;

use chrono::{DateTime, Utc};
use common::expect;
use common::TestApp;
use karvon::demo::{seed, DEMO_PASSWORD};
use reqwest::StatusCode;
use serde_json::Value;

async fn items(app: &TestApp, path: &str, token: &str) -> Vec<Value> {
    let page = expect(app.get(path, token).await, StatusCode::OK, path).await;
    assert!(page["next_cursor"].is_null(), "{path} fits on one page");
    page["items"].as_array().expect("items").clone()
}

backend_test!(the_demo_supervisor_sees_every_seeded_record_of_the_demo_centre);
async fn the_demo_supervisor_sees_every_seeded_record_of_the_demo_centre(app: TestApp) {
    let seeded = seed(&app.config.database, 40).await.expect("seed-demo");
    assert_eq!(seeded.migrants, 40);
    assert_eq!(seeded.usernames.len(), 4);
    assert!(seeded.usernames[0].starts_with("demo.supervisor0."));
    for (index, username) in seeded.usernames.iter().enumerate().skip(1) {
        assert!(username.starts_with(&format!("demo.counsellor{index}.")));
    }
    let token = app.login(&seeded.usernames[0], DEMO_PASSWORD).await;

    let people = items(&app, "/api/v1/migrants?limit=200", &token).await;
    assert_eq!(people.len(), 40);
    let cases = items(&app, "/api/v1/cases?limit=200", &token).await;
    assert!(cases.iter().all(|c| c["status"] == "open"));
    let consultations = items(&app, "/api/v1/consultations?limit=200", &token).await;
    assert_eq!(consultations.len(), 80, "two consultations per person");
    let on_cases = consultations.iter().filter(|c| !c["case_id"].is_null());
    assert_eq!(
        on_cases.count(),
        2 * cases.len(),
        "both on the case, if any"
    );
    let providers = items(&app, "/api/v1/service-providers", &token).await;
    assert_eq!(providers.len(), 4);

    let caseloads = items(&app, "/api/v1/caseloads", &token).await;
    assert_eq!(caseloads.len(), 4);
    let open: i64 = caseloads
        .iter()
        .map(|r| r["open_cases"].as_i64().unwrap())
        .sum();
    assert_eq!(open, cases.len() as i64);
    let supervisor = caseloads
        .iter()
        .find(|r| r["role"] == "supervisor")
        .unwrap();
    assert_eq!(supervisor["open_cases"], 0, "counsellors carry the cases");

    let Some(case) = cases.first() else { return };
    let timeline = format!("/api/v1/cases/{}/timeline", case["id"].as_str().unwrap());
    let entries = items(&app, &timeline, &token).await;
    let kinds: Vec<&str> = entries
        .iter()
        .map(|e| e["kind"].as_str().unwrap())
        .collect();
    assert_eq!(
        kinds.len(),
        3,
        "the opening and two consultations: {kinds:?}"
    );
    assert_eq!(kinds.iter().filter(|k| **k == "consultation").count(), 2);
    let opened = entries.iter().find(|e| e["kind"] == "case_event").unwrap();
    assert_eq!(opened["case_event"]["kind"], "opened");
    let times: Vec<DateTime<Utc>> = entries
        .iter()
        .map(|e| e["at"].as_str().unwrap().parse().unwrap())
        .collect();
    assert!(
        times.windows(2).all(|w| w[0] <= w[1]),
        "oldest first: {times:?}"
    );
}

backend_test!(seeding_twice_adds_a_second_centre_with_its_own_accounts);
async fn seeding_twice_adds_a_second_centre_with_its_own_accounts(app: TestApp) {
    let first = seed(&app.config.database, 1).await.expect("first seed");
    let second = seed(&app.config.database, 1).await.expect("second seed");
    assert_ne!(first.centre_id, second.centre_id);
    assert!(first
        .usernames
        .iter()
        .all(|u| !second.usernames.contains(u)));
    let token = app.login(&second.usernames[1], DEMO_PASSWORD).await;
    let people = items(&app, "/api/v1/migrants", &token).await;
    assert_eq!(people.len(), 1, "only the second centre's person");
}

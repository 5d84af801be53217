//! Versioned saves: a PATCH that changes nothing keeps the version and ETag and records no
//! change; a real PATCH bumps the version once and audits the fields it changed; of two PATCHes
//! sent at once with the same `If-Match`, exactly one wins.

mod common;

use chrono::{Duration, DurationRound, Utc};
use common::world::*;
use common::*;

use diesel::prelude::*;
use karvon::db::schema::audit_events;
use reqwest::StatusCode;
use serde_json::{json, Value};

/// A resource under test: where it lives, who may change it, and three PATCH bodies.
struct Patchable {
    path: String,
    token: String,
    /// Every field it names already holds the value sent.
    same: Value,
    /// Changes exactly `changed`.
    change: Value,
    changed: &'static str,
    /// Its responses show a person's data: even an unchanged answer is audited as shown.
    shows_person: bool,
    /// A field, and two values for it that differ from the stored one and from each other.
    race: (&'static str, Value, Value),
}

/// Every resource with a PATCH, built on the care fixture.
async fn resources(app: &TestApp) -> Vec<Patchable> {
    let care = Care::new(app).await;
    let at = Utc::now().duration_trunc(Duration::seconds(1)).unwrap();
    let consultation = id(&consult(app, &care.counsellor.token, &care.case_id, at).await);
    let due = at + Duration::days(3);
    let follow_up = id(&schedule(app, &care.counsellor.token, &care.case_id, due, None).await);
    let counsellor = care.counsellor.token.clone();
    vec![
        Patchable {
            path: format!("/api/v1/centres/{}", care.centre),
            token: app.admin.clone(),
            same: json!({"name": "Dushanbe", "city": "Dushanbe", "country": "TJ", "active": true}),
            change: json!({"city": "Dushanbe, Somoni district"}),
            changed: "city",
            shows_person: false,
            race: ("city", json!("Vahdat"), json!("Hisor")),
        },
        Patchable {
            path: format!("/api/v1/users/{}", care.colleague.id),
            token: app.admin.clone(),
            same: json!({
                "full_name": "coun.a2 Test", "role": "counsellor",
                "centre_id": care.centre, "active": true,
            }),
            change: json!({"full_name": "Nilufar Rahimova"}),
            changed: "full_name",
            shows_person: false,
            race: ("full_name", json!("Nilufar A"), json!("Nilufar B")),
        },
        Patchable {
            path: format!("/api/v1/service-providers/{}", care.centre_provider),
            token: care.supervisor.token.clone(),
            same: json!({
                "name": "Dushanbe Shelter", "kind": "shelter", "description": null,
                "languages": [], "accepts_referrals": true, "active": true,
            }),
            change: json!({"languages": ["tg", "ru"]}),
            changed: "languages",
            shows_person: false,
            race: ("city", json!("Dushanbe"), json!("Vahdat")),
        },
        Patchable {
            path: format!("/api/v1/migrants/{}", care.migrant_id),
            token: counsellor.clone(),
            same: json!({
                "given_name": "Gulru", "family_name": "Jabborzoda", "patronymic": null,
                "sex": "female", "birth_year": 1994, "nationality": "TJ",
                "migration_status": "prospective", "vulnerabilities": [],
                "consent": {"services": true, "referral_sharing": true, "statistics": true},
            }),
            change: json!({"phone": "+992901234567"}),
            changed: "phone",
            shows_person: true,
            race: ("region_of_origin", json!("Sughd"), json!("Khatlon")),
        },
        Patchable {
            path: format!("/api/v1/cases/{}", care.case_id),
            token: counsellor.clone(),
            same: json!({"summary": "Unpaid wages in Moscow", "priority": "normal"}),
            change: json!({"priority": "urgent"}),
            changed: "priority",
            shows_person: true,
            race: (
                "summary",
                json!("Contract unsigned"),
                json!("Contract signed"),
            ),
        },
        Patchable {
            path: format!("/api/v1/consultations/{consultation}"),
            token: counsellor.clone(),
            same: json!({
                "occurred_at": rfc3339(at), "channel": "walk_in", "duration_minutes": 30,
                "topics": ["employment_abroad"], "language": "tg",
                "notes": "Discussed the contract", "outcome": null,
            }),
            change: json!({"topics": ["employment_abroad", "labour_rights"]}),
            changed: "topics",
            shows_person: true,
            race: ("notes", json!("Called back"), json!("Came back in person")),
        },
        Patchable {
            path: format!("/api/v1/follow-ups/{follow_up}"),
            token: counsellor,
            same: json!({
                "due_at": rfc3339(due), "kind": "call", "note": "check on the contract",
                "assigned_to": care.counsellor.id,
            }),
            change: json!({"kind": "visit"}),
            changed: "kind",
            shows_person: true,
            race: (
                "note",
                json!("ask about wages"),
                json!("ask about the visa"),
            ),
        },
    ]
}

fn one_field(field: &str, value: &Value) -> Value {
    let mut body = serde_json::Map::new();
    body.insert(field.to_owned(), value.clone());
    Value::Object(body)
}

fn etag_of(response: &reqwest::Response) -> String {
    response.headers()["etag"]
        .to_str()
        .expect("etag")
        .to_owned()
}

fn request_id_of(response: &reqwest::Response) -> String {
    response.headers()["x-request-id"]
        .to_str()
        .expect("request id")
        .to_owned()
}

/// (action, changed_fields) of the audit events a request recorded.
fn events_of(app: &TestApp, request_id: &str) -> Vec<(String, Value)> {
    let rows: Vec<(String, String)> = audit_events::table
        .filter(audit_events::request_id.eq(request_id))
        .select((audit_events::action, audit_events::changed_fields))
        .load(&mut app.db())
        .expect("audit events");
    rows.into_iter()
        .map(|(action, fields)| (action, serde_json::from_str(&fields).expect("json")))
        .collect()
}

/// The current (ETag, version) of a resource, read over HTTP.
async fn current(app: &TestApp, r: &Patchable) -> (String, i64) {
    let response = app.get(&r.path, &r.token).await;
    let etag = etag_of(&response);
    let body = expect(response, StatusCode::OK, &r.path).await;
    (etag, body["version"].as_i64().expect("version"))
}

/// PATCHes `unchanged`, which names only values already stored.
async fn a_patch_that_changes_nothing_keeps_the_version(
    app: &TestApp,
    r: &Patchable,
    unchanged: &Value,
) {
    let (etag, version) = current(app, r).await;
    let response = app.patch(&r.path, &r.token, &etag, unchanged.clone()).await;
    let (answered_etag, request_id) = (etag_of(&response), request_id_of(&response));
    let body = expect(response, StatusCode::OK, &format!("no-op {}", r.path)).await;
    assert_eq!(answered_etag, etag, "{}: same ETag", r.path);
    assert_eq!(body["version"], version, "{}: same version", r.path);
    let events = events_of(app, &request_id);
    if r.shows_person {
        assert_eq!(events.len(), 1, "{}: shown, once: {events:?}", r.path);
        assert_eq!(events[0].1, json!([]), "{}: nothing changed", r.path);
    } else {
        assert_eq!(events, [], "{}: nothing recorded", r.path);
    }
    assert_eq!(current(app, r).await, (etag, version), "{}: stored", r.path);
}

async fn a_real_patch_bumps_the_version_once(app: &TestApp, r: &Patchable) {
    let (etag, version) = current(app, r).await;
    let response = app.patch(&r.path, &r.token, &etag, r.change.clone()).await;
    let (answered_etag, request_id) = (etag_of(&response), request_id_of(&response));
    let body = expect(response, StatusCode::OK, &format!("change {}", r.path)).await;
    assert_ne!(answered_etag, etag, "{}: new ETag", r.path);
    assert_eq!(body["version"], version + 1, "{}: one new version", r.path);
    let events = events_of(app, &request_id);
    assert_eq!(events.len(), 1, "{}: one event: {events:?}", r.path);
    assert_eq!(
        events[0].1,
        json!([r.changed]),
        "{}: the changed field",
        r.path
    );
    assert_eq!(current(app, r).await, (answered_etag, version + 1));
}

backend_test!(a_patch_that_changes_nothing_keeps_version_and_etag_and_records_no_change);
async fn a_patch_that_changes_nothing_keeps_version_and_etag_and_records_no_change(app: TestApp) {
    for r in resources(&app).await {
        a_patch_that_changes_nothing_keeps_the_version(&app, &r, &r.same).await;
        a_real_patch_bumps_the_version_once(&app, &r).await;
        // Sending the same change again changes nothing more.
        a_patch_that_changes_nothing_keeps_the_version(&app, &r, &r.change).await;
    }
}

backend_test!(of_two_patches_sent_at_once_with_the_same_etag_exactly_one_wins);
async fn of_two_patches_sent_at_once_with_the_same_etag_exactly_one_wins(app: TestApp) {
    for r in resources(&app).await {
        let (etag, version) = current(&app, &r).await;
        let (field, first, second) = &r.race;
        let (a, b) = tokio::join!(
            app.patch(&r.path, &r.token, &etag, one_field(field, first)),
            app.patch(&r.path, &r.token, &etag, one_field(field, second)),
        );
        let winner = match (a.status(), b.status()) {
            (StatusCode::OK, StatusCode::PRECONDITION_FAILED) => first,
            (StatusCode::PRECONDITION_FAILED, StatusCode::OK) => second,
            other => panic!("{:?} {}: {other:?}", app.backend, r.path),
        };
        let stored = expect(app.get(&r.path, &r.token).await, StatusCode::OK, "read").await;
        assert_eq!(&stored[*field], winner, "{:?} {}", app.backend, r.path);
        assert_eq!(stored["version"], version + 1, "{}: one save", r.path);
    }
}

backend_test!(of_two_identical_referral_moves_sent_at_once_one_is_refused);
async fn of_two_identical_referral_moves_sent_at_once_one_is_refused(app: TestApp) {
    let care = Care::new(&app).await;
    let token = &care.counsellor.token;
    let referral = id(&refer(&app, token, &care.case_id, &care.global_provider, None).await);
    let path = format!("/api/v1/referrals/{referral}/transitions");
    let (a, b) = tokio::join!(
        app.post(&path, token, json!({"to": "sent"})),
        app.post(&path, token, json!({"to": "sent"})),
    );
    let mut statuses = [a.status(), b.status()];
    statuses.sort();
    assert_eq!(statuses, [StatusCode::OK, StatusCode::CONFLICT]);
    let (status, version, moves) = app.stored_referral(&referral);
    assert_eq!((status.as_str(), version, moves), ("sent", 2, 2));
}

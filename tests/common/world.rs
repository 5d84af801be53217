//! Shared fixtures for the migrant, case and consultation tests.
//!
//! [`World::build`] sets up the smallest cast the access rules need:
//! - two centres, `centre` (Dushanbe) and `other_centre` (Khujand);
//! - in `centre`: `counsellor` (the assigned counsellor), `colleague` (another counsellor),
//!   `supervisor`;
//! - in `other_centre`: `other_supervisor`;
//! - a migrant registered by `counsellor`, an open case for them assigned to `counsellor`, and a
//!   consultation `counsellor` logged on that case.
//!
//! The helpers below build request bodies with valid defaults and check statuses, printing the
//! response body when a status is not the expected one.
#![allow(dead_code)]

use chrono::{Duration, Utc};
use reqwest::StatusCode;
use serde_json::{json, Value};

use super::{Account, TestApp};

pub struct World {
    pub centre: String,
    pub other_centre: String,
    /// Registered `migrant`, holds `case`, logged `consultation`.
    pub counsellor: Account,
    /// A counsellor of the same centre with nothing to do with `migrant`.
    pub colleague: Account,
    pub supervisor: Account,
    /// A supervisor of `other_centre`.
    pub other_supervisor: Account,
    pub migrant: String,
    pub case: String,
    pub consultation: String,
}

impl World {
    pub async fn build(app: &TestApp) -> World {
        let centre = app.create_centre("Dushanbe").await;
        let other_centre = app.create_centre("Khujand").await;
        let counsellor = app
            .create_staff("counsellor", "counsellor", Some(&centre))
            .await;
        let colleague = app
            .create_staff("colleague", "counsellor", Some(&centre))
            .await;
        let supervisor = app
            .create_staff("supervisor", "supervisor", Some(&centre))
            .await;
        let other_supervisor = app
            .create_staff("other-supervisor", "supervisor", Some(&other_centre))
            .await;
        let migrant = register(app, &counsellor.token, migrant_body("Gulru", "Jabborzoda")).await
            ["id"]
            .as_str()
            .unwrap()
            .to_owned();
        let case = open_case(app, &counsellor.token, &migrant, None).await["id"]
            .as_str()
            .unwrap()
            .to_owned();
        let consultation = log(app, &counsellor.token, on_case(&case)).await["id"]
            .as_str()
            .unwrap()
            .to_owned();
        World {
            centre,
            other_centre,
            counsellor,
            colleague,
            supervisor,
            other_supervisor,
            migrant,
            case,
            consultation,
        }
    }
}

/// Reads the JSON body, failing with `what`, the status and the body when the status differs.
pub async fn expect(response: reqwest::Response, status: StatusCode, what: &str) -> Value {
    let actual = response.status();
    let text = response.text().await.expect("body");
    assert_eq!(actual, status, "{what}: unexpected status; body: {text}");
    if text.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).unwrap_or(Value::String(text))
    }
}

/// The `ETag` header of a response.
pub fn etag(response: &reqwest::Response) -> String {
    response
        .headers()
        .get("etag")
        .expect("ETag header")
        .to_str()
        .unwrap()
        .to_owned()
}

/// The `field` of every item of a list body.
pub fn field_of_items(body: &Value, field: &str) -> Vec<String> {
    body["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|item| item[field].as_str().expect(field).to_owned())
        .collect()
}

/// Follows `next_cursor` to the end of a list and returns every item id in order.
/// `path` may already carry a query string.
pub async fn all_ids(app: &TestApp, token: &str, path: &str, limit: u32) -> Vec<String> {
    let separator = if path.contains('?') { '&' } else { '?' };
    let mut ids = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut url = format!("{path}{separator}limit={limit}");
        if let Some(cursor) = &cursor {
            url.push_str(&format!("&cursor={cursor}"));
        }
        let page = expect(app.get(&url, token).await, StatusCode::OK, &url).await;
        ids.extend(field_of_items(&page, "id"));
        match page["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => return ids,
        }
    }
}

/// Sorted ids, for comparing scopes.
pub fn sorted(mut ids: Vec<String>) -> Vec<String> {
    ids.sort();
    ids
}

/// A valid registration: a prospective migrant from Tajikistan born in 1994, consenting to all.
pub fn migrant_body(given_name: &str, family_name: &str) -> Value {
    json!({
        "given_name": given_name,
        "family_name": family_name,
        "sex": "female",
        "birth_year": 1994,
        "nationality": "TJ",
        "phone": "+992901234567",
        "preferred_language": "tg",
        "migration_status": "prospective",
        "destination_country": "RU",
        "vulnerabilities": [],
        "consent": {"services": true, "referral_sharing": true, "statistics": true},
    })
}

/// Registers a migrant (201 expected) and returns the record.
pub async fn register(app: &TestApp, token: &str, body: Value) -> Value {
    expect(
        app.post("/api/v1/migrants", token, body).await,
        StatusCode::CREATED,
        "register migrant",
    )
    .await
}

/// Opens a case (201 expected) and returns it.
pub async fn open_case(
    app: &TestApp,
    token: &str,
    migrant_id: &str,
    assigned_to: Option<&str>,
) -> Value {
    let mut body = json!({"migrant_id": migrant_id, "summary": "Unpaid wages in Moscow"});
    if let Some(assignee) = assigned_to {
        body["assigned_to"] = json!(assignee);
    }
    expect(
        app.post("/api/v1/cases", token, body).await,
        StatusCode::CREATED,
        "open case",
    )
    .await
}

/// Closes a case (200 expected).
pub async fn close_case(app: &TestApp, token: &str, case_id: &str) -> Value {
    expect(
        app.post(
            &format!("/api/v1/cases/{case_id}/close"),
            token,
            json!({"reason": "resolved"}),
        )
        .await,
        StatusCode::OK,
        "close case",
    )
    .await
}

/// The fields every consultation needs; `occurred_at` an hour ago.
pub fn consultation_details() -> Value {
    json!({
        "occurred_at": (Utc::now() - Duration::hours(1)).format("%Y-%m-%dT%H:%M:%SZ").to_string(),
        "channel": "walk_in",
        "duration_minutes": 20,
        "topics": ["labour_rights"],
        "language": "tg",
        "notes": "Explained how to claim unpaid wages",
    })
}

pub fn on_case(case_id: &str) -> Value {
    let mut body = consultation_details();
    body["case_id"] = json!(case_id);
    body
}

pub fn for_migrant(migrant_id: &str) -> Value {
    let mut body = consultation_details();
    body["migrant_id"] = json!(migrant_id);
    body
}

pub fn anonymous() -> Value {
    let mut body = consultation_details();
    body["anonymous"] = json!({
        "sex": "male",
        "age_band": "25-34",
        "nationality": "TJ",
        "migration_status": "prospective",
    });
    body
}

/// Logs a consultation (201 expected) and returns it.
pub async fn log(app: &TestApp, token: &str, body: Value) -> Value {
    expect(
        app.post("/api/v1/consultations", token, body).await,
        StatusCode::CREATED,
        "log consultation",
    )
    .await
}

/// The id of a JSON object.
pub fn id(value: &Value) -> String {
    value["id"].as_str().expect("id").to_owned()
}

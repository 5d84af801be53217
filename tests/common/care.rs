//! Fixtures for the care work: providers, referrals, follow-ups, caseloads.
//!
//! [`Care::new`] builds two centres; in centre A a counsellor with a registered migrant (every
//! consent given) and an open case, a colleague counsellor and the supervisor; in centre B a
//! supervisor; a global provider (admin) and a provider of centre A (its supervisor).

use chrono::{NaiveDate, NaiveDateTime, Utc};
use diesel::prelude::*;
use reqwest::StatusCode;
use serde_json::{json, Value};

use super::{Account, TestApp};

pub struct Care {
    pub centre: String,
    pub other_centre: String,
    /// Holds `case_id` and registered `migrant_id`.
    pub counsellor: Account,
    /// Another counsellor of the same centre.
    pub colleague: Account,
    pub supervisor: Account,
    /// The supervisor of the other centre.
    pub other_supervisor: Account,
    pub migrant_id: String,
    pub case_id: String,
    /// Global entry, created by the admin; active, accepts referrals.
    pub global_provider: String,
    /// Centre A's own entry, created by its supervisor; active, accepts referrals.
    pub centre_provider: String,
}

impl Care {
    pub async fn new(app: &TestApp) -> Care {
        let centre = app.create_centre("Dushanbe").await;
        let other_centre = app.create_centre("Khujand").await;
        let counsellor = app
            .create_staff("coun.a", "counsellor", Some(&centre))
            .await;
        let colleague = app
            .create_staff("coun.a2", "counsellor", Some(&centre))
            .await;
        let supervisor = app.create_staff("sup.a", "supervisor", Some(&centre)).await;
        let other_supervisor = app
            .create_staff("sup.b", "supervisor", Some(&other_centre))
            .await;
        let migrant_id = register_migrant(app, &counsellor.token, "Gulru", ALL_CONSENT).await;
        let case_id = open_case(app, &counsellor.token, &migrant_id, "normal", None).await;
        let global_provider = create_provider(
            app,
            &app.admin,
            json!({"name": "Legal Aid Global", "kind": "legal_aid", "accepts_referrals": true}),
        )
        .await;
        let centre_provider = create_provider(
            app,
            &supervisor.token,
            json!({"name": "Dushanbe Shelter", "kind": "shelter", "accepts_referrals": true}),
        )
        .await;
        Care {
            centre,
            other_centre,
            counsellor,
            colleague,
            supervisor,
            other_supervisor,
            migrant_id,
            case_id,
            global_provider,
            centre_provider,
        }
    }
}

/// (services, referral_sharing, statistics)
pub const ALL_CONSENT: (bool, bool, bool) = (true, true, true);
pub const NO_REFERRAL_CONSENT: (bool, bool, bool) = (true, false, true);

/// Asserts the status and returns the JSON body (the body is shown when the status differs).
pub async fn expect(response: reqwest::Response, status: StatusCode, what: &str) -> Value {
    let actual = response.status();
    let text = response.text().await.expect("body");
    assert_eq!(actual, status, "{what}: {text}");
    if text.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).unwrap_or(Value::String(text))
    }
}

pub async fn register_migrant(
    app: &TestApp,
    token: &str,
    given_name: &str,
    (services, referral_sharing, statistics): (bool, bool, bool),
) -> String {
    let response = app
        .post(
            "/api/v1/migrants",
            token,
            json!({
                "given_name": given_name,
                "family_name": "Jabborzoda",
                "sex": "female",
                "birth_year": 1994,
                "nationality": "TJ",
                "migration_status": "prospective",
                "consent": {
                    "services": services,
                    "referral_sharing": referral_sharing,
                    "statistics": statistics,
                },
            }),
        )
        .await;
    let body = expect(response, StatusCode::CREATED, "register migrant").await;
    body["id"].as_str().expect("migrant id").to_owned()
}

pub async fn open_case(
    app: &TestApp,
    token: &str,
    migrant_id: &str,
    priority: &str,
    assigned_to: Option<&str>,
) -> String {
    let mut body = json!({
        "migrant_id": migrant_id,
        "summary": "Needs help with a work contract abroad",
        "priority": priority,
    });
    if let Some(assignee) = assigned_to {
        body["assigned_to"] = json!(assignee);
    }
    let response = app.post("/api/v1/cases", token, body).await;
    let body = expect(response, StatusCode::CREATED, "open case").await;
    body["id"].as_str().expect("case id").to_owned()
}

pub async fn create_provider(app: &TestApp, token: &str, body: Value) -> String {
    let response = app.post("/api/v1/service-providers", token, body).await;
    let body = expect(response, StatusCode::CREATED, "create provider").await;
    body["id"].as_str().expect("provider id").to_owned()
}

pub async fn refer_response(
    app: &TestApp,
    token: &str,
    case_id: &str,
    provider_id: &str,
    expected_response_by: Option<NaiveDate>,
) -> reqwest::Response {
    let mut body = json!({
        "provider_id": provider_id,
        "reason": "Contract dispute with a recruitment agency",
        "urgency": "normal",
    });
    if let Some(by) = expected_response_by {
        body["expected_response_by"] = json!(by.to_string());
    }
    app.post(&format!("/api/v1/cases/{case_id}/referrals"), token, body)
        .await
}

/// Creates a referral (pending) and returns its body.
pub async fn refer(
    app: &TestApp,
    token: &str,
    case_id: &str,
    provider_id: &str,
    expected_response_by: Option<NaiveDate>,
) -> Value {
    let response = refer_response(app, token, case_id, provider_id, expected_response_by).await;
    expect(response, StatusCode::CREATED, "create referral").await
}

pub async fn transition_response(
    app: &TestApp,
    token: &str,
    referral_id: &str,
    to: &str,
    note: Option<&str>,
) -> reqwest::Response {
    let mut body = json!({ "to": to });
    if let Some(note) = note {
        body["note"] = json!(note);
    }
    app.post(
        &format!("/api/v1/referrals/{referral_id}/transitions"),
        token,
        body,
    )
    .await
}

/// Moves a referral, with a note; panics unless 200.
pub async fn move_referral(app: &TestApp, token: &str, referral_id: &str, to: &str) -> Value {
    let response =
        transition_response(app, token, referral_id, to, Some(&format!("moved to {to}"))).await;
    expect(response, StatusCode::OK, &format!("move referral to {to}")).await
}

/// The legal moves that bring a new (pending) referral to `status`.
pub fn path_to(status: &str) -> &'static [&'static str] {
    match status {
        "pending" => &[],
        "sent" => &["sent"],
        "accepted" => &["sent", "accepted"],
        "completed" => &["sent", "accepted", "completed"],
        "declined" => &["sent", "declined"],
        "cancelled" => &["cancelled"],
        other => panic!("unknown referral status {other}"),
    }
}

/// A new referral on `case_id` brought to `status` by legal moves.
pub async fn referral_in(
    app: &TestApp,
    token: &str,
    case_id: &str,
    provider_id: &str,
    status: &str,
    expected_response_by: Option<NaiveDate>,
) -> Value {
    let mut referral = refer(app, token, case_id, provider_id, expected_response_by).await;
    let id = referral["id"].as_str().unwrap().to_owned();
    for step in path_to(status) {
        referral = move_referral(app, token, &id, step).await;
    }
    assert_eq!(referral["status"], status);
    referral
}

pub async fn follow_up_response(
    app: &TestApp,
    token: &str,
    case_id: &str,
    body: Value,
) -> reqwest::Response {
    app.post(&format!("/api/v1/cases/{case_id}/follow-ups"), token, body)
        .await
}

/// Schedules a call on the case, due `due_at`; returns its body.
pub async fn schedule(
    app: &TestApp,
    token: &str,
    case_id: &str,
    due_at: chrono::DateTime<Utc>,
    assigned_to: Option<&str>,
) -> Value {
    let mut body =
        json!({"due_at": rfc3339(due_at), "kind": "call", "note": "check on the contract"});
    if let Some(assignee) = assigned_to {
        body["assigned_to"] = json!(assignee);
    }
    let response = follow_up_response(app, token, case_id, body).await;
    expect(response, StatusCode::CREATED, "schedule follow-up").await
}

/// Logs a walk-in consultation on a case; returns its body.
pub async fn consult(
    app: &TestApp,
    token: &str,
    case_id: &str,
    occurred_at: chrono::DateTime<Utc>,
) -> Value {
    let response = app
        .post(
            "/api/v1/consultations",
            token,
            json!({
                "case_id": case_id,
                "occurred_at": rfc3339(occurred_at),
                "channel": "walk_in",
                "duration_minutes": 30,
                "topics": ["employment_abroad"],
                "language": "tg",
                "notes": "Discussed the contract",
            }),
        )
        .await;
    expect(response, StatusCode::CREATED, "log consultation").await
}

/// RFC 3339 UTC at second precision (`...Z`), safe in a query string.
pub fn rfc3339(at: chrono::DateTime<Utc>) -> String {
    at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

pub fn today() -> NaiveDate {
    Utc::now().date_naive()
}

pub fn id_of(value: &Value) -> String {
    value["id"].as_str().expect("id").to_owned()
}

/// Ids of a list response's items, in order.
pub fn ids(list: &Value) -> Vec<String> {
    list["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(id_of)
        .collect()
}

impl TestApp {
    /// GETs a list and returns the ids of its items (panics unless 200).
    pub async fn list_ids(&self, path: &str, token: &str) -> Vec<String> {
        let body = expect(self.get(path, token).await, StatusCode::OK, path).await;
        ids(&body)
    }

    /// Simulates time passing: sets a follow-up's due time directly in the database.
    pub fn set_follow_up_due(&self, id: &str, due_at: NaiveDateTime) {
        use karvon::db::schema::follow_ups;
        diesel::update(follow_ups::table.filter(follow_ups::id.eq(id)))
            .set(follow_ups::due_at.eq(due_at))
            .execute(&mut self.db())
            .expect("back-date follow-up");
    }

    /// Simulates time passing: sets a referral's expected response date.
    pub fn set_referral_expected(&self, id: &str, by: NaiveDate) {
        use karvon::db::schema::referrals;
        diesel::update(referrals::table.filter(referrals::id.eq(id)))
            .set(referrals::expected_response_by.eq(Some(by)))
            .execute(&mut self.db())
            .expect("back-date referral");
    }

    /// Simulates time passing: sets when a case was opened.
    pub fn set_case_opened_at(&self, id: &str, at: NaiveDateTime) {
        use karvon::db::schema::cases;
        diesel::update(cases::table.filter(cases::id.eq(id)))
            .set(cases::opened_at.eq(at))
            .execute(&mut self.db())
            .expect("back-date case");
    }

    /// Stored (status, version, number of history entries) of a referral.
    pub fn stored_referral(&self, id: &str) -> (String, i32, i64) {
        use karvon::db::schema::{referral_transitions, referrals};
        let mut conn = self.db();
        let (status, version) = referrals::table
            .filter(referrals::id.eq(id))
            .select((referrals::status, referrals::version))
            .first::<(String, i32)>(&mut conn)
            .expect("stored referral");
        let moves = referral_transitions::table
            .filter(referral_transitions::referral_id.eq(id))
            .count()
            .get_result::<i64>(&mut conn)
            .expect("transitions");
        (status, version, moves)
    }

    /// Stored (status, outcome, version) of a follow-up.
    pub fn stored_follow_up(&self, id: &str) -> (String, Option<String>, i32) {
        use karvon::db::schema::follow_ups;
        follow_ups::table
            .filter(follow_ups::id.eq(id))
            .select((follow_ups::status, follow_ups::outcome, follow_ups::version))
            .first(&mut self.db())
            .expect("stored follow-up")
    }

    /// Stored (status, version) of a case.
    pub fn stored_case(&self, id: &str) -> (String, i32) {
        use karvon::db::schema::cases;
        cases::table
            .filter(cases::id.eq(id))
            .select((cases::status, cases::version))
            .first(&mut self.db())
            .expect("stored case")
    }
}

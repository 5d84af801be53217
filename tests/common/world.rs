//! Shared fixtures: the casts the tests start from and helpers that build valid requests.
//!
//! [`World::build`] sets up the smallest cast the access rules of migrants, cases and
//! consultations need:
//! - two centres, `centre` (Dushanbe) and `other_centre` (Khujand);
//! - in `centre`: `counsellor` (the assigned counsellor), `colleague` (another counsellor),
//!   `supervisor`;
//! - in `other_centre`: `other_supervisor`;
//! - a migrant registered by `counsellor`, an open case for them assigned to `counsellor`, and a
//!   consultation `counsellor` logged on that case.
//!
//! [`Care::new`] sets up the care work (providers, referrals, follow-ups, caseloads): two
//! centres; in centre A a counsellor with a registered migrant (every consent given) and an open
//! case, a colleague counsellor and the supervisor; in centre B a supervisor; a global provider
//! (admin) and a provider of centre A (its supervisor).
//!
//! The helpers build request bodies with valid defaults and check statuses, printing the
//! response body when a status is not the expected one.
#![allow(dead_code)]

use chrono::{Duration, NaiveDate, NaiveDateTime, Utc};
use diesel::prelude::*;
use reqwest::StatusCode;
use serde_json::{json, Value};

use super::{expect, id, Account, TestApp};

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
        let case = open_case(app, &counsellor.token, &migrant, "normal", None).await["id"]
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

/// Opens a case of `priority` (201 expected) and returns it.
pub async fn open_case(
    app: &TestApp,
    token: &str,
    migrant_id: &str,
    priority: &str,
    assigned_to: Option<&str>,
) -> Value {
    let mut body = json!({
        "migrant_id": migrant_id,
        "summary": "Unpaid wages in Moscow",
        "priority": priority,
    });
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
        let case_id = id(&open_case(app, &counsellor.token, &migrant_id, "normal", None).await);
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

/// A referral brought to `status` whose expected response date passed `days_ago` days ago. The
/// date is set in the database (time passing): the server refuses to create one so old, and a
/// date it checks against its own today would fail a run across midnight.
pub async fn past_referral(
    app: &TestApp,
    token: &str,
    case_id: &str,
    provider_id: &str,
    status: &str,
    days_ago: i64,
) -> Value {
    let referral = referral_in(app, token, case_id, provider_id, status, None).await;
    app.set_referral_expected(&id(&referral), today() - Duration::days(days_ago));
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

/// Ids of a list response's items, in order.
pub fn ids(list: &Value) -> Vec<String> {
    field_of_items(list, "id")
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

/// A valid group session: a pre-departure orientation in Dushanbe yesterday, facilitated by the
/// caller, with 5 anonymous young men and 3 young women.
pub fn session_body() -> Value {
    json!({
        "kind": "pre_departure_orientation",
        "title": "Working legally in Russia",
        "starts_at": rfc3339(Utc::now() - Duration::days(1)),
        "duration_minutes": 90,
        "place": {"city": "Dushanbe", "district": "Sino", "venue": "MRC training room"},
        "language": "tg",
        "topics": ["pre_departure", "legal_documents"],
        "notes": "Patent, registration and contracts",
        "tallies": [
            {"sex": "male", "age_band": "18-24", "migration_status": "prospective", "count": 5},
            {"sex": "female", "age_band": "25-34", "migration_status": "prospective", "count": 3},
        ],
    })
}

/// Records a group session (201 expected) and returns it.
pub async fn create_session(app: &TestApp, token: &str, body: Value) -> Value {
    expect(
        app.post("/api/v1/group-sessions", token, body).await,
        StatusCode::CREATED,
        "create group session",
    )
    .await
}

/// Adds registered attendees (200 expected) and returns the session.
pub async fn attend(app: &TestApp, token: &str, session: &str, migrants: &[&str]) -> Value {
    expect(
        app.post(
            &format!("/api/v1/group-sessions/{session}/attendees"),
            token,
            json!({ "migrant_ids": migrants }),
        )
        .await,
        StatusCode::OK,
        "add attendees",
    )
    .await
}

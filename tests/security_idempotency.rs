//! The Idempotency-Key store keeps no secrets and no personal data: routes that carry passwords
//! or hand out tokens ignore the key, requests are known by a keyed HMAC, responses by their
//! status and the path of the resource they showed, and a replay reads that resource again.

mod common;

use std::collections::BTreeSet;

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use chrono::{Duration, NaiveDateTime, Utc};
use common::world::{anonymous, migrant_body, on_case, rfc3339, session_body, Care, World};
use common::{expect, id, Account, TestApp};
use diesel::prelude::*;
use diesel::query_builder::SqlQuery;
use diesel::query_dsl::LoadQuery;
use diesel::sql_types::{Nullable, Text};
use karvon::config::{JwtSecret, ServeConfig};
use karvon::db::schema::{idempotency_keys, migrants};
use karvon::db::DbConnection;
use karvon::http::idempotency::{accepts_key, purge_expired};
use karvon::startup::Application;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

async fn keyed(
    app: &TestApp,
    path: &str,
    token: Option<&str>,
    key: &str,
    body: &Value,
) -> reqwest::Response {
    let mut request = app
        .client
        .post(app.url(path))
        .header("Idempotency-Key", key)
        .header("content-type", "application/json")
        .body(serde_json::to_vec(body).unwrap());
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    request.send().await.expect("request")
}

fn key_rows(app: &TestApp) -> i64 {
    idempotency_keys::table
        .count()
        .get_result(&mut app.db())
        .unwrap()
}

fn replayed(response: &reqwest::Response) -> bool {
    response
        .headers()
        .get("idempotent-replayed")
        .is_some_and(|v| v == "true")
}

fn header(response: &reqwest::Response, name: &str) -> String {
    response.headers()[name].to_str().unwrap().to_owned()
}

async fn staff(app: &TestApp) -> Account {
    let centre = app.create_centre("Dushanbe").await;
    app.create_staff("nodira", "counsellor", Some(&centre))
        .await
}

// ---------------------------------------------------------------- routes that ignore the key

backend_test!(login_and_refresh_with_a_key_store_nothing_and_hand_out_fresh_tokens);
async fn login_and_refresh_with_a_key_store_nothing_and_hand_out_fresh_tokens(app: TestApp) {
    let user = staff(&app).await;
    let login = json!({"username": user.username, "password": user.password});
    let path = "/api/v1/auth/login";
    let (mut access, mut refresh_tokens) = (BTreeSet::new(), Vec::new());
    for _ in 0..2 {
        let response = keyed(&app, path, Some(&user.token), "login-1", &login).await;
        assert!(!replayed(&response));
        let body = expect(response, StatusCode::OK, "login").await;
        access.insert(body["access_token"].as_str().unwrap().to_owned());
        refresh_tokens.push(body["refresh_token"].as_str().unwrap().to_owned());
    }
    assert_eq!(access.len(), 2, "a fresh access token each time");
    assert_ne!(
        refresh_tokens[0], refresh_tokens[1],
        "a fresh refresh token each time"
    );

    let refresh = json!({"refresh_token": refresh_tokens[0]});
    let path = "/api/v1/auth/refresh";
    let first = keyed(&app, path, Some(&user.token), "refresh-1", &refresh).await;
    let first = expect(first, StatusCode::OK, "refresh").await;
    // The retry runs as a second use of a rotated token, which ends that session: it must
    // not hand out the first answer's tokens again.
    let retry = keyed(&app, path, Some(&user.token), "refresh-1", &refresh).await;
    assert!(!replayed(&retry));
    assert_eq!(retry.status(), StatusCode::UNAUTHORIZED);
    let retry = retry.text().await.unwrap();
    assert!(!retry.contains(first["refresh_token"].as_str().unwrap()));
    // The same key with another body is no mismatch either: the key is not looked at.
    let other = json!({"refresh_token": refresh_tokens[1]});
    let fresh = keyed(&app, path, Some(&user.token), "refresh-1", &other).await;
    let fresh = expect(fresh, StatusCode::OK, "refresh the other session").await;
    assert_ne!(fresh["refresh_token"], first["refresh_token"]);
    assert_eq!(key_rows(&app), 0, "nothing stored");
}

backend_test!(password_change_logout_and_user_creation_with_a_key_store_nothing);
async fn password_change_logout_and_user_creation_with_a_key_store_nothing(app: TestApp) {
    let user = staff(&app).await;
    let change = json!({"current_password": user.password, "new_password": "a-new-secret-2027"});
    let path = "/api/v1/me/password";
    let first = keyed(&app, path, Some(&user.token), "pw-1", &change).await;
    assert_eq!(first.status(), StatusCode::NO_CONTENT);
    let token = app.login(&user.username, "a-new-secret-2027").await;
    // Runs again: the old password is no longer the current one.
    let retry = keyed(&app, path, Some(&token), "pw-1", &change).await;
    assert!(!replayed(&retry));
    assert_eq!(retry.status(), StatusCode::UNPROCESSABLE_ENTITY);

    let logout = keyed(
        &app,
        "/api/v1/auth/logout",
        Some(&token),
        "out-1",
        &json!({}),
    )
    .await;
    assert_eq!(logout.status(), StatusCode::NO_CONTENT);

    let new_user = json!({
        "username": "farrukh", "full_name": "Farrukh Test", "role": "counsellor",
        "centre_id": user.centre_id, "password": "initial-secret-pw-2026",
    });
    let first = keyed(&app, "/api/v1/users", Some(&app.admin), "user-1", &new_user).await;
    assert_eq!(first.status(), StatusCode::CREATED);
    let retry = keyed(&app, "/api/v1/users", Some(&app.admin), "user-1", &new_user).await;
    assert!(!replayed(&retry));
    assert_eq!(
        retry.status(),
        StatusCode::CONFLICT,
        "runs again: username taken"
    );
    assert_eq!(key_rows(&app), 0, "nothing stored");
}

/// Property names of a schema, following `$ref`s into the document's components.
fn property_names(
    spec: &Value,
    schema: &Value,
    seen: &mut BTreeSet<String>,
    out: &mut Vec<String>,
) {
    if let Some(reference) = schema.get("$ref").and_then(Value::as_str) {
        if seen.insert(reference.to_owned()) {
            let name = reference.rsplit('/').next().unwrap();
            property_names(spec, &spec["components"]["schemas"][name], seen, out);
        }
        return;
    }
    match schema {
        Value::Object(map) => {
            if let Some(Value::Object(properties)) = map.get("properties") {
                out.extend(properties.keys().cloned());
            }
            for value in map.values() {
                property_names(spec, value, seen, out);
            }
        }
        Value::Array(items) => items
            .iter()
            .for_each(|item| property_names(spec, item, seen, out)),
        _ => {}
    }
}

fn posts(spec: &Value) -> Vec<(String, Value)> {
    spec["paths"]
        .as_object()
        .unwrap()
        .iter()
        .filter_map(|(path, item)| item.get("post").map(|op| (path.clone(), op.clone())))
        .collect()
}

fn declares_key(operation: &Value) -> bool {
    operation["parameters"]
        .as_array()
        .is_some_and(|ps| ps.iter().any(|p| p["name"] == "Idempotency-Key"))
}

#[test]
fn every_post_whose_body_carries_a_password_ignores_the_key() {
    let spec = serde_json::to_value(karvon::startup::api_spec()).unwrap();
    let mut with_password = Vec::new();
    for (path, operation) in posts(&spec) {
        let mut names = Vec::new();
        let body = &operation["requestBody"];
        property_names(&spec, body, &mut BTreeSet::new(), &mut names);
        if names.iter().any(|n| n.to_lowercase().contains("password")) {
            assert!(
                !accepts_key(&path),
                "{path} takes a password but honours Idempotency-Key"
            );
            assert!(
                !declares_key(&operation),
                "{path} documents Idempotency-Key"
            );
            with_password.push(path);
        }
    }
    for expected in ["/api/v1/auth/login", "/api/v1/me/password", "/api/v1/users"] {
        assert!(
            with_password.iter().any(|p| p == expected),
            "walk missed {expected}"
        );
    }
    for (path, operation) in posts(&spec) {
        let api = path.starts_with("/api/");
        assert_eq!(
            declares_key(&operation),
            api && accepts_key(&path),
            "{path}"
        );
    }
}

// ---------------------------------------------------------------- what a keyed create keeps

#[derive(QueryableByName)]
struct Name {
    #[diesel(sql_type = Text)]
    name: String,
}

#[derive(QueryableByName)]
struct Cell {
    #[diesel(sql_type = Nullable<Text>)]
    value: Option<String>,
}

fn column_values<C: Connection>(conn: &mut C, columns_sql: &str) -> Vec<(String, String)>
where
    SqlQuery: for<'a> LoadQuery<'a, C, Name> + for<'a> LoadQuery<'a, C, Cell>,
{
    let columns: Vec<Name> = diesel::sql_query(columns_sql).load(conn).unwrap();
    let mut values = Vec::new();
    for Name { name } in columns {
        let sql = format!("SELECT CAST({name} AS TEXT) AS value FROM idempotency_keys");
        let cells: Vec<Cell> = diesel::sql_query(sql).load(conn).unwrap();
        values.extend(
            cells
                .into_iter()
                .filter_map(|c| c.value)
                .map(|v| (name.clone(), v)),
        );
    }
    values
}

/// Every value of every column of `idempotency_keys` as text, with its column. The columns are
/// read from the database, so one added later is scanned too.
fn stored_values(app: &TestApp) -> Vec<(String, String)> {
    match app.db() {
        DbConnection::Sqlite(mut conn) => column_values(
            &mut conn,
            "SELECT name FROM pragma_table_info('idempotency_keys')",
        ),
        DbConnection::Postgresql(mut conn) => column_values(
            &mut conn,
            "SELECT column_name::text AS name FROM information_schema.columns \
             WHERE table_schema = 'public' AND table_name = 'idempotency_keys'",
        ),
    }
}

fn sha256(parts: &[&[u8]]) -> Vec<u8> {
    let mut hasher = Sha256::new();
    parts.iter().for_each(|part| hasher.update(part));
    hasher.finalize().to_vec()
}

/// Anyone who reads a plain SHA-256 of a request can test guesses of its body.
fn assert_not_a_plain_hash(fingerprint: &str, path: &str, body: &[u8]) {
    let plain = [
        sha256(&[path.as_bytes(), &[0], &[0], body]),
        sha256(&[body]),
        sha256(&[path.as_bytes(), body]),
    ];
    for digest in plain {
        let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
        for encoded in [
            URL_SAFE_NO_PAD.encode(&digest),
            STANDARD.encode(&digest),
            hex,
        ] {
            assert_ne!(fingerprint, encoded, "a plain SHA-256 fingerprint");
        }
    }
}

backend_test!(a_keyed_registration_stores_no_body_no_name_and_no_plain_hash);
async fn a_keyed_registration_stores_no_body_no_name_and_no_plain_hash(app: TestApp) {
    let w = World::build(&app).await;
    let mut body = migrant_body("Parvina", "Sharipova");
    body["patronymic"] = json!("Rustamovna");
    let path = "/api/v1/migrants";
    let response = keyed(&app, path, Some(&w.counsellor.token), "reg-1", &body).await;
    let created = expect(response, StatusCode::CREATED, "register").await;

    let values = stored_values(&app);
    let columns: BTreeSet<_> = values.iter().map(|(c, _)| c.as_str()).collect();
    assert!(columns.contains("request_fingerprint") && columns.contains("content_location"));
    let created_text = created.to_string();
    for (column, value) in &values {
        let token = w.counsellor.token.as_str();
        for secret in ["Parvina", "Sharipova", "Rustamovna", "+992901234567", token] {
            assert!(!value.contains(secret), "{column} holds {secret}");
        }
        assert!(
            !value.contains(&created_text),
            "{column} holds the response body"
        );
        assert!(!value.contains("\"given_name\""), "{column} holds JSON");
    }
    let location: Option<String> = idempotency_keys::table
        .select(idempotency_keys::content_location)
        .first(&mut app.db())
        .unwrap();
    assert_eq!(
        location.unwrap(),
        format!("/api/v1/migrants/{}", id(&created))
    );

    let fingerprint: String = idempotency_keys::table
        .select(idempotency_keys::request_fingerprint)
        .first(&mut app.db())
        .unwrap();
    assert_not_a_plain_hash(&fingerprint, path, &serde_json::to_vec(&body).unwrap());
}

// ---------------------------------------------------------------- replays

backend_test!(a_replay_answers_the_first_status_with_the_resource_as_it_is_now);
async fn a_replay_answers_the_first_status_with_the_resource_as_it_is_now(app: TestApp) {
    let w = World::build(&app).await;
    let token = w.counsellor.token.as_str();
    let count = || -> i64 { migrants::table.count().get_result(&mut app.db()).unwrap() };
    let before = count();
    let body = migrant_body("Parvina", "Sharipova");
    let path = "/api/v1/migrants";
    let first = keyed(&app, path, Some(token), "reg-2", &body).await;
    assert!(!replayed(&first));
    let location = header(&first, "location");
    assert_eq!(header(&first, "content-location"), location);
    let first = expect(first, StatusCode::CREATED, "register").await;
    assert_eq!(location, format!("/api/v1/migrants/{}", id(&first)));

    let retry = keyed(&app, path, Some(token), "reg-2", &body).await;
    assert_eq!(retry.status(), StatusCode::CREATED);
    assert!(replayed(&retry));
    assert_eq!(header(&retry, "etag"), "\"1\"");
    assert_eq!(header(&retry, "location"), location);
    let retry: Value = retry.json().await.unwrap();
    assert_eq!(retry, first);

    let etag = app.etag(&location, token).await;
    let changed = app
        .patch(&location, token, &etag, json!({"given_name": "Parvin"}))
        .await;
    expect(changed, StatusCode::OK, "update").await;
    let again = keyed(&app, path, Some(token), "reg-2", &body).await;
    assert_eq!(again.status(), StatusCode::CREATED);
    assert!(replayed(&again));
    assert_eq!(header(&again, "etag"), "\"2\"");
    let again: Value = again.json().await.unwrap();
    assert_eq!(
        (again["id"].clone(), again["given_name"].clone()),
        (first["id"].clone(), json!("Parvin"))
    );
    assert_eq!(count(), before + 1, "created once");
    let actions = app.audit_actions(&id(&first));
    assert_eq!(actions.iter().filter(|a| *a == "migrant.create").count(), 1);
    assert_eq!(
        actions.last().unwrap(),
        "migrant.read",
        "a replay is audited as a read"
    );
}

backend_test!(a_replay_after_access_was_lost_is_404_and_creates_nothing);
async fn a_replay_after_access_was_lost_is_404_and_creates_nothing(app: TestApp) {
    let w = World::build(&app).await;
    let token = w.counsellor.token.as_str();
    let body = json!({"migrant_id": w.migrant, "summary": "Passport held by employer"});
    let first = keyed(&app, "/api/v1/cases", Some(token), "case-1", &body).await;
    let case = expect(first, StatusCode::CREATED, "open case").await;
    let assign = json!({"assigned_to": w.colleague.id, "reason": "leave"});
    let path = format!("/api/v1/cases/{}/assign", id(&case));
    expect(
        app.post(&path, &w.supervisor.token, assign).await,
        StatusCode::OK,
        "assign",
    )
    .await;
    let cases = || -> i64 {
        karvon::db::schema::cases::table
            .count()
            .get_result(&mut app.db())
            .unwrap()
    };
    let before = cases();
    let retry = keyed(&app, "/api/v1/cases", Some(token), "case-1", &body).await;
    assert_eq!(retry.status(), StatusCode::NOT_FOUND);
    assert!(replayed(&retry));
    assert_eq!(cases(), before);
}

const SECRET: &[u8] = b"a shared replica secret of at least 32 bytes";

fn same_secret(config: &mut ServeConfig) {
    config.jwt_secret = Some(JwtSecret::from_bytes(SECRET).unwrap());
}

backend_test!(a_replica_with_the_same_secret_replays_the_key, same_secret);
async fn a_replica_with_the_same_secret_replays_the_key(app: TestApp) {
    let w = World::build(&app).await;
    let body = migrant_body("Parvina", "Sharipova");
    let token = Some(w.counsellor.token.as_str());
    let first = keyed(&app, "/api/v1/migrants", token, "reg-3", &body).await;
    let first = expect(first, StatusCode::CREATED, "register").await;

    let mut config = ServeConfig::for_tests(app.database_url.clone());
    same_secret(&mut config);
    let replica = Application::build(config).await.expect("replica");
    let replica_url = format!("http://127.0.0.1:{}/api/v1/migrants", replica.port());
    let handle = replica.handle();
    tokio::spawn(replica.run());
    let retry = app
        .client
        .post(replica_url)
        .bearer_auth(&w.counsellor.token)
        .header("Idempotency-Key", "reg-3")
        .header("content-type", "application/json")
        .body(serde_json::to_vec(&body).unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(retry.status(), StatusCode::CREATED);
    assert!(replayed(&retry));
    assert_eq!(retry.json::<Value>().await.unwrap()["id"], first["id"]);
    handle.stop(false).await;
}

// ---------------------------------------------------------------- expiry

fn age_key(app: &TestApp, key: &str, hours: i64) {
    let at: NaiveDateTime = Utc::now().naive_utc() - Duration::hours(hours);
    diesel::update(idempotency_keys::table.filter(idempotency_keys::idempotency_key.eq(key)))
        .set(idempotency_keys::created_at.eq(at))
        .execute(&mut app.db())
        .unwrap();
}

fn stored_keys(app: &TestApp) -> BTreeSet<String> {
    idempotency_keys::table
        .select(idempotency_keys::idempotency_key)
        .load::<String>(&mut app.db())
        .unwrap()
        .into_iter()
        .collect()
}

backend_test!(purge_removes_only_keys_older_than_a_day_whoever_sent_them);
async fn purge_removes_only_keys_older_than_a_day_whoever_sent_them(app: TestApp) {
    let w = World::build(&app).await;
    for (token, key, name) in [
        (&w.counsellor.token, "old-1", "Aziz"),
        (&w.colleague.token, "old-2", "Bahrom"),
        (&w.counsellor.token, "new-1", "Davron"),
        (&w.colleague.token, "new-2", "Eraj"),
    ] {
        let body = migrant_body(name, "Rahimov");
        let response = keyed(&app, "/api/v1/migrants", Some(token), key, &body).await;
        expect(response, StatusCode::CREATED, key).await;
    }
    age_key(&app, "old-1", 25);
    age_key(&app, "old-2", 25);
    age_key(&app, "new-1", 23);
    let purged = purge_expired(&mut app.db(), Utc::now().naive_utc()).unwrap();
    assert_eq!(purged, 2);
    assert_eq!(
        stored_keys(&app),
        BTreeSet::from(["new-1".into(), "new-2".into()])
    );
}

fn every_second(config: &mut karvon::config::ServeConfig) {
    config.housekeeping_interval_secs = 1;
}

backend_test!(
    an_expired_key_is_a_new_request_and_housekeeping_purges_everyones,
    every_second
);
async fn an_expired_key_is_a_new_request_and_housekeeping_purges_everyones(app: TestApp) {
    let w = World::build(&app).await;
    let body = migrant_body("Aziz", "Rahimov");
    let token = Some(w.colleague.token.as_str());
    let first = keyed(&app, "/api/v1/migrants", token, "k-1", &body).await;
    let first = expect(first, StatusCode::CREATED, "first").await;
    age_key(&app, "k-1", 25);
    let later = keyed(&app, "/api/v1/migrants", token, "k-1", &body).await;
    assert!(!replayed(&later));
    let later = expect(later, StatusCode::CREATED, "after a day").await;
    assert_ne!(later["id"], first["id"], "an expired key is a new request");

    let other = keyed(
        &app,
        "/api/v1/consultations",
        Some(&w.counsellor.token),
        "k-2",
        &anonymous(),
    )
    .await;
    expect(other, StatusCode::CREATED, "another user's keyed post").await;
    age_key(&app, "k-1", 25);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while stored_keys(&app) != BTreeSet::from(["k-2".into()]) {
        assert!(
            std::time::Instant::now() < deadline,
            "{:?}",
            stored_keys(&app)
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

// ---------------------------------------------------------------- every POST names its resource

/// Sends a keyed POST, checks it names the resource it shows (or shows none), that a GET of that
/// path shows the same resource, and that a retry replays it; returns the body.
async fn post_naming_its_resource(
    app: &TestApp,
    token: &str,
    (path, key): (&str, &str),
    body: Value,
) -> Value {
    let response = keyed(app, path, Some(token), key, &body).await;
    let status = response.status();
    assert!(status.is_success(), "{path}: {status}");
    let location = response
        .headers()
        .get("content-location")
        .map(|v| v.to_str().unwrap().to_owned());
    let created_at = response
        .headers()
        .get("location")
        .map(|v| v.to_str().unwrap().to_owned());
    let shown = response.text().await.unwrap();
    if shown.is_empty() {
        return Value::Null;
    }
    let shown: Value = serde_json::from_str(&shown).unwrap();
    let location =
        location.unwrap_or_else(|| panic!("{path} shows a body without Content-Location"));
    assert_eq!(
        created_at.is_some(),
        status == StatusCode::CREATED,
        "{path}: Location"
    );
    assert!(created_at.is_none_or(|l| l == location), "{path}: Location");
    let read = expect(app.get(&location, token).await, StatusCode::OK, &location).await;
    assert_eq!(
        (&read["id"], &read["version"]),
        (&shown["id"], &shown["version"]),
        "{path}"
    );
    let retry = keyed(app, path, Some(token), key, &body).await;
    assert_eq!(retry.status(), status, "{path}: replay status");
    assert!(replayed(&retry), "{path}: replayed");
    assert_eq!(
        retry.json::<Value>().await.unwrap()["id"],
        shown["id"],
        "{path}: replay"
    );
    shown
}

/// The route pattern of a concrete path, as the OpenAPI document names it.
fn pattern_of(spec_paths: &[String], path: &str) -> String {
    let segments: Vec<&str> = path.split('/').collect();
    spec_paths
        .iter()
        .find(|pattern| {
            let parts: Vec<&str> = pattern.split('/').collect();
            parts.len() == segments.len()
                && parts
                    .iter()
                    .zip(&segments)
                    .all(|(p, s)| p.starts_with('{') || p == s)
        })
        .unwrap_or_else(|| panic!("no route for {path}"))
        .clone()
}

/// Sends one keyed POST to every route that honours the key, as the role that may.
struct Walk<'a> {
    app: &'a TestApp,
    care: Care,
    walked: Vec<String>,
}

impl Walk<'_> {
    async fn post(&mut self, who: &str, path: String, body: Value) -> Value {
        let token = match who {
            "admin" => self.app.admin.clone(),
            "supervisor" => self.care.supervisor.token.clone(),
            _ => self.care.counsellor.token.clone(),
        };
        self.walked.push(path.clone());
        let key = format!("walk-{}", self.walked.len());
        post_naming_its_resource(self.app, &token, (&path, &key), body).await
    }

    /// Creates one of each top-level resource; returns the new case's id.
    async fn create_each(&mut self) -> String {
        let centre = json!({"name": "Kulob", "city": "Kulob", "country": "TJ"});
        self.post("admin", "/api/v1/centres".into(), centre).await;
        let migrant = migrant_body("Aziz", "Rahimov");
        self.post("counsellor", "/api/v1/migrants".into(), migrant)
            .await;
        let provider = json!({"name": "Clinic", "kind": "health", "accepts_referrals": true});
        self.post("supervisor", "/api/v1/service-providers".into(), provider)
            .await;
        let case = json!({"migrant_id": self.care.migrant_id, "summary": "Contract"});
        let case = id(&self.post("counsellor", "/api/v1/cases".into(), case).await);
        let consultation = on_case(&case);
        self.post("counsellor", "/api/v1/consultations".into(), consultation)
            .await;
        let session = self
            .post(
                "counsellor",
                "/api/v1/group-sessions".into(),
                session_body(),
            )
            .await;
        let attendees = format!("/api/v1/group-sessions/{}/attendees", id(&session));
        let people = json!({"migrant_ids": [self.care.migrant_id]});
        self.post("counsellor", attendees, people).await;
        case
    }

    /// Refers, moves the referral, schedules follow-ups and settles each one way.
    async fn refer_and_follow_up(&mut self, case: &str) {
        let provider = self.care.global_provider.clone();
        let body = json!({"provider_id": provider, "reason": "legal help", "urgency": "high"});
        let referral = self
            .post(
                "counsellor",
                format!("/api/v1/cases/{case}/referrals"),
                body,
            )
            .await;
        let moves = format!("/api/v1/referrals/{}/transitions", id(&referral));
        self.post("counsellor", moves, json!({"to": "sent"})).await;
        let due = rfc3339(Utc::now() + Duration::days(3));
        for (action, body) in [
            ("complete", json!({"outcome": "called"})),
            ("cancel", json!({"reason": "moved"})),
            ("miss", json!({"note": "phone off"})),
        ] {
            let schedule = json!({"due_at": due, "kind": "call"});
            let follow_ups = format!("/api/v1/cases/{case}/follow-ups");
            let follow_up = id(&self.post("counsellor", follow_ups, schedule).await);
            let path = format!("/api/v1/follow-ups/{follow_up}/{action}");
            self.post("counsellor", path, body).await;
        }
    }

    /// Registers a person and anonymises them (a bare 204: replayed as such).
    async fn anonymise_someone(&mut self) {
        let person = migrant_body("Sitora", "Karimova");
        let person = id(&self
            .post("counsellor", "/api/v1/migrants".into(), person)
            .await);
        let path = format!("/api/v1/migrants/{person}/anonymise");
        let reason = json!({"reason": "Erasure request DSR-1"});
        self.post("supervisor", path, reason).await;
    }

    async fn move_case(&mut self, case: &str) {
        let colleague = self.care.colleague.id.clone();
        for (action, body) in [
            (
                "assign",
                json!({"assigned_to": colleague, "reason": "leave"}),
            ),
            ("close", json!({"reason": "resolved", "force": true})),
            ("reopen", json!({"reason": "new facts"})),
        ] {
            let path = format!("/api/v1/cases/{case}/{action}");
            self.post("supervisor", path, body).await;
        }
    }
}

backend_test!(every_post_that_honours_the_key_names_the_resource_it_shows);
async fn every_post_that_honours_the_key_names_the_resource_it_shows(app: TestApp) {
    let spec = serde_json::to_value(karvon::startup::api_spec()).unwrap();
    let keyed_posts: Vec<String> = posts(&spec)
        .into_iter()
        .map(|(path, _)| path)
        .filter(|path| path.starts_with("/api/") && accepts_key(path))
        .collect();
    let care = Care::new(&app).await;
    let mut walk = Walk {
        app: &app,
        care,
        walked: Vec::new(),
    };
    let case = walk.create_each().await;
    walk.refer_and_follow_up(&case).await;
    walk.move_case(&case).await;
    walk.anonymise_someone().await;
    let covered: BTreeSet<String> = walk
        .walked
        .iter()
        .map(|path| pattern_of(&keyed_posts, path))
        .collect();
    let expected: BTreeSet<String> = keyed_posts.into_iter().collect();
    assert_eq!(
        covered, expected,
        "every POST that honours Idempotency-Key is walked"
    );
}

backend_test!(a_get_with_a_key_is_not_remembered);
async fn a_get_with_a_key_is_not_remembered(app: TestApp) {
    let w = World::build(&app).await;
    let path = format!("/api/v1/migrants/{}", w.migrant);
    let response = app
        .client
        .request(Method::GET, app.url(&path))
        .bearer_auth(&w.counsellor.token)
        .header("Idempotency-Key", "get-1")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert!(!replayed(&response));
    assert_eq!(header(&response, "content-location"), path);
    assert_eq!(key_rows(&app), 0);
}

// ---------------------------------------------------------------- a retry while the first runs

fn migrants_named(app: &TestApp, given_name: &str) -> Vec<String> {
    migrants::table
        .filter(migrants::given_name.eq(given_name))
        .select(migrants::id)
        .load(&mut app.db())
        .unwrap()
}

backend_test!(concurrent_retries_of_one_key_create_once);
/// A phone retrying eagerly: eight copies of one keyed registration at once. One migrant is
/// registered; every other copy is refused as still running (409) or replays that migrant.
async fn concurrent_retries_of_one_key_create_once(app: TestApp) {
    let w = World::build(&app).await;
    let body = migrant_body("Sitora", "Nazarova");
    let token = Some(w.counsellor.token.as_str());
    let copies = (0..8).map(|_| keyed(&app, "/api/v1/migrants", token, "eager-1", &body));
    let answers = futures_util::future::join_all(copies).await;
    let mut created = BTreeSet::new();
    for answer in answers {
        match answer.status() {
            StatusCode::CREATED => {
                created.insert(id(&answer.json::<Value>().await.unwrap()));
            }
            StatusCode::CONFLICT => {
                assert_eq!(common::problem(answer).await["status"], 409);
            }
            other => panic!("[{:?}] unexpected {other}", app.backend),
        }
    }
    let stored = migrants_named(&app, "Sitora");
    assert_eq!(stored.len(), 1, "one migrant registered");
    assert_eq!(created, BTreeSet::from([stored[0].clone()]));
}

postgres_test!(a_key_reused_while_its_first_request_runs_is_409);
/// The first request is held inside its handler (its insert waits on a lock the test holds);
/// a retry with the same key meanwhile is 409, and once the first finishes a retry replays it.
async fn a_key_reused_while_its_first_request_runs_is_409(admin_url: String) {
    use diesel::connection::SimpleConnection;
    let database = common::PostgresDatabase::create(&admin_url);
    let app = common::spawn(database.url.clone(), common::Backend::Postgres, &|_| {}).await;
    let w = World::build(&app).await;
    let body = migrant_body("Sitora", "Nazarova");
    let token = Some(w.counsellor.token.as_str());

    let mut blocker = app.db();
    blocker
        .batch_execute("BEGIN; LOCK TABLE migrants IN SHARE MODE;")
        .unwrap();
    let first = app
        .client
        .post(app.url("/api/v1/migrants"))
        .bearer_auth(&w.counsellor.token)
        .header("Idempotency-Key", "slow-1")
        .json(&body)
        .send();
    let first = tokio::spawn(first);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while key_rows(&app) == 0 {
        assert!(
            std::time::Instant::now() < deadline,
            "the key was never reserved"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }

    let retry = keyed(&app, "/api/v1/migrants", token, "slow-1", &body).await;
    assert_eq!(retry.status(), StatusCode::CONFLICT);
    assert_eq!(common::problem(retry).await["status"], 409);

    blocker.batch_execute("COMMIT;").unwrap();
    let first = expect(first.await.unwrap().unwrap(), StatusCode::CREATED, "first").await;
    let later = keyed(&app, "/api/v1/migrants", token, "slow-1", &body).await;
    assert!(replayed(&later));
    assert_eq!(
        expect(later, StatusCode::CREATED, "replay").await["id"],
        first["id"]
    );
    assert_eq!(migrants_named(&app, "Sitora"), [id(&first)]);
}

//! Staff accounts and authentication, on every configured backend.

mod common;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use common::world::{migrant_body, open_case, register};
use common::{problem, Account, Backend, TestApp};
use diesel::prelude::*;
use jsonwebtoken::{encode, Algorithm, EncodingKey, Header};
use karvon::config::JwtSecret;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

const SECRET: &[u8] = b"known-test-secret-of-at-least-32-bytes!!";

async fn login_attempt(app: &TestApp, username: &str, password: &str) -> reqwest::Response {
    app.request(
        Method::POST,
        "/api/v1/auth/login",
        None,
        Some(json!({"username": username, "password": password})),
    )
    .await
}

async fn refresh(app: &TestApp, refresh_token: &str) -> reqwest::Response {
    app.request(
        Method::POST,
        "/api/v1/auth/refresh",
        None,
        Some(json!({"refresh_token": refresh_token})),
    )
    .await
}

async fn me_status(app: &TestApp, token: &str) -> StatusCode {
    app.get("/api/v1/me", token).await.status()
}

/// Asserts a 401 problem with `WWW-Authenticate: Bearer`.
async fn assert_unauthorized(response: reqwest::Response) {
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    let challenge = response.headers()["www-authenticate"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(challenge.starts_with("Bearer"), "{challenge}");
    assert_eq!(problem(response).await["status"], 401);
}

async fn centre_and_counsellor(app: &TestApp) -> (String, Account) {
    let centre = app.create_centre("Dushanbe").await;
    let counsellor = app
        .create_staff("dilnoza", "counsellor", Some(&centre))
        .await;
    (centre, counsellor)
}

// ---------------------------------------------------------------- login

backend_test!(login_with_the_right_password_returns_working_tokens);
async fn login_with_the_right_password_returns_working_tokens(app: TestApp) {
    let (_, counsellor) = centre_and_counsellor(&app).await;
    let body = app
        .login_response(&counsellor.username, &counsellor.password)
        .await;
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["expires_in"], 900);
    assert_eq!(body["must_change_password"], false);
    assert!(body["refresh_token"].as_str().unwrap().len() >= 32);
    let me = app
        .get("/api/v1/me", body["access_token"].as_str().unwrap())
        .await;
    assert_eq!(me.status(), StatusCode::OK);
    let me: Value = me.json().await.unwrap();
    assert_eq!(me["username"], "dilnoza");
    assert!(me.get("password_hash").is_none());
}

/// The stored hash of a user's password.
fn stored_hash(app: &TestApp, user_id: &str) -> String {
    use karvon::db::schema::users;
    users::table
        .find(user_id)
        .select(users::password_hash)
        .first(&mut app.db())
        .unwrap()
}

backend_test!(a_login_hashes_a_password_stored_with_other_parameters_again);
async fn a_login_hashes_a_password_stored_with_other_parameters_again(app: TestApp) {
    use argon2::password_hash::PasswordHasher;
    use karvon::db::schema::users;
    let (_, counsellor) = centre_and_counsellor(&app).await;
    let current = stored_hash(&app, &counsellor.id);
    let params = argon2::Params::new(512, 2, 1, None).unwrap();
    let earlier = argon2::Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, params)
        .hash_password(counsellor.password.as_bytes())
        .unwrap()
        .to_string();
    diesel::update(users::table.find(&counsellor.id))
        .set(users::password_hash.eq(&earlier))
        .execute(&mut app.db())
        .unwrap();

    let wrong = login_attempt(&app, &counsellor.username, "not the password at all").await;
    assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(stored_hash(&app, &counsellor.id), earlier, "a failed login");
    app.login(&counsellor.username, &counsellor.password).await;
    let rehashed = stored_hash(&app, &counsellor.id);
    assert_ne!(rehashed, earlier);
    let params = |hash: &str| hash.split('$').nth(3).unwrap().to_owned();
    assert_eq!(params(&rehashed), params(&current), "today's parameters");
    app.login(&counsellor.username, &counsellor.password).await;
    assert_eq!(stored_hash(&app, &counsellor.id), rehashed, "hashed once");
}

backend_test!(login_with_a_wrong_password_or_unknown_user_is_401);
async fn login_with_a_wrong_password_or_unknown_user_is_401(app: TestApp) {
    let (_, counsellor) = centre_and_counsellor(&app).await;
    let wrong = login_attempt(&app, &counsellor.username, "not-the-password-at-all").await;
    assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
    let wrong = problem(wrong).await;
    let unknown = login_attempt(&app, "nobody-here", "not-the-password-at-all").await;
    assert_eq!(unknown.status(), StatusCode::UNAUTHORIZED);
    // The same answer: whether a username exists is not revealed.
    assert_eq!(problem(unknown).await["detail"], wrong["detail"]);
}

backend_test!(requests_without_a_token_are_401_with_a_bearer_challenge);
async fn requests_without_a_token_are_401_with_a_bearer_challenge(app: TestApp) {
    let response = app
        .request(Method::GET, "/api/v1/centres", None, None)
        .await;
    assert_unauthorized(response).await;
}

// ---------------------------------------------------------------- forged access tokens

fn with_known_secret(config: &mut karvon::config::ServeConfig) {
    config.jwt_secret = Some(JwtSecret::from_bytes(SECRET).unwrap());
}

/// The claims of a real token (not verified), to forge variants of it.
fn claims_of(token: &str) -> Value {
    let payload = token.split('.').nth(1).expect("jwt payload");
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap()
}

fn sign(claims: &Value, algorithm: Algorithm, secret: &[u8]) -> String {
    encode(
        &Header::new(algorithm),
        claims,
        &EncodingKey::from_secret(secret),
    )
    .unwrap()
}

/// Forges a token from the admin's real claims, changed by `adjust`.
fn forge(app: &TestApp, adjust: impl Fn(&mut Value)) -> String {
    let mut claims = claims_of(&app.admin);
    adjust(&mut claims);
    sign(&claims, Algorithm::HS256, SECRET)
}

backend_test!(
    a_token_forged_with_the_server_secret_is_accepted,
    with_known_secret
);
async fn a_token_forged_with_the_server_secret_is_accepted(app: TestApp) {
    // The control for the tests below: what they change is what makes their token fail.
    let token = forge(&app, |_| {});
    assert_ne!(token, app.admin);
    assert_eq!(me_status(&app, &token).await, StatusCode::OK);
}

backend_test!(an_expired_token_is_401, with_known_secret);
async fn an_expired_token_is_401(app: TestApp) {
    let now = chrono::Utc::now().timestamp();
    let token = forge(&app, |claims| {
        claims["iat"] = json!(now - 3600);
        claims["exp"] = json!(now - 60);
    });
    assert_unauthorized(app.get("/api/v1/me", &token).await).await;
}

backend_test!(a_token_with_a_tampered_signature_is_401);
async fn a_token_with_a_tampered_signature_is_401(app: TestApp) {
    let (rest, signature) = app.admin.rsplit_once('.').unwrap();
    let mut bytes = URL_SAFE_NO_PAD.decode(signature).unwrap();
    bytes[0] ^= 0x01;
    let token = format!("{rest}.{}", URL_SAFE_NO_PAD.encode(bytes));
    assert_unauthorized(app.get("/api/v1/me", &token).await).await;
}

backend_test!(a_token_with_tampered_claims_is_401);
async fn a_token_with_tampered_claims_is_401(app: TestApp) {
    let mut parts: Vec<String> = app.admin.split('.').map(str::to_owned).collect();
    let mut claims = claims_of(&app.admin);
    claims["role"] = json!("supervisor");
    parts[1] = URL_SAFE_NO_PAD.encode(claims.to_string());
    assert_unauthorized(app.get("/api/v1/me", &parts.join(".")).await).await;
}

backend_test!(an_unsigned_alg_none_token_is_401);
async fn an_unsigned_alg_none_token_is_401(app: TestApp) {
    let header = URL_SAFE_NO_PAD.encode(r#"{"alg":"none","typ":"JWT"}"#);
    let payload = URL_SAFE_NO_PAD.encode(claims_of(&app.admin).to_string());
    let token = format!("{header}.{payload}.");
    assert_unauthorized(app.get("/api/v1/me", &token).await).await;
}

backend_test!(
    a_token_signed_with_another_algorithm_is_401,
    with_known_secret
);
async fn a_token_signed_with_another_algorithm_is_401(app: TestApp) {
    let token = sign(&claims_of(&app.admin), Algorithm::HS512, SECRET);
    assert_unauthorized(app.get("/api/v1/me", &token).await).await;
}

backend_test!(a_token_signed_with_the_wrong_key_is_401, with_known_secret);
async fn a_token_signed_with_the_wrong_key_is_401(app: TestApp) {
    let token = sign(
        &claims_of(&app.admin),
        Algorithm::HS256,
        b"another-secret-that-is-also-32-bytes-long",
    );
    assert_unauthorized(app.get("/api/v1/me", &token).await).await;
}

backend_test!(a_token_for_another_audience_is_401, with_known_secret);
async fn a_token_for_another_audience_is_401(app: TestApp) {
    let token = forge(&app, |claims| claims["aud"] = json!("some-other-api"));
    assert_unauthorized(app.get("/api/v1/me", &token).await).await;
}

backend_test!(a_token_from_another_issuer_is_401, with_known_secret);
async fn a_token_from_another_issuer_is_401(app: TestApp) {
    let token = forge(&app, |claims| claims["iss"] = json!("someone-else"));
    assert_unauthorized(app.get("/api/v1/me", &token).await).await;
}

backend_test!(
    a_validly_signed_token_for_an_unknown_session_is_401,
    with_known_secret
);
async fn a_validly_signed_token_for_an_unknown_session_is_401(app: TestApp) {
    let token = forge(&app, |claims| {
        claims["sid"] = json!(uuid::Uuid::now_v7().to_string());
    });
    assert_unauthorized(app.get("/api/v1/me", &token).await).await;
}

backend_test!(
    a_token_forged_with_the_server_secret_for_another_role_is_401,
    with_known_secret
);
async fn a_token_forged_with_the_server_secret_for_another_role_is_401(app: TestApp) {
    // Even whoever holds the secret cannot talk the check into another role, centre or name:
    // the claims must match the stored account.
    let centre = app.create_centre("Dushanbe").await;
    let adjustments: [(&str, Value); 3] = [
        ("role", json!("supervisor")),
        ("centre", json!(centre)),
        ("preferred_username", json!("someone.else")),
    ];
    for (claim, value) in adjustments {
        let token = forge(&app, |claims| claims[claim] = value.clone());
        let response = app.get("/api/v1/centres", &token).await;
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "{claim}");
    }
}

backend_test!(a_token_issued_before_a_transfer_is_401_until_refreshed);
async fn a_token_issued_before_a_transfer_is_401_until_refreshed(app: TestApp) {
    let (_, counsellor) = centre_and_counsellor(&app).await;
    let other = app.create_centre("Khujand").await;
    let session = app
        .login_response(&counsellor.username, &counsellor.password)
        .await;
    let old = session["access_token"].as_str().unwrap();
    let moved = app
        .patch_user(&counsellor.id, json!({"centre_id": other}))
        .await;
    assert_eq!(moved.status(), StatusCode::OK);

    let before = app.snapshot_with_audit();
    let write = app
        .post(
            "/api/v1/migrants",
            old,
            common::world::migrant_body("Ali", "Karimov"),
        )
        .await;
    assert_eq!(write.status(), StatusCode::UNAUTHORIZED);
    let detail = problem(write).await["detail"].as_str().unwrap().to_owned();
    assert!(detail.contains("auth/refresh"), "{detail}");
    assert_eq!(
        app.snapshot_with_audit(),
        before,
        "the refused write changed something"
    );
    assert_unauthorized(app.get("/api/v1/migrants", old).await).await;

    let renewed = refresh(&app, session["refresh_token"].as_str().unwrap()).await;
    assert_eq!(renewed.status(), StatusCode::OK);
    let renewed: Value = renewed.json().await.unwrap();
    let new = renewed["access_token"].as_str().unwrap();
    assert_eq!(claims_of(new)["centre"], json!(other));
    let me: Value = app.get("/api/v1/me", new).await.json().await.unwrap();
    assert_eq!(me["centre_id"], json!(other));
}

backend_test!(an_ended_session_is_401_where_the_handler_refuses_before_any_query);
async fn an_ended_session_is_401_where_the_handler_refuses_before_any_query(app: TestApp) {
    let (_, counsellor) = centre_and_counsellor(&app).await;
    let token = app.login(&counsellor.username, &counsellor.password).await;
    let centre = json!({"name": "Kulob", "city": "Kulob", "country": "TJ"});
    let refused = app.post("/api/v1/centres", &token, centre.clone()).await;
    assert_eq!(
        refused.status(),
        StatusCode::FORBIDDEN,
        "a counsellor's role"
    );
    let invalid = app.post("/api/v1/migrants", &token, json!({})).await;
    assert_eq!(invalid.status(), StatusCode::BAD_REQUEST);

    let logout = app.post("/api/v1/auth/logout", &token, json!({})).await;
    assert_eq!(logout.status(), StatusCode::NO_CONTENT);
    assert_unauthorized(app.post("/api/v1/centres", &token, centre).await).await;
    assert_unauthorized(app.post("/api/v1/migrants", &token, json!({})).await).await;
}

// ---------------------------------------------------------------- refresh tokens

backend_test!(refresh_rotates_the_tokens);
async fn refresh_rotates_the_tokens(app: TestApp) {
    let (_, counsellor) = centre_and_counsellor(&app).await;
    let first = app
        .login_response(&counsellor.username, &counsellor.password)
        .await;
    let response = refresh(&app, first["refresh_token"].as_str().unwrap()).await;
    assert_eq!(response.status(), StatusCode::OK);
    let second: Value = response.json().await.unwrap();
    assert_ne!(second["refresh_token"], first["refresh_token"]);
    let access = second["access_token"].as_str().unwrap();
    assert_eq!(me_status(&app, access).await, StatusCode::OK);
    let third = refresh(&app, second["refresh_token"].as_str().unwrap()).await;
    assert_eq!(third.status(), StatusCode::OK);
    // Refresh tokens are stored only hashed.
    use karvon::db::schema::refresh_tokens;
    let stored: Vec<String> = refresh_tokens::table
        .select(refresh_tokens::token_hash)
        .load(&mut app.db())
        .unwrap();
    let plain = second["refresh_token"].as_str().unwrap().to_owned();
    assert!(!stored.is_empty() && !stored.contains(&plain));
}

backend_test!(reusing_a_spent_refresh_token_ends_the_whole_session);
async fn reusing_a_spent_refresh_token_ends_the_whole_session(app: TestApp) {
    let (_, counsellor) = centre_and_counsellor(&app).await;
    let first = app
        .login_response(&counsellor.username, &counsellor.password)
        .await;
    let stolen = first["refresh_token"].as_str().unwrap().to_owned();
    let second: Value = refresh(&app, &stolen).await.json().await.unwrap();

    assert_unauthorized(refresh(&app, &stolen).await).await;

    let newest_access = second["access_token"].as_str().unwrap();
    assert_eq!(
        me_status(&app, newest_access).await,
        StatusCode::UNAUTHORIZED
    );
    let newest_refresh = second["refresh_token"].as_str().unwrap();
    assert_unauthorized(refresh(&app, newest_refresh).await).await;
    // Other sessions of the user are untouched.
    assert_eq!(me_status(&app, &counsellor.token).await, StatusCode::OK);
}

backend_test!(concurrent_refreshes_with_one_token_issue_exactly_one_pair);
async fn concurrent_refreshes_with_one_token_issue_exactly_one_pair(app: TestApp) {
    let (_, counsellor) = centre_and_counsellor(&app).await;
    let session = app
        .login_response(&counsellor.username, &counsellor.password)
        .await;
    let token = session["refresh_token"].as_str().unwrap();
    let responses = futures_util::future::join_all((0..6).map(|_| refresh(&app, token))).await;
    // The losers present a token already rotated: 401 (and, as reuse, they end the session).
    let mut issued = Vec::new();
    for response in responses {
        match response.status() {
            StatusCode::OK => issued.push(response.json::<Value>().await.unwrap()),
            _ => assert_unauthorized(response).await,
        }
    }
    assert_eq!(issued.len(), 1, "refreshes that succeeded with one token");
}

backend_test!(an_unknown_refresh_token_is_401);
async fn an_unknown_refresh_token_is_401(app: TestApp) {
    assert_unauthorized(refresh(&app, "made-up-token").await).await;
}

// ---------------------------------------------------------------- logout and cut-off

backend_test!(logout_cuts_the_access_and_refresh_tokens_at_once);
async fn logout_cuts_the_access_and_refresh_tokens_at_once(app: TestApp) {
    let (_, counsellor) = centre_and_counsellor(&app).await;
    let session = app
        .login_response(&counsellor.username, &counsellor.password)
        .await;
    let access = session["access_token"].as_str().unwrap();
    let response = app.post("/api/v1/auth/logout", access, json!({})).await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    assert_eq!(me_status(&app, access).await, StatusCode::UNAUTHORIZED);
    assert_unauthorized(refresh(&app, session["refresh_token"].as_str().unwrap()).await).await;
    assert_eq!(me_status(&app, &counsellor.token).await, StatusCode::OK);
}

backend_test!(deactivating_a_user_cuts_their_token_at_once);
async fn deactivating_a_user_cuts_their_token_at_once(app: TestApp) {
    let (_, counsellor) = centre_and_counsellor(&app).await;
    let response = app
        .patch_user(&counsellor.id, json!({"active": false}))
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        me_status(&app, &counsellor.token).await,
        StatusCode::UNAUTHORIZED
    );
    let again = login_attempt(&app, &counsellor.username, &counsellor.password).await;
    assert_eq!(again.status(), StatusCode::UNAUTHORIZED);
}

backend_test!(an_admin_password_reset_cuts_the_token_and_forces_a_change);
async fn an_admin_password_reset_cuts_the_token_and_forces_a_change(app: TestApp) {
    let (_, counsellor) = centre_and_counsellor(&app).await;
    let path = format!("/api/v1/users/{}", counsellor.id);
    let etag = app.etag(&path, &app.admin).await;
    let response = app
        .patch(
            &path,
            &app.admin,
            &etag,
            json!({"password": "reset-by-admin-2026"}),
        )
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        me_status(&app, &counsellor.token).await,
        StatusCode::UNAUTHORIZED
    );
    let fresh = app
        .login_response(&counsellor.username, "reset-by-admin-2026")
        .await;
    assert_eq!(fresh["must_change_password"], true);
}

backend_test!(changing_your_password_ends_your_other_sessions);
async fn changing_your_password_ends_your_other_sessions(app: TestApp) {
    let (_, counsellor) = centre_and_counsellor(&app).await;
    let other_device = app.login(&counsellor.username, &counsellor.password).await;
    app.change_password(
        &counsellor.token,
        &counsellor.password,
        "a-brand-new-passphrase",
    )
    .await;
    assert_eq!(
        me_status(&app, &other_device).await,
        StatusCode::UNAUTHORIZED
    );
    let old = login_attempt(&app, &counsellor.username, &counsellor.password).await;
    assert_eq!(old.status(), StatusCode::UNAUTHORIZED);
    app.login(&counsellor.username, "a-brand-new-passphrase")
        .await;
}

/// A counsellor of `centre` with a case of their own; the case's path.
async fn counsellor_with_a_case(app: &TestApp, name: &str, centre: &str) -> (Account, String) {
    let counsellor = app.create_staff(name, "counsellor", Some(centre)).await;
    let person = register(app, &counsellor.token, migrant_body("Gulru", name)).await;
    let case = open_case(app, &counsellor.token, &common::id(&person), "normal", None).await;
    (counsellor, format!("/api/v1/cases/{}", common::id(&case)))
}

/// Four counsellors with a case each: one whose session stands, one logged out, one promoted
/// since their token was issued and one whose centre was closed — with the answer each gets
/// when the success would be `ok`.
async fn live_gone_promoted_and_closed(
    app: &TestApp,
    ok: StatusCode,
) -> [(Account, String, StatusCode); 4] {
    let centre = app.create_centre("Khujand").await;
    let closed = app.create_centre("Kulob").await;
    let (live, live_case) = counsellor_with_a_case(app, "live", &centre).await;
    let (gone, gone_case) = counsellor_with_a_case(app, "gone", &centre).await;
    let (promoted, promoted_case) = counsellor_with_a_case(app, "promoted", &centre).await;
    let (elsewhere, elsewhere_case) = counsellor_with_a_case(app, "elsewhere", &closed).await;
    let logout = app
        .post("/api/v1/auth/logout", &gone.token, json!({}))
        .await;
    assert_eq!(logout.status(), StatusCode::NO_CONTENT);
    let promotion = app
        .patch_user(&promoted.id, json!({"role": "supervisor"}))
        .await;
    assert_eq!(promotion.status(), StatusCode::OK);
    let path = format!("/api/v1/centres/{closed}");
    let etag = app.etag(&path, &app.admin).await;
    let closing = app
        .patch(&path, &app.admin, &etag, json!({"active": false}))
        .await;
    assert_eq!(closing.status(), StatusCode::OK);
    [
        (live, live_case, ok),
        (gone, gone_case, StatusCode::UNAUTHORIZED),
        (promoted, promoted_case, StatusCode::UNAUTHORIZED),
        (elsewhere, elsewhere_case, StatusCode::FORBIDDEN),
    ]
}

fn reads_audited(app: &TestApp, actor: &Account) -> i64 {
    use karvon::db::schema::audit_events;
    audit_events::table
        .filter(audit_events::actor_id.eq(&actor.id))
        .filter(audit_events::action.eq("case.read"))
        .count()
        .get_result(&mut app.db())
        .expect("count reads")
}

// Audited reads arriving together are committed together, their sessions checked together: a
// refused one must neither answer nor leave an event among the others.
backend_test!(a_burst_of_reads_answers_and_audits_only_those_whose_session_stands);
async fn a_burst_of_reads_answers_and_audits_only_those_whose_session_stands(app: TestApp) {
    let callers = live_gone_promoted_and_closed(&app, StatusCode::OK).await;
    let mut burst = tokio::task::JoinSet::new();
    for _ in 0..20 {
        for (caller, case, expected) in &callers {
            let expected = *expected;
            let request = app.client.get(app.url(case)).bearer_auth(&caller.token);
            let (username, case) = (caller.username.clone(), case.clone());
            burst.spawn(async move {
                let response = request.send().await.expect("request");
                let status = response.status();
                let body = response.text().await.expect("body");
                (username, case, expected, status, body)
            });
        }
    }
    while let Some(read) = burst.join_next().await {
        let (username, case, expected, status, body) = read.expect("read");
        assert_eq!(status, expected, "{username} reading {case}: {body}");
        let case_id = case.rsplit('/').next().unwrap_or_default();
        assert_eq!(
            body.contains(case_id),
            expected == StatusCode::OK,
            "{username}: {body}"
        );
    }
    let [(live, ..), refused @ ..] = &callers;
    assert_eq!(reads_audited(&app, live), 20, "the live session's reads");
    for (refused, ..) in refused {
        assert_eq!(reads_audited(&app, refused), 0, "{}", refused.username);
    }
}

/// The consultations a counsellor logged, and the audit events of their logging.
fn writes_kept(app: &TestApp, actor: &Account) -> (i64, i64) {
    use karvon::db::schema::{audit_events, consultations};
    let mut conn = app.db();
    let logged = consultations::table
        .filter(consultations::counsellor_id.eq(&actor.id))
        .count()
        .get_result(&mut conn)
        .expect("count consultations");
    let audited = audit_events::table
        .filter(audit_events::actor_id.eq(&actor.id))
        .filter(audit_events::action.eq("consultation.create"))
        .count()
        .get_result(&mut conn)
        .expect("count events");
    (logged, audited)
}

// A write's session is judged with its audit event, before its commit: a refused one must
// neither answer nor leave anything behind, and a refusal outranks what the write itself said.
backend_test!(a_burst_of_writes_answers_and_keeps_only_those_whose_session_stands);
async fn a_burst_of_writes_answers_and_keeps_only_those_whose_session_stands(app: TestApp) {
    let callers = live_gone_promoted_and_closed(&app, StatusCode::CREATED).await;
    let mut burst = tokio::task::JoinSet::new();
    for _ in 0..10 {
        for (caller, case, expected) in &callers {
            let expected = *expected;
            let request = app
                .client
                .post(app.url("/api/v1/consultations"))
                .bearer_auth(&caller.token)
                .json(&walk_in_on(case));
            let username = caller.username.clone();
            burst.spawn(async move {
                let response = request.send().await.expect("request");
                let status = response.status();
                (
                    username,
                    expected,
                    status,
                    response.text().await.expect("body"),
                )
            });
        }
    }
    while let Some(write) = burst.join_next().await {
        let (username, expected, status, body) = write.expect("write");
        assert_eq!(status, expected, "{username}: {body}");
    }
    let [(live, live_case, _), (gone, ..), ..] = &callers;
    assert_eq!(
        writes_kept(&app, live),
        (10, 10),
        "the live session's writes"
    );
    for (refused, ..) in &callers[1..] {
        assert_eq!(writes_kept(&app, refused), (0, 0), "{}", refused.username);
    }
    // Logging on another counsellor's case is refused by the write (403); an ended session is
    // refused first.
    let response = app
        .post("/api/v1/consultations", &gone.token, walk_in_on(live_case))
        .await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
}

/// A walk-in logged on the case at `case_path`.
fn walk_in_on(case_path: &str) -> Value {
    let case_id = case_path.rsplit('/').next().unwrap_or_default();
    json!({"case_id": case_id, "occurred_at": "2026-11-02T09:00:00Z", "channel": "walk_in",
        "duration_minutes": 20, "topics": ["employment_abroad"], "language": "tg",
        "notes": "Asked about seasonal work"})
}

// ---------------------------------------------------------------- throttling

async fn fail_logins(app: &TestApp, username: &str, times: usize) {
    for _ in 0..times {
        let response = login_attempt(app, username, "definitely-wrong-guess").await;
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    }
}

async fn assert_throttled(response: reqwest::Response) {
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    let retry_after: u64 = response.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=15 * 60).contains(&retry_after), "{retry_after}");
    assert_eq!(problem(response).await["status"], 429);
}

backend_test!(five_failed_logins_lock_the_username_even_for_the_right_password);
async fn five_failed_logins_lock_the_username_even_for_the_right_password(app: TestApp) {
    let (_, counsellor) = centre_and_counsellor(&app).await;
    fail_logins(&app, &counsellor.username, 5).await;
    let right = login_attempt(&app, &counsellor.username, &counsellor.password).await;
    assert_throttled(right).await;
    // Other users are not affected.
    let admin = login_attempt(&app, "admin", common::ADMIN_PASSWORD).await;
    assert_eq!(admin.status(), StatusCode::OK);
}

backend_test!(the_lock_lifts_after_fifteen_minutes);
async fn the_lock_lifts_after_fifteen_minutes(app: TestApp) {
    let (_, counsellor) = centre_and_counsellor(&app).await;
    fail_logins(&app, &counsellor.username, 5).await;
    let locked = login_attempt(&app, &counsellor.username, &counsellor.password).await;
    assert_eq!(locked.status(), StatusCode::TOO_MANY_REQUESTS);
    app.age_login_throttle(16);
    let right = login_attempt(&app, &counsellor.username, &counsellor.password).await;
    assert_eq!(right.status(), StatusCode::OK);
}

backend_test!(twenty_failures_from_one_address_lock_every_username);
async fn twenty_failures_from_one_address_lock_every_username(app: TestApp) {
    let (_, counsellor) = centre_and_counsellor(&app).await;
    for i in 0..20 {
        fail_logins(&app, &format!("guess-{i}"), 1).await;
    }
    let right = login_attempt(&app, &counsellor.username, &counsellor.password).await;
    assert_throttled(right).await;
}

// ---------------------------------------------------------------- must_change_password

backend_test!(a_user_with_an_admin_set_password_can_only_change_it);
async fn a_user_with_an_admin_set_password_can_only_change_it(app: TestApp) {
    let centre = app.create_centre("Dushanbe").await;
    let response = app
        .post(
            "/api/v1/users",
            &app.admin,
            json!({"username": "newbie", "full_name": "New Bie", "role": "counsellor",
                   "centre_id": centre, "password": "initial-secret-pw-2026"}),
        )
        .await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let session = app.login_response("newbie", "initial-secret-pw-2026").await;
    assert_eq!(session["must_change_password"], true);
    let token = session["access_token"].as_str().unwrap();

    let centres = app.get("/api/v1/centres", token).await;
    assert_eq!(centres.status(), StatusCode::FORBIDDEN);
    assert_eq!(problem(centres).await["status"], 403);
    let me: Value = app.get("/api/v1/me", token).await.json().await.unwrap();
    assert_eq!(me["must_change_password"], true);

    app.change_password(token, "initial-secret-pw-2026", "my-own-secret-words")
        .await;
    let token = app.login("newbie", "my-own-secret-words").await;
    assert_eq!(
        app.get("/api/v1/centres", &token).await.status(),
        StatusCode::OK
    );
}

// ---------------------------------------------------------------- users: roles and scope

backend_test!(a_counsellor_cannot_create_users);
async fn a_counsellor_cannot_create_users(app: TestApp) {
    let (_, counsellor) = centre_and_counsellor(&app).await;
    let response = app
        .post(
            "/api/v1/users",
            &counsellor.token,
            json!({"username": "sneaky", "full_name": "Sneaky", "role": "admin",
                   "password": "some-long-password-1"}),
        )
        .await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    assert_eq!(problem(response).await["status"], 403);
    assert_eq!(user_count(&app, "sneaky"), 0);
}

backend_test!(a_supervisor_cannot_see_a_user_of_another_centre);
async fn a_supervisor_cannot_see_a_user_of_another_centre(app: TestApp) {
    let a = app.create_centre("Dushanbe").await;
    let b = app.create_centre("Khujand").await;
    let supervisor = app.create_staff("sup.a", "supervisor", Some(&a)).await;
    let other = app.create_staff("coun.b", "counsellor", Some(&b)).await;
    let response = app
        .get(&format!("/api/v1/users/{}", other.id), &supervisor.token)
        .await;
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    assert_eq!(problem(response).await["status"], 404);
}

backend_test!(a_supervisor_lists_only_their_centres_staff);
async fn a_supervisor_lists_only_their_centres_staff(app: TestApp) {
    let a = app.create_centre("Dushanbe").await;
    let b = app.create_centre("Khujand").await;
    let supervisor = app.create_staff("sup.a", "supervisor", Some(&a)).await;
    app.create_staff("coun.a", "counsellor", Some(&a)).await;
    app.create_staff("coun.b", "counsellor", Some(&b)).await;
    let list: Value = app
        .get("/api/v1/users", &supervisor.token)
        .await
        .json()
        .await
        .unwrap();
    let mut names: Vec<&str> = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["username"].as_str().unwrap())
        .collect();
    names.sort();
    assert_eq!(names, ["coun.a", "sup.a"]);
}

backend_test!(a_counsellor_reads_only_their_own_account);
async fn a_counsellor_reads_only_their_own_account(app: TestApp) {
    let (centre, counsellor) = centre_and_counsellor(&app).await;
    let colleague = app
        .create_staff("colleague", "counsellor", Some(&centre))
        .await;
    let list = app.get("/api/v1/users", &counsellor.token).await;
    assert_eq!(list.status(), StatusCode::FORBIDDEN);
    let own = app
        .get(
            &format!("/api/v1/users/{}", counsellor.id),
            &counsellor.token,
        )
        .await;
    assert_eq!(own.status(), StatusCode::OK);
    let other = app
        .get(
            &format!("/api/v1/users/{}", colleague.id),
            &counsellor.token,
        )
        .await;
    assert_eq!(other.status(), StatusCode::NOT_FOUND);
}

fn user_count(app: &TestApp, username: &str) -> i64 {
    use karvon::db::schema::users;
    users::table
        .filter(users::username_key.eq(username))
        .count()
        .get_result(&mut app.db())
        .unwrap()
}

async fn create_user_with_password(app: &TestApp, username: &str, password: &str) -> Value {
    let centre = app.create_centre(&format!("Centre of {username}")).await;
    let response = app
        .post(
            "/api/v1/users",
            &app.admin,
            json!({"username": username, "full_name": "Amir Rahimov", "role": "counsellor",
                   "centre_id": centre, "password": password}),
        )
        .await;
    assert_eq!(
        response.status(),
        StatusCode::UNPROCESSABLE_ENTITY,
        "{password}"
    );
    problem(response).await
}

backend_test!(an_admin_set_short_password_is_refused);
async fn an_admin_set_short_password_is_refused(app: TestApp) {
    let body = create_user_with_password(&app, "amir", "short-pw").await;
    assert_eq!(body["errors"][0]["field"], "password");
    assert_eq!(user_count(&app, "amir"), 0);
}

backend_test!(an_admin_set_common_password_is_refused);
async fn an_admin_set_common_password_is_refused(app: TestApp) {
    let body = create_user_with_password(&app, "amir", "Password1234").await;
    assert_eq!(body["errors"][0]["field"], "password");
}

backend_test!(an_admin_set_password_containing_the_username_is_refused);
async fn an_admin_set_password_containing_the_username_is_refused(app: TestApp) {
    let body = create_user_with_password(&app, "amir", "xx-AMIR-rahimov-xx").await;
    assert_eq!(body["errors"][0]["field"], "password");
}

backend_test!(an_admin_password_reset_to_a_weak_password_is_refused);
async fn an_admin_password_reset_to_a_weak_password_is_refused(app: TestApp) {
    let (_, counsellor) = centre_and_counsellor(&app).await;
    let path = format!("/api/v1/users/{}", counsellor.id);
    let etag = app.etag(&path, &app.admin).await;
    let response = app
        .patch(
            &path,
            &app.admin,
            &etag,
            json!({"password": "123456789012"}),
        )
        .await;
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(me_status(&app, &counsellor.token).await, StatusCode::OK);
}

backend_test!(usernames_are_unique_case_insensitively);
async fn usernames_are_unique_case_insensitively(app: TestApp) {
    let (centre, _) = centre_and_counsellor(&app).await;
    let response = app
        .post(
            "/api/v1/users",
            &app.admin,
            json!({"username": "DilNoza", "full_name": "Another", "role": "counsellor",
                   "centre_id": centre, "password": "some-long-password-1"}),
        )
        .await;
    assert_eq!(response.status(), StatusCode::CONFLICT);
    assert_eq!(problem(response).await["status"], 409);
}

// ---------------------------------------------------------------- concurrency and idempotency

backend_test!(a_stale_if_match_is_412_and_changes_nothing);
async fn a_stale_if_match_is_412_and_changes_nothing(app: TestApp) {
    let (_, counsellor) = centre_and_counsellor(&app).await;
    let path = format!("/api/v1/users/{}", counsellor.id);
    let stale = app.etag(&path, &app.admin).await;
    let first = app
        .patch(
            &path,
            &app.admin,
            &stale,
            json!({"full_name": "First Edit"}),
        )
        .await;
    assert_eq!(first.status(), StatusCode::OK);
    let second = app
        .patch(
            &path,
            &app.admin,
            &stale,
            json!({"full_name": "Lost Update"}),
        )
        .await;
    assert_eq!(second.status(), StatusCode::PRECONDITION_FAILED);
    assert_eq!(problem(second).await["status"], 412);
    let user: Value = app.get(&path, &app.admin).await.json().await.unwrap();
    assert_eq!(user["full_name"], "First Edit");
    let stale_version: i64 = stale.trim_matches('"').parse().unwrap();
    assert_eq!(user["version"], stale_version + 1);
}

backend_test!(a_patch_without_if_match_is_428);
async fn a_patch_without_if_match_is_428(app: TestApp) {
    let (_, counsellor) = centre_and_counsellor(&app).await;
    let path = format!("/api/v1/users/{}", counsellor.id);
    let response = app
        .request(
            Method::PATCH,
            &path,
            Some(&app.admin),
            Some(json!({"full_name": "No Precondition"})),
        )
        .await;
    assert_eq!(response.status(), StatusCode::PRECONDITION_REQUIRED);
    assert_eq!(problem(response).await["status"], 428);
    let user: Value = app.get(&path, &app.admin).await.json().await.unwrap();
    assert_eq!(user["full_name"], "dilnoza Test");
}

async fn post_with_key(app: &TestApp, key: &str, body: Value) -> reqwest::Response {
    app.client
        .post(app.url("/api/v1/centres"))
        .bearer_auth(&app.admin)
        .header("idempotency-key", key)
        .json(&body)
        .send()
        .await
        .unwrap()
}

fn centre_count(app: &TestApp) -> i64 {
    use karvon::db::schema::centres;
    centres::table.count().get_result(&mut app.db()).unwrap()
}

backend_test!(a_retried_post_with_the_same_idempotency_key_creates_one_record);
async fn a_retried_post_with_the_same_idempotency_key_creates_one_record(app: TestApp) {
    let body = json!({"name": "Kulob", "city": "Kulob", "country": "TJ"});
    let first = post_with_key(&app, "retry-1", body.clone()).await;
    assert_eq!(first.status(), StatusCode::CREATED);
    let first_etag = first.headers()["etag"].clone();
    let first: Value = first.json().await.unwrap();
    let second = post_with_key(&app, "retry-1", body).await;
    assert_eq!(second.status(), StatusCode::CREATED);
    assert_eq!(second.headers()["etag"], first_etag);
    let second: Value = second.json().await.unwrap();
    assert_eq!(first, second);
    assert_eq!(centre_count(&app), 1);
}

backend_test!(reusing_an_idempotency_key_for_another_body_is_422);
async fn reusing_an_idempotency_key_for_another_body_is_422(app: TestApp) {
    let first = post_with_key(
        &app,
        "retry-2",
        json!({"name": "Kulob", "city": "Kulob", "country": "TJ"}),
    )
    .await;
    assert_eq!(first.status(), StatusCode::CREATED);
    let other = post_with_key(
        &app,
        "retry-2",
        json!({"name": "Bokhtar", "city": "Bokhtar", "country": "TJ"}),
    )
    .await;
    assert_eq!(other.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(problem(other).await["status"], 422);
    assert_eq!(centre_count(&app), 1);
}

backend_test!(an_idempotent_replay_needs_a_live_session);
async fn an_idempotent_replay_needs_a_live_session(app: TestApp) {
    let token = app.login("admin", common::ADMIN_PASSWORD).await;
    let body = json!({"name": "Kulob", "city": "Kulob", "country": "TJ"});
    let send = || {
        app.client
            .post(app.url("/api/v1/centres"))
            .bearer_auth(&token)
            .header("idempotency-key", "after-logout")
            .json(&body)
            .send()
    };
    assert_eq!(send().await.unwrap().status(), StatusCode::CREATED);
    let logout = app.post("/api/v1/auth/logout", &token, json!({})).await;
    assert_eq!(logout.status(), StatusCode::NO_CONTENT);
    assert_unauthorized(send().await.unwrap()).await;
}

// ---------------------------------------------------------------- audit trail

async fn audit_events(app: &TestApp, token: &str, query: &str) -> reqwest::Response {
    app.get(&format!("/api/v1/audit-events?limit=200{query}"), token)
        .await
}

async fn audit_items(app: &TestApp, token: &str, query: &str) -> Vec<Value> {
    let response = audit_events(app, token, query).await;
    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = response.json().await.unwrap();
    body["items"].as_array().unwrap().clone()
}

fn actions(items: &[Value]) -> Vec<String> {
    items
        .iter()
        .map(|e| e["action"].as_str().unwrap().to_owned())
        .collect()
}

backend_test!(logins_failures_lockouts_and_logouts_are_audited);
async fn logins_failures_lockouts_and_logouts_are_audited(app: TestApp) {
    let (_, counsellor) = centre_and_counsellor(&app).await;
    let token = app.login(&counsellor.username, &counsellor.password).await;
    let response = app.post("/api/v1/auth/logout", &token, json!({})).await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    fail_logins(&app, &counsellor.username, 5).await;
    let locked = login_attempt(&app, &counsellor.username, &counsellor.password).await;
    assert_eq!(locked.status(), StatusCode::TOO_MANY_REQUESTS);

    let again = login_attempt(&app, &counsellor.username, &counsellor.password).await;
    assert_eq!(again.status(), StatusCode::TOO_MANY_REQUESTS);

    let by_user = app.audit_actions(&counsellor.id);
    for action in ["auth.login", "auth.login_failed", "auth.login_throttled"] {
        assert!(
            by_user.iter().any(|a| a == action),
            "{action} in {by_user:?}"
        );
    }
    assert_eq!(
        by_user.iter().filter(|a| *a == "auth.login_failed").count(),
        5
    );
    // One event for the lock, none for each refused attempt.
    assert_eq!(
        by_user
            .iter()
            .filter(|a| *a == "auth.login_throttled")
            .count(),
        1
    );
    let all = actions(&audit_items(&app, &app.admin, "").await);
    assert!(all.iter().any(|a| a == "auth.logout"), "{all:?}");
    assert_eq!(
        all.iter().filter(|a| *a == "auth.login_throttled").count(),
        1,
        "{all:?}"
    );
}

backend_test!(user_changes_are_audited_with_field_names_only);
async fn user_changes_are_audited_with_field_names_only(app: TestApp) {
    let (_, counsellor) = centre_and_counsellor(&app).await;
    let path = format!("/api/v1/users/{}", counsellor.id);
    let etag = app.etag(&path, &app.admin).await;
    let updated = app
        .patch(&path, &app.admin, &etag, json!({"full_name": "Dilnoza K."}))
        .await;
    assert_eq!(updated.status(), StatusCode::OK);
    let etag = updated.headers()["etag"].to_str().unwrap().to_owned();
    let deactivated = app
        .patch(&path, &app.admin, &etag, json!({"active": false}))
        .await;
    assert_eq!(deactivated.status(), StatusCode::OK);

    let recorded = app.audit_actions(&counsellor.id);
    for action in [
        "user.create",
        "user.password_change",
        "user.update",
        "user.deactivate",
    ] {
        assert!(
            recorded.iter().any(|a| a == action),
            "{action} in {recorded:?}"
        );
    }
    let events = audit_items(&app, &app.admin, &format!("&entity_id={}", counsellor.id)).await;
    let update = events
        .iter()
        .find(|e| e["action"] == "user.update")
        .unwrap();
    assert_eq!(update["changed_fields"], json!(["full_name"]));
    assert_eq!(update["actor_username"], "admin");
    let text = serde_json::to_string(&events).unwrap();
    assert!(!text.contains(&counsellor.password));
    assert!(!text.contains("initial-secret-pw-2026"));
}

backend_test!(centre_changes_are_audited);
async fn centre_changes_are_audited(app: TestApp) {
    let centre = app.create_centre("Dushanbe").await;
    let path = format!("/api/v1/centres/{centre}");
    let etag = app.etag(&path, &app.admin).await;
    let response = app
        .patch(&path, &app.admin, &etag, json!({"city": "Dushanbe city"}))
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        app.audit_actions(&centre),
        ["centre.create", "centre.update"]
    );
}

backend_test!(a_supervisor_sees_only_their_centres_audit_events);
async fn a_supervisor_sees_only_their_centres_audit_events(app: TestApp) {
    let a = app.create_centre("Dushanbe").await;
    let b = app.create_centre("Khujand").await;
    let supervisor = app.create_staff("sup.a", "supervisor", Some(&a)).await;
    let other = app.create_staff("coun.b", "counsellor", Some(&b)).await;
    let items = audit_items(&app, &supervisor.token, "").await;
    assert!(!items.is_empty());
    assert!(
        items.iter().all(|e| e["centre_id"] == a.as_str()),
        "{items:?}"
    );
    assert!(items.iter().all(|e| e["entity_id"] != other.id.as_str()));
    // Asking for another centre explicitly does not widen the view.
    let items = audit_items(&app, &supervisor.token, &format!("&centre_id={b}")).await;
    assert!(items.iter().all(|e| e["centre_id"] == a.as_str()));
}

backend_test!(a_counsellor_cannot_read_the_audit_trail);
async fn a_counsellor_cannot_read_the_audit_trail(app: TestApp) {
    let (_, counsellor) = centre_and_counsellor(&app).await;
    let response = audit_events(&app, &counsellor.token, "").await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
}

backend_test!(audit_rows_cannot_be_updated_or_deleted_through_sql);
async fn audit_rows_cannot_be_updated_or_deleted_through_sql(app: TestApp) {
    use karvon::db::schema::audit_events;
    let before = app.audit_actions(&app.create_centre("Dushanbe").await);
    assert_eq!(before, ["centre.create"]);
    let mut conn = app.db();
    let total = |conn: &mut karvon::db::DbConnection| -> i64 {
        audit_events::table.count().get_result(conn).unwrap()
    };
    let stored = total(&mut conn);
    let mut statements = vec![
        "UPDATE audit_events SET action = 'x'",
        "DELETE FROM audit_events",
    ];
    // SQLite has no TRUNCATE; its DELETE above is the same attempt. CASCADE reaches past the
    // foreign key of the subject rows, so the triggers are what refuse it.
    if app.backend == Backend::Postgres {
        statements.push("TRUNCATE audit_events CASCADE");
    }
    for statement in statements {
        let error = diesel::sql_query(statement)
            .execute(&mut conn)
            .expect_err(statement);
        assert!(
            error.to_string().contains("is append-only"),
            "{statement}: {error}"
        );
    }
    assert_eq!(total(&mut conn), stored);
    let xs: i64 = audit_events::table
        .filter(audit_events::action.eq("x"))
        .count()
        .get_result(&mut conn)
        .unwrap();
    assert_eq!(xs, 0);
}

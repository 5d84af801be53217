//! Login throttling under concurrency, lock-out by strangers, `POST /me/password` guesses, the
//! audit trail of failed logins, and housekeeping — on every configured backend.

mod common;

use std::time::{Duration, Instant};

use common::{problem, Account, TestApp};
use diesel::prelude::*;
use karvon::auth::throttle::{delay_after, PAIR_LIMIT};
use karvon::db::schema::{audit_events, login_throttle, refresh_tokens, sessions};
use reqwest::StatusCode;
use serde_json::json;

const WRONG: &str = "definitely-wrong-guess";
const BURST: usize = 60;

/// A login request, optionally from the client address `forwarded_for` (servers trusting
/// `X-Forwarded-For`). A single entry: the leftmost and the rightmost are the same.
async fn attempt(
    client: &reqwest::Client,
    url: &str,
    username: &str,
    password: &str,
    forwarded_for: Option<&str>,
) -> reqwest::Response {
    let mut request = client
        .post(url)
        .json(&json!({"username": username, "password": password}));
    if let Some(address) = forwarded_for {
        request = request.header("X-Forwarded-For", address);
    }
    request.send().await.expect("login request")
}

async fn login_from(
    app: &TestApp,
    username: &str,
    password: &str,
    forwarded_for: Option<&str>,
) -> reqwest::Response {
    let url = app.url("/api/v1/auth/login");
    attempt(&app.client, &url, username, password, forwarded_for).await
}

/// `BURST` concurrent wrong passwords for `username`, spread over `servers`; their statuses.
async fn burst(
    servers: &[&TestApp],
    username: &str,
    forwarded_for: Option<&str>,
) -> Vec<StatusCode> {
    let requests = (0..BURST).map(|i| {
        let server = servers[i % servers.len()];
        login_from(server, username, WRONG, forwarded_for)
    });
    futures_util::future::join_all(requests)
        .await
        .iter()
        .map(reqwest::Response::status)
        .collect()
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

/// Of a burst's answers: at most the limit reached the password check (401), the rest are 429.
fn assert_at_most_the_limit_checked(statuses: &[StatusCode]) -> usize {
    let checked = statuses
        .iter()
        .filter(|s| **s == StatusCode::UNAUTHORIZED)
        .count();
    let refused = statuses
        .iter()
        .filter(|s| **s == StatusCode::TOO_MANY_REQUESTS)
        .count();
    assert!(
        (1..=PAIR_LIMIT as usize).contains(&checked),
        "{checked} reached the password check: {statuses:?}"
    );
    assert_eq!(checked + refused, statuses.len(), "{statuses:?}");
    checked
}

async fn counsellor(app: &TestApp) -> Account {
    let centre = app.create_centre("Dushanbe").await;
    app.create_staff("dilnoza", "counsellor", Some(&centre))
        .await
}

fn count_actions(app: &TestApp, action: &str) -> i64 {
    audit_events::table
        .filter(audit_events::action.eq(action))
        .count()
        .get_result(&mut app.db())
        .expect("count audit events")
}

fn audit_rows(app: &TestApp) -> i64 {
    audit_events::table
        .count()
        .get_result(&mut app.db())
        .expect("count audit events")
}

fn throttle_rows(app: &TestApp) -> i64 {
    login_throttle::table
        .count()
        .get_result(&mut app.db())
        .expect("count throttle counters")
}

fn sessions_of(app: &TestApp, user_id: &str) -> i64 {
    sessions::table
        .filter(sessions::user_id.eq(user_id))
        .count()
        .get_result(&mut app.db())
        .expect("count sessions")
}

// ---------------------------------------------------------------- concurrency

/// A burst of sixty logins on a loaded 2-core machine may wait longer than the default two
/// seconds for one of the test server's four connections; these tests are about throttling,
/// not about answering 503 under overload.
fn patient_pool(config: &mut karvon::config::ServeConfig) {
    config.database.database_checkout_timeout_secs = 30;
}

backend_test!(
    sixty_concurrent_wrong_passwords_reach_the_password_check_at_most_five_times,
    patient_pool
);
async fn sixty_concurrent_wrong_passwords_reach_the_password_check_at_most_five_times(
    app: TestApp,
) {
    let counsellor = counsellor(&app).await;
    let statuses = burst(&[&app], &counsellor.username, None).await;
    let checked = assert_at_most_the_limit_checked(&statuses);
    let refused = login_from(&app, &counsellor.username, WRONG, None).await;
    assert_throttled(refused).await;

    let right = login_from(&app, &counsellor.username, &counsellor.password, None).await;
    assert_throttled(right).await;
    assert_eq!(
        count_actions(&app, "auth.login_failed"),
        checked as i64,
        "one failed-login event per password checked"
    );
}

backend_test!(
    a_right_password_inside_a_concurrent_burst_does_not_get_through,
    patient_pool
);
async fn a_right_password_inside_a_concurrent_burst_does_not_get_through(app: TestApp) {
    let counsellor = counsellor(&app).await;
    let sessions_before = sessions_of(&app, &counsellor.id);
    let (sender, mut answers) = tokio::sync::mpsc::unbounded_channel();
    for _ in 0..BURST {
        let (client, url) = (app.client.clone(), app.url("/api/v1/auth/login"));
        let (username, sender) = (counsellor.username.clone(), sender.clone());
        tokio::spawn(async move {
            let response = attempt(&client, &url, &username, WRONG, None).await;
            let _ = sender.send(response.status());
        });
    }
    // Once one attempt is refused, the limit's worth are under way; wrong passwords still
    // being checked (or waiting out their delay) must not let a right one slip in.
    let mut statuses = Vec::new();
    let waited = tokio::time::timeout(Duration::from_secs(30), async {
        while let Some(status) = answers.recv().await {
            statuses.push(status);
            if status == StatusCode::TOO_MANY_REQUESTS {
                return;
            }
        }
    })
    .await;
    assert!(waited.is_ok(), "no attempt was refused: {statuses:?}");
    let checked_so_far = statuses
        .iter()
        .filter(|s| **s == StatusCode::UNAUTHORIZED)
        .count();
    assert!(checked_so_far < PAIR_LIMIT as usize, "{statuses:?}");

    let right = login_from(&app, &counsellor.username, &counsellor.password, None).await;
    assert_throttled(right).await;
    while statuses.len() < BURST {
        statuses.push(answers.recv().await.expect("burst answer"));
    }
    assert_at_most_the_limit_checked(&statuses);
    assert_eq!(sessions_of(&app, &counsellor.id), sessions_before);
}

backend_test!(two_servers_on_one_database_throttle_together, patient_pool);
async fn two_servers_on_one_database_throttle_together(app: TestApp) {
    let counsellor = counsellor(&app).await;
    let replica = app.replica().await;
    let statuses = burst(&[&app, &replica], &counsellor.username, None).await;
    assert_at_most_the_limit_checked(&statuses);
    for server in [&app, &replica] {
        let right = login_from(server, &counsellor.username, &counsellor.password, None).await;
        assert_throttled(right).await;
    }
    replica.stop().await;
}

// ---------------------------------------------------------------- strangers

fn trusting_proxy_headers(config: &mut karvon::config::ServeConfig) {
    config.trust_proxy_headers = true;
    patient_pool(config);
}

backend_test!(
    a_burst_from_another_address_slows_the_user_down_but_does_not_lock_them_out,
    trusting_proxy_headers
);
async fn a_burst_from_another_address_slows_the_user_down_but_does_not_lock_them_out(app: TestApp) {
    let counsellor = counsellor(&app).await;
    let stranger = Some("203.0.113.7");
    let statuses = burst(&[&app], &counsellor.username, stranger).await;
    let failures = assert_at_most_the_limit_checked(&statuses);
    let right = login_from(&app, &counsellor.username, &counsellor.password, stranger).await;
    assert_throttled(right).await;

    let started = Instant::now();
    let own_address = Some("198.51.100.20");
    let right = login_from(
        &app,
        &counsellor.username,
        &counsellor.password,
        own_address,
    )
    .await;
    assert_eq!(right.status(), StatusCode::OK);
    let waited = started.elapsed();
    let expected = delay_after(i32::try_from(failures).unwrap());
    assert!(expected > Duration::ZERO);
    assert!(
        waited >= expected,
        "waited {waited:?}, expected {expected:?}"
    );

    // The stranger's address stays locked for this username after the user logged in.
    let again = login_from(&app, &counsellor.username, &counsellor.password, stranger).await;
    assert_throttled(again).await;
}

backend_test!(twenty_failures_from_one_address_lock_it_for_every_username_once);
async fn twenty_failures_from_one_address_lock_it_for_every_username_once(app: TestApp) {
    let counsellor = counsellor(&app).await;
    for i in 0..20 {
        let response = login_from(&app, &format!("guess-{i}"), WRONG, None).await;
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    }
    let (before, counters_before) = (audit_rows(&app), throttle_rows(&app));
    for i in 0..5 {
        let right = login_from(&app, &counsellor.username, &counsellor.password, None).await;
        assert_throttled(right).await;
        let fresh_name = login_from(&app, &format!("another-{i}"), WRONG, None).await;
        assert_throttled(fresh_name).await;
    }
    assert_eq!(
        audit_rows(&app),
        before,
        "refused attempts write no audit rows"
    );
    assert_eq!(throttle_rows(&app), counters_before, "nor counters");
    let lock_events: Vec<String> = audit_events::table
        .filter(audit_events::action.eq("auth.login_throttled"))
        .select(audit_events::entity_type)
        .load(&mut app.db())
        .unwrap();
    assert_eq!(lock_events, ["client_address"]);
}

// ---------------------------------------------------------------- audit trail

backend_test!(each_lock_writes_one_login_throttled_event_and_refusals_write_none);
async fn each_lock_writes_one_login_throttled_event_and_refusals_write_none(app: TestApp) {
    let counsellor = counsellor(&app).await;
    for round in 1..=2 {
        for _ in 0..PAIR_LIMIT {
            let wrong = login_from(&app, &counsellor.username, WRONG, None).await;
            assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
        }
        let before = audit_rows(&app);
        for _ in 0..10 {
            let refused = login_from(&app, &counsellor.username, WRONG, None).await;
            assert_throttled(refused).await;
        }
        assert_eq!(audit_rows(&app), before, "round {round}");
        let locks: Vec<Option<String>> = audit_events::table
            .filter(audit_events::action.eq("auth.login_throttled"))
            .select(audit_events::entity_id)
            .load(&mut app.db())
            .unwrap();
        assert_eq!(locks, vec![Some(counsellor.id.clone()); round]);
        // The window passes: the lock lifts, and the next lock is a new one.
        app.age_login_throttle(16);
    }
    assert_eq!(count_actions(&app, "auth.login_refused_locked"), 0);
}

backend_test!(a_password_typed_as_the_username_is_not_stored_in_clear);
async fn a_password_typed_as_the_username_is_not_stored_in_clear(app: TestApp) {
    let counsellor = counsellor(&app).await;
    let typed = "Plum Orchard Teapot 42";
    for _ in 0..2 {
        let response = login_from(&app, typed, WRONG, None).await;
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    }
    let wrong = login_from(&app, &counsellor.username, WRONG, None).await;
    assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);

    let failed: Vec<(Option<String>, Option<String>)> = audit_events::table
        .filter(audit_events::action.eq("auth.login_failed"))
        .order(audit_events::id.asc())
        .select((audit_events::actor_username, audit_events::actor_id))
        .load(&mut app.db())
        .unwrap();
    assert_eq!(failed.len(), 3);
    let pseudonym = failed[0].0.clone().unwrap();
    assert!(pseudonym.starts_with("unknown:"), "{pseudonym}");
    assert_eq!(
        failed[1],
        (Some(pseudonym), None),
        "the same name, the same pseudonym"
    );
    assert_eq!(
        failed[2],
        (
            Some(counsellor.username.clone()),
            Some(counsellor.id.clone())
        )
    );

    let lowered = typed.to_lowercase();
    let mut conn = app.db();
    let audit_text: Vec<(Option<String>, Option<String>, String)> = audit_events::table
        .select((
            audit_events::actor_username,
            audit_events::entity_id,
            audit_events::changed_fields,
        ))
        .load(&mut conn)
        .unwrap();
    let throttle_keys: Vec<String> = login_throttle::table
        .select(login_throttle::throttle_key)
        .load(&mut conn)
        .unwrap();
    let stored = format!("{audit_text:?} {throttle_keys:?}").to_lowercase();
    assert!(!stored.contains(&lowered), "{stored}");
    let listed = app.get("/api/v1/audit-events", &app.admin).await;
    let listed = listed.text().await.unwrap().to_lowercase();
    assert!(
        listed.contains("unknown:") && !listed.contains(&lowered),
        "{listed}"
    );
}

// ---------------------------------------------------------------- me/password

backend_test!(wrong_current_passwords_count_as_failed_logins_and_lock);
async fn wrong_current_passwords_count_as_failed_logins_and_lock(app: TestApp) {
    let counsellor = counsellor(&app).await;
    let change = |current: &str| {
        app.post(
            "/api/v1/me/password",
            &counsellor.token,
            json!({"current_password": current, "new_password": "a-brand-new-passphrase"}),
        )
    };
    let changes_before = count_actions(&app, "user.password_change");
    for _ in 0..PAIR_LIMIT {
        let wrong = change(WRONG).await;
        assert_eq!(wrong.status(), StatusCode::UNPROCESSABLE_ENTITY);
    }
    assert_throttled(change(WRONG).await).await;
    assert_throttled(change(&counsellor.password).await).await;
    let login = login_from(&app, &counsellor.username, &counsellor.password, None).await;
    assert_throttled(login).await;

    let actions = app.audit_actions(&counsellor.id);
    let failed = actions
        .iter()
        .filter(|a| *a == "auth.password_change_failed")
        .count();
    assert_eq!(failed, PAIR_LIMIT as usize, "{actions:?}");
    let locks = actions
        .iter()
        .filter(|a| *a == "auth.login_throttled")
        .count();
    assert_eq!(locks, 1, "{actions:?}");
    assert_eq!(count_actions(&app, "user.password_change"), changes_before);

    // Nothing changed: once the window passes, the old password still works.
    app.age_login_throttle(16);
    app.login(&counsellor.username, &counsellor.password).await;
}

backend_test!(a_right_current_password_does_not_count_as_a_failure);
async fn a_right_current_password_does_not_count_as_a_failure(app: TestApp) {
    let counsellor = counsellor(&app).await;
    for _ in 0..PAIR_LIMIT - 1 {
        let wrong = login_from(&app, &counsellor.username, WRONG, None).await;
        assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
    }
    app.change_password(
        &counsellor.token,
        &counsellor.password,
        "a-brand-new-passphrase",
    )
    .await;
    // The right password cleared the username's failures: the limit is whole again.
    for _ in 0..PAIR_LIMIT - 1 {
        let wrong = login_from(&app, &counsellor.username, WRONG, None).await;
        assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
    }
    app.login(&counsellor.username, "a-brand-new-passphrase")
        .await;
}

// ---------------------------------------------------------------- housekeeping

/// Moves a session's expiry into the past.
fn expire_session(app: &TestApp, session_id: &str) {
    diesel::update(sessions::table.find(session_id))
        .set(sessions::expires_at.eq(karvon::time::now() - chrono::Duration::days(1)))
        .execute(&mut app.db())
        .unwrap();
}

fn session_ids(app: &TestApp, user_id: &str) -> Vec<String> {
    sessions::table
        .filter(sessions::user_id.eq(user_id))
        .order(sessions::id.asc())
        .select(sessions::id)
        .load(&mut app.db())
        .unwrap()
}

fn tokens_of(app: &TestApp, session_id: &str) -> i64 {
    refresh_tokens::table
        .filter(refresh_tokens::session_id.eq(session_id))
        .count()
        .get_result(&mut app.db())
        .unwrap()
}

backend_test!(purges_delete_expired_rows_and_keep_live_ones);
async fn purges_delete_expired_rows_and_keep_live_ones(app: TestApp) {
    let counsellor = counsellor(&app).await;
    let old_sessions = session_ids(&app, &counsellor.id);
    let live = app.login(&counsellor.username, &counsellor.password).await;
    for old in &old_sessions {
        expire_session(&app, old);
    }
    let wrong = login_from(&app, "someone-else", WRONG, None).await;
    assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
    app.age_login_throttle(16);
    let wrong = login_from(&app, &counsellor.username, WRONG, None).await;
    assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
    // someone-else at this address and anywhere (expired); dilnoza at this address and
    // anywhere, and the address (live).
    assert_eq!(throttle_rows(&app), 5);

    let mut conn = app.db();
    let now = karvon::time::now();
    let purged = karvon::auth::throttle::purge_expired(&mut conn, now).unwrap();
    assert_eq!(purged, 2);
    assert_eq!(throttle_rows(&app), 3);
    let purged = karvon::housekeeping::purge_expired_sessions(&mut conn, now).unwrap();
    assert_eq!(purged, old_sessions.len());
    for old in &old_sessions {
        assert_eq!(tokens_of(&app, old), 0);
    }
    let kept = session_ids(&app, &counsellor.id);
    assert_eq!(kept.len(), 1);
    assert_eq!(tokens_of(&app, &kept[0]), 1);
    assert_eq!(app.get("/api/v1/me", &live).await.status(), StatusCode::OK);

    // Running them again (another replica) finds nothing to do.
    assert_eq!(
        karvon::auth::throttle::purge_expired(&mut conn, now).unwrap(),
        0
    );
    assert_eq!(
        karvon::housekeeping::purge_expired_sessions(&mut conn, now).unwrap(),
        0
    );
}

fn every_second(config: &mut karvon::config::ServeConfig) {
    config.housekeeping_interval_secs = 1;
}

backend_test!(the_server_runs_housekeeping_on_its_interval, every_second);
async fn the_server_runs_housekeeping_on_its_interval(app: TestApp) {
    let counsellor = counsellor(&app).await;
    let expired = session_ids(&app, &counsellor.id);
    app.login(&counsellor.username, &counsellor.password).await;
    for session in &expired {
        expire_session(&app, session);
    }
    let deadline = Instant::now() + Duration::from_secs(20);
    while session_ids(&app, &counsellor.id).len() > 1 {
        assert!(
            Instant::now() < deadline,
            "expired sessions were not purged"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

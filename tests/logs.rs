//! Captured logs of a whole session — logins, refreshes, password changes, user creation —
//! contain no password, refresh token or access token. A separate test binary, because the
//! global subscriber can be installed only once per process.

mod common;

use std::io::Write;
use std::sync::{Arc, Mutex, OnceLock};

use common::{TestApp, ADMIN_PASSWORD, BOOTSTRAP_PASSWORD};
use karvon::config::{LogFormat, ServeConfig};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Captured {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

/// The log capture every test of this binary shares, installed on first use.
fn captured() -> &'static Captured {
    static CAPTURED: OnceLock<Captured> = OnceLock::new();
    CAPTURED.get_or_init(|| {
        let captured = Captured::default();
        let writer = captured.clone();
        karvon::telemetry::init(LogFormat::Json, move || writer.clone());
        captured
    })
}

/// Installs the capture before the server starts, so the bootstrap login is captured too.
fn capture_logs(_: &mut ServeConfig) {
    captured();
}

backend_test!(logs_never_contain_passwords_or_tokens, capture_logs);
async fn logs_never_contain_passwords_or_tokens(app: TestApp) {
    let secrets = Mutex::new(vec![
        BOOTSTRAP_PASSWORD.to_owned(),
        ADMIN_PASSWORD.to_owned(),
    ]);
    let keep = |s: &str| secrets.lock().unwrap().push(s.to_owned());
    keep(&app.admin);
    let centre = app.create_centre("Dushanbe").await;
    let staff = app
        .create_staff("logged.user", "counsellor", Some(&centre))
        .await;
    keep(&staff.password);
    keep(&staff.token);
    keep("initial-secret-pw-2026");

    let session = app.login_response(&staff.username, &staff.password).await;
    keep(session["access_token"].as_str().unwrap());
    keep(session["refresh_token"].as_str().unwrap());
    let refreshed: Value = app
        .request(
            Method::POST,
            "/api/v1/auth/refresh",
            None,
            Some(json!({"refresh_token": session["refresh_token"]})),
        )
        .await
        .json()
        .await
        .unwrap();
    keep(refreshed["access_token"].as_str().unwrap());
    keep(refreshed["refresh_token"].as_str().unwrap());

    // A failed login and a failed password change carry secrets too.
    let failed = app
        .request(
            Method::POST,
            "/api/v1/auth/login",
            None,
            Some(json!({"username": staff.username, "password": "wrong-guess-secret-1"})),
        )
        .await;
    assert_eq!(failed.status(), StatusCode::UNAUTHORIZED);
    keep("wrong-guess-secret-1");
    let token = refreshed["access_token"].as_str().unwrap();
    app.change_password(token, &staff.password, "changed-secret-words-9")
        .await;
    keep("changed-secret-words-9");
    let weak = app
        .post(
            "/api/v1/users",
            &app.admin,
            json!({"username": "weakling", "full_name": "W", "role": "counsellor",
                           "centre_id": centre, "password": "weakling-pass-1"}),
        )
        .await;
    assert_eq!(weak.status(), StatusCode::UNPROCESSABLE_ENTITY);
    keep("weakling-pass-1");

    let logs = captured().text();
    assert!(
        logs.contains("/api/v1/auth/login"),
        "the logs captured the requests:\n{logs}"
    );
    for secret in secrets.lock().unwrap().iter() {
        assert!(
            !logs.contains(secret.as_str()),
            "a secret reached the logs: {secret}"
        );
    }
}

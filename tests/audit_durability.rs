//! Reads' audit events are committed in groups, and so are writes on SQLite; a request answers
//! only once its group is committed: killing the server (`kill -9`) in the middle of a burst
//! loses no audit row of a read that was answered, and no write that was answered.

mod common;

use std::collections::HashSet;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::world::{for_migrant, World};
use common::Account;
use common::TestApp;
use diesel::prelude::*;
use karvon::db::schema::{audit_event_subjects, audit_events, consultations};
use karvon::db::DatabaseUrl;
use reqwest::StatusCode;

/// The release-like binary over the test's database.
struct Binary {
    child: Child,
    base: String,
}

impl Binary {
    async fn start(url: &DatabaseUrl) -> Self {
        let url = match url {
            DatabaseUrl::Sqlite(path) => format!("sqlite://{path}"),
            DatabaseUrl::Postgres(url) => url.clone(),
        };
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("free port")
            .port();
        let child = Command::new(env!("CARGO_BIN_EXE_karvon"))
            .arg("serve")
            .env("DATABASE_URL", url)
            .env("BIND", format!("127.0.0.1:{port}"))
            .env("KARVON_PASSWORD_HASHING", "fast-insecure")
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start karvon");
        let binary = Self {
            child,
            base: format!("http://127.0.0.1:{port}"),
        };
        binary.wait_until_ready().await;
        binary
    }

    async fn wait_until_ready(&self) {
        let started = Instant::now();
        let client = reqwest::Client::new();
        loop {
            let ready = client.get(format!("{}/readyz", self.base)).send().await;
            if ready.is_ok_and(|r| r.status() == StatusCode::OK) {
                return;
            }
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "the server did not become ready"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

impl Binary {
    async fn log_in(&self, account: &Account) -> String {
        let login = reqwest::Client::new()
            .post(format!("{}/api/v1/auth/login", self.base))
            .json(&serde_json::json!({
                "username": account.username,
                "password": account.password,
            }))
            .send()
            .await
            .unwrap();
        assert_eq!(login.status(), StatusCode::OK);
        login.json::<serde_json::Value>().await.unwrap()["access_token"]
            .as_str()
            .unwrap()
            .to_owned()
    }
}

impl Drop for Binary {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// How many requests must be answered before the kill, so that it lands in the middle of a
/// burst.
const ANSWERS_BEFORE_KILL: usize = 100;

/// Sends `request` over and over until the server goes away (it answers `None` then), counting
/// every answer in `answered_count`; what it made of each answered request.
async fn until_killed<F, Fut>(answered_count: Arc<AtomicUsize>, request: F) -> Vec<String>
where
    F: Fn(reqwest::Client) -> Fut,
    Fut: std::future::Future<Output = Option<String>>,
{
    let client = reqwest::Client::new();
    let mut answered = Vec::new();
    while let Some(answer) = request(client.clone()).await {
        answered.push(answer);
        answered_count.fetch_add(1, Ordering::Relaxed);
    }
    answered
}

/// A read of the case: its request id.
async fn read_case(
    client: reqwest::Client,
    base: String,
    token: String,
    case: String,
) -> Option<String> {
    let response = client
        .get(format!("{base}/api/v1/cases/{case}"))
        .bearer_auth(&token)
        .send()
        .await
        .ok()?;
    assert_eq!(response.status(), StatusCode::OK);
    Some(
        response.headers()["x-request-id"]
            .to_str()
            .unwrap()
            .to_owned(),
    )
}

/// A walk-in for the person: the id of the consultation logged.
async fn log_walk_in(
    client: reqwest::Client,
    base: String,
    token: String,
    migrant: String,
) -> Option<String> {
    let response = client
        .post(format!("{base}/api/v1/consultations"))
        .bearer_auth(&token)
        .json(&for_migrant(&migrant))
        .send()
        .await
        .ok()?;
    assert_eq!(response.status(), StatusCode::CREATED);
    // A body cut off by the kill is no answer.
    let body = response.json::<serde_json::Value>().await.ok()?;
    Some(body["id"].as_str().unwrap().to_owned())
}

/// Waits until `count` reaches `ANSWERS_BEFORE_KILL`: a count rather than a fixed time, so that
/// a busy machine only makes the test slower.
async fn wait_for_answers(count: &AtomicUsize) {
    let started = Instant::now();
    while count.load(Ordering::Relaxed) < ANSWERS_BEFORE_KILL {
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "only {} requests answered in two minutes",
            count.load(Ordering::Relaxed)
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

backend_test!(a_killed_server_loses_no_audit_row_of_an_answered_read);
async fn a_killed_server_loses_no_audit_row_of_an_answered_read(app: TestApp) {
    let world = World::build(&app).await;
    app.stop().await;
    let mut binary = Binary::start(&app.database_url).await;
    let token = binary.log_in(&world.counsellor).await;

    let answered_count = Arc::new(AtomicUsize::new(0));
    let readers: Vec<_> = (0..16)
        .map(|_| {
            let (base, token, case) = (binary.base.clone(), token.clone(), world.case.clone());
            tokio::spawn(until_killed(answered_count.clone(), move |client| {
                read_case(client, base.clone(), token.clone(), case.clone())
            }))
        })
        .collect();
    wait_for_answers(&answered_count).await;
    binary.child.kill().expect("kill -9");
    binary.child.wait().expect("the server exited");
    let mut answered = Vec::new();
    for reader in readers {
        answered.extend(reader.await.unwrap());
    }

    assert!(
        answered.len() >= ANSWERS_BEFORE_KILL,
        "only {} reads answered before the kill",
        answered.len()
    );
    // Each read's event must name the case's person: their access log is where it is looked
    // for, and the reads committed together write their subjects together.
    let recorded: HashSet<String> = audit_events::table
        .inner_join(audit_event_subjects::table)
        .filter(audit_events::action.eq("case.read"))
        .filter(audit_event_subjects::migrant_id.eq(&world.migrant))
        .select(audit_events::request_id.assume_not_null())
        .load(&mut app.db())
        .unwrap()
        .into_iter()
        .collect();
    let lost: Vec<&String> = answered
        .iter()
        .filter(|id| !recorded.contains(*id))
        .collect();
    assert!(
        lost.is_empty(),
        "{} of {} answered reads have no audit row naming their person: {:?}",
        lost.len(),
        answered.len(),
        &lost[..lost.len().min(5)]
    );
}

backend_test!(a_killed_server_loses_no_answered_write);
async fn a_killed_server_loses_no_answered_write(app: TestApp) {
    let world = World::build(&app).await;
    app.stop().await;
    let mut binary = Binary::start(&app.database_url).await;
    let token = binary.log_in(&world.counsellor).await;

    let answered_count = Arc::new(AtomicUsize::new(0));
    let writers: Vec<_> = (0..16)
        .map(|_| {
            let (base, token, migrant) =
                (binary.base.clone(), token.clone(), world.migrant.clone());
            tokio::spawn(until_killed(answered_count.clone(), move |client| {
                log_walk_in(client, base.clone(), token.clone(), migrant.clone())
            }))
        })
        .collect();
    wait_for_answers(&answered_count).await;
    binary.child.kill().expect("kill -9");
    binary.child.wait().expect("the server exited");
    let mut answered = Vec::new();
    for writer in writers {
        answered.extend(writer.await.unwrap());
    }

    assert!(answered.len() >= ANSWERS_BEFORE_KILL);
    let stored: HashSet<String> = consultations::table
        .select(consultations::id)
        .load(&mut app.db())
        .unwrap()
        .into_iter()
        .collect();
    let audited: HashSet<String> = audit_events::table
        .filter(audit_events::action.eq("consultation.create"))
        .select(audit_events::entity_id.assume_not_null())
        .load(&mut app.db())
        .unwrap()
        .into_iter()
        .collect();
    let lost: Vec<&String> = answered
        .iter()
        .filter(|id| !stored.contains(*id) || !audited.contains(*id))
        .collect();
    assert!(
        lost.is_empty(),
        "{} of {} answered walk-ins are missing or unaudited: {:?}",
        lost.len(),
        answered.len(),
        &lost[..lost.len().min(5)]
    );
}

//! Database outages as an operator meets them: a restart that kills every pooled connection, a
//! database that refuses connections for a while, a server started before its database, and
//! SQLite's write lock held too long. The API answers 503 problem+json (never 500) while the
//! database is away and heals by itself, without a restart, when it returns.

mod common;

use std::time::{Duration, Instant};

use common::{problem, spawn, Backend, PostgresDatabase, TestApp};
use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use karvon::auth::roles::Role;
use karvon::auth::tokens::{Holder, TokenKeys};
use karvon::config::ServeConfig;
use karvon::db::DatabaseUrl;
use karvon::startup::Application;
use reqwest::StatusCode;

fn admin_connection(admin_url: &str) -> PgConnection {
    PgConnection::establish(admin_url).expect("connect to KARVON_TEST_POSTGRES_URL")
}

fn database_name(url: &DatabaseUrl) -> String {
    match url {
        DatabaseUrl::Postgres(url) => url.rsplit('/').next().unwrap_or_default().to_owned(),
        DatabaseUrl::Sqlite(_) => panic!("not a PostgreSQL database"),
    }
}

/// What a restart does to Karvon's side: every server process serving the database ends.
fn terminate_backends(admin_url: &str, database: &str) -> usize {
    #[derive(QueryableByName)]
    struct Terminated {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        count: i64,
    }
    let rows: Vec<Terminated> = diesel::sql_query(format!(
        "SELECT count(pg_terminate_backend(pid)) AS count FROM pg_stat_activity \
         WHERE datname = '{database}' AND pid <> pg_backend_pid()"
    ))
    .load(&mut admin_connection(admin_url))
    .expect("terminate backends");
    usize::try_from(rows[0].count).unwrap_or_default()
}

fn allow_connections(admin_url: &str, database: &str, allow: bool) {
    diesel::sql_query(format!(
        "ALTER DATABASE {database} WITH ALLOW_CONNECTIONS {allow}"
    ))
    .execute(&mut admin_connection(admin_url))
    .expect("alter database");
}

/// Fires `count` concurrent `GET /api/v1/centres` and returns their statuses.
async fn burst(app: &TestApp, count: usize) -> Vec<StatusCode> {
    let requests = (0..count).map(|_| app.get("/api/v1/centres", &app.admin));
    futures_util::future::join_all(requests)
        .await
        .iter()
        .map(reqwest::Response::status)
        .collect()
}

/// Asserts that an unavailable answer is a 503 problem with `Retry-After`.
async fn assert_unavailable(response: reqwest::Response) -> serde_json::Value {
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(response.headers().contains_key("retry-after"));
    let body = problem(response).await;
    assert_eq!(body["type"], "https://karvon.example/problems/unavailable");
    body
}

/// Polls `GET /api/v1/centres` until ten answers in a row are 200; every answer on the way is
/// 200 or 503, never 500. Returns how long it took.
async fn wait_for_ten_200s(app: &TestApp, within: Duration) -> Duration {
    let started = Instant::now();
    let mut in_a_row = 0;
    while in_a_row < 10 {
        assert!(started.elapsed() < within, "still failing after {within:?}");
        let status = app.get("/api/v1/centres", &app.admin).await.status();
        assert!(
            status == StatusCode::OK || status == StatusCode::SERVICE_UNAVAILABLE,
            "answered {status} during recovery"
        );
        in_a_row = if status == StatusCode::OK {
            in_a_row + 1
        } else {
            0
        };
    }
    started.elapsed()
}

postgres_test!(a_restart_that_kills_every_pooled_connection_heals_within_five_seconds);
async fn a_restart_that_kills_every_pooled_connection_heals_within_five_seconds(admin_url: String) {
    let database = PostgresDatabase::create(&admin_url);
    let app = spawn(database.url.clone(), Backend::Postgres, &|_| {}).await;
    // Fill the pool, so that every pooled connection dies in the "restart".
    assert!(burst(&app, 16).await.iter().all(|s| *s == StatusCode::OK));

    let name = database_name(&database.url);
    assert!(terminate_backends(&admin_url, &name) >= 1);
    for status in burst(&app, 16).await {
        assert!(
            status == StatusCode::OK || status == StatusCode::SERVICE_UNAVAILABLE,
            "answered {status} right after the restart"
        );
    }
    wait_for_ten_200s(&app, Duration::from_secs(5)).await;
    let ready = app.client.get(app.url("/readyz")).send().await.unwrap();
    assert_eq!(ready.status(), StatusCode::OK);
}

postgres_test!(while_the_database_refuses_connections_every_route_answers_503_then_heals);
async fn while_the_database_refuses_connections_every_route_answers_503_then_heals(
    admin_url: String,
) {
    let database = PostgresDatabase::create(&admin_url);
    let app = spawn(database.url.clone(), Backend::Postgres, &|_| {}).await;
    let name = database_name(&database.url);
    allow_connections(&admin_url, &name, false);
    terminate_backends(&admin_url, &name);

    for path in ["/api/v1/centres", "/api/v1/me", "/api/v1/cases", "/readyz"] {
        let started = Instant::now();
        let response = app.get(path, &app.admin).await;
        assert!(started.elapsed() < Duration::from_millis(2600), "{path}");
        let body = assert_unavailable(response).await;
        if path != "/readyz" {
            let detail = body["detail"].as_str().unwrap();
            assert!(detail.contains("not reachable"), "{path}: {detail}");
        }
    }
    let login = app
        .client
        .post(app.url("/api/v1/auth/login"))
        .json(&serde_json::json!({"username": "admin", "password": "whatever it is"}))
        .send()
        .await
        .unwrap();
    assert_unavailable(login).await;
    let health = app.client.get(app.url("/healthz")).send().await.unwrap();
    assert_eq!(health.status(), StatusCode::OK);

    allow_connections(&admin_url, &name, true);
    wait_for_ten_200s(&app, Duration::from_secs(5)).await;
}

/// A configuration pointing at a PostgreSQL port where nothing listens.
fn nothing_listens(wait_secs: u64) -> ServeConfig {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("free port")
        .port();
    let url = DatabaseUrl::parse(&format!("postgres://karvon@127.0.0.1:{port}/karvon")).unwrap();
    let mut config = ServeConfig::for_tests(url);
    config.database.database_startup_wait_secs = wait_secs;
    config
}

#[tokio::test]
async fn a_server_started_without_its_database_is_alive_but_not_ready() {
    let config = nothing_listens(3600);
    // A token the server would accept: only the database can tell whether its session is live.
    let secret = config.jwt_secret.clone().expect("secret");
    let token = TokenKeys::new(&secret, Duration::from_secs(60))
        .issue(
            &Holder {
                user_id: "some-user",
                username: "some.supervisor",
                role: Role::Supervisor,
                centre: Some("some-centre"),
                must_change_password: false,
            },
            "some-session",
        )
        .expect("token");
    let app = Application::build(config).await.expect("build");
    let base = format!("http://127.0.0.1:{}", app.port());
    let handle = app.handle();
    tokio::spawn(app.run());
    let client = reqwest::Client::new();

    let health = client.get(format!("{base}/healthz")).send().await.unwrap();
    assert_eq!(health.status(), StatusCode::OK);
    let ready = client.get(format!("{base}/readyz")).send().await.unwrap();
    assert_unavailable(ready).await;
    for path in ["/api/v1/centres", "/api/v1/me", "/api/v1/migrants?q=ali"] {
        let response = client
            .get(format!("{base}{path}"))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap();
        assert_unavailable(response).await;
    }
    let login = client
        .post(format!("{base}/api/v1/auth/login"))
        .json(&serde_json::json!({"username": "admin", "password": "whatever it is"}))
        .send()
        .await
        .unwrap();
    assert_unavailable(login).await;
    handle.stop(false).await;
}

#[tokio::test]
async fn start_up_gives_up_after_the_configured_wait() {
    let app = Application::build(nothing_listens(1)).await.expect("build");
    let started = Instant::now();
    let outcome = tokio::time::timeout(Duration::from_secs(15), app.run())
        .await
        .expect("run returns once start-up gives up");
    let error = outcome.expect_err("start-up must fail without a database");
    assert!(error.to_string().contains("cannot connect"), "{error}");
    assert!(started.elapsed() >= Duration::from_secs(1));
}

postgres_test!(a_server_started_before_its_database_comes_up_when_the_database_does);
async fn a_server_started_before_its_database_comes_up_when_the_database_does(admin_url: String) {
    // The database does not exist yet: as in `docker-compose up`, where the API may win the race.
    let name = format!("karvon_test_{}", uuid::Uuid::now_v7().simple());
    let base_url = admin_url
        .rsplit_once('/')
        .map_or(admin_url.as_str(), |(b, _)| b);
    let url = DatabaseUrl::parse(&format!("{base_url}/{name}")).unwrap();
    let mut config = ServeConfig::for_tests(url);
    config.database.database_startup_wait_secs = 60;
    config.bootstrap_admin_password = Some(common::BOOTSTRAP_PASSWORD.to_owned());
    let app = Application::build(config).await.expect("build");
    let base = format!("http://127.0.0.1:{}", app.port());
    let handle = app.handle();
    tokio::spawn(app.run());
    let client = reqwest::Client::new();
    let ready = client.get(format!("{base}/readyz")).send().await.unwrap();
    assert_eq!(ready.status(), StatusCode::SERVICE_UNAVAILABLE);

    diesel::sql_query(format!("CREATE DATABASE {name}"))
        .execute(&mut admin_connection(&admin_url))
        .expect("create database");
    let started = Instant::now();
    loop {
        let ready = client.get(format!("{base}/readyz")).send().await.unwrap();
        if ready.status() == StatusCode::OK {
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(10), "never ready");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let login = client
        .post(format!("{base}/api/v1/auth/login"))
        .json(&serde_json::json!({"username": "admin", "password": common::BOOTSTRAP_PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(
        login.status(),
        StatusCode::OK,
        "the first admin was created"
    );
    handle.stop(false).await;
    diesel::sql_query(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        .execute(&mut admin_connection(&admin_url))
        .expect("drop database");
}

#[tokio::test]
async fn sqlite_answers_503_when_the_write_lock_is_held_past_the_busy_timeout() {
    let dir = tempfile::tempdir().expect("temp dir");
    let url = DatabaseUrl::parse(&format!("sqlite://{}/karvon.db", dir.path().display())).unwrap();
    let app = spawn(url, Backend::Sqlite, &|_| {}).await;
    let mut holder = app.db();
    holder
        .batch_execute("BEGIN IMMEDIATE")
        .expect("take the write lock");
    let response = app
        .post(
            "/api/v1/centres",
            &app.admin,
            serde_json::json!({"name": "Kulob", "city": "Kulob", "country": "TJ"}),
        )
        .await;
    holder.batch_execute("ROLLBACK").expect("release");
    assert_unavailable(response).await;
    let stored: i64 = karvon::db::schema::centres::table
        .count()
        .get_result(&mut app.db())
        .unwrap();
    assert_eq!(stored, 0, "nothing was written");
}

/// The binary over a fresh PostgreSQL database, its JSON log captured to a file.
struct LoggedServer {
    child: std::process::Child,
    base: String,
    log: std::path::PathBuf,
    _dir: tempfile::TempDir,
}

impl LoggedServer {
    fn start(url: &DatabaseUrl) -> Self {
        let DatabaseUrl::Postgres(url) = url else {
            panic!("PostgreSQL only");
        };
        let dir = tempfile::tempdir().expect("temp dir");
        let log = dir.path().join("server.log");
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("free port")
            .port();
        let child = std::process::Command::new(env!("CARGO_BIN_EXE_karvon"))
            .arg("serve")
            .env("DATABASE_URL", url)
            .env("BIND", format!("127.0.0.1:{port}"))
            .env(
                "KARVON_BOOTSTRAP_ADMIN_PASSWORD",
                common::BOOTSTRAP_PASSWORD,
            )
            .env("KARVON_PASSWORD_HASHING", "fast-insecure")
            .env("LOG_FORMAT", "json")
            .env("RUST_LOG", "info")
            .stdout(std::process::Stdio::null())
            .stderr(std::fs::File::create(&log).expect("log file"))
            .spawn()
            .expect("start karvon");
        Self {
            child,
            base: format!("http://127.0.0.1:{port}"),
            log,
            _dir: dir,
        }
    }

    /// Waits (up to 5 s) for a line with `text`: the server writes its log from a thread of its
    /// own, so a line logged while answering a request can reach the file after the answer.
    async fn wait_for_log_line(&self, text: &str) {
        let started = Instant::now();
        while self.log_lines_containing(text) == 0 && started.elapsed() < Duration::from_secs(5) {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    fn log_lines_containing(&self, text: &str) -> usize {
        std::fs::read_to_string(&self.log)
            .unwrap_or_default()
            .lines()
            .filter(|line| line.contains(text))
            .count()
    }
}

impl Drop for LoggedServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

postgres_test!(an_outage_is_logged_once_when_it_starts_and_once_when_it_ends);
async fn an_outage_is_logged_once_when_it_starts_and_once_when_it_ends(admin_url: String) {
    let database = PostgresDatabase::create(&admin_url);
    let server = LoggedServer::start(&database.url);
    let client = reqwest::Client::new();
    let mut token = None;
    for _ in 0..100 {
        let login = client
            .post(format!("{}/api/v1/auth/login", server.base))
            .json(&serde_json::json!({"username": "admin", "password": common::BOOTSTRAP_PASSWORD}))
            .send()
            .await;
        if let Ok(response) = login.and_then(reqwest::Response::error_for_status) {
            let body: serde_json::Value = response.json().await.unwrap();
            token = body["access_token"].as_str().map(str::to_owned);
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let token = token.expect("the server started and the admin logged in");
    let me = || {
        client
            .get(format!("{}/api/v1/me", server.base))
            .bearer_auth(&token)
            .send()
    };

    let name = database_name(&database.url);
    allow_connections(&admin_url, &name, false);
    terminate_backends(&admin_url, &name);
    for _ in 0..5 {
        assert_eq!(
            me().await.unwrap().status(),
            StatusCode::SERVICE_UNAVAILABLE
        );
    }
    allow_connections(&admin_url, &name, true);
    let started = Instant::now();
    while me().await.unwrap().status() != StatusCode::OK {
        assert!(started.elapsed() < Duration::from_secs(5), "did not heal");
    }
    // The log is written in order: once this line is there, the outage's lines are too.
    server
        .wait_for_log_line("the database is reachable again")
        .await;
    assert_eq!(
        server.log_lines_containing("the database is unreachable"),
        1
    );
    assert_eq!(
        server.log_lines_containing("the database is reachable again"),
        1
    );
    let errors = server.log_lines_containing(r#""level":"ERROR""#);
    assert_eq!(errors, 1, "one ERROR line for the whole outage");
}

postgres_test!(with_a_check_on_checkout_a_restart_costs_no_request);
async fn with_a_check_on_checkout_a_restart_costs_no_request(admin_url: String) {
    let database = PostgresDatabase::create(&admin_url);
    let check = |config: &mut ServeConfig| config.database.database_check_on_checkout = true;
    let app = spawn(database.url.clone(), Backend::Postgres, &check).await;
    assert!(burst(&app, 16).await.iter().all(|s| *s == StatusCode::OK));
    assert!(terminate_backends(&admin_url, &database_name(&database.url)) >= 1);
    let statuses = burst(&app, 16).await;
    assert!(
        statuses.iter().all(|s| *s == StatusCode::OK),
        "{statuses:?}"
    );
}

/// One pooled connection, given up on after a second.
fn one_connection(config: &mut ServeConfig) {
    config.database.database_pool_size = 1;
    config.database.database_checkout_timeout_secs = 1;
}

/// Takes the write lock on a connection of the test's own and starts a write (a new centre),
/// which waits for it.
fn write_waiting_for_the_lock(
    app: &TestApp,
) -> (
    karvon::db::DbConnection,
    tokio::task::JoinHandle<StatusCode>,
) {
    let mut holder = app.db();
    holder
        .batch_execute(match app.backend {
            Backend::Sqlite => "BEGIN IMMEDIATE",
            Backend::Postgres => "BEGIN; LOCK TABLE centres IN ACCESS EXCLUSIVE MODE",
        })
        .expect("hold the lock");
    let (client, url, token) = (
        app.client.clone(),
        app.url("/api/v1/centres"),
        app.admin.clone(),
    );
    let waiting = tokio::spawn(async move {
        client
            .post(url)
            .bearer_auth(token)
            .json(&serde_json::json!({"name": "Kulob", "city": "Kulob", "country": "TJ"}))
            .send()
            .await
            .unwrap()
            .status()
    });
    (holder, waiting)
}

postgres_test!(a_full_pool_answers_busy_not_unreachable);
async fn a_full_pool_answers_busy_not_unreachable(_admin_url: String) {
    common::run_on(Backend::Postgres, one_connection, full_pool_answers_busy).await;
}

/// On PostgreSQL a write that waits for a lock held elsewhere keeps the only connection.
async fn full_pool_answers_busy(app: TestApp) {
    let (mut holder, waiting) = write_waiting_for_the_lock(&app);
    tokio::time::sleep(Duration::from_millis(300)).await;

    let response = app.get("/api/v1/me", &app.admin).await;
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(response.headers()["retry-after"], "1");
    let body = problem(response).await;
    assert!(
        body["detail"].as_str().unwrap().contains("busy"),
        "a full pool is not an outage: {body}"
    );

    holder.batch_execute("ROLLBACK").expect("release");
    assert_eq!(waiting.await.unwrap(), StatusCode::CREATED);
    assert_eq!(
        app.get("/api/v1/me", &app.admin).await.status(),
        StatusCode::OK
    );
}

/// On SQLite writes wait for the lock on the writer's own connection, not on a pooled one: with
/// a pool of one, reads go on answering while a write waits.
#[tokio::test]
async fn sqlite_reads_answer_while_a_write_waits_for_the_lock() {
    common::run_on(
        Backend::Sqlite,
        one_connection,
        reads_answer_while_a_write_waits,
    )
    .await;
}

async fn reads_answer_while_a_write_waits(app: TestApp) {
    let (mut holder, waiting) = write_waiting_for_the_lock(&app);
    tokio::time::sleep(Duration::from_millis(300)).await;

    for _ in 0..3 {
        let response = app.get("/api/v1/me", &app.admin).await;
        assert_eq!(response.status(), StatusCode::OK);
    }
    assert!(!waiting.is_finished(), "the write still waits for the lock");

    holder.batch_execute("ROLLBACK").expect("release");
    assert_eq!(waiting.await.unwrap(), StatusCode::CREATED);
}

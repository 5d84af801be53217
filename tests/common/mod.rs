//! Test harness: every test body runs against the real HTTP server, as one test over a fresh
//! SQLite file and another over its own fresh PostgreSQL database (`KARVON_TEST_POSTGRES_URL`).
//! Tests speak HTTP to the server; the database handle is only for checking what was stored.
#![allow(dead_code)]

pub mod world;

use std::future::Future;
use std::io::Write;
use std::sync::OnceLock;

use diesel::prelude::*;
use karvon::config::ServeConfig;
use karvon::db::{DatabaseUrl, DbConnection};
use karvon::startup::Application;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

pub const BOOTSTRAP_PASSWORD: &str = "bootstrap-admin-pass-1";
pub const ADMIN_PASSWORD: &str = "chosen-secret-for-tests-7";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

pub struct TestApp {
    pub address: String,
    pub client: reqwest::Client,
    pub backend: Backend,
    pub database_url: DatabaseUrl,
    /// The server's configuration (replicas reuse it, secrets included).
    pub config: ServeConfig,
    /// An admin's access token (the bootstrap admin, password already changed).
    pub admin: String,
    /// `http://127.0.0.1:PORT` of the `/metrics` listener, when the test configured one.
    pub metrics_address: Option<String>,
    handle: actix_web::dev::ServerHandle,
    /// On PostgreSQL: (admin URL, database name), so a test can drop the database under the server.
    postgres: Option<(String, String)>,
}

/// A staff account created for a test, logged in, password already changed.
#[derive(Clone, Debug)]
pub struct Account {
    pub id: String,
    pub username: String,
    pub password: String,
    pub token: String,
    pub centre_id: Option<String>,
}

/// Turns `async fn $name(app: TestApp)` into two tests, `$name::sqlite` and `$name::postgres`,
/// each over a fresh database of its backend; the optional second argument adjusts the server
/// configuration. Without PostgreSQL configured at build time the postgres test is ignored,
/// never silently passed.
#[macro_export]
macro_rules! backend_test {
    ($name:ident) => {
        $crate::backend_test!($name, |_| {});
    };
    ($name:ident, $configure:expr) => {
        mod $name {
            // `$configure` names things of the test file.
            #[allow(unused_imports)]
            use super::*;

            #[tokio::test]
            async fn sqlite() {
                $crate::common::run_on($crate::common::Backend::Sqlite, $configure, super::$name)
                    .await;
            }

            #[tokio::test]
            #[cfg_attr(not(postgres_tests), ignore = "set KARVON_TEST_POSTGRES_URL")]
            async fn postgres() {
                $crate::common::run_on($crate::common::Backend::Postgres, $configure, super::$name)
                    .await;
                $crate::common::record_postgres_run(module_path!());
            }
        }
    };
}

/// Turns `async fn $name(admin_url: String)` (or a plain `fn`) into the test `$name::postgres`
/// for what only PostgreSQL can show; ignored like every postgres test without PostgreSQL.
#[macro_export]
macro_rules! postgres_test {
    ($name:ident) => {
        mod $name {
            #[tokio::test]
            #[cfg_attr(not(postgres_tests), ignore = "set KARVON_TEST_POSTGRES_URL")]
            async fn postgres() {
                super::$name($crate::common::postgres_admin_url()).await;
                $crate::common::record_postgres_run(module_path!());
            }
        }
    };
    (fn $name:ident) => {
        mod $name {
            #[test]
            #[cfg_attr(not(postgres_tests), ignore = "set KARVON_TEST_POSTGRES_URL")]
            fn postgres() {
                super::$name($crate::common::postgres_admin_url());
                $crate::common::record_postgres_run(module_path!());
            }
        }
    };
}

/// Runs `test` on a fresh app over a fresh database of `backend`.
pub async fn run_on<C, F, Fut>(backend: Backend, configure: C, test: F)
where
    C: Fn(&mut ServeConfig),
    F: FnOnce(TestApp) -> Fut,
    Fut: Future<Output = ()>,
{
    match backend {
        Backend::Sqlite => {
            let dir = tempfile::tempdir().expect("temp dir");
            let url = DatabaseUrl::parse(&format!("sqlite://{}/karvon.db", dir.path().display()))
                .expect("sqlite url");
            let app = spawn(url, Backend::Sqlite, &configure).await;
            let handle = app.handle.clone();
            test(app).await;
            handle.stop(false).await;
        }
        Backend::Postgres => {
            let database = PostgresDatabase::create(&postgres_admin_url());
            let mut app = spawn(database.url.clone(), Backend::Postgres, &configure).await;
            app.postgres = Some((database.admin_url.clone(), database.name.clone()));
            let handle = app.handle.clone();
            test(app).await;
            handle.stop(false).await;
        }
    }
}

/// `KARVON_TEST_POSTGRES_URL`; a postgres test that runs without it fails rather than passes.
pub fn postgres_admin_url() -> String {
    match std::env::var("KARVON_TEST_POSTGRES_URL") {
        Ok(url) if !url.is_empty() => url,
        _ => panic!("KARVON_TEST_POSTGRES_URL is unset: PostgreSQL tests cannot run"),
    }
}

/// Appends the test's path (`binary::test::postgres`) to `KARVON_TEST_PG_MARKER`, so CI can
/// check that every PostgreSQL test it lists really ran.
pub fn record_postgres_run(test_module: &str) {
    let Ok(path) = std::env::var("KARVON_TEST_PG_MARKER") else {
        return;
    };
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .expect("open KARVON_TEST_PG_MARKER");
    writeln!(file, "{test_module}::postgres").expect("write KARVON_TEST_PG_MARKER");
}

/// A PostgreSQL database created for one test and dropped afterwards (even when it fails).
pub struct PostgresDatabase {
    admin_url: String,
    name: String,
    pub url: DatabaseUrl,
}

impl PostgresDatabase {
    /// A fresh database cloned from the migrated template of this checkout's migrations.
    pub fn create(admin_url: &str) -> Self {
        let template = migrated_template(admin_url);
        Self::create_with(admin_url, &format!("TEMPLATE {template}"))
    }

    /// A fresh, empty database (nothing migrated), for tests of the migrations themselves.
    pub fn create_empty(admin_url: &str) -> Self {
        Self::create_with(admin_url, "")
    }

    /// An unmigrated database with `CREATE DATABASE` options, e.g. another default collation.
    pub fn create_with(admin_url: &str, options: &str) -> Self {
        let name = format!("karvon_test_{}", uuid::Uuid::now_v7().simple());
        let mut admin =
            PgConnection::establish(admin_url).expect("connect to KARVON_TEST_POSTGRES_URL");
        diesel::sql_query(format!("CREATE DATABASE {name} {options}"))
            .execute(&mut admin)
            .expect("create test database");
        Self {
            url: database_url(admin_url, &name),
            admin_url: admin_url.to_owned(),
            name,
        }
    }
}

fn database_url(admin_url: &str, name: &str) -> DatabaseUrl {
    let base = admin_url
        .rsplit_once('/')
        .map_or(admin_url, |(base, _)| base);
    DatabaseUrl::parse(&format!("{base}/{name}")).expect("postgres url")
}

/// The name of a database holding every PostgreSQL migration and nothing else, migrated once per
/// test binary. Its name carries a hash of the migrations, so checkouts with other migrations
/// sharing the server get their own; an advisory lock lets one binary build it while the
/// binaries running alongside wait.
fn migrated_template(admin_url: &str) -> &'static str {
    static TEMPLATE: OnceLock<String> = OnceLock::new();
    TEMPLATE.get_or_init(|| {
        // The migrations compiled into this binary (see build.rs), not the files on disk.
        let name = format!("karvon_template_{}", env!("KARVON_PG_MIGRATIONS_HASH"));
        let mut admin =
            PgConnection::establish(admin_url).expect("connect to KARVON_TEST_POSTGRES_URL");
        diesel::sql_query("SELECT pg_advisory_lock(hashtext('karvon test template'))")
            .execute(&mut admin)
            .expect("lock the template");
        if !database_exists(&mut admin, &name) {
            build_template(&mut admin, admin_url, &name);
        }
        diesel::sql_query("SELECT pg_advisory_unlock(hashtext('karvon test template'))")
            .execute(&mut admin)
            .expect("unlock the template");
        name
    })
}

/// Migrates under a temporary name and renames when done, so a run killed half-way never
/// leaves a half-migrated template behind.
fn build_template(admin: &mut PgConnection, admin_url: &str, name: &str) {
    let building = format!("{name}_building");
    for sql in [
        format!("DROP DATABASE IF EXISTS {building} WITH (FORCE)"),
        format!("CREATE DATABASE {building}"),
    ] {
        diesel::sql_query(sql).execute(admin).expect("template");
    }
    karvon::db::run_migrations(&mut establish(&database_url(admin_url, &building)))
        .expect("migrate the template");
    diesel::sql_query(format!("ALTER DATABASE {building} RENAME TO {name}"))
        .execute(admin)
        .expect("name the template");
}

fn database_exists(admin: &mut PgConnection, name: &str) -> bool {
    use diesel::dsl::sql;
    use diesel::sql_types::{Bool, Text};
    diesel::select(
        sql::<Bool>("EXISTS (SELECT 1 FROM pg_database WHERE datname = ")
            .bind::<Text, _>(name)
            .sql(")"),
    )
    .get_result(admin)
    .expect("look the template up")
}

impl Drop for PostgresDatabase {
    fn drop(&mut self) {
        if let Ok(mut admin) = PgConnection::establish(&self.admin_url) {
            let _ = diesel::sql_query(format!(
                "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                self.name
            ))
            .execute(&mut admin);
        }
    }
}

/// The real server over `url`, with its admin logged in (the password already changed).
pub async fn spawn(
    url: DatabaseUrl,
    backend: Backend,
    configure: &dyn Fn(&mut ServeConfig),
) -> TestApp {
    let mut config = ServeConfig::for_tests(url.clone());
    config.bootstrap_admin_password = Some(BOOTSTRAP_PASSWORD.to_owned());
    configure(&mut config);
    let app = Application::build(config.clone()).await.expect("build app");
    let address = format!("http://127.0.0.1:{}", app.port());
    let metrics_address = app
        .metrics_port()
        .map(|port| format!("http://127.0.0.1:{port}"));
    let handle = app.handle();
    tokio::spawn(app.run());
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");
    let mut test_app = TestApp {
        address,
        client,
        backend,
        database_url: url,
        config,
        admin: String::new(),
        metrics_address,
        handle,
        postgres: None,
    };
    let first = test_app.login("admin", BOOTSTRAP_PASSWORD).await;
    test_app
        .change_password(&first, BOOTSTRAP_PASSWORD, ADMIN_PASSWORD)
        .await;
    test_app.admin = test_app.login("admin", ADMIN_PASSWORD).await;
    test_app
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.address, path)
    }

    /// A direct database connection, for checking what was stored.
    pub fn db(&self) -> DbConnection {
        establish(&self.database_url)
    }

    pub async fn request(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> reqwest::Response {
        let mut request = self.client.request(method, self.url(path));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        request.send().await.expect("request")
    }

    pub async fn get(&self, path: &str, token: &str) -> reqwest::Response {
        self.request(Method::GET, path, Some(token), None).await
    }

    pub async fn post(&self, path: &str, token: &str, body: Value) -> reqwest::Response {
        self.request(Method::POST, path, Some(token), Some(body))
            .await
    }

    pub async fn patch(
        &self,
        path: &str,
        token: &str,
        etag: &str,
        body: Value,
    ) -> reqwest::Response {
        self.client
            .patch(self.url(path))
            .bearer_auth(token)
            .header("If-Match", etag)
            .json(&body)
            .send()
            .await
            .expect("request")
    }

    /// Logs in and returns the access token; panics unless the login succeeds.
    pub async fn login(&self, username: &str, password: &str) -> String {
        let body = self.login_response(username, password).await;
        body["access_token"]
            .as_str()
            .expect("access_token")
            .to_owned()
    }

    pub async fn login_response(&self, username: &str, password: &str) -> Value {
        let response = self
            .request(
                Method::POST,
                "/api/v1/auth/login",
                None,
                Some(json!({"username": username, "password": password})),
            )
            .await;
        assert_eq!(response.status(), StatusCode::OK, "login as {username}");
        response.json().await.expect("json")
    }

    pub async fn change_password(&self, token: &str, current: &str, new: &str) {
        let response = self
            .post(
                "/api/v1/me/password",
                token,
                json!({"current_password": current, "new_password": new}),
            )
            .await;
        assert_eq!(response.status(), StatusCode::NO_CONTENT, "change password");
    }

    pub async fn create_centre(&self, name: &str) -> String {
        let response = self
            .post(
                "/api/v1/centres",
                &self.admin,
                json!({"name": name, "city": name, "country": "TJ"}),
            )
            .await;
        assert_eq!(
            response.status(),
            StatusCode::CREATED,
            "create centre {name}"
        );
        let body: Value = response.json().await.expect("json");
        body["id"].as_str().expect("id").to_owned()
    }

    /// Creates a staff account, logs it in and changes its password, so it is ready to work.
    pub async fn create_staff(
        &self,
        username: &str,
        role: &str,
        centre_id: Option<&str>,
    ) -> Account {
        let initial = "initial-secret-pw-2026".to_owned();
        let response = self
            .post(
                "/api/v1/users",
                &self.admin,
                json!({
                    "username": username,
                    "full_name": format!("{username} Test"),
                    "role": role,
                    "centre_id": centre_id,
                    "password": initial,
                }),
            )
            .await;
        assert_eq!(
            response.status(),
            StatusCode::CREATED,
            "create user {username}"
        );
        let body: Value = response.json().await.expect("json");
        let id = body["id"].as_str().expect("id").to_owned();
        let first = self.login(username, &initial).await;
        let password = "working-secret-pw-2026".to_owned();
        self.change_password(&first, &initial, &password).await;
        let token = self.login(username, &password).await;
        Account {
            id,
            username: username.to_owned(),
            password,
            token,
            centre_id: centre_id.map(str::to_owned),
        }
    }

    /// PATCHes a user's account as the admin, against its current ETag.
    pub async fn patch_user(&self, user_id: &str, body: Value) -> reqwest::Response {
        let path = format!("/api/v1/users/{user_id}");
        let etag = self.etag(&path, &self.admin).await;
        self.patch(&path, &self.admin, &etag, body).await
    }

    /// GETs `path` and returns its `ETag` (panics unless 200).
    pub async fn etag(&self, path: &str, token: &str) -> String {
        let response = self.get(path, token).await;
        assert_eq!(response.status(), StatusCode::OK, "GET {path}");
        response.headers()["etag"]
            .to_str()
            .expect("etag")
            .to_owned()
    }

    /// Simulates the passage of time for login throttling: moves every throttle window
    /// `minutes` into the past.
    pub fn age_login_throttle(&self, minutes: i64) {
        use karvon::db::schema::login_throttle;
        let mut conn = self.db();
        let rows: Vec<(String, chrono::NaiveDateTime)> = login_throttle::table
            .select((
                login_throttle::throttle_key,
                login_throttle::window_started_at,
            ))
            .load(&mut conn)
            .expect("login throttle");
        for (key, at) in rows {
            diesel::update(login_throttle::table.find(key))
                .set(login_throttle::window_started_at.eq(at - chrono::Duration::minutes(minutes)))
                .execute(&mut conn)
                .expect("age login throttle");
        }
    }

    /// A second server over the same database and secrets, as a replica behind a load balancer;
    /// its `admin` token is its own login. Stopped when the test's runtime ends.
    pub async fn replica(&self) -> TestApp {
        let app = Application::build(self.config.clone())
            .await
            .expect("build replica");
        let address = format!("http://127.0.0.1:{}", app.port());
        let handle = app.handle();
        tokio::spawn(app.run());
        let mut replica = TestApp {
            address,
            client: self.client.clone(),
            backend: self.backend,
            database_url: self.database_url.clone(),
            config: self.config.clone(),
            admin: String::new(),
            metrics_address: None,
            handle,
            postgres: None,
        };
        replica.admin = replica.login("admin", ADMIN_PASSWORD).await;
        replica
    }

    /// Stops the server (a replica, before its test ends).
    pub async fn stop(&self) {
        self.handle.stop(false).await;
    }

    /// On PostgreSQL, drops the test database while the server runs (to test readiness).
    /// Returns false on SQLite, where there is nothing to drop.
    pub fn drop_database(&self) -> bool {
        let Some((admin_url, name)) = &self.postgres else {
            return false;
        };
        let mut admin = PgConnection::establish(admin_url).expect("connect as admin");
        diesel::sql_query(format!("DROP DATABASE {name} WITH (FORCE)"))
            .execute(&mut admin)
            .expect("drop test database");
        true
    }

    /// Row counts and version sums of every table of records a request could write (the audit
    /// trail aside: reads are audited).
    pub fn snapshot(&self) -> Vec<i64> {
        use diesel::dsl::sum;
        use karvon::db::schema::*;
        let c = &mut self.db();
        let count = |n: QueryResult<i64>| n.expect("count");
        let total = |n: QueryResult<Option<i64>>| n.expect("sum").unwrap_or(0);
        vec![
            count(cases::table.count().get_result(c)),
            total(cases::table.select(sum(cases::version)).first(c)),
            count(case_events::table.count().get_result(c)),
            count(referrals::table.count().get_result(c)),
            total(referrals::table.select(sum(referrals::version)).first(c)),
            count(referral_transitions::table.count().get_result(c)),
            count(follow_ups::table.count().get_result(c)),
            total(follow_ups::table.select(sum(follow_ups::version)).first(c)),
            count(consultations::table.count().get_result(c)),
            total(
                consultations::table
                    .select(sum(consultations::version))
                    .first(c),
            ),
            count(migrants::table.count().get_result(c)),
            total(migrants::table.select(sum(migrants::version)).first(c)),
            count(service_providers::table.count().get_result(c)),
            total(
                service_providers::table
                    .select(sum(service_providers::version))
                    .first(c),
            ),
            count(users::table.count().get_result(c)),
            total(users::table.select(sum(users::version)).first(c)),
            count(idempotency_keys::table.count().get_result(c)),
        ]
    }

    /// [`Self::snapshot`] and the size of the audit trail: equal before and after a refused
    /// request when it stored nothing, not even an audit event.
    pub fn snapshot_with_audit(&self) -> Vec<i64> {
        use karvon::db::schema::{audit_event_subjects, audit_events};
        let c = &mut self.db();
        let mut snapshot = self.snapshot();
        snapshot.push(audit_events::table.count().get_result(c).expect("count"));
        snapshot.push(
            audit_event_subjects::table
                .count()
                .get_result(c)
                .expect("count"),
        );
        snapshot
    }

    /// Audit actions recorded for an entity, oldest first.
    pub fn audit_actions(&self, entity_id: &str) -> Vec<String> {
        use karvon::db::schema::audit_events;
        let mut conn = self.db();
        audit_events::table
            .filter(audit_events::entity_id.eq(entity_id))
            .order(audit_events::id.asc())
            .select(audit_events::action)
            .load(&mut conn)
            .expect("audit events")
    }
}

pub fn establish(url: &DatabaseUrl) -> DbConnection {
    use diesel::connection::SimpleConnection;
    match url {
        DatabaseUrl::Sqlite(path) => {
            let mut conn = SqliteConnection::establish(path).expect("sqlite");
            conn.batch_execute("PRAGMA busy_timeout = 5000; PRAGMA foreign_keys = ON;")
                .expect("pragmas");
            DbConnection::Sqlite(conn)
        }
        DatabaseUrl::Postgres(url) => {
            DbConnection::Postgresql(PgConnection::establish(url).expect("postgres"))
        }
    }
}

/// Reads a problem+json body, checking the content type.
pub async fn problem(response: reqwest::Response) -> Value {
    let content_type = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    assert_eq!(
        content_type, "application/problem+json",
        "problem content type"
    );
    response.json().await.expect("problem json")
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

/// The `field` of each entry of a problem's `errors`, in order.
pub fn error_fields(problem: &Value) -> Vec<String> {
    problem["errors"]
        .as_array()
        .unwrap_or_else(|| panic!("no errors in {problem}"))
        .iter()
        .map(|e| e["field"].as_str().expect("field").to_owned())
        .collect()
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

/// The id of a JSON object.
pub fn id(value: &Value) -> String {
    value["id"].as_str().expect("id").to_owned()
}

/// The timestamp `body[field]` as the server stored it: filters compare with the stored value,
/// never with the test's own clock.
pub fn time_of(body: &Value, field: &str) -> chrono::DateTime<chrono::Utc> {
    let text = body[field]
        .as_str()
        .unwrap_or_else(|| panic!("{field} in {body}"));
    chrono::DateTime::parse_from_rfc3339(text)
        .expect("RFC 3339 timestamp")
        .with_timezone(&chrono::Utc)
}

/// A time as a query value: RFC 3339 UTC at microseconds (`Z`, since a `+` reads as a space).
pub fn query_time(at: chrono::DateTime<chrono::Utc>) -> String {
    at.to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
}

/// Runs `step` with today's UTC date, for a step whose requests the server judges by its own
/// today. If the step fails and the date turned while it ran (midnight), the failure says nothing
/// about the server: the step runs again on the new day. Steps must be safe to repeat.
pub async fn on_one_day<F, Fut>(step: F)
where
    F: Fn(chrono::NaiveDate) -> Fut,
    Fut: Future<Output = ()>,
{
    use futures_util::FutureExt;
    loop {
        let day = chrono::Utc::now().date_naive();
        match std::panic::AssertUnwindSafe(step(day)).catch_unwind().await {
            Ok(()) => return,
            Err(panic) if chrono::Utc::now().date_naive() == day => {
                std::panic::resume_unwind(panic)
            }
            Err(_) => continue,
        }
    }
}

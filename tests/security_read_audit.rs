//! Every response that shows a person's data leaves an audit trace naming that person: single
//! reads, list pages, duplicate searches and timelines alike, with the endpoint that showed them,
//! visible in the person's access log. Subjects are append-only; a failed audit write fails the
//! request; a counsellor gaining a full record through a consultation is audited.

mod common;

use chrono::{Duration, Utc};
use common::world::{anonymous, for_migrant, log, migrant_body, on_case, open_case, register};
use common::world::{attend, create_provider, create_session, refer, schedule, session_body};
use common::{expect, id, problem, Account, Backend, TestApp};
use diesel::backend::Backend as DieselBackend;
use diesel::connection::SimpleConnection;
use diesel::migration::{MigrationConnection, MigrationSource};
use diesel::prelude::*;
use diesel::sql_types::{Nullable, Text};
use diesel_migrations::{EmbeddedMigrations, MigrationHarness};
use karvon::db::schema::{audit_event_subjects, audit_events};
use karvon::db::{DatabaseUrl, DbConnection, POSTGRES_MIGRATIONS, SQLITE_MIGRATIONS};
use reqwest::StatusCode;
use serde_json::{json, Value};

/// One centre with three people:
/// - `gulru`, registered by `counsellor`, with a case (consultation, referral, follow-up);
/// - `zarina`, with a case of `colleague` (consultation, referral, follow-up);
/// - `nodira`, registered by the supervisor, with nothing else;
///
/// plus an anonymous consultation logged by `counsellor`.
struct Scene {
    counsellor: Account,
    colleague: Account,
    supervisor: Account,
    gulru: String,
    zarina: String,
    nodira: String,
    gulru_case: String,
    gulru_consultation: String,
    gulru_referral: String,
    gulru_follow_up: String,
    /// A group session Gulru and Zarina attended.
    session: String,
}

impl Scene {
    async fn build(app: &TestApp) -> Scene {
        let centre = app.create_centre("Dushanbe").await;
        let counsellor = app
            .create_staff("counsellor", "counsellor", Some(&centre))
            .await;
        let colleague = app
            .create_staff("colleague", "counsellor", Some(&centre))
            .await;
        let supervisor = app
            .create_staff("supervisor", "supervisor", Some(&centre))
            .await;
        let provider = create_provider(
            app,
            &supervisor.token,
            json!({"name": "Dushanbe Legal Aid", "kind": "legal_aid", "accepts_referrals": true}),
        )
        .await;
        let gulru =
            id(&register(app, &counsellor.token, migrant_body("Gulru", "Jabborzoda")).await);
        let zarina =
            id(&register(app, &supervisor.token, migrant_body("Zarina", "Karimova")).await);
        let nodira = id(&register(app, &supervisor.token, migrant_body("Nodira", "Saidova")).await);
        let gulru_case = id(&open_case(app, &counsellor.token, &gulru, "normal", None).await);
        let zarina_case = id(&open_case(
            app,
            &supervisor.token,
            &zarina,
            "normal",
            Some(&colleague.id),
        )
        .await);
        let gulru_consultation = id(&log(app, &counsellor.token, on_case(&gulru_case)).await);
        log(app, &colleague.token, on_case(&zarina_case)).await;
        log(app, &counsellor.token, anonymous()).await;
        let gulru_referral = id(&refer(app, &counsellor.token, &gulru_case, &provider, None).await);
        refer(app, &colleague.token, &zarina_case, &provider, None).await;
        let due = Utc::now() + Duration::days(3);
        let gulru_follow_up = id(&schedule(app, &counsellor.token, &gulru_case, due, None).await);
        schedule(app, &colleague.token, &zarina_case, due, None).await;
        let session = id(&create_session(app, &counsellor.token, session_body()).await);
        attend(app, &counsellor.token, &session, &[&gulru, &zarina]).await;
        Scene {
            counsellor,
            colleague,
            supervisor,
            gulru,
            zarina,
            nodira,
            gulru_case,
            gulru_consultation,
            gulru_referral,
            gulru_follow_up,
            session,
        }
    }

    fn people(&self) -> [&String; 3] {
        [&self.gulru, &self.zarina, &self.nodira]
    }
}

/// A person's access log as their supervisor reads it (newest first).
async fn access_log(app: &TestApp, supervisor: &Account, migrant: &str) -> Vec<Value> {
    let body = expect(
        app.get(
            &format!("/api/v1/migrants/{migrant}/access-log?limit=200"),
            &supervisor.token,
        )
        .await,
        StatusCode::OK,
        "access log",
    )
    .await;
    body["items"].as_array().expect("items").clone()
}

/// GETs `path` (200 expected) and returns its request id and body.
async fn read(app: &TestApp, who: &Account, path: &str) -> (String, Value) {
    let response = app.get(path, &who.token).await;
    let request_id = response.headers()["x-request-id"]
        .to_str()
        .expect("request id")
        .to_owned();
    (request_id, expect(response, StatusCode::OK, path).await)
}

fn sorted(ids: &[&String]) -> Vec<String> {
    let mut ids: Vec<String> = ids.iter().map(|s| s.to_string()).collect();
    ids.sort();
    ids
}

fn audit_rows(app: &TestApp) -> (i64, i64) {
    let mut conn = app.db();
    let events = audit_events::table
        .count()
        .get_result(&mut conn)
        .expect("events");
    let subjects = audit_event_subjects::table
        .count()
        .get_result(&mut conn)
        .expect("subjects");
    (events, subjects)
}

/// A read: who reads, the path, the endpoint and the action its audit event records, and the
/// people it shows.
type Read<'a> = (
    &'a Account,
    String,
    &'static str,
    &'static str,
    Vec<&'a String>,
);

/// Every kind of read that shows a person: lists, searches, single records, timelines.
fn reads_of(s: &Scene) -> Vec<Read<'_>> {
    let (counsellor, colleague, supervisor) = (&s.counsellor, &s.colleague, &s.supervisor);
    let (gulru, zarina, nodira) = (&s.gulru, &s.zarina, &s.nodira);
    vec![
        (
            supervisor,
            "/api/v1/migrants?limit=200".into(),
            "GET /api/v1/migrants",
            "migrant.list",
            vec![gulru, zarina, nodira],
        ),
        (
            counsellor,
            "/api/v1/migrants?q=gulru".into(),
            "GET /api/v1/migrants",
            "migrant.list",
            vec![gulru],
        ),
        (
            counsellor,
            "/api/v1/migrants/duplicates?given_name=Gulru&family_name=Jabborzoda&birth_year=1994"
                .into(),
            "GET /api/v1/migrants/duplicates",
            "migrant.duplicates",
            vec![gulru],
        ),
        (
            counsellor,
            format!("/api/v1/migrants/{gulru}"),
            "GET /api/v1/migrants/{id}",
            "migrant.read",
            vec![gulru],
        ),
        (
            supervisor,
            "/api/v1/cases?limit=200".into(),
            "GET /api/v1/cases",
            "case.list",
            vec![gulru, zarina],
        ),
        (
            counsellor,
            "/api/v1/cases".into(),
            "GET /api/v1/cases",
            "case.list",
            vec![gulru],
        ),
        (
            counsellor,
            format!("/api/v1/cases/{}", s.gulru_case),
            "GET /api/v1/cases/{id}",
            "case.read",
            vec![gulru],
        ),
        (
            counsellor,
            format!("/api/v1/cases/{}/timeline", s.gulru_case),
            "GET /api/v1/cases/{id}/timeline",
            "case.read_timeline",
            vec![gulru],
        ),
        (
            supervisor,
            "/api/v1/consultations?limit=200".into(),
            "GET /api/v1/consultations",
            "consultation.list",
            vec![gulru, zarina],
        ),
        (
            colleague,
            "/api/v1/consultations".into(),
            "GET /api/v1/consultations",
            "consultation.list",
            vec![zarina],
        ),
        (
            counsellor,
            format!("/api/v1/consultations/{}", s.gulru_consultation),
            "GET /api/v1/consultations/{id}",
            "consultation.read",
            vec![gulru],
        ),
        (
            supervisor,
            "/api/v1/referrals?limit=200".into(),
            "GET /api/v1/referrals",
            "referral.list",
            vec![gulru, zarina],
        ),
        (
            counsellor,
            format!("/api/v1/referrals/{}", s.gulru_referral),
            "GET /api/v1/referrals/{id}",
            "referral.read",
            vec![gulru],
        ),
        (
            supervisor,
            "/api/v1/follow-ups?limit=200".into(),
            "GET /api/v1/follow-ups",
            "follow_up.list",
            vec![gulru, zarina],
        ),
        (
            colleague,
            "/api/v1/follow-ups?assigned_to=me&status=scheduled".into(),
            "GET /api/v1/follow-ups",
            "follow_up.list",
            vec![zarina],
        ),
        (
            counsellor,
            format!("/api/v1/follow-ups/{}", s.gulru_follow_up),
            "GET /api/v1/follow-ups/{id}",
            "follow_up.read",
            vec![gulru],
        ),
        (
            colleague,
            format!("/api/v1/group-sessions/{}/attendees", s.session),
            "GET /api/v1/group-sessions/{id}/attendees",
            "group_session.read_attendees",
            vec![gulru, zarina],
        ),
    ]
}

backend_test!(every_read_that_shows_a_person_names_each_person_shown_in_their_access_log);
async fn every_read_that_shows_a_person_names_each_person_shown_in_their_access_log(app: TestApp) {
    let s = Scene::build(&app).await;
    for (who, path, endpoint, action, shown) in reads_of(&s) {
        let (request_id, _) = read(&app, who, &path).await;
        for person in s.people() {
            let log = access_log(&app, &s.supervisor, person).await;
            let events: Vec<&Value> = log
                .iter()
                .filter(|e| e["request_id"] == request_id.as_str())
                .collect();
            if !shown.contains(&person) {
                assert!(
                    events.is_empty(),
                    "{path}: {person} was not shown: {events:?}"
                );
                continue;
            }
            assert_eq!(
                events.len(),
                1,
                "{path}: one event in {person}'s log: {log:?}"
            );
            let event = events[0];
            assert_eq!(event["endpoint"], endpoint, "{path}");
            assert_eq!(event["action"], action, "{path}");
            assert_eq!(event["actor_id"], who.id.as_str(), "{path}");
            assert_eq!(event["subject_ids"], json!(sorted(&shown)), "{path}");
        }
    }
}

backend_test!(a_page_of_200_people_is_one_event_naming_all_200);
async fn a_page_of_200_people_is_one_event_naming_all_200(app: TestApp) {
    let centre = app.create_centre("Dushanbe").await;
    let supervisor = app
        .create_staff("supervisor", "supervisor", Some(&centre))
        .await;
    for n in 0..200u8 {
        // Letters only: "Gulruaa", "Gulruab", ...
        let suffix: String = [b'a' + n / 26, b'a' + n % 26]
            .map(char::from)
            .iter()
            .collect();
        let body = migrant_body(&format!("Gulru{suffix}"), "Jabborzoda");
        register(&app, &supervisor.token, body).await;
    }
    let before = audit_rows(&app);
    let (request_id, page) = read(&app, &supervisor, "/api/v1/migrants?limit=200").await;
    assert_eq!(page["items"].as_array().unwrap().len(), 200);
    assert_eq!(audit_rows(&app), (before.0 + 1, before.1 + 200));
    let mut conn = app.db();
    let (event, action, endpoint): (String, String, Option<String>) = audit_events::table
        .filter(audit_events::request_id.eq(&request_id))
        .select((
            audit_events::id,
            audit_events::action,
            audit_events::endpoint,
        ))
        .first(&mut conn)
        .expect("the list event");
    assert_eq!(action, "migrant.list");
    assert_eq!(endpoint.as_deref(), Some("GET /api/v1/migrants"));
    let mut named: Vec<String> = audit_event_subjects::table
        .filter(audit_event_subjects::event_id.eq(&event))
        .select(audit_event_subjects::migrant_id)
        .load(&mut conn)
        .expect("subjects");
    named.sort();
    let mut shown: Vec<String> = page["items"].as_array().unwrap().iter().map(id).collect();
    shown.sort();
    assert_eq!(named, shown);
}

backend_test!(an_empty_page_records_nothing_and_anonymous_consultations_name_nobody);
async fn an_empty_page_records_nothing_and_anonymous_consultations_name_nobody(app: TestApp) {
    let centre = app.create_centre("Dushanbe").await;
    let counsellor = app
        .create_staff("counsellor", "counsellor", Some(&centre))
        .await;
    let before = audit_rows(&app);
    for path in [
        "/api/v1/migrants?q=nobody",
        "/api/v1/cases",
        "/api/v1/consultations",
        "/api/v1/referrals",
        "/api/v1/follow-ups",
        "/api/v1/migrants/duplicates?given_name=Gulru&family_name=Jabborzoda",
    ] {
        read(&app, &counsellor, path).await;
    }
    assert_eq!(audit_rows(&app), before, "empty pages show nobody");

    log(&app, &counsellor.token, anonymous()).await;
    let before = audit_rows(&app);
    let (request_id, page) = read(&app, &counsellor, "/api/v1/consultations").await;
    assert_eq!(page["items"].as_array().unwrap().len(), 1);
    assert_eq!(
        audit_rows(&app),
        (before.0 + 1, before.1),
        "one event, no subject"
    );
    let action: String = audit_events::table
        .filter(audit_events::request_id.eq(&request_id))
        .select(audit_events::action)
        .first(&mut app.db())
        .expect("event");
    assert_eq!(action, "consultation.list");
}

backend_test!(a_patch_that_changes_nothing_still_names_the_person_it_shows);
async fn a_patch_that_changes_nothing_still_names_the_person_it_shows(app: TestApp) {
    let s = Scene::build(&app).await;
    let path = format!("/api/v1/migrants/{}", s.gulru);
    let etag = app.etag(&path, &s.counsellor.token).await;
    let response = app
        .patch(&path, &s.counsellor.token, &etag, json!({}))
        .await;
    let request_id = response.headers()["x-request-id"]
        .to_str()
        .unwrap()
        .to_owned();
    let body = expect(response, StatusCode::OK, "empty patch").await;
    assert_eq!(body["version"], 1, "nothing changed");
    let log = access_log(&app, &s.supervisor, &s.gulru).await;
    let event = log
        .iter()
        .find(|e| e["request_id"] == request_id.as_str())
        .expect("the PATCH is in the access log");
    assert_eq!(event["action"], "migrant.update");
    assert_eq!(event["endpoint"], "PATCH /api/v1/migrants/{id}");
    assert_eq!(event["changed_fields"], json!([]));
}

backend_test!(reading_the_access_log_is_audited_without_growing_the_log);
async fn reading_the_access_log_is_audited_without_growing_the_log(app: TestApp) {
    let s = Scene::build(&app).await;
    let first = access_log(&app, &s.supervisor, &s.gulru).await;
    let second = access_log(&app, &s.supervisor, &s.gulru).await;
    assert_eq!(first.len(), second.len());
    let reads: Vec<(Option<String>, Option<String>)> = audit_events::table
        .filter(audit_events::action.eq("migrant.read_access_log"))
        .select((audit_events::entity_id, audit_events::actor_id))
        .load(&mut app.db())
        .expect("events");
    let expected = (Some(s.gulru.clone()), Some(s.supervisor.id.clone()));
    assert_eq!(reads, [expected.clone(), expected]);
}

async fn access_granted(app: &TestApp, supervisor: &Account) -> Vec<Value> {
    let body = expect(
        app.get(
            "/api/v1/audit-events?action=migrant.access_granted",
            &supervisor.token,
        )
        .await,
        StatusCode::OK,
        "audit events",
    )
    .await;
    body["items"].as_array().unwrap().clone()
}

backend_test!(a_counsellor_gaining_a_full_record_through_a_consultation_is_audited_once);
async fn a_counsellor_gaining_a_full_record_through_a_consultation_is_audited_once(app: TestApp) {
    let s = Scene::build(&app).await;
    assert_eq!(
        access_granted(&app, &s.supervisor).await,
        Vec::<Value>::new()
    );
    let path = format!("/api/v1/migrants/{}", s.gulru);
    assert_eq!(
        app.get(&path, &s.colleague.token).await.status(),
        StatusCode::FORBIDDEN
    );

    log(&app, &s.colleague.token, for_migrant(&s.gulru)).await;
    let granted = access_granted(&app, &s.supervisor).await;
    assert_eq!(granted.len(), 1, "{granted:?}");
    let event = &granted[0];
    assert_eq!(event["action"], "migrant.access_granted");
    assert_eq!(event["actor_id"], s.colleague.id.as_str());
    assert_eq!(event["entity_type"], "migrant");
    assert_eq!(event["entity_id"], s.gulru.as_str());
    assert_eq!(event["subject_ids"], json!([s.gulru]));
    assert_eq!(event["endpoint"], "POST /api/v1/consultations");
    assert!(access_log(&app, &s.supervisor, &s.gulru)
        .await
        .iter()
        .any(|e| e["id"] == event["id"]));
    assert_eq!(
        app.get(&path, &s.colleague.token).await.status(),
        StatusCode::OK
    );

    // The second consultation grants nothing new; people already in a caseload, and
    // supervisors (who read the whole centre), grant nothing either.
    log(&app, &s.colleague.token, for_migrant(&s.gulru)).await;
    log(&app, &s.counsellor.token, for_migrant(&s.gulru)).await;
    log(&app, &s.supervisor.token, for_migrant(&s.nodira)).await;
    assert_eq!(access_granted(&app, &s.supervisor).await.len(), 1);

    // Opening a case of one's own grants the record too.
    open_case(&app, &s.counsellor.token, &s.nodira, "normal", None).await;
    let granted = access_granted(&app, &s.supervisor).await;
    assert_eq!(granted.len(), 2);
    assert_eq!(granted[0]["actor_id"], s.counsellor.id.as_str());
    assert_eq!(granted[0]["subject_ids"], json!([s.nodira]));
    assert_eq!(granted[0]["endpoint"], "POST /api/v1/cases");
}

backend_test!(the_audit_trail_filters_by_action_and_shows_endpoints_and_subjects);
async fn the_audit_trail_filters_by_action_and_shows_endpoints_and_subjects(app: TestApp) {
    let s = Scene::build(&app).await;
    read(&app, &s.supervisor, "/api/v1/cases").await;
    let body = expect(
        app.get("/api/v1/audit-events?action=case.list", &s.supervisor.token)
            .await,
        StatusCode::OK,
        "audit events",
    )
    .await;
    let items = body["items"].as_array().unwrap();
    assert_eq!(items.len(), 1, "{items:?}");
    assert_eq!(items[0]["action"], "case.list");
    assert_eq!(items[0]["endpoint"], "GET /api/v1/cases");
    assert_eq!(
        items[0]["subject_ids"],
        json!(sorted(&[&s.gulru, &s.zarina]))
    );
    let all = expect(
        app.get("/api/v1/audit-events?limit=200", &s.supervisor.token)
            .await,
        StatusCode::OK,
        "audit events",
    )
    .await;
    assert!(all["items"].as_array().unwrap().len() > 1);
}

backend_test!(audit_subject_rows_cannot_be_updated_or_deleted);
async fn audit_subject_rows_cannot_be_updated_or_deleted(app: TestApp) {
    let s = Scene::build(&app).await;
    let before = audit_rows(&app);
    assert!(before.1 > 0);
    let mut conn = app.db();
    for statement in [
        format!(
            "UPDATE audit_event_subjects SET migrant_id = 'x' WHERE migrant_id = '{}'",
            s.gulru
        ),
        "DELETE FROM audit_event_subjects".to_owned(),
    ] {
        let error = diesel::sql_query(&statement)
            .execute(&mut conn)
            .expect_err(&statement);
        assert!(
            error
                .to_string()
                .contains("audit_event_subjects is append-only"),
            "{statement}: {error}"
        );
    }
    if app.backend == Backend::Postgres {
        let error = diesel::sql_query("TRUNCATE audit_event_subjects")
            .execute(&mut conn)
            .expect_err("truncate");
        assert!(error
            .to_string()
            .contains("audit_event_subjects is append-only"));
    }
    assert_eq!(audit_rows(&app), before);
}

backend_test!(a_read_whose_audit_cannot_be_written_is_not_answered);
async fn a_read_whose_audit_cannot_be_written_is_not_answered(app: TestApp) {
    let s = Scene::build(&app).await;
    let refuse = match app.backend {
        Backend::Sqlite => {
            "CREATE TRIGGER refuse_subjects BEFORE INSERT ON audit_event_subjects \
             BEGIN SELECT RAISE(ABORT, 'audit storage unavailable'); END;"
        }
        Backend::Postgres => {
            "CREATE FUNCTION refuse_subjects() RETURNS trigger AS $$ \
             BEGIN RAISE EXCEPTION 'audit storage unavailable'; END; $$ LANGUAGE plpgsql; \
             CREATE TRIGGER refuse_subjects BEFORE INSERT ON audit_event_subjects \
             FOR EACH ROW EXECUTE FUNCTION refuse_subjects();"
        }
    };
    app.db().batch_execute(refuse).expect("install trigger");
    let before = audit_rows(&app);
    for path in [
        "/api/v1/cases".to_owned(),
        "/api/v1/migrants".to_owned(),
        format!("/api/v1/migrants/{}", s.gulru),
    ] {
        let response = app.get(&path, &s.supervisor.token).await;
        assert_eq!(
            response.status(),
            StatusCode::INTERNAL_SERVER_ERROR,
            "{path}"
        );
        let body = problem(response).await.to_string();
        assert!(
            !body.contains("Jabborzoda") && !body.contains(&s.gulru),
            "{path}: {body}"
        );
    }
    assert_eq!(
        audit_rows(&app),
        before,
        "the event rolled back with its subjects"
    );
}

enum Step {
    /// Every migration before the audit-subjects one.
    Before,
    Up,
    Down,
}

fn step_on<DB, C>(conn: &mut C, source: EmbeddedMigrations, step: Step)
where
    DB: DieselBackend,
    C: MigrationHarness<DB> + MigrationConnection,
    EmbeddedMigrations: MigrationSource<DB>,
{
    let mut all = MigrationSource::<DB>::migrations(&source).expect("migrations");
    all.sort_by_key(|m| m.name().to_string());
    let at = all
        .iter()
        .position(|m| m.name().to_string().ends_with("_audit_subjects"))
        .expect("the audit-subjects migration");
    let mine = all.remove(at);
    match step {
        Step::Before => {
            conn.setup().expect("migrations table");
            for migration in &all[..at] {
                conn.run_migration(&**migration).expect("earlier migration");
            }
        }
        Step::Up => {
            conn.run_migration(&*mine).expect("up");
        }
        Step::Down => {
            conn.revert_migration(&*mine).expect("down");
        }
    }
}

fn step(conn: &mut DbConnection, step: Step) {
    match conn {
        DbConnection::Sqlite(c) => step_on(c, SQLITE_MIGRATIONS, step),
        DbConnection::Postgresql(c) => step_on(c, POSTGRES_MIGRATIONS, step),
    }
}

#[derive(QueryableByName, Debug, PartialEq)]
struct LegacyRow {
    #[diesel(sql_type = Text)]
    id: String,
    #[diesel(sql_type = Nullable<Text>)]
    subject_id: Option<String>,
}

/// Events recorded before subjects had their own table keep them; undoing the migration gives
/// back the single subject of events that had one.
fn check_the_subject_migration(url: &DatabaseUrl) {
    let mut conn = common::establish(url);
    step(&mut conn, Step::Before);
    conn.batch_execute(
        "INSERT INTO audit_events (id, at, action, entity_type, changed_fields, subject_id) VALUES \
         ('e1', '2026-11-28 10:00:00', 'migrant.read', 'migrant', '[]', 'm1'), \
         ('e2', '2026-11-28 10:01:00', 'centre.create', 'centre', '[]', NULL), \
         ('e3', '2026-11-28 10:02:00', 'case.read', 'case', '[]', 'm2');",
    )
    .expect("legacy events");
    step(&mut conn, Step::Up);
    let subjects: Vec<(String, String)> = audit_event_subjects::table
        .order(audit_event_subjects::event_id)
        .select((
            audit_event_subjects::event_id,
            audit_event_subjects::migrant_id,
        ))
        .load(&mut conn)
        .expect("subjects");
    let pairs = |rows: &[(&str, &str)]| -> Vec<(String, String)> {
        rows.iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect()
    };
    assert_eq!(subjects, pairs(&[("e1", "m1"), ("e3", "m2")]));
    let endpoints: Vec<Option<String>> = audit_events::table
        .select(audit_events::endpoint)
        .load(&mut conn)
        .expect("endpoints");
    assert_eq!(endpoints, [None, None, None]);

    step(&mut conn, Step::Down);
    let legacy: Vec<LegacyRow> =
        diesel::sql_query("SELECT id, subject_id FROM audit_events ORDER BY id")
            .load(&mut conn)
            .expect("legacy rows");
    let expected =
        [("e1", Some("m1")), ("e2", None), ("e3", Some("m2"))].map(|(id, subject)| LegacyRow {
            id: id.to_owned(),
            subject_id: subject.map(str::to_owned),
        });
    assert_eq!(legacy, expected);
}

#[test]
fn existing_subjects_move_to_the_subjects_table_and_back_on_sqlite() {
    let dir = tempfile::tempdir().expect("temp dir");
    let sqlite = DatabaseUrl::parse(&format!("sqlite://{}/karvon.db", dir.path().display()))
        .expect("sqlite url");
    check_the_subject_migration(&sqlite);
}

postgres_test!(fn existing_subjects_move_to_the_subjects_table_and_back);
fn existing_subjects_move_to_the_subjects_table_and_back(admin_url: String) {
    let database = common::PostgresDatabase::create_empty(&admin_url);
    check_the_subject_migration(&database.url);
}

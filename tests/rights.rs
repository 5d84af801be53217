//! The data subject's rights: the export of everything held about a person, their
//! anonymisation, and the retention job. The completeness and erasure checks read the live
//! schema, so a table added later is covered without editing a list of columns.

mod common;

use std::collections::{BTreeMap, BTreeSet};

use chrono::{Duration, Utc};
use common::world::*;
use common::{expect, id, problem, Account, TestApp};
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Text};
use karvon::db::schema::{audit_events, consultations, idempotency_keys, migrants};
use karvon::db::{DatabaseUrl, DbConnection};
use karvon::rights::retention::{self, InactiveFor};
use reqwest::StatusCode;
use serde_json::{json, Value};

#[derive(QueryableByName)]
struct TableColumn {
    #[diesel(sql_type = Text)]
    table_name: String,
    #[diesel(sql_type = Text)]
    column_name: String,
}

#[derive(QueryableByName)]
struct Reference {
    #[diesel(sql_type = Text)]
    table_name: String,
    #[diesel(sql_type = Text)]
    referenced: String,
}

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = BigInt)]
    n: i64,
}

const MIGRATIONS_TABLE: &str = "__diesel_schema_migrations";

/// Every (table, column) of the live schema.
fn columns(conn: &mut DbConnection) -> Vec<(String, String)> {
    let rows: Vec<TableColumn> = match conn {
        DbConnection::Postgresql(pg) => diesel::sql_query(
            "SELECT table_name::text AS table_name, column_name::text AS column_name \
             FROM information_schema.columns WHERE table_schema = 'public'",
        )
        .load(pg),
        DbConnection::Sqlite(sqlite) => diesel::sql_query(
            "SELECT m.name AS table_name, p.name AS column_name \
             FROM sqlite_master m JOIN pragma_table_info(m.name) p \
             WHERE m.type = 'table' AND m.name NOT LIKE 'sqlite_%'",
        )
        .load(sqlite),
    }
    .expect("columns");
    rows.into_iter()
        .filter(|c| c.table_name != MIGRATIONS_TABLE)
        .map(|c| (c.table_name, c.column_name))
        .collect()
}

/// Every foreign key of the live schema: (table, referenced table).
fn references(conn: &mut DbConnection) -> Vec<(String, String)> {
    let rows: Vec<Reference> = match conn {
        DbConnection::Postgresql(pg) => diesel::sql_query(
            "SELECT tc.table_name::text AS table_name, ccu.table_name::text AS referenced \
             FROM information_schema.table_constraints tc \
             JOIN information_schema.constraint_column_usage ccu \
               ON ccu.constraint_name = tc.constraint_name \
              AND ccu.constraint_schema = tc.constraint_schema \
             WHERE tc.constraint_type = 'FOREIGN KEY' AND tc.table_schema = 'public'",
        )
        .load(pg),
        DbConnection::Sqlite(sqlite) => diesel::sql_query(
            "SELECT m.name AS table_name, p.\"table\" AS referenced \
             FROM sqlite_master m JOIN pragma_foreign_key_list(m.name) p \
             WHERE m.type = 'table'",
        )
        .load(sqlite),
    }
    .expect("foreign keys");
    rows.into_iter()
        .map(|r| (r.table_name, r.referenced))
        .collect()
}

/// The tables that hold data about a person: `migrants`, every table with a `migrant_id`
/// column, and every table pointing (by foreign key) at one of those, to any depth.
fn tables_about_a_person(conn: &mut DbConnection) -> BTreeSet<String> {
    let mut found: BTreeSet<String> = columns(conn)
        .into_iter()
        .filter(|(_, column)| column == "migrant_id")
        .map(|(table, _)| table)
        .collect();
    found.insert("migrants".into());
    let references = references(conn);
    loop {
        let more: Vec<String> = references
            .iter()
            .filter(|(table, referenced)| found.contains(referenced) && !found.contains(table))
            .map(|(table, _)| table.clone())
            .collect();
        if more.is_empty() {
            return found;
        }
        found.extend(more);
    }
}

/// The (table.column)s whose value, as text, contains `needle`.
fn hits(conn: &mut DbConnection, needle: &str) -> Vec<String> {
    let mut found = Vec::new();
    for (table, column) in columns(conn) {
        let sql = |placeholder: &str| {
            format!(
                "SELECT COUNT(*) AS n FROM \"{table}\" \
                 WHERE CAST(\"{column}\" AS TEXT) LIKE '%' || {placeholder} || '%'"
            )
        };
        let count: Count = match conn {
            DbConnection::Postgresql(pg) => diesel::sql_query(sql("$1"))
                .bind::<Text, _>(needle)
                .get_result(pg),
            DbConnection::Sqlite(sqlite) => diesel::sql_query(sql("?"))
                .bind::<Text, _>(needle)
                .get_result(sqlite),
        }
        .expect("scan");
        if count.n > 0 {
            found.push(format!("{table}.{column}"));
        }
    }
    found
}

/// Where in the export document each table about a person shows. A table that points at a
/// person and is missing here fails `the_export_covers_every_table_about_a_person`.
const EXPORT_KEYS: &[(&str, &str)] = &[
    ("migrants", "/migrant"),
    // Search tokens are the names, normalised: the names themselves are in the record.
    ("migrant_name_tokens", "/migrant/given_name"),
    ("migrant_vulnerabilities", "/migrant/vulnerabilities"),
    ("migrant_consent_events", "/consent_history"),
    ("cases", "/cases"),
    ("case_events", "/cases/0/events"),
    ("consultations", "/consultations"),
    ("consultation_topics", "/consultations/0/topics"),
    // The reports' copy of each consultation with the person's statistical attributes, all of
    // which the export shows in the consultations and the record.
    ("consultation_facts", "/consultations"),
    ("referrals", "/referrals"),
    ("referral_transitions", "/referrals/0/history"),
    ("follow_ups", "/follow_ups"),
    ("group_session_attendees", "/group_sessions"),
    ("audit_event_subjects", "/access_log"),
];

const GIVEN: &str = "Farrukh";
const FAMILY: &str = "Nazarov";
const PATRONYMIC: &str = "Фаррухович";
const PHONE: &str = "+992935550123";
const BIRTH_DATE: &str = "1991-07-23";

/// What must not survive an anonymisation, in the spellings it could be stored in.
const NEEDLES: &[&str] = &[
    "Farrukh",
    "farrukh",
    "FARRUKH",
    "Nazarov",
    "nazarov",
    "Фаррух",
    "фаррух",
    "935550123",
    BIRTH_DATE,
];

/// A person with data in every table about a person, each text naming them. Returns
/// (migrant, case) ids; the case is closed, so the person can be anonymised.
async fn farrukh_with_everything(app: &TestApp, care: &Care) -> (String, String) {
    let token = &care.counsellor.token;
    let person = register(
        app,
        token,
        json!({
            "given_name": GIVEN, "family_name": FAMILY, "patronymic": PATRONYMIC,
            "sex": "male", "date_of_birth": BIRTH_DATE, "nationality": "TJ",
            "region_of_origin": "Sughd", "phone": PHONE, "preferred_language": "tg",
            "migration_status": "returnee", "destination_country": "RU",
            "vulnerabilities": ["stranded_abroad"],
            "consent": {"services": true, "referral_sharing": true, "statistics": true},
        }),
    )
    .await;
    let migrant = id(&person);
    let mut case_body = json!({"migrant_id": migrant, "summary": format!("{GIVEN} {PATRONYMIC} unpaid, call {PHONE}")});
    case_body["priority"] = json!("high");
    let case = id(&expect(
        app.post("/api/v1/cases", token, case_body).await,
        StatusCode::CREATED,
        "case",
    )
    .await);
    let mut consultation = on_case(&case);
    consultation["notes"] = json!(format!("{GIVEN} ({PATRONYMIC}), born {BIRTH_DATE}"));
    consultation["outcome"] = json!(format!("{FAMILY} will call back"));
    let consultation = id(&log(app, token, consultation).await);
    let mut keyed = for_migrant(&migrant);
    keyed["notes"] = json!(format!("{FAMILY} again"));
    let response = app
        .client
        .post(app.url("/api/v1/consultations"))
        .bearer_auth(token)
        // A client may well build its key from the name: the key goes with the person.
        .header("Idempotency-Key", "farrukh-walk-in-2")
        .json(&keyed)
        .send()
        .await
        .unwrap();
    expect(response, StatusCode::CREATED, "keyed consultation").await;
    let referral = id(&refer(app, token, &case, &care.centre_provider, None).await);
    let note = format!("{GIVEN} sent to the shelter");
    expect(
        transition_response(app, token, &referral, "sent", Some(&note)).await,
        StatusCode::OK,
        "send referral",
    )
    .await;
    let follow_up = json!({"due_at": rfc3339(Utc::now() + Duration::days(3)), "kind": "call", "note": format!("Call {GIVEN} on {PHONE}")});
    expect(
        follow_up_response(app, token, &case, follow_up).await,
        StatusCode::CREATED,
        "follow-up",
    )
    .await;
    let session = id(&create_session(app, token, session_body()).await);
    let attendees = format!("/api/v1/group-sessions/{session}/attendees");
    let response = app
        .client
        .post(app.url(&attendees))
        .bearer_auth(token)
        .header("Idempotency-Key", "farrukh-at-the-orientation")
        .json(&json!({ "migrant_ids": [migrant] }))
        .send()
        .await
        .unwrap();
    expect(response, StatusCode::OK, "keyed attendance").await;
    let close = json!({"reason": format!("{GIVEN} {FAMILY} went home"), "force": true});
    expect(
        app.post(
            &format!("/api/v1/cases/{case}/close"),
            &care.supervisor.token,
            close,
        )
        .await,
        StatusCode::OK,
        "close",
    )
    .await;
    let _ = consultation;
    (migrant, case)
}

fn at<'a>(document: &'a Value, pointer: &str) -> &'a Value {
    document
        .pointer(pointer)
        .unwrap_or_else(|| panic!("export has no {pointer}: {document:#}"))
}

backend_test!(the_export_holds_everything_about_the_person);
async fn the_export_holds_everything_about_the_person(app: TestApp) {
    let care = Care::new(&app).await;
    let (migrant, case) = farrukh_with_everything(&app, &care).await;
    let path = format!("/api/v1/migrants/{migrant}/export");
    let doc = expect(
        app.get(&path, &care.supervisor.token).await,
        StatusCode::OK,
        "export",
    )
    .await;
    assert_eq!(doc["migrant"]["given_name"], GIVEN);
    assert_eq!(doc["migrant"]["phone"], PHONE);
    assert_eq!(
        doc["migrant"]["vulnerabilities"],
        json!(["stranded_abroad"])
    );
    assert_eq!(at(&doc, "/consent_history").as_array().unwrap().len(), 3);
    assert_eq!(doc["cases"][0]["case"]["id"], case);
    let kinds: Vec<&str> = doc["cases"][0]["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["opened", "closed"]);
    assert_eq!(doc["consultations"].as_array().unwrap().len(), 2);
    assert_eq!(doc["consultations"][0]["topics"], json!(["labour_rights"]));
    let history: Vec<&str> = doc["referrals"][0]["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["to"].as_str().unwrap())
        .collect();
    assert_eq!(history, ["pending", "sent", "cancelled"]);
    assert_eq!(doc["follow_ups"][0]["status"], "cancelled");
    let actions: Vec<&str> = doc["access_log"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(actions.first(), Some(&"migrant.create"));
    assert!(actions.contains(&"case.close"), "{actions:?}");
    // The export itself is audited, naming the person.
    assert_eq!(
        app.audit_actions(&migrant).last().map(String::as_str),
        Some("migrant.export")
    );
    let again = expect(
        app.get(&path, &care.supervisor.token).await,
        StatusCode::OK,
        "export",
    )
    .await;
    let last = again["access_log"]
        .as_array()
        .unwrap()
        .last()
        .unwrap()
        .clone();
    assert_eq!(last["action"], "migrant.export");
    assert_eq!(last["actor_id"], care.supervisor.id);
    assert_eq!(last["endpoint"], "GET /api/v1/migrants/{id}/export");
}

backend_test!(the_export_covers_every_table_about_a_person);
async fn the_export_covers_every_table_about_a_person(app: TestApp) {
    let care = Care::new(&app).await;
    let (migrant, _) = farrukh_with_everything(&app, &care).await;
    let path = format!("/api/v1/migrants/{migrant}/export");
    let doc = expect(
        app.get(&path, &care.supervisor.token).await,
        StatusCode::OK,
        "export",
    )
    .await;
    let tables = tables_about_a_person(&mut app.db());
    let mapped: BTreeMap<&str, &str> = EXPORT_KEYS.iter().copied().collect();
    let unmapped: Vec<&String> = tables
        .iter()
        .filter(|t| !mapped.contains_key(t.as_str()))
        .collect();
    assert!(
        unmapped.is_empty(),
        "tables about a person missing from the export: {unmapped:?}"
    );
    let stale: Vec<&&str> = mapped.keys().filter(|t| !tables.contains(**t)).collect();
    assert!(
        stale.is_empty(),
        "export map names tables that no longer point at a person: {stale:?}"
    );
    for (table, pointer) in EXPORT_KEYS {
        let value = at(&doc, pointer);
        let empty = value.is_null() || value.as_array().is_some_and(Vec::is_empty);
        assert!(!empty, "{table}: {pointer} is empty in the export");
    }
}

backend_test!(only_the_centres_supervisor_exports_or_anonymises);
async fn only_the_centres_supervisor_exports_or_anonymises(app: TestApp) {
    let care = Care::new(&app).await;
    let export = format!("/api/v1/migrants/{}/export", care.migrant_id);
    let anonymise = format!("/api/v1/migrants/{}/anonymise", care.migrant_id);
    let reason = json!({"reason": "Erasure request DSR-17"});
    let before = app.snapshot_with_audit();
    for (token, status) in [
        (&care.counsellor.token, StatusCode::FORBIDDEN),
        (&app.admin, StatusCode::FORBIDDEN),
        (&care.other_supervisor.token, StatusCode::NOT_FOUND),
    ] {
        assert_eq!(app.get(&export, token).await.status(), status);
        let response = app.post(&anonymise, token, reason.clone()).await;
        assert_eq!(problem(response).await["status"], status.as_u16());
    }
    let unknown = "/api/v1/migrants/01936b2e-0000-7000-8000-000000000000/export";
    assert_eq!(
        app.get(unknown, &care.supervisor.token).await.status(),
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        app.snapshot_with_audit(),
        before,
        "a refused request stored nothing"
    );
    let stored: Option<chrono::NaiveDateTime> = migrants::table
        .find(&care.migrant_id)
        .select(migrants::anonymised_at)
        .first(&mut app.db())
        .unwrap();
    assert_eq!(stored, None);
}

backend_test!(anonymising_needs_a_reason_without_personal_data_and_closed_cases);
async fn anonymising_needs_a_reason_without_personal_data_and_closed_cases(app: TestApp) {
    let care = Care::new(&app).await;
    let path = format!("/api/v1/migrants/{}/anonymise", care.migrant_id);
    let token = &care.supervisor.token;
    let before = app.snapshot_with_audit();
    for reason in [
        json!("no"),
        json!("x".repeat(501)),
        json!("Request of GULRU, ref 17"),
        json!("Гулру asked"),
    ] {
        let response = app.post(&path, token, json!({ "reason": reason })).await;
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{reason}");
        assert_eq!(problem(response).await["errors"][0]["field"], "reason");
    }
    let response = app
        .post(&path, token, json!({"reason": "Erasure request DSR-17"}))
        .await;
    let conflict = problem(response).await;
    assert_eq!(conflict["status"], 409);
    assert!(conflict["errors"][0]["message"]
        .as_str()
        .unwrap()
        .contains(&care.case_id));
    assert_eq!(app.snapshot_with_audit(), before, "nothing stored");
}

/// The consultations report of the centre around today, by sex and migration status.
async fn todays_report(app: &TestApp, token: &str) -> Value {
    let from = today() - Duration::days(30);
    let to = today() + Duration::days(2);
    let path = format!(
        "/api/v1/reports/consultations?from={from}&to={to}&group_by=sex,age_band,migration_status"
    );
    let mut report = expect(app.get(&path, token).await, StatusCode::OK, "report").await;
    report
        .as_object_mut()
        .unwrap()
        .retain(|key, _| key == "rows" || key == "total");
    report
}

backend_test!(anonymisation_erases_the_person_from_every_table);
async fn anonymisation_erases_the_person_from_every_table(app: TestApp) {
    let care = Care::new(&app).await;
    let (migrant, _) = farrukh_with_everything(&app, &care).await;
    expect(
        app.get(
            &format!("/api/v1/migrants/{migrant}/export"),
            &care.supervisor.token,
        )
        .await,
        StatusCode::OK,
        "export",
    )
    .await;
    // The audit trail never held personal data, even before.
    let mut conn = app.db();
    for needle in NEEDLES.iter().chain([&PHONE]) {
        let found: Vec<String> = hits(&mut conn, needle)
            .into_iter()
            .filter(|h| h.starts_with("audit_"))
            .collect();
        assert!(
            found.is_empty(),
            "{needle} in {found:?} before anonymisation"
        );
    }
    assert!(
        !hits(&mut conn, "Фаррух").is_empty(),
        "the scan finds what is there"
    );
    let report = todays_report(&app, &care.supervisor.token).await;
    let path = format!("/api/v1/migrants/{migrant}/anonymise");
    let reason = "Erasure request DSR-2026-117";
    expect(
        app.post(&path, &care.supervisor.token, json!({ "reason": reason }))
            .await,
        StatusCode::NO_CONTENT,
        "anonymise",
    )
    .await;
    let notes: Vec<String> = consultations::table
        .filter(consultations::migrant_id.eq(&migrant))
        .select(consultations::notes)
        .load(&mut conn)
        .unwrap();
    assert_eq!(
        notes,
        ["[anonymised]", "[anonymised]"],
        "kept, texts erased"
    );
    for needle in NEEDLES.iter().chain([&PHONE]) {
        let found = hits(&mut conn, needle);
        assert!(found.is_empty(), "{needle} still in {found:?}");
    }
    let kept: Vec<String> = idempotency_keys::table
        .select(idempotency_keys::content_location.assume_not_null())
        .filter(idempotency_keys::content_location.is_not_null())
        .load(&mut conn)
        .unwrap();
    assert!(kept.iter().all(|path| !path.contains(&migrant)), "{kept:?}");
    let (action, stored_reason, actor): (String, Option<String>, Option<String>) =
        audit_events::table
            .filter(audit_events::entity_id.eq(&migrant))
            .order(audit_events::id.desc())
            .select((
                audit_events::action,
                audit_events::reason,
                audit_events::actor_id,
            ))
            .first(&mut conn)
            .unwrap();
    assert_eq!(
        (action.as_str(), stored_reason.as_deref()),
        ("migrant.anonymise", Some(reason))
    );
    assert_eq!(actor.as_deref(), Some(care.supervisor.id.as_str()));
    let stored: (i32, Option<i32>, String, Option<String>) = migrants::table
        .find(&migrant)
        .select((
            migrants::version,
            migrants::birth_year,
            migrants::nationality,
            migrants::destination_country,
        ))
        .first(&mut conn)
        .unwrap();
    assert_eq!(
        (stored.1, stored.2.as_str(), stored.3.as_deref()),
        (Some(1991), "TJ", Some("RU"))
    );
    assert_eq!(
        todays_report(&app, &care.supervisor.token).await,
        report,
        "reports count the same"
    );
}

backend_test!(an_anonymised_person_is_gone_but_their_closed_work_remains);
async fn an_anonymised_person_is_gone_but_their_closed_work_remains(app: TestApp) {
    let care = Care::new(&app).await;
    let (migrant, case) = farrukh_with_everything(&app, &care).await;
    let sup = &care.supervisor.token;
    let anonymise = format!("/api/v1/migrants/{migrant}/anonymise");
    let reason = json!({"reason": "Erasure request DSR-18"});
    let keyed = || {
        app.client
            .post(app.url(&anonymise))
            .bearer_auth(sup)
            .header("Idempotency-Key", "dsr-18")
            .json(&reason)
            .send()
    };
    let first = keyed().await.unwrap();
    expect(first, StatusCode::NO_CONTENT, "anonymise").await;
    // A retry of the same request answers as the first did; a new request finds them gone.
    let retry = keyed().await.unwrap();
    assert_eq!(retry.status(), StatusCode::NO_CONTENT);
    assert_eq!(retry.headers()["idempotent-replayed"], "true");
    let record = format!("/api/v1/migrants/{migrant}");
    for path in [
        record.clone(),
        format!("{record}/export"),
        format!("{record}/access-log"),
    ] {
        let gone = problem(app.get(&path, sup).await).await;
        assert_eq!(gone["status"], 410, "{path}");
    }
    assert_eq!(
        problem(app.get(&record, &care.other_supervisor.token).await).await["status"],
        404
    );
    let patch = app
        .patch(&record, sup, "\"2\"", json!({"given_name": GIVEN}))
        .await;
    assert_eq!(patch.status(), StatusCode::GONE);
    assert_eq!(
        problem(app.post(&anonymise, sup, reason).await).await["status"],
        410
    );
    let listed = all_ids(&app, sup, "/api/v1/migrants", 50).await;
    assert!(!listed.contains(&migrant) && listed.contains(&care.migrant_id));
    let search = expect(
        app.get("/api/v1/migrants?q=farrukh", sup).await,
        StatusCode::OK,
        "search",
    )
    .await;
    assert_eq!(search["items"], json!([]));
    let dup = format!("/api/v1/migrants/duplicates?given_name={GIVEN}&family_name={FAMILY}");
    let dup = expect(app.get(&dup, sup).await, StatusCode::OK, "duplicates").await;
    assert_eq!(dup["items"], json!([]));
    // The closed case stays for caseloads and reports, its texts erased; it cannot reopen.
    let kept = expect(
        app.get(&format!("/api/v1/cases/{case}"), sup).await,
        StatusCode::OK,
        "case",
    )
    .await;
    assert_eq!(
        (kept["summary"].as_str(), kept["status"].as_str()),
        (Some("[anonymised]"), Some("closed"))
    );
    assert_eq!(kept["closure_reason"], "[anonymised]");
    let reopen = app
        .post(
            &format!("/api/v1/cases/{case}/reopen"),
            sup,
            json!({"reason": "more"}),
        )
        .await;
    assert_eq!(reopen.status(), StatusCode::GONE);
    let consultations = format!("/api/v1/consultations?case_id={case}");
    let list = expect(
        app.get(&consultations, sup).await,
        StatusCode::OK,
        "consultations",
    )
    .await;
    let first = &list["items"][0];
    assert_eq!(first["notes"], "[anonymised]");
    let edit = format!("/api/v1/consultations/{}", first["id"].as_str().unwrap());
    let etag = format!("\"{}\"", first["version"]);
    let edited = app
        .patch(&edit, sup, &etag, json!({"notes": "Farrukh again"}))
        .await;
    assert_eq!(edited.status(), StatusCode::GONE);
    let new_case = app
        .post(
            "/api/v1/cases",
            sup,
            json!({"migrant_id": migrant, "summary": "again"}),
        )
        .await;
    assert_eq!(problem(new_case).await["errors"][0]["field"], "migrant_id");
}

/// Moves everything about a person `days` days into the past, as time passing would.
fn age_person(app: &TestApp, migrant: &str, days: i64) {
    use karvon::db::schema::{case_events, cases};
    let then = Utc::now().naive_utc() - Duration::days(days);
    let mut conn = app.db();
    diesel::update(migrants::table.find(migrant))
        .set((migrants::created_at.eq(then), migrants::updated_at.eq(then)))
        .execute(&mut conn)
        .unwrap();
    diesel::update(consultations::table.filter(consultations::migrant_id.eq(migrant)))
        .set((
            consultations::occurred_at.eq(then),
            consultations::updated_at.eq(then),
        ))
        .execute(&mut conn)
        .unwrap();
    diesel::update(cases::table.filter(cases::migrant_id.eq(migrant)))
        .set(cases::updated_at.eq(then))
        .execute(&mut conn)
        .unwrap();
    let case_ids = cases::table
        .filter(cases::migrant_id.eq(migrant))
        .select(cases::id);
    diesel::update(case_events::table.filter(case_events::case_id.eq_any(case_ids)))
        .set(case_events::at.eq(then))
        .execute(&mut conn)
        .unwrap();
}

fn anonymised(app: &TestApp, migrant: &str) -> bool {
    migrants::table
        .find(migrant)
        .select(migrants::anonymised_at)
        .first::<Option<chrono::NaiveDateTime>>(&mut app.db())
        .unwrap()
        .is_some()
}

/// `karvon retention --inactive-for 5y` on the test's database; its standard output.
fn retention_command(app: &TestApp, dry_run: bool) -> String {
    let url = match &app.database_url {
        DatabaseUrl::Sqlite(path) => format!("sqlite://{path}"),
        DatabaseUrl::Postgres(url) => url.clone(),
    };
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_karvon"));
    command
        .args(["retention", "--inactive-for", "5y"])
        .env("DATABASE_URL", url);
    if dry_run {
        command.arg("--dry-run");
    }
    let output = command.output().expect("run karvon retention");
    assert!(
        output.status.success(),
        "karvon retention failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

backend_test!(retention_anonymises_only_people_inactive_for_the_period);
async fn retention_anonymises_only_people_inactive_for_the_period(app: TestApp) {
    let care = Care::new(&app).await;
    let token = &care.counsellor.token;
    let inactive = register_migrant(&app, token, "Inactive", ALL_CONSENT).await;
    let old_case = id(&open_case(&app, token, &inactive, "normal", None).await);
    close_case(&app, token, &old_case).await;
    log(&app, token, for_migrant(&inactive)).await;
    let recent = register_migrant(&app, token, "Recent", ALL_CONSENT).await;
    log(&app, token, for_migrant(&recent)).await;
    let with_open_case = care.migrant_id.clone();
    // Registered long ago, at a group session yesterday.
    let attendee = register_migrant(&app, token, "Attendee", ALL_CONSENT).await;
    let session = id(&create_session(&app, token, session_body()).await);
    attend(&app, token, &session, &[&attendee]).await;
    let six_years = 6 * 366;
    for person in [&inactive, &with_open_case, &attendee] {
        age_person(&app, person, six_years);
    }
    age_person(&app, &recent, 1);
    let five_years: InactiveFor = "5y".parse().unwrap();
    let before = app.snapshot_with_audit();
    let dry = retention::run(&mut app.db(), five_years, true).unwrap();
    assert_eq!((dry.inactive, dry.anonymised), (1, 0));
    assert_eq!(
        app.snapshot_with_audit(),
        before,
        "a dry run changes nothing"
    );
    let output = retention_command(&app, true);
    assert_eq!(output, "inactive for 5y: 1 (dry run: nothing changed)\n");
    assert!(!anonymised(&app, &inactive));
    let output = retention_command(&app, false);
    assert_eq!(
        output, "inactive for 5y: 1; anonymised: 1\n",
        "counts, never names"
    );
    assert!(anonymised(&app, &inactive));
    assert!(!anonymised(&app, &recent) && !anonymised(&app, &with_open_case));
    assert!(
        !anonymised(&app, &attendee),
        "attending a session is activity"
    );
    let gone = app
        .get(
            &format!("/api/v1/migrants/{inactive}"),
            &care.supervisor.token,
        )
        .await;
    assert_eq!(gone.status(), StatusCode::GONE);
    let summary: (Option<String>, Option<String>) = audit_events::table
        .filter(audit_events::action.eq("retention.run"))
        .select((audit_events::actor_id, audit_events::reason))
        .first(&mut app.db())
        .unwrap();
    assert_eq!(summary.0, None, "the system acted");
    assert_eq!(
        summary.1.as_deref(),
        Some("retention: no activity for 5y; 1 anonymised")
    );
    let again = retention::run(&mut app.db(), five_years, false).unwrap();
    assert_eq!((again.inactive, again.anonymised), (0, 0));
}

#[test]
fn retention_periods_read_years_months_and_days() {
    assert_eq!("5y".parse(), Ok(InactiveFor::Months(60)));
    assert_eq!("18m".parse(), Ok(InactiveFor::Months(18)));
    assert_eq!("90d".parse(), Ok(InactiveFor::Days(90)));
    for bad in ["", "5", "y", "0d", "5w", "-1y", "1.5y", "999y"] {
        assert!(bad.parse::<InactiveFor>().is_err(), "{bad}");
    }
}

backend_test!(concurrent_anonymisations_erase_once);
async fn concurrent_anonymisations_erase_once(app: TestApp) {
    let care = Care::new(&app).await;
    let (migrant, _) = farrukh_with_everything(&app, &care).await;
    let path = format!("/api/v1/migrants/{migrant}/anonymise");
    let body = json!({"reason": "Erasure request DSR-19"});
    let requests = (0..10).map(|_| app.post(&path, &care.supervisor.token, body.clone()));
    let mut statuses: Vec<u16> = futures_util::future::join_all(requests)
        .await
        .iter()
        .map(|r| r.status().as_u16())
        .collect();
    statuses.sort();
    assert_eq!(statuses, [204, 410, 410, 410, 410, 410, 410, 410, 410, 410]);
    let events: i64 = audit_events::table
        .filter(audit_events::action.eq("migrant.anonymise"))
        .count()
        .get_result(&mut app.db())
        .unwrap();
    assert_eq!(events, 1);
}

backend_test!(nothing_written_about_a_person_while_they_are_anonymised_escapes_the_erasure);
async fn nothing_written_about_a_person_while_they_are_anonymised_escapes_the_erasure(
    app: TestApp,
) {
    let care = Care::new(&app).await;
    let (migrant, _) = farrukh_with_everything(&app, &care).await;
    let path = format!("/api/v1/migrants/{migrant}/anonymise");
    let anonymise = app.post(
        &path,
        &care.supervisor.token,
        json!({"reason": "Erasure request DSR-20"}),
    );
    let logs = (0..8).map(|_| {
        let body = json!({
            "migrant_id": migrant, "occurred_at": Utc::now().to_rfc3339(), "channel": "phone",
            "duration_minutes": 10, "topics": ["other"], "language": "tg",
            "notes": "Farrukh called again",
        });
        app.post("/api/v1/consultations", &care.counsellor.token, body)
    });
    let (erased, logged) = tokio::join!(anonymise, futures_util::future::join_all(logs));
    assert_eq!(erased.status(), StatusCode::NO_CONTENT);
    for response in logged {
        let status = response.status();
        assert!(
            status == StatusCode::CREATED || status == StatusCode::UNPROCESSABLE_ENTITY,
            "logged before the erasure, or refused after it: {status}"
        );
    }
    let notes: Vec<String> = consultations::table
        .filter(consultations::migrant_id.eq(&migrant))
        .select(consultations::notes)
        .load(&mut app.db())
        .unwrap();
    assert!(notes.iter().all(|n| n == "[anonymised]"), "{notes:?}");
}

/// Changes `user`'s account as an admin. Their old token answers 401 from then on; the one
/// returned (a new login) carries the change.
async fn change_user(app: &TestApp, user: &Account, body: Value) -> String {
    let response = app.patch_user(&user.id, body).await;
    expect(response, StatusCode::OK, "change user").await;
    let old = app.get("/api/v1/me", &user.token).await;
    assert_eq!(old.status(), StatusCode::UNAUTHORIZED, "the old token");
    app.login(&user.username, &user.password).await
}

backend_test!(a_supervisor_moved_or_demoted_loses_the_old_scope_at_once);
async fn a_supervisor_moved_or_demoted_loses_the_old_scope_at_once(app: TestApp) {
    let care = Care::new(&app).await;
    let export = format!("/api/v1/migrants/{}/export", care.migrant_id);
    let anonymise = format!("/api/v1/migrants/{}/anonymise", care.migrant_id);
    let reason = json!({"reason": "Erasure request DSR-20"});
    let (sup, other) = (&care.supervisor, &care.other_supervisor);
    change_user(&app, other, json!({"role": "counsellor"})).await;
    let sup_token = change_user(&app, sup, json!({"centre_id": care.other_centre})).await;
    assert_eq!(
        app.get(&export, &sup_token).await.status(),
        StatusCode::NOT_FOUND
    );
    let refused = app.post(&anonymise, &sup_token, reason.clone()).await;
    assert_eq!(refused.status(), StatusCode::NOT_FOUND);
    let other_token = change_user(&app, other, json!({"centre_id": care.centre})).await;
    assert_eq!(
        app.get(&export, &other_token).await.status(),
        StatusCode::FORBIDDEN
    );
    assert!(!anonymised(&app, &care.migrant_id));
}

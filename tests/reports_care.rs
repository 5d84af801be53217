//! The referrals and follow-ups reports, and the statistics-consent rule of every report: a
//! known population is recorded through the API (times set in the database where time must
//! pass), and every number is compared with one computed here from that population.

mod common;

use std::collections::{BTreeMap, BTreeSet};

use chrono::{Duration, NaiveDateTime, Utc};
use common::world::{
    create_provider, open_case, refer, register_migrant, rfc3339, today, Care, ALL_CONSENT,
};
use common::{expect, id, problem, TestApp};
use diesel::prelude::*;
use reqwest::StatusCode;
use serde_json::{json, Value};

/// (services, referral_sharing, statistics): everything but statistics.
const NO_STATISTICS: (bool, bool, bool) = (true, true, false);

/// People 0–6 consented to statistics; 7 never did; 8 did, then withdrew.
const PEOPLE: usize = 9;
const NEVER: usize = 7;
const WITHDREW: usize = 8;

fn consenting(person: usize) -> bool {
    person < NEVER
}

/// A referral of the population: to provider 0 (global, legal aid) or 1 (the centre's, a
/// shelter named like a formula); where it stands; days from sent to the first answer; whether
/// its expected response date was yesterday.
struct Ref {
    person: usize,
    provider: usize,
    status: &'static str,
    answered_after: Option<i64>,
    expected_yesterday: bool,
}

const fn r(person: usize, provider: usize, status: &'static str, days: Option<i64>) -> Ref {
    Ref {
        person,
        provider,
        status,
        answered_after: days,
        expected_yesterday: false,
    }
}

const fn late(mut referral: Ref) -> Ref {
    referral.expected_yesterday = true;
    referral
}

const REFS: &[Ref] = &[
    // Completed: past its expected date, but not waiting, so not overdue.
    late(r(0, 0, "completed", Some(2))),
    r(0, 1, "declined", Some(5)),
    late(r(1, 0, "sent", None)),
    r(2, 0, "accepted", Some(1)),
    r(3, 0, "completed", Some(4)),
    late(r(4, 0, "pending", None)),
    r(5, 0, "declined", Some(3)),
    r(6, 1, "accepted", Some(6)),
    r(NEVER, 0, "completed", Some(10)),
    r(WITHDREW, 1, "sent", None),
];

const FORMULA: &str = "=HYPERLINK(\"http://evil\")";

/// The population as stored.
struct Seeded {
    care: Care,
    people: Vec<String>,
    cases: Vec<String>,
    providers: [String; 2],
    referrals: Vec<String>,
}

fn from_to() -> (String, String) {
    (
        (today() - Duration::days(20)).to_string(),
        (today() + Duration::days(20)).to_string(),
    )
}

async fn seed(app: &TestApp) -> Seeded {
    let care = Care::new(app).await;
    let token = care.counsellor.token.clone();
    let mut people = Vec::new();
    let mut cases = Vec::new();
    for person in 0..PEOPLE {
        let consent = if person == NEVER {
            NO_STATISTICS
        } else {
            ALL_CONSENT
        };
        let migrant = register_migrant(app, &token, &format!("Person{person}"), consent).await;
        cases.push(id(&open_case(app, &token, &migrant, "normal", None).await));
        people.push(migrant);
    }
    let formula = json!({"name": FORMULA, "kind": "shelter", "accepts_referrals": true});
    let providers = [
        care.global_provider.clone(),
        create_provider(app, &care.supervisor.token, formula).await,
    ];
    let mut referrals = Vec::new();
    for spec in REFS {
        referrals.push(record_referral(app, &token, &cases, &providers, spec).await);
    }
    withdraw_statistics(app, &token, &people[WITHDREW]).await;
    Seeded {
        care,
        people,
        cases,
        providers,
        referrals,
    }
}

/// Creates a referral, moves it to its status, and dates its moves: sent ten days ago, the
/// first answer `answered_after` days later (a completion one day after acceptance).
async fn record_referral(
    app: &TestApp,
    token: &str,
    cases: &[String],
    providers: &[String; 2],
    spec: &Ref,
) -> String {
    let provider = &providers[spec.provider];
    let referral = id(&refer(app, token, &cases[spec.person], provider, None).await);
    for step in common::world::path_to(spec.status) {
        let path = format!("/api/v1/referrals/{referral}/transitions");
        let body = json!({"to": step, "note": "moved"});
        expect(app.post(&path, token, body).await, StatusCode::OK, "move").await;
    }
    let sent = Utc::now().naive_utc() - Duration::days(10);
    let days = spec.answered_after.unwrap_or(0);
    for (status, at) in [
        ("sent", sent),
        ("accepted", sent + Duration::days(days)),
        ("declined", sent + Duration::days(days)),
        ("completed", sent + Duration::days(days + 1)),
    ] {
        set_transition(app, &referral, status, at);
    }
    if spec.expected_yesterday {
        app.set_referral_expected(&referral, today() - Duration::days(1));
    }
    referral
}

fn set_transition(app: &TestApp, referral: &str, to: &str, at: NaiveDateTime) {
    use karvon::db::schema::referral_transitions as t;
    diesel::update(
        t::table
            .filter(t::referral_id.eq(referral))
            .filter(t::to_status.eq(to)),
    )
    .set(t::at.eq(at))
    .execute(&mut app.db())
    .expect("date a move");
}

async fn withdraw_statistics(app: &TestApp, token: &str, migrant: &str) {
    let path = format!("/api/v1/migrants/{migrant}");
    let etag = app.etag(&path, token).await;
    let body = json!({"consent": {"statistics": false}});
    let response = app.patch(&path, token, &etag, body).await;
    expect(response, StatusCode::OK, "withdraw statistics consent").await;
}

fn report_path(report: &str, dims: &[&str], centre: Option<&str>) -> String {
    let (from, to) = from_to();
    let mut path = format!(
        "/api/v1/reports/{report}?from={from}&to={to}&group_by={}",
        dims.join(",")
    );
    if let Some(centre) = centre {
        path.push_str(&format!("&centre_id={centre}"));
    }
    path
}

async fn report(app: &TestApp, token: &str, report: &str, dims: &[&str]) -> Value {
    let response = app.get(&report_path(report, dims, None), token).await;
    expect(response, StatusCode::OK, "report").await
}

/// The median of some days, as the report rounds it.
fn median(mut days: Vec<i64>) -> Value {
    if days.is_empty() {
        return Value::Null;
    }
    days.sort();
    let n = days.len();
    let middle = (days[(n - 1) / 2] + days[n / 2]) as f64 / 2.0;
    json!(middle)
}

/// The numbers the report should show for some referrals (all counted, consenting or not, as
/// the caller chose).
fn referral_numbers(refs: &[&Ref]) -> Value {
    let people: BTreeSet<usize> = refs.iter().map(|r| r.person).collect();
    let status = |s: &str| refs.iter().filter(|r| r.status == s).count();
    let overdue = refs
        .iter()
        .filter(|r| r.expected_yesterday && ["pending", "sent"].contains(&r.status))
        .count();
    let answered = refs.iter().filter(|r| r.status != "pending");
    json!({
        "referrals": refs.len(),
        "people": people.len(),
        "completed": status("completed"),
        "declined": status("declined"),
        "overdue_now": overdue,
        "median_days_to_response": median(answered.filter_map(|r| r.answered_after).collect()),
    })
}

/// A referral's value of a dimension, as the report shows it.
fn referral_value(s: &Seeded, spec: &Ref, dim: &str) -> String {
    match dim {
        "provider" => s.providers[spec.provider].clone(),
        "provider_kind" => ["legal_aid", "shelter"][spec.provider].to_owned(),
        "status" => spec.status.to_owned(),
        "urgency" => "normal".to_owned(),
        "month" => Utc::now().format("%Y-%m").to_string(),
        "centre" => s.care.centre.clone(),
        "sex" => "female".to_owned(),
        other => panic!("no {other} here"),
    }
}

const REFERRAL_NUMBERS: [&str; 6] = [
    "referrals",
    "people",
    "completed",
    "declined",
    "overdue_now",
    "median_days_to_response",
];

fn numbers_of(cell: &Value, names: &[&str]) -> Value {
    names
        .iter()
        .map(|n| (n.to_string(), cell[*n].clone()))
        .collect::<serde_json::Map<_, _>>()
        .into()
}

backend_test!(the_referrals_report_counts_what_the_population_holds);
async fn the_referrals_report_counts_what_the_population_holds(app: TestApp) {
    let s = seed(&app).await;
    for dims in [
        &["provider"][..],
        &["provider_kind", "status"],
        &["urgency", "month"],
    ] {
        let body = report(&app, &s.care.supervisor.token, "referrals", dims).await;
        let mut expected: BTreeMap<Vec<String>, Vec<&Ref>> = BTreeMap::new();
        for spec in REFS.iter().filter(|r| consenting(r.person)) {
            let key = dims.iter().map(|d| referral_value(&s, spec, d)).collect();
            expected.entry(key).or_default().push(spec);
        }
        let rows = body["rows"].as_array().unwrap();
        assert_eq!(rows.len(), expected.len(), "{dims:?}: {body}");
        for row in rows {
            let key: Vec<String> = dims
                .iter()
                .map(|d| row[*d].as_str().unwrap().to_owned())
                .collect();
            assert_eq!(
                numbers_of(row, &REFERRAL_NUMBERS),
                referral_numbers(&expected[&key]),
                "{key:?}"
            );
            assert_eq!(row["suppressed"], false);
        }
        // The total: every referral in `referrals`, the rest from consenting people only.
        let kept: Vec<&Ref> = REFS.iter().filter(|r| consenting(r.person)).collect();
        let mut total = referral_numbers(&kept);
        total["referrals"] = json!(REFS.len());
        assert_eq!(numbers_of(&body["total"], &REFERRAL_NUMBERS), total);
        assert_eq!(body["not_disaggregated"], REFS.len() - kept.len());
    }
}

backend_test!(admins_see_referral_cells_suppressed_with_their_medians);
async fn admins_see_referral_cells_suppressed_with_their_medians(app: TestApp) {
    let s = seed(&app).await;
    let path = report_path("referrals", &["provider"], Some(&s.care.centre));
    let body = expect(app.get(&path, &app.admin).await, StatusCode::OK, "admin").await;
    assert_eq!(body["disclosure_control"], true);
    let rows = body["rows"].as_array().unwrap();
    // The shelter's 2 people are too few; the legal aid row is the only other, so it goes too.
    assert_eq!(rows.len(), 2);
    for row in rows {
        assert_eq!(row["suppressed"], true, "{row}");
        for n in REFERRAL_NUMBERS {
            assert_eq!(row[n], Value::Null, "{n} of {row}");
        }
        assert!(row["provider_name"].is_string());
    }
    let kept: Vec<&Ref> = REFS.iter().filter(|r| consenting(r.person)).collect();
    assert_eq!(body["total"]["people"], 7);
    assert_eq!(body["total"]["suppressed"], false);
    assert_eq!(
        body["total"]["median_days_to_response"],
        referral_numbers(&kept)["median_days_to_response"]
    );
    let by_status = report_path("referrals", &["status"], None);
    let body = expect(
        app.get(&by_status, &app.admin).await,
        StatusCode::OK,
        "admin",
    )
    .await;
    assert!(body["rows"]
        .as_array()
        .unwrap()
        .iter()
        .all(|row| row["suppressed"] == true && row["median_days_to_response"].is_null()));
}

async fn csv(app: &TestApp, token: &str, path: &str) -> (String, Vec<Vec<String>>) {
    let response = app
        .client
        .get(app.url(path))
        .bearer_auth(token)
        .header("accept", "text/csv")
        .send()
        .await
        .expect("csv");
    assert_eq!(response.status(), StatusCode::OK);
    assert!(
        response.headers().get("content-length").is_none(),
        "streamed, not one buffered body"
    );
    let disposition = response.headers()["content-disposition"]
        .to_str()
        .unwrap()
        .to_owned();
    let text = response.text().await.expect("text");
    let body = text.strip_prefix('\u{feff}').expect("UTF-8 BOM");
    let records = csv::ReaderBuilder::new()
        .has_headers(false)
        .from_reader(body.as_bytes())
        .records()
        .map(|r| r.expect("record").iter().map(str::to_owned).collect())
        .collect();
    (disposition, records)
}

/// A CSV cell read back as the JSON value it shows (numbers as numbers, empty as null).
fn parsed(cell: &str, json: &Value) -> Value {
    match json {
        Value::Number(_) | Value::Bool(_) => serde_json::from_str(cell).expect("number"),
        Value::Null => {
            assert_eq!(cell, "");
            Value::Null
        }
        _ => json!(cell.strip_prefix('\'').unwrap_or(cell)),
    }
}

backend_test!(the_csv_of_each_report_reads_back_as_its_json);
async fn the_csv_of_each_report_reads_back_as_its_json(app: TestApp) {
    let s = seed(&app).await;
    schedule_population(&app, &s).await;
    let supervisor = s.care.supervisor.token.clone();
    let cases = [
        ("referrals", &supervisor, &["provider", "status"][..]),
        ("referrals", &app.admin, &["provider"][..]),
        ("follow-ups", &supervisor, &["counsellor", "kind"][..]),
    ];
    for (name, token, dims) in cases {
        let path = report_path(name, dims, None);
        let json = expect(app.get(&path, token).await, StatusCode::OK, "json").await;
        let (disposition, records) = csv(&app, token, &path).await;
        let (from, to) = from_to();
        assert_eq!(
            disposition,
            format!("attachment; filename=\"{name}-{from}-{to}.csv\"")
        );
        let header = &records[0];
        let rows = json["rows"].as_array().unwrap();
        assert_eq!(records.len(), rows.len() + 2, "header, rows, total");
        for (record, row) in records[1..].iter().zip(rows) {
            for (column, cell) in header.iter().zip(record) {
                assert_eq!(parsed(cell, &row[column]), row[column], "{column} of {row}");
            }
        }
        let total = records.last().unwrap();
        for (column, cell) in header.iter().zip(total) {
            if dims.contains(&column.as_str()) {
                assert_eq!(cell, "total");
            } else if !column.ends_with("_name") {
                assert_eq!(parsed(cell, &json["total"][column]), json["total"][column]);
            }
        }
    }
    // The provider named like a formula is neutralised in the CSV only.
    let path = report_path("referrals", &["provider"], None);
    let (_, records) = csv(&app, &supervisor, &path).await;
    assert_eq!(records[0][..2], ["provider", "provider_name"]);
    assert!(records.iter().any(|r| r[1] == format!("'{FORMULA}")));
    let json = report(&app, &supervisor, "referrals", &["provider"]).await;
    assert!(json["rows"]
        .as_array()
        .unwrap()
        .iter()
        .any(|r| r["provider_name"] == FORMULA));
}

/// A follow-up of the population: about whom, of what kind, how it ended, due how many days
/// from now (set after it ended), and whether the supervisor holds it.
struct Fu {
    person: usize,
    kind: &'static str,
    end: &'static str,
    due_in_days: i64,
    supervisor: bool,
}

const fn fu(person: usize, kind: &'static str, end: &'static str, due_in_days: i64) -> Fu {
    Fu {
        person,
        kind,
        end,
        due_in_days,
        supervisor: false,
    }
}

const FUS: &[Fu] = &[
    fu(0, "call", "done", 2),
    fu(1, "call", "done", -2),
    fu(2, "visit", "missed", 1),
    fu(3, "visit", "scheduled", -3),
    fu(4, "call", "scheduled", 5),
    fu(5, "call", "cancelled", 1),
    fu(NEVER, "call", "done", 2),
    // Due after the period.
    fu(6, "call", "scheduled", 30),
    Fu {
        person: 6,
        kind: "visit",
        end: "done",
        due_in_days: -1,
        supervisor: true,
    },
];

async fn schedule_population(app: &TestApp, s: &Seeded) {
    let token = &s.care.counsellor.token;
    for spec in FUS {
        let mut body = json!({
            "due_at": rfc3339(Utc::now() + Duration::hours(1)),
            "kind": spec.kind,
            "note": "check on the contract",
        });
        if spec.supervisor {
            body["assigned_to"] = json!(s.care.supervisor.id);
        }
        let path = format!("/api/v1/cases/{}/follow-ups", s.cases[spec.person]);
        let created = expect(
            app.post(&path, token, body).await,
            StatusCode::CREATED,
            "schedule",
        )
        .await;
        let follow_up = id(&created);
        let ending = match spec.end {
            "done" => Some(("complete", json!({"outcome": "Reached her"}))),
            "missed" => Some(("miss", json!({"note": "No answer"}))),
            "cancelled" => Some(("cancel", json!({"reason": "Moved away"}))),
            _ => None,
        };
        if let Some((action, body)) = ending {
            let path = format!("/api/v1/follow-ups/{follow_up}/{action}");
            let holder = if spec.supervisor {
                &s.care.supervisor.token
            } else {
                token
            };
            expect(app.post(&path, holder, body).await, StatusCode::OK, action).await;
        }
        let due = Utc::now().naive_utc() + Duration::days(spec.due_in_days);
        app.set_follow_up_due(&follow_up, due);
    }
}

fn follow_up_numbers(fus: &[&Fu]) -> Value {
    let people: BTreeSet<usize> = fus.iter().map(|f| f.person).collect();
    let count = |test: &dyn Fn(&Fu) -> bool| fus.iter().filter(|f| test(f)).count();
    json!({
        "due": fus.len(),
        "completed_on_time": count(&|f| f.end == "done" && f.due_in_days > 0),
        "completed_late": count(&|f| f.end == "done" && f.due_in_days < 0),
        "missed": count(&|f| f.end == "missed" || (f.end == "scheduled" && f.due_in_days < 0)),
        "people": people.len(),
    })
}

const FOLLOW_UP_NUMBERS: [&str; 5] = [
    "due",
    "completed_on_time",
    "completed_late",
    "missed",
    "people",
];

backend_test!(the_follow_ups_report_tells_on_time_from_late_and_missed);
async fn the_follow_ups_report_tells_on_time_from_late_and_missed(app: TestApp) {
    let s = seed(&app).await;
    schedule_population(&app, &s).await;
    let in_period: Vec<&Fu> = FUS
        .iter()
        .filter(|f| f.end != "cancelled" && f.due_in_days.abs() < 20)
        .collect();
    let value = |f: &Fu, dim: &str| match dim {
        "kind" => f.kind.to_owned(),
        "status" => f.end.to_owned(),
        "counsellor" if f.supervisor => s.care.supervisor.id.clone(),
        "counsellor" => s.care.counsellor.id.clone(),
        "centre" => s.care.centre.clone(),
        "month" => (Utc::now() + Duration::days(f.due_in_days))
            .format("%Y-%m")
            .to_string(),
        other => panic!("no {other} here"),
    };
    for dims in [
        &["kind"][..],
        &["status", "counsellor"],
        &["centre", "month"],
    ] {
        let body = report(&app, &s.care.supervisor.token, "follow-ups", dims).await;
        let mut expected: BTreeMap<Vec<String>, Vec<&Fu>> = BTreeMap::new();
        for f in in_period.iter().filter(|f| consenting(f.person)) {
            expected
                .entry(dims.iter().map(|d| value(f, d)).collect())
                .or_default()
                .push(f);
        }
        let rows = body["rows"].as_array().unwrap();
        assert_eq!(rows.len(), expected.len(), "{dims:?}: {body}");
        for row in rows {
            let key: Vec<String> = dims
                .iter()
                .map(|d| row[*d].as_str().unwrap().to_owned())
                .collect();
            assert_eq!(
                numbers_of(row, &FOLLOW_UP_NUMBERS),
                follow_up_numbers(&expected[&key])
            );
        }
        let kept: Vec<&Fu> = in_period
            .iter()
            .copied()
            .filter(|f| consenting(f.person))
            .collect();
        let mut total = follow_up_numbers(&kept);
        total["due"] = json!(in_period.len());
        assert_eq!(numbers_of(&body["total"], &FOLLOW_UP_NUMBERS), total);
        assert_eq!(body["not_disaggregated"], in_period.len() - kept.len());
    }
}

backend_test!(consultations_of_people_without_statistics_consent_count_only_in_the_total);
async fn consultations_of_people_without_statistics_consent_count_only_in_the_total(app: TestApp) {
    let s = seed(&app).await;
    let token = &s.care.counsellor.token;
    for person in [0, 0, 1, NEVER, WITHDREW, WITHDREW] {
        log(&app, token, json!({"migrant_id": s.people[person]})).await;
    }
    let anonymous = json!({"anonymous": {"sex": "male", "age_band": "25-34",
        "nationality": "TJ", "migration_status": "prospective"}});
    log(&app, token, anonymous).await;
    let body = report(&app, &s.care.supervisor.token, "consultations", &["sex"]).await;
    let rows = body["rows"].as_array().unwrap();
    let female = rows
        .iter()
        .find(|r| r["sex"] == "female")
        .expect("female row");
    // People 0 and 1: three consultations; the three of people 7 and 8 are in no row.
    assert_eq!(
        (female["consultations"].clone(), female["people"].clone()),
        (json!(3), json!(2))
    );
    assert_eq!(body["total"]["consultations"], 7);
    assert_eq!(
        body["total"]["people"], 3,
        "two consenting people and one anonymous"
    );
    assert_eq!(body["not_disaggregated"], 3);
    let in_rows: i64 = rows
        .iter()
        .map(|r| r["consultations"].as_i64().unwrap())
        .sum();
    assert_eq!(in_rows + 3, 7, "rows and the left-out explain the total");
}

async fn log(app: &TestApp, token: &str, with: Value) {
    let mut body = json!({
        "occurred_at": rfc3339(Utc::now() - Duration::hours(2)),
        "channel": "walk_in",
        "duration_minutes": 20,
        "topics": ["labour_rights"],
        "language": "tg",
        "notes": "Counselled",
    });
    for (key, value) in with.as_object().unwrap() {
        body[key] = value.clone();
    }
    let response = app.post("/api/v1/consultations", token, body).await;
    expect(response, StatusCode::CREATED, "log consultation").await;
}

backend_test!(the_new_reports_are_refused_outside_the_callers_scope);
async fn the_new_reports_are_refused_outside_the_callers_scope(app: TestApp) {
    let s = seed(&app).await;
    let before = app.snapshot_with_audit();
    for name in ["referrals", "follow-ups"] {
        let other = report_path(name, &["month"], Some(&s.care.other_centre));
        let response = app.get(&other, &s.care.supervisor.token).await;
        assert_eq!(
            response.status(),
            StatusCode::FORBIDDEN,
            "{name}: other centre"
        );
        problem(response).await;
        let own = report_path(name, &["month"], None);
        let response = app.get(&own, &s.care.counsellor.token).await;
        assert_eq!(
            response.status(),
            StatusCode::FORBIDDEN,
            "{name}: counsellor"
        );
        let unknown = report_path(name, &["month", "nonsense"], None);
        let response = app.get(&unknown, &s.care.supervisor.token).await;
        assert_eq!(
            response.status(),
            StatusCode::BAD_REQUEST,
            "{name}: bad dimension"
        );
    }
    let by_counsellor = report_path("follow-ups", &["counsellor"], None);
    let response = app.get(&by_counsellor, &app.admin).await;
    assert_eq!(
        response.status(),
        StatusCode::FORBIDDEN,
        "admin by counsellor"
    );
    let response = app
        .get(&report_path("referrals", &["counsellor"], None), &app.admin)
        .await;
    assert_eq!(
        response.status(),
        StatusCode::BAD_REQUEST,
        "no such dimension"
    );
    assert_eq!(
        app.snapshot_with_audit(),
        before,
        "a refused report records nothing"
    );
}

backend_test!(each_new_report_is_audited_with_its_parameters_and_no_people);
async fn each_new_report_is_audited_with_its_parameters_and_no_people(app: TestApp) {
    let s = seed(&app).await;
    let (from, to) = from_to();
    report(
        &app,
        &s.care.supervisor.token,
        "referrals",
        &["provider", "sex"],
    )
    .await;
    let admin_path = report_path("follow-ups", &["kind"], Some(&s.care.centre));
    csv(&app, &app.admin, &admin_path).await;
    use karvon::db::schema::{audit_event_subjects as subjects, audit_events as a};
    let events: Vec<(String, Option<String>, Option<String>)> = a::table
        .filter(a::action.like("report.%"))
        .order(a::id.asc())
        .select((a::action, a::entity_id, a::centre_id))
        .load(&mut app.db())
        .expect("audit");
    let centre = &s.care.centre;
    assert_eq!(
        events,
        vec![
            (
                "report.referrals".to_owned(),
                Some(format!(
                    "referrals?from={from}&to={to}&group_by=provider,sex&centre_id={centre}&format=json"
                )),
                Some(centre.clone())
            ),
            (
                "report.follow-ups".to_owned(),
                Some(format!(
                    "follow-ups?from={from}&to={to}&group_by=kind&centre_id={centre}&format=csv"
                )),
                Some(centre.clone())
            ),
        ]
    );
    let named: i64 = subjects::table
        .inner_join(a::table)
        .filter(a::action.like("report.%"))
        .count()
        .get_result(&mut app.db())
        .expect("subjects");
    assert_eq!(named, 0, "reports name nobody");
    assert_eq!(s.referrals.len(), REFS.len());
}

//! The consultations report: a known population is logged through the API, and every number of
//! the report is compared with one computed here from that population (not by the report's SQL).

mod common;

use std::collections::{BTreeMap, BTreeSet};

use chrono::{Datelike, NaiveDate};
use common::world::register;
use common::{expect, problem, Account, TestApp};
use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use reqwest::StatusCode;
use serde_json::{json, Value};

const FROM: &str = "2025-01-01";
const TO: &str = "2025-04-01";

/// A registered migrant of the population.
struct Person {
    sex: &'static str,
    date_of_birth: Option<&'static str>,
    birth_year: Option<i32>,
    migration_status: &'static str,
    destination: Option<&'static str>,
}

/// Who a consultation was with: a registered person (index), or someone anonymous with the
/// sex and age band they gave.
#[derive(Clone, Copy)]
enum With {
    Person(usize),
    Anonymous(&'static str, &'static str),
}

/// One consultation of the population: with whom, where (0: Dushanbe, 1: Khujand), by whom
/// (0: the counsellor, 1: the supervisor of that centre), when, how, about what.
struct Visit {
    with: With,
    centre: usize,
    by: usize,
    day: &'static str,
    channel: &'static str,
    topics: &'static [&'static str],
}

const PEOPLE: &[Person] = &[
    // Turns 18 on 2025-02-10: 0-17 the day before, 18-24 that day.
    Person {
        sex: "female",
        date_of_birth: Some("2007-02-10"),
        birth_year: None,
        migration_status: "prospective",
        destination: Some("RU"),
    },
    // Only a birth year: 35 in 2025.
    Person {
        sex: "male",
        date_of_birth: None,
        birth_year: Some(1990),
        migration_status: "returnee",
        destination: None,
    },
    Person {
        sex: "female",
        date_of_birth: Some("1999-06-01"),
        birth_year: None,
        migration_status: "current_abroad",
        destination: Some("KZ"),
    },
];

const MALE_ADULT: With = With::Anonymous("male", "25-34");
const GIRL: With = With::Anonymous("female", "0-17");

const VISITS: &[Visit] = &[
    visit(
        With::Person(0),
        0,
        "2025-02-09",
        "walk_in",
        &["labour_rights", "legal_documents"],
    ),
    visit(
        With::Person(0),
        1,
        "2025-02-10",
        "walk_in",
        &["labour_rights"],
    ),
    // Before the period: person 1 is not new in it.
    visit(
        With::Person(1),
        0,
        "2024-12-15",
        "phone",
        &["pre_departure"],
    ),
    visit(
        With::Person(1),
        1,
        "2025-01-20",
        "phone",
        &["pre_departure"],
    ),
    visit(With::Person(2), 0, "2025-01-05", "online", &["health"]),
    visit(
        With::Person(2),
        0,
        "2025-03-03",
        "online",
        &["health", "family"],
    ),
    // After the period: counted nowhere.
    visit(With::Person(2), 0, "2025-04-01", "online", &["health"]),
    visit(
        MALE_ADULT,
        0,
        "2025-01-06",
        "walk_in",
        &["employment_abroad"],
    ),
    visit(
        MALE_ADULT,
        0,
        "2025-01-07",
        "walk_in",
        &["employment_abroad", "remittances"],
    ),
    visit(MALE_ADULT, 1, "2025-01-08", "walk_in", &["remittances"]),
    visit(
        MALE_ADULT,
        0,
        "2025-02-11",
        "walk_in",
        &["employment_abroad"],
    ),
    visit(MALE_ADULT, 0, "2025-02-12", "walk_in", &["labour_rights"]),
    visit(MALE_ADULT, 1, "2025-03-13", "phone", &["employment_abroad"]),
    visit(MALE_ADULT, 0, "2025-03-14", "phone", &["employment_abroad"]),
    visit(MALE_ADULT, 0, "2025-03-15", "phone", &["health"]),
    visit(MALE_ADULT, 0, "2025-03-16", "phone", &["remittances"]),
    visit(MALE_ADULT, 0, "2025-03-17", "phone", &["other"]),
    visit(GIRL, 1, "2025-03-18", "phone", &["education"]),
];

/// In Khujand, whose name a spreadsheet would run as a formula.
const KHUJAND_VISITS: &[Visit] = &[
    Visit {
        with: MALE_ADULT,
        centre: 1,
        by: 0,
        day: "2025-02-20",
        channel: "outreach",
        topics: &["other"],
    },
    Visit {
        with: GIRL,
        centre: 1,
        by: 0,
        day: "2025-02-21",
        channel: "outreach",
        topics: &["other"],
    },
];

const fn visit(
    with: With,
    by: usize,
    day: &'static str,
    channel: &'static str,
    topics: &'static [&'static str],
) -> Visit {
    Visit {
        with,
        centre: 0,
        by,
        day,
        channel,
        topics,
    }
}

/// The population as stored: centres and staff.
struct Seeded {
    centres: [String; 2],
    /// Per centre: counsellor, supervisor.
    staff: [[Account; 2]; 2],
    /// [`PEOPLE`]' ids, in order.
    migrants: Vec<String>,
}

fn day(text: &str) -> NaiveDate {
    NaiveDate::parse_from_str(text, "%Y-%m-%d").expect("date")
}

async fn seed(app: &TestApp) -> Seeded {
    let centres = [
        app.create_centre("Dushanbe").await,
        app.create_centre("=HYPERLINK(\"http://evil\")").await,
    ];
    let staff = [
        [
            app.create_staff("counsellor", "counsellor", Some(&centres[0]))
                .await,
            app.create_staff("supervisor", "supervisor", Some(&centres[0]))
                .await,
        ],
        [
            app.create_staff("k-counsellor", "counsellor", Some(&centres[1]))
                .await,
            app.create_staff("k-supervisor", "supervisor", Some(&centres[1]))
                .await,
        ],
    ];
    let migrants = register_people(app, &staff[0][0].token).await;
    for v in VISITS.iter().chain(KHUJAND_VISITS) {
        let mut body = json!({
            "occurred_at": format!("{}T10:00:00Z", v.day),
            "channel": v.channel,
            "duration_minutes": 20,
            "topics": v.topics,
            "language": "tg",
            "notes": "Counselled",
        });
        match v.with {
            With::Person(i) => body["migrant_id"] = json!(migrants[i]),
            With::Anonymous(sex, band) => {
                body["anonymous"] = json!({"sex": sex, "age_band": band, "nationality": "TJ",
                    "migration_status": "prospective"});
            }
        }
        let token = &staff[v.centre][v.by].token;
        let response = app.post("/api/v1/consultations", token, body).await;
        expect(response, StatusCode::CREATED, "log consultation").await;
    }
    Seeded {
        centres,
        staff,
        migrants,
    }
}

/// Registers [`PEOPLE`] in Dushanbe; their ids, in order.
async fn register_people(app: &TestApp, token: &str) -> Vec<String> {
    let mut migrants = Vec::new();
    for (i, person) in PEOPLE.iter().enumerate() {
        let mut body = json!({
            "given_name": format!("Person{i}"),
            "family_name": "Rahimova",
            "sex": person.sex,
            "nationality": "TJ",
            "migration_status": person.migration_status,
            "vulnerabilities": [],
            "consent": {"services": true, "referral_sharing": true, "statistics": true},
        });
        if let Some(born) = person.date_of_birth {
            body["date_of_birth"] = json!(born);
        }
        if let Some(year) = person.birth_year {
            body["birth_year"] = json!(year);
        }
        if let Some(destination) = person.destination {
            body["destination_country"] = json!(destination);
        }
        let record = register(app, token, body).await;
        migrants.push(record["id"].as_str().expect("id").to_owned());
    }
    migrants
}

/// Age band at `on`, computed from the calendar (a birthday reached on its day).
fn band_at(person: &Person, on: NaiveDate) -> Option<&'static str> {
    let age = match (person.date_of_birth, person.birth_year) {
        (Some(born), _) => {
            let born = day(born);
            let before_birthday = (on.month(), on.day()) < (born.month(), born.day());
            on.year() - born.year() - i32::from(before_birthday)
        }
        (None, Some(year)) => on.year() - year,
        (None, None) => return None,
    };
    Some(match age {
        ..=17 => "0-17",
        18..=24 => "18-24",
        25..=34 => "25-34",
        35..=49 => "35-49",
        _ => "50+",
    })
}

/// A dimension's value for a consultation (for `topic`, the topic given).
fn value(s: &Seeded, v: &Visit, dim: &str, topic: &str) -> Value {
    let on = day(v.day);
    let person = match v.with {
        With::Person(i) => Some(&PEOPLE[i]),
        With::Anonymous(..) => None,
    };
    match (dim, v.with) {
        ("month", _) => json!(&v.day[..7]),
        ("week", _) => json!(format!(
            "{}-W{:02}",
            on.iso_week().year(),
            on.iso_week().week()
        )),
        ("centre", _) => json!(s.centres[v.centre]),
        ("counsellor", _) => json!(s.staff[v.centre][v.by].id),
        ("channel", _) => json!(v.channel),
        ("topic", _) => json!(topic),
        ("nationality", _) => json!("TJ"),
        ("sex", With::Anonymous(sex, _)) => json!(sex),
        ("age_band", With::Anonymous(_, band)) => json!(band),
        ("migration_status", With::Anonymous(..)) => json!("prospective"),
        ("destination_country", With::Anonymous(..)) => Value::Null,
        ("sex", _) => json!(person.map(|p| p.sex)),
        ("age_band", _) => json!(person.and_then(|p| band_at(p, on))),
        ("migration_status", _) => json!(person.map(|p| p.migration_status)),
        ("destination_country", _) => json!(person.and_then(|p| p.destination)),
        _ => panic!("unknown dimension {dim}"),
    }
}

/// A row's dimension values, `None` where not recorded.
type Key = Vec<Option<String>>;

fn text(value: Value) -> Option<String> {
    value.as_str().map(str::to_owned)
}

fn key(values: &[&str]) -> Key {
    values.iter().map(|v| Some((*v).to_owned())).collect()
}

/// consultations, people (registered, by index), anonymous people, new registered people.
#[derive(Default)]
struct Tally {
    consultations: i64,
    people: BTreeSet<usize>,
    anonymous: i64,
    new: BTreeSet<usize>,
}

impl Tally {
    fn numbers(&self) -> [i64; 3] {
        let people = self.people.len() as i64 + self.anonymous;
        let new = self.new.len() as i64 + self.anonymous;
        [self.consultations, people, new]
    }
}

/// Whether the visit's person is new in a row: first consulted ever in the period, and in the
/// row's month or week when the report is broken down by one.
fn is_new(s: &Seeded, v: &Visit, dims: &[&str], person: usize) -> bool {
    let first = VISITS
        .iter()
        .chain(KHUJAND_VISITS)
        .filter(|other| matches!(other.with, With::Person(p) if p == person))
        .min_by_key(|other| other.day)
        .expect("first visit");
    first.day >= FROM
        && ["month", "week"]
            .iter()
            .filter(|d| dims.contains(d))
            .all(|d| value(s, first, d, "") == value(s, v, d, ""))
}

/// The report computed from the population: rows keyed by their dimension values, and the total.
fn expected(
    s: &Seeded,
    dims: &[&str],
    centre: Option<usize>,
) -> (BTreeMap<Key, [i64; 3]>, [i64; 3]) {
    let mut rows: BTreeMap<Key, Tally> = BTreeMap::new();
    let mut total = Tally::default();
    let in_scope = VISITS
        .iter()
        .chain(KHUJAND_VISITS)
        .filter(|v| (FROM..TO).contains(&v.day) && centre.is_none_or(|c| c == v.centre));
    for v in in_scope {
        let topics: Vec<&str> = if dims.contains(&"topic") {
            v.topics.to_vec()
        } else {
            vec![""]
        };
        for topic in &topics {
            let key: Key = dims.iter().map(|d| text(value(s, v, d, topic))).collect();
            count(rows.entry(key).or_default(), s, v, dims);
        }
        count(&mut total, s, v, &[]);
    }
    let rows = rows.into_iter().map(|(k, t)| (k, t.numbers())).collect();
    (rows, total.numbers())
}

fn count(tally: &mut Tally, s: &Seeded, v: &Visit, dims: &[&str]) {
    tally.consultations += 1;
    match v.with {
        With::Person(p) => {
            tally.people.insert(p);
            if is_new(s, v, dims, p) {
                tally.new.insert(p);
            }
        }
        With::Anonymous(..) => tally.anonymous += 1,
    }
}

fn path(dims: &[&str], centre: Option<&str>) -> String {
    let mut path = format!(
        "/api/v1/reports/consultations?from={FROM}&to={TO}&group_by={}",
        dims.join(",")
    );
    if let Some(centre) = centre {
        path.push_str(&format!("&centre_id={centre}"));
    }
    path
}

async fn report(app: &TestApp, token: &str, dims: &[&str], centre: Option<&str>) -> Value {
    let response = app.get(&path(dims, centre), token).await;
    expect(response, StatusCode::OK, "report").await
}

fn numbers(cell: &Value) -> [i64; 3] {
    ["consultations", "people", "new_people"].map(|n| cell[n].as_i64().expect(n))
}

/// The report's rows keyed like [`expected`]'s.
fn rows_of(body: &Value, dims: &[&str]) -> BTreeMap<Key, [i64; 3]> {
    body["rows"]
        .as_array()
        .expect("rows")
        .iter()
        .map(|row| {
            (
                dims.iter().map(|d| text(row[*d].clone())).collect(),
                numbers(row),
            )
        })
        .collect()
}

const GROUPINGS: &[&[&str]] = &[
    &["month"],
    &["week"],
    &["topic"],
    &["age_band"],
    &["channel", "sex"],
    &["counsellor"],
    &["destination_country", "nationality"],
    &["migration_status", "month", "topic"],
];

backend_test!(a_supervisors_report_counts_exactly_what_the_centre_recorded);
async fn a_supervisors_report_counts_exactly_what_the_centre_recorded(app: TestApp) {
    let s = seed(&app).await;
    let supervisor = &s.staff[0][1].token;
    for dims in GROUPINGS {
        let body = report(&app, supervisor, dims, None).await;
        let (rows, total) = expected(&s, dims, Some(0));
        assert_eq!(rows_of(&body, dims), rows, "{dims:?} on {:?}", app.backend);
        assert_eq!(numbers(&body["total"]), total, "{dims:?} total");
        assert_eq!(body["disclosure_control"], false);
        assert_eq!(
            body["rows"].as_array().unwrap().len(),
            rows.len(),
            "{dims:?}"
        );
    }
    // 16 consultations in the period, with 3 registered people and 11 anonymous ones; of
    // the registered, person 1 was first seen in December, before the period.
    let body = report(&app, supervisor, &["month"], None).await;
    assert_eq!(numbers(&body["total"]), [16, 14, 13]);
}

backend_test!(moving_a_first_consultation_in_time_changes_who_is_new);
async fn moving_a_first_consultation_in_time_changes_who_is_new(app: TestApp) {
    let s = seed(&app).await;
    let supervisor = &s.staff[0][1].token;
    let list = app.get("/api/v1/consultations?limit=200", supervisor).await;
    let list = expect(list, StatusCode::OK, "consultations").await;
    let december = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["occurred_at"].as_str().unwrap().starts_with("2024-12"))
        .expect("person 1's first consultation, before the period");
    let path = format!("/api/v1/consultations/{}", common::id(december));
    for (when, total) in [
        ("2025-01-05T10:00:00Z", [17, 14, 14]),
        ("2024-12-20T10:00:00Z", [16, 14, 13]),
    ] {
        let etag = app.etag(&path, supervisor).await;
        let body = json!({ "occurred_at": when });
        let moved = app.patch(&path, supervisor, &etag, body).await;
        expect(moved, StatusCode::OK, "move the consultation").await;
        let report = report(&app, supervisor, &["month"], None).await;
        assert_eq!(numbers(&report["total"]), total, "first consulted {when}");
    }
}

/// The report's numbers for the row with these dimension values, if there is one.
fn row(body: &Value, dims: &[&str], values: &[&str]) -> Option<[i64; 3]> {
    rows_of(body, dims).get(&key(values)).copied()
}

async fn patch(app: &TestApp, token: &str, path: &str, body: Value) {
    let etag = app.etag(path, token).await;
    let response = app.patch(path, token, &etag, body).await;
    expect(response, StatusCode::OK, "patch").await;
}

backend_test!(the_report_follows_every_change_to_a_person_or_a_consultation);
async fn the_report_follows_every_change_to_a_person_or_a_consultation(app: TestApp) {
    let s = seed(&app).await;
    let sup = &s.staff[0][1].token;
    let person = format!("/api/v1/migrants/{}", s.migrants[2]);
    let who = ["sex", "migration_status", "destination_country"];
    let before = report(&app, sup, &who, None).await;
    assert_eq!(
        row(&before, &who, &["female", "current_abroad", "KZ"]),
        Some([2, 1, 1])
    );
    let ages = report(&app, sup, &["age_band"], None).await;
    let changed = json!({"sex": "male", "migration_status": "returnee",
        "destination_country": "TR", "date_of_birth": "2010-01-01"});
    patch(&app, sup, &person, changed).await;
    let after = report(&app, sup, &who, None).await;
    assert_eq!(row(&after, &who, &["female", "current_abroad", "KZ"]), None);
    assert_eq!(
        row(&after, &who, &["male", "returnee", "TR"]),
        Some([2, 1, 1])
    );
    let ages_after = report(&app, sup, &["age_band"], None).await;
    let consultations = |body: &Value, band| row(body, &["age_band"], &[band]).map_or(0, |n| n[0]);
    assert_eq!(
        consultations(&ages_after, "0-17"),
        consultations(&ages, "0-17") + 2
    );
    assert_eq!(
        consultations(&ages_after, "25-34"),
        consultations(&ages, "25-34") - 2
    );
    for (consents, left_out, shown) in [(false, 2, None), (true, 0, Some([2, 1, 1]))] {
        patch(
            &app,
            sup,
            &person,
            json!({"consent": {"statistics": consents}}),
        )
        .await;
        let body = report(&app, sup, &who, None).await;
        assert_eq!(body["not_disaggregated"], left_out, "consents: {consents}");
        assert_eq!(row(&body, &who, &["male", "returnee", "TR"]), shown);
    }
    let how = ["channel", "topic"];
    let before = report(&app, sup, &how, None).await;
    let list = app.get("/api/v1/consultations?limit=200", sup).await;
    let list = expect(list, StatusCode::OK, "consultations").await;
    let february = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["occurred_at"].as_str().unwrap().starts_with("2025-02-10"))
        .expect("person 0's walk-in about labour rights");
    let path = format!("/api/v1/consultations/{}", common::id(february));
    patch(
        &app,
        sup,
        &path,
        json!({"channel": "phone", "topics": ["health"]}),
    )
    .await;
    let after = report(&app, sup, &how, None).await;
    let count = |body: &Value, values: &[&str]| row(body, &how, values).map_or(0, |n| n[0]);
    assert_eq!(
        count(&after, &["walk_in", "labour_rights"]),
        count(&before, &["walk_in", "labour_rights"]) - 1
    );
    assert_eq!(
        count(&after, &["phone", "health"]),
        count(&before, &["phone", "health"]) + 1
    );
}

#[derive(QueryableByName)]
struct Fact {
    #[diesel(sql_type = diesel::sql_types::Text)]
    line: String,
}

/// Every stored report fact as one line of text, in a stable order.
fn stored_facts(conn: &mut karvon::db::DbConnection) -> Vec<String> {
    let columns = [
        "consultation_id",
        "occurred_at",
        "centre_id",
        "counsellor_id",
        "channel",
        "migrant_id",
        "sex",
        "nationality",
        "migration_status",
        "destination_country",
        "age_band",
        "topics",
        "counted",
        "first_consulted_at",
        "previous_at",
        "band_changed",
    ];
    let line: Vec<String> = columns
        .iter()
        .map(|c| format!("COALESCE(CAST({c} AS TEXT), '-')"))
        .collect();
    let query = format!(
        "SELECT {} AS line FROM consultation_facts ORDER BY 1",
        line.join(" || '|' || ")
    );
    let facts: Vec<Fact> = diesel::sql_query(query).load(conn).expect("facts");
    facts.into_iter().map(|f| f.line).collect()
}

backend_test!(the_migration_fills_the_facts_as_the_writes_do);
/// A database upgraded with consultations already in it gets, from the migration, the very
/// facts the writes would have kept.
async fn the_migration_fills_the_facts_as_the_writes_do(app: TestApp) {
    let s = seed(&app).await;
    let person = format!("/api/v1/migrants/{}", s.migrants[0]);
    patch(&app, &s.staff[0][1].token, &person, json!({"sex": "male"})).await;
    let mut conn = app.db();
    let written = stored_facts(&mut conn);
    assert_eq!(written.len(), VISITS.len() + KHUJAND_VISITS.len());
    assert_eq!(facts_from_scratch(&app, &mut conn), written);
}

/// The facts the migration computes from the consultations as stored (it replaces the stored
/// ones): what every write must leave.
fn facts_from_scratch(app: &TestApp, conn: &mut karvon::db::DbConnection) -> Vec<String> {
    let backend = match app.backend {
        common::Backend::Postgres => "postgres",
        common::Backend::Sqlite => "sqlite",
    };
    let migration = format!(
        "{}/migrations/{backend}/2026-11-30-040000_consultation_facts/up.sql",
        env!("CARGO_MANIFEST_DIR")
    );
    let up = std::fs::read_to_string(migration).expect("the migration");
    let fill = &up[up
        .find("INSERT INTO")
        .expect("the migration fills the facts")..];
    diesel::sql_query("DELETE FROM consultation_facts")
        .execute(conn)
        .expect("empty the facts");
    diesel::sql_query(fill.trim().trim_end_matches(';'))
        .execute(conn)
        .expect("fill them as the migration does");
    stored_facts(conn)
}

/// The people whose stored first consultation is not the earliest of their consultations: what
/// tells new people from returning ones in every report.
fn people_with_a_wrong_first_consultation(conn: &mut karvon::db::DbConnection) -> Vec<String> {
    #[derive(QueryableByName)]
    struct Person {
        #[diesel(sql_type = diesel::sql_types::Text)]
        id: String,
    }
    let wrong: Vec<Person> = diesel::sql_query(
        "SELECT m.id FROM migrants m WHERE m.first_consulted_at IS DISTINCT FROM \
         (SELECT MIN(c.occurred_at) FROM consultations c WHERE c.migrant_id = m.id)",
    )
    .load(conn)
    .expect("first consultations");
    wrong.into_iter().map(|p| p.id).collect()
}

/// A counsellor of a new centre, and a person they registered who turns 18 on 1 March 2025.
async fn counsellor_and_teenager(app: &TestApp) -> (Account, String) {
    let centre = app.create_centre("Dushanbe").await;
    let counsellor = app
        .create_staff("counsellor", "counsellor", Some(&centre))
        .await;
    let person = json!({"given_name": "Nigora", "family_name": "Saidova", "sex": "female",
        "nationality": "TJ", "migration_status": "prospective", "vulnerabilities": [],
        "date_of_birth": "2007-03-01",
        "consent": {"services": true, "referral_sharing": true, "statistics": true}});
    let response = app
        .post("/api/v1/migrants", &counsellor.token, person)
        .await;
    let migrant = common::id(&expect(response, StatusCode::CREATED, "register").await);
    (counsellor, migrant)
}

backend_test!(walk_ins_logged_as_they_happen_keep_the_facts_true);
/// Each walk-in logged after all of a person's others: its facts name the one before it and
/// whether the age band changed since, also for two at the same moment.
async fn walk_ins_logged_as_they_happen_keep_the_facts_true(app: TestApp) {
    let (counsellor, migrant) = counsellor_and_teenager(&app).await;
    let token = &counsellor.token;
    // The band changes between the first two.
    for at in [
        "2025-02-20T10:00:00Z",
        "2025-03-10T10:00:00Z",
        "2025-03-10T10:00:00Z",
        "2025-04-01T09:30:00Z",
    ] {
        let body = json!({"migrant_id": migrant, "occurred_at": at, "channel": "walk_in",
            "duration_minutes": 15, "topics": ["pre_departure", "health"], "language": "tg",
            "notes": "Counselled"});
        let response = app.post("/api/v1/consultations", token, body).await;
        expect(response, StatusCode::CREATED, "log").await;
    }
    let mut conn = app.db();
    let written = stored_facts(&mut conn);
    assert_eq!(written.len(), 4);
    let band_changes = written.iter().filter(|line| line.ends_with("|1")).count();
    assert_eq!(band_changes, 1, "only the first after her birthday");
    assert_eq!(people_with_a_wrong_first_consultation(&mut conn), [""; 0]);
    assert_eq!(facts_from_scratch(&app, &mut conn), written);
}

backend_test!(consultations_logged_out_of_order_leave_the_facts_of_their_neighbours_true);
/// A consultation logged late, between two others, changes the facts of the one after it (its
/// previous consultation, whether the age band changed since); one logged before all others
/// changes every one's first consultation; a move changes its old and new neighbours'.
async fn consultations_logged_out_of_order_leave_the_facts_of_their_neighbours_true(app: TestApp) {
    let (counsellor, migrant) = counsellor_and_teenager(&app).await;
    let token = &counsellor.token;
    let log = |at: &'static str| {
        let body = json!({"migrant_id": migrant, "occurred_at": at, "channel": "walk_in",
            "duration_minutes": 15, "topics": ["pre_departure"], "language": "tg",
            "notes": "Counselled"});
        async {
            common::id(
                &expect(
                    app.post("/api/v1/consultations", token, body).await,
                    StatusCode::CREATED,
                    "log",
                )
                .await,
            )
        }
    };
    // Her 18th birthday is on 1 March 2025: the band changes between February and March.
    let mut logged = vec![
        log("2025-03-10T10:00:00Z").await,
        log("2025-02-20T10:00:00Z").await,
        log("2025-03-20T10:00:00Z").await,
    ];
    let path = |id: &str| format!("/api/v1/consultations/{id}");
    patch(
        &app,
        token,
        &path(&logged[0]),
        json!({"occurred_at": "2025-02-25T10:00:00Z"}),
    )
    .await;
    // Between February and 20 March, then at the same moment again.
    logged.push(log("2025-03-05T10:00:00Z").await);
    logged.push(log("2025-03-05T10:00:00Z").await);
    patch(
        &app,
        token,
        &path(&logged[3]),
        json!({"topics": ["health"]}),
    )
    .await;
    let mut conn = app.db();
    let written = stored_facts(&mut conn);
    assert_eq!(written.len(), logged.len());
    assert_eq!(people_with_a_wrong_first_consultation(&mut conn), [""; 0]);
    assert_eq!(facts_from_scratch(&app, &mut conn), written);
}

backend_test!(multi_topic_consultations_count_in_each_topic_and_once_in_the_total);
async fn multi_topic_consultations_count_in_each_topic_and_once_in_the_total(app: TestApp) {
    let s = seed(&app).await;
    let body = report(&app, &s.staff[0][1].token, &["topic"], None).await;
    let rows = rows_of(&body, &["topic"]);
    let in_topic_rows: i64 = rows.values().map(|n| n[0]).sum();
    assert_eq!(body["total"]["consultations"], 16);
    assert_eq!(in_topic_rows, 16 + 3, "three consultations have two topics");
    // Person 0's two February consultations were both on labour rights.
    assert_eq!(rows[&key(&["labour_rights"])], [3, 2, 2]);
}

backend_test!(the_age_band_is_taken_at_each_consultations_date);
async fn the_age_band_is_taken_at_each_consultations_date(app: TestApp) {
    let s = seed(&app).await;
    let dims = ["age_band", "month"];
    let body = report(&app, &s.staff[0][1].token, &dims, None).await;
    let rows = rows_of(&body, &dims);
    // The day before her 18th birthday, and on it.
    assert_eq!(rows[&key(&["0-17", "2025-02"])], [1, 1, 1]);
    assert_eq!(rows[&key(&["18-24", "2025-02"])], [1, 1, 1]);
    // Only a birth year (1990): 35 in 2025.
    assert_eq!(rows[&key(&["35-49", "2025-01"])], [1, 1, 0]);
}

backend_test!(admins_see_small_cells_suppressed_and_the_next_smallest_with_them);
async fn admins_see_small_cells_suppressed_and_the_next_smallest_with_them(app: TestApp) {
    let s = seed(&app).await;
    let body = report(&app, &app.admin, &["channel"], None).await;
    assert_eq!(body["disclosure_control"], true);
    assert_eq!(body["centre_id"], Value::Null);
    let (rows, total) = expected(&s, &["channel"], None);
    // Online (1 person) and outreach (2) are suppressed by their size: two hidden cells,
    // so the others stay shown.
    assert_eq!(rows[&key(&["online"])][1], 1);
    assert_eq!(rows[&key(&["outreach"])][1], 2);
    let by_channel: BTreeMap<String, Value> = body["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["channel"].as_str().unwrap().to_owned(), r.clone()))
        .collect();
    for small in ["online", "outreach"] {
        assert_eq!(by_channel[small]["suppressed"], true, "{small}");
        assert_eq!(by_channel[small]["people"], Value::Null);
        assert_eq!(by_channel[small]["consultations"], Value::Null);
        assert_eq!(by_channel[small]["new_people"], Value::Null);
    }
    for shown in ["walk_in", "phone"] {
        assert_eq!(by_channel[shown]["suppressed"], false, "{shown}");
        assert_eq!(numbers(&by_channel[shown]), rows[&key(&[shown])], "{shown}");
    }
    assert_eq!(numbers(&body["total"]), total);

    // The supervisor of Dushanbe sees every number of the same report there.
    let (rows, _) = expected(&s, &["channel"], Some(0));
    let body = report(&app, &s.staff[0][1].token, &["channel"], None).await;
    assert!(body["rows"]
        .as_array()
        .unwrap()
        .iter()
        .all(|r| r["suppressed"] == false && r["people"].is_i64()));
    assert_eq!(rows_of(&body, &["channel"]), rows);
}

backend_test!(one_small_cell_under_a_shown_total_takes_the_next_smallest_with_it);
async fn one_small_cell_under_a_shown_total_takes_the_next_smallest_with_it(app: TestApp) {
    let s = seed(&app).await;
    // In Dushanbe only online (1 person) is small.
    let body = report(&app, &app.admin, &["channel"], Some(&s.centres[0])).await;
    let (rows, _) = expected(&s, &["channel"], Some(0));
    let suppressed: BTreeSet<&str> = body["rows"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["suppressed"] == true)
        .map(|r| r["channel"].as_str().unwrap())
        .collect();
    let smallest_shown_before = rows
        .iter()
        .filter(|(k, n)| n[1] >= 5 && k[0].as_deref() != Some("online"))
        .min_by_key(|(_, n)| (n[1], n[0]))
        .map(|(k, _)| k[0].clone().unwrap())
        .unwrap();
    // walk_in: 6 people; phone: 7.
    assert_eq!(smallest_shown_before, "walk_in");
    assert_eq!(
        suppressed,
        BTreeSet::from(["online", smallest_shown_before.as_str()])
    );
    assert_eq!(body["total"]["suppressed"], false);
}

async fn csv(app: &TestApp, token: &str, dims: &[&str], centre: Option<&str>) -> (String, String) {
    let response = app
        .client
        .get(app.url(&path(dims, centre)))
        .bearer_auth(token)
        .header("accept", "text/csv")
        .send()
        .await
        .expect("csv");
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        response.headers()["content-type"],
        "text/csv; charset=utf-8"
    );
    let disposition = response.headers()["content-disposition"]
        .to_str()
        .unwrap()
        .to_owned();
    (disposition, response.text().await.expect("text"))
}

/// The CSV's records (header first), without the byte-order mark it must start with.
fn records(text: &str) -> Vec<Vec<String>> {
    let body = text.strip_prefix('\u{feff}').expect("UTF-8 BOM");
    csv::ReaderBuilder::new()
        .has_headers(false)
        .from_reader(body.as_bytes())
        .records()
        .map(|r| r.expect("record").iter().map(str::to_owned).collect())
        .collect()
}

/// A JSON cell as the CSV writes it.
fn as_cell(value: &Value) -> String {
    match value {
        Value::Null => String::new(),
        Value::String(text) => text.clone(),
        other => other.to_string(),
    }
}

backend_test!(the_csv_holds_the_same_rows_and_suppression_as_the_json);
async fn the_csv_holds_the_same_rows_and_suppression_as_the_json(app: TestApp) {
    let s = seed(&app).await;
    let cases: [(&str, &[&str]); 3] = [
        (s.staff[0][1].token.as_str(), &["month", "sex"]),
        (app.admin.as_str(), &["channel"]),
        (app.admin.as_str(), &["age_band", "topic"]),
    ];
    for (token, dims) in cases {
        let json = report(&app, token, dims, None).await;
        let (disposition, text) = csv(&app, token, dims, None).await;
        assert_eq!(
            disposition,
            format!("attachment; filename=\"consultations-{FROM}-{TO}.csv\"")
        );
        let records = records(&text);
        let mut header: Vec<&str> = dims.to_vec();
        header.extend(["consultations", "people", "new_people", "suppressed"]);
        assert_eq!(records[0], header);
        let rows = json["rows"].as_array().unwrap();
        assert_eq!(records.len(), rows.len() + 2, "header, rows, total");
        for (record, row) in records[1..].iter().zip(rows) {
            let cells: Vec<String> = header.iter().map(|c| as_cell(&row[*c])).collect();
            assert_eq!(record, &cells);
        }
        let last = records.last().unwrap();
        assert!(last[..dims.len()].iter().all(|cell| cell == "total"));
        let total: Vec<String> = header[dims.len()..]
            .iter()
            .map(|c| as_cell(&json["total"][*c]))
            .collect();
        assert_eq!(last[dims.len()..], total[..]);
    }
}

backend_test!(csv_cells_a_spreadsheet_would_run_as_formulas_are_neutralised);
async fn csv_cells_a_spreadsheet_would_run_as_formulas_are_neutralised(app: TestApp) {
    let s = seed(&app).await;
    let (_, text) = csv(&app, &app.admin, &["centre"], None).await;
    let records = records(&text);
    assert_eq!(records[0][..2], ["centre", "centre_name"]);
    let khujand = records
        .iter()
        .find(|r| r[0] == s.centres[1])
        .expect("Khujand row");
    assert_eq!(khujand[1], "'=HYPERLINK(\"http://evil\")");
    assert!(records
        .iter()
        .flatten()
        .all(|cell| !cell.starts_with(['=', '+', '-', '@', '\t', '\r'])));
    // The JSON keeps the name as it was typed.
    let json = report(&app, &app.admin, &["centre"], None).await;
    assert!(json["rows"]
        .as_array()
        .unwrap()
        .iter()
        .any(|r| r["centre_name"] == "=HYPERLINK(\"http://evil\")"));
}

fn report_events(app: &TestApp) -> Vec<(String, Option<String>, Option<String>)> {
    use karvon::db::schema::audit_events as a;
    let mut conn = app.db();
    a::table
        .filter(a::action.eq("report.consultations"))
        .order(a::id.asc())
        .select((a::actor_id.assume_not_null(), a::entity_id, a::centre_id))
        .load(&mut conn)
        .expect("audit")
}

backend_test!(each_report_is_audited_with_its_parameters_and_no_people);
async fn each_report_is_audited_with_its_parameters_and_no_people(app: TestApp) {
    let s = seed(&app).await;
    let supervisor = &s.staff[0][1];
    report(&app, &supervisor.token, &["month", "sex"], None).await;
    csv(&app, &app.admin, &["channel"], Some(&s.centres[1])).await;
    let events = report_events(&app);
    assert_eq!(events.len(), 2);
    assert_eq!(events[0].0, supervisor.id);
    assert_eq!(
        events[0].1.as_deref(),
        Some(
            format!(
                "consultations?from={FROM}&to={TO}&group_by=month,sex&centre_id={}\
                 &format=json",
                s.centres[0]
            )
            .as_str()
        )
    );
    assert_eq!(events[0].2.as_deref(), Some(s.centres[0].as_str()));
    assert!(events[1].1.as_deref().unwrap().ends_with("&format=csv"));
    assert_eq!(events[1].2.as_deref(), Some(s.centres[1].as_str()));
    use karvon::db::schema::{audit_event_subjects as subjects, audit_events as a};
    let named: i64 = subjects::table
        .inner_join(a::table)
        .filter(a::action.eq("report.consultations"))
        .count()
        .get_result(&mut app.db())
        .expect("subjects");
    assert_eq!(named, 0, "reports name nobody");
}

backend_test!(reports_are_refused_outside_the_callers_scope);
async fn reports_are_refused_outside_the_callers_scope(app: TestApp) {
    let s = seed(&app).await;
    let before = report_events(&app).len();
    let counsellor = app.get(&path(&["month"], None), &s.staff[0][0].token).await;
    assert_eq!(counsellor.status(), StatusCode::FORBIDDEN);
    let other_centre = app
        .get(&path(&["month"], Some(&s.centres[1])), &s.staff[0][1].token)
        .await;
    assert_eq!(other_centre.status(), StatusCode::FORBIDDEN);
    let by_counsellor = app.get(&path(&["counsellor"], None), &app.admin).await;
    assert_eq!(by_counsellor.status(), StatusCode::FORBIDDEN);
    let unknown_centre = app
        .get(&path(&["month"], Some("no-such-centre")), &app.admin)
        .await;
    assert_eq!(unknown_centre.status(), StatusCode::NOT_FOUND);
    assert_eq!(problem(unknown_centre).await["status"], 404);
    // Naming their own centre is allowed.
    report(&app, &s.staff[0][1].token, &["month"], Some(&s.centres[0])).await;
    assert_eq!(
        report_events(&app).len(),
        before + 1,
        "refusals record nothing"
    );
}

backend_test!(bad_parameters_answer_400_naming_the_field);
async fn bad_parameters_answer_400_naming_the_field(app: TestApp) {
    let s = seed(&app).await;
    let token = &s.staff[0][1].token;
    let base = "/api/v1/reports/consultations";
    for (query, field) in [
        (
            "from=2025-01-01&to=2025-02-01&group_by=month,colour",
            "group_by",
        ),
        (
            "from=2025-01-01&to=2025-02-01&group_by=month,sex,topic,channel",
            "group_by",
        ),
        (
            "from=2025-01-01&to=2025-02-01&group_by=month,month",
            "group_by",
        ),
        ("from=2025-01-01&to=2025-02-01&group_by=", "group_by"),
        ("from=2025-01-01&to=2025-02-01", "group_by"),
        ("to=2025-02-01&group_by=month", "from"),
        ("from=2025-02-01&to=2025-02-01&group_by=month", "to"),
        ("from=2020-01-01&to=2025-01-02&group_by=month", "to"),
        ("from=yesterday&to=2025-02-01&group_by=month", "from"),
        (
            "from=2025-01-01T00:00:00Z&to=2025-02-01&group_by=month",
            "from",
        ),
    ] {
        let response = app.get(&format!("{base}?{query}"), token).await;
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{query}");
        let body = problem(response).await;
        assert_eq!(body["errors"][0]["field"], field, "{query}: {body}");
    }
    // Exactly five years is allowed.
    let five_years = app
        .get(
            &format!("{base}?from=2020-01-01&to=2025-01-01&group_by=month"),
            token,
        )
        .await;
    assert_eq!(five_years.status(), StatusCode::OK);
}

postgres_test!(reports_take_turns_and_leave_connections_for_the_desk);
/// Reports hold a connection for seconds. With every report stuck (here behind a lock on the
/// facts they read), a counsellor's requests still get a connection, only a quarter of the pool
/// is held by reports, and every report answers once the lock goes.
async fn reports_take_turns_and_leave_connections_for_the_desk(_admin_url: String) {
    let quick_checkout = |config: &mut karvon::config::ServeConfig| {
        config.database.database_checkout_timeout_secs = 1;
    };
    common::run_on(
        common::Backend::Postgres,
        quick_checkout,
        |app| async move {
            let centre = app.create_centre("Dushanbe").await;
            let supervisor = app
                .create_staff("supervisor", "supervisor", Some(&centre))
                .await;
            let counsellor = app
                .create_staff("counsellor", "counsellor", Some(&centre))
                .await;
            let mut holder = app.db();
            holder
                .batch_execute("BEGIN; LOCK TABLE consultation_facts IN ACCESS EXCLUSIVE MODE")
                .expect("lock the facts");
            let url = format!("{}{}", app.address, path(&["month"], None));
            let reports: Vec<_> = (0..6)
                .map(|_| {
                    let request = app.client.get(&url).bearer_auth(&supervisor.token);
                    tokio::spawn(async move { request.send().await.expect("report").status() })
                })
                .collect();
            let mut watcher = app.db();
            for _ in 0..100 {
                if reports_waiting(&mut watcher) > 0 {
                    break;
                }
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            }
            for _ in 0..3 {
                let response = app.get("/api/v1/me", &counsellor.token).await;
                expect(response, StatusCode::OK, "the desk while reports wait").await;
            }
            // The test pool has 4 connections: one report at a time.
            assert_eq!(reports_waiting(&mut watcher), 1);
            holder.batch_execute("COMMIT").expect("unlock the facts");
            for report in reports {
                assert_eq!(report.await.expect("report task"), StatusCode::OK);
            }
        },
    )
    .await;
}

/// Connections of this database waiting for a lock (reports, behind the test's).
fn reports_waiting(conn: &mut karvon::db::DbConnection) -> i64 {
    diesel::select(diesel::dsl::sql::<diesel::sql_types::BigInt>(
        "(SELECT count(*) FROM pg_stat_activity \
         WHERE datname = current_database() AND wait_event_type = 'Lock')",
    ))
    .get_result(conn)
    .expect("pg_stat_activity")
}

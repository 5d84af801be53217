//! Migrants: validation, cross-script search, duplicates, consent history, optimistic
//! concurrency, access log and audit.

mod common;

use chrono::{Datelike, Duration};
use common::world::{migrant_body, open_case, register, World};
use common::{error_fields, etag, expect, id, on_one_day, problem, TestApp};
use diesel::prelude::*;
use karvon::db::schema::{migrant_consent_events, migrants};
use reqwest::StatusCode;
use serde_json::{json, Value};

fn migrant_count(app: &TestApp) -> i64 {
    migrants::table
        .count()
        .get_result(&mut app.db())
        .expect("count migrants")
}

/// Registrations each invalid in one field (the change to a valid body, what it is, and the
/// field named; "" when any one field may be named), judged against `today`.
fn invalid_registrations(today: chrono::NaiveDate) -> Vec<(&'static str, Value, &'static str)> {
    let tomorrow = (today + Duration::days(1)).to_string();
    vec![
        (
            "name too long",
            json!({"given_name": "a".repeat(101)}),
            "given_name",
        ),
        ("blank name", json!({"family_name": "   "}), "family_name"),
        (
            "patronymic too long",
            json!({"patronymic": "б".repeat(101)}),
            "patronymic",
        ),
        (
            "nationality lower case",
            json!({"nationality": "tj"}),
            "nationality",
        ),
        (
            "nationality unknown",
            json!({"nationality": "XX"}),
            "nationality",
        ),
        (
            "destination unknown",
            json!({"destination_country": "ZZ"}),
            "destination_country",
        ),
        (
            "language not ISO 639-1",
            json!({"preferred_language": "xx"}),
            "preferred_language",
        ),
        ("phone without +", json!({"phone": "992901234567"}), "phone"),
        (
            "phone with spaces",
            json!({"phone": "+992 90 123 45 67"}),
            "phone",
        ),
        ("phone too short", json!({"phone": "+99290"}), "phone"),
        (
            "born tomorrow",
            json!({"date_of_birth": tomorrow, "birth_year": null}),
            "date_of_birth",
        ),
        (
            "older than 110",
            json!({"date_of_birth": "1900-01-01", "birth_year": null}),
            "date_of_birth",
        ),
        (
            "birth year 111 years ago",
            json!({"birth_year": today.year() - 111}),
            "birth_year",
        ),
        (
            "birth year in the future",
            json!({"birth_year": today.year() + 1}),
            "birth_year",
        ),
        (
            "birth year disagrees with the date",
            json!({"date_of_birth": "1994-05-01", "birth_year": 1990}),
            "birth_year",
        ),
        (
            "unknown vulnerability",
            json!({"vulnerabilities": ["disability", "cursed"]}),
            "vulnerabilities[1]",
        ),
        ("unknown sex", json!({"sex": "unknown"}), "sex"),
        (
            "unknown migration status",
            json!({"migration_status": "tourist"}),
            "migration_status",
        ),
        ("unknown field", json!({"passport_number": "A123"}), ""),
    ]
}

backend_test!(registration_rejects_each_invalid_field_by_name_and_stores_nothing);
async fn registration_rejects_each_invalid_field_by_name_and_stores_nothing(app: TestApp) {
    let centre = app.create_centre("Dushanbe").await;
    let counsellor = app
        .create_staff("counsellor", "counsellor", Some(&centre))
        .await;
    let (app, token) = (&app, &counsellor.token);
    on_one_day(|today| async move {
        for (what, change, field) in invalid_registrations(today) {
            let mut body = migrant_body("Gulru", "Jabborzoda");
            for (key, value) in change.as_object().unwrap() {
                body[key] = value.clone();
            }
            let response = app.post("/api/v1/migrants", token, body).await;
            assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{what}");
            let problem = problem(response).await;
            let fields = error_fields(&problem);
            if field.is_empty() {
                assert_eq!(fields.len(), 1, "{what}: {problem}");
            } else {
                assert_eq!(fields, vec![field.to_owned()], "{what}: {problem}");
            }
        }
    })
    .await;
    assert_eq!(migrant_count(app), 0, "no invalid registration was stored");
}

backend_test!(registration_names_every_invalid_field_at_once);
async fn registration_names_every_invalid_field_at_once(app: TestApp) {
    let centre = app.create_centre("Dushanbe").await;
    let counsellor = app
        .create_staff("counsellor", "counsellor", Some(&centre))
        .await;
    let mut body = migrant_body("Gulru", "Jabborzoda");
    body["given_name"] = json!("a".repeat(101));
    body["nationality"] = json!("XX");
    body["phone"] = json!("12345");
    let response = app.post("/api/v1/migrants", &counsellor.token, body).await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let mut fields = error_fields(&problem(response).await);
    fields.sort();
    assert_eq!(fields, ["given_name", "nationality", "phone"]);
}

backend_test!(names_are_counted_in_characters_of_any_script);
async fn names_are_counted_in_characters_of_any_script(app: TestApp) {
    let centre = app.create_centre("Dushanbe").await;
    let counsellor = app
        .create_staff("counsellor", "counsellor", Some(&centre))
        .await;
    // 100 Cyrillic letters are 200 bytes: still a valid name.
    let long = "Ҷ".repeat(100);
    let created = register(&app, &counsellor.token, migrant_body(&long, "Ғафуров")).await;
    assert_eq!(created["given_name"], long.as_str());
    assert_eq!(created["family_name"], "Ғафуров");
    assert_eq!(created["birth_year"], 1994);
    assert_eq!(created["centre_id"], centre.as_str());
}

/// Registers people in Latin and Cyrillic and returns the ids of (latin, cyrillic, other).
async fn search_world(app: &TestApp) -> (String, String, String, String) {
    let centre = app.create_centre("Dushanbe").await;
    let counsellor = app
        .create_staff("counsellor", "counsellor", Some(&centre))
        .await;
    let latin = id(&register(app, &counsellor.token, migrant_body("Gulru", "Jabborzoda")).await);
    let cyrillic = id(&register(app, &counsellor.token, migrant_body("Фарҳод", "Раҳимов")).await);
    let other = id(&register(app, &counsellor.token, migrant_body("Şükrü", "Yılmaz")).await);
    (counsellor.token, latin, cyrillic, other)
}

async fn search(app: &TestApp, token: &str, q: &str) -> Vec<String> {
    let url = format!("/api/v1/migrants?q={}", urlencode(q));
    let page = expect(app.get(&url, token).await, StatusCode::OK, q).await;
    common::world::field_of_items(&page, "id")
}

fn urlencode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-' | b'_' | b'.' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

backend_test!(search_finds_names_across_scripts);
async fn search_finds_names_across_scripts(app: TestApp) {
    let (token, latin, cyrillic, _) = search_world(&app).await;
    assert_eq!(search(&app, &token, "гулру").await, vec![latin.clone()]);
    assert_eq!(
        search(&app, &token, "Ҷабборзода").await,
        vec![latin.clone()]
    );
    assert_eq!(search(&app, &token, "Farhod").await, vec![cyrillic.clone()]);
    assert_eq!(search(&app, &token, "rakhimov").await, [cyrillic]);
}

backend_test!(search_ignores_case_and_diacritics);
async fn search_ignores_case_and_diacritics(app: TestApp) {
    let (token, latin, _, other) = search_world(&app).await;
    assert_eq!(search(&app, &token, "GULRU").await, vec![latin.clone()]);
    assert_eq!(search(&app, &token, "jabborzoda").await, [latin]);
    assert_eq!(search(&app, &token, "sukru").await, vec![other.clone()]);
    assert_eq!(search(&app, &token, "YILMAZ").await, [other]);
}

backend_test!(search_matches_word_prefixes_in_any_order);
async fn search_matches_word_prefixes_in_any_order(app: TestApp) {
    let (token, latin, _, _) = search_world(&app).await;
    assert_eq!(search(&app, &token, "jabb").await, vec![latin.clone()]);
    assert_eq!(
        search(&app, &token, "Jabborzoda Gulru").await,
        vec![latin.clone()]
    );
    assert_eq!(search(&app, &token, "gul jab").await, [latin]);
    // Every word must match: a known given name with an unknown family name finds no one.
    assert!(search(&app, &token, "gulru rahimov").await.is_empty());
    assert!(search(&app, &token, "zzz").await.is_empty());
}

backend_test!(duplicates_find_each_other_across_script_typo_and_order);
/// One person in four spellings, born 1994, and a namesake born ten years earlier.
async fn duplicates_find_each_other_across_script_typo_and_order(app: TestApp) {
    let centre = app.create_centre("Dushanbe").await;
    let counsellor = app
        .create_staff("counsellor", "counsellor", Some(&centre))
        .await;
    let spellings = [
        ("Гулру", "Джабборзода"),
        ("Gulru", "Jabborzoda"),
        ("Gurlu", "Jabborzoda"),
        ("Jabborzoda", "Gulru"),
    ];
    let mut same_person = Vec::new();
    for (given, family) in spellings {
        same_person.push(id(&register(
            &app,
            &counsellor.token,
            migrant_body(given, family),
        )
        .await));
    }
    same_person.sort();
    let mut namesake = migrant_body("Gulru", "Dzhabborzoda");
    namesake["birth_year"] = json!(1984);
    let namesake = id(&register(&app, &counsellor.token, namesake).await);
    let unrelated = id(&register(&app, &counsellor.token, migrant_body("Farhod", "Rahimov")).await);

    for (given, family) in spellings {
        let url = format!(
            "/api/v1/migrants/duplicates?given_name={}&family_name={}&birth_year=1994&sex=female",
            urlencode(given),
            urlencode(family)
        );
        let body = expect(app.get(&url, &counsellor.token).await, StatusCode::OK, &url).await;
        let items = body["items"].as_array().unwrap();
        let ids: Vec<&str> = items
            .iter()
            .map(|c| c["migrant"]["id"].as_str().unwrap())
            .collect();
        let scores: Vec<f64> = items.iter().map(|c| c["score"].as_f64().unwrap()).collect();
        assert!(
            !ids.contains(&unrelated.as_str()),
            "{given} {family}: {body}"
        );
        assert_eq!(ids.len(), 5, "{given} {family}: {body}");
        let mut top: Vec<String> = ids[..4].iter().map(|s| s.to_string()).collect();
        top.sort();
        assert_eq!(
            top, same_person,
            "{given} {family}: the four spellings first: {body}"
        );
        assert_eq!(ids[4], namesake, "{given} {family}: the namesake last");
        for (candidate, score) in items.iter().zip(&scores).take(4) {
            assert!(
                *score >= 0.9,
                "{given} {family}: high score expected: {candidate}"
            );
            assert!(*score <= 1.0);
            let matched = candidate["matched"].as_array().unwrap();
            for field in ["name", "birth_year", "sex"] {
                assert!(
                    matched.contains(&json!(field)),
                    "{field} matched: {candidate}"
                );
            }
        }
        assert!(
            scores[3] - scores[4] >= 0.15,
            "{given} {family}: the namesake ten years apart ranks well below: {scores:?}"
        );
        assert!(!items[4]["matched"]
            .as_array()
            .unwrap()
            .contains(&json!("birth_year")));
    }
}

backend_test!(withdrawing_consent_keeps_its_history_and_changes_nothing_else);
async fn withdrawing_consent_keeps_its_history_and_changes_nothing_else(app: TestApp) {
    let centre = app.create_centre("Dushanbe").await;
    let counsellor = app
        .create_staff("counsellor", "counsellor", Some(&centre))
        .await;
    let before = register(&app, &counsellor.token, migrant_body("Gulru", "Jabborzoda")).await;
    let migrant = id(&before);
    let response = app
        .patch(
            &format!("/api/v1/migrants/{migrant}"),
            &counsellor.token,
            "\"1\"",
            json!({"consent": {"referral_sharing": false}}),
        )
        .await;
    assert_eq!(etag(&response), "\"2\"");
    let after = expect(response, StatusCode::OK, "withdraw consent").await;
    let given_at = &before["consent"]["referral_sharing"]["given_at"];
    assert!(given_at.is_string());
    let withdrawn = &after["consent"]["referral_sharing"];
    assert_eq!(withdrawn["given"], false);
    assert_eq!(&withdrawn["given_at"], given_at, "given_at is kept");
    assert!(
        withdrawn["withdrawn_at"].is_string(),
        "withdrawn_at is set: {after}"
    );
    assert_eq!(after["version"], 2);

    // Nothing else changed.
    let mut expected = before.clone();
    let mut actual = after.clone();
    for record in [&mut expected, &mut actual] {
        let object = record.as_object_mut().unwrap();
        object.remove("version");
        object.remove("updated_at");
        object["consent"]
            .as_object_mut()
            .unwrap()
            .remove("referral_sharing");
    }
    assert_eq!(actual, expected);

    // The history: three consents at registration, then the withdrawal.
    let events: Vec<(String, bool, String)> = migrant_consent_events::table
        .filter(migrant_consent_events::migrant_id.eq(&migrant))
        .order(migrant_consent_events::id.asc())
        .select((
            migrant_consent_events::scope,
            migrant_consent_events::given,
            migrant_consent_events::recorded_by,
        ))
        .load(&mut app.db())
        .unwrap();
    assert_eq!(events.len(), 4, "{events:?}");
    assert!(events[..3].iter().all(|(_, given, _)| *given));
    assert_eq!(
        events[3],
        ("referral_sharing".to_owned(), false, counsellor.id.clone())
    );
}

backend_test!(stale_if_match_answers_412_and_changes_nothing);
async fn stale_if_match_answers_412_and_changes_nothing(app: TestApp) {
    let world = World::build(&app).await;
    let path = format!("/api/v1/migrants/{}", world.migrant);
    let first = app
        .patch(
            &path,
            &world.supervisor.token,
            "\"1\"",
            json!({"region_of_origin": "Sughd"}),
        )
        .await;
    expect(first, StatusCode::OK, "first update").await;
    let stale = app
        .patch(
            &path,
            &world.counsellor.token,
            "\"1\"",
            json!({"region_of_origin": "Khatlon", "phone": "+992900000000"}),
        )
        .await;
    assert_eq!(stale.status(), StatusCode::PRECONDITION_FAILED);
    problem(stale).await;
    let current = expect(
        app.get(&path, &world.supervisor.token).await,
        StatusCode::OK,
        "read",
    )
    .await;
    assert_eq!(current["region_of_origin"], "Sughd");
    assert_eq!(current["phone"], "+992901234567");
    assert_eq!(current["version"], 2);
}

backend_test!(update_without_if_match_answers_428);
async fn update_without_if_match_answers_428(app: TestApp) {
    let world = World::build(&app).await;
    let path = format!("/api/v1/migrants/{}", world.migrant);
    let response = app
        .client
        .patch(app.url(&path))
        .bearer_auth(&world.counsellor.token)
        .json(&json!({"region_of_origin": "Khatlon"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::PRECONDITION_REQUIRED);
    problem(response).await;
    let current = expect(
        app.get(&path, &world.counsellor.token).await,
        StatusCode::OK,
        "read",
    )
    .await;
    assert_eq!(current["region_of_origin"], Value::Null);
    assert_eq!(current["version"], 1);
}

backend_test!(update_validates_fields_by_name);
async fn update_validates_fields_by_name(app: TestApp) {
    let world = World::build(&app).await;
    let path = format!("/api/v1/migrants/{}", world.migrant);
    let response = app
        .patch(
            &path,
            &world.counsellor.token,
            "\"1\"",
            json!({"phone": "0901234567", "nationality": "tj"}),
        )
        .await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let mut fields = error_fields(&problem(response).await);
    fields.sort();
    assert_eq!(fields, ["nationality", "phone"]);
    let current = expect(
        app.get(&path, &world.counsellor.token).await,
        StatusCode::OK,
        "read",
    )
    .await;
    assert_eq!(current["version"], 1);
}

backend_test!(reading_the_full_record_requires_a_link_to_the_person);
async fn reading_the_full_record_requires_a_link_to_the_person(app: TestApp) {
    let world = World::build(&app).await;
    let path = format!("/api/v1/migrants/{}", world.migrant);
    let refused = app.get(&path, &world.colleague.token).await;
    assert_eq!(refused.status(), StatusCode::FORBIDDEN);
    problem(refused).await;
    // Search already shows the colleague the person, with the counsellor of the open case.
    let page = expect(
        app.get("/api/v1/migrants?q=gulru", &world.colleague.token)
            .await,
        StatusCode::OK,
        "search",
    )
    .await;
    assert_eq!(page["items"][0]["id"], world.migrant.as_str());
    assert_eq!(page["items"][0]["open_case_count"], 1);
    assert_eq!(
        page["items"][0]["open_case_counsellors"],
        json!([world.counsellor.id])
    );
    // A case opened for the colleague gives access.
    open_case(
        &app,
        &world.supervisor.token,
        &world.migrant,
        "normal",
        Some(&world.colleague.id),
    )
    .await;
    let allowed = expect(
        app.get(&path, &world.colleague.token).await,
        StatusCode::OK,
        "read",
    )
    .await;
    assert_eq!(allowed["phone"], "+992901234567");
}

backend_test!(access_log_lists_reads_and_changes_of_the_persons_records);
async fn access_log_lists_reads_and_changes_of_the_persons_records(app: TestApp) {
    let world = World::build(&app).await;
    let path = format!("/api/v1/migrants/{}", world.migrant);
    expect(
        app.get(&path, &world.counsellor.token).await,
        StatusCode::OK,
        "read",
    )
    .await;
    let update = app
        .patch(
            &path,
            &world.counsellor.token,
            "\"1\"",
            json!({"region_of_origin": "Khatlon"}),
        )
        .await;
    expect(update, StatusCode::OK, "update").await;
    expect(
        app.get(
            &format!("/api/v1/cases/{}", world.case),
            &world.supervisor.token,
        )
        .await,
        StatusCode::OK,
        "case",
    )
    .await;
    // Someone else's record does not show up.
    let other = id(&register(
        &app,
        &world.supervisor.token,
        migrant_body("Zarina", "Karimova"),
    )
    .await);
    expect(
        app.get(
            &format!("/api/v1/migrants/{other}"),
            &world.supervisor.token,
        )
        .await,
        StatusCode::OK,
        "other",
    )
    .await;

    let log_path = format!("{path}/access-log");
    let body = expect(
        app.get(&log_path, &world.supervisor.token).await,
        StatusCode::OK,
        "access log",
    )
    .await;
    let items = body["items"].as_array().unwrap();
    let mut seen: Vec<(String, String)> = items
        .iter()
        .map(|e| {
            (
                e["action"].as_str().unwrap().to_owned(),
                e["actor_username"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    seen.reverse(); // newest first on the wire
    let expected: Vec<(String, String)> = [
        ("migrant.create", "counsellor"),
        ("case.create", "counsellor"),
        ("consultation.create", "counsellor"),
        ("migrant.read", "counsellor"),
        ("migrant.update", "counsellor"),
        ("case.read", "supervisor"),
    ]
    .iter()
    .map(|(a, u)| (a.to_string(), u.to_string()))
    .collect();
    assert_eq!(seen, expected);
    assert!(items
        .iter()
        .all(|e| e["subject_ids"] == json!([world.migrant])));
    let update = items
        .iter()
        .find(|e| e["action"] == "migrant.update")
        .unwrap();
    assert_eq!(update["changed_fields"], json!(["region_of_origin"]));

    let counsellor = app.get(&log_path, &world.counsellor.token).await;
    assert_eq!(counsellor.status(), StatusCode::FORBIDDEN);
}

backend_test!(create_read_and_update_are_audited);
async fn create_read_and_update_are_audited(app: TestApp) {
    let centre = app.create_centre("Dushanbe").await;
    let counsellor = app
        .create_staff("counsellor", "counsellor", Some(&centre))
        .await;
    let migrant = id(&register(&app, &counsellor.token, migrant_body("Gulru", "Jabborzoda")).await);
    assert_eq!(app.audit_actions(&migrant), ["migrant.create"]);
    let path = format!("/api/v1/migrants/{migrant}");
    expect(
        app.get(&path, &counsellor.token).await,
        StatusCode::OK,
        "read",
    )
    .await;
    let search = app.get("/api/v1/migrants?q=gulru", &counsellor.token).await;
    expect(search, StatusCode::OK, "search").await;
    expect(
        app.patch(
            &path,
            &counsellor.token,
            "\"1\"",
            json!({"phone": "+992900000000"}),
        )
        .await,
        StatusCode::OK,
        "update",
    )
    .await;
    // A refused update (a stale version) is not a change.
    let stale = app
        .patch(
            &path,
            &counsellor.token,
            "\"1\"",
            json!({"phone": "+992911111111"}),
        )
        .await;
    expect(stale, StatusCode::PRECONDITION_FAILED, "stale update").await;
    assert_eq!(
        app.audit_actions(&migrant),
        ["migrant.create", "migrant.read", "migrant.update"]
    );
}

/// The day someone born `years` years before tomorrow has, `today`, turned `years - 1`.
fn birthday_tomorrow(today: chrono::NaiveDate, years: i32) -> chrono::NaiveDate {
    let tomorrow = today + Duration::days(1);
    tomorrow
        .with_year(tomorrow.year() - years)
        .unwrap_or_else(|| {
            (tomorrow + Duration::days(1))
                .with_year(tomorrow.year() - years)
                .unwrap()
        })
}

backend_test!(a_person_aged_110_can_be_registered_but_not_111);
async fn a_person_aged_110_can_be_registered_but_not_111(app: TestApp) {
    let centre = app.create_centre("Dushanbe").await;
    let counsellor = app
        .create_staff("counsellor", "counsellor", Some(&centre))
        .await;
    let (app, token) = (&app, &counsellor.token);
    on_one_day(|today| async move {
        // Turns 111 tomorrow: 110 today.
        let born = birthday_tomorrow(today, 111).to_string();
        let mut body = migrant_body("Bibi", "Saidova");
        body["birth_year"] = Value::Null;
        body["date_of_birth"] = json!(born);
        let created = register(app, token, body).await;
        assert_eq!(created["date_of_birth"], born);
        // Turned 111 yesterday.
        let yesterday = today - Duration::days(1);
        let born = yesterday
            .with_year(yesterday.year() - 111)
            .unwrap_or(yesterday - Duration::days(365 * 111 + 28));
        let mut body = migrant_body("Bobo", "Saidov");
        body["birth_year"] = Value::Null;
        body["date_of_birth"] = json!(born.to_string());
        let response = app.post("/api/v1/migrants", token, body).await;
        assert_eq!(response.status(), StatusCode::BAD_REQUEST);
        assert_eq!(error_fields(&problem(response).await), ["date_of_birth"]);
    })
    .await;
}

backend_test!(birth_year_follows_the_date_of_birth);
async fn birth_year_follows_the_date_of_birth(app: TestApp) {
    let centre = app.create_centre("Dushanbe").await;
    let counsellor = app
        .create_staff("counsellor", "counsellor", Some(&centre))
        .await;
    let mut body = migrant_body("Gulru", "Jabborzoda");
    body["birth_year"] = Value::Null;
    body["date_of_birth"] = json!("1994-05-01");
    let created = register(&app, &counsellor.token, body).await;
    assert_eq!(created["birth_year"], 1994);
    let updated = expect(
        app.patch(
            &format!("/api/v1/migrants/{}", id(&created)),
            &counsellor.token,
            "\"1\"",
            json!({"date_of_birth": "1991-02-03"}),
        )
        .await,
        StatusCode::OK,
        "correct birth date",
    )
    .await;
    assert_eq!(updated["date_of_birth"], "1991-02-03");
    assert_eq!(updated["birth_year"], 1991);
    let page = expect(
        app.get("/api/v1/migrants", &counsellor.token).await,
        StatusCode::OK,
        "search",
    )
    .await;
    assert_eq!(page["items"][0]["birth_year"], 1991);
}

backend_test!(search_follows_a_corrected_name);
async fn search_follows_a_corrected_name(app: TestApp) {
    let (token, latin, _, _) = search_world(&app).await;
    expect(
        app.patch(
            &format!("/api/v1/migrants/{latin}"),
            &token,
            "\"1\"",
            json!({"given_name": "Гулнора", "patronymic": "Саидовна"}),
        )
        .await,
        StatusCode::OK,
        "rename",
    )
    .await;
    assert_eq!(search(&app, &token, "gulnora").await, vec![latin.clone()]);
    assert_eq!(search(&app, &token, "saidovna jabborzoda").await, [latin]);
    assert!(search(&app, &token, "gulru").await.is_empty());
}

//! `karvon seed-demo`: the demo centres it adds are usable at once — their accounts log in with
//! the published password and see the people, consultations, cases, referrals, follow-ups and
//! directory it reports; one seed gives one data set.

mod common;

use chrono::{DateTime, Utc};
use common::expect;
use common::TestApp;
use karvon::demo::{seed, SeedOptions, Seeded, DEMO_PASSWORD};
use reqwest::StatusCode;
use serde_json::Value;

/// Every item of a list, following the cursors.
async fn all(app: &TestApp, path: &str, token: &str) -> Vec<Value> {
    let mut items = Vec::new();
    let mut cursor = String::new();
    loop {
        let page_path = format!("{path}?limit=200{cursor}");
        let page = expect(app.get(&page_path, token).await, StatusCode::OK, path).await;
        items.extend(page["items"].as_array().expect("items").iter().cloned());
        match page["next_cursor"].as_str() {
            Some(next) => cursor = format!("&cursor={next}"),
            None => return items,
        }
    }
}

async fn seeded(app: &TestApp, migrants: usize, centres: usize, seed_value: u64) -> Seeded {
    let options = SeedOptions {
        migrants,
        consultations_per_migrant: 3,
        centres,
        seed: seed_value,
    };
    let hidden = indicatif::ProgressBar::hidden();
    seed(&app.config.database, options, hidden)
        .await
        .expect("seed-demo")
}

fn time(value: &Value) -> DateTime<Utc> {
    value.as_str().expect("a time").parse().expect("RFC 3339")
}

backend_test!(the_demo_supervisor_sees_every_seeded_record_of_the_demo_centre);
async fn the_demo_supervisor_sees_every_seeded_record_of_the_demo_centre(app: TestApp) {
    let seeded = seeded(&app, 60, 1, 7).await;
    assert_eq!(seeded.migrants, 60);
    let usernames = &seeded.centres[0].usernames;
    assert!(usernames[0].starts_with("demo.supervisor0."));
    let token = app.login(&usernames[0], DEMO_PASSWORD).await;

    assert_eq!(all(&app, "/api/v1/migrants", &token).await.len(), 60);
    let consultations = all(&app, "/api/v1/consultations", &token).await;
    assert_eq!(consultations.len(), seeded.consultations);
    assert!(consultations.len() >= 60, "at least one per person");
    let anonymous = consultations.iter().filter(|c| c["migrant_id"].is_null());
    assert_eq!(anonymous.count(), seeded.anonymous_consultations);
    assert_eq!(seeded.anonymous_consultations, 6, "one per ten people");
    let cases = all(&app, "/api/v1/cases", &token).await;
    assert_eq!(cases.len(), seeded.cases);
    let open = cases.iter().filter(|c| c["status"] == "open").count();
    assert_eq!(open, seeded.open_cases);
    assert_eq!(
        all(&app, "/api/v1/referrals", &token).await.len(),
        seeded.referrals
    );
    assert_eq!(
        all(&app, "/api/v1/follow-ups", &token).await.len(),
        seeded.follow_ups
    );
    assert!(seeded.cases > 0 && seeded.referrals > 0 && seeded.follow_ups >= seeded.cases);
    assert_eq!(
        all(&app, "/api/v1/service-providers", &token).await.len(),
        6
    );

    let caseloads = all(&app, "/api/v1/caseloads", &token).await;
    assert_eq!(caseloads.len(), 4);
    let carried: i64 = caseloads
        .iter()
        .map(|r| r["open_cases"].as_i64().unwrap())
        .sum();
    assert_eq!(carried, open as i64);
    let supervisor = caseloads
        .iter()
        .find(|r| r["role"] == "supervisor")
        .unwrap();
    assert_eq!(supervisor["open_cases"], 0, "counsellors carry the cases");
}

backend_test!(consultations_on_a_case_fall_while_it_was_open_and_its_timeline_is_in_order);
async fn consultations_on_a_case_fall_while_it_was_open_and_its_timeline_is_in_order(app: TestApp) {
    let seeded = seeded(&app, 30, 1, 11).await;
    let token = app
        .login(&seeded.centres[0].usernames[0], DEMO_PASSWORD)
        .await;
    let consultations = all(&app, "/api/v1/consultations", &token).await;
    for case in all(&app, "/api/v1/cases", &token).await {
        let id = case["id"].as_str().unwrap();
        let on_case = consultations.iter().filter(|c| c["case_id"] == id);
        for consultation in on_case {
            let at = time(&consultation["occurred_at"]);
            assert!(time(&case["opened_at"]) <= at, "{consultation}");
            assert!(case["closed_at"].is_null() || at <= time(&case["closed_at"]));
        }
        let entries = all(&app, &format!("/api/v1/cases/{id}/timeline"), &token).await;
        assert_eq!(entries[0]["case_event"]["kind"], "opened");
        let times: Vec<DateTime<Utc>> = entries.iter().map(|e| time(&e["at"])).collect();
        assert!(
            times.windows(2).all(|w| w[0] <= w[1]),
            "oldest first: {times:?}"
        );
    }
}

/// What a person's record says, without what differs between runs (ids, times).
fn profile(person: &Value) -> String {
    [
        "given_name",
        "family_name",
        "sex",
        "birth_year",
        "migration_status",
        "destination_country",
    ]
    .iter()
    .map(|field| person[field].to_string())
    .collect::<Vec<_>>()
    .join(" ")
}

backend_test!(one_seed_gives_one_data_set_in_new_centres_with_their_own_accounts);
async fn one_seed_gives_one_data_set_in_new_centres_with_their_own_accounts(app: TestApp) {
    let first = seeded(&app, 40, 2, 42).await;
    let second = seeded(&app, 40, 2, 42).await;
    assert_eq!(first.centres.len(), 2);
    assert_eq!(
        (
            first.consultations,
            first.cases,
            first.referrals,
            first.follow_ups
        ),
        (
            second.consultations,
            second.cases,
            second.referrals,
            second.follow_ups
        )
    );
    let mut people = Vec::new();
    let mut ids = std::collections::BTreeSet::new();
    for centre in first.centres.iter().chain(&second.centres) {
        assert_eq!(centre.usernames.len(), 4);
        let token = app.login(&centre.usernames[0], DEMO_PASSWORD).await;
        let seen = all(&app, "/api/v1/migrants", &token).await;
        assert_eq!(seen.len(), 20, "half of the people, only this centre's");
        ids.extend(seen.iter().map(common::id));
        people.push(seen.iter().map(profile).collect::<Vec<_>>());
    }
    assert_eq!(ids.len(), 80, "each centre sees its own people only");
    assert_ne!(people[0], people[1], "the centres differ");
    assert_eq!(people[0], people[2], "the same seed, the same people");
    assert_eq!(people[1], people[3]);
}

backend_test!(the_demo_centre_holds_a_few_sessions_a_week_a_third_of_their_attendees_registered);
async fn the_demo_centre_holds_a_few_sessions_a_week_a_third_of_their_attendees_registered(
    app: TestApp,
) {
    let seeded = seeded(&app, 60, 1, 5).await;
    let token = app
        .login(&seeded.centres[0].usernames[0], DEMO_PASSWORD)
        .await;
    let sessions = all(&app, "/api/v1/group-sessions", &token).await;
    assert_eq!(sessions.len(), seeded.group_sessions);
    // Two years of three a week, give or take.
    assert!((250..=380).contains(&sessions.len()), "{}", sessions.len());
    let (mut registered, mut total) = (0, 0);
    for session in &sessions {
        let attendance = &session["attendance"];
        let people = attendance["total"].as_i64().unwrap();
        assert!((10..=60).contains(&people), "{attendance}");
        registered += attendance["registered"].as_i64().unwrap();
        total += people;
        assert_eq!(session["kind"] == "online", session["place"].is_null());
    }
    assert_eq!(registered as usize, seeded.registered_attendances);
    assert_eq!((total - registered) as usize, seeded.anonymous_attendances);
    let share = registered as f64 / total as f64;
    assert!(
        (0.2..0.34).contains(&share),
        "a third registered, fewer early on: {share}"
    );
    let first = sessions[0]["id"].as_str().unwrap();
    let roster = all(
        &app,
        &format!("/api/v1/group-sessions/{first}/attendees"),
        &token,
    )
    .await;
    assert_eq!(
        roster.len() as i64,
        sessions[0]["attendance"]["registered"].as_i64().unwrap()
    );
}

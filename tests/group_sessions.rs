//! Group sessions: details, attendance (registered plus anonymous tallies), who may see and
//! change them, and what the attendees' own records show of them.

mod common;

use chrono::{Duration, Utc};
use common::world::*;
use common::{error_fields, etag, expect, id, problem, query_time, Account, TestApp};
use diesel::prelude::*;
use karvon::db::schema::{audit_events, group_session_attendees, group_sessions};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

fn path(session: &str) -> String {
    format!("/api/v1/group-sessions/{session}")
}

fn attendance(session: &Value) -> (i64, i64, i64) {
    let a = &session["attendance"];
    (
        a["registered"].as_i64().unwrap(),
        a["anonymous"].as_i64().unwrap(),
        a["total"].as_i64().unwrap(),
    )
}

async fn delete(app: &TestApp, path: &str, token: &str) -> reqwest::Response {
    app.request(Method::DELETE, path, Some(token), None).await
}

fn session_count(app: &TestApp) -> i64 {
    group_sessions::table
        .count()
        .get_result(&mut app.db())
        .unwrap()
}

backend_test!(registered_attendees_and_tallies_add_up_to_the_attendance);
async fn registered_attendees_and_tallies_add_up_to_the_attendance(app: TestApp) {
    let w = World::build(&app).await;
    let token = &w.counsellor.token;
    let session = create_session(&app, token, session_body()).await;
    assert_eq!(attendance(&session), (0, 8, 8));
    assert_eq!(session["facilitators"], json!([w.counsellor.id]));
    assert_eq!(session["place"]["city"], "Dushanbe");
    let s = id(&session);
    let a = id(&register(&app, token, migrant_body("Nilufar", "Saidova")).await);
    let b = id(&register(&app, token, migrant_body("Sherzod", "Umarov")).await);
    assert_eq!(
        attendance(&attend(&app, token, &s, &[&a, &b]).await),
        (2, 8, 10)
    );
    // Someone already listed is kept once.
    let again = attend(&app, token, &s, &[&a, &w.migrant]).await;
    assert_eq!(attendance(&again), (3, 8, 11));
    let removed = expect(
        delete(&app, &format!("{}/attendees/{b}", path(&s)), token).await,
        StatusCode::OK,
        "remove",
    )
    .await;
    assert_eq!(attendance(&removed), (2, 8, 10));
    let gone = delete(&app, &format!("{}/attendees/{b}", path(&s)), token).await;
    assert_eq!(gone.status(), StatusCode::NOT_FOUND);
    let tallies = json!({"tallies": [
        {"sex": "female", "age_band": null, "migration_status": "returnee", "count": 20},
        {"sex": "male", "age_band": "50+", "migration_status": "returnee", "count": 0},
    ]});
    let etag = app.etag(&path(&s), token).await;
    let patched = expect(
        app.patch(&path(&s), token, &etag, tallies).await,
        StatusCode::OK,
        "patch tallies",
    )
    .await;
    assert_eq!(attendance(&patched), (2, 20, 22));
    assert_eq!(
        patched["tallies"].as_array().unwrap().len(),
        1,
        "zero rows are not kept"
    );
    let read = expect(app.get(&path(&s), token).await, StatusCode::OK, "read").await;
    assert_eq!(attendance(&read), (2, 20, 22));
    let roster = expect(
        app.get(&format!("{}/attendees?limit=1", path(&s)), token)
            .await,
        StatusCode::OK,
        "roster",
    )
    .await;
    assert_eq!(roster["items"].as_array().unwrap().len(), 1);
    let next = roster["next_cursor"].as_str().unwrap();
    let rest = expect(
        app.get(&format!("{}/attendees?cursor={next}", path(&s)), token)
            .await,
        StatusCode::OK,
        "roster page 2",
    )
    .await;
    let mut shown = ids_of(&roster, "migrant_id");
    shown.extend(ids_of(&rest, "migrant_id"));
    assert_eq!(sorted(shown), sorted(vec![a, w.migrant.clone()]));
}

fn ids_of(page: &Value, field: &str) -> Vec<String> {
    page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i[field].as_str().unwrap().to_owned())
        .collect()
}

backend_test!(tallies_with_a_negative_count_or_a_repeated_combination_answer_422);
async fn tallies_with_a_negative_count_or_a_repeated_combination_answer_422(app: TestApp) {
    let w = World::build(&app).await;
    let token = &w.counsellor.token;
    let before = session_count(&app);
    let mut body = session_body();
    body["tallies"] = json!([
        {"sex": "male", "age_band": "18-24", "migration_status": "prospective", "count": -1},
        {"sex": "female", "age_band": null, "migration_status": "returnee", "count": 4},
        {"sex": "female", "age_band": null, "migration_status": "returnee", "count": 2},
    ]);
    let refused = problem(app.post("/api/v1/group-sessions", token, body).await).await;
    assert_eq!(refused["status"], 422);
    assert_eq!(error_fields(&refused), ["tallies[0].count", "tallies[2]"]);
    assert_eq!(session_count(&app), before, "nothing stored");
    let s = id(&create_session(&app, token, session_body()).await);
    let etag = app.etag(&path(&s), token).await;
    let repeated = json!({"tallies": [
        {"sex": "male", "age_band": "18-24", "migration_status": "prospective", "count": 1},
        {"sex": "male", "age_band": "18-24", "migration_status": "prospective", "count": 1},
    ]});
    let response = app.patch(&path(&s), token, &etag, repeated).await;
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let row =
        json!({"sex": "male", "age_band": "18-24", "migration_status": "prospective", "count": 1});
    let too_many = json!({ "tallies": vec![row; 10_000] });
    let refused = problem(app.patch(&path(&s), token, &etag, too_many).await).await;
    assert_eq!(error_fields(&refused), ["tallies"]);
    assert_eq!(app.etag(&path(&s), token).await, etag, "unchanged");
}

backend_test!(bad_session_details_are_refused_naming_each_field);
async fn bad_session_details_are_refused_naming_each_field(app: TestApp) {
    let w = World::build(&app).await;
    let token = &w.counsellor.token;
    let before = session_count(&app);
    let mut online_with_place = session_body();
    online_with_place["kind"] = json!("online");
    online_with_place["title"] = json!("");
    online_with_place["duration_minutes"] = json!(0);
    online_with_place["topics"] = json!([]);
    online_with_place["starts_at"] = json!(rfc3339(Utc::now() + Duration::days(800)));
    let refused = problem(
        app.post("/api/v1/group-sessions", token, online_with_place)
            .await,
    )
    .await;
    assert_eq!(refused["status"], 400);
    let mut fields = error_fields(&refused);
    fields.sort();
    assert_eq!(
        fields,
        ["duration_minutes", "place", "starts_at", "title", "topics"]
    );
    let mut nowhere = session_body();
    nowhere["place"] = Value::Null;
    let refused = problem(app.post("/api/v1/group-sessions", token, nowhere).await).await;
    assert_eq!(error_fields(&refused), ["place"]);
    let mut strangers = session_body();
    strangers["facilitators"] = json!([w.counsellor.id, w.other_supervisor.id, "nobody"]);
    strangers["partner_provider_id"] = json!("01936b2e-0000-7000-8000-000000000000");
    let refused = problem(app.post("/api/v1/group-sessions", token, strangers).await).await;
    assert_eq!(refused["status"], 422);
    assert_eq!(
        error_fields(&refused),
        ["facilitators[1]", "facilitators[2]"]
    );
    let mut unknown = session_body();
    unknown["colour"] = json!("red");
    let response = app.post("/api/v1/group-sessions", token, unknown).await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert_eq!(session_count(&app), before, "nothing stored");
    let mut online = session_body();
    online["kind"] = json!("online");
    online["place"] = Value::Null;
    let session = create_session(&app, token, online).await;
    assert_eq!(session["place"], Value::Null);
    let shelter = |name: &str| json!({"name": name, "kind": "shelter", "accepts_referrals": true});
    let theirs = create_provider(&app, &w.other_supervisor.token, shelter("Khujand shelter")).await;
    let ours = create_provider(&app, &w.supervisor.token, shelter("Dushanbe shelter")).await;
    let mut body = session_body();
    body["partner_provider_id"] = json!(theirs);
    let refused = problem(
        app.post("/api/v1/group-sessions", token, body.clone())
            .await,
    )
    .await;
    assert_eq!(error_fields(&refused), ["partner_provider_id"]);
    body["partner_provider_id"] = json!(ours);
    let hosted = create_session(&app, token, body).await;
    assert_eq!(hosted["partner_provider_id"], ours.as_str());
}

backend_test!(attendees_must_be_live_people_of_the_centre_named_one_by_one);
async fn attendees_must_be_live_people_of_the_centre_named_one_by_one(app: TestApp) {
    let w = World::build(&app).await;
    let token = &w.counsellor.token;
    let s = id(&create_session(&app, token, session_body()).await);
    let elsewhere = id(&register(
        &app,
        &w.other_supervisor.token,
        migrant_body("Rustam", "Aliev"),
    )
    .await);
    let gone = id(&register(
        &app,
        &w.supervisor.token,
        migrant_body("Malika", "Nazarova"),
    )
    .await);
    expect(
        app.post(
            &format!("/api/v1/migrants/{gone}/anonymise"),
            &w.supervisor.token,
            json!({"reason": "Erasure request DSR-31"}),
        )
        .await,
        StatusCode::NO_CONTENT,
        "anonymise",
    )
    .await;
    let unknown = "01936b2e-0000-7000-8000-000000000000";
    let attendees = format!("{}/attendees", path(&s));
    let body = json!({"migrant_ids": [w.migrant, elsewhere, unknown, gone]});
    let refused = problem(app.post(&attendees, token, body).await).await;
    assert_eq!(refused["status"], 422);
    assert_eq!(
        error_fields(&refused),
        ["migrant_ids[1]", "migrant_ids[2]", "migrant_ids[3]"]
    );
    let messages: Vec<&str> = refused["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["message"].as_str().unwrap())
        .collect();
    assert!(
        messages.windows(2).all(|m| m[0] == m[1]),
        "one message for all: {messages:?}"
    );
    let stored: i64 = group_session_attendees::table
        .count()
        .get_result(&mut app.db())
        .unwrap();
    assert_eq!(stored, 0, "nobody added");
    for ids in [json!([]), json!(vec![w.migrant.clone(); 501])] {
        let response = app
            .post(&attendees, token, json!({ "migrant_ids": ids }))
            .await;
        assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    }
}

backend_test!(scope_follows_the_callers_current_role_and_centre);
async fn scope_follows_the_callers_current_role_and_centre(app: TestApp) {
    let w = World::build(&app).await;
    let facilitator = app
        .create_staff("trainer", "counsellor", Some(&w.centre))
        .await;
    let s = id(&create_session(&app, &facilitator.token, session_body()).await);
    let title = |t: &str| json!({ "title": t });
    let etag = app.etag(&path(&s), &w.supervisor.token).await;
    // A colleague sees it but may not change it; another centre and admins do not see it.
    assert_eq!(
        app.get(&path(&s), &w.colleague.token).await.status(),
        StatusCode::OK
    );
    let before = app.snapshot_with_audit();
    let cases = [
        (&w.colleague.token, StatusCode::FORBIDDEN),
        (&w.other_supervisor.token, StatusCode::NOT_FOUND),
        (&app.admin, StatusCode::FORBIDDEN),
    ];
    for (token, status) in cases {
        assert_eq!(
            app.patch(&path(&s), token, &etag, title("X"))
                .await
                .status(),
            status
        );
        let add = json!({"migrant_ids": [w.migrant]});
        let response = app
            .post(&format!("{}/attendees", path(&s)), token, add)
            .await;
        assert_eq!(response.status(), status);
    }
    assert_eq!(
        app.get(&path(&s), &w.other_supervisor.token).await.status(),
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        app.get("/api/v1/group-sessions", &app.admin).await.status(),
        StatusCode::FORBIDDEN
    );
    assert_eq!(app.snapshot_with_audit(), before, "refusals store nothing");
    let changed = app
        .patch(
            &path(&s),
            &facilitator.token,
            &etag,
            title("Safe migration"),
        )
        .await;
    let etag = etag_of(changed, "facilitator edits").await;
    let changed = app
        .patch(
            &path(&s),
            &w.supervisor.token,
            &etag,
            title("Safe migration 2"),
        )
        .await;
    let etag = etag_of(changed, "supervisor edits").await;
    // Moved to another centre, the facilitator no longer sees the old centre's session.
    let moved_token = change_user(&app, &facilitator, json!({"centre_id": w.other_centre})).await;
    assert_eq!(
        app.get(&path(&s), &moved_token).await.status(),
        StatusCode::NOT_FOUND
    );
    let moved = app.patch(&path(&s), &moved_token, &etag, title("Y")).await;
    assert_eq!(moved.status(), StatusCode::NOT_FOUND);
    // A supervisor demoted to counsellor edits only the sessions they facilitate.
    let demoted_token = change_user(&app, &w.supervisor, json!({"role": "counsellor"})).await;
    let demoted = app
        .patch(&path(&s), &demoted_token, &etag, title("Z"))
        .await;
    assert_eq!(demoted.status(), StatusCode::FORBIDDEN);
}

async fn etag_of(response: reqwest::Response, what: &str) -> String {
    let tag = etag(&response);
    expect(response, StatusCode::OK, what).await;
    tag
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

backend_test!(a_stale_if_match_is_refused_and_a_no_op_patch_keeps_the_etag);
async fn a_stale_if_match_is_refused_and_a_no_op_patch_keeps_the_etag(app: TestApp) {
    let w = World::build(&app).await;
    let token = &w.counsellor.token;
    let s = id(&create_session(&app, token, session_body()).await);
    let first = app.etag(&path(&s), token).await;
    let same = json!({"title": "Working legally in Russia", "topics": ["legal_documents", "pre_departure"]});
    let unchanged = app.patch(&path(&s), token, &first, same).await;
    assert_eq!(etag_of(unchanged, "no-op").await, first);
    let changed = app
        .patch(&path(&s), token, &first, json!({"duration_minutes": 120}))
        .await;
    assert_ne!(etag_of(changed, "change").await, first);
    let stale = app
        .patch(&path(&s), token, &first, json!({"duration_minutes": 60}))
        .await;
    assert_eq!(stale.status(), StatusCode::PRECONDITION_FAILED);
}

backend_test!(a_retried_post_with_the_same_idempotency_key_records_one_session);
async fn a_retried_post_with_the_same_idempotency_key_records_one_session(app: TestApp) {
    let w = World::build(&app).await;
    let before = session_count(&app);
    let send = || {
        app.client
            .post(app.url("/api/v1/group-sessions"))
            .bearer_auth(&w.counsellor.token)
            .header("Idempotency-Key", "orientation-monday")
            .json(&session_body_at("2026-01-05T09:00:00Z"))
            .send()
    };
    let first = expect(send().await.unwrap(), StatusCode::CREATED, "first").await;
    let retry = send().await.unwrap();
    assert_eq!(retry.headers()["idempotent-replayed"], "true");
    assert_eq!(
        id(&expect(retry, StatusCode::CREATED, "retry").await),
        id(&first)
    );
    assert_eq!(session_count(&app), before + 1);
}

fn session_body_at(starts_at: &str) -> Value {
    let mut body = session_body();
    body["starts_at"] = json!(starts_at);
    body
}

backend_test!(lists_filter_by_kind_time_facilitator_and_change_newest_first);
async fn lists_filter_by_kind_time_facilitator_and_change_newest_first(app: TestApp) {
    let w = World::build(&app).await;
    let (mine, sup) = (&w.counsellor.token, &w.supervisor.token);
    let old = id(&create_session(&app, mine, session_body_at("2025-03-01T10:00:00Z")).await);
    let mut school = session_body_at("2025-04-01T10:00:00Z");
    school["kind"] = json!("school");
    let school = id(&create_session(&app, sup, school).await);
    let recent = id(&create_session(&app, mine, session_body()).await);
    create_session(&app, &w.other_supervisor.token, session_body()).await;
    let list = |query: &str| format!("/api/v1/group-sessions?{query}");
    assert_eq!(
        all_ids(&app, sup, &list(""), 1).await,
        [recent.clone(), school.clone(), old.clone()]
    );
    assert_eq!(
        all_ids(&app, sup, &list("kind=school"), 50).await,
        [school.as_str()]
    );
    let range = list("from=2025-03-15T00:00:00Z&to=2025-12-31T00:00:00Z");
    assert_eq!(all_ids(&app, sup, &range, 50).await, [school.as_str()]);
    let facilitated = list(&format!("facilitator={}", w.counsellor.id));
    assert_eq!(
        all_ids(&app, sup, &facilitated, 50).await,
        [recent.clone(), old]
    );
    let since = query_time(Utc::now() - Duration::seconds(1));
    let etag = app.etag(&path(&school), sup).await;
    expect(
        app.patch(&path(&school), sup, &etag, json!({"notes": "Grade 11"}))
            .await,
        StatusCode::OK,
        "patch",
    )
    .await;
    let changed = list(&format!("updated_since={since}"));
    assert!(all_ids(&app, sup, &changed, 50).await.contains(&school));
    let tampered = app.get(&list("cursor=bm9wZQ"), sup).await;
    assert_eq!(tampered.status(), StatusCode::BAD_REQUEST);
}

backend_test!(attendance_shows_in_the_timeline_the_export_and_the_access_log);
async fn attendance_shows_in_the_timeline_the_export_and_the_access_log(app: TestApp) {
    let w = World::build(&app).await;
    let token = &w.counsellor.token;
    app.set_case_opened_at(&w.case, (Utc::now() - Duration::days(2)).naive_utc());
    let s = id(&create_session(&app, token, session_body()).await);
    attend(&app, token, &s, &[&w.migrant]).await;
    expect(
        app.get(&format!("{}/attendees", path(&s)), &w.colleague.token)
            .await,
        StatusCode::OK,
        "roster",
    )
    .await;
    let timeline = expect(
        app.get(&format!("/api/v1/cases/{}/timeline", w.case), token)
            .await,
        StatusCode::OK,
        "timeline",
    )
    .await;
    let entry = timeline["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["kind"] == "group_session")
        .expect("the session is on the timeline");
    assert_eq!(entry["id"], s.as_str());
    assert_eq!(entry["group_session"]["title"], "Working legally in Russia");
    let export = expect(
        app.get(
            &format!("/api/v1/migrants/{}/export", w.migrant),
            &w.supervisor.token,
        )
        .await,
        StatusCode::OK,
        "export",
    )
    .await;
    assert_eq!(export["group_sessions"][0]["session_id"], s.as_str());
    let actions: Vec<&str> = export["access_log"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    for action in [
        "group_session.add_attendees",
        "group_session.read_attendees",
    ] {
        assert!(actions.contains(&action), "{action} not in {actions:?}");
    }
    expect(
        delete(
            &app,
            &format!("{}/attendees/{}", path(&s), w.migrant),
            token,
        )
        .await,
        StatusCode::OK,
        "remove",
    )
    .await;
    let removed: i64 = audit_events::table
        .filter(audit_events::action.eq("group_session.remove_attendee"))
        .count()
        .get_result(&mut app.db())
        .unwrap();
    assert_eq!(removed, 1);
}

backend_test!(anonymisation_moves_the_person_into_the_tally_and_drops_the_link);
async fn anonymisation_moves_the_person_into_the_tally_and_drops_the_link(app: TestApp) {
    let w = World::build(&app).await;
    let token = &w.supervisor.token;
    // Born 1994, prospective, female: 25–34 at any session of 2019–2028.
    let person = id(&register(&app, token, migrant_body("Dilnoza", "Karimova")).await);
    let first = id(&create_session(&app, token, session_body()).await);
    let mut online = session_body();
    (online["kind"], online["place"], online["tallies"]) =
        (json!("online"), Value::Null, json!([]));
    let second = id(&create_session(&app, token, online).await);
    attend(&app, token, &first, &[&person, &w.migrant]).await;
    attend(&app, token, &second, &[&person]).await;
    expect(
        app.post(
            &format!("/api/v1/migrants/{person}/anonymise"),
            token,
            json!({"reason": "Erasure request DSR-40"}),
        )
        .await,
        StatusCode::NO_CONTENT,
        "anonymise",
    )
    .await;
    let first = expect(app.get(&path(&first), token).await, StatusCode::OK, "first").await;
    assert_eq!(attendance(&first), (1, 9, 10), "the total stays");
    let female = first["tallies"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["sex"] == "female")
        .unwrap();
    assert_eq!(female["count"], 4, "3 tallied plus the erased person");
    let second = expect(
        app.get(&path(&second), token).await,
        StatusCode::OK,
        "second",
    )
    .await;
    assert_eq!(attendance(&second), (0, 1, 1));
    assert_eq!(
        second["tallies"],
        json!([{"sex": "female", "age_band": "25-34", "migration_status": "prospective", "count": 1}])
    );
    let links: i64 = group_session_attendees::table
        .filter(group_session_attendees::migrant_id.eq(&person))
        .count()
        .get_result(&mut app.db())
        .unwrap();
    assert_eq!(links, 0, "the link is gone");
}

backend_test!(concurrent_additions_of_the_same_people_add_each_once_without_errors);
async fn concurrent_additions_of_the_same_people_add_each_once_without_errors(app: TestApp) {
    let w = World::build(&app).await;
    let token = &w.counsellor.token;
    let s = id(&create_session(&app, token, session_body()).await);
    let other = id(&register(&app, token, migrant_body("Firuza", "Sharipova")).await);
    let attendees = format!("{}/attendees", path(&s));
    let body = json!({"migrant_ids": [w.migrant, other]});
    let requests = (0..20).map(|_| app.post(&attendees, token, body.clone()));
    for response in futures_util::future::join_all(requests).await {
        assert_eq!(response.status(), StatusCode::OK);
    }
    let read = expect(app.get(&path(&s), token).await, StatusCode::OK, "read").await;
    assert_eq!(attendance(&read), (2, 8, 10));
}

backend_test!(attendance_added_while_the_person_is_anonymised_never_escapes_the_erasure);
async fn attendance_added_while_the_person_is_anonymised_never_escapes_the_erasure(app: TestApp) {
    let w = World::build(&app).await;
    let token = &w.supervisor.token;
    let person = id(&register(&app, token, migrant_body("Mavzuna", "Qodirova")).await);
    let mut sessions = Vec::new();
    for _ in 0..6 {
        let mut body = session_body();
        body["tallies"] = json!([]);
        sessions.push(id(&create_session(&app, token, body).await));
    }
    let anonymise_path = format!("/api/v1/migrants/{person}/anonymise");
    let reason = json!({"reason": "Erasure request DSR-41"});
    let anonymise = app.post(&anonymise_path, token, reason);
    let paths: Vec<String> = sessions
        .iter()
        .map(|s| format!("{}/attendees", path(s)))
        .collect();
    let adds = paths
        .iter()
        .map(|p| app.post(p, token, json!({ "migrant_ids": [person] })));
    let (erased, added) = tokio::join!(anonymise, futures_util::future::join_all(adds));
    assert_eq!(erased.status(), StatusCode::NO_CONTENT);
    for (session, response) in sessions.iter().zip(added) {
        let status = response.status();
        let read = expect(app.get(&path(session), token).await, StatusCode::OK, "read").await;
        // Added before the erasure (now in the tally) or refused after it: never both lost.
        match status {
            StatusCode::OK => assert_eq!(attendance(&read), (0, 1, 1), "{session}"),
            StatusCode::UNPROCESSABLE_ENTITY => assert_eq!(attendance(&read), (0, 0, 0)),
            other => panic!("added before the erasure, or refused after it: {other}"),
        }
    }
    let links: i64 = group_session_attendees::table
        .filter(group_session_attendees::migrant_id.eq(&person))
        .count()
        .get_result(&mut app.db())
        .unwrap();
    assert_eq!(links, 0);
}

backend_test!(both_lists_page_and_refuse_bad_limits_and_cursors);
async fn both_lists_page_and_refuse_bad_limits_and_cursors(app: TestApp) {
    let w = World::build(&app).await;
    let sup = &w.supervisor.token;
    let s = id(&create_session(&app, sup, session_body()).await);
    create_session(&app, sup, session_body()).await;
    let other = id(&register(&app, sup, migrant_body("Zarina", "Karimova")).await);
    attend(&app, sup, &s, &[&w.migrant, &other]).await;
    for list in [
        "/api/v1/group-sessions".to_owned(),
        format!("{}/attendees", path(&s)),
    ] {
        let first = expect(
            app.get(&format!("{list}?limit=1"), sup).await,
            StatusCode::OK,
            &list,
        )
        .await;
        assert_eq!(first["items"].as_array().map(Vec::len), Some(1), "{list}");
        let next = first["next_cursor"].as_str().expect("a next page");
        let last = expect(
            app.get(&format!("{list}?limit=1&cursor={next}"), sup).await,
            StatusCode::OK,
            &list,
        )
        .await;
        assert_eq!(last["next_cursor"], Value::Null, "{list}: two items");
        assert_ne!(last["items"][0], first["items"][0]);
        for bad in [
            "limit=0",
            "limit=201",
            "cursor=garbage!",
            "cursor=bm90IGpzb24",
            "cursor=eyJhIjoxfQ",
        ] {
            let refused = problem(app.get(&format!("{list}?{bad}"), sup).await).await;
            assert_eq!(refused["status"], 400, "{list}?{bad}");
            assert_eq!(error_fields(&refused), [bad.split('=').next().unwrap()]);
        }
    }
}

//! Cases: opening and assignment, list filters, updates with If-Match, assign/close/reopen,
//! the timeline and the audit trail.

mod common;

use chrono::{Duration, Utc};
use common::world::{
    all_ids, close_case, consultation_details, log, migrant_body, on_case, open_case, register,
    sorted, World,
};
use common::{error_fields, etag, expect, id, problem, query_time, time_of, TestApp};
use diesel::prelude::*;
use karvon::db::schema::{case_events, cases};
use reqwest::StatusCode;
use serde_json::{json, Value};

fn case_count(app: &TestApp) -> i64 {
    cases::table.count().get_result(&mut app.db()).unwrap()
}

fn case_path(case: &str) -> String {
    format!("/api/v1/cases/{case}")
}

backend_test!(a_counsellors_case_is_assigned_to_them);
async fn a_counsellors_case_is_assigned_to_them(app: TestApp) {
    let w = World::build(&app).await;
    let response = app
        .post(
            "/api/v1/cases",
            &w.counsellor.token,
            json!({"migrant_id": w.migrant, "summary": "  Passport held by employer  "}),
        )
        .await;
    assert_eq!(etag(&response), "\"1\"");
    let case = expect(response, StatusCode::CREATED, "open case").await;
    assert_eq!(case["assigned_to"], w.counsellor.id.as_str());
    assert_eq!(case["opened_by"], w.counsellor.id.as_str());
    assert_eq!(case["centre_id"], w.centre.as_str());
    assert_eq!(case["migrant_id"], w.migrant.as_str());
    assert_eq!(case["status"], "open");
    assert_eq!(case["priority"], "normal");
    assert_eq!(case["summary"], "Passport held by employer");
    assert_eq!(case["closed_at"], Value::Null);
    assert_eq!(case["version"], 1);
}

backend_test!(a_counsellor_cannot_open_a_case_for_someone_else);
async fn a_counsellor_cannot_open_a_case_for_someone_else(app: TestApp) {
    let w = World::build(&app).await;
    let before = case_count(&app);
    let response = app
        .post(
            "/api/v1/cases",
            &w.counsellor.token,
            json!({"migrant_id": w.migrant, "summary": "x", "assigned_to": w.colleague.id}),
        )
        .await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    problem(response).await;
    assert_eq!(case_count(&app), before);
}

backend_test!(a_supervisor_assigns_a_new_case_to_an_active_counsellor);
async fn a_supervisor_assigns_a_new_case_to_an_active_counsellor(app: TestApp) {
    let w = World::build(&app).await;
    let case = open_case(
        &app,
        &w.supervisor.token,
        &w.migrant,
        "normal",
        Some(&w.colleague.id),
    )
    .await;
    assert_eq!(case["assigned_to"], w.colleague.id.as_str());
    assert_eq!(case["opened_by"], w.supervisor.id.as_str());
    let read = app.get(&case_path(&id(&case)), &w.colleague.token).await;
    assert_eq!(read.status(), StatusCode::OK, "the assignee reads it");
}

backend_test!(a_case_cannot_go_to_an_inactive_or_foreign_user);
async fn a_case_cannot_go_to_an_inactive_or_foreign_user(app: TestApp) {
    let w = World::build(&app).await;
    let leaver = app
        .create_staff("leaver", "counsellor", Some(&w.centre))
        .await;
    let user = app
        .get(&format!("/api/v1/users/{}", leaver.id), &app.admin)
        .await;
    let version = etag(&user);
    expect(
        app.patch(
            &format!("/api/v1/users/{}", leaver.id),
            &app.admin,
            &version,
            json!({"active": false}),
        )
        .await,
        StatusCode::OK,
        "deactivate",
    )
    .await;
    let admin_id = {
        let me = expect(
            app.get("/api/v1/me", &app.admin).await,
            StatusCode::OK,
            "me",
        )
        .await;
        id(&me)
    };
    let before = case_count(&app);
    for (who, assignee) in [
        ("deactivated counsellor", leaver.id.clone()),
        ("other centre's supervisor", w.other_supervisor.id.clone()),
        ("admin", admin_id),
        ("nobody", "no-such-user".to_owned()),
    ] {
        let response = app
            .post(
                "/api/v1/cases",
                &w.supervisor.token,
                json!({"migrant_id": w.migrant, "summary": "x", "assigned_to": assignee}),
            )
            .await;
        assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY, "{who}");
        assert_eq!(
            error_fields(&problem(response).await),
            ["assigned_to"],
            "{who}"
        );
    }
    assert_eq!(case_count(&app), before);
}

backend_test!(a_case_needs_a_migrant_of_the_centre_and_a_summary);
async fn a_case_needs_a_migrant_of_the_centre_and_a_summary(app: TestApp) {
    let w = World::build(&app).await;
    let foreign = id(&register(
        &app,
        &w.other_supervisor.token,
        migrant_body("Gulru", "Jabborzoda"),
    )
    .await);
    let response = app
        .post(
            "/api/v1/cases",
            &w.supervisor.token,
            json!({"migrant_id": foreign, "summary": "x"}),
        )
        .await;
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(error_fields(&problem(response).await), ["migrant_id"]);
    let response = app
        .post(
            "/api/v1/cases",
            &w.supervisor.token,
            json!({"migrant_id": w.migrant, "summary": " "}),
        )
        .await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert_eq!(error_fields(&problem(response).await), ["summary"]);
    let response = app
        .post(
            "/api/v1/cases",
            &w.supervisor.token,
            json!({"migrant_id": w.migrant, "summary": "x", "priority": "critical"}),
        )
        .await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert_eq!(error_fields(&problem(response).await), ["priority"]);
}

async fn listed(app: &TestApp, token: &str, query: &str) -> Vec<String> {
    sorted(all_ids(app, token, &format!("/api/v1/cases?{query}"), 2).await)
}

backend_test!(case_list_filters_by_status_priority_assignee_and_migrant);
async fn case_list_filters_by_status_priority_assignee_and_migrant(app: TestApp) {
    let w = World::build(&app).await;
    let sup = &w.supervisor.token;
    let other = id(&register(&app, sup, migrant_body("Zarina", "Karimova")).await);
    let urgent = id(&open_case(&app, sup, &other, "normal", Some(&w.colleague.id)).await);
    let urgent_response = app
        .patch(
            &case_path(&urgent),
            sup,
            "\"1\"",
            json!({"priority": "urgent"}),
        )
        .await;
    expect(urgent_response, StatusCode::OK, "set priority").await;
    let closed = id(&open_case(&app, sup, &w.migrant, "normal", Some(&w.counsellor.id)).await);
    close_case(&app, sup, &closed).await;
    let all = sorted(vec![w.case.clone(), urgent.clone(), closed.clone()]);

    assert_eq!(listed(&app, sup, "").await, all);
    assert_eq!(
        listed(&app, sup, "status=open").await,
        sorted(vec![w.case.clone(), urgent.clone()])
    );
    assert_eq!(
        listed(&app, sup, "status=closed").await,
        vec![closed.clone()]
    );
    assert_eq!(
        listed(&app, sup, "priority=urgent").await,
        vec![urgent.clone()]
    );
    assert_eq!(
        listed(&app, sup, "priority=normal").await,
        sorted(vec![w.case.clone(), closed.clone()])
    );
    assert_eq!(
        listed(&app, sup, &format!("assigned_to={}", w.counsellor.id)).await,
        sorted(vec![w.case.clone(), closed.clone()])
    );
    assert_eq!(
        listed(&app, sup, &format!("migrant_id={other}")).await,
        vec![urgent.clone()]
    );
    assert_eq!(
        listed(&app, sup, &format!("migrant_id={}&status=open", w.migrant)).await,
        vec![w.case.clone()]
    );
    // Filters narrow the caller's scope, never widen it.
    assert_eq!(
        listed(
            &app,
            &w.counsellor.token,
            &format!("assigned_to={}", w.colleague.id)
        )
        .await,
        Vec::<String>::new()
    );
    let bad = app.get("/api/v1/cases?status=pending", sup).await;
    assert_eq!(bad.status(), StatusCode::BAD_REQUEST);
}

backend_test!(case_list_filters_by_opening_and_update_time);
async fn case_list_filters_by_opening_and_update_time(app: TestApp) {
    let w = World::build(&app).await;
    let sup = &w.supervisor.token;
    let first = expect(
        app.get(&case_path(&w.case), sup).await,
        StatusCode::OK,
        "read",
    )
    .await;
    let later = open_case(&app, sup, &w.migrant, "normal", Some(&w.counsellor.id)).await;
    let opened = time_of(&later, "opened_at");
    assert!(time_of(&first, "opened_at") < opened, "{first} {later}");

    // opened_after is inclusive, opened_before exclusive.
    let after = format!("opened_after={}", query_time(opened));
    assert_eq!(listed(&app, sup, &after).await, vec![id(&later)]);
    let before = format!("opened_before={}", query_time(opened));
    assert_eq!(listed(&app, sup, &before).await, vec![w.case.clone()]);

    let updated = expect(
        app.patch(
            &case_path(&w.case),
            sup,
            "\"1\"",
            json!({"summary": "Wages paid in part"}),
        )
        .await,
        StatusCode::OK,
        "update",
    )
    .await;
    let since = time_of(&updated, "updated_at");
    let updated_since = format!("updated_since={}", query_time(since));
    assert_eq!(
        listed(&app, sup, &updated_since).await,
        vec![w.case.clone()]
    );
    let past_it = format!(
        "updated_since={}",
        query_time(since + Duration::microseconds(1))
    );
    assert!(listed(&app, sup, &past_it).await.is_empty());
}

backend_test!(updating_a_case_needs_the_current_version);
async fn updating_a_case_needs_the_current_version(app: TestApp) {
    let w = World::build(&app).await;
    let path = case_path(&w.case);
    let read = app.get(&path, &w.counsellor.token).await;
    let version = etag(&read);
    let response = app
        .patch(
            &path,
            &w.counsellor.token,
            &version,
            json!({"summary": "Employer agreed to pay", "priority": "high"}),
        )
        .await;
    assert_eq!(etag(&response), "\"2\"");
    let updated = expect(response, StatusCode::OK, "update").await;
    assert_eq!(updated["summary"], "Employer agreed to pay");
    assert_eq!(updated["priority"], "high");
    assert_eq!(updated["version"], 2);

    let stale = app
        .patch(
            &path,
            &w.supervisor.token,
            &version,
            json!({"priority": "low"}),
        )
        .await;
    assert_eq!(stale.status(), StatusCode::PRECONDITION_FAILED);
    let missing = app
        .client
        .patch(app.url(&path))
        .bearer_auth(&w.supervisor.token)
        .json(&json!({"priority": "low"}))
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), StatusCode::PRECONDITION_REQUIRED);
    let current = expect(
        app.get(&path, &w.supervisor.token).await,
        StatusCode::OK,
        "read",
    )
    .await;
    assert_eq!(current["priority"], "high");
    assert_eq!(current["version"], 2);
}

backend_test!(a_supervisor_reassigns_a_case_and_access_follows);
async fn a_supervisor_reassigns_a_case_and_access_follows(app: TestApp) {
    let w = World::build(&app).await;
    let path = format!("{}/assign", case_path(&w.case));
    let refused = app
        .post(
            &path,
            &w.counsellor.token,
            json!({"assigned_to": w.colleague.id, "reason": "leaving"}),
        )
        .await;
    assert_eq!(refused.status(), StatusCode::FORBIDDEN);
    let case = expect(
        app.post(
            &path,
            &w.supervisor.token,
            json!({"assigned_to": w.colleague.id, "reason": "holiday cover"}),
        )
        .await,
        StatusCode::OK,
        "assign",
    )
    .await;
    assert_eq!(case["assigned_to"], w.colleague.id.as_str());
    assert_eq!(case["version"], 2);
    assert_eq!(
        app.get(&case_path(&w.case), &w.colleague.token)
            .await
            .status(),
        StatusCode::OK
    );
    assert_eq!(
        app.get(&case_path(&w.case), &w.counsellor.token)
            .await
            .status(),
        StatusCode::NOT_FOUND
    );
    let events: Vec<(String, Option<String>, Option<String>)> = case_events::table
        .filter(case_events::case_id.eq(&w.case))
        .order(case_events::id.asc())
        .select((
            case_events::kind,
            case_events::assigned_to,
            case_events::note,
        ))
        .load(&mut app.db())
        .unwrap();
    assert_eq!(
        events,
        [
            ("opened".to_owned(), Some(w.counsellor.id.clone()), None),
            (
                "assigned".to_owned(),
                Some(w.colleague.id.clone()),
                Some("holiday cover".to_owned())
            ),
        ]
    );
    let foreign = app
        .post(
            &path,
            &w.supervisor.token,
            json!({"assigned_to": w.other_supervisor.id, "reason": "x"}),
        )
        .await;
    assert_eq!(foreign.status(), StatusCode::UNPROCESSABLE_ENTITY);
}

backend_test!(closing_needs_a_reason);
async fn closing_needs_a_reason(app: TestApp) {
    let w = World::build(&app).await;
    let path = format!("{}/close", case_path(&w.case));
    let missing = app.post(&path, &w.counsellor.token, json!({})).await;
    assert_eq!(missing.status(), StatusCode::BAD_REQUEST);
    problem(missing).await;
    let blank = app
        .post(&path, &w.counsellor.token, json!({"reason": "  "}))
        .await;
    assert_eq!(blank.status(), StatusCode::BAD_REQUEST);
    assert_eq!(error_fields(&problem(blank).await), ["reason"]);
    let case = expect(
        app.get(&case_path(&w.case), &w.counsellor.token).await,
        StatusCode::OK,
        "read",
    )
    .await;
    assert_eq!(case["status"], "open");

    // Forcing a close (cancelling open items) is for supervisors.
    let forced = app
        .post(
            &path,
            &w.counsellor.token,
            json!({"reason": "done", "force": true}),
        )
        .await;
    assert_eq!(forced.status(), StatusCode::FORBIDDEN);

    let closed = close_case(&app, &w.counsellor.token, &w.case).await;
    assert_eq!(closed["status"], "closed");
    assert_eq!(closed["closure_reason"], "resolved");
    assert!(closed["closed_at"].is_string());
}

backend_test!(a_closed_case_refuses_writes);
async fn a_closed_case_refuses_writes(app: TestApp) {
    let w = World::build(&app).await;
    close_case(&app, &w.counsellor.token, &w.case).await;
    let path = case_path(&w.case);
    let patch = app
        .patch(
            &path,
            &w.supervisor.token,
            "\"2\"",
            json!({"summary": "more"}),
        )
        .await;
    assert_eq!(patch.status(), StatusCode::CONFLICT);
    problem(patch).await;
    let consultation = app
        .post(
            "/api/v1/consultations",
            &w.counsellor.token,
            on_case(&w.case),
        )
        .await;
    assert_eq!(consultation.status(), StatusCode::CONFLICT);
    let again = app
        .post(
            &format!("{path}/close"),
            &w.supervisor.token,
            json!({"reason": "again"}),
        )
        .await;
    assert_eq!(again.status(), StatusCode::CONFLICT);
    let assign = app
        .post(
            &format!("{path}/assign"),
            &w.supervisor.token,
            json!({"assigned_to": w.colleague.id, "reason": "x"}),
        )
        .await;
    assert_eq!(assign.status(), StatusCode::CONFLICT);
    let case = expect(
        app.get(&path, &w.supervisor.token).await,
        StatusCode::OK,
        "read",
    )
    .await;
    assert_eq!(case["summary"], "Unpaid wages in Moscow");
    assert_eq!(case["assigned_to"], w.counsellor.id.as_str());
    assert_eq!(case["version"], 2);
}

backend_test!(only_a_supervisor_reopens_a_case);
async fn only_a_supervisor_reopens_a_case(app: TestApp) {
    let w = World::build(&app).await;
    close_case(&app, &w.counsellor.token, &w.case).await;
    let path = format!("{}/reopen", case_path(&w.case));
    let refused = app
        .post(&path, &w.counsellor.token, json!({"reason": "new facts"}))
        .await;
    assert_eq!(refused.status(), StatusCode::FORBIDDEN);
    let reopened = expect(
        app.post(&path, &w.supervisor.token, json!({"reason": "new facts"}))
            .await,
        StatusCode::OK,
        "reopen",
    )
    .await;
    assert_eq!(reopened["status"], "open");
    assert_eq!(reopened["closed_at"], Value::Null);
    assert_eq!(reopened["closure_reason"], Value::Null);
    let again = app
        .post(&path, &w.supervisor.token, json!({"reason": "again"}))
        .await;
    assert_eq!(again.status(), StatusCode::CONFLICT);
    // The counsellor can work on it again.
    log(&app, &w.counsellor.token, on_case(&w.case)).await;
}

fn consultation_at(case: &str, hours_ago: i64) -> Value {
    let mut body = consultation_details();
    body["case_id"] = json!(case);
    body["occurred_at"] = json!((Utc::now() - Duration::hours(hours_ago))
        .format("%Y-%m-%dT%H:%M:%SZ")
        .to_string());
    body
}

/// The timeline's (kind, id) entries, page by page with `limit`.
async fn timeline(app: &TestApp, token: &str, case: &str, limit: u32) -> Vec<Value> {
    let mut entries = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut url = format!("/api/v1/cases/{case}/timeline?limit={limit}");
        if let Some(cursor) = &cursor {
            url.push_str(&format!("&cursor={cursor}"));
        }
        let page = expect(app.get(&url, token).await, StatusCode::OK, &url).await;
        entries.extend(page["items"].as_array().unwrap().iter().cloned());
        match page["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => return entries,
        }
    }
}

backend_test!(the_timeline_lists_consultations_and_case_events_in_order_across_pages);
async fn the_timeline_lists_consultations_and_case_events_in_order_across_pages(app: TestApp) {
    let w = World::build(&app).await;
    let sup = &w.supervisor.token;
    // The world's consultation happened an hour ago; add two at one same earlier time, and
    // one the day before.
    let mut same_time = [
        id(&log(&app, sup, consultation_at(&w.case, 3)).await),
        id(&log(&app, sup, consultation_at(&w.case, 3)).await),
    ];
    same_time.sort();
    let day_before = id(&log(&app, sup, consultation_at(&w.case, 24)).await);
    // A consultation on another case stays out.
    let other_case = id(&open_case(&app, sup, &w.migrant, "normal", Some(&w.colleague.id)).await);
    log(&app, sup, consultation_at(&other_case, 2)).await;
    let assign = app
        .post(
            &format!("{}/assign", case_path(&w.case)),
            sup,
            json!({"assigned_to": w.colleague.id, "reason": "cover"}),
        )
        .await;
    expect(assign, StatusCode::OK, "assign").await;
    close_case(&app, sup, &w.case).await;
    let reopen = app
        .post(
            &format!("{}/reopen", case_path(&w.case)),
            sup,
            json!({"reason": "again"}),
        )
        .await;
    expect(reopen, StatusCode::OK, "reopen").await;

    let full = timeline(&app, sup, &w.case, 200).await;
    let described: Vec<String> = full
        .iter()
        .map(|e| match e["kind"].as_str().unwrap() {
            "case_event" => e["case_event"]["kind"].as_str().unwrap().to_owned(),
            "consultation" => e["id"].as_str().unwrap().to_owned(),
            other => panic!("unexpected {other}"),
        })
        .collect();
    let expected: Vec<String> = vec![
        day_before,
        same_time[0].clone(),
        same_time[1].clone(),
        w.consultation.clone(),
        "opened".into(),
        "assigned".into(),
        "closed".into(),
        "reopened".into(),
    ];
    // The case was opened before the consultations were logged, but they happened earlier.
    assert_eq!(described, expected);
    let times: Vec<&str> = full.iter().map(|e| e["at"].as_str().unwrap()).collect();
    assert!(
        times.windows(2).all(|p| p[0] <= p[1]),
        "chronological: {times:?}"
    );
    assert_eq!(full[0]["consultation"]["case_id"], w.case.as_str());

    for limit in [1, 2, 3] {
        let paged = timeline(&app, sup, &w.case, limit).await;
        let ids = |entries: &[Value]| -> Vec<String> {
            entries
                .iter()
                .map(|e| e["id"].as_str().unwrap().to_owned())
                .collect()
        };
        assert_eq!(ids(&paged), ids(&full), "pages of {limit}");
    }
}

backend_test!(reads_and_writes_of_a_case_are_audited);
async fn reads_and_writes_of_a_case_are_audited(app: TestApp) {
    let w = World::build(&app).await;
    let sup = &w.supervisor.token;
    let path = case_path(&w.case);
    expect(
        app.get(&path, &w.counsellor.token).await,
        StatusCode::OK,
        "read",
    )
    .await;
    expect(
        app.patch(&path, sup, "\"1\"", json!({"priority": "high"}))
            .await,
        StatusCode::OK,
        "update",
    )
    .await;
    let timeline = app.get(&format!("{path}/timeline"), sup).await;
    expect(timeline, StatusCode::OK, "timeline").await;
    let assign = app
        .post(
            &format!("{path}/assign"),
            sup,
            json!({"assigned_to": w.colleague.id, "reason": "cover"}),
        )
        .await;
    expect(assign, StatusCode::OK, "assign").await;
    close_case(&app, sup, &w.case).await;
    let reopen = app
        .post(&format!("{path}/reopen"), sup, json!({"reason": "again"}))
        .await;
    expect(reopen, StatusCode::OK, "reopen").await;
    // Refused attempts leave no trace of a change: a stale version, a counsellor no longer
    // assigned.
    let stale = app
        .patch(&path, sup, "\"1\"", json!({"priority": "low"}))
        .await;
    expect(stale, StatusCode::PRECONDITION_FAILED, "stale update").await;
    let former = app.get(&path, &w.counsellor.token).await;
    expect(
        former,
        StatusCode::NOT_FOUND,
        "read by the former counsellor",
    )
    .await;
    assert_eq!(
        app.audit_actions(&w.case),
        [
            "case.create",
            "case.read",
            "case.update",
            "case.read_timeline",
            "case.reassign",
            "case.close",
            "case.reopen",
        ]
    );
}

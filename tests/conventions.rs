//! Conventions shared by the record endpoints (migrants, cases, consultations): Idempotency-Key on
//! POST, keyset pagination (under concurrent inserts too), `limit` and `cursor` validation, list
//! shape, `updated_since`.

mod common;

use std::collections::HashMap;

use chrono::{Duration, SecondsFormat, Utc};
use common::world::{anonymous, field_of_items, log, migrant_body, open_case, register, World};
use common::{expect, id, problem, query_time, time_of, TestApp};
use diesel::prelude::*;
use karvon::db::schema::{cases, consultations, migrants};
use reqwest::StatusCode;
use serde_json::{json, Value};

fn migrant_count(app: &TestApp) -> i64 {
    migrants::table.count().get_result(&mut app.db()).unwrap()
}

async fn post_with_key(
    app: &TestApp,
    path: &str,
    token: &str,
    key: &str,
    body: &Value,
) -> reqwest::Response {
    app.client
        .post(app.url(path))
        .bearer_auth(token)
        .header("Idempotency-Key", key)
        .json(body)
        .send()
        .await
        .unwrap()
}

backend_test!(a_retried_registration_returns_the_first_response_and_creates_one_row);
async fn a_retried_registration_returns_the_first_response_and_creates_one_row(app: TestApp) {
    let w = World::build(&app).await;
    let before = migrant_count(&app);
    let body = migrant_body("Farhod", "Rahimov");
    let token = &w.counsellor.token;
    let first = post_with_key(&app, "/api/v1/migrants", token, "reg-42", &body).await;
    assert_eq!(first.status(), StatusCode::CREATED);
    let first_etag = first.headers()["etag"].clone();
    let first = first.text().await.unwrap();
    let retry = post_with_key(&app, "/api/v1/migrants", token, "reg-42", &body).await;
    assert_eq!(retry.status(), StatusCode::CREATED);
    assert_eq!(retry.headers()["etag"], first_etag);
    let retry = retry.text().await.unwrap();
    let (first, retry): (Value, Value) = (
        serde_json::from_str(&first).unwrap(),
        serde_json::from_str(&retry).unwrap(),
    );
    assert_eq!(retry, first, "the same response, same id");
    assert_eq!(migrant_count(&app), before + 1, "one row");
    // The replay reads the record again, so it is audited as a read.
    assert_eq!(
        app.audit_actions(&id(&first)),
        ["migrant.create", "migrant.read"]
    );
}

backend_test!(the_same_key_with_another_body_answers_422);
async fn the_same_key_with_another_body_answers_422(app: TestApp) {
    let w = World::build(&app).await;
    let token = &w.counsellor.token;
    let body = migrant_body("Farhod", "Rahimov");
    expect(
        post_with_key(&app, "/api/v1/migrants", token, "reg-43", &body).await,
        StatusCode::CREATED,
        "first",
    )
    .await;
    let before = migrant_count(&app);
    let other = migrant_body("Zarina", "Karimova");
    let response = post_with_key(&app, "/api/v1/migrants", token, "reg-43", &other).await;
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let problem = problem(response).await;
    assert_eq!(problem["errors"][0]["field"], "Idempotency-Key");
    assert_eq!(migrant_count(&app), before);
}

backend_test!(idempotency_keys_belong_to_one_user);
async fn idempotency_keys_belong_to_one_user(app: TestApp) {
    let w = World::build(&app).await;
    let before = migrant_count(&app);
    let body = migrant_body("Farhod", "Rahimov");
    let mine = expect(
        post_with_key(
            &app,
            "/api/v1/migrants",
            &w.counsellor.token,
            "same-key",
            &body,
        )
        .await,
        StatusCode::CREATED,
        "counsellor",
    )
    .await;
    let theirs = expect(
        post_with_key(
            &app,
            "/api/v1/migrants",
            &w.colleague.token,
            "same-key",
            &body,
        )
        .await,
        StatusCode::CREATED,
        "colleague",
    )
    .await;
    assert_ne!(id(&mine), id(&theirs));
    assert_eq!(theirs["registered_by"], w.colleague.id.as_str());
    assert_eq!(migrant_count(&app), before + 2);
}

backend_test!(retried_case_consultation_and_close_posts_do_not_repeat);
async fn retried_case_consultation_and_close_posts_do_not_repeat(app: TestApp) {
    let w = World::build(&app).await;
    let token = &w.counsellor.token;
    let count = |table: &str| -> i64 {
        let mut conn = app.db();
        match table {
            "cases" => cases::table.count().get_result(&mut conn).unwrap(),
            _ => consultations::table.count().get_result(&mut conn).unwrap(),
        }
    };
    let (cases_before, consultations_before) = (count("cases"), count("consultations"));
    let case_body = json!({"migrant_id": w.migrant, "summary": "Lost passport"});
    let consultation_body = anonymous();
    for _ in 0..2 {
        let case = post_with_key(&app, "/api/v1/cases", token, "case-1", &case_body).await;
        assert_eq!(case.status(), StatusCode::CREATED);
        let c = post_with_key(
            &app,
            "/api/v1/consultations",
            token,
            "c-1",
            &consultation_body,
        )
        .await;
        assert_eq!(c.status(), StatusCode::CREATED);
    }
    assert_eq!(count("cases"), cases_before + 1);
    assert_eq!(count("consultations"), consultations_before + 1);

    // A retried close answers as the first close did, not 409 "already closed".
    let close = format!("/api/v1/cases/{}/close", w.case);
    let reason = json!({"reason": "resolved"});
    let first = expect(
        post_with_key(&app, &close, token, "close-1", &reason).await,
        StatusCode::OK,
        "close",
    )
    .await;
    let retry = expect(
        post_with_key(&app, &close, token, "close-1", &reason).await,
        StatusCode::OK,
        "retry",
    )
    .await;
    assert_eq!(retry, first);
    let without_key = app.post(&close, token, reason.clone()).await;
    assert_eq!(without_key.status(), StatusCode::CONFLICT);
}

/// Walks a list page by page, inserting a new row (via `insert`) before each next page.
async fn walk_while_inserting<F, Fut>(
    app: &TestApp,
    token: &str,
    path: &str,
    insert: F,
) -> Vec<String>
where
    F: Fn(usize) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    for page_number in 0.. {
        let mut url = format!("{path}?limit=2");
        if let Some(cursor) = &cursor {
            url.push_str(&format!("&cursor={cursor}"));
        }
        let page = expect(app.get(&url, token).await, StatusCode::OK, &url).await;
        seen.extend(field_of_items(&page, "id"));
        match page["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => break,
        }
        insert(page_number).await;
        assert!(page_number < 50, "pagination does not end");
    }
    seen
}

fn assert_each_once(seen: &[String], originals: &[String], what: &str) {
    let mut counts: HashMap<&str, usize> = HashMap::new();
    for id in seen {
        *counts.entry(id).or_default() += 1;
    }
    for (id, n) in &counts {
        assert_eq!(*n, 1, "{what}: {id} seen {n} times");
    }
    for id in originals {
        assert!(counts.contains_key(id.as_str()), "{what}: {id} never seen");
    }
}

backend_test!(migrant_pages_visit_every_row_once_under_concurrent_inserts);
async fn migrant_pages_visit_every_row_once_under_concurrent_inserts(app: TestApp) {
    let w = World::build(&app).await;
    let sup = &w.supervisor.token;
    let mut originals = vec![w.migrant.clone()];
    for n in 0..6 {
        originals.push(id(&register(
            &app,
            sup,
            migrant_body(&format!("Original{n}"), "Karimov"),
        )
        .await));
    }
    let seen = walk_while_inserting(&app, sup, "/api/v1/migrants", |n| {
        let app = &app;
        async move {
            register(app, sup, migrant_body(&format!("Newcomer{n}"), "Saidov")).await;
        }
    })
    .await;
    assert_each_once(&seen, &originals, "migrants");
}

backend_test!(case_pages_visit_every_row_once_under_concurrent_inserts);
async fn case_pages_visit_every_row_once_under_concurrent_inserts(app: TestApp) {
    let w = World::build(&app).await;
    let sup = &w.supervisor.token;
    let mut originals = vec![w.case.clone()];
    for _ in 0..6 {
        originals.push(id(&open_case(&app, sup, &w.migrant, "normal", None).await));
    }
    let seen = walk_while_inserting(&app, sup, "/api/v1/cases", |_| {
        let app = &app;
        let migrant = w.migrant.clone();
        async move {
            open_case(app, sup, &migrant, "normal", None).await;
        }
    })
    .await;
    assert_each_once(&seen, &originals, "cases");
}

backend_test!(consultation_pages_visit_every_row_once_under_concurrent_inserts);
async fn consultation_pages_visit_every_row_once_under_concurrent_inserts(app: TestApp) {
    let w = World::build(&app).await;
    let sup = &w.supervisor.token;
    let at = |hours: i64| {
        (Utc::now() - Duration::hours(hours)).to_rfc3339_opts(SecondsFormat::Secs, true)
    };
    let mut originals = vec![w.consultation.clone()];
    for hours in [2, 3, 3, 5, 8, 13] {
        let mut body = anonymous();
        body["occurred_at"] = json!(at(hours));
        originals.push(id(&log(&app, sup, body).await));
    }
    // New consultations land before, between and after the pages already read.
    let seen = walk_while_inserting(&app, sup, "/api/v1/consultations", |n| {
        let app = &app;
        let mut body = anonymous();
        body["occurred_at"] = json!(at([0, 3, 4, 20][n % 4]));
        async move {
            log(app, sup, body).await;
        }
    })
    .await;
    assert_each_once(&seen, &originals, "consultations");
}

/// Every paginated list of the record endpoints, for the world's supervisor.
fn lists(w: &World) -> Vec<String> {
    vec![
        "/api/v1/migrants".into(),
        "/api/v1/cases".into(),
        "/api/v1/consultations".into(),
        format!("/api/v1/cases/{}/timeline", w.case),
        format!("/api/v1/migrants/{}/access-log", w.migrant),
    ]
}

backend_test!(every_list_has_items_and_next_cursor);
async fn every_list_has_items_and_next_cursor(app: TestApp) {
    let w = World::build(&app).await;
    // A second row in every list, so that a page of one has a next page.
    let sup = &w.supervisor.token;
    register(&app, sup, migrant_body("Zarina", "Karimova")).await;
    open_case(&app, sup, &w.migrant, "normal", None).await;
    log(&app, sup, anonymous()).await;
    for path in lists(&w) {
        let first = expect(
            app.get(&format!("{path}?limit=1"), &w.supervisor.token)
                .await,
            StatusCode::OK,
            &path,
        )
        .await;
        assert_eq!(
            first["items"].as_array().map(Vec::len),
            Some(1),
            "{path}: {first}"
        );
        assert!(first["next_cursor"].is_string(), "{path} has more: {first}");
        let all = expect(
            app.get(&format!("{path}?limit=200"), &w.supervisor.token)
                .await,
            StatusCode::OK,
            &path,
        )
        .await;
        assert!(all["items"].is_array(), "{path}");
        assert_eq!(
            all["next_cursor"],
            Value::Null,
            "{path}: the last page: {all}"
        );
        let object = all.as_object().unwrap();
        assert_eq!(object.len(), 2, "{path}: only items and next_cursor: {all}");
    }
}

backend_test!(limit_outside_1_to_200_answers_400_naming_limit);
async fn limit_outside_1_to_200_answers_400_naming_limit(app: TestApp) {
    let w = World::build(&app).await;
    for path in lists(&w) {
        for limit in ["0", "201", "-1"] {
            let response = app
                .get(&format!("{path}?limit={limit}"), &w.supervisor.token)
                .await;
            assert_eq!(
                response.status(),
                StatusCode::BAD_REQUEST,
                "{path} limit={limit}"
            );
            let problem = problem(response).await;
            assert_eq!(
                problem["errors"][0]["field"], "limit",
                "{path} limit={limit}: {problem}"
            );
        }
    }
}

backend_test!(a_garbage_cursor_answers_400_naming_cursor);
async fn a_garbage_cursor_answers_400_naming_cursor(app: TestApp) {
    let w = World::build(&app).await;
    // Not base64; base64 of something that is not JSON; JSON of the wrong shape.
    for cursor in ["garbage!", "bm90IGpzb24", "eyJhIjoxfQ"] {
        for path in lists(&w) {
            let response = app
                .get(&format!("{path}?cursor={cursor}"), &w.supervisor.token)
                .await;
            assert_eq!(
                response.status(),
                StatusCode::BAD_REQUEST,
                "{path} cursor={cursor}"
            );
            let problem = problem(response).await;
            assert_eq!(problem["errors"][0]["field"], "cursor", "{path}: {problem}");
        }
    }
}

backend_test!(migrants_can_be_synced_with_updated_since);
async fn migrants_can_be_synced_with_updated_since(app: TestApp) {
    let w = World::build(&app).await;
    let sup = &w.supervisor.token;
    let other = id(&register(&app, sup, migrant_body("Zarina", "Karimova")).await);
    let updated = expect(
        app.patch(
            &format!("/api/v1/migrants/{other}"),
            sup,
            "\"1\"",
            json!({"region_of_origin": "Sughd"}),
        )
        .await,
        StatusCode::OK,
        "update",
    )
    .await;
    let since = query_time(time_of(&updated, "updated_at"));
    let page = expect(
        app.get(&format!("/api/v1/migrants?updated_since={since}"), sup)
            .await,
        StatusCode::OK,
        "sync",
    )
    .await;
    assert_eq!(field_of_items(&page, "id"), [other]);
    let all = expect(
        app.get("/api/v1/migrants", sup).await,
        StatusCode::OK,
        "all",
    )
    .await;
    assert_eq!(field_of_items(&all, "id").len(), 2);
    let bad = app
        .get("/api/v1/migrants?updated_since=yesterday", sup)
        .await;
    assert_eq!(bad.status(), StatusCode::BAD_REQUEST);
    problem(bad).await;
}

backend_test!(malformed_query_parameters_are_named_in_the_problem);
async fn malformed_query_parameters_are_named_in_the_problem(app: TestApp) {
    let w = World::build(&app).await;
    let cases = [
        ("/api/v1/migrants?limit=abc", "limit"),
        ("/api/v1/cases?updated_since=yesterday", "updated_since"),
        ("/api/v1/consultations?channel=carrier_pigeon", "channel"),
        ("/api/v1/migrants?unknown_filter=1", "unknown_filter"),
        (
            "/api/v1/migrants/duplicates?family_name=Rahimov",
            "given_name",
        ),
    ];
    for (path, field) in cases {
        let response = app.get(path, &w.supervisor.token).await;
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{path}");
        let problem = problem(response).await;
        assert_eq!(problem["errors"][0]["field"], field, "{path}: {problem}");
    }
}

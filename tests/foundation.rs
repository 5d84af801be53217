mod common;

use common::{error_fields, problem, TestApp};
use reqwest::StatusCode;
use serde_json::Value;

backend_test!(health_ready_and_docs_answer);
async fn health_ready_and_docs_answer(app: TestApp) {
    let health = app.client.get(app.url("/healthz")).send().await.unwrap();
    assert_eq!(health.status(), StatusCode::OK);
    assert!(health.headers().contains_key("x-request-id"));
    let ready = app.client.get(app.url("/readyz")).send().await.unwrap();
    assert_eq!(ready.status(), StatusCode::OK);
    let spec = app
        .client
        .get(app.url("/api-docs/openapi.json"))
        .send()
        .await
        .unwrap();
    assert_eq!(spec.status(), StatusCode::OK);
    assert_eq!(spec.headers()["content-type"], "application/json");
    let spec: serde_json::Value = spec.json().await.unwrap();
    assert!(spec["openapi"].as_str().unwrap().starts_with("3.1"));
    let generated = serde_json::to_value(karvon::startup::api_spec()).unwrap();
    assert_eq!(
        spec, generated,
        "the served document is the whole generated one"
    );
    let docs = app.client.get(app.url("/docs/")).send().await.unwrap();
    assert_eq!(docs.status(), StatusCode::OK);
    let redirect = app.client.get(app.url("/docs")).send().await.unwrap();
    assert!(redirect.status().is_redirection());
    assert_eq!(redirect.headers()["location"], "/docs/");
}

/// Sends `body` as raw JSON text to `POST /api/v1/centres` as the admin.
async fn post_raw(app: &common::TestApp, body: impl Into<reqwest::Body>) -> reqwest::Response {
    app.client
        .post(app.url("/api/v1/centres"))
        .bearer_auth(&app.admin)
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .unwrap()
}

backend_test!(malformed_json_is_a_400_problem_without_internal_detail);
async fn malformed_json_is_a_400_problem_without_internal_detail(app: TestApp) {
    let response = post_raw(&app, r#"{"name": "Khujand", "city": "#).await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let body = problem(response).await;
    assert_eq!(body["status"], 400);
    let text = body.to_string();
    for leak in [
        "/src/", ".rs", "/home/", "/work/", "serde", "panicked", "SQL",
    ] {
        assert!(!text.contains(leak), "problem leaks {leak:?}: {text}");
    }
}

backend_test!(wrong_type_is_a_400_naming_the_field);
async fn wrong_type_is_a_400_naming_the_field(app: TestApp) {
    let response = post_raw(&app, r#"{"name": "Khujand", "city": 42, "country": "TJ"}"#).await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert_eq!(error_fields(&problem(response).await), ["city"]);
}

backend_test!(unknown_field_is_a_400_naming_the_field);
async fn unknown_field_is_a_400_naming_the_field(app: TestApp) {
    let response = post_raw(
        &app,
        r#"{"name": "Khujand", "city": "Khujand", "country": "TJ", "colour": "red"}"#,
    )
    .await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert_eq!(error_fields(&problem(response).await), ["colour"]);
}

backend_test!(missing_field_is_a_400_naming_the_field);
async fn missing_field_is_a_400_naming_the_field(app: TestApp) {
    let response = post_raw(&app, r#"{"name": "Khujand", "country": "TJ"}"#).await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert_eq!(error_fields(&problem(response).await), ["city"]);
}

backend_test!(unknown_route_is_a_404_problem);
async fn unknown_route_is_a_404_problem(app: TestApp) {
    let response = app.get("/api/v1/no-such-thing", &app.admin).await;
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    assert_eq!(problem(response).await["status"], 404);
}

backend_test!(a_known_path_with_a_trailing_slash_is_404_not_405);
async fn a_known_path_with_a_trailing_slash_is_404_not_405(app: TestApp) {
    for path in ["/api/v1/me/", "/api/v1//users"] {
        let response = app.get(path, &app.admin).await;
        assert_eq!(response.status(), StatusCode::NOT_FOUND, "{path}");
        assert_eq!(problem(response).await["status"], 404);
    }
}

backend_test!(wrong_method_is_a_405_problem_with_allow);
async fn wrong_method_is_a_405_problem_with_allow(app: TestApp) {
    let response = app
        .client
        .delete(app.url("/api/v1/centres"))
        .bearer_auth(&app.admin)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::METHOD_NOT_ALLOWED);
    let allow = response.headers()["allow"].to_str().unwrap().to_owned();
    assert!(allow.contains("GET") && allow.contains("POST"), "{allow}");
    assert_eq!(problem(response).await["status"], 405);
}

backend_test!(a_two_mib_body_is_a_413_problem);
async fn a_two_mib_body_is_a_413_problem(app: TestApp) {
    let big = format!(
        r#"{{"name": "{}", "city": "Khujand", "country": "TJ"}}"#,
        "x".repeat(2 * 1024 * 1024)
    );
    let response = post_raw(&app, big).await;
    assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(problem(response).await["status"], 413);
    let count = app.get("/api/v1/centres", &app.admin).await;
    let count: Value = count.json().await.unwrap();
    assert_eq!(count["items"].as_array().unwrap().len(), 0);
}

backend_test!(a_nul_character_in_a_json_string_is_a_400_naming_the_field);
async fn a_nul_character_in_a_json_string_is_a_400_naming_the_field(app: TestApp) {
    let response = post_raw(
        &app,
        r#"{"name": "Khu\u0000jand", "city": "Khujand", "country": "TJ"}"#,
    )
    .await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert_eq!(error_fields(&problem(response).await), ["name"]);
}

backend_test!(a_nul_character_in_the_query_is_a_400_problem);
async fn a_nul_character_in_the_query_is_a_400_problem(app: TestApp) {
    let response = app.get("/api/v1/users?centre_id=a%00b", &app.admin).await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert_eq!(problem(response).await["status"], 400);
}

backend_test!(a_bad_query_parameter_is_a_400_problem);
async fn a_bad_query_parameter_is_a_400_problem(app: TestApp) {
    let response = app.get("/api/v1/users?limit=many", &app.admin).await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert_eq!(problem(response).await["status"], 400);
}

backend_test!(an_incoming_request_id_is_echoed);
async fn an_incoming_request_id_is_echoed(app: TestApp) {
    let response = app
        .client
        .get(app.url("/healthz"))
        .header("x-request-id", "trace-abc-123")
        .send()
        .await
        .unwrap();
    assert_eq!(response.headers()["x-request-id"], "trace-abc-123");
}

backend_test!(a_request_id_is_generated_when_none_is_sent);
async fn a_request_id_is_generated_when_none_is_sent(app: TestApp) {
    let ids: Vec<String> =
        futures_util::future::join_all((0..2).map(|_| app.client.get(app.url("/healthz")).send()))
            .await
            .into_iter()
            .map(|r| {
                r.unwrap().headers()["x-request-id"]
                    .to_str()
                    .unwrap()
                    .to_owned()
            })
            .collect();
    assert!(!ids[0].is_empty());
    assert_ne!(ids[0], ids[1], "each request gets its own id");
    // Errors carry one too.
    let response = app.get("/api/v1/nowhere", &app.admin).await;
    assert!(response.headers().contains_key("x-request-id"));
}

backend_test!(security_headers_are_set);
async fn security_headers_are_set(app: TestApp) {
    let response = app.get("/api/v1/me", &app.admin).await;
    let headers = response.headers();
    assert_eq!(headers["x-content-type-options"], "nosniff");
    assert_eq!(headers["x-frame-options"], "DENY");
    assert_eq!(headers["referrer-policy"], "no-referrer");
    assert_eq!(headers["cache-control"], "no-store");
    assert!(headers.contains_key("content-security-policy"));
    assert!(headers.contains_key("strict-transport-security"));
}

fn with_metrics_listener(config: &mut karvon::config::ServeConfig) {
    config.metrics_bind = Some(std::net::SocketAddr::from(([127, 0, 0, 1], 0)));
}

async fn metrics_text(app: &TestApp) -> String {
    let address = app.metrics_address.as_deref().expect("metrics listener");
    let response = app
        .client
        .get(format!("{address}/metrics"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    response.text().await.unwrap()
}

backend_test!(
    metrics_are_not_served_on_the_public_port,
    with_metrics_listener
);
async fn metrics_are_not_served_on_the_public_port(app: TestApp) {
    let response = app.client.get(app.url("/metrics")).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    assert!(metrics_text(&app).await.contains("requests_total"));
}

backend_test!(
    metrics_count_requests_by_route_pattern,
    with_metrics_listener
);
async fn metrics_count_requests_by_route_pattern(app: TestApp) {
    let centre = app.create_centre("Khujand").await;
    for _ in 0..3 {
        let response = app
            .get(&format!("/api/v1/centres/{centre}"), &app.admin)
            .await;
        assert_eq!(response.status(), StatusCode::OK);
    }
    let text = metrics_text(&app).await;
    let line = text
        .lines()
        .find(|line| {
            line.contains("requests_total")
                && line.contains(r#"endpoint="/api/v1/centres/{id}""#)
                && line.contains(r#"status="200""#)
        })
        .unwrap_or_else(|| panic!("no counter for /api/v1/centres/{{id}} in:\n{text}"));
    assert!(line.ends_with(" 3"), "{line}");
    assert!(
        !text.contains(&centre),
        "metrics must use the pattern, not ids"
    );
    assert!(text.contains("_bucket{"), "latency histogram");
}

backend_test!(readyz_answers_503_problem_quickly_when_the_database_is_gone);
async fn readyz_answers_503_problem_quickly_when_the_database_is_gone(app: TestApp) {
    if !app.drop_database() {
        // SQLite: the database is a file the process holds open; nothing to take away.
        return;
    }
    let started = std::time::Instant::now();
    let response = app.client.get(app.url("/readyz")).send().await.unwrap();
    assert!(
        started.elapsed() < std::time::Duration::from_millis(2500),
        "took {:?}",
        started.elapsed()
    );
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    let body = problem(response).await;
    assert_eq!(body["status"], 503);
    assert!(!body.to_string().contains("karvon_test_"), "{body}");
}

backend_test!(
    metrics_do_not_grow_a_series_per_unknown_path,
    with_metrics_listener
);
async fn metrics_do_not_grow_a_series_per_unknown_path(app: TestApp) {
    for i in 0..3 {
        let response = app.get(&format!("/api/v1/probe-{i}-xyz"), &app.admin).await;
        assert_eq!(response.status(), StatusCode::NOT_FOUND);
    }
    let text = metrics_text(&app).await;
    assert!(
        text.contains(r#"status="404""#),
        "unknown paths are counted:\n{text}"
    );
    assert!(
        !text.contains("probe-"),
        "every unknown path became its own time series:\n{text}"
    );
}

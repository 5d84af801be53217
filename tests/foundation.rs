mod common;

use common::{on_each_backend, problem};
use reqwest::StatusCode;

#[tokio::test]
async fn health_ready_and_docs_answer() {
    on_each_backend(|app| async move {
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
        let spec: serde_json::Value = spec.json().await.unwrap();
        assert!(spec["openapi"].as_str().unwrap().starts_with("3.1"));
        let docs = app.client.get(app.url("/docs/")).send().await.unwrap();
        assert_eq!(docs.status(), StatusCode::OK);
        let redirect = app.client.get(app.url("/docs")).send().await.unwrap();
        assert!(redirect.status().is_redirection());
        assert_eq!(redirect.headers()["location"], "/docs/");
    })
    .await;
}

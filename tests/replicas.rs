//! Karvon runs as stateless replicas behind a load balancer on one PostgreSQL: whatever one
//! replica knows about sessions, idempotency keys and login attempts, the others know at once.

mod common;

use common::{spawn, Backend, PostgresDatabase, TestApp};
use reqwest::{Method, StatusCode};
use serde_json::json;

/// Two servers over one fresh PostgreSQL database.
async fn two_replicas(admin_url: &str) -> (TestApp, TestApp, PostgresDatabase) {
    let database = PostgresDatabase::create(admin_url);
    let first = spawn(database.url.clone(), Backend::Postgres, &|_| {}).await;
    let second = first.replica().await;
    (first, second, database)
}

postgres_test!(a_session_started_on_one_replica_works_on_the_other_and_logout_cuts_both);
async fn a_session_started_on_one_replica_works_on_the_other_and_logout_cuts_both(
    admin_url: String,
) {
    let (first, second, _database) = two_replicas(&admin_url).await;
    let token = first.login("admin", common::ADMIN_PASSWORD).await;
    assert_eq!(
        second.get("/api/v1/me", &token).await.status(),
        StatusCode::OK
    );

    let logout = second
        .request(Method::POST, "/api/v1/auth/logout", Some(&token), None)
        .await;
    assert_eq!(logout.status(), StatusCode::NO_CONTENT);
    for replica in [&first, &second] {
        let response = replica.get("/api/v1/me", &token).await;
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    }
    first.stop().await;
    second.stop().await;
}

postgres_test!(an_idempotency_key_replayed_on_the_other_replica_replays);
async fn an_idempotency_key_replayed_on_the_other_replica_replays(admin_url: String) {
    let (first, second, _database) = two_replicas(&admin_url).await;
    let body = json!({"name": "MRC Khujand", "city": "Khujand", "country": "TJ"});
    let send = |replica: &TestApp| {
        replica
            .client
            .post(replica.url("/api/v1/centres"))
            .bearer_auth(&replica.admin)
            .header("Idempotency-Key", "create-khujand-1")
            .json(&body)
            .send()
    };
    let created = send(&first).await.expect("first");
    assert_eq!(created.status(), StatusCode::CREATED);
    let created: serde_json::Value = created.json().await.unwrap();
    let replayed = send(&second).await.expect("replay");
    assert_eq!(replayed.status(), StatusCode::CREATED);
    assert_eq!(replayed.headers()["idempotent-replayed"], "true");
    let replayed: serde_json::Value = replayed.json().await.unwrap();
    assert_eq!(replayed["id"], created["id"]);

    let list: serde_json::Value = first
        .get("/api/v1/centres", &first.admin)
        .await
        .json()
        .await
        .unwrap();
    let named = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|centre| centre["name"] == "MRC Khujand")
        .count();
    assert_eq!(named, 1, "one centre, whichever replica answered");
    first.stop().await;
    second.stop().await;
}

postgres_test!(failed_logins_on_both_replicas_count_together);
async fn failed_logins_on_both_replicas_count_together(admin_url: String) {
    let (first, second, _database) = two_replicas(&admin_url).await;
    let mut refused = Vec::new();
    for round in 0..4 {
        refused.push(wrong_login(&first).await);
        refused.push(wrong_login(&second).await);
        if round == 0 {
            assert!(refused.iter().all(|s| *s == StatusCode::UNAUTHORIZED));
        }
    }
    assert!(
        refused.contains(&StatusCode::TOO_MANY_REQUESTS),
        "8 failures split over two replicas were never throttled: {refused:?}"
    );
    let right = first
        .request(
            Method::POST,
            "/api/v1/auth/login",
            None,
            Some(json!({"username": "admin", "password": common::ADMIN_PASSWORD})),
        )
        .await;
    assert_eq!(right.status(), StatusCode::TOO_MANY_REQUESTS);
    first.stop().await;
    second.stop().await;
}

async fn wrong_login(replica: &TestApp) -> StatusCode {
    replica
        .request(
            Method::POST,
            "/api/v1/auth/login",
            None,
            Some(json!({"username": "admin", "password": "not the password at all"})),
        )
        .await
        .status()
}

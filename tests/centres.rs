//! Centres: admins create, update and deactivate them; staff read only their own.

mod common;

use common::{problem, TestApp};
use reqwest::StatusCode;
use serde_json::{json, Value};

async fn two_centres_and_staff(
    app: &TestApp,
) -> (String, String, common::Account, common::Account) {
    let a = app.create_centre("Dushanbe").await;
    let b = app.create_centre("Khujand").await;
    let counsellor = app.create_staff("coun.a", "counsellor", Some(&a)).await;
    let supervisor = app.create_staff("sup.a", "supervisor", Some(&a)).await;
    (a, b, counsellor, supervisor)
}

backend_test!(an_admin_creates_updates_and_deactivates_a_centre);
async fn an_admin_creates_updates_and_deactivates_a_centre(app: TestApp) {
    let created = app
        .post(
            "/api/v1/centres",
            &app.admin,
            json!({"name": "MRC Dushanbe", "city": "Dushanbe", "country": "TJ"}),
        )
        .await;
    assert_eq!(created.status(), StatusCode::CREATED);
    assert_eq!(created.headers()["etag"], "\"1\"");
    let created: Value = created.json().await.unwrap();
    assert_eq!(created["country"], "TJ");
    assert_eq!(created["active"], true);
    let path = format!("/api/v1/centres/{}", created["id"].as_str().unwrap());

    let renamed = app
        .patch(
            &path,
            &app.admin,
            "\"1\"",
            json!({"name": "MRC Dushanbe (main)"}),
        )
        .await;
    assert_eq!(renamed.status(), StatusCode::OK);
    let deactivated = app
        .patch(&path, &app.admin, "\"2\"", json!({"active": false}))
        .await;
    assert_eq!(deactivated.status(), StatusCode::OK);

    let stored: Value = app.get(&path, &app.admin).await.json().await.unwrap();
    assert_eq!(stored["name"], "MRC Dushanbe (main)");
    assert_eq!(stored["active"], false);
    assert_eq!(stored["version"], 3);
}

backend_test!(staff_read_their_own_centre_only);
async fn staff_read_their_own_centre_only(app: TestApp) {
    let (a, b, counsellor, supervisor) = two_centres_and_staff(&app).await;
    for staff in [&counsellor, &supervisor] {
        let own = app.get(&format!("/api/v1/centres/{a}"), &staff.token).await;
        assert_eq!(own.status(), StatusCode::OK);
        let other = app.get(&format!("/api/v1/centres/{b}"), &staff.token).await;
        assert_eq!(other.status(), StatusCode::NOT_FOUND);
        assert_eq!(problem(other).await["status"], 404);
        let list: Value = app
            .get("/api/v1/centres", &staff.token)
            .await
            .json()
            .await
            .unwrap();
        let ids: Vec<&str> = list["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["id"].as_str().unwrap())
            .collect();
        assert_eq!(ids, [a.as_str()], "{}", staff.username);
    }
    let all: Value = app
        .get("/api/v1/centres", &app.admin)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(all["items"].as_array().unwrap().len(), 2);
}

backend_test!(staff_may_not_change_their_own_centre);
async fn staff_may_not_change_their_own_centre(app: TestApp) {
    let (a, b, counsellor, supervisor) = two_centres_and_staff(&app).await;
    for staff in [&counsellor, &supervisor] {
        let own = app
            .patch(
                &format!("/api/v1/centres/{a}"),
                &staff.token,
                "\"1\"",
                json!({"city": "X"}),
            )
            .await;
        assert_eq!(own.status(), StatusCode::FORBIDDEN);
        let other = app
            .patch(
                &format!("/api/v1/centres/{b}"),
                &staff.token,
                "\"1\"",
                json!({"city": "X"}),
            )
            .await;
        assert_eq!(
            other.status(),
            StatusCode::FORBIDDEN,
            "refused by role first"
        );
    }
    let stored: Value = app
        .get(&format!("/api/v1/centres/{a}"), &app.admin)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(stored["city"], "Dushanbe");
}

backend_test!(staff_may_not_create_centres);
async fn staff_may_not_create_centres(app: TestApp) {
    let (_, _, counsellor, _) = two_centres_and_staff(&app).await;
    let response = app
        .post(
            "/api/v1/centres",
            &counsellor.token,
            json!({"name": "Rogue", "city": "Rogue", "country": "TJ"}),
        )
        .await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
}

backend_test!(an_invalid_country_is_a_400_naming_country);
async fn an_invalid_country_is_a_400_naming_country(app: TestApp) {
    for country in ["XX", "tj", "TJK", ""] {
        let response = app
            .post(
                "/api/v1/centres",
                &app.admin,
                json!({"name": "Kulob", "city": "Kulob", "country": country}),
            )
            .await;
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{country:?}");
        let body = problem(response).await;
        assert_eq!(body["errors"][0]["field"], "country", "{country:?}");
    }
}

backend_test!(centre_names_are_unique);
async fn centre_names_are_unique(app: TestApp) {
    app.create_centre("Dushanbe").await;
    let response = app
        .post(
            "/api/v1/centres",
            &app.admin,
            json!({"name": "Dushanbe", "city": "Dushanbe", "country": "TJ"}),
        )
        .await;
    assert_eq!(response.status(), StatusCode::CONFLICT);
}

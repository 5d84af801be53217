//! The service-provider directory: who manages which entries, who reads them, the filters, and
//! validation.

mod common;

use common::world::*;
use common::{error_fields, expect, id, problem, TestApp};
use reqwest::StatusCode;
use serde_json::{json, Value};

fn provider_count(app: &TestApp) -> i64 {
    use diesel::prelude::*;
    use karvon::db::schema::service_providers;
    service_providers::table
        .count()
        .get_result(&mut app.db())
        .expect("count providers")
}

fn sorted(mut ids: Vec<String>) -> Vec<String> {
    ids.sort();
    ids
}

backend_test!(an_admin_creates_a_global_entry_with_every_field);
async fn an_admin_creates_a_global_entry_with_every_field(app: TestApp) {
    let response = app
        .post(
            "/api/v1/service-providers",
            &app.admin,
            json!({
                "name": "IOM Tajikistan",
                "kind": "ngo",
                "description": "Return and reintegration support",
                "address": "22A Bokhtar St",
                "city": "Dushanbe",
                "country": "TJ",
                "phone": "+992372211111",
                "email": "info@iom.example",
                "website": "https://tajikistan.iom.int",
                "languages": ["tg", "ru", "en"],
                "opening_hours": "Mon–Fri 9:00–17:00",
                "accepts_referrals": true,
            }),
        )
        .await;
    assert_eq!(response.headers()["etag"], "\"1\"");
    let created = expect(response, StatusCode::CREATED, "create").await;
    assert_eq!(created["centre_id"], Value::Null);
    assert_eq!(created["kind"], "ngo");
    assert_eq!(created["city"], "Dushanbe");
    assert_eq!(created["country"], "TJ");
    assert_eq!(created["phone"], "+992372211111");
    assert_eq!(created["website"], "https://tajikistan.iom.int");
    assert_eq!(created["languages"], json!(["en", "ru", "tg"]));
    assert_eq!(created["active"], true);
    assert_eq!(created["accepts_referrals"], true);
    assert_eq!(created["version"], 1);
    let id = id(&created);
    let read = expect(
        app.get(&format!("/api/v1/service-providers/{id}"), &app.admin)
            .await,
        StatusCode::OK,
        "read",
    )
    .await;
    assert_eq!(read, created);
    assert_eq!(app.audit_actions(&id), ["service_provider.create"]);
}

backend_test!(who_may_create_which_entries);
async fn who_may_create_which_entries(app: TestApp) {
    let care = Care::new(&app).await;
    let body = |centre: Option<&str>| {
        let mut body =
            json!({"name": "Migrant Hotline", "kind": "other", "accepts_referrals": true});
        if let Some(centre) = centre {
            body["centre_id"] = json!(centre);
        }
        body
    };
    let count = provider_count(&app);
    // Refused: admins a centre's entry; supervisors another centre's; counsellors any.
    for (token, centre, who) in [
        (&app.admin, Some(care.centre.as_str()), "admin for a centre"),
        (
            &care.supervisor.token,
            Some(care.other_centre.as_str()),
            "supervisor for another centre",
        ),
        (&care.counsellor.token, None, "counsellor"),
        (
            &care.counsellor.token,
            Some(care.centre.as_str()),
            "counsellor for own centre",
        ),
    ] {
        let response = app
            .post("/api/v1/service-providers", token, body(centre))
            .await;
        assert_eq!(response.status(), StatusCode::FORBIDDEN, "{who}");
        assert_eq!(problem(response).await["status"], 403);
    }
    assert_eq!(provider_count(&app), count);

    // A supervisor's entry always belongs to their centre: never a global one.
    for centre in [None, Some(care.centre.as_str())] {
        let response = app
            .post(
                "/api/v1/service-providers",
                &care.supervisor.token,
                body(centre),
            )
            .await;
        let created = expect(response, StatusCode::CREATED, "supervisor").await;
        assert_eq!(created["centre_id"], care.centre.as_str());
    }
    let response = app
        .post(
            "/api/v1/service-providers",
            &care.supervisor.token,
            json!({"name": "x", "kind": "other", "accepts_referrals": true, "centre_id": null}),
        )
        .await;
    let created = expect(response, StatusCode::CREATED, "supervisor, null centre").await;
    assert_eq!(created["centre_id"], care.centre.as_str());
}

backend_test!(staff_read_global_entries_and_their_centres_only);
async fn staff_read_global_entries_and_their_centres_only(app: TestApp) {
    let care = Care::new(&app).await;
    let elsewhere = create_provider(
        &app,
        &care.other_supervisor.token,
        json!({"name": "Khujand Legal", "kind": "legal_aid", "accepts_referrals": true}),
    )
    .await;
    let ours = sorted(vec![
        care.global_provider.clone(),
        care.centre_provider.clone(),
    ]);
    for staff in [&care.counsellor, &care.colleague, &care.supervisor] {
        let listed = app
            .list_ids("/api/v1/service-providers", &staff.token)
            .await;
        assert_eq!(sorted(listed), ours, "{}", staff.username);
        let hidden = app
            .get(
                &format!("/api/v1/service-providers/{elsewhere}"),
                &staff.token,
            )
            .await;
        assert_eq!(hidden.status(), StatusCode::NOT_FOUND, "{}", staff.username);
        assert_eq!(problem(hidden).await["status"], 404);
        for id in &ours {
            let response = app
                .get(&format!("/api/v1/service-providers/{id}"), &staff.token)
                .await;
            assert_eq!(response.status(), StatusCode::OK);
        }
    }
    let theirs = app
        .list_ids("/api/v1/service-providers", &care.other_supervisor.token)
        .await;
    assert_eq!(
        sorted(theirs),
        sorted(vec![care.global_provider.clone(), elsewhere.clone()])
    );
    let response = app
        .get(
            &format!("/api/v1/service-providers/{}", care.centre_provider),
            &care.other_supervisor.token,
        )
        .await;
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
}

backend_test!(the_directory_is_filtered_by_kind_city_language_referrals_activity_and_name);
async fn the_directory_is_filtered_by_kind_city_language_referrals_activity_and_name(app: TestApp) {
    let care = Care::new(&app).await;
    let sup = &care.supervisor.token;
    let clinic = create_provider(
        &app,
        sup,
        json!({"name": "Clínica São José", "kind": "health", "city": "Dushanbe",
               "languages": ["pt", "ru"], "accepts_referrals": true}),
    )
    .await;
    let yordam = create_provider(
        &app,
        sup,
        json!({"name": "Ёрдам Хуқуқӣ", "kind": "legal_aid", "city": "Khujand",
               "languages": ["tg"], "accepts_referrals": false}),
    )
    .await;
    let embassy = create_provider(
        &app,
        &app.admin,
        json!({"name": "Embassy in Moscow", "kind": "embassy", "city": "Moscow",
               "languages": ["ru", "tg"], "accepts_referrals": true}),
    )
    .await;
    let retired = create_provider(
        &app,
        sup,
        json!({"name": "Old Clinic", "kind": "health", "city": "Dushanbe",
               "languages": ["ru"], "accepts_referrals": true}),
    )
    .await;
    let path = format!("/api/v1/service-providers/{retired}");
    let etag = app.etag(&path, sup).await;
    expect(
        app.patch(&path, sup, &etag, json!({"active": false})).await,
        StatusCode::OK,
        "retire",
    )
    .await;
    // Fixture entries: "Legal Aid Global" (legal_aid, global), "Dushanbe Shelter" (shelter).
    let token = &care.counsellor.token;
    let cases: Vec<(&str, Vec<&String>)> = vec![
        ("kind=health", vec![&clinic, &retired]),
        ("kind=legal_aid", vec![&care.global_provider, &yordam]),
        ("kind=embassy", vec![&embassy]),
        ("city=Dushanbe", vec![&clinic, &retired]),
        ("city=Khujand", vec![&yordam]),
        ("language=ru", vec![&clinic, &embassy, &retired]),
        ("language=tg", vec![&yordam, &embassy]),
        ("language=pt", vec![&clinic]),
        ("accepts_referrals=false", vec![&yordam]),
        ("active=false", vec![&retired]),
        (
            "active=true",
            vec![
                &care.global_provider,
                &care.centre_provider,
                &clinic,
                &yordam,
                &embassy,
            ],
        ),
        (
            "active=true&accepts_referrals=true&language=ru",
            vec![&clinic, &embassy],
        ),
        ("kind=health&active=true", vec![&clinic]),
        // q: part of the name, case- and accent-insensitive, in any script.
        ("q=sao%20jose", vec![&clinic]),
        ("q=CL%C3%8DNICA", vec![&clinic]),
        ("q=CL%C3%8DNIC", vec![&clinic, &retired]),
        ("q=clinic", vec![&clinic, &retired]),
        ("q=%D1%91%D1%80%D0%B4%D0%B0%D0%BC", vec![&yordam]), // ёрдам
        ("q=%D0%81%D0%A0%D0%94%D0%90%D0%9C", vec![&yordam]), // ЁРДАМ
        ("q=embassy%20in", vec![&embassy]),
        ("q=shelter", vec![&care.centre_provider]),
        ("q=nothing-like-this", vec![]),
        ("q=50%25", vec![]),
    ];
    for (query, expected) in cases {
        let listed = app
            .list_ids(&format!("/api/v1/service-providers?{query}"), token)
            .await;
        let expected = sorted(expected.into_iter().cloned().collect());
        assert_eq!(sorted(listed), expected, "{query}");
    }
    // Bad filter values are named.
    for (query, field) in [("language=english", "language"), ("kind=spa", "kind")] {
        let response = app
            .get(&format!("/api/v1/service-providers?{query}"), token)
            .await;
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{query}");
        let problem = problem(response).await;
        if query.starts_with("language") {
            assert_eq!(error_fields(&problem), [field]);
        }
    }
}

backend_test!(only_the_manager_updates_an_entry_with_if_match);
async fn only_the_manager_updates_an_entry_with_if_match(app: TestApp) {
    let care = Care::new(&app).await;
    let elsewhere = create_provider(
        &app,
        &care.other_supervisor.token,
        json!({"name": "Khujand Legal", "kind": "legal_aid", "accepts_referrals": true}),
    )
    .await;
    let global = format!("/api/v1/service-providers/{}", care.global_provider);
    let ours = format!("/api/v1/service-providers/{}", care.centre_provider);
    let theirs = format!("/api/v1/service-providers/{elsewhere}");
    let change = json!({"name": "Renamed"});
    for (path, token, status, who) in [
        (
            &global,
            &care.supervisor.token,
            StatusCode::FORBIDDEN,
            "supervisor on global",
        ),
        (
            &global,
            &care.counsellor.token,
            StatusCode::FORBIDDEN,
            "counsellor on global",
        ),
        (
            &ours,
            &care.counsellor.token,
            StatusCode::FORBIDDEN,
            "counsellor on own centre's",
        ),
        (
            &ours,
            &app.admin,
            StatusCode::FORBIDDEN,
            "admin on a centre's",
        ),
        (
            &theirs,
            &care.supervisor.token,
            StatusCode::NOT_FOUND,
            "supervisor on another centre's",
        ),
        (
            &ours,
            &care.other_supervisor.token,
            StatusCode::NOT_FOUND,
            "other supervisor on ours",
        ),
    ] {
        let response = app.patch(path, token, "\"1\"", change.clone()).await;
        assert_eq!(response.status(), status, "{who}");
        assert_eq!(problem(response).await["status"], status.as_u16(), "{who}");
    }
    for path in [&global, &ours, &theirs] {
        let id = path.rsplit('/').next().unwrap();
        assert_eq!(app.audit_actions(id), ["service_provider.create"], "{path}");
    }

    // The managers: admin on the global entry, supervisor on their centre's.
    for (path, token) in [(&global, &app.admin), (&ours, &care.supervisor.token)] {
        let response = app
            .patch(
                path,
                token,
                "\"1\"",
                json!({"name": "Renamed", "languages": ["uz"], "accepts_referrals": false, "city": null}),
            )
            .await;
        assert_eq!(response.headers()["etag"], "\"2\"");
        let updated = expect(response, StatusCode::OK, path).await;
        assert_eq!(updated["name"], "Renamed");
        assert_eq!(updated["languages"], json!(["uz"]));
        assert_eq!(updated["accepts_referrals"], false);
        assert_eq!(updated["version"], 2);
        // Stale: 412, nothing changes.
        let response = app
            .patch(path, token, "\"1\"", json!({"name": "Lost update"}))
            .await;
        assert_eq!(response.status(), StatusCode::PRECONDITION_FAILED);
        let read = expect(app.get(path, token).await, StatusCode::OK, "read").await;
        assert_eq!(read["name"], "Renamed");
        assert_eq!(read["version"], 2);
        // The name search follows the new name.
        let found = app
            .list_ids(
                "/api/v1/service-providers?q=renamed",
                &care.counsellor.token,
            )
            .await;
        assert!(found.contains(&id(&read)));
    }
    let found = app
        .list_ids(
            "/api/v1/service-providers?q=renamed",
            &care.counsellor.token,
        )
        .await;
    assert_eq!(found.len(), 2);
}

backend_test!(invalid_contact_details_are_named);
async fn invalid_contact_details_are_named(app: TestApp) {
    let care = Care::new(&app).await;
    let count = provider_count(&app);
    let base = json!({"name": "Bad Data", "kind": "other", "accepts_referrals": true});
    let cases = [
        (json!({"country": "XX"}), vec!["country"]),
        (json!({"country": "tj"}), vec!["country"]),
        (json!({"phone": "0372211111"}), vec!["phone"]),
        (
            json!({"languages": ["tg", "english"]}),
            vec!["languages[1]"],
        ),
        (json!({"languages": ["TG"]}), vec!["languages[0]"]),
        (json!({"website": "ftp://example.org"}), vec!["website"]),
        (json!({"website": "https://exa mple.org"}), vec!["website"]),
        (json!({"email": "not-an-email"}), vec!["email"]),
        (json!({"name": ""}), vec!["name"]),
        (
            json!({"country": "Tajikistan", "phone": "12", "website": "example.org"}),
            vec!["country", "phone", "website"],
        ),
    ];
    for (fields, expected) in &cases {
        let mut body = base.clone();
        for (key, value) in fields.as_object().unwrap() {
            body[key] = value.clone();
        }
        let response = app
            .post("/api/v1/service-providers", &care.supervisor.token, body)
            .await;
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{fields}");
        assert_eq!(
            error_fields(&problem(response).await),
            *expected,
            "{fields}"
        );
    }
    assert_eq!(provider_count(&app), count);

    // The same checks on update, and nothing is written.
    let path = format!("/api/v1/service-providers/{}", care.centre_provider);
    for (fields, expected) in &cases {
        let response = app
            .patch(&path, &care.supervisor.token, "\"1\"", fields.clone())
            .await;
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{fields}");
        assert_eq!(
            error_fields(&problem(response).await),
            *expected,
            "{fields}"
        );
    }
    let read = expect(
        app.get(&path, &care.supervisor.token).await,
        StatusCode::OK,
        "read",
    )
    .await;
    assert_eq!(read["version"], 1);
    // Unknown fields are refused too.
    let response = app
        .post(
            "/api/v1/service-providers",
            &care.supervisor.token,
            json!({"name": "X", "kind": "other", "accepts_referrals": true, "rating": 5}),
        )
        .await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
}

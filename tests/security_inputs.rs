//! Small holes in input handling: timestamps outside what both backends can store (query
//! parameters, forged cursors, body fields), oversized request headers, and a client address
//! forged through `X-Forwarded-For`.

mod common;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use chrono::{Duration, Utc};
use common::world::*;
use common::{expect, id, problem, TestApp};
use diesel::prelude::*;
use reqwest::StatusCode;
use serde_json::{json, Value};

/// Instants no real record has: PostgreSQL cannot hold the first, SQLite would compare the
/// others as text in the wrong order.
const OUT_OF_RANGE: [&str; 6] = [
    "-5000-01-01T00:00:00Z",
    "+50000-01-01T00:00:00Z",
    "0000-01-01T00:00:00Z",
    "1899-12-31T23:59:59Z",
    "10000-01-01T00:00:00Z",
    "9999-12-31T23:00:00-05:00",
];

/// The edges of the accepted range.
const IN_RANGE: [&str; 2] = ["1900-01-01T00:00:00Z", "9999-12-31T23:59:59Z"];

/// GET `path` with one query parameter (encoded, so `+` stays a plus).
async fn get_with(
    app: &TestApp,
    path: &str,
    token: &str,
    param: &str,
    value: &str,
) -> reqwest::Response {
    app.client
        .get(app.url(path))
        .bearer_auth(token)
        .query(&[(param, value)])
        .send()
        .await
        .expect("request")
}

/// Asserts a 400 problem whose `errors` name `field` and nothing else; returns the problem.
async fn assert_names(response: reqwest::Response, field: &str, what: &str) -> Value {
    assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{what}");
    let body = problem(response).await;
    let fields: Vec<&str> = body["errors"]
        .as_array()
        .expect("errors")
        .iter()
        .filter_map(|e| e["field"].as_str())
        .collect();
    assert!(
        !fields.is_empty() && fields.iter().all(|f| *f == field),
        "{what}: {body}"
    );
    body
}

fn count(app: &TestApp, table: &str) -> i64 {
    #[derive(QueryableByName)]
    struct Count {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        n: i64,
    }
    diesel::sql_query(format!("SELECT COUNT(*) AS n FROM {table}"))
        .get_result::<Count>(&mut app.db())
        .expect("count")
        .n
}

backend_test!(timestamp_query_parameters_outside_1900_to_9999_are_400_naming_the_parameter);
async fn timestamp_query_parameters_outside_1900_to_9999_are_400_naming_the_parameter(
    app: TestApp,
) {
    let care = Care::new(&app).await;
    let counsellor = care.counsellor.token.as_str();
    let supervisor = care.supervisor.token.as_str();
    let admin = app.admin.as_str();
    let parameters: [(&str, &str, &str); 15] = [
        ("/api/v1/migrants", "updated_since", counsellor),
        ("/api/v1/cases", "updated_since", counsellor),
        ("/api/v1/cases", "opened_after", counsellor),
        ("/api/v1/cases", "opened_before", counsellor),
        ("/api/v1/consultations", "updated_since", counsellor),
        ("/api/v1/consultations", "from", counsellor),
        ("/api/v1/consultations", "to", counsellor),
        ("/api/v1/referrals", "updated_since", counsellor),
        ("/api/v1/follow-ups", "updated_since", counsellor),
        ("/api/v1/follow-ups", "due_before", counsellor),
        ("/api/v1/service-providers", "updated_since", counsellor),
        ("/api/v1/users", "updated_since", admin),
        ("/api/v1/centres", "updated_since", admin),
        ("/api/v1/audit-events", "updated_since", supervisor),
        ("/api/v1/audit-events", "updated_since", admin),
    ];
    for (path, param, token) in parameters {
        for value in OUT_OF_RANGE {
            let response = get_with(&app, path, token, param, value).await;
            let body = assert_names(response, param, &format!("{path}?{param}={value}")).await;
            let message = body["errors"][0]["message"].as_str().unwrap_or_default();
            assert!(
                message.contains("1900") || !value.starts_with("0000"),
                "{body}"
            );
        }
        for value in IN_RANGE {
            let response = get_with(&app, path, token, param, value).await;
            let what = format!("{path}?{param}={value}");
            expect(response, StatusCode::OK, &what).await;
        }
    }
}

fn forged_cursor(at: &str, id: &str) -> String {
    URL_SAFE_NO_PAD.encode(json!([at, id]).to_string())
}

backend_test!(a_cursor_forged_to_hold_an_impossible_time_is_400_naming_cursor);
async fn a_cursor_forged_to_hold_an_impossible_time_is_400_naming_cursor(app: TestApp) {
    let care = Care::new(&app).await;
    let token = care.counsellor.token.as_str();
    // Pages of two, so every list below issues a real cursor too.
    for days in 1..=3 {
        consult(
            &app,
            token,
            &care.case_id,
            Utc::now() - Duration::days(days),
        )
        .await;
        schedule(
            &app,
            token,
            &care.case_id,
            Utc::now() + Duration::days(days),
            None,
        )
        .await;
    }
    let timeline = format!("/api/v1/cases/{}/timeline", care.case_id);
    let lists = [
        "/api/v1/consultations",
        "/api/v1/follow-ups",
        timeline.as_str(),
    ];
    for path in lists {
        for at in [
            "-5000-01-01T00:00:00",
            "+50000-01-01T00:00:00",
            "0000-01-01T00:00:00",
            "1899-12-31T23:59:59",
        ] {
            let cursor = forged_cursor(at, "01936b2e-7c1a-7d3e-9a51-2f6c1b0e4a11");
            let response = get_with(&app, path, token, "cursor", &cursor).await;
            assert_names(response, "cursor", &format!("{path} cursor at {at}")).await;
        }
        // The cursors the API itself issues still page through.
        let first = expect(
            get_with(&app, path, token, "limit", "2").await,
            StatusCode::OK,
            path,
        )
        .await;
        let cursor = first["next_cursor"].as_str().expect("a second page");
        let second = app
            .client
            .get(app.url(path))
            .bearer_auth(token)
            .query(&[("limit", "2"), ("cursor", cursor)])
            .send()
            .await
            .expect("request");
        let second = ids(&expect(second, StatusCode::OK, path).await);
        assert!(!second.is_empty(), "{path}: second page");
        assert!(
            second.iter().all(|id| !ids(&first).contains(id)),
            "{path}: the second page goes on from the first"
        );
    }
}

backend_test!(consultation_and_follow_up_times_out_of_range_are_refused_naming_the_field);
async fn consultation_and_follow_up_times_out_of_range_are_refused_naming_the_field(app: TestApp) {
    let care = Care::new(&app).await;
    let token = care.counsellor.token.as_str();
    let consultation = consult(&app, token, &care.case_id, Utc::now()).await;
    let consultation_path = format!("/api/v1/consultations/{}", id(&consultation));
    let follow_up = schedule(&app, token, &care.case_id, Utc::now(), None).await;
    let follow_up_path = format!("/api/v1/follow-ups/{}", id(&follow_up));
    let (consultations, follow_ups) = (count(&app, "consultations"), count(&app, "follow_ups"));
    let audit_rows = count(&app, "audit_events");
    for at in OUT_OF_RANGE {
        let body = json!({
            "case_id": care.case_id, "occurred_at": at, "channel": "walk_in",
            "duration_minutes": 30, "topics": ["other"], "language": "tg", "notes": "n",
        });
        let response = app.post("/api/v1/consultations", token, body).await;
        assert_names(response, "occurred_at", &format!("create occurred_at {at}")).await;
        let etag = app.etag(&consultation_path, token).await;
        let response = app
            .patch(&consultation_path, token, &etag, json!({"occurred_at": at}))
            .await;
        assert_names(response, "occurred_at", &format!("patch occurred_at {at}")).await;

        let body = json!({"due_at": at, "kind": "call"});
        let response = follow_up_response(&app, token, &care.case_id, body).await;
        assert_names(response, "due_at", &format!("create due_at {at}")).await;
        let etag = app.etag(&follow_up_path, token).await;
        let response = app
            .patch(&follow_up_path, token, &etag, json!({"due_at": at}))
            .await;
        assert_names(response, "due_at", &format!("patch due_at {at}")).await;
    }
    assert_eq!(count(&app, "consultations"), consultations);
    assert_eq!(count(&app, "follow_ups"), follow_ups);
    let after = expect(
        app.get(&consultation_path, token).await,
        StatusCode::OK,
        "read",
    )
    .await;
    assert_eq!(after["version"], consultation["version"]);
    assert_eq!(after["occurred_at"], consultation["occurred_at"]);
    let (_, _, version) = app.stored_follow_up(&id(&follow_up));
    assert_eq!(json!(version), follow_up["version"]);
    let writes = audit_writes_since(&app, audit_rows);
    assert!(writes.is_empty(), "nothing written: {writes:?}");
}

/// Create and update actions among the audit rows after the first `skip`.
fn audit_writes_since(app: &TestApp, skip: i64) -> Vec<String> {
    use karvon::db::schema::audit_events;
    let actions: Vec<String> = audit_events::table
        .order(audit_events::id.asc())
        .offset(skip)
        .select(audit_events::action)
        .load(&mut app.db())
        .expect("audit");
    actions
        .into_iter()
        .filter(|a| a.ends_with(".create") || a.ends_with(".update"))
        .collect()
}

backend_test!(dates_out_of_range_in_bodies_and_queries_are_refused_naming_the_field);
async fn dates_out_of_range_in_bodies_and_queries_are_refused_naming_the_field(app: TestApp) {
    let care = Care::new(&app).await;
    let token = care.counsellor.token.as_str();
    let migrant_path = format!("/api/v1/migrants/{}", care.migrant_id);
    let (migrants, referrals) = (count(&app, "migrants"), count(&app, "referrals"));
    for date in ["-5000-01-01", "+50000-01-01", "0000-01-01", "1899-12-31"] {
        let mut body = json!({
            "given_name": "Parvina", "family_name": "Rahimova", "sex": "female",
            "nationality": "TJ", "migration_status": "prospective",
            "consent": {"services": true, "referral_sharing": true, "statistics": true},
        });
        body["date_of_birth"] = json!(date);
        let response = app.post("/api/v1/migrants", token, body).await;
        assert_names(response, "date_of_birth", &format!("register born {date}")).await;
        let etag = app.etag(&migrant_path, token).await;
        let response = app
            .patch(&migrant_path, token, &etag, json!({"date_of_birth": date}))
            .await;
        assert_names(response, "date_of_birth", &format!("patch born {date}")).await;
        let response = app
            .client
            .get(app.url("/api/v1/migrants/duplicates"))
            .bearer_auth(token)
            .query(&[
                ("given_name", "Gulru"),
                ("family_name", "Jabborzoda"),
                ("date_of_birth", date),
            ])
            .send()
            .await
            .expect("request");
        assert_names(response, "date_of_birth", &format!("duplicates {date}")).await;

        let body = json!({
            "provider_id": care.global_provider, "reason": "Wages unpaid",
            "urgency": "normal", "expected_response_by": date,
        });
        let path = format!("/api/v1/cases/{}/referrals", care.case_id);
        let response = app.post(&path, token, body).await;
        assert_names(
            response,
            "expected_response_by",
            &format!("refer by {date}"),
        )
        .await;
    }
    assert_eq!(count(&app, "migrants"), migrants);
    assert_eq!(count(&app, "referrals"), referrals);
    let migrant = expect(app.get(&migrant_path, token).await, StatusCode::OK, "read").await;
    assert_eq!(migrant["version"], 1, "the record is unchanged");
}

/// Sends GET /api/v1/me with one extra header of `size` bytes.
async fn me_with_header(app: &TestApp, token: &str, size: usize) -> reqwest::Response {
    app.client
        .get(app.url("/api/v1/me"))
        .bearer_auth(token)
        .header("x-padding", "a".repeat(size))
        .send()
        .await
        .expect("request")
}

backend_test!(request_headers_over_16_kib_are_431_and_nothing_is_written);
async fn request_headers_over_16_kib_are_431_and_nothing_is_written(app: TestApp) {
    let admin = app.admin.clone();
    // Just under the limit with the client's own headers (host, authorization, ...).
    let response = me_with_header(&app, &admin, 15 * 1024).await;
    expect(response, StatusCode::OK, "15 KiB of headers").await;

    for size in [16 * 1024 + 1, 100_000] {
        let response = me_with_header(&app, &admin, size).await;
        assert_eq!(
            response.status(),
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            "{size} bytes of headers"
        );
        let body = problem(response).await;
        assert_eq!(body["status"], 431);
    }

    // Many small headers count together.
    let mut request = app.client.get(app.url("/api/v1/me")).bearer_auth(&admin);
    for n in 0..40 {
        request = request.header(format!("x-padding-{n}"), "b".repeat(500));
    }
    let response = request.send().await.expect("request");
    assert_eq!(
        response.status(),
        StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE
    );

    let centres = count(&app, "centres");
    let response = app
        .client
        .post(app.url("/api/v1/centres"))
        .bearer_auth(&admin)
        .header("x-padding", "a".repeat(100_000))
        .json(&json!({"name": "Bokhtar", "city": "Bokhtar", "country": "TJ"}))
        .send()
        .await
        .expect("request");
    assert_eq!(
        response.status(),
        StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE
    );
    assert_eq!(count(&app, "centres"), centres, "no centre created");
}

/// Logs `username` in with extra headers; returns the client address of the login's audit row.
async fn login_address(app: &TestApp, user: &common::Account, headers: &[(&str, &str)]) -> String {
    use karvon::db::schema::audit_events;
    let mut request = app
        .client
        .post(app.url("/api/v1/auth/login"))
        .json(&json!({"username": user.username, "password": user.password}));
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let response = request.send().await.expect("request");
    expect(response, StatusCode::OK, "login").await;
    let address: Option<String> = audit_events::table
        .filter(audit_events::action.eq("auth.login"))
        .filter(audit_events::entity_id.eq(&user.id))
        .order(audit_events::id.desc())
        .select(audit_events::client_ip)
        .first(&mut app.db())
        .expect("login audit row");
    address.expect("client address recorded")
}

backend_test!(
    behind_a_trusted_proxy_the_client_address_is_the_one_the_proxy_appended,
    |config| config.trust_proxy_headers = true
);
async fn behind_a_trusted_proxy_the_client_address_is_the_one_the_proxy_appended(app: TestApp) {
    let centre = app.create_centre("Dushanbe").await;
    let user = app.create_staff("amina", "counsellor", Some(&centre)).await;
    let cases: [(&[(&str, &str)], &str); 7] = [
        (&[("x-forwarded-for", "6.6.6.6, 10.0.0.1")], "10.0.0.1"),
        (&[("x-forwarded-for", "10.0.0.7")], "10.0.0.7"),
        (&[("x-forwarded-for", "6.6.6.6,2001:db8::1")], "2001:db8::1"),
        // A proxy that adds its own header line after the client's.
        (
            &[
                ("x-forwarded-for", "6.6.6.6"),
                ("x-forwarded-for", "10.0.0.2"),
            ],
            "10.0.0.2",
        ),
        // Headers the client writes alone are not taken; nor is an unparsable entry.
        (&[("forwarded", "for=7.7.7.7")], "127.0.0.1"),
        (&[("x-real-ip", "7.7.7.7")], "127.0.0.1"),
        (
            &[("x-forwarded-for", "6.6.6.6, not-an-address")],
            "127.0.0.1",
        ),
    ];
    for (headers, address) in cases {
        assert_eq!(
            login_address(&app, &user, headers).await,
            address,
            "{headers:?}"
        );
    }
    assert_eq!(
        login_address(&app, &user, &[]).await,
        "127.0.0.1",
        "no header"
    );
}

backend_test!(without_trusted_proxy_the_client_address_is_the_peer);
async fn without_trusted_proxy_the_client_address_is_the_peer(app: TestApp) {
    let centre = app.create_centre("Dushanbe").await;
    let user = app.create_staff("amina", "counsellor", Some(&centre)).await;
    let headers = [
        ("x-forwarded-for", "6.6.6.6, 10.0.0.1"),
        ("forwarded", "for=7.7.7.7"),
    ];
    assert_eq!(login_address(&app, &user, &headers).await, "127.0.0.1");
}

//! The access matrix for every care endpoint (providers, referrals, follow-ups, closing, caseloads): each is tried as the case's counsellor,
//! another counsellor of the same centre, the centre's supervisor, another centre's supervisor
//! and an admin. Out of scope → 404; a forbidden action on a visible object → 403.
//!
//! Every attempt runs on fresh objects made by the case's counsellor, so an allowed write in one
//! column cannot change the outcome of the next.

mod common;

use chrono::{Duration, Utc};
use common::world::*;
use common::{expect, id, TestApp};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

const OK: StatusCode = StatusCode::OK;
const CREATED: StatusCode = StatusCode::CREATED;
const FORBIDDEN: StatusCode = StatusCode::FORBIDDEN;
const NOT_FOUND: StatusCode = StatusCode::NOT_FOUND;

#[derive(Clone, Copy, Debug)]
enum Endpoint {
    CreateReferral,
    ReadReferral,
    TransitionReferral,
    CreateFollowUp,
    ReadFollowUp,
    UpdateFollowUp,
    CompleteFollowUp,
    CancelFollowUp,
    MissFollowUp,
    Timeline,
    ForceClose,
    PlainClose,
    ReadCentreProvider,
    ReadGlobalProvider,
    CreateProvider,
    UpdateCentreProvider,
    UpdateGlobalProvider,
}

/// Columns: case counsellor, colleague, supervisor, other centre's supervisor, admin.
const MATRIX: [(Endpoint, [StatusCode; 5]); 17] = [
    (
        Endpoint::CreateReferral,
        [CREATED, NOT_FOUND, CREATED, NOT_FOUND, FORBIDDEN],
    ),
    (
        Endpoint::ReadReferral,
        [OK, NOT_FOUND, OK, NOT_FOUND, FORBIDDEN],
    ),
    (
        Endpoint::TransitionReferral,
        [OK, NOT_FOUND, OK, NOT_FOUND, FORBIDDEN],
    ),
    (
        Endpoint::CreateFollowUp,
        [CREATED, NOT_FOUND, CREATED, NOT_FOUND, FORBIDDEN],
    ),
    (
        Endpoint::ReadFollowUp,
        [OK, NOT_FOUND, OK, NOT_FOUND, FORBIDDEN],
    ),
    (
        Endpoint::UpdateFollowUp,
        [OK, NOT_FOUND, OK, NOT_FOUND, FORBIDDEN],
    ),
    (
        Endpoint::CompleteFollowUp,
        [OK, NOT_FOUND, OK, NOT_FOUND, FORBIDDEN],
    ),
    (
        Endpoint::CancelFollowUp,
        [OK, NOT_FOUND, OK, NOT_FOUND, FORBIDDEN],
    ),
    (
        Endpoint::MissFollowUp,
        [OK, NOT_FOUND, OK, NOT_FOUND, FORBIDDEN],
    ),
    (
        Endpoint::Timeline,
        [OK, NOT_FOUND, OK, NOT_FOUND, FORBIDDEN],
    ),
    (
        Endpoint::ForceClose,
        [FORBIDDEN, NOT_FOUND, OK, NOT_FOUND, FORBIDDEN],
    ),
    (
        Endpoint::PlainClose,
        [OK, NOT_FOUND, OK, NOT_FOUND, FORBIDDEN],
    ),
    (Endpoint::ReadCentreProvider, [OK, OK, OK, NOT_FOUND, OK]),
    (Endpoint::ReadGlobalProvider, [OK, OK, OK, OK, OK]),
    (
        Endpoint::CreateProvider,
        [FORBIDDEN, FORBIDDEN, CREATED, CREATED, CREATED],
    ),
    (
        Endpoint::UpdateCentreProvider,
        [FORBIDDEN, FORBIDDEN, OK, NOT_FOUND, FORBIDDEN],
    ),
    (
        Endpoint::UpdateGlobalProvider,
        [FORBIDDEN, FORBIDDEN, FORBIDDEN, FORBIDDEN, OK],
    ),
];

const ACTORS: [&str; 5] = [
    "counsellor",
    "colleague",
    "supervisor",
    "other supervisor",
    "admin",
];

fn tokens(app: &TestApp, care: &Care) -> [String; 5] {
    [
        care.counsellor.token.clone(),
        care.colleague.token.clone(),
        care.supervisor.token.clone(),
        care.other_supervisor.token.clone(),
        app.admin.clone(),
    ]
}

/// Makes the objects the attempt needs (as the case's counsellor), then tries it as `token`;
/// returns the status and whether the attempt itself stored anything.
async fn attempt(
    app: &TestApp,
    care: &Care,
    endpoint: Endpoint,
    token: &str,
) -> (StatusCode, bool) {
    let owner = &care.counsellor.token;
    let fresh_case = || open_case(app, owner, &care.migrant_id, "normal", None);
    let fresh_referral = || refer(app, owner, &care.case_id, &care.global_provider, None);
    let fresh_follow_up = || {
        schedule(
            app,
            owner,
            &care.case_id,
            Utc::now() + Duration::days(1),
            None,
        )
    };
    let (method, path, body): (Method, String, Option<Value>) = match endpoint {
        Endpoint::CreateReferral => (
            Method::POST,
            format!("/api/v1/cases/{}/referrals", care.case_id),
            Some(
                json!({"provider_id": care.global_provider, "reason": "legal help", "urgency": "high"}),
            ),
        ),
        Endpoint::ReadReferral => {
            let id = id(&fresh_referral().await);
            (Method::GET, format!("/api/v1/referrals/{id}"), None)
        }
        Endpoint::TransitionReferral => {
            let id = id(&fresh_referral().await);
            (
                Method::POST,
                format!("/api/v1/referrals/{id}/transitions"),
                Some(json!({"to": "sent", "note": "emailed"})),
            )
        }
        Endpoint::CreateFollowUp => (
            Method::POST,
            format!("/api/v1/cases/{}/follow-ups", care.case_id),
            Some(json!({"due_at": rfc3339(Utc::now() + Duration::days(2)), "kind": "call"})),
        ),
        Endpoint::ReadFollowUp => {
            let id = id(&fresh_follow_up().await);
            (Method::GET, format!("/api/v1/follow-ups/{id}"), None)
        }
        Endpoint::UpdateFollowUp => {
            let id = id(&fresh_follow_up().await);
            (
                Method::PATCH,
                format!("/api/v1/follow-ups/{id}"),
                Some(json!({"due_at": rfc3339(Utc::now() + Duration::days(3))})),
            )
        }
        Endpoint::CompleteFollowUp | Endpoint::CancelFollowUp | Endpoint::MissFollowUp => {
            let id = id(&fresh_follow_up().await);
            let (action, body) = match endpoint {
                Endpoint::CompleteFollowUp => ("complete", json!({"outcome": "done"})),
                Endpoint::CancelFollowUp => ("cancel", json!({"reason": "not needed"})),
                _ => ("miss", json!({"note": "no answer"})),
            };
            (
                Method::POST,
                format!("/api/v1/follow-ups/{id}/{action}"),
                Some(body),
            )
        }
        Endpoint::Timeline => (
            Method::GET,
            format!("/api/v1/cases/{}/timeline", care.case_id),
            None,
        ),
        Endpoint::ForceClose | Endpoint::PlainClose => {
            // Force: a case with a scheduled follow-up; plain: a case with nothing open.
            let case = id(&fresh_case().await);
            let force = matches!(endpoint, Endpoint::ForceClose);
            if force {
                schedule(app, owner, &case, Utc::now() + Duration::days(1), None).await;
            }
            (
                Method::POST,
                format!("/api/v1/cases/{case}/close"),
                Some(json!({"reason": "resolved", "force": force})),
            )
        }
        Endpoint::ReadCentreProvider => (
            Method::GET,
            format!("/api/v1/service-providers/{}", care.centre_provider),
            None,
        ),
        Endpoint::ReadGlobalProvider => (
            Method::GET,
            format!("/api/v1/service-providers/{}", care.global_provider),
            None,
        ),
        Endpoint::CreateProvider => (
            Method::POST,
            "/api/v1/service-providers".to_owned(),
            Some(json!({"name": "New entry", "kind": "other", "accepts_referrals": true})),
        ),
        Endpoint::UpdateCentreProvider | Endpoint::UpdateGlobalProvider => {
            let (id, manager) = match endpoint {
                Endpoint::UpdateCentreProvider => (&care.centre_provider, &care.supervisor.token),
                _ => (&care.global_provider, &app.admin),
            };
            let path = format!("/api/v1/service-providers/{id}");
            let etag = app.etag(&path, manager).await;
            let before = app.snapshot_with_audit();
            let response = app
                .patch(&path, token, &etag, json!({"description": "updated"}))
                .await;
            return (response.status(), app.snapshot_with_audit() != before);
        }
    };
    let mut request = app
        .client
        .request(method, app.url(&path))
        .bearer_auth(token);
    if matches!(endpoint, Endpoint::UpdateFollowUp) {
        request = request.header("If-Match", "\"1\"");
    }
    if let Some(body) = body {
        request = request.json(&body);
    }
    let before = app.snapshot_with_audit();
    let status = request.send().await.expect("request").status();
    (status, app.snapshot_with_audit() != before)
}

backend_test!(every_new_endpoint_answers_each_role_as_designed);
async fn every_new_endpoint_answers_each_role_as_designed(app: TestApp) {
    let care = Care::new(&app).await;
    let tokens = tokens(&app, &care);
    let mut failures = Vec::new();
    for (endpoint, expected) in MATRIX {
        for (column, token) in tokens.iter().enumerate() {
            let (status, stored) = attempt(&app, &care, endpoint, token).await;
            if status != expected[column] {
                failures.push(format!(
                    "{endpoint:?} as {}: {status}, expected {}",
                    ACTORS[column], expected[column]
                ));
            } else if stored && !status.is_success() {
                failures.push(format!(
                    "{endpoint:?} as {}: refused with {status} but stored something",
                    ACTORS[column]
                ));
            }
        }
    }
    assert!(failures.is_empty(), "{:?}: {failures:#?}", app.backend);
}

backend_test!(lists_show_each_role_only_what_is_in_scope);
/// Lists answer 200 with only what is in scope (and 403 for admins).
async fn lists_show_each_role_only_what_is_in_scope(app: TestApp) {
    let care = Care::new(&app).await;
    let owner = &care.counsellor.token;
    let referral = id(&refer(&app, owner, &care.case_id, &care.global_provider, None).await);
    let follow_up = id(&schedule(
        &app,
        owner,
        &care.case_id,
        Utc::now() + Duration::days(1),
        None,
    )
    .await);
    let tokens = tokens(&app, &care);
    let see = |seen: bool, id: &str| if seen { vec![id.to_owned()] } else { vec![] };
    for (column, token) in tokens.iter().enumerate() {
        let who = ACTORS[column];
        let in_scope = column == 0 || column == 2;
        for (path, id) in [
            ("/api/v1/referrals", &referral),
            ("/api/v1/follow-ups", &follow_up),
        ] {
            let response = app.get(path, token).await;
            if who == "admin" {
                assert_eq!(response.status(), FORBIDDEN, "{path} as {who}");
                continue;
            }
            let body = expect(response, OK, path).await;
            assert_eq!(ids(&body), see(in_scope, id), "{path} as {who}");
        }
        // Filtering by a case out of scope reveals nothing either.
        if who != "admin" {
            let path = format!("/api/v1/referrals?case_id={}", care.case_id);
            assert_eq!(
                app.list_ids(&path, token).await,
                see(in_scope, &referral),
                "{who}"
            );
            let path = format!("/api/v1/follow-ups?case_id={}", care.case_id);
            assert_eq!(
                app.list_ids(&path, token).await,
                see(in_scope, &follow_up),
                "{who}"
            );
        }
        let response = app.get("/api/v1/caseloads", token).await;
        if who == "admin" {
            // Centres' totals only: no one named.
            let body = expect(response, OK, "caseloads").await;
            let items = body["items"].as_array().unwrap();
            assert!(!items.is_empty(), "{body}");
            assert!(items
                .iter()
                .all(|r| r["kind"] == "centre" && r.get("user_id").is_none()));
        } else {
            let body = expect(response, OK, "caseloads").await;
            let users: Vec<&str> = body["items"]
                .as_array()
                .unwrap()
                .iter()
                .map(|r| r["user_id"].as_str().unwrap())
                .collect();
            let expected: Vec<&str> = match column {
                0 => vec![&care.counsellor.id],
                1 => vec![&care.colleague.id],
                2 => {
                    let mut v = vec![
                        care.counsellor.id.as_str(),
                        care.colleague.id.as_str(),
                        care.supervisor.id.as_str(),
                    ];
                    v.sort();
                    v
                }
                _ => vec![&care.other_supervisor.id],
            };
            assert_eq!(users, expected, "caseloads as {who}");
        }
    }
}

backend_test!(reassigning_a_case_moves_its_referrals_and_follow_ups_with_it);
/// After a reassignment, the former counsellor loses the case's referrals and follow-ups (404)
/// and the new one gains them.
async fn reassigning_a_case_moves_its_referrals_and_follow_ups_with_it(app: TestApp) {
    let care = Care::new(&app).await;
    let owner = &care.counsellor.token;
    let referral = id(&refer(&app, owner, &care.case_id, &care.global_provider, None).await);
    let follow_up = id(&schedule(
        &app,
        owner,
        &care.case_id,
        Utc::now() + Duration::days(1),
        Some(&care.supervisor.id),
    )
    .await);
    expect(
        app.post(
            &format!("/api/v1/cases/{}/assign", care.case_id),
            &care.supervisor.token,
            json!({"assigned_to": care.colleague.id, "reason": "holiday cover"}),
        )
        .await,
        OK,
        "reassign",
    )
    .await;
    for (path, status_before, status_after) in [
        (format!("/api/v1/referrals/{referral}"), NOT_FOUND, OK),
        (format!("/api/v1/follow-ups/{follow_up}"), NOT_FOUND, OK),
    ] {
        assert_eq!(
            app.get(&path, owner).await.status(),
            status_before,
            "{path}"
        );
        assert_eq!(
            app.get(&path, &care.colleague.token).await.status(),
            status_after,
            "{path}"
        );
    }
    let response = transition_response(&app, owner, &referral, "sent", None).await;
    assert_eq!(response.status(), NOT_FOUND);
    let moved = transition_response(&app, &care.colleague.token, &referral, "sent", None).await;
    assert_eq!(moved.status(), OK);
}

backend_test!(a_closed_case_takes_no_new_referrals_or_follow_ups);
/// Nothing new is written on a closed case: 409 for those who can see it, 404 for the others.
async fn a_closed_case_takes_no_new_referrals_or_follow_ups(app: TestApp) {
    let care = Care::new(&app).await;
    expect(
        app.post(
            &format!("/api/v1/cases/{}/close", care.case_id),
            &care.counsellor.token,
            json!({"reason": "resolved"}),
        )
        .await,
        OK,
        "close",
    )
    .await;
    let tokens = tokens(&app, &care);
    let expected = [
        StatusCode::CONFLICT,
        NOT_FOUND,
        StatusCode::CONFLICT,
        NOT_FOUND,
        FORBIDDEN,
    ];
    for (column, token) in tokens.iter().enumerate() {
        let referral =
            refer_response(&app, token, &care.case_id, &care.global_provider, None).await;
        assert_eq!(
            referral.status(),
            expected[column],
            "referral as {}",
            ACTORS[column]
        );
        let follow_up = follow_up_response(
            &app,
            token,
            &care.case_id,
            json!({"due_at": rfc3339(Utc::now() + Duration::days(1)), "kind": "call"}),
        )
        .await;
        assert_eq!(
            follow_up.status(),
            expected[column],
            "follow-up as {}",
            ACTORS[column]
        );
    }
}

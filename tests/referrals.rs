//! Referrals: the status machine (every from → to pair), consent, provider checks, the overdue
//! list and filters, and the audit of reads.

mod common;

use chrono::{DateTime, Duration, Utc};
use common::world::*;
use common::{error_fields, expect, id, on_one_day, problem, TestApp};
use diesel::prelude::*;
use reqwest::StatusCode;
use serde_json::{json, Value};

const STATUSES: [&str; 6] = [
    "pending",
    "sent",
    "accepted",
    "completed",
    "declined",
    "cancelled",
];

/// The referral status machine of DESIGN.md, written out independently of the code.
fn allowed(from: &str) -> &'static [&'static str] {
    match from {
        "pending" => &["sent", "cancelled"],
        "sent" => &["accepted", "declined", "cancelled"],
        "accepted" => &["completed", "declined", "cancelled"],
        _ => &[],
    }
}

fn referral_count(app: &common::TestApp, case_id: &str) -> i64 {
    use karvon::db::schema::referrals;
    referrals::table
        .filter(referrals::case_id.eq(case_id))
        .count()
        .get_result(&mut app.db())
        .expect("count referrals")
}

backend_test!(every_transition_of_the_machine_is_allowed_or_refused_as_designed);
async fn every_transition_of_the_machine_is_allowed_or_refused_as_designed(app: TestApp) {
    let care = Care::new(&app).await;
    let token = &care.counsellor.token;
    let mut tried = 0;
    for from in STATUSES {
        for to in STATUSES {
            tried += 1;
            let before = referral_in(
                &app,
                token,
                &care.case_id,
                &care.global_provider,
                from,
                None,
            )
            .await;
            let id = id(&before);
            let path = format!("/api/v1/referrals/{id}");
            let stored_before = app.stored_referral(&id);
            let history_before = before["history"].as_array().unwrap().len();
            assert_eq!(stored_before.2 as usize, history_before, "{from}");
            let audit_before = app.audit_actions(&id);
            let note = format!("{from} to {to}: spoke to the provider");
            let started = Utc::now() - Duration::seconds(1);
            let response = transition_response(&app, token, &id, to, Some(&note)).await;

            if allowed(from).contains(&to) {
                let moved = expect(response, StatusCode::OK, &format!("{from} → {to}")).await;
                assert_eq!(moved["status"], to, "{from} → {to}");
                assert_eq!(moved["version"], before["version"].as_i64().unwrap() + 1);
                let history = moved["history"].as_array().unwrap();
                assert_eq!(history.len(), history_before + 1, "{from} → {to}");
                let last = history.last().unwrap();
                assert_eq!(last["from"], from);
                assert_eq!(last["to"], to);
                assert_eq!(last["by"], care.counsellor.id.as_str());
                assert_eq!(last["note"], note.as_str());
                let at: DateTime<Utc> = last["at"].as_str().unwrap().parse().unwrap();
                assert!(at >= started && at <= Utc::now() + Duration::seconds(1));
                if to == "completed" || to == "declined" {
                    assert_eq!(moved["outcome"], note.as_str());
                }
                // What is stored, read back.
                let stored = app.stored_referral(&id);
                assert_eq!(
                    stored,
                    (to.to_owned(), stored_before.1 + 1, stored_before.2 + 1)
                );
                let reread = expect(app.get(&path, token).await, StatusCode::OK, "re-read").await;
                assert_eq!(reread["status"], to);
                assert_eq!(reread["history"], moved["history"]);
                let expected_next: Vec<&str> = allowed(to).to_vec();
                assert_eq!(reread["allowed_transitions"], json!(expected_next));
                assert!(app
                    .audit_actions(&id)
                    .ends_with(&["referral.transition".to_owned(), "referral.read".to_owned()]));
            } else {
                assert_eq!(response.status(), StatusCode::CONFLICT, "{from} → {to}");
                let problem = problem(response).await;
                assert_eq!(problem["status"], 409);
                let detail = problem["detail"].as_str().unwrap();
                for next in allowed(from) {
                    assert!(detail.contains(next), "{from} → {to}: {detail}");
                }
                for not_next in STATUSES.iter().filter(|s| !allowed(from).contains(s)) {
                    if *not_next != to {
                        assert!(
                            !detail.contains(&format!(" {not_next}")) || from == *not_next,
                            "{from} → {to} names {not_next} as allowed: {detail}"
                        );
                    }
                }
                assert_eq!(app.stored_referral(&id), stored_before, "{from} → {to}");
                assert_eq!(app.audit_actions(&id), audit_before, "{from} → {to}");
                let reread = expect(app.get(&path, token).await, StatusCode::OK, "re-read").await;
                assert_eq!(reread["status"], from);
                assert_eq!(reread["version"], before["version"]);
                assert_eq!(reread["history"], before["history"]);
                assert_eq!(reread["outcome"], before["outcome"]);
            }
        }
    }
    assert_eq!(tried, 36);
}

backend_test!(a_new_referral_is_pending_with_its_creation_in_the_history);
async fn a_new_referral_is_pending_with_its_creation_in_the_history(app: TestApp) {
    let care = Care::new(&app).await;
    let by = today() + Duration::days(14);
    let referral = refer(
        &app,
        &care.counsellor.token,
        &care.case_id,
        &care.centre_provider,
        Some(by),
    )
    .await;
    assert_eq!(referral["status"], "pending");
    assert_eq!(referral["case_id"], care.case_id.as_str());
    assert_eq!(referral["migrant_id"], care.migrant_id.as_str());
    assert_eq!(referral["centre_id"], care.centre.as_str());
    assert_eq!(referral["provider_id"], care.centre_provider.as_str());
    assert_eq!(referral["expected_response_by"], by.to_string());
    assert_eq!(referral["overdue"], false);
    assert_eq!(
        referral["allowed_transitions"],
        json!(["sent", "cancelled"])
    );
    let history = referral["history"].as_array().unwrap();
    assert_eq!(history.len(), 1);
    assert_eq!(history[0]["from"], Value::Null);
    assert_eq!(history[0]["to"], "pending");
    assert_eq!(history[0]["by"], care.counsellor.id.as_str());
    assert_eq!(
        app.audit_actions(&id(&referral)),
        ["referral.create".to_owned()]
    );
}

backend_test!(completing_or_declining_without_a_note_is_refused_and_changes_nothing);
async fn completing_or_declining_without_a_note_is_refused_and_changes_nothing(app: TestApp) {
    let care = Care::new(&app).await;
    let token = &care.counsellor.token;
    for (from, to) in [
        ("accepted", "completed"),
        ("accepted", "declined"),
        ("sent", "declined"),
    ] {
        let referral = referral_in(
            &app,
            token,
            &care.case_id,
            &care.global_provider,
            from,
            None,
        )
        .await;
        let id = id(&referral);
        let before = app.stored_referral(&id);
        for note in [None, Some("   ")] {
            let response = transition_response(&app, token, &id, to, note).await;
            assert_eq!(
                response.status(),
                StatusCode::UNPROCESSABLE_ENTITY,
                "{from} → {to}"
            );
            assert_eq!(error_fields(&problem(response).await), ["note"]);
            assert_eq!(app.stored_referral(&id), before);
        }
    }
}

backend_test!(a_referral_needs_referral_sharing_consent);
async fn a_referral_needs_referral_sharing_consent(app: TestApp) {
    let care = Care::new(&app).await;
    let token = &care.counsellor.token;
    let migrant = register_migrant(&app, token, "Malika", NO_REFERRAL_CONSENT).await;
    let case_id = id(&open_case(&app, token, &migrant, "high", None).await);
    let response = refer_response(&app, token, &case_id, &care.global_provider, None).await;
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let problem = problem(response).await;
    assert_eq!(error_fields(&problem), ["consent.referral_sharing"]);
    assert!(problem["detail"].as_str().unwrap().contains("consent"));
    assert_eq!(referral_count(&app, &case_id), 0);

    // Once the consent is recorded, the referral goes through.
    let path = format!("/api/v1/migrants/{migrant}");
    let etag = app.etag(&path, token).await;
    let given = app
        .patch(
            &path,
            token,
            &etag,
            json!({"consent": {"referral_sharing": true}}),
        )
        .await;
    expect(given, StatusCode::OK, "give consent").await;
    refer(&app, token, &case_id, &care.global_provider, None).await;
    assert_eq!(referral_count(&app, &case_id), 1);
}

backend_test!(withdrawn_consent_blocks_new_referrals_and_old_ones_keep_their_snapshot);
async fn withdrawn_consent_blocks_new_referrals_and_old_ones_keep_their_snapshot(app: TestApp) {
    let care = Care::new(&app).await;
    let token = &care.counsellor.token;
    let path = format!("/api/v1/migrants/{}", care.migrant_id);
    let migrant_then = expect(app.get(&path, token).await, StatusCode::OK, "migrant").await;
    let earlier = refer(&app, token, &care.case_id, &care.global_provider, None).await;
    assert_eq!(earlier["consent"]["scope"], "referral_sharing");
    assert_eq!(earlier["consent"]["record"], migrant_then["consent"]);
    assert_eq!(
        earlier["consent"]["given_at"],
        migrant_then["consent"]["referral_sharing"]["given_at"]
    );

    let etag = app.etag(&path, token).await;
    let withdrawn = app
        .patch(
            &path,
            token,
            &etag,
            json!({"consent": {"referral_sharing": false}}),
        )
        .await;
    let migrant_now = expect(withdrawn, StatusCode::OK, "withdraw consent").await;
    assert_eq!(migrant_now["consent"]["referral_sharing"]["given"], false);
    assert!(migrant_now["consent"]["referral_sharing"]["withdrawn_at"].is_string());

    let response = refer_response(&app, token, &care.case_id, &care.centre_provider, None).await;
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let problem = problem(response).await;
    assert_eq!(error_fields(&problem), ["consent.referral_sharing"]);
    assert!(problem["detail"].as_str().unwrap().contains("withdrawn"));
    assert_eq!(referral_count(&app, &care.case_id), 1);

    // The earlier referral still shows the consent it was made under.
    let reread = expect(
        app.get(&format!("/api/v1/referrals/{}", id(&earlier)), token)
            .await,
        StatusCode::OK,
        "re-read referral",
    )
    .await;
    assert_eq!(reread["consent"], earlier["consent"]);
    assert_eq!(
        reread["consent"]["record"]["referral_sharing"]["given"],
        true
    );
    assert_eq!(
        reread["consent"]["record"]["referral_sharing"]["withdrawn_at"],
        Value::Null
    );
}

backend_test!(the_provider_must_be_usable_by_the_centre);
async fn the_provider_must_be_usable_by_the_centre(app: TestApp) {
    let care = Care::new(&app).await;
    let token = &care.counsellor.token;
    let sup = &care.supervisor.token;
    let retired = create_provider(
        &app,
        sup,
        json!({"name": "Old Clinic", "kind": "health", "accepts_referrals": true}),
    )
    .await;
    let path = format!("/api/v1/service-providers/{retired}");
    let etag = app.etag(&path, sup).await;
    expect(
        app.patch(&path, sup, &etag, json!({"active": false})).await,
        StatusCode::OK,
        "retire provider",
    )
    .await;
    let closed_door = create_provider(
        &app,
        sup,
        json!({"name": "Info Desk", "kind": "government", "accepts_referrals": false}),
    )
    .await;
    let elsewhere = create_provider(
        &app,
        &care.other_supervisor.token,
        json!({"name": "Khujand Legal", "kind": "legal_aid", "accepts_referrals": true}),
    )
    .await;
    let unknown = uuid::Uuid::now_v7().to_string();
    for (provider, what) in [
        (&retired, "inactive"),
        (&closed_door, "not accepting referrals"),
        (&elsewhere, "another centre's"),
        (&unknown, "unknown"),
    ] {
        let response = refer_response(&app, token, &care.case_id, provider, None).await;
        assert_eq!(
            response.status(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "{what}"
        );
        assert_eq!(
            error_fields(&problem(response).await),
            ["provider_id"],
            "{what}"
        );
    }
    assert_eq!(referral_count(&app, &care.case_id), 0);
    // The usable ones work: the global entry and the centre's own.
    refer(&app, token, &care.case_id, &care.global_provider, None).await;
    refer(&app, token, &care.case_id, &care.centre_provider, None).await;
    assert_eq!(referral_count(&app, &care.case_id), 2);
}

backend_test!(expected_response_by_may_be_yesterday_but_not_earlier);
async fn expected_response_by_may_be_yesterday_but_not_earlier(app: TestApp) {
    let care = Care::new(&app).await;
    let token = &care.counsellor.token;
    let (app, case, provider) = (&app, &care.case_id, &care.global_provider);
    on_one_day(|today| async move {
        let before = referral_count(app, case);
        let two_days_ago = Some(today - Duration::days(2));
        let response = refer_response(app, token, case, provider, two_days_ago).await;
        assert_eq!(response.status(), StatusCode::BAD_REQUEST);
        assert_eq!(
            error_fields(&problem(response).await),
            ["expected_response_by"]
        );
        assert_eq!(referral_count(app, case), before);
        let yesterday = Some(today - Duration::days(1));
        let yesterday = refer(app, token, case, provider, yesterday).await;
        assert_eq!(yesterday["overdue"], true);
    })
    .await;
}

backend_test!(overdue_lists_exactly_the_pending_and_sent_referrals_past_their_date);
async fn overdue_lists_exactly_the_pending_and_sent_referrals_past_their_date(app: TestApp) {
    let care = Care::new(&app).await;
    let token = &care.counsellor.token;
    let later = Some(today() + Duration::days(10));
    let p = &care.global_provider;
    let c = &care.case_id;
    let mut overdue = Vec::new();
    let mut not_overdue = Vec::new();
    for status in STATUSES {
        let past = past_referral(&app, token, c, p, status, 1).await;
        if status == "pending" || status == "sent" {
            overdue.push(id(&past));
        } else {
            not_overdue.push(id(&past));
        }
        not_overdue.push(id(&referral_in(&app, token, c, p, status, later).await));
    }
    not_overdue.push(id(&referral_in(&app, token, c, p, "sent", None).await));
    // Time passes for one that was due later: it becomes overdue.
    let aged = referral_in(&app, token, c, p, "sent", later).await;
    app.set_referral_expected(&id(&aged), today() - Duration::days(20));
    overdue.push(id(&aged));

    let mut listed = app
        .list_ids("/api/v1/referrals?overdue=true&limit=200", token)
        .await;
    listed.sort();
    overdue.sort();
    assert_eq!(listed, overdue);
    let supervisor_view = app
        .list_ids(
            "/api/v1/referrals?overdue=true&limit=200",
            &care.supervisor.token,
        )
        .await;
    assert_eq!(supervisor_view.len(), overdue.len());
    let list = expect(
        app.get("/api/v1/referrals?overdue=true", token).await,
        StatusCode::OK,
        "overdue",
    )
    .await;
    for item in list["items"].as_array().unwrap() {
        assert_eq!(item["overdue"], true);
    }

    let mut rest = app
        .list_ids("/api/v1/referrals?overdue=false&limit=200", token)
        .await;
    rest.sort();
    not_overdue.sort();
    assert_eq!(rest, not_overdue);
}

/// Four referrals, oldest first: a (sent) and b (pending) on the fixture's case, to the global
/// and the centre's provider; c (sent) and d (accepted) on a second case, likewise.
struct Four {
    second_case: String,
    a: String,
    b: String,
    c: String,
    d: String,
}

async fn four_referrals(app: &TestApp, care: &Care) -> Four {
    let token = &care.counsellor.token;
    let second_case = id(&open_case(app, token, &care.migrant_id, "low", None).await);
    let (global, own) = (&care.global_provider, &care.centre_provider);
    let mut ids = Vec::new();
    for (case, provider, status) in [
        (&care.case_id, global, "sent"),
        (&care.case_id, own, "pending"),
        (&second_case, global, "sent"),
        (&second_case, own, "accepted"),
    ] {
        ids.push(id(
            &referral_in(app, token, case, provider, status, None).await
        ));
    }
    let [a, b, c, d] = ids.try_into().expect("four referrals");
    Four {
        second_case,
        a,
        b,
        c,
        d,
    }
}

/// The referral list under `query`, as `token`, sorted.
async fn listed(app: &TestApp, token: &str, query: &str) -> Vec<String> {
    let mut ids = app
        .list_ids(&format!("/api/v1/referrals?{query}"), token)
        .await;
    ids.sort();
    ids
}

fn both(x: &str, y: &str) -> Vec<String> {
    let mut ids = vec![x.to_owned(), y.to_owned()];
    ids.sort();
    ids
}

backend_test!(referrals_are_filtered_by_status_provider_and_case);
async fn referrals_are_filtered_by_status_provider_and_case(app: TestApp) {
    let care = Care::new(&app).await;
    let Four {
        second_case,
        a,
        b,
        c,
        d,
    } = four_referrals(&app, &care).await;
    let token = &care.counsellor.token;
    let global = &care.global_provider;
    let cases = [
        ("status=sent".to_owned(), both(&a, &c)),
        ("status=accepted".to_owned(), vec![d.clone()]),
        ("status=completed".to_owned(), vec![]),
        (
            format!("provider_id={}", care.centre_provider),
            both(&b, &d),
        ),
        (format!("case_id={second_case}"), both(&c, &d)),
        (
            format!("case_id={second_case}&status=sent&provider_id={global}"),
            vec![c.clone()],
        ),
    ];
    for (query, expected) in cases {
        assert_eq!(listed(&app, token, &query).await, expected, "{query}");
    }
}

backend_test!(referrals_are_filtered_by_update_time_and_a_move_is_a_change);
async fn referrals_are_filtered_by_update_time_and_a_move_is_a_change(app: TestApp) {
    use karvon::db::schema::referrals;
    let care = Care::new(&app).await;
    let Four { a, b, c, d, .. } = four_referrals(&app, &care).await;
    let token = &care.counsellor.token;
    // a and c were last changed two days ago; b and d since.
    let two_days_ago = karvon::time::now() - Duration::days(2);
    diesel::update(referrals::table.filter(referrals::id.eq_any([&a, &c])))
        .set(referrals::updated_at.eq(two_days_ago))
        .execute(&mut app.db())
        .unwrap();
    let since = format!(
        "updated_since={}",
        rfc3339(two_days_ago.and_utc() + Duration::days(1))
    );
    assert_eq!(listed(&app, token, &since).await, both(&b, &d));
    move_referral(&app, token, &a, "accepted").await;
    let mut changed = vec![a.clone(), b.clone(), d.clone()];
    changed.sort();
    assert_eq!(listed(&app, token, &since).await, changed);
}

backend_test!(referral_pages_are_newest_first_without_gaps_or_repeats);
async fn referral_pages_are_newest_first_without_gaps_or_repeats(app: TestApp) {
    let care = Care::new(&app).await;
    let Four { a, b, c, d, .. } = four_referrals(&app, &care).await;
    let token = &care.counsellor.token;
    let all = app.list_ids("/api/v1/referrals", token).await;
    assert_eq!(all, vec![d, c, b, a]);
    let first = expect(
        app.get("/api/v1/referrals?limit=3", token).await,
        StatusCode::OK,
        "page 1",
    )
    .await;
    assert_eq!(ids(&first), all[..3]);
    let cursor = first["next_cursor"].as_str().unwrap();
    let second = expect(
        app.get(&format!("/api/v1/referrals?limit=3&cursor={cursor}"), token)
            .await,
        StatusCode::OK,
        "page 2",
    )
    .await;
    assert_eq!(ids(&second), all[3..]);
    assert_eq!(second["next_cursor"], Value::Null);
}

backend_test!(reading_a_referral_is_audited);
async fn reading_a_referral_is_audited(app: TestApp) {
    let care = Care::new(&app).await;
    let referral = refer(
        &app,
        &care.counsellor.token,
        &care.case_id,
        &care.global_provider,
        None,
    )
    .await;
    let id = id(&referral);
    let path = format!("/api/v1/referrals/{id}");
    expect(
        app.get(&path, &care.counsellor.token).await,
        StatusCode::OK,
        "read",
    )
    .await;
    expect(
        app.get(&path, &care.supervisor.token).await,
        StatusCode::OK,
        "read",
    )
    .await;
    assert_eq!(
        app.audit_actions(&id),
        ["referral.create", "referral.read", "referral.read"]
    );
    use karvon::db::schema::audit_events;
    let readers: Vec<Option<String>> = audit_events::table
        .filter(audit_events::entity_id.eq(&id))
        .filter(audit_events::action.eq("referral.read"))
        .order(audit_events::id.asc())
        .select(audit_events::actor_id)
        .load(&mut app.db())
        .unwrap();
    assert_eq!(
        readers,
        [
            Some(care.counsellor.id.clone()),
            Some(care.supervisor.id.clone())
        ]
    );
    // A refused read (out of scope) leaves no read event behind.
    let hidden = app.get(&path, &care.colleague.token).await;
    assert_eq!(hidden.status(), StatusCode::NOT_FOUND);
    assert_eq!(app.audit_actions(&id).len(), 3);
}

backend_test!(a_retried_post_with_the_same_idempotency_key_creates_and_moves_once);
async fn a_retried_post_with_the_same_idempotency_key_creates_and_moves_once(app: TestApp) {
    let care = Care::new(&app).await;
    let token = &care.counsellor.token;
    let send = |path: String, key: &'static str, body: Value| {
        let app = &app;
        async move {
            app.client
                .post(app.url(&path))
                .bearer_auth(token)
                .header("Idempotency-Key", key)
                .json(&body)
                .send()
                .await
                .expect("request")
        }
    };
    let create =
        json!({"provider_id": care.global_provider, "reason": "legal help", "urgency": "high"});
    let path = format!("/api/v1/cases/{}/referrals", care.case_id);
    let first = expect(
        send(path.clone(), "ref-1", create.clone()).await,
        StatusCode::CREATED,
        "first",
    )
    .await;
    let retry = send(path.clone(), "ref-1", create.clone()).await;
    assert_eq!(retry.status(), StatusCode::CREATED);
    let retry: Value = retry.json().await.unwrap();
    assert_eq!(retry["id"], first["id"]);
    assert_eq!(referral_count(&app, &care.case_id), 1);

    let id = id(&first);
    let moves = format!("/api/v1/referrals/{id}/transitions");
    let sent = expect(
        send(
            moves.clone(),
            "move-1",
            json!({"to": "sent", "note": "emailed"}),
        )
        .await,
        StatusCode::OK,
        "send",
    )
    .await;
    // The phone did not hear the answer and sends again: the same answer, not a 409.
    let again = send(
        moves.clone(),
        "move-1",
        json!({"to": "sent", "note": "emailed"}),
    )
    .await;
    assert_eq!(again.status(), StatusCode::OK);
    let again: Value = again.json().await.unwrap();
    assert_eq!(again["history"], sent["history"]);
    assert_eq!(app.stored_referral(&id), ("sent".to_owned(), 2, 2));
    // A new key is a new request: sending twice is illegal.
    let fresh = send(moves, "move-2", json!({"to": "sent"})).await;
    assert_eq!(fresh.status(), StatusCode::CONFLICT);
}

backend_test!(two_moves_of_one_referral_at_once_exactly_one_wins);
/// Two counsellor's devices send the same move at the same moment: one moves the referral, the
/// other is told it already moved (409), and the history holds one move.
async fn two_moves_of_one_referral_at_once_exactly_one_wins(app: TestApp) {
    let care = Care::new(&app).await;
    let token = &care.counsellor.token;
    for round in 0..5 {
        let referral = id(&refer(&app, token, &care.case_id, &care.global_provider, None).await);
        let (_, _, moves_before) = app.stored_referral(&referral);
        let (first, second) = tokio::join!(
            transition_response(&app, token, &referral, "sent", None),
            transition_response(&app, token, &referral, "sent", None),
        );
        let mut statuses = [first.status(), second.status()];
        statuses.sort();
        assert_eq!(
            statuses,
            [StatusCode::OK, StatusCode::CONFLICT],
            "round {round}"
        );
        let loser = if first.status() == StatusCode::CONFLICT {
            first
        } else {
            second
        };
        assert_eq!(problem(loser).await["status"], 409);
        assert_eq!(
            app.stored_referral(&referral),
            ("sent".to_owned(), 2, moves_before + 1),
            "round {round}: one move stored"
        );
    }
}

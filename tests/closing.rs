//! Closing a case with open items (409 listing them; a supervisor's `force` cancels them in the
//! same transaction) and the case timeline.

mod common;

use chrono::{DateTime, Duration, DurationRound, Utc};
use common::world::*;
use common::{expect, id, problem, Backend, TestApp};
use diesel::connection::SimpleConnection;
use reqwest::StatusCode;
use serde_json::{json, Value};

fn in_days(days: i64) -> DateTime<Utc> {
    Utc::now().duration_trunc(Duration::seconds(1)).unwrap() + Duration::days(days)
}

/// The case's open work, plus finished items that closing must not touch.
struct OpenWork {
    scheduled: Vec<String>,
    done: String,
    /// (id, status) of pending, sent and accepted referrals.
    open: Vec<(String, String)>,
    completed: String,
}

async fn seed_open_work(app: &TestApp, care: &Care) -> OpenWork {
    let token = &care.counsellor.token;
    let c = &care.case_id;
    let p = &care.global_provider;
    let first = id(&schedule(app, token, c, in_days(1), None).await);
    let second = id(&schedule(app, token, c, in_days(2), Some(&care.colleague.id)).await);
    let done = id(&schedule(app, token, c, in_days(1), None).await);
    expect(
        app.post(
            &format!("/api/v1/follow-ups/{done}/complete"),
            token,
            json!({"outcome": "reached her"}),
        )
        .await,
        StatusCode::OK,
        "complete",
    )
    .await;
    let mut open = Vec::new();
    for status in ["pending", "sent", "accepted"] {
        let referral = referral_in(app, token, c, p, status, None).await;
        open.push((id(&referral), status.to_owned()));
    }
    let completed = id(&referral_in(app, token, c, p, "completed", None).await);
    OpenWork {
        scheduled: vec![first, second],
        done,
        open,
        completed,
    }
}

/// Everything closing could change, as stored.
fn snapshot(app: &TestApp, care: &Care, work: &OpenWork) -> Vec<String> {
    let mut state = vec![format!("{:?}", app.stored_case(&care.case_id))];
    for id in work.scheduled.iter().chain([&work.done]) {
        state.push(format!("{:?}", app.stored_follow_up(id)));
    }
    for id in work.open.iter().map(|(id, _)| id).chain([&work.completed]) {
        state.push(format!("{:?}", app.stored_referral(id)));
    }
    state.push(format!("{:?}", app.audit_actions(&care.case_id)));
    state
}

fn close_path(care: &Care) -> String {
    format!("/api/v1/cases/{}/close", care.case_id)
}

backend_test!(closing_with_open_items_answers_409_listing_them_and_changes_nothing);
async fn closing_with_open_items_answers_409_listing_them_and_changes_nothing(app: TestApp) {
    let care = Care::new(&app).await;
    let work = seed_open_work(&app, &care).await;
    let before = snapshot(&app, &care, &work);
    for (who, token) in [
        ("counsellor", &care.counsellor.token),
        ("supervisor", &care.supervisor.token),
    ] {
        for body in [
            json!({"reason": "Resolved"}),
            json!({"reason": "Resolved", "force": false}),
        ] {
            let response = app.post(&close_path(&care), token, body).await;
            assert_eq!(response.status(), StatusCode::CONFLICT, "{who}");
            let problem = problem(response).await;
            let mut listed: Vec<(String, String)> = problem["errors"]
                .as_array()
                .unwrap()
                .iter()
                .map(|e| {
                    (
                        e["field"].as_str().unwrap().to_owned(),
                        e["message"].as_str().unwrap().to_owned(),
                    )
                })
                .collect();
            listed.sort();
            let mut expected: Vec<(String, String)> =
                work.scheduled
                    .iter()
                    .map(|id| (format!("follow_ups.{id}"), "is still scheduled".to_owned()))
                    .chain(work.open.iter().map(|(id, status)| {
                        (format!("referrals.{id}"), format!("is still {status}"))
                    }))
                    .collect();
            expected.sort();
            assert_eq!(listed, expected, "{who}");
            let detail = problem["detail"].as_str().unwrap();
            assert!(detail.contains("2 scheduled follow-up"), "{detail}");
            assert!(detail.contains("3 open referral"), "{detail}");
            assert_eq!(snapshot(&app, &care, &work), before, "{who}");
        }
    }
}

backend_test!(a_counsellor_may_not_force_a_close);
async fn a_counsellor_may_not_force_a_close(app: TestApp) {
    let care = Care::new(&app).await;
    let work = seed_open_work(&app, &care).await;
    let before = snapshot(&app, &care, &work);
    let response = app
        .post(
            &close_path(&care),
            &care.counsellor.token,
            json!({"reason": "Resolved", "force": true}),
        )
        .await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    assert_eq!(problem(response).await["status"], 403);
    assert_eq!(snapshot(&app, &care, &work), before);

    // Even on a case with nothing open, `force` is a supervisor's word.
    let other_case =
        id(&open_case(&app, &care.counsellor.token, &care.migrant_id, "low", None).await);
    let response = app
        .post(
            &format!("/api/v1/cases/{other_case}/close"),
            &care.counsellor.token,
            json!({"reason": "Resolved", "force": true}),
        )
        .await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    assert_eq!(app.stored_case(&other_case), ("open".to_owned(), 1));
    // Without force, a case with nothing open closes.
    let closed = expect(
        app.post(
            &format!("/api/v1/cases/{other_case}/close"),
            &care.counsellor.token,
            json!({"reason": "Resolved"}),
        )
        .await,
        StatusCode::OK,
        "plain close",
    )
    .await;
    assert_eq!(closed["status"], "closed");
}

backend_test!(a_supervisor_forces_the_close_and_every_open_item_is_cancelled_with_a_note);
async fn a_supervisor_forces_the_close_and_every_open_item_is_cancelled_with_a_note(app: TestApp) {
    let care = Care::new(&app).await;
    let work = seed_open_work(&app, &care).await;
    let done_before = app.stored_follow_up(&work.done);
    let completed_before = app.stored_referral(&work.completed);
    let history_before: Vec<Value> = {
        let mut all = Vec::new();
        for (id, _) in &work.open {
            let r = expect(
                app.get(&format!("/api/v1/referrals/{id}"), &care.supervisor.token)
                    .await,
                StatusCode::OK,
                "referral",
            )
            .await;
            all.push(r["history"].clone());
        }
        all
    };
    let started = Utc::now() - Duration::seconds(1);
    let closed = expect(
        app.post(
            &close_path(&care),
            &care.supervisor.token,
            json!({"reason": "Migrant left for Russia", "force": true}),
        )
        .await,
        StatusCode::OK,
        "forced close",
    )
    .await;
    assert_eq!(closed["status"], "closed");
    assert_eq!(closed["closure_reason"], "Migrant left for Russia");
    assert!(closed["closed_at"].is_string());
    assert_eq!(app.stored_case(&care.case_id).0, "closed");

    for id in &work.scheduled {
        let (status, outcome, version) = app.stored_follow_up(id);
        assert_eq!(status, "cancelled", "{id}");
        let note = outcome.expect("cancellation note");
        assert!(note.contains("case closed"), "{note}");
        assert_eq!(version, 2);
        let body = expect(
            app.get(&format!("/api/v1/follow-ups/{id}"), &care.supervisor.token)
                .await,
            StatusCode::OK,
            "follow-up",
        )
        .await;
        assert_eq!(body["status"], "cancelled");
        assert_eq!(body["outcome"], note.as_str());
        assert!(body["closed_at"].is_string());
        assert_eq!(
            app.audit_actions(id),
            ["follow_up.create", "follow_up.cancel", "follow_up.read"]
        );
    }
    for ((id, from), before) in work.open.iter().zip(history_before) {
        let (status, _, moves) = app.stored_referral(id);
        assert_eq!(status, "cancelled", "{id}");
        assert_eq!(moves as usize, before.as_array().unwrap().len() + 1);
        let body = expect(
            app.get(&format!("/api/v1/referrals/{id}"), &care.supervisor.token)
                .await,
            StatusCode::OK,
            "referral",
        )
        .await;
        assert_eq!(body["status"], "cancelled");
        assert_eq!(body["allowed_transitions"], json!([]));
        let history = body["history"].as_array().unwrap();
        assert_eq!(
            &history[..history.len() - 1],
            before.as_array().unwrap().as_slice()
        );
        let last = history.last().unwrap();
        assert_eq!(last["from"], from.as_str());
        assert_eq!(last["to"], "cancelled");
        assert_eq!(last["by"], care.supervisor.id.as_str());
        assert!(last["note"].as_str().unwrap().contains("case closed"));
        let at: DateTime<Utc> = last["at"].as_str().unwrap().parse().unwrap();
        assert!(at >= started);
        assert!(app
            .audit_actions(id)
            .contains(&"referral.transition".to_owned()));
    }
    // Finished items are left as they were.
    assert_eq!(app.stored_follow_up(&work.done), done_before);
    assert_eq!(app.stored_referral(&work.completed), completed_before);
    assert!(app
        .audit_actions(&care.case_id)
        .contains(&"case.close".to_owned()));
}

/// Makes closing a case fail in the database, after the open items have been cancelled.
fn sabotage_case_close(app: &TestApp) {
    let sql = match app.backend {
        Backend::Sqlite => {
            "CREATE TRIGGER refuse_close BEFORE UPDATE ON cases WHEN NEW.status = 'closed' \
             BEGIN SELECT RAISE(ABORT, 'refused by test'); END;"
        }
        Backend::Postgres => {
            "CREATE FUNCTION refuse_close() RETURNS trigger AS $$ \
             BEGIN RAISE EXCEPTION 'refused by test'; END; $$ LANGUAGE plpgsql; \
             CREATE TRIGGER refuse_close BEFORE UPDATE ON cases FOR EACH ROW \
             WHEN (NEW.status = 'closed') EXECUTE FUNCTION refuse_close();"
        }
    };
    app.db().batch_execute(sql).expect("install trigger");
}

backend_test!(a_forced_close_that_fails_cancels_nothing);
async fn a_forced_close_that_fails_cancels_nothing(app: TestApp) {
    let care = Care::new(&app).await;
    let work = seed_open_work(&app, &care).await;
    let before = snapshot(&app, &care, &work);
    sabotage_case_close(&app);
    let response = app
        .post(
            &close_path(&care),
            &care.supervisor.token,
            json!({"reason": "Resolved", "force": true}),
        )
        .await;
    assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
    let problem = problem(response).await;
    assert!(
        !problem.to_string().contains("refused by test"),
        "leaks: {problem}"
    );
    // All or nothing: the follow-ups and referrals are still open.
    assert_eq!(snapshot(&app, &care, &work), before);
}

/// A timeline entry in a few words: its kind, and what tells entries of that kind apart.
fn describe(item: &Value) -> String {
    match item["kind"].as_str().unwrap() {
        "case_event" => format!("case {}", item["case_event"]["kind"].as_str().unwrap()),
        "consultation" => format!(
            "consultation {}",
            item["consultation"]["id"].as_str().unwrap()
        ),
        "referral_move" => format!(
            "referral {} {}",
            item["referral_move"]["referral_id"].as_str().unwrap(),
            item["referral_move"]["to"].as_str().unwrap()
        ),
        "follow_up" => format!(
            "follow-up {} {}",
            item["id"].as_str().unwrap(),
            item["follow_up"]["status"].as_str().unwrap()
        ),
        other => panic!("unexpected kind {other}"),
    }
}

backend_test!(the_timeline_holds_events_consultations_referral_moves_and_follow_ups_in_order);
async fn the_timeline_holds_events_consultations_referral_moves_and_follow_ups_in_order(
    app: TestApp,
) {
    let care = Care::new(&app).await;
    let token = &care.counsellor.token;
    let c = &care.case_id;
    // Earlier than the case itself: a consultation a day ago, a call due 12 hours ago.
    let consultation = consult(&app, token, c, in_days(-1)).await;
    let call = schedule(&app, token, c, in_days(0) - Duration::hours(12), None).await;
    expect(
        app.post(
            &format!("/api/v1/follow-ups/{}/complete", id(&call)),
            token,
            json!({"outcome": "She is fine"}),
        )
        .await,
        StatusCode::OK,
        "complete",
    )
    .await;
    // Then, after the case was opened: a referral sent, a visit due in two days.
    let referral = referral_in(&app, token, c, &care.global_provider, "sent", None).await;
    let visit = schedule(&app, token, c, in_days(2), None).await;
    expect(
        app.post(
            &format!("/api/v1/cases/{c}/close"),
            &care.supervisor.token,
            json!({"reason": "Done", "force": true}),
        )
        .await,
        StatusCode::OK,
        "close",
    )
    .await;

    let timeline = expect(
        app.get(&format!("/api/v1/cases/{c}/timeline?limit=200"), token)
            .await,
        StatusCode::OK,
        "timeline",
    )
    .await;
    let items = timeline["items"].as_array().unwrap();
    let summary: Vec<String> = items.iter().map(describe).collect();
    let r = id(&referral);
    assert_eq!(
        summary,
        [
            format!("consultation {}", id(&consultation)),
            format!("follow-up {} done", id(&call)),
            "case opened".to_owned(),
            format!("referral {r} pending"),
            format!("referral {r} sent"),
            format!("referral {r} cancelled"),
            "case closed".to_owned(),
            format!("follow-up {} cancelled", id(&visit)),
        ]
    );
    let times: Vec<DateTime<Utc>> = items
        .iter()
        .map(|item| item["at"].as_str().unwrap().parse().unwrap())
        .collect();
    assert!(times.windows(2).all(|w| w[0] <= w[1]), "{times:?}");
    assert_eq!(items[0]["consultation"]["notes"], "Discussed the contract");
    assert_eq!(items[1]["follow_up"]["outcome"], "She is fine");
    assert_eq!(
        items[4]["referral_move"]["provider_id"],
        care.global_provider.as_str()
    );
    assert_eq!(items[4]["actor_id"], care.counsellor.id.as_str());
    assert_eq!(items[5]["actor_id"], care.supervisor.id.as_str());

    // Paging through the merged list gives the same entries, each once.
    let paged = all_ids(&app, token, &format!("/api/v1/cases/{c}/timeline"), 3).await;
    assert_eq!(paged, ids(&timeline));
}

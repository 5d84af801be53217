//! Follow-ups: scheduling (default assignee, who may be assigned), the agenda and its filters,
//! complete / cancel / miss, rescheduling with If-Match, and what counts as overdue.

mod common;

use chrono::{DateTime, Duration, DurationRound, Utc};
use common::world::*;
use common::{error_fields, expect, id, problem, TestApp};
use diesel::prelude::*;
use reqwest::StatusCode;
use serde_json::{json, Value};

fn follow_up_count(app: &TestApp, case_id: &str) -> i64 {
    use karvon::db::schema::follow_ups;
    follow_ups::table
        .filter(follow_ups::case_id.eq(case_id))
        .count()
        .get_result(&mut app.db())
        .expect("count follow-ups")
}

/// Now, to the second, plus `days`.
fn in_days(days: i64) -> DateTime<Utc> {
    Utc::now().duration_trunc(Duration::seconds(1)).unwrap() + Duration::days(days)
}

backend_test!(a_follow_up_is_assigned_to_the_case_counsellor_by_default);
async fn a_follow_up_is_assigned_to_the_case_counsellor_by_default(app: TestApp) {
    let care = Care::new(&app).await;
    let due = in_days(3);
    // Scheduled by the supervisor: still the case counsellor's job.
    let created = schedule(&app, &care.supervisor.token, &care.case_id, due, None).await;
    assert_eq!(created["assigned_to"], care.counsellor.id.as_str());
    assert_eq!(created["created_by"], care.supervisor.id.as_str());
    assert_eq!(created["case_id"], care.case_id.as_str());
    assert_eq!(created["centre_id"], care.centre.as_str());
    assert_eq!(created["status"], "scheduled");
    assert_eq!(created["kind"], "call");
    assert_eq!(created["due_at"], rfc3339(due));
    assert_eq!(created["overdue"], false);
    assert_eq!(created["outcome"], Value::Null);
    assert_eq!(created["version"], 1);
    let id = id(&created);
    assert_eq!(app.audit_actions(&id), ["follow_up.create"]);
    let (status, outcome, version) = app.stored_follow_up(&id);
    assert_eq!((status.as_str(), outcome, version), ("scheduled", None, 1));

    // Another active staff member of the centre may be named.
    let for_colleague = schedule(
        &app,
        &care.counsellor.token,
        &care.case_id,
        due,
        Some(&care.colleague.id),
    )
    .await;
    assert_eq!(for_colleague["assigned_to"], care.colleague.id.as_str());
    let for_supervisor = schedule(
        &app,
        &care.counsellor.token,
        &care.case_id,
        due,
        Some(&care.supervisor.id),
    )
    .await;
    assert_eq!(for_supervisor["assigned_to"], care.supervisor.id.as_str());
}

backend_test!(only_active_staff_of_the_centre_can_be_assigned);
async fn only_active_staff_of_the_centre_can_be_assigned(app: TestApp) {
    let care = Care::new(&app).await;
    let leaver = app
        .create_staff("coun.leaver", "counsellor", Some(&care.centre))
        .await;
    let path = format!("/api/v1/users/{}", leaver.id);
    let etag = app.etag(&path, &app.admin).await;
    expect(
        app.patch(&path, &app.admin, &etag, json!({"active": false}))
            .await,
        StatusCode::OK,
        "deactivate",
    )
    .await;
    let admin_id: String = {
        use karvon::db::schema::users;
        users::table
            .filter(users::username.eq("admin"))
            .select(users::id)
            .first(&mut app.db())
            .unwrap()
    };
    let unknown = uuid::Uuid::now_v7().to_string();
    for (assignee, who) in [
        (&care.other_supervisor.id, "other centre"),
        (&leaver.id, "deactivated"),
        (&admin_id, "admin"),
        (&unknown, "unknown"),
    ] {
        let response = follow_up_response(
            &app,
            &care.counsellor.token,
            &care.case_id,
            json!({"due_at": rfc3339(in_days(1)), "kind": "visit", "assigned_to": assignee}),
        )
        .await;
        assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY, "{who}");
        assert_eq!(
            error_fields(&problem(response).await),
            ["assigned_to"],
            "{who}"
        );
    }
    assert_eq!(follow_up_count(&app, &care.case_id), 0);

    // due_at must be plausible.
    for due in [in_days(-2), in_days(800)] {
        let response = follow_up_response(
            &app,
            &care.counsellor.token,
            &care.case_id,
            json!({"due_at": rfc3339(due), "kind": "call"}),
        )
        .await;
        assert_eq!(response.status(), StatusCode::BAD_REQUEST);
        assert_eq!(error_fields(&problem(response).await), ["due_at"]);
    }
    assert_eq!(follow_up_count(&app, &care.case_id), 0);
}

backend_test!(the_agenda_lists_my_follow_ups_by_due_time_then_id);
async fn the_agenda_lists_my_follow_ups_by_due_time_then_id(app: TestApp) {
    let care = Care::new(&app).await;
    let token = &care.counsellor.token;
    // One clock reading for every due time, so comparisons cannot straddle a second.
    let base = in_days(0);
    let in_days = |days: i64| base + Duration::days(days);
    let second_case = id(&open_case(&app, token, &care.migrant_id, "high", None).await);
    let day3 = schedule(&app, token, &care.case_id, in_days(3), None).await;
    let day1_a = schedule(&app, token, &second_case, in_days(1), None).await;
    let day2 = schedule(&app, token, &care.case_id, in_days(2), None).await;
    let day1_b = schedule(&app, token, &care.case_id, in_days(1), None).await;
    let colleague_s = schedule(
        &app,
        token,
        &care.case_id,
        in_days(1),
        Some(&care.colleague.id),
    )
    .await;
    // Equal due times are ordered by id (the order of creation).
    let mut tie = [id(&day1_a), id(&day1_b)];
    tie.sort();
    let expected = vec![tie[0].clone(), tie[1].clone(), id(&day2), id(&day3)];
    let agenda = app
        .list_ids("/api/v1/follow-ups?assigned_to=me", token)
        .await;
    assert_eq!(agenda, expected);
    // By explicit id, the same.
    let by_id = app
        .list_ids(
            &format!("/api/v1/follow-ups?assigned_to={}", care.counsellor.id),
            token,
        )
        .await;
    assert_eq!(by_id, expected);
    // Without the filter the counsellor also sees the one on their case assigned to a
    // colleague.
    let all = app.list_ids("/api/v1/follow-ups", token).await;
    assert_eq!(all.len(), 5);
    assert!(all.contains(&id(&colleague_s)));
    // The colleague's agenda holds just theirs (it is not their case, but their job).
    let theirs = app
        .list_ids("/api/v1/follow-ups?assigned_to=me", &care.colleague.token)
        .await;
    assert_eq!(theirs, [id(&colleague_s)]);

    // Pages follow the same order.
    let first = expect(
        app.get("/api/v1/follow-ups?assigned_to=me&limit=3", token)
            .await,
        StatusCode::OK,
        "page 1",
    )
    .await;
    assert_eq!(ids(&first), expected[..3]);
    let cursor = first["next_cursor"].as_str().unwrap();
    let second = app
        .list_ids(
            &format!("/api/v1/follow-ups?assigned_to=me&limit=3&cursor={cursor}"),
            token,
        )
        .await;
    assert_eq!(second, expected[3..]);

    // due_before: strictly before the time given.
    let before = rfc3339(in_days(2));
    let soon = app
        .list_ids(
            &format!("/api/v1/follow-ups?assigned_to=me&due_before={before}"),
            token,
        )
        .await;
    assert_eq!(soon, expected[..2]);

    // status: done ones leave the scheduled agenda.
    expect(
        app.post(
            &format!("/api/v1/follow-ups/{}/complete", id(&day2)),
            token,
            json!({"outcome": "Called; the contract was signed"}),
        )
        .await,
        StatusCode::OK,
        "complete",
    )
    .await;
    let scheduled = app
        .list_ids("/api/v1/follow-ups?assigned_to=me&status=scheduled", token)
        .await;
    assert_eq!(scheduled, [tie[0].clone(), tie[1].clone(), id(&day3)]);
    let done = app
        .list_ids("/api/v1/follow-ups?assigned_to=me&status=done", token)
        .await;
    assert_eq!(done, [id(&day2)]);
    let on_second = app
        .list_ids(&format!("/api/v1/follow-ups?case_id={second_case}"), token)
        .await;
    assert_eq!(on_second, [id(&day1_a)]);
}

backend_test!(overdue_means_scheduled_and_past_due);
async fn overdue_means_scheduled_and_past_due(app: TestApp) {
    let care = Care::new(&app).await;
    let token = &care.counsellor.token;
    let slipped = id(&schedule(&app, token, &care.case_id, in_days(2), None).await);
    let slipped_longer = id(&schedule(&app, token, &care.case_id, in_days(2), None).await);
    let done_late = id(&schedule(&app, token, &care.case_id, in_days(2), None).await);
    let cancelled_late = id(&schedule(&app, token, &care.case_id, in_days(2), None).await);
    let future = id(&schedule(&app, token, &care.case_id, in_days(2), None).await);
    let colleague_late = id(&schedule(
        &app,
        token,
        &care.case_id,
        in_days(2),
        Some(&care.colleague.id),
    )
    .await);
    expect(
        app.post(
            &format!("/api/v1/follow-ups/{done_late}/complete"),
            token,
            json!({"outcome": "reached her"}),
        )
        .await,
        StatusCode::OK,
        "complete",
    )
    .await;
    expect(
        app.post(
            &format!("/api/v1/follow-ups/{cancelled_late}/cancel"),
            token,
            json!({"reason": "no longer needed"}),
        )
        .await,
        StatusCode::OK,
        "cancel",
    )
    .await;
    // Time passes.
    let now = karvon::time::now();
    app.set_follow_up_due(&slipped, now - Duration::hours(1));
    app.set_follow_up_due(&slipped_longer, now - Duration::days(5));
    app.set_follow_up_due(&done_late, now - Duration::days(3));
    app.set_follow_up_due(&cancelled_late, now - Duration::days(3));
    app.set_follow_up_due(&colleague_late, now - Duration::days(2));

    let overdue = app
        .list_ids("/api/v1/follow-ups?assigned_to=me&overdue=true", token)
        .await;
    assert_eq!(overdue, [slipped_longer.clone(), slipped.clone()]);
    let all_overdue = app
        .list_ids("/api/v1/follow-ups?overdue=true", &care.supervisor.token)
        .await;
    assert_eq!(
        all_overdue,
        [
            slipped_longer.clone(),
            colleague_late.clone(),
            slipped.clone()
        ]
    );
    let mut not_overdue = app
        .list_ids("/api/v1/follow-ups?assigned_to=me&overdue=false", token)
        .await;
    not_overdue.sort();
    let mut expected = vec![done_late.clone(), cancelled_late.clone(), future.clone()];
    expected.sort();
    assert_eq!(not_overdue, expected);

    for (id, overdue) in [
        (&slipped, true),
        (&slipped_longer, true),
        (&done_late, false),
        (&cancelled_late, false),
        (&future, false),
    ] {
        let body = expect(
            app.get(&format!("/api/v1/follow-ups/{id}"), token).await,
            StatusCode::OK,
            "read",
        )
        .await;
        assert_eq!(body["overdue"], overdue, "{id}");
    }
}

/// Once a follow-up ended (by `action`, now `status`), every other ending and a reschedule are
/// refused with 409 naming its status.
async fn assert_refused_once_ended(
    app: &TestApp,
    token: &str,
    id: &str,
    action: &str,
    status: &str,
) {
    for (again, again_field) in [
        ("complete", "outcome"),
        ("cancel", "reason"),
        ("miss", "note"),
    ] {
        let response = app
            .post(
                &format!("/api/v1/follow-ups/{id}/{again}"),
                token,
                json!({ again_field: "again" }),
            )
            .await;
        assert_eq!(
            response.status(),
            StatusCode::CONFLICT,
            "{again} after {action}"
        );
        assert!(problem(response).await["detail"]
            .as_str()
            .unwrap()
            .contains(status));
    }
    let response = app
        .patch(
            &format!("/api/v1/follow-ups/{id}"),
            token,
            "\"2\"",
            json!({"due_at": rfc3339(in_days(5))}),
        )
        .await;
    assert_eq!(
        response.status(),
        StatusCode::CONFLICT,
        "reschedule after {action}"
    );
}

backend_test!(complete_cancel_and_miss_end_a_follow_up_once);
async fn complete_cancel_and_miss_end_a_follow_up_once(app: TestApp) {
    let care = Care::new(&app).await;
    let token = &care.counsellor.token;
    let endings = [
        (
            "complete",
            "outcome",
            "Called; she found a lawyer",
            "done",
            "follow_up.complete",
        ),
        (
            "cancel",
            "reason",
            "The migrant moved away",
            "cancelled",
            "follow_up.cancel",
        ),
        (
            "miss",
            "note",
            "Phone off, three attempts",
            "missed",
            "follow_up.miss",
        ),
    ];
    for (action, field, text, status, audit) in endings {
        let id = id(&schedule(&app, token, &care.case_id, in_days(1), None).await);
        let path = format!("/api/v1/follow-ups/{id}/{action}");
        // The text is required.
        for body in [json!({}), json!({ field: "  " })] {
            let response = app.post(&path, token, body.clone()).await;
            assert_eq!(
                response.status(),
                StatusCode::BAD_REQUEST,
                "{action} {body}"
            );
            if body != json!({}) {
                assert_eq!(error_fields(&problem(response).await), [field]);
            }
        }
        assert_eq!(app.stored_follow_up(&id), ("scheduled".into(), None, 1));

        let started = Utc::now() - Duration::seconds(1);
        let ended = expect(
            app.post(&path, token, json!({ field: text })).await,
            StatusCode::OK,
            action,
        )
        .await;
        assert_eq!(ended["status"], status);
        assert_eq!(ended["outcome"], text);
        assert_eq!(ended["version"], 2);
        let closed_at: DateTime<Utc> = ended["closed_at"].as_str().unwrap().parse().unwrap();
        assert!(closed_at >= started);
        assert_eq!(
            app.stored_follow_up(&id),
            (status.to_owned(), Some(text.to_owned()), 2)
        );
        assert_eq!(app.audit_actions(&id), ["follow_up.create", audit]);

        assert_refused_once_ended(&app, token, &id, action, status).await;
        assert_eq!(
            app.stored_follow_up(&id),
            (status.to_owned(), Some(text.to_owned()), 2)
        );
        assert_eq!(app.audit_actions(&id).len(), 2);
    }
}

backend_test!(rescheduling_needs_the_current_version);
async fn rescheduling_needs_the_current_version(app: TestApp) {
    let care = Care::new(&app).await;
    let token = &care.counsellor.token;
    let created = schedule(&app, token, &care.case_id, in_days(1), None).await;
    let id = id(&created);
    let path = format!("/api/v1/follow-ups/{id}");
    assert_eq!(app.etag(&path, token).await, "\"1\"");

    // Without If-Match: 428.
    let response = app
        .request(
            reqwest::Method::PATCH,
            &path,
            Some(token),
            Some(json!({"due_at": rfc3339(in_days(4))})),
        )
        .await;
    assert_eq!(response.status(), StatusCode::PRECONDITION_REQUIRED);

    let new_due = in_days(4);
    let response = app
        .patch(
            &path,
            token,
            "\"1\"",
            json!({"due_at": rfc3339(new_due), "kind": "visit", "note": "home visit"}),
        )
        .await;
    assert_eq!(response.headers()["etag"], "\"2\"");
    let moved = expect(response, StatusCode::OK, "reschedule").await;
    assert_eq!(moved["due_at"], rfc3339(new_due));
    assert_eq!(moved["kind"], "visit");
    assert_eq!(moved["note"], "home visit");
    assert_eq!(moved["version"], 2);

    // A stale version: 412, and nothing changes.
    let response = app
        .patch(
            &path,
            token,
            "\"1\"",
            json!({"due_at": rfc3339(in_days(9))}),
        )
        .await;
    assert_eq!(response.status(), StatusCode::PRECONDITION_FAILED);
    assert_eq!(problem(response).await["status"], 412);
    let stored = expect(app.get(&path, token).await, StatusCode::OK, "read").await;
    assert_eq!(stored["due_at"], rfc3339(new_due));
    assert_eq!(stored["version"], 2);

    // Reassigning checks the assignee like scheduling does.
    let response = app
        .patch(
            &path,
            token,
            "\"2\"",
            json!({"assigned_to": care.other_supervisor.id}),
        )
        .await;
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(error_fields(&problem(response).await), ["assigned_to"]);
    let response = app
        .patch(
            &path,
            token,
            "\"2\"",
            json!({"assigned_to": care.colleague.id}),
        )
        .await;
    let reassigned = expect(response, StatusCode::OK, "reassign").await;
    assert_eq!(reassigned["assigned_to"], care.colleague.id.as_str());
    assert_eq!(reassigned["due_at"], rfc3339(new_due));
    // Reads are audited too (the etag read, and the check after the stale PATCH).
    assert_eq!(
        app.audit_actions(&id),
        [
            "follow_up.create",
            "follow_up.read",
            "follow_up.update",
            "follow_up.read",
            "follow_up.update"
        ]
    );
    // The rescheduled time is what the agenda sorts by.
    let theirs = app
        .list_ids(
            &format!(
                "/api/v1/follow-ups?assigned_to=me&due_before={}",
                rfc3339(in_days(5))
            ),
            &care.colleague.token,
        )
        .await;
    assert_eq!(theirs, [id]);
}

backend_test!(the_agenda_syncs_with_updated_since);
async fn the_agenda_syncs_with_updated_since(app: TestApp) {
    let care = Care::new(&app).await;
    let token = &care.counsellor.token;
    let old = id(&schedule(&app, token, &care.case_id, in_days(1), None).await);
    let changed = id(&schedule(&app, token, &care.case_id, in_days(2), None).await);
    let new = id(&schedule(&app, token, &care.case_id, in_days(3), None).await);
    {
        use karvon::db::schema::follow_ups;
        let two_days_ago = karvon::time::now() - Duration::days(2);
        diesel::update(follow_ups::table.filter(follow_ups::id.eq_any([&old, &changed])))
            .set(follow_ups::updated_at.eq(two_days_ago))
            .execute(&mut app.db())
            .unwrap();
    }
    let since = rfc3339(Utc::now() - Duration::days(1));
    let path = format!("/api/v1/follow-ups?assigned_to=me&updated_since={since}");
    assert_eq!(app.list_ids(&path, token).await, std::slice::from_ref(&new));
    expect(
        app.post(
            &format!("/api/v1/follow-ups/{changed}/miss"),
            token,
            json!({"note": "no answer"}),
        )
        .await,
        StatusCode::OK,
        "miss",
    )
    .await;
    assert_eq!(app.list_ids(&path, token).await, [changed, new]);
}

//! Caseloads: every number of every row equals what the test seeded, and each caller sees the
//! rows their role allows.

mod common;

use chrono::{DateTime, Duration, NaiveDateTime, Utc};
use common::world::*;
use common::{expect, id, TestApp};
use reqwest::StatusCode;
use serde_json::{json, Value};

struct Seeded {
    care: Care,
    /// Opened-at of the counsellor's and the colleague's oldest open case.
    counsellor_oldest: NaiveDateTime,
    colleague_oldest: NaiveDateTime,
}

async fn close(app: &TestApp, token: &str, case_id: &str) {
    expect(
        app.post(
            &format!("/api/v1/cases/{case_id}/close"),
            token,
            json!({"reason": "Resolved"}),
        )
        .await,
        StatusCode::OK,
        "close",
    )
    .await;
}

async fn end_follow_up(app: &TestApp, token: &str, id: &str) {
    expect(
        app.post(
            &format!("/api/v1/follow-ups/{id}/complete"),
            token,
            json!({"outcome": "reached"}),
        )
        .await,
        StatusCode::OK,
        "complete",
    )
    .await;
}

/// Known numbers, written next to each seeded item.
async fn seed(app: &TestApp) -> Seeded {
    let care = Care::new(app).await;
    let now = karvon::time::now();
    let coun = &care.counsellor.token;
    let coll = &care.colleague.token;
    let sup = &care.supervisor.token;
    let later = Utc::now() + Duration::days(3);
    let next_week = Some(today() + Duration::days(7));
    let p = &care.global_provider;

    // Counsellor: open cases normal (the fixture's), high, high, urgent; one closed (low).
    let m = &care.migrant_id;
    let high1 = id(&open_case(app, coun, m, "high", None).await);
    let high2 = id(&open_case(app, coun, m, "high", None).await);
    let urgent = id(&open_case(app, coun, m, "urgent", None).await);
    let closed = id(&open_case(app, coun, m, "low", None).await);
    app.set_case_opened_at(&care.case_id, now - Duration::days(20));
    app.set_case_opened_at(&high1, now - Duration::days(40));
    app.set_case_opened_at(&high2, now - Duration::days(5));
    app.set_case_opened_at(&urgent, now - Duration::days(1));
    app.set_case_opened_at(&closed, now - Duration::days(100));
    // Colleague: open low and normal, assigned by the supervisor.
    let low_b = id(&open_case(app, sup, m, "low", Some(&care.colleague.id)).await);
    let normal_b = id(&open_case(app, sup, m, "normal", Some(&care.colleague.id)).await);
    app.set_case_opened_at(&low_b, now - Duration::days(10));
    app.set_case_opened_at(&normal_b, now - Duration::days(3));

    // Follow-ups. Counsellor: 2 overdue, 1 future, 1 past due but done.
    for _ in 0..2 {
        let f = id(&schedule(app, coun, &care.case_id, later, None).await);
        app.set_follow_up_due(&f, now - Duration::days(2));
    }
    schedule(app, coun, &high1, later, None).await;
    let done = id(&schedule(app, coun, &high1, later, None).await);
    end_follow_up(app, coun, &done).await;
    app.set_follow_up_due(&done, now - Duration::days(2));
    // The supervisor is assigned one overdue call on the counsellor's case: theirs, not the
    // counsellor's.
    let f = id(&schedule(app, coun, &high2, later, Some(&care.supervisor.id)).await);
    app.set_follow_up_due(&f, now - Duration::hours(3));
    // Colleague: 1 overdue; 1 due soon (not overdue).
    let f = id(&schedule(app, coll, &low_b, later, None).await);
    app.set_follow_up_due(&f, now - Duration::days(1));
    schedule(app, coll, &low_b, Utc::now() + Duration::hours(2), None).await;

    // Referrals on the counsellor's cases: open = pending×2, sent, accepted; overdue = the
    // pending and sent ones past their date; completed and declined count for nothing.
    past_referral(app, coun, &care.case_id, p, "pending", 1).await; // open, overdue
    past_referral(app, coun, &high1, p, "sent", 1).await; // open, overdue
    let aged = referral_in(app, coun, &high1, p, "sent", next_week).await; // open, overdue
    app.set_referral_expected(&id(&aged), today() - Duration::days(9));
    past_referral(app, coun, &care.case_id, p, "accepted", 1).await; // open only
    referral_in(app, coun, &care.case_id, p, "pending", next_week).await; // open only
    past_referral(app, coun, &care.case_id, p, "completed", 1).await;
    past_referral(app, coun, &high2, p, "declined", 1).await;
    past_referral(app, coun, &high2, p, "cancelled", 1).await;
    // Colleague: one sent without a date.
    referral_in(app, coll, &normal_b, p, "sent", None).await;

    // Consultations: counsellor 3 in the last 30 days (one on the case closed later), one
    // 31 days ago; colleague 1; supervisor 2 (one without a case).
    let recent = Utc::now() - Duration::hours(1);
    consult(app, coun, &care.case_id, recent).await;
    consult(app, coun, &high1, Utc::now() - Duration::days(29)).await;
    consult(app, coun, &closed, recent).await;
    consult(app, coun, &care.case_id, Utc::now() - Duration::days(31)).await;
    consult(app, coll, &normal_b, recent).await;
    consult(app, sup, &low_b, recent).await;
    expect(
        app.post(
            "/api/v1/consultations",
            sup,
            json!({
                "migrant_id": m,
                "occurred_at": rfc3339(recent),
                "channel": "phone",
                "duration_minutes": 10,
                "topics": ["remittances"],
                "language": "ru",
                "notes": "Question about transfers",
            }),
        )
        .await,
        StatusCode::CREATED,
        "consultation without a case",
    )
    .await;
    close(app, coun, &closed).await;

    // A deactivated counsellor of the centre, who had a case: not listed. (Their case is closed
    // first: open work must be handed over before a deactivation.)
    let leaver = app
        .create_staff("coun.leaver", "counsellor", Some(&care.centre))
        .await;
    let leavers_case = id(&open_case(app, sup, m, "urgent", Some(&leaver.id)).await);
    close(app, sup, &leavers_case).await;
    let path = format!("/api/v1/users/{}", leaver.id);
    let etag = app.etag(&path, &app.admin).await;
    expect(
        app.patch(&path, &app.admin, &etag, json!({"active": false}))
            .await,
        StatusCode::OK,
        "deactivate",
    )
    .await;

    Seeded {
        counsellor_oldest: now - Duration::days(40),
        colleague_oldest: now - Duration::days(10),
        care,
    }
}

fn row(
    user_id: &str,
    role: &str,
    (low, normal, high, urgent): (i64, i64, i64, i64),
    overdue_follow_ups: i64,
    (open_referrals, overdue_referrals): (i64, i64),
    consultations: i64,
    oldest: Option<NaiveDateTime>,
) -> Value {
    json!({
        "kind": "staff",
        "user_id": user_id,
        "role": role,
        "open_cases": low + normal + high + urgent,
        "open_cases_by_priority": {"low": low, "normal": normal, "high": high, "urgent": urgent},
        "overdue_follow_ups": overdue_follow_ups,
        "open_referrals": open_referrals,
        "overdue_referrals": overdue_referrals,
        "consultations_last_30_days": consultations,
        "oldest_open_case_opened_at": oldest.map(|at| at.and_utc()),
    })
}

/// The rows of a caseload response, without `full_name`, with `oldest_open_case_opened_at` as
/// a parsed time (so precision in the text does not matter).
async fn rows(app: &TestApp, token: &str) -> Vec<Value> {
    let body = expect(
        app.get("/api/v1/caseloads", token).await,
        StatusCode::OK,
        "caseloads",
    )
    .await;
    body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|item| {
            let mut item = item.clone();
            assert!(item["full_name"].as_str().unwrap().ends_with(" Test"));
            item.as_object_mut().unwrap().remove("full_name");
            if let Some(oldest) = item["oldest_open_case_opened_at"].as_str() {
                let at: DateTime<Utc> = oldest.parse().unwrap();
                item["oldest_open_case_opened_at"] = json!(at);
            }
            item
        })
        .collect()
}

fn sorted_by_user(mut rows: Vec<Value>) -> Vec<Value> {
    rows.sort_by(|a, b| a["user_id"].as_str().cmp(&b["user_id"].as_str()));
    rows
}

backend_test!(a_supervisor_sees_every_number_of_each_active_staff_member);
async fn a_supervisor_sees_every_number_of_each_active_staff_member(app: TestApp) {
    let s = seed(&app).await;
    let care = &s.care;
    let counsellor = row(
        &care.counsellor.id,
        "counsellor",
        (0, 1, 2, 1),
        2,
        (5, 3),
        3,
        Some(s.counsellor_oldest),
    );
    let colleague = row(
        &care.colleague.id,
        "counsellor",
        (1, 1, 0, 0),
        1,
        (1, 0),
        1,
        Some(s.colleague_oldest),
    );
    let supervisor = row(
        &care.supervisor.id,
        "supervisor",
        (0, 0, 0, 0),
        1,
        (0, 0),
        2,
        None,
    );
    let listed = rows(&app, &care.supervisor.token).await;
    assert_eq!(
        sorted_by_user(listed.clone()),
        sorted_by_user(vec![counsellor.clone(), colleague.clone(), supervisor])
    );
    // Ordered by user id, stable across calls.
    let order: Vec<&str> = listed
        .iter()
        .map(|r| r["user_id"].as_str().unwrap())
        .collect();
    let mut sorted = order.clone();
    sorted.sort();
    assert_eq!(order, sorted);

    // A counsellor: their own row, the same numbers.
    assert_eq!(rows(&app, &care.counsellor.token).await, [counsellor]);
    assert_eq!(rows(&app, &care.colleague.token).await, [colleague]);
}

backend_test!(another_centre_sees_none_of_these_staff);
async fn another_centre_sees_none_of_these_staff(app: TestApp) {
    let s = seed(&app).await;
    let care = &s.care;
    let other = rows(&app, &care.other_supervisor.token).await;
    assert_eq!(
        other,
        [row(
            &care.other_supervisor.id,
            "supervisor",
            (0, 0, 0, 0),
            0,
            (0, 0),
            0,
            None
        )]
    );
}

/// What an admin's centre row should hold: the sums of the staff rows its supervisor sees.
fn centre_totals(centre: &str, staff_rows: &[Value]) -> Value {
    let sum = |pick: &dyn Fn(&Value) -> &Value| -> i64 {
        staff_rows.iter().map(|r| pick(r).as_i64().unwrap()).sum()
    };
    let priority = |p: &'static str| sum(&move |r: &Value| &r["open_cases_by_priority"][p]);
    json!({
        "kind": "centre",
        "centre_id": centre,
        "open_cases": sum(&|r| &r["open_cases"]),
        "open_cases_by_priority": {
            "low": priority("low"),
            "normal": priority("normal"),
            "high": priority("high"),
            "urgent": priority("urgent"),
        },
        "overdue_follow_ups": sum(&|r| &r["overdue_follow_ups"]),
        "overdue_referrals": sum(&|r| &r["overdue_referrals"]),
    })
}

backend_test!(admins_see_each_centres_totals_and_no_one_named);
async fn admins_see_each_centres_totals_and_no_one_named(app: TestApp) {
    let s = seed(&app).await;
    let care = &s.care;
    let third = app.create_centre("Kulob").await;
    let mut expected = vec![
        centre_totals(&care.centre, &rows(&app, &care.supervisor.token).await),
        centre_totals(
            &care.other_centre,
            &rows(&app, &care.other_supervisor.token).await,
        ),
        centre_totals(&third, &[]),
    ];
    expected.sort_by(|a, b| a["centre_id"].as_str().cmp(&b["centre_id"].as_str()));
    // Two pages of two: every centre once, in id order.
    let mut listed = Vec::new();
    let mut path = "/api/v1/caseloads?limit=2".to_owned();
    loop {
        let page = expect(app.get(&path, &app.admin).await, StatusCode::OK, "page").await;
        for item in page["items"].as_array().unwrap() {
            let mut item = item.clone();
            let name = item.as_object_mut().unwrap().remove("centre_name").unwrap();
            assert!(name.is_string());
            assert!(item.get("user_id").is_none() && item.get("full_name").is_none());
            listed.push(item);
        }
        match page["next_cursor"].as_str() {
            Some(cursor) => path = format!("/api/v1/caseloads?limit=2&cursor={cursor}"),
            None => break,
        }
    }
    assert_eq!(listed, expected);
    let dushanbe = listed
        .iter()
        .find(|r| r["centre_id"] == care.centre)
        .unwrap();
    assert_eq!(
        dushanbe["open_cases"], 6,
        "four of the counsellor's, two of the colleague's"
    );
    assert_eq!(dushanbe["overdue_referrals"], 3);
    assert_eq!(dushanbe["overdue_follow_ups"], 4);
}

backend_test!(caseload_pages_cover_the_centre_once);
async fn caseload_pages_cover_the_centre_once(app: TestApp) {
    let care = Care::new(&app).await;
    for n in 0..4 {
        app.create_staff(&format!("coun.extra{n}"), "counsellor", Some(&care.centre))
            .await;
    }
    let all = caseload_user_ids(&app, "/api/v1/caseloads?limit=200", &care.supervisor.token).await;
    assert_eq!(all.len(), 7);
    let mut paged = Vec::new();
    let mut path = "/api/v1/caseloads?limit=3".to_owned();
    loop {
        let page = expect(
            app.get(&path, &care.supervisor.token).await,
            StatusCode::OK,
            "page",
        )
        .await;
        for item in page["items"].as_array().unwrap() {
            paged.push(item["user_id"].as_str().unwrap().to_owned());
        }
        match page["next_cursor"].as_str() {
            Some(cursor) => path = format!("/api/v1/caseloads?limit=3&cursor={cursor}"),
            None => break,
        }
    }
    assert_eq!(paged, all);
}

async fn caseload_user_ids(app: &TestApp, path: &str, token: &str) -> Vec<String> {
    let body = expect(app.get(path, token).await, StatusCode::OK, path).await;
    body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|item| item["user_id"].as_str().unwrap().to_owned())
        .collect()
}

//! Consultations: anonymous, for a migrant, or on a case; topics as a set; list filters;
//! who may correct one; audit.

mod common;

use chrono::{Duration, SecondsFormat, Utc};
use common::world::{
    all_ids, anonymous, consultation_details, for_migrant, log, migrant_body, on_case, open_case,
    register, sorted, World,
};
use common::{error_fields, etag, expect, id, problem, query_time, time_of, TestApp};
use diesel::prelude::*;
use karvon::consultations::model::{AgeBand, Consultation};
use karvon::db::schema::{consultation_topics, consultations};
use karvon::migrants::model::{MigrationStatus, Sex};
use reqwest::StatusCode;
use serde_json::{json, Value};

fn stored(app: &TestApp, consultation: &str) -> Consultation {
    consultations::table
        .filter(consultations::id.eq(consultation))
        .first(&mut app.db())
        .expect("stored consultation")
}

fn stored_topics(app: &TestApp, consultation: &str) -> Vec<String> {
    consultation_topics::table
        .filter(consultation_topics::consultation_id.eq(consultation))
        .order(consultation_topics::topic.asc())
        .select(consultation_topics::topic)
        .load(&mut app.db())
        .unwrap()
}

fn consultation_count(app: &TestApp) -> i64 {
    consultations::table
        .count()
        .get_result(&mut app.db())
        .unwrap()
}

async fn refused(app: &TestApp, token: &str, body: Value, status: StatusCode, field: &str) {
    let before = consultation_count(app);
    let response = app.post("/api/v1/consultations", token, body.clone()).await;
    assert_eq!(response.status(), status, "{body}");
    let problem = problem(response).await;
    assert_eq!(error_fields(&problem), [field], "{problem}");
    assert_eq!(consultation_count(app), before, "nothing stored for {body}");
}

backend_test!(an_anonymous_consultation_keeps_only_what_statistics_need);
async fn an_anonymous_consultation_keeps_only_what_statistics_need(app: TestApp) {
    let w = World::build(&app).await;
    let created = log(&app, &w.counsellor.token, anonymous()).await;
    assert_eq!(
        created["anonymous"],
        json!({"sex": "male", "age_band": "25-34", "nationality": "TJ", "migration_status": "prospective"})
    );
    assert_eq!(created["migrant_id"], Value::Null);
    assert_eq!(created["case_id"], Value::Null);
    assert_eq!(created["counsellor_id"], w.counsellor.id.as_str());
    assert_eq!(created["centre_id"], w.centre.as_str());
    let row = stored(&app, &id(&created));
    assert_eq!(row.migrant_id, None);
    assert_eq!(row.case_id, None);
    assert_eq!(row.anonymous_sex, Some(Sex::Male));
    assert_eq!(row.anonymous_age_band, Some(AgeBand::From25To34));
    assert_eq!(row.anonymous_nationality.as_deref(), Some("TJ"));
    assert_eq!(
        row.anonymous_migration_status,
        Some(MigrationStatus::Prospective)
    );

    // Nothing identifying can be slipped in.
    let mut named = anonymous();
    named["anonymous"]["name"] = json!("Gulru");
    let response = app
        .post("/api/v1/consultations", &w.counsellor.token, named)
        .await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let mut bad_country = anonymous();
    bad_country["anonymous"]["nationality"] = json!("tj");
    refused(
        &app,
        &w.counsellor.token,
        bad_country,
        StatusCode::BAD_REQUEST,
        "anonymous.nationality",
    )
    .await;
}

backend_test!(a_consultation_for_a_migrant_is_linked_to_them);
async fn a_consultation_for_a_migrant_is_linked_to_them(app: TestApp) {
    let w = World::build(&app).await;
    let created = log(&app, &w.colleague.token, for_migrant(&w.migrant)).await;
    assert_eq!(created["migrant_id"], w.migrant.as_str());
    assert_eq!(created["case_id"], Value::Null);
    assert_eq!(created["anonymous"], Value::Null);
    let row = stored(&app, &id(&created));
    assert_eq!(row.migrant_id.as_deref(), Some(w.migrant.as_str()));
    assert_eq!(row.anonymous_sex, None);
}

backend_test!(a_consultation_on_a_case_takes_the_cases_migrant);
async fn a_consultation_on_a_case_takes_the_cases_migrant(app: TestApp) {
    let w = World::build(&app).await;
    let implied = log(&app, &w.counsellor.token, on_case(&w.case)).await;
    assert_eq!(implied["case_id"], w.case.as_str());
    assert_eq!(implied["migrant_id"], w.migrant.as_str());
    assert_eq!(
        stored(&app, &id(&implied)).migrant_id.as_deref(),
        Some(w.migrant.as_str())
    );

    let mut both = on_case(&w.case);
    both["migrant_id"] = json!(w.migrant);
    let matching = log(&app, &w.counsellor.token, both).await;
    assert_eq!(matching["migrant_id"], w.migrant.as_str());

    let someone_else = id(&register(
        &app,
        &w.counsellor.token,
        migrant_body("Zarina", "Karimova"),
    )
    .await);
    let mut mismatch = on_case(&w.case);
    mismatch["migrant_id"] = json!(someone_else);
    refused(
        &app,
        &w.counsellor.token,
        mismatch,
        StatusCode::UNPROCESSABLE_ENTITY,
        "migrant_id",
    )
    .await;
}

backend_test!(a_consultation_is_either_anonymous_or_linked);
async fn a_consultation_is_either_anonymous_or_linked(app: TestApp) {
    let w = World::build(&app).await;
    let mut both = anonymous();
    both["migrant_id"] = json!(w.migrant);
    refused(
        &app,
        &w.counsellor.token,
        both,
        StatusCode::BAD_REQUEST,
        "anonymous",
    )
    .await;
    let mut on_case_too = anonymous();
    on_case_too["case_id"] = json!(w.case);
    refused(
        &app,
        &w.counsellor.token,
        on_case_too,
        StatusCode::BAD_REQUEST,
        "anonymous",
    )
    .await;
    refused(
        &app,
        &w.counsellor.token,
        consultation_details(),
        StatusCode::BAD_REQUEST,
        "migrant_id",
    )
    .await;
}

backend_test!(migrants_and_cases_of_another_centre_are_refused);
async fn migrants_and_cases_of_another_centre_are_refused(app: TestApp) {
    let w = World::build(&app).await;
    let other = &w.other_supervisor.token;
    refused(
        &app,
        other,
        for_migrant(&w.migrant),
        StatusCode::UNPROCESSABLE_ENTITY,
        "migrant_id",
    )
    .await;
    refused(
        &app,
        other,
        on_case(&w.case),
        StatusCode::UNPROCESSABLE_ENTITY,
        "case_id",
    )
    .await;
    refused(
        &app,
        other,
        for_migrant("no-such-migrant"),
        StatusCode::UNPROCESSABLE_ENTITY,
        "migrant_id",
    )
    .await;
}

backend_test!(only_the_cases_counsellor_or_a_supervisor_logs_on_a_case);
async fn only_the_cases_counsellor_or_a_supervisor_logs_on_a_case(app: TestApp) {
    let w = World::build(&app).await;
    let before = consultation_count(&app);
    let response = app
        .post(
            "/api/v1/consultations",
            &w.colleague.token,
            on_case(&w.case),
        )
        .await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    problem(response).await;
    assert_eq!(consultation_count(&app), before);
    let by_supervisor = log(&app, &w.supervisor.token, on_case(&w.case)).await;
    assert_eq!(by_supervisor["counsellor_id"], w.supervisor.id.as_str());
}

backend_test!(details_are_validated_by_field);
async fn details_are_validated_by_field(app: TestApp) {
    let w = World::build(&app).await;
    let token = &w.counsellor.token;
    let future = (Utc::now() + Duration::hours(2)).to_rfc3339_opts(SecondsFormat::Secs, true);
    let ancient =
        (Utc::now() - Duration::days(3660 + 30)).to_rfc3339_opts(SecondsFormat::Secs, true);
    let cases: Vec<(&str, Value, &str)> = vec![
        ("occurred_at", json!(future), "occurred_at"),
        ("occurred_at", json!(ancient), "occurred_at"),
        ("duration_minutes", json!(0), "duration_minutes"),
        ("duration_minutes", json!(601), "duration_minutes"),
        ("topics", json!([]), "topics"),
        ("topics", json!(["health", "astrology"]), "topics[1]"),
        ("language", json!("xx"), "language"),
        ("channel", json!("pigeon"), "channel"),
        ("notes", json!("n".repeat(10_001)), "notes"),
    ];
    for (key, value, field) in cases {
        let mut body = for_migrant(&w.migrant);
        body[key] = value;
        refused(&app, token, body, StatusCode::BAD_REQUEST, field).await;
    }
}

backend_test!(topics_are_stored_as_a_set);
async fn topics_are_stored_as_a_set(app: TestApp) {
    let w = World::build(&app).await;
    let mut body = for_migrant(&w.migrant);
    body["topics"] = json!(["remittances", "health", "remittances", "health", "family"]);
    let created = log(&app, &w.counsellor.token, body).await;
    let mut topics: Vec<String> = created["topics"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t.as_str().unwrap().to_owned())
        .collect();
    topics.sort();
    assert_eq!(topics, ["family", "health", "remittances"]);
    assert_eq!(
        stored_topics(&app, &id(&created)),
        ["family", "health", "remittances"]
    );

    // PATCH replaces the set.
    let path = format!("/api/v1/consultations/{}", id(&created));
    let updated = expect(
        app.patch(
            &path,
            &w.counsellor.token,
            "\"1\"",
            json!({"topics": ["legal_documents", "legal_documents"]}),
        )
        .await,
        StatusCode::OK,
        "replace topics",
    )
    .await;
    assert_eq!(updated["topics"], json!(["legal_documents"]));
    assert_eq!(stored_topics(&app, &id(&created)), ["legal_documents"]);
}

async fn listed(app: &TestApp, token: &str, query: &str) -> Vec<String> {
    sorted(all_ids(app, token, &format!("/api/v1/consultations?{query}"), 2).await)
}

fn at(hours_ago: i64) -> String {
    (Utc::now() - Duration::hours(hours_ago)).to_rfc3339_opts(SecondsFormat::Secs, true)
}

backend_test!(the_list_filters_by_case_migrant_counsellor_topic_channel_and_time);
async fn the_list_filters_by_case_migrant_counsellor_topic_channel_and_time(app: TestApp) {
    let w = World::build(&app).await;
    let sup = &w.supervisor.token;
    // The world's consultation: on the case, by the counsellor, walk-in, labour rights, 1h ago.
    let mut phone_call = for_migrant(&w.migrant);
    phone_call["channel"] = json!("phone");
    phone_call["topics"] = json!(["health", "family"]);
    phone_call["occurred_at"] = json!(at(30));
    let phone_call = id(&log(&app, &w.colleague.token, phone_call).await);
    let mut walk_in = anonymous();
    walk_in["occurred_at"] = json!(at(5));
    walk_in["topics"] = json!(["health"]);
    let walk_in = id(&log(&app, sup, walk_in).await);
    let all = sorted(vec![
        w.consultation.clone(),
        phone_call.clone(),
        walk_in.clone(),
    ]);

    assert_eq!(listed(&app, sup, "").await, all);
    assert_eq!(
        listed(&app, sup, &format!("case_id={}", w.case)).await,
        vec![w.consultation.clone()]
    );
    assert_eq!(
        listed(&app, sup, &format!("migrant_id={}", w.migrant)).await,
        sorted(vec![w.consultation.clone(), phone_call.clone()])
    );
    assert_eq!(
        listed(&app, sup, &format!("counsellor_id={}", w.colleague.id)).await,
        vec![phone_call.clone()]
    );
    assert_eq!(
        listed(&app, sup, "topic=health").await,
        sorted(vec![phone_call.clone(), walk_in.clone()])
    );
    assert_eq!(
        listed(&app, sup, "topic=labour_rights").await,
        vec![w.consultation.clone()]
    );
    assert!(listed(&app, sup, "topic=education").await.is_empty());
    assert_eq!(
        listed(&app, sup, "channel=phone").await,
        vec![phone_call.clone()]
    );
    assert_eq!(
        listed(&app, sup, "channel=walk_in").await,
        sorted(vec![w.consultation.clone(), walk_in.clone()])
    );
    assert_eq!(
        listed(&app, sup, &format!("from={}", at(10))).await,
        sorted(vec![w.consultation.clone(), walk_in.clone()])
    );
    assert_eq!(
        listed(&app, sup, &format!("to={}", at(10))).await,
        vec![phone_call.clone()]
    );
    assert_eq!(
        listed(&app, sup, &format!("from={}&to={}", at(10), at(2))).await,
        vec![walk_in.clone()]
    );
    assert_eq!(
        listed(&app, sup, "topic=health&channel=walk_in").await,
        vec![walk_in.clone()]
    );

    let corrected = expect(
        app.patch(
            &format!("/api/v1/consultations/{phone_call}"),
            sup,
            "\"1\"",
            json!({"outcome": "Called back"}),
        )
        .await,
        StatusCode::OK,
        "update",
    )
    .await;
    let since = query_time(time_of(&corrected, "updated_at"));
    assert_eq!(
        listed(&app, sup, &format!("updated_since={since}")).await,
        vec![phone_call.clone()]
    );
    let bad = app.get("/api/v1/consultations?topic=astrology", sup).await;
    assert_eq!(bad.status(), StatusCode::BAD_REQUEST);
}

backend_test!(the_author_and_a_supervisor_may_correct_a_consultation);
async fn the_author_and_a_supervisor_may_correct_a_consultation(app: TestApp) {
    let w = World::build(&app).await;
    let path = format!("/api/v1/consultations/{}", w.consultation);
    let response = app
        .patch(
            &path,
            &w.counsellor.token,
            "\"1\"",
            json!({"notes": "Corrected notes", "duration_minutes": 35}),
        )
        .await;
    assert_eq!(etag(&response), "\"2\"");
    let updated = expect(response, StatusCode::OK, "author").await;
    assert_eq!(updated["notes"], "Corrected notes");
    assert_eq!(updated["duration_minutes"], 35);
    let updated = expect(
        app.patch(
            &path,
            &w.supervisor.token,
            "\"2\"",
            json!({"outcome": null, "channel": "phone"}),
        )
        .await,
        StatusCode::OK,
        "supervisor",
    )
    .await;
    assert_eq!(updated["channel"], "phone");
    assert_eq!(updated["notes"], "Corrected notes");
    assert_eq!(updated["version"], 3);
    let stale = app
        .patch(
            &path,
            &w.counsellor.token,
            "\"2\"",
            json!({"notes": "lost update"}),
        )
        .await;
    assert_eq!(stale.status(), StatusCode::PRECONDITION_FAILED);
    assert_eq!(stored(&app, &w.consultation).notes, "Corrected notes");
}

backend_test!(a_counsellor_reads_but_cannot_correct_someone_elses_consultation_on_their_case);
async fn a_counsellor_reads_but_cannot_correct_someone_elses_consultation_on_their_case(
    app: TestApp,
) {
    let w = World::build(&app).await;
    let by_supervisor = id(&log(&app, &w.supervisor.token, on_case(&w.case)).await);
    let path = format!("/api/v1/consultations/{by_supervisor}");
    let read = expect(
        app.get(&path, &w.counsellor.token).await,
        StatusCode::OK,
        "read",
    )
    .await;
    assert_eq!(read["notes"], "Explained how to claim unpaid wages");
    let response = app
        .patch(
            &path,
            &w.counsellor.token,
            "\"1\"",
            json!({"notes": "mine now"}),
        )
        .await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    problem(response).await;
    let row = stored(&app, &by_supervisor);
    assert_eq!(row.notes, "Explained how to claim unpaid wages");
    assert_eq!(row.version, 1);
}

backend_test!(counselling_a_migrant_opens_their_full_record_to_the_counsellor);
async fn counselling_a_migrant_opens_their_full_record_to_the_counsellor(app: TestApp) {
    let w = World::build(&app).await;
    let path = format!("/api/v1/migrants/{}", w.migrant);
    assert_eq!(
        app.get(&path, &w.colleague.token).await.status(),
        StatusCode::FORBIDDEN
    );
    log(&app, &w.colleague.token, for_migrant(&w.migrant)).await;
    let record = expect(
        app.get(&path, &w.colleague.token).await,
        StatusCode::OK,
        "read",
    )
    .await;
    assert_eq!(record["id"], w.migrant.as_str());
    assert_eq!(record["phone"], "+992901234567");
    // An anonymous consultation opens nothing.
    let other = id(&register(
        &app,
        &w.supervisor.token,
        migrant_body("Zarina", "Karimova"),
    )
    .await);
    log(&app, &w.colleague.token, anonymous()).await;
    let other_path = format!("/api/v1/migrants/{other}");
    assert_eq!(
        app.get(&other_path, &w.colleague.token).await.status(),
        StatusCode::FORBIDDEN
    );
}

backend_test!(create_read_and_update_are_audited);
async fn create_read_and_update_are_audited(app: TestApp) {
    let w = World::build(&app).await;
    let path = format!("/api/v1/consultations/{}", w.consultation);
    expect(
        app.get(&path, &w.supervisor.token).await,
        StatusCode::OK,
        "read",
    )
    .await;
    expect(
        app.patch(
            &path,
            &w.counsellor.token,
            "\"1\"",
            json!({"outcome": "Referred"}),
        )
        .await,
        StatusCode::OK,
        "update",
    )
    .await;
    let refused = app.get(&path, &w.colleague.token).await;
    expect(refused, StatusCode::NOT_FOUND, "a colleague's read").await;
    assert_eq!(
        app.audit_actions(&w.consultation),
        [
            "consultation.create",
            "consultation.read",
            "consultation.update"
        ]
    );
}

backend_test!(after_reassignment_both_the_author_and_the_new_counsellor_read_a_consultation);
async fn after_reassignment_both_the_author_and_the_new_counsellor_read_a_consultation(
    app: TestApp,
) {
    let w = World::build(&app).await;
    let case = id(&open_case(
        &app,
        &w.supervisor.token,
        &w.migrant,
        "normal",
        Some(&w.colleague.id),
    )
    .await);
    let mine = id(&log(&app, &w.colleague.token, on_case(&case)).await);
    let assign = app
        .post(
            &format!("/api/v1/cases/{case}/assign"),
            &w.supervisor.token,
            json!({"assigned_to": w.counsellor.id, "reason": "cover"}),
        )
        .await;
    expect(assign, StatusCode::OK, "assign").await;
    // The author still reads what they logged; the new counsellor reads it via the case.
    let path = format!("/api/v1/consultations/{mine}");
    assert_eq!(
        app.get(&path, &w.colleague.token).await.status(),
        StatusCode::OK
    );
    assert_eq!(
        app.get(&path, &w.counsellor.token).await.status(),
        StatusCode::OK
    );
}

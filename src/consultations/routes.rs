use actix_web::http::StatusCode;
use actix_web::{get, patch, post, web, HttpResponse};
use chrono::{Duration, Utc};
use diesel::prelude::*;
use utoipa_actix_web::service_config::ServiceConfig;

use super::access::{load_editable, load_visible, visible};
use super::model::*;
use super::queries::{
    after_write, insert_logged, responses, store_topics, stored_topics, topic_set, Written,
};
use crate::audit::Event;
use crate::auth::roles::CentreStaff;
use crate::cases::model::Case;
use crate::db::schema::{cases, consultation_topics, consultations};
use crate::db::versioned::{Changes, Versioned};
use crate::db::{DbConnection, MultiBackend};
use crate::error::ApiError;
use crate::http::pagination::{decode_cursor, CursorTime};
use crate::http::{representation, IfMatch, Json, Page, PageLimit, Query};
use crate::migrants::access::{
    record_access_granted, require_registered_here, write_grants_access,
};
use crate::state::AppState;
use crate::time::Timestamp;
use crate::validation::Validator;

pub fn configure(cfg: &mut ServiceConfig) {
    cfg.service(create_consultation)
        .service(list_consultations)
        .service(get_consultation)
        .service(update_consultation);
}

fn respond(status: StatusCode, consultation: ConsultationResponse) -> HttpResponse {
    representation(
        status,
        "consultations",
        &consultation.id,
        consultation.version,
    )
    .json(consultation)
}

/// A consultation time is plausible when it is not in the future (10 minutes of clock skew
/// allowed) and not more than ten years back (paper records being entered late).
fn check_occurred_at(v: &mut Validator, at: Timestamp) {
    let (at, now) = (at.utc(), Utc::now());
    if at > now + Duration::minutes(10) {
        v.fail("occurred_at", "must not be in the future");
    } else if at < now - Duration::days(3653) {
        v.fail("occurred_at", "must be within the last ten years");
    }
}

fn check_details(
    v: &mut Validator,
    duration: Option<i32>,
    topics: Option<&[Topic]>,
    language: Option<&str>,
    notes: Option<&str>,
    outcome: Option<&str>,
) {
    if let Some(duration) = duration {
        if !(1..=600).contains(&duration) {
            v.fail("duration_minutes", "must be between 1 and 600");
        }
    }
    if topics.is_some_and(<[Topic]>::is_empty) {
        v.fail("topics", "must name at least one topic");
    }
    if let Some(language) = language {
        v.language("language", language);
    }
    v.optional_text("notes", notes, 0, 10_000);
    v.optional_text("outcome", outcome, 1, 2000);
}

/// Log a consultation: anonymous, for a registered migrant, or on a case.
#[utoipa::path(
    tag = "consultations",
    request_body = CreateConsultation,
    responses((status = 201, description = "Logged", body = ConsultationResponse)),
    security(("bearer" = ["counsellor", "supervisor"]))
)]
#[post("/consultations")]
async fn create_consultation(
    state: web::Data<AppState>,
    staff: CentreStaff,
    body: Json<CreateConsultation>,
) -> Result<HttpResponse, ApiError> {
    let input = body.into_inner();
    check_create(&input)?;
    let response = crate::db::records_transaction(&state.pool, move |conn| {
        let migrant_id = person_consulted(conn, &staff, &input)?;
        let grants_access = match &migrant_id {
            Some(migrant_id) => write_grants_access(conn, &staff, migrant_id)?,
            None => false,
        };
        let topics = topic_set(input.topics.clone());
        let consultation = new_consultation(&staff, migrant_id, input);
        insert_logged(conn, &consultation, &topics)?;
        audit_create(conn, &staff, &consultation)?;
        if let (true, Some(migrant_id)) = (grants_access, &consultation.migrant_id) {
            record_access_granted(conn, &staff, migrant_id)?;
        }
        Ok(ConsultationResponse::new(consultation, topics))
    })
    .await?;
    Ok(respond(StatusCode::CREATED, response))
}

fn check_create(input: &CreateConsultation) -> Result<(), ApiError> {
    let mut v = Validator::new();
    check_occurred_at(&mut v, input.occurred_at);
    check_details(
        &mut v,
        Some(input.duration_minutes),
        Some(&input.topics),
        Some(&input.language),
        Some(&input.notes),
        input.outcome.as_deref(),
    );
    match (&input.anonymous, &input.migrant_id, &input.case_id) {
        (Some(profile), None, None) => v.country("anonymous.nationality", &profile.nationality),
        (Some(_), _, _) => v.fail(
            "anonymous",
            "an anonymous consultation has no migrant_id or case_id",
        ),
        (None, None, None) => v.fail("migrant_id", "give migrant_id, case_id or anonymous"),
        _ => {}
    }
    v.finish()
}

/// The registered person the consultation is with (`None`: anonymous), from its case or its
/// `migrant_id`, both of the caller's centre.
fn person_consulted(
    conn: &mut DbConnection,
    staff: &CentreStaff,
    input: &CreateConsultation,
) -> Result<Option<String>, ApiError> {
    match (&input.case_id, &input.migrant_id) {
        (Some(case_id), migrant_id) => {
            let case = case_to_log_on(conn, staff, case_id)?;
            if migrant_id.as_ref().is_some_and(|m| *m != case.migrant_id) {
                return Err(ApiError::unprocessable_field(
                    "migrant_id",
                    "is not the migrant of this case",
                ));
            }
            crate::migrants::access::refuse_if_anonymised(conn, &case.migrant_id)?;
            Ok(Some(case.migrant_id))
        }
        (None, Some(migrant_id)) => {
            require_registered_here(conn, staff, migrant_id)?;
            Ok(Some(migrant_id.clone()))
        }
        (None, None) => Ok(None),
    }
}

/// An open case of the caller's centre that the caller may log on (its counsellor or a
/// supervisor).
fn case_to_log_on(
    conn: &mut DbConnection,
    staff: &CentreStaff,
    case_id: &str,
) -> Result<Case, ApiError> {
    let case = cases::table
        .filter(cases::id.eq(case_id))
        .filter(cases::centre_id.eq(&staff.centre_id))
        .first::<Case>(conn)
        .optional()?
        .ok_or_else(|| {
            ApiError::unprocessable_field("case_id", "no case with this id in your centre")
        })?;
    if staff.is_counsellor() && case.assigned_to != staff.id {
        return Err(ApiError::forbidden(
            "only the case's counsellor or a supervisor may log on it",
        ));
    }
    if !case.is_open() {
        return Err(ApiError::conflict(
            "the case is closed; a supervisor can reopen it",
        ));
    }
    Ok(case)
}

fn new_consultation(
    staff: &CentreStaff,
    migrant_id: Option<String>,
    input: CreateConsultation,
) -> Consultation {
    let now = crate::time::now();
    let anonymous = input.anonymous;
    Consultation {
        id: uuid::Uuid::now_v7().to_string(),
        centre_id: staff.centre_id.clone(),
        counsellor_id: staff.id.clone(),
        migrant_id,
        case_id: input.case_id,
        anonymous_sex: anonymous.as_ref().map(|a| a.sex),
        anonymous_age_band: anonymous.as_ref().map(|a| a.age_band),
        anonymous_nationality: anonymous.as_ref().map(|a| a.nationality.clone()),
        anonymous_migration_status: anonymous.as_ref().map(|a| a.migration_status),
        occurred_at: input.occurred_at.naive_utc(),
        channel: input.channel,
        duration_minutes: input.duration_minutes,
        language: input.language,
        notes: input.notes,
        outcome: input.outcome,
        version: 1,
        created_at: now,
        updated_at: now,
    }
}

fn audit_create(
    conn: &mut DbConnection,
    staff: &CentreStaff,
    consultation: &Consultation,
) -> QueryResult<()> {
    Event::new(
        "consultation.create",
        "consultation",
        Some(&consultation.id),
    )
    .by(staff)
    .centre(Some(&consultation.centre_id))
    .subject(consultation.migrant_id.as_deref())
    .changed(vec![
        "occurred_at",
        "channel",
        "duration_minutes",
        "topics",
        "language",
        "notes",
        "outcome",
    ])
    .record(conn)
}

/// The rows the caller may see that match the list's filters.
fn matching(
    staff: &CentreStaff,
    query: &ListConsultations,
) -> consultations::BoxedQuery<'static, MultiBackend> {
    let mut q = consultations::table.filter(visible(staff)).into_boxed();
    if let Some(case_id) = &query.case_id {
        q = q.filter(consultations::case_id.eq(case_id.clone()));
    }
    if let Some(migrant_id) = &query.migrant_id {
        q = q.filter(consultations::migrant_id.eq(migrant_id.clone()));
    }
    if let Some(counsellor_id) = &query.counsellor_id {
        q = q.filter(consultations::counsellor_id.eq(counsellor_id.clone()));
    }
    if let Some(topic) = query.topic {
        q = q.filter(
            consultations::id.eq_any(
                consultation_topics::table
                    .filter(consultation_topics::topic.eq(topic))
                    .select(consultation_topics::consultation_id),
            ),
        );
    }
    if let Some(channel) = query.channel {
        q = q.filter(consultations::channel.eq(channel));
    }
    if let Some(from) = query.from {
        q = q.filter(consultations::occurred_at.ge(from.naive_utc()));
    }
    if let Some(to) = query.to {
        q = q.filter(consultations::occurred_at.lt(to.naive_utc()));
    }
    if let Some(since) = query.updated_since {
        q = q.filter(consultations::updated_at.ge(since.naive_utc()));
    }
    q
}

/// List consultations in the caller's scope, most recent first.
#[utoipa::path(
    tag = "consultations",
    params(ListConsultations),
    responses((status = 200, description = "A page of consultations", body = Page<ConsultationResponse>)),
    security(("bearer" = ["counsellor", "supervisor"]))
)]
#[get("/consultations")]
async fn list_consultations(
    state: web::Data<AppState>,
    staff: CentreStaff,
    query: Query<ListConsultations>,
) -> Result<web::Json<Page<ConsultationResponse>>, ApiError> {
    let query = query.into_inner();
    let limit = PageLimit::parse(query.limit)?;
    let after: Option<(CursorTime, String)> = decode_cursor(query.cursor.as_deref())?;
    let page = crate::audit::read(&state.pool, &state.read_audit, move |conn, seen| {
        let mut q = matching(&staff, &query);
        if let Some((CursorTime(at), id)) = after {
            q = q.filter(
                consultations::occurred_at
                    .lt(at)
                    .or(consultations::occurred_at
                        .eq(at)
                        .and(consultations::id.lt(id))),
            );
        }
        let rows = q
            .order((consultations::occurred_at.desc(), consultations::id.desc()))
            .limit(limit.fetch())
            .load::<Consultation>(conn)?;
        let page = Page::from_rows(rows, limit, |c| (c.occurred_at, c.id.clone()));
        if !page.items.is_empty() {
            // Consultation notes are personal data: a page names everyone on it (anonymous
            // consultations name nobody).
            Event::new("consultation.list", "consultation", None)
                .by(&staff)
                .centre(Some(&staff.centre_id))
                .subjects(page.items.iter().filter_map(|c| c.migrant_id.as_deref()))
                .defer(seen);
        }
        Ok(page.try_map_items(|items| responses(conn, items))?)
    })
    .await?;
    Ok(web::Json(page))
}

/// Read a consultation (audited).
#[utoipa::path(
    tag = "consultations",
    params(("id" = String, Path, description = "Consultation id")),
    responses((status = 200, description = "The consultation", body = ConsultationResponse)),
    security(("bearer" = ["counsellor", "supervisor"]))
)]
#[get("/consultations/{id}")]
async fn get_consultation(
    state: web::Data<AppState>,
    staff: CentreStaff,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = id.into_inner();
    let response = crate::audit::read(&state.pool, &state.read_audit, move |conn, seen| {
        let consultation = load_visible(conn, &staff, &id)?;
        Event::new("consultation.read", "consultation", Some(&consultation.id))
            .by(&staff)
            .centre(Some(&consultation.centre_id))
            .subject(consultation.migrant_id.as_deref())
            .defer(seen);
        let mut built = responses(conn, vec![consultation])?;
        built
            .pop()
            .ok_or_else(|| ApiError::internal("consultation vanished"))
    })
    .await?;
    Ok(respond(StatusCode::OK, response))
}

/// Correct a consultation (its author or a supervisor; `If-Match` required).
#[utoipa::path(
    tag = "consultations",
    params(
        ("id" = String, Path, description = "Consultation id"),
        ("If-Match" = String, Header, description = "ETag of the version being changed"),
    ),
    request_body = UpdateConsultation,
    responses((status = 200, description = "The updated consultation", body = ConsultationResponse)),
    security(("bearer" = ["counsellor", "supervisor"]))
)]
#[patch("/consultations/{id}")]
async fn update_consultation(
    state: web::Data<AppState>,
    staff: CentreStaff,
    id: web::Path<String>,
    if_match: IfMatch,
    body: Json<UpdateConsultation>,
) -> Result<HttpResponse, ApiError> {
    let id = id.into_inner();
    let input = body.into_inner();
    validate_update(&input)?;
    let response = crate::db::records_transaction(&state.pool, move |conn| {
        let mut c = load_editable(conn, &staff, &id)?;
        if_match.check(c.version)?;
        let topics = input.topics.clone();
        let changes = apply_update(conn, &mut c, input)?;
        if !changes.is_empty() {
            c.save(conn)?;
        }
        if changes.contains("topics") {
            store_topics(conn, &c.id, topics.unwrap_or_default())?;
        }
        if !changes.is_empty() {
            let written = if changes.contains("occurred_at") {
                Written::Moved
            } else {
                Written::Edited
            };
            after_write(conn, &c, written)?;
        }
        // Audited even when nothing changed: the answer shows the consultation.
        Event::new("consultation.update", "consultation", Some(&c.id))
            .by(&staff)
            .centre(Some(&c.centre_id))
            .subject(c.migrant_id.as_deref())
            .changed(changes.fields())
            .record(conn)?;
        let mut built = responses(conn, vec![c])?;
        built
            .pop()
            .ok_or_else(|| ApiError::internal("consultation vanished"))
    })
    .await?;
    Ok(respond(StatusCode::OK, response))
}

fn validate_update(input: &UpdateConsultation) -> Result<(), ApiError> {
    let mut v = Validator::new();
    if let Some(at) = input.occurred_at {
        check_occurred_at(&mut v, at);
    }
    check_details(
        &mut v,
        input.duration_minutes,
        input.topics.as_deref(),
        input.language.as_deref(),
        input.notes.as_deref(),
        input.outcome.as_ref().and_then(|o| o.as_deref()),
    );
    v.finish()
}

/// Applies the PATCH to `c` (not yet saved). New topics are compared with the stored ones; the
/// caller stores them once the consultation is saved.
fn apply_update(
    conn: &mut DbConnection,
    c: &mut Consultation,
    input: UpdateConsultation,
) -> QueryResult<Changes> {
    let mut changes = Changes::new();
    let occurred_at = input.occurred_at.map(|at| at.naive_utc());
    changes.set("occurred_at", &mut c.occurred_at, occurred_at);
    changes.set("channel", &mut c.channel, input.channel);
    changes.set(
        "duration_minutes",
        &mut c.duration_minutes,
        input.duration_minutes,
    );
    changes.set("language", &mut c.language, input.language);
    changes.set("notes", &mut c.notes, input.notes);
    changes.set("outcome", &mut c.outcome, input.outcome);
    if let Some(topics) = input.topics {
        if topic_set(topics) != stored_topics(conn, &c.id)? {
            changes.mark("topics");
        }
    }
    Ok(changes)
}

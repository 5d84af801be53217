use actix_web::http::StatusCode;
use actix_web::{get, patch, post, web, HttpResponse};
use chrono::{Duration, NaiveDateTime, Utc};
use diesel::prelude::*;
use utoipa_actix_web::service_config::ServiceConfig;

use super::access::{load_scheduled, load_visible, visible};
use super::model::*;
use super::queries::{audit, event, migrant_of, save};
use crate::audit::{Deferred, Event};
use crate::auth::roles::CentreStaff;
use crate::cases::access::load_writable;
use crate::cases::model::Case;
use crate::db::schema::{cases, follow_ups};
use crate::db::versioned::Changes;
use crate::db::{DbConnection, MultiBackend};
use crate::error::ApiError;
use crate::http::pagination::{decode_cursor, CursorTime};
use crate::http::{representation, IfMatch, Json, Page, PageLimit, Query};
use crate::state::AppState;
use crate::time::Timestamp;
use crate::users::queries::check_assignable;
use crate::validation::Validator;

pub fn configure(cfg: &mut ServiceConfig) {
    cfg.service(create_follow_up)
        .service(list_follow_ups)
        .service(get_follow_up)
        .service(update_follow_up)
        .service(complete_follow_up)
        .service(cancel_follow_up)
        .service(miss_follow_up);
}

fn respond(status: StatusCode, follow_up: FollowUp) -> HttpResponse {
    representation(status, "follow-ups", &follow_up.id, follow_up.version)
        .json(FollowUpResponse::new(follow_up, crate::time::now()))
}

/// A due time is plausible from a day ago (logging a call just made) to two years ahead.
fn check_due_at(v: &mut Validator, due_at: Timestamp) {
    let (due_at, now) = (due_at.utc(), Utc::now());
    if due_at < now - Duration::days(1) || due_at > now + Duration::days(730) {
        v.fail("due_at", "must be between yesterday and two years ahead");
    }
}

/// Schedule a follow-up on a case.
#[utoipa::path(
    tag = "follow-ups",
    params(("id" = String, Path, description = "Case id")),
    request_body = CreateFollowUp,
    responses((status = 201, description = "Scheduled", body = FollowUpResponse)),
    security(("bearer" = ["counsellor", "supervisor"]))
)]
#[post("/cases/{id}/follow-ups")]
async fn create_follow_up(
    state: web::Data<AppState>,
    staff: CentreStaff,
    id: web::Path<String>,
    body: Json<CreateFollowUp>,
) -> Result<HttpResponse, ApiError> {
    let case_id = id.into_inner();
    let input = body.into_inner();
    let mut v = Validator::new();
    check_due_at(&mut v, input.due_at);
    v.optional_text("note", input.note.as_deref(), 1, 2000);
    v.finish()?;
    let follow_up = crate::db::records_transaction(&state.pool, move |conn| {
        let case: Case = load_writable(conn, &staff, &case_id)?;
        let assignee = input
            .assigned_to
            .unwrap_or_else(|| case.assigned_to.clone());
        check_assignable(conn, &case.centre_id, &assignee, "assigned_to")?;
        let now = crate::time::now();
        let follow_up = FollowUp {
            id: uuid::Uuid::now_v7().to_string(),
            case_id: case.id.clone(),
            centre_id: case.centre_id.clone(),
            assigned_to: assignee,
            created_by: staff.id.clone(),
            due_at: input.due_at.naive_utc(),
            kind: input.kind,
            note: input.note,
            status: FollowUpStatus::Scheduled,
            outcome: None,
            closed_at: None,
            version: 1,
            created_at: now,
            updated_at: now,
        };
        diesel::insert_into(follow_ups::table)
            .values(&follow_up)
            .execute(conn)?;
        Event::new("follow_up.create", "follow_up", Some(&follow_up.id))
            .by(&staff)
            .centre(Some(&follow_up.centre_id))
            .subject(Some(&case.migrant_id))
            .changed(vec!["due_at", "assigned_to", "kind", "note"])
            .record(conn)?;
        Ok(follow_up)
    })
    .await?;
    Ok(respond(StatusCode::CREATED, follow_up))
}

/// The rows the caller may see that match the list's filters.
fn matching(
    staff: &CentreStaff,
    query: &ListFollowUps,
    now: NaiveDateTime,
) -> follow_ups::BoxedQuery<'static, MultiBackend> {
    let mut q = follow_ups::table.filter(visible(staff)).into_boxed();
    if let Some(assignee) = &query.assigned_to {
        let assignee = if assignee == "me" {
            staff.id.clone()
        } else {
            assignee.clone()
        };
        q = q.filter(follow_ups::assigned_to.eq(assignee));
    }
    if let Some(status) = query.status {
        q = q.filter(follow_ups::status.eq(status));
    }
    if let Some(case_id) = &query.case_id {
        q = q.filter(follow_ups::case_id.eq(case_id.clone()));
    }
    if let Some(before) = query.due_before {
        q = q.filter(follow_ups::due_at.lt(before.naive_utc()));
    }
    match query.overdue {
        Some(true) => {
            q = q
                .filter(follow_ups::status.eq(FollowUpStatus::Scheduled))
                .filter(follow_ups::due_at.lt(now));
        }
        Some(false) => {
            q = q.filter(
                follow_ups::status
                    .ne(FollowUpStatus::Scheduled)
                    .or(follow_ups::due_at.ge(now)),
            );
        }
        None => {}
    }
    if let Some(since) = query.updated_since {
        q = q.filter(follow_ups::updated_at.ge(since.naive_utc()));
    }
    q
}

/// The agenda: follow-ups in the caller's scope, soonest due first.
///
/// `assigned_to=me&status=scheduled` is a counsellor's to-do list; `overdue=true` what slipped.
#[utoipa::path(
    tag = "follow-ups",
    params(ListFollowUps),
    responses((status = 200, description = "A page of follow-ups", body = Page<FollowUpResponse>)),
    security(("bearer" = ["counsellor", "supervisor"]))
)]
#[get("/follow-ups")]
async fn list_follow_ups(
    state: web::Data<AppState>,
    staff: CentreStaff,
    query: Query<ListFollowUps>,
) -> Result<web::Json<Page<FollowUpResponse>>, ApiError> {
    let query = query.into_inner();
    let limit = PageLimit::parse(query.limit)?;
    let after: Option<(CursorTime, String)> = decode_cursor(query.cursor.as_deref())?;
    let page = crate::audit::read(&state.pool, &state.read_audit, move |conn, seen| {
        let now = crate::time::now();
        let mut q = matching(&staff, &query, now);
        if let Some((CursorTime(due), id)) = after {
            q = q.filter(
                follow_ups::due_at
                    .gt(due)
                    .or(follow_ups::due_at.eq(due).and(follow_ups::id.gt(id))),
            );
        }
        let rows = q
            .order((follow_ups::due_at.asc(), follow_ups::id.asc()))
            .limit(limit.fetch())
            .load::<FollowUp>(conn)?;
        let page = Page::from_rows(rows, limit, |f| (f.due_at, f.id.clone()));
        audit_page(conn, &staff, &page.items, seen)?;
        Ok(page.map(|f| FollowUpResponse::new(f, now)))
    })
    .await?;
    Ok(web::Json(page))
}

/// One event naming the people of a page of follow-ups, found through their cases in one
/// query. An empty page shows nobody and records nothing.
fn audit_page(
    conn: &mut DbConnection,
    staff: &CentreStaff,
    items: &[FollowUp],
    seen: &mut Deferred,
) -> QueryResult<()> {
    if items.is_empty() {
        return Ok(());
    }
    let case_ids: Vec<&str> = items.iter().map(|f| f.case_id.as_str()).collect();
    let migrant_ids: Vec<String> = cases::table
        .filter(cases::id.eq_any(&case_ids))
        .select(cases::migrant_id)
        .load(conn)?;
    Event::new("follow_up.list", "follow_up", None)
        .by(staff)
        .centre(Some(&staff.centre_id))
        .subjects(migrant_ids.iter().map(String::as_str))
        .defer(seen);
    Ok(())
}

/// Read a follow-up (audited).
#[utoipa::path(
    tag = "follow-ups",
    params(("id" = String, Path, description = "Follow-up id")),
    responses((status = 200, description = "The follow-up", body = FollowUpResponse)),
    security(("bearer" = ["counsellor", "supervisor"]))
)]
#[get("/follow-ups/{id}")]
async fn get_follow_up(
    state: web::Data<AppState>,
    staff: CentreStaff,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = id.into_inner();
    let follow_up = crate::audit::read(&state.pool, &state.read_audit, move |conn, seen| {
        let follow_up = load_visible(conn, &staff, &id)?;
        let migrant_id = migrant_of(conn, &follow_up.case_id)?;
        event(&staff, &follow_up, &migrant_id, "follow_up.read").defer(seen);
        Ok(follow_up)
    })
    .await?;
    Ok(respond(StatusCode::OK, follow_up))
}

/// Reschedule or reassign a scheduled follow-up (`If-Match` required).
#[utoipa::path(
    tag = "follow-ups",
    params(
        ("id" = String, Path, description = "Follow-up id"),
        ("If-Match" = String, Header, description = "ETag of the version being changed"),
    ),
    request_body = UpdateFollowUp,
    responses((status = 200, description = "The updated follow-up", body = FollowUpResponse)),
    security(("bearer" = ["counsellor", "supervisor"]))
)]
#[patch("/follow-ups/{id}")]
async fn update_follow_up(
    state: web::Data<AppState>,
    staff: CentreStaff,
    id: web::Path<String>,
    if_match: IfMatch,
    body: Json<UpdateFollowUp>,
) -> Result<HttpResponse, ApiError> {
    let id = id.into_inner();
    let input = body.into_inner();
    let mut v = Validator::new();
    if let Some(due_at) = input.due_at {
        check_due_at(&mut v, due_at);
    }
    v.optional_text("note", input.note.clone().flatten().as_deref(), 1, 2000);
    v.finish()?;
    let follow_up = crate::db::records_transaction(&state.pool, move |conn| {
        let mut f = load_scheduled(conn, &staff, &id)?;
        if_match.check(f.version)?;
        if let Some(assignee) = &input.assigned_to {
            check_assignable(conn, &f.centre_id, assignee, "assigned_to")?;
        }
        let mut changes = Changes::new();
        let due_at = input.due_at.map(|at| at.naive_utc());
        changes.set("due_at", &mut f.due_at, due_at);
        changes.set("assigned_to", &mut f.assigned_to, input.assigned_to);
        changes.set("kind", &mut f.kind, input.kind);
        changes.set("note", &mut f.note, input.note);
        if changes.is_empty() {
            // Nothing to change, but the answer shows the follow-up.
            audit(conn, &staff, &f, "follow_up.update", vec![])?;
        } else {
            save(conn, &staff, &mut f, "follow_up.update", changes.fields())?;
        }
        Ok(f)
    })
    .await?;
    Ok(respond(StatusCode::OK, follow_up))
}

/// Ends a scheduled follow-up with a final status and what happened.
async fn finish(
    state: web::Data<AppState>,
    staff: CentreStaff,
    id: String,
    status: FollowUpStatus,
    outcome: String,
    action: &'static str,
) -> Result<HttpResponse, ApiError> {
    let field = match status {
        FollowUpStatus::Cancelled => "reason",
        FollowUpStatus::Missed => "note",
        _ => "outcome",
    };
    let mut v = Validator::new();
    v.text(field, &outcome, 1, 2000);
    v.finish()?;
    let follow_up = crate::db::records_transaction(&state.pool, move |conn| {
        let mut f = load_scheduled(conn, &staff, &id)?;
        f.status = status;
        f.outcome = Some(outcome.trim().to_owned());
        f.closed_at = Some(crate::time::now());
        save(conn, &staff, &mut f, action, vec!["status", "outcome"])?;
        Ok(f)
    })
    .await?;
    Ok(respond(StatusCode::OK, follow_up))
}

/// Mark a follow-up done, saying what came of it.
#[utoipa::path(
    tag = "follow-ups",
    params(("id" = String, Path, description = "Follow-up id")),
    request_body = CompleteFollowUp,
    responses((status = 200, description = "Done", body = FollowUpResponse)),
    security(("bearer" = ["counsellor", "supervisor"]))
)]
#[post("/follow-ups/{id}/complete")]
async fn complete_follow_up(
    state: web::Data<AppState>,
    staff: CentreStaff,
    id: web::Path<String>,
    body: Json<CompleteFollowUp>,
) -> Result<HttpResponse, ApiError> {
    let outcome = body.into_inner().outcome;
    finish(
        state,
        staff,
        id.into_inner(),
        FollowUpStatus::Done,
        outcome,
        "follow_up.complete",
    )
    .await
}

/// Cancel a follow-up that is no longer needed.
#[utoipa::path(
    tag = "follow-ups",
    params(("id" = String, Path, description = "Follow-up id")),
    request_body = CancelFollowUp,
    responses((status = 200, description = "Cancelled", body = FollowUpResponse)),
    security(("bearer" = ["counsellor", "supervisor"]))
)]
#[post("/follow-ups/{id}/cancel")]
async fn cancel_follow_up(
    state: web::Data<AppState>,
    staff: CentreStaff,
    id: web::Path<String>,
    body: Json<CancelFollowUp>,
) -> Result<HttpResponse, ApiError> {
    let reason = body.into_inner().reason;
    finish(
        state,
        staff,
        id.into_inner(),
        FollowUpStatus::Cancelled,
        reason,
        "follow_up.cancel",
    )
    .await
}

/// Record that a follow-up could not take place (no answer, no show).
#[utoipa::path(
    tag = "follow-ups",
    params(("id" = String, Path, description = "Follow-up id")),
    request_body = MissFollowUp,
    responses((status = 200, description = "Marked missed", body = FollowUpResponse)),
    security(("bearer" = ["counsellor", "supervisor"]))
)]
#[post("/follow-ups/{id}/miss")]
async fn miss_follow_up(
    state: web::Data<AppState>,
    staff: CentreStaff,
    id: web::Path<String>,
    body: Json<MissFollowUp>,
) -> Result<HttpResponse, ApiError> {
    let note = body.into_inner().note;
    finish(
        state,
        staff,
        id.into_inner(),
        FollowUpStatus::Missed,
        note,
        "follow_up.miss",
    )
    .await
}

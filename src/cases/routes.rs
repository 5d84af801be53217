use actix_web::http::StatusCode;
use actix_web::{get, patch, post, web, HttpResponse};
use diesel::prelude::*;
use utoipa_actix_web::service_config::ServiceConfig;

use super::access::{load_visible, load_writable, visible};
use super::model::*;
use super::queries::{audit, close_open_items, reassign, record_case_event};
use crate::audit::Event;
use crate::auth::roles::{CentreRole, CentreStaff, Supervisor};
use crate::db::schema::cases;
use crate::db::versioned::{Changes, Versioned};
use crate::error::ApiError;
use crate::http::pagination::decode_cursor;
use crate::http::{representation, IfMatch, Json, Page, PageLimit, Query};
use crate::migrants::access::{
    record_access_granted, require_registered_here, write_grants_access,
};
use crate::state::AppState;
use crate::users::queries::check_assignable;
use crate::validation::Validator;

pub fn configure(cfg: &mut ServiceConfig) {
    cfg.service(create_case)
        .service(list_cases)
        .service(get_case)
        .service(update_case)
        .service(assign_case)
        .service(close_case)
        .service(reopen_case)
        .service(super::timeline::case_timeline);
}

fn respond(status: StatusCode, case: Case) -> HttpResponse {
    representation(status, "cases", &case.id, case.version).json(CaseResponse::from(case))
}

/// Who a new case goes to: the caller, unless a supervisor names someone else.
fn first_assignee(staff: &CentreStaff, requested: Option<String>) -> Result<String, ApiError> {
    match (staff.role, requested) {
        (CentreRole::Counsellor, Some(other)) if other != staff.id => Err(ApiError::forbidden(
            "a counsellor's case is assigned to them; ask a supervisor to assign it elsewhere",
        )),
        (_, Some(assignee)) => Ok(assignee),
        (_, None) => Ok(staff.id.clone()),
    }
}

/// Open a case for a migrant of the caller's centre.
#[utoipa::path(
    tag = "cases",
    request_body = CreateCase,
    responses((status = 201, description = "Case opened", body = CaseResponse)),
    security(("bearer" = ["counsellor", "supervisor"]))
)]
#[post("/cases")]
async fn create_case(
    state: web::Data<AppState>,
    staff: CentreStaff,
    body: Json<CreateCase>,
) -> Result<HttpResponse, ApiError> {
    let centre = staff.centre_id.clone();
    let input = body.into_inner();
    let mut v = Validator::new();
    v.text("summary", &input.summary, 1, 2000);
    v.finish()?;
    let assignee = first_assignee(&staff, input.assigned_to.clone())?;
    let case = crate::db::records_transaction(&state.pool, move |conn| {
        require_registered_here(conn, &staff, &input.migrant_id)?;
        check_assignable(conn, &centre, &assignee, "assigned_to")?;
        let grants_access = write_grants_access(conn, &staff, &input.migrant_id)?;
        let now = crate::time::now();
        let case = Case {
            id: uuid::Uuid::now_v7().to_string(),
            migrant_id: input.migrant_id,
            centre_id: centre,
            assigned_to: assignee,
            opened_by: staff.id.clone(),
            status: CaseStatus::Open,
            priority: input.priority.unwrap_or(Priority::Normal),
            summary: input.summary.trim().to_owned(),
            opened_at: now,
            closed_at: None,
            closure_reason: None,
            version: 1,
            created_at: now,
            updated_at: now,
        };
        diesel::insert_into(cases::table)
            .values(&case)
            .execute(conn)?;
        record_case_event(
            conn,
            &case.id,
            &staff,
            CaseEventKind::Opened,
            Some(&case.assigned_to),
            None,
        )?;
        audit(
            conn,
            &staff,
            "case.create",
            &case,
            vec!["migrant_id", "summary", "priority", "assigned_to"],
        )?;
        if grants_access {
            record_access_granted(conn, &staff, &case.migrant_id)?;
        }
        Ok(case)
    })
    .await?;
    Ok(respond(StatusCode::CREATED, case))
}

/// List cases: a counsellor's own, or the centre's for a supervisor. Newest first.
#[utoipa::path(
    tag = "cases",
    params(ListCases),
    responses((status = 200, description = "A page of cases", body = Page<CaseResponse>)),
    security(("bearer" = ["counsellor", "supervisor"]))
)]
#[get("/cases")]
async fn list_cases(
    state: web::Data<AppState>,
    staff: CentreStaff,
    query: Query<ListCases>,
) -> Result<web::Json<Page<CaseResponse>>, ApiError> {
    let query = query.into_inner();
    let limit = PageLimit::parse(query.limit)?;
    let before: Option<String> = decode_cursor(query.cursor.as_deref())?;
    let page = crate::audit::read(&state.pool, &state.read_audit, move |conn, seen| {
        let mut q = cases::table.filter(visible(&staff)).into_boxed();
        if let Some(status) = query.status {
            q = q.filter(cases::status.eq(status));
        }
        if let Some(priority) = query.priority {
            q = q.filter(cases::priority.eq(priority));
        }
        if let Some(assigned_to) = query.assigned_to {
            q = q.filter(cases::assigned_to.eq(assigned_to));
        }
        if let Some(migrant_id) = query.migrant_id {
            q = q.filter(cases::migrant_id.eq(migrant_id));
        }
        if let Some(after) = query.opened_after {
            q = q.filter(cases::opened_at.ge(after.naive_utc()));
        }
        if let Some(before) = query.opened_before {
            q = q.filter(cases::opened_at.lt(before.naive_utc()));
        }
        if let Some(since) = query.updated_since {
            q = q.filter(cases::updated_at.ge(since.naive_utc()));
        }
        if let Some(before) = before {
            q = q.filter(cases::id.lt(before));
        }
        let rows = q
            .order(cases::id.desc())
            .limit(limit.fetch())
            .load::<Case>(conn)?;
        let page = Page::from_rows(rows, limit, |c| c.id.clone());
        if !page.items.is_empty() {
            Event::new("case.list", "case", None)
                .by(&staff)
                .centre(Some(&staff.centre_id))
                .subjects(page.items.iter().map(|c| c.migrant_id.as_str()))
                .defer(seen);
        }
        Ok(page.map(CaseResponse::from))
    })
    .await?;
    Ok(web::Json(page))
}

/// Read a case (audited).
#[utoipa::path(
    tag = "cases",
    params(("id" = String, Path, description = "Case id")),
    responses((status = 200, description = "The case", body = CaseResponse)),
    security(("bearer" = ["counsellor", "supervisor"]))
)]
#[get("/cases/{id}")]
async fn get_case(
    state: web::Data<AppState>,
    staff: CentreStaff,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = id.into_inner();
    let case = crate::audit::read(&state.pool, &state.read_audit, move |conn, seen| {
        let case = load_visible(conn, &staff, &id)?;
        super::queries::event(&staff, "case.read", &case, vec![]).defer(seen);
        Ok(case)
    })
    .await?;
    Ok(respond(StatusCode::OK, case))
}

/// Change a case's summary or priority (`If-Match` required; the case must be open).
#[utoipa::path(
    tag = "cases",
    params(
        ("id" = String, Path, description = "Case id"),
        ("If-Match" = String, Header, description = "ETag of the version being changed"),
    ),
    request_body = UpdateCase,
    responses((status = 200, description = "The updated case", body = CaseResponse)),
    security(("bearer" = ["counsellor", "supervisor"]))
)]
#[patch("/cases/{id}")]
async fn update_case(
    state: web::Data<AppState>,
    staff: CentreStaff,
    id: web::Path<String>,
    if_match: IfMatch,
    body: Json<UpdateCase>,
) -> Result<HttpResponse, ApiError> {
    let id = id.into_inner();
    let input = body.into_inner();
    let mut v = Validator::new();
    v.optional_text("summary", input.summary.as_deref(), 1, 2000);
    v.finish()?;
    let case = crate::db::records_transaction(&state.pool, move |conn| {
        let mut case = load_writable(conn, &staff, &id)?;
        if_match.check(case.version)?;
        let mut changes = Changes::new();
        let summary = input.summary.map(|s| s.trim().to_owned());
        changes.set("summary", &mut case.summary, summary);
        changes.set("priority", &mut case.priority, input.priority);
        if !changes.is_empty() {
            case.save(conn)?;
        }
        // Audited even when nothing changed: the answer shows the case.
        audit(conn, &staff, "case.update", &case, changes.fields())?;
        Ok(case)
    })
    .await?;
    Ok(respond(StatusCode::OK, case))
}

/// Reassign a case to another counsellor or supervisor of the centre (supervisors).
#[utoipa::path(
    tag = "cases",
    params(("id" = String, Path, description = "Case id")),
    request_body = AssignCase,
    responses((status = 200, description = "The reassigned case", body = CaseResponse)),
    security(("bearer" = ["supervisor"]))
)]
#[post("/cases/{id}/assign")]
async fn assign_case(
    state: web::Data<AppState>,
    staff: Supervisor,
    id: web::Path<String>,
    body: Json<AssignCase>,
) -> Result<HttpResponse, ApiError> {
    let id = id.into_inner();
    let input = body.into_inner();
    let mut v = Validator::new();
    v.text("reason", &input.reason, 1, 1000);
    v.finish()?;
    let case = crate::db::records_transaction(&state.pool, move |conn| {
        let case = load_visible(conn, &staff, &id)?;
        if !case.is_open() {
            return Err(ApiError::conflict("the case is closed; reopen it first"));
        }
        reassign(
            conn,
            &staff,
            case,
            &input.assigned_to,
            input.reason.trim(),
            "assigned_to",
        )
    })
    .await?;
    Ok(respond(StatusCode::OK, case))
}

/// Close a case (its counsellor or a supervisor); a reason is required.
///
/// With scheduled follow-ups or open referrals this answers 409 listing them; a supervisor may
/// send `force: true` to close anyway, which cancels them in the same transaction.
#[utoipa::path(
    tag = "cases",
    params(("id" = String, Path, description = "Case id")),
    request_body = CloseCase,
    responses((status = 200, description = "The closed case", body = CaseResponse)),
    security(("bearer" = ["counsellor", "supervisor"]))
)]
#[post("/cases/{id}/close")]
async fn close_case(
    state: web::Data<AppState>,
    staff: CentreStaff,
    id: web::Path<String>,
    body: Json<CloseCase>,
) -> Result<HttpResponse, ApiError> {
    let id = id.into_inner();
    let input = body.into_inner();
    let mut v = Validator::new();
    v.text("reason", &input.reason, 1, 1000);
    v.finish()?;
    let case = crate::db::records_transaction(&state.pool, move |conn| {
        let mut case = load_writable(conn, &staff, &id)?;
        if input.force && !staff.is_supervisor() {
            return Err(ApiError::forbidden("only a supervisor may force a close"));
        }
        close_open_items(conn, &staff, &case, input.force)?;
        let reason = input.reason.trim().to_owned();
        case.status = CaseStatus::Closed;
        case.closed_at = Some(crate::time::now());
        case.closure_reason = Some(reason.clone());
        case.save(conn)?;
        record_case_event(
            conn,
            &case.id,
            &staff,
            CaseEventKind::Closed,
            None,
            Some(&reason),
        )?;
        audit(
            conn,
            &staff,
            "case.close",
            &case,
            vec!["status", "closed_at", "closure_reason"],
        )?;
        Ok(case)
    })
    .await?;
    Ok(respond(StatusCode::OK, case))
}

/// Reopen a closed case (supervisors).
#[utoipa::path(
    tag = "cases",
    params(("id" = String, Path, description = "Case id")),
    request_body = ReopenCase,
    responses((status = 200, description = "The reopened case", body = CaseResponse)),
    security(("bearer" = ["supervisor"]))
)]
#[post("/cases/{id}/reopen")]
async fn reopen_case(
    state: web::Data<AppState>,
    staff: Supervisor,
    id: web::Path<String>,
    body: Json<ReopenCase>,
) -> Result<HttpResponse, ApiError> {
    let id = id.into_inner();
    let input = body.into_inner();
    let mut v = Validator::new();
    v.text("reason", &input.reason, 1, 1000);
    v.finish()?;
    let case = crate::db::records_transaction(&state.pool, move |conn| {
        let mut case = load_visible(conn, &staff, &id)?;
        if case.is_open() {
            return Err(ApiError::conflict("the case is already open"));
        }
        // An anonymised person's cases stay closed: reopening would invite personal data back.
        crate::migrants::access::refuse_if_anonymised(conn, &case.migrant_id)?;
        case.status = CaseStatus::Open;
        case.closed_at = None;
        case.closure_reason = None;
        case.save(conn)?;
        record_case_event(
            conn,
            &case.id,
            &staff,
            CaseEventKind::Reopened,
            None,
            Some(input.reason.trim()),
        )?;
        audit(
            conn,
            &staff,
            "case.reopen",
            &case,
            vec!["status", "closed_at", "closure_reason"],
        )?;
        Ok(case)
    })
    .await?;
    Ok(respond(StatusCode::OK, case))
}

use actix_web::{get, web};
use diesel::prelude::*;
use utoipa_actix_web::service_config::ServiceConfig;

use super::model::{AuditEvent, AuditRow, ListAuditEvents};
use super::queries::with_subjects;
use crate::auth::roles::Manager;
use crate::db::schema::audit_events;
use crate::error::ApiError;
use crate::http::pagination::decode_cursor;
use crate::http::{Page, PageLimit, Query};
use crate::state::AppState;

pub fn configure(cfg: &mut ServiceConfig) {
    cfg.service(list_audit_events);
}

/// The audit trail, newest first: a supervisor's centre, or everything for an admin.
#[utoipa::path(
    tag = "audit",
    params(ListAuditEvents),
    responses((status = 200, description = "A page of audit events", body = Page<AuditEvent>)),
    security(("bearer" = ["supervisor", "admin"]))
)]
#[get("/audit-events")]
async fn list_audit_events(
    state: web::Data<AppState>,
    staff: Manager,
    query: Query<ListAuditEvents>,
) -> Result<web::Json<Page<AuditEvent>>, ApiError> {
    let query = query.into_inner();
    let limit = PageLimit::parse(query.limit)?;
    let before: Option<String> = decode_cursor(query.cursor.as_deref())?;
    let page = crate::db::run(&state.pool, move |conn| {
        let mut q = audit_events::table.into_boxed();
        if let Some(centre) = staff.centre() {
            q = q.filter(audit_events::centre_id.eq(centre.to_owned()));
        } else if let Some(centre) = query.centre_id {
            q = q.filter(audit_events::centre_id.eq(centre));
        }
        if let Some(action) = query.action {
            q = q.filter(audit_events::action.eq(action));
        }
        if let Some(entity_type) = query.entity_type {
            q = q.filter(audit_events::entity_type.eq(entity_type));
        }
        if let Some(entity_id) = query.entity_id {
            q = q.filter(audit_events::entity_id.eq(entity_id));
        }
        if let Some(actor_id) = query.actor_id {
            q = q.filter(audit_events::actor_id.eq(actor_id));
        }
        if let Some(since) = query.updated_since {
            q = q.filter(audit_events::at.ge(since.naive_utc()));
        }
        if let Some(before) = before {
            q = q.filter(audit_events::id.lt(before));
        }
        let rows = q
            .order(audit_events::id.desc())
            .limit(limit.fetch())
            .select(AuditRow::as_select())
            .load::<AuditRow>(conn)?;
        Ok(with_subjects(conn, rows, limit)?)
    })
    .await?;
    Ok(web::Json(page))
}

use actix_web::{get, web};
use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_actix_web::service_config::ServiceConfig;

use crate::auth::staff::{Role, Staff};
use crate::db::schema::audit_events;
use crate::error::ApiError;
use crate::http::pagination::decode_cursor;
use crate::http::{Page, PageLimit, Query};
use crate::state::AppState;
use crate::time::Timestamp;

pub fn configure(cfg: &mut ServiceConfig) {
    cfg.service(list_audit_events);
}

#[derive(Debug, Queryable)]
pub struct AuditRow {
    pub id: String,
    pub at: NaiveDateTime,
    pub actor_id: Option<String>,
    pub actor_username: Option<String>,
    pub action: String,
    pub entity_type: String,
    pub entity_id: Option<String>,
    pub centre_id: Option<String>,
    pub request_id: Option<String>,
    pub client_ip: Option<String>,
    pub changed_fields: String,
    pub subject_id: Option<String>,
}

/// One recorded action.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct AuditEvent {
    pub id: String,
    pub at: DateTime<Utc>,
    pub actor_id: Option<String>,
    pub actor_username: Option<String>,
    #[schema(example = "user.create")]
    pub action: String,
    #[schema(example = "user")]
    pub entity_type: String,
    pub entity_id: Option<String>,
    pub centre_id: Option<String>,
    pub request_id: Option<String>,
    pub client_ip: Option<String>,
    /// Names of the fields the action changed (never their values).
    pub changed_fields: Vec<String>,
    /// The migrant whose records the action concerned, if any.
    pub subject_id: Option<String>,
}

impl From<AuditRow> for AuditEvent {
    fn from(row: AuditRow) -> Self {
        Self {
            id: row.id,
            at: crate::time::utc(row.at),
            actor_id: row.actor_id,
            actor_username: row.actor_username,
            action: row.action,
            entity_type: row.entity_type,
            entity_id: row.entity_id,
            centre_id: row.centre_id,
            request_id: row.request_id,
            client_ip: row.client_ip,
            changed_fields: serde_json::from_str(&row.changed_fields).unwrap_or_default(),
            subject_id: row.subject_id,
        }
    }
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListAuditEvents {
    pub action: Option<String>,
    pub entity_type: Option<String>,
    pub entity_id: Option<String>,
    pub actor_id: Option<String>,
    /// Admins only: events of one centre.
    pub centre_id: Option<String>,
    /// Recorded at or after this time (RFC 3339, years 1900–9999); events never change.
    pub updated_since: Option<Timestamp>,
    /// Page size, 1–200 (default 50).
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<i64>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

/// The audit trail, newest first: a supervisor's centre, or everything for an admin.
#[utoipa::path(
    tag = "audit",
    params(ListAuditEvents),
    responses((status = 200, description = "A page of audit events", body = Page<AuditEvent>)),
    security(("bearer" = []))
)]
#[get("/audit-events")]
async fn list_audit_events(
    state: web::Data<AppState>,
    staff: Staff,
    query: Query<ListAuditEvents>,
) -> Result<web::Json<Page<AuditEvent>>, ApiError> {
    staff.require(&[Role::Admin, Role::Supervisor])?;
    let query = query.into_inner();
    let limit = PageLimit::parse(query.limit)?;
    let before: Option<String> = decode_cursor(query.cursor.as_deref())?;
    let rows = crate::db::run(&state.pool, move |conn| {
        let mut q = audit_events::table.into_boxed();
        if staff.is(Role::Supervisor) {
            q = q.filter(audit_events::centre_id.eq(staff.centre_id.clone()));
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
        Ok(q.order(audit_events::id.desc())
            .limit(limit.fetch())
            .load::<AuditRow>(conn)?)
    })
    .await?;
    Ok(web::Json(
        Page::from_rows(rows, limit, |row| row.id.clone()).map(AuditEvent::from),
    ))
}

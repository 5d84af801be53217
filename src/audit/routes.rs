use std::collections::HashMap;

use actix_web::{get, web};
use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_actix_web::service_config::ServiceConfig;

use crate::auth::roles::Manager;
use crate::db::schema::{audit_event_subjects, audit_events};
use crate::db::DbConnection;
use crate::error::ApiError;
use crate::http::pagination::decode_cursor;
use crate::http::{Page, PageLimit, Query};
use crate::state::AppState;
use crate::time::Timestamp;

pub fn configure(cfg: &mut ServiceConfig) {
    cfg.service(list_audit_events);
}

#[derive(Debug, Queryable, Selectable)]
#[diesel(table_name = audit_events)]
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
    pub endpoint: Option<String>,
}

/// One recorded action.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[schema(example = json!({
    "id": "01936b2e-9d40-7a1c-8b2e-5f0a3c7d1e01",
    "at": "2026-11-29T09:14:03Z",
    "actor_id": "01936b2e-7c1a-7d3e-9a51-2f6c1b0e4a22",
    "actor_username": "dilnoza.k",
    "action": "case.list",
    "entity_type": "case",
    "entity_id": null,
    "centre_id": "01936b2e-7c1a-7d3e-9a51-2f6c1b0e4a44",
    "request_id": "4f1c2b7e-0d9a-4e3b-a6f2-8c1d5e7b9a10",
    "client_ip": "10.20.0.17",
    "endpoint": "GET /api/v1/cases",
    "changed_fields": [],
    "subject_ids": ["01936b2e-7c1a-7d3e-9a51-2f6c1b0e4a11", "01936b2e-7c1a-7d3e-9a51-2f6c1b0e4a55"]
}))]
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
    /// The endpoint called: HTTP method and route pattern. `null` for events not made through
    /// the API (command line, start-up) and for events recorded before endpoints were kept.
    #[schema(example = "GET /api/v1/cases")]
    pub endpoint: Option<String>,
    /// Names of the fields the action changed (never their values).
    pub changed_fields: Vec<String>,
    /// Every migrant whose data the response showed or the action concerned, by id: one for a
    /// single record, each person on the page for a list read, none for an anonymous
    /// consultation or an action on no person.
    pub subject_ids: Vec<String>,
}

impl AuditEvent {
    fn new(row: AuditRow, subject_ids: Vec<String>) -> Self {
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
            endpoint: row.endpoint,
            changed_fields: serde_json::from_str(&row.changed_fields).unwrap_or_default(),
            subject_ids,
        }
    }
}

/// A page of events with their subjects, read in one query whatever the page size.
fn with_subjects(
    conn: &mut DbConnection,
    rows: Vec<AuditRow>,
    limit: PageLimit,
) -> QueryResult<Page<AuditEvent>> {
    Page::from_rows(rows, limit, |row| row.id.clone()).try_map_items(|rows| {
        let ids: Vec<&str> = rows.iter().map(|row| row.id.as_str()).collect();
        let pairs: Vec<(String, String)> = audit_event_subjects::table
            .filter(audit_event_subjects::event_id.eq_any(&ids))
            .order((
                audit_event_subjects::event_id,
                audit_event_subjects::migrant_id,
            ))
            .select((
                audit_event_subjects::event_id,
                audit_event_subjects::migrant_id,
            ))
            .load(conn)?;
        let mut subjects: HashMap<String, Vec<String>> = HashMap::new();
        for (event_id, migrant_id) in pairs {
            subjects.entry(event_id).or_default().push(migrant_id);
        }
        Ok(rows
            .into_iter()
            .map(|row| {
                let ids = subjects.remove(&row.id).unwrap_or_default();
                AuditEvent::new(row, ids)
            })
            .collect())
    })
}

/// The events naming a person as a subject, newest first: an index range scan on
/// `audit_event_subjects`.
pub fn access_log(
    conn: &mut DbConnection,
    migrant_id: &str,
    before: Option<String>,
    limit: PageLimit,
) -> QueryResult<Page<AuditEvent>> {
    let mut q = audit_event_subjects::table
        .inner_join(audit_events::table)
        .filter(audit_event_subjects::migrant_id.eq(migrant_id.to_owned()))
        .into_boxed();
    if let Some(before) = before {
        q = q.filter(audit_event_subjects::event_id.lt(before));
    }
    let rows = q
        .order(audit_event_subjects::event_id.desc())
        .limit(limit.fetch())
        .select(AuditRow::as_select())
        .load::<AuditRow>(conn)?;
    with_subjects(conn, rows, limit)
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListAuditEvents {
    /// Events of one kind, e.g. `migrant.access_granted`: counsellors who gained a person's
    /// full record by logging a consultation with them or opening a case for them.
    #[param(example = "migrant.access_granted")]
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

//! The audit trail as the API shows it.

use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::db::schema::audit_events;
use crate::time::Timestamp;

/// `None` is inserted as NULL (no column has another default), so one prepared insert serves
/// every event: with `DEFAULT` in its text diesel would not cache it.
#[derive(Debug, Queryable, Selectable, Insertable)]
#[diesel(table_name = audit_events, treat_none_as_default_value = false)]
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
    pub reason: Option<String>,
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
    "reason": null,
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
    /// Why the action was taken, for actions that require a reason on record (an
    /// anonymisation's request reference); never personal data.
    #[schema(example = json!(null))]
    pub reason: Option<String>,
    /// Every migrant whose data the response showed or the action concerned, by id: one for a
    /// single record, each person on the page for a list read, none for an anonymous
    /// consultation or an action on no person.
    pub subject_ids: Vec<String>,
}

impl AuditEvent {
    pub fn new(row: AuditRow, subject_ids: Vec<String>) -> Self {
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
            reason: row.reason,
            subject_ids,
        }
    }
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

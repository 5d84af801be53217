use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::db::schema::cases;
use crate::time::Timestamp;

crate::text_enum!(CaseStatus { Open => "open", Closed => "closed" });

crate::text_enum!(Priority { Low => "low", Normal => "normal", High => "high", Urgent => "urgent" });

crate::text_enum!(
    CaseEventKind { Opened => "opened", Assigned => "assigned", Closed => "closed", Reopened => "reopened" }
);

#[derive(Debug, Clone, Queryable, Insertable, AsChangeset)]
#[diesel(table_name = cases, treat_none_as_null = true, treat_none_as_default_value = false)]
pub struct Case {
    pub id: String,
    pub migrant_id: String,
    pub centre_id: String,
    pub assigned_to: String,
    pub opened_by: String,
    pub status: CaseStatus,
    pub priority: Priority,
    pub summary: String,
    pub opened_at: NaiveDateTime,
    pub closed_at: Option<NaiveDateTime>,
    pub closure_reason: Option<String>,
    pub version: i32,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

crate::versioned!(Case, cases);

impl Case {
    pub fn is_open(&self) -> bool {
        self.status == CaseStatus::Open
    }
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct CaseResponse {
    pub id: String,
    pub migrant_id: String,
    pub centre_id: String,
    /// The counsellor (or supervisor) responsible for the case.
    pub assigned_to: String,
    pub opened_by: String,
    pub status: CaseStatus,
    pub priority: Priority,
    #[schema(example = "Wages unpaid for three months by a construction firm in Moscow")]
    pub summary: String,
    pub opened_at: DateTime<Utc>,
    pub closed_at: Option<DateTime<Utc>>,
    pub closure_reason: Option<String>,
    pub version: i32,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<Case> for CaseResponse {
    fn from(c: Case) -> Self {
        Self {
            status: c.status,
            priority: c.priority,
            id: c.id,
            migrant_id: c.migrant_id,
            centre_id: c.centre_id,
            assigned_to: c.assigned_to,
            opened_by: c.opened_by,
            summary: c.summary,
            opened_at: crate::time::utc(c.opened_at),
            closed_at: c.closed_at.map(crate::time::utc),
            closure_reason: c.closure_reason,
            version: c.version,
            created_at: crate::time::utc(c.created_at),
            updated_at: crate::time::utc(c.updated_at),
        }
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"migrant_id": "01936b2e-7c1a-7d3e-9a51-2f6c1b0e4a11", "summary": "Wages unpaid for three months by a construction firm in Moscow", "priority": "high"}))]
pub struct CreateCase {
    pub migrant_id: String,
    #[schema(min_length = 1, max_length = 2000)]
    pub summary: String,
    /// Default `normal`.
    pub priority: Option<Priority>,
    /// Supervisors may assign any active staff member of the centre; a counsellor's case is
    /// always their own.
    pub assigned_to: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"priority": "urgent"}))]
pub struct UpdateCase {
    #[schema(min_length = 1, max_length = 2000)]
    pub summary: Option<String>,
    pub priority: Option<Priority>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"assigned_to": "01936b2e-7c1a-7d3e-9a51-2f6c1b0e4a22", "reason": "Dilnoza is on leave until March"}))]
pub struct AssignCase {
    pub assigned_to: String,
    #[schema(min_length = 1, max_length = 1000)]
    pub reason: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"reason": "Wages paid after the labour inspectorate intervened"}))]
pub struct CloseCase {
    #[schema(min_length = 1, max_length = 1000)]
    pub reason: String,
    /// Supervisors only: close even with scheduled follow-ups or open referrals, cancelling them.
    #[serde(default)]
    pub force: bool,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"reason": "Employer stopped paying again"}))]
pub struct ReopenCase {
    #[schema(min_length = 1, max_length = 1000)]
    pub reason: String,
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListCases {
    pub status: Option<CaseStatus>,
    pub priority: Option<Priority>,
    pub assigned_to: Option<String>,
    pub migrant_id: Option<String>,
    /// Opened at or after this time (RFC 3339, years 1900–9999).
    pub opened_after: Option<Timestamp>,
    /// Opened before this time (RFC 3339, years 1900–9999).
    pub opened_before: Option<Timestamp>,
    /// Changed at or after this time (RFC 3339, years 1900–9999).
    pub updated_since: Option<Timestamp>,
    /// Page size, 1–200 (default 50).
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<i64>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

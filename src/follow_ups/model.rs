use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::db::schema::follow_ups;
use crate::time::Timestamp;

crate::text_enum!(
    FollowUpKind { Call => "call", Visit => "visit", ReferralCheck => "referral_check", Other => "other" }
);

crate::text_enum!(
    FollowUpStatus { Scheduled => "scheduled", Done => "done", Missed => "missed", Cancelled => "cancelled" }
);

#[derive(Debug, Clone, Queryable, Insertable, AsChangeset)]
#[diesel(table_name = follow_ups, treat_none_as_null = true, treat_none_as_default_value = false)]
pub struct FollowUp {
    pub id: String,
    pub case_id: String,
    pub centre_id: String,
    pub assigned_to: String,
    pub created_by: String,
    pub due_at: NaiveDateTime,
    pub kind: FollowUpKind,
    pub note: Option<String>,
    pub status: FollowUpStatus,
    pub outcome: Option<String>,
    pub closed_at: Option<NaiveDateTime>,
    pub version: i32,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

crate::versioned!(FollowUp, follow_ups);

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct FollowUpResponse {
    pub id: String,
    pub case_id: String,
    pub centre_id: String,
    pub assigned_to: String,
    pub created_by: String,
    pub due_at: DateTime<Utc>,
    pub kind: FollowUpKind,
    pub note: Option<String>,
    pub status: FollowUpStatus,
    /// Scheduled and past due.
    pub overdue: bool,
    /// What happened (done, missed) or why it was cancelled.
    pub outcome: Option<String>,
    pub closed_at: Option<DateTime<Utc>>,
    pub version: i32,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl FollowUpResponse {
    pub fn new(f: FollowUp, now: NaiveDateTime) -> Self {
        let status = f.status;
        Self {
            overdue: status == FollowUpStatus::Scheduled && f.due_at < now,
            status,
            kind: f.kind,
            id: f.id,
            case_id: f.case_id,
            centre_id: f.centre_id,
            assigned_to: f.assigned_to,
            created_by: f.created_by,
            due_at: crate::time::utc(f.due_at),
            note: f.note,
            outcome: f.outcome,
            closed_at: f.closed_at.map(crate::time::utc),
            version: f.version,
            created_at: crate::time::utc(f.created_at),
            updated_at: crate::time::utc(f.updated_at),
        }
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"due_at": "2026-12-01T09:00:00Z", "kind": "call", "note": "Check the lawyer has called her"}))]
pub struct CreateFollowUp {
    /// When it is due (RFC 3339): from yesterday to two years ahead.
    pub due_at: Timestamp,
    /// An active staff member of the centre; default the case's counsellor.
    pub assigned_to: Option<String>,
    pub kind: FollowUpKind,
    #[schema(max_length = 2000)]
    pub note: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateFollowUp {
    /// Reschedule (RFC 3339): from yesterday to two years ahead.
    pub due_at: Option<Timestamp>,
    pub assigned_to: Option<String>,
    pub kind: Option<FollowUpKind>,
    #[serde(default, deserialize_with = "crate::http::json::nullable")]
    #[schema(max_length = 2000)]
    pub note: Option<Option<String>>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"outcome": "Lawyer met her on Monday; claim filed"}))]
pub struct CompleteFollowUp {
    #[schema(min_length = 1, max_length = 2000)]
    pub outcome: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"reason": "Migrant left for Russia"}))]
pub struct CancelFollowUp {
    #[schema(min_length = 1, max_length = 1000)]
    pub reason: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"note": "Phone off, three attempts"}))]
pub struct MissFollowUp {
    /// What was tried (e.g. "phone off, three attempts").
    #[schema(min_length = 1, max_length = 2000)]
    pub note: String,
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListFollowUps {
    /// A user id, or `me` for the caller's own agenda.
    pub assigned_to: Option<String>,
    pub status: Option<FollowUpStatus>,
    pub case_id: Option<String>,
    /// Due before this time (RFC 3339, years 1900–9999).
    pub due_before: Option<Timestamp>,
    /// `true`: scheduled and past due.
    pub overdue: Option<bool>,
    /// Changed at or after this time (RFC 3339, years 1900–9999).
    pub updated_since: Option<Timestamp>,
    /// Page size, 1–200 (default 50).
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<i64>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

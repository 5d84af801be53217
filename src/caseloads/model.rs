//! Caseload response and query types.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::auth::roles::Role;

#[derive(Debug, Default, Serialize, Deserialize, ToSchema)]
pub struct OpenCasesByPriority {
    pub low: i64,
    pub normal: i64,
    pub high: i64,
    pub urgent: i64,
}

impl OpenCasesByPriority {
    pub fn total(&self) -> i64 {
        self.low + self.normal + self.high + self.urgent
    }
}

/// A staff member's row.
#[derive(Debug, Default, Serialize, Deserialize, ToSchema)]
pub enum StaffKind {
    #[default]
    #[serde(rename = "staff")]
    Staff,
}

/// A centre's row.
#[derive(Debug, Default, Serialize, Deserialize, ToSchema)]
pub enum CentreKind {
    #[default]
    #[serde(rename = "centre")]
    Centre,
}

/// One staff member's caseload (counsellors and supervisors).
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct CaseloadRow {
    pub kind: StaffKind,
    pub user_id: String,
    pub full_name: String,
    pub role: Role,
    pub open_cases: i64,
    pub open_cases_by_priority: OpenCasesByPriority,
    /// Scheduled follow-ups assigned to them and past due.
    pub overdue_follow_ups: i64,
    /// Pending, sent or accepted referrals on their cases.
    pub open_referrals: i64,
    /// Pending or sent referrals on their cases past the expected response date.
    pub overdue_referrals: i64,
    pub consultations_last_30_days: i64,
    /// When their oldest open case was opened.
    pub oldest_open_case_opened_at: Option<DateTime<Utc>>,
}

/// A centre's totals (admins): no staff member or person is named.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct CentreCaseload {
    pub kind: CentreKind,
    pub centre_id: String,
    #[schema(example = "MRC Dushanbe")]
    pub centre_name: String,
    #[schema(example = 42)]
    pub open_cases: i64,
    pub open_cases_by_priority: OpenCasesByPriority,
    /// Scheduled follow-ups of the centre past due.
    #[schema(example = 3)]
    pub overdue_follow_ups: i64,
    /// Pending or sent referrals of the centre past the expected response date.
    #[schema(example = 2)]
    pub overdue_referrals: i64,
}

/// A row of `GET /caseloads`: a staff member's (counsellors, supervisors) or a centre's
/// (admins), told apart by `kind`.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(untagged)]
#[schema(discriminator(property_name = "kind", mapping(
    ("staff" = "#/components/schemas/CaseloadRow"),
    ("centre" = "#/components/schemas/CentreCaseload")
)))]
pub enum Caseload {
    Staff(CaseloadRow),
    Centre(CentreCaseload),
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListCaseloads {
    /// Page size, 1–200 (default 50).
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<i64>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::db::schema::referrals;
use crate::time::Timestamp;

crate::text_enum!(
    ReferralStatus {
        Pending => "pending",
        Sent => "sent",
        Accepted => "accepted",
        Completed => "completed",
        Declined => "declined",
        Cancelled => "cancelled",
    }
);

impl ReferralStatus {
    /// The moves the status machine allows from this status.
    pub fn next(self) -> &'static [ReferralStatus] {
        use ReferralStatus::*;
        match self {
            Pending => &[Sent, Cancelled],
            Sent => &[Accepted, Declined, Cancelled],
            Accepted => &[Completed, Declined, Cancelled],
            Completed | Declined | Cancelled => &[],
        }
    }

    /// Completing or declining records what came of the referral: a note is required.
    pub fn needs_outcome(self) -> bool {
        matches!(self, ReferralStatus::Completed | ReferralStatus::Declined)
    }
}

crate::text_enum!(Urgency { Low => "low", Normal => "normal", High => "high", Urgent => "urgent" });

#[derive(Debug, Clone, Queryable, Insertable, AsChangeset)]
#[diesel(table_name = referrals, treat_none_as_null = true, treat_none_as_default_value = false)]
pub struct Referral {
    pub id: String,
    pub case_id: String,
    pub centre_id: String,
    pub migrant_id: String,
    pub provider_id: String,
    pub created_by: String,
    pub reason: String,
    pub urgency: Urgency,
    pub status: ReferralStatus,
    pub expected_response_by: Option<NaiveDate>,
    pub consent_given_at: NaiveDateTime,
    pub consent_snapshot: String,
    pub outcome: Option<String>,
    pub version: i32,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

crate::versioned!(Referral, referrals);

impl Referral {
    /// Waiting for the provider's answer past the expected date.
    pub fn is_overdue(&self, today: NaiveDate) -> bool {
        let waiting = matches!(self.status, ReferralStatus::Pending | ReferralStatus::Sent);
        waiting && self.expected_response_by.is_some_and(|by| by < today)
    }
}

/// One move of the status machine.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct Transition {
    /// `null` for the creation of the referral.
    pub from: Option<ReferralStatus>,
    pub to: ReferralStatus,
    pub at: DateTime<Utc>,
    /// The staff member who made the move.
    pub by: String,
    pub note: Option<String>,
}

/// The consent the referral was made under, as it stood then.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ConsentSnapshot {
    pub scope: String,
    pub given_at: DateTime<Utc>,
    /// The migrant's whole consent record at the time of the referral.
    pub record: serde_json::Value,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ReferralResponse {
    pub id: String,
    pub case_id: String,
    pub centre_id: String,
    pub migrant_id: String,
    pub provider_id: String,
    pub created_by: String,
    pub reason: String,
    pub urgency: Urgency,
    pub status: ReferralStatus,
    pub expected_response_by: Option<NaiveDate>,
    /// Pending or sent, and past `expected_response_by`.
    pub overdue: bool,
    /// The statuses it may move to next.
    pub allowed_transitions: Vec<ReferralStatus>,
    pub consent: ConsentSnapshot,
    /// The note of the completing or declining move.
    pub outcome: Option<String>,
    pub history: Vec<Transition>,
    pub version: i32,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl ReferralResponse {
    pub fn new(r: Referral, history: Vec<Transition>, today: NaiveDate) -> Self {
        let status = r.status;
        Self {
            overdue: r.is_overdue(today),
            allowed_transitions: status.next().to_vec(),
            consent: ConsentSnapshot {
                scope: "referral_sharing".into(),
                given_at: crate::time::utc(r.consent_given_at),
                record: serde_json::from_str(&r.consent_snapshot)
                    .unwrap_or(serde_json::Value::Null),
            },
            urgency: r.urgency,
            status,
            id: r.id,
            case_id: r.case_id,
            centre_id: r.centre_id,
            migrant_id: r.migrant_id,
            provider_id: r.provider_id,
            created_by: r.created_by,
            reason: r.reason,
            expected_response_by: r.expected_response_by,
            outcome: r.outcome,
            history,
            version: r.version,
            created_at: crate::time::utc(r.created_at),
            updated_at: crate::time::utc(r.updated_at),
        }
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"provider_id": "01936b2e-7c1a-7d3e-9a51-2f6c1b0e4a33", "reason": "Needs a lawyer to claim unpaid wages", "urgency": "high", "expected_response_by": "2026-12-05"}))]
pub struct CreateReferral {
    pub provider_id: String,
    #[schema(min_length = 1, max_length = 2000)]
    pub reason: String,
    pub urgency: Urgency,
    /// When the provider is expected to answer (from yesterday to two years ahead); past it
    /// the referral is overdue.
    pub expected_response_by: Option<NaiveDate>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"to": "sent", "note": "Referral letter e-mailed to the provider"}))]
pub struct TransitionRequest {
    pub to: ReferralStatus,
    /// Required when completing or declining (what came of it).
    #[schema(max_length = 2000)]
    pub note: Option<String>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListReferrals {
    pub status: Option<ReferralStatus>,
    pub provider_id: Option<String>,
    pub case_id: Option<String>,
    /// `true`: only pending or sent referrals past their expected response date.
    pub overdue: Option<bool>,
    /// Changed at or after this time (RFC 3339, years 1900–9999).
    pub updated_since: Option<Timestamp>,
    /// Page size, 1–200 (default 50).
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<i64>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

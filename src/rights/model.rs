//! The export document and the anonymisation request and answer.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::cases::model::{CaseEventKind, CaseResponse};
use crate::consultations::model::ConsultationResponse;
use crate::follow_ups::model::FollowUpResponse;
use crate::group_sessions::attendance::SessionAttended;
use crate::migrants::model::{ConsentScope, MigrantResponse};
use crate::referrals::model::ReferralResponse;

/// What replaces erased free text (notes, summaries, reasons, outcomes), so a screen shows
/// that something was there without showing it.
pub const PLACEHOLDER: &str = "[anonymised]";

/// One giving or withdrawal of consent.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ConsentEvent {
    pub scope: ConsentScope,
    /// `true` when consent was given, `false` when withdrawn.
    pub given: bool,
    pub at: DateTime<Utc>,
    /// The staff member who recorded it.
    pub recorded_by: String,
}

/// One step in a case's life: opened, assigned, closed, reopened.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct CaseEvent {
    pub id: String,
    pub at: DateTime<Utc>,
    pub actor_id: String,
    pub kind: CaseEventKind,
    pub assigned_to: Option<String>,
    pub note: Option<String>,
}

/// A case with its history.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct CaseExport {
    pub case: CaseResponse,
    pub events: Vec<CaseEvent>,
}

/// One time a staff member read or changed the person's data.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct AccessLogEntry {
    pub event_id: String,
    pub at: DateTime<Utc>,
    /// `null` for actions of the system (the retention job, start-up).
    pub actor_id: Option<String>,
    pub actor_username: Option<String>,
    #[schema(example = "migrant.read")]
    pub action: String,
    #[schema(example = "GET /api/v1/migrants/{id}")]
    pub endpoint: Option<String>,
}

/// Everything Karvon holds about one person (GDPR Art. 15), oldest first in every list.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[schema(example = json!({
    "exported_at": "2026-11-29T10:00:00Z",
    "migrant": {
        "id": "01936b2e-7c1a-7d3e-9a51-2f6c1b0e4a11",
        "centre_id": "01936b2e-7c1a-7d3e-9a51-2f6c1b0e4a44",
        "registered_by": "01936b2e-7c1a-7d3e-9a51-2f6c1b0e4a22",
        "given_name": "Gulru", "family_name": "Jabborzoda", "patronymic": null,
        "sex": "female", "date_of_birth": "1994-03-15", "birth_year": 1994,
        "nationality": "TJ", "region_of_origin": "Sughd", "phone": "+992901234567",
        "preferred_language": "tg", "migration_status": "prospective",
        "destination_country": "RU", "vulnerabilities": ["single_parent"],
        "consent": {
            "services": {"given": true, "given_at": "2026-11-01T09:00:00Z", "withdrawn_at": null},
            "referral_sharing": {"given": true, "given_at": "2026-11-01T09:00:00Z", "withdrawn_at": null},
            "statistics": {"given": false, "given_at": null, "withdrawn_at": null}
        },
        "version": 1, "created_at": "2026-11-01T09:00:00Z", "updated_at": "2026-11-01T09:00:00Z"
    },
    "consent_history": [
        {"scope": "services", "given": true, "at": "2026-11-01T09:00:00Z", "recorded_by": "01936b2e-7c1a-7d3e-9a51-2f6c1b0e4a22"}
    ],
    "cases": [],
    "consultations": [],
    "referrals": [],
    "follow_ups": [], "group_sessions": [],
    "access_log": [
        {"event_id": "01936b2e-9d40-7a1c-8b2e-5f0a3c7d1e01", "at": "2026-11-01T09:00:00Z",
         "actor_id": "01936b2e-7c1a-7d3e-9a51-2f6c1b0e4a22", "actor_username": "dilnoza.k",
         "action": "migrant.create", "endpoint": "POST /api/v1/migrants"}
    ]
}))]
pub struct MigrantExport {
    pub exported_at: DateTime<Utc>,
    /// The record, with its vulnerabilities and current consent.
    pub migrant: MigrantResponse,
    /// Every giving and withdrawal of consent.
    pub consent_history: Vec<ConsentEvent>,
    /// The person's cases, each with its events.
    pub cases: Vec<CaseExport>,
    /// Consultations with the person (on a case or not), with their topics.
    pub consultations: Vec<ConsultationResponse>,
    /// Referrals made for the person, each with its status history.
    pub referrals: Vec<ReferralResponse>,
    /// Follow-ups on the person's cases.
    pub follow_ups: Vec<FollowUpResponse>,
    /// Group sessions the person attended as a registered attendee.
    pub group_sessions: Vec<SessionAttended>,
    /// Who read or changed the person's data, when, and how (GDPR Art. 30 records).
    pub access_log: Vec<AccessLogEntry>,
}

/// Why the person is anonymised: a request reference or legal basis, never personal data.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"reason": "Erasure request DSR-2026-117 received at the front desk"}))]
pub struct AnonymiseRequest {
    /// 3–500 characters; kept in the audit trail, so a reason naming the person (their names,
    /// phone or birth date) is refused.
    #[schema(min_length = 3, max_length = 500)]
    pub reason: String,
}

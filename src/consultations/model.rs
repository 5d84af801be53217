use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::db::schema::consultations;
use crate::migrants::model::{MigrationStatus, Sex};
use crate::time::Timestamp;

crate::text_enum!(Channel { WalkIn => "walk_in", Phone => "phone", Online => "online", Outreach => "outreach" });

crate::text_enum!(
    Topic {
        PreDeparture => "pre_departure",
        EmploymentAbroad => "employment_abroad",
        LabourRights => "labour_rights",
        LegalDocuments => "legal_documents",
        Remittances => "remittances",
        Health => "health",
        Education => "education",
        ReturnReintegration => "return_reintegration",
        TraffickingRisk => "trafficking_risk",
        Family => "family",
        Other => "other",
    }
);

crate::text_enum!(
    AgeBand { Minor => "0-17", From18To24 => "18-24", From25To34 => "25-34", From35To49 => "35-49", Over50 => "50+" }
);

impl AgeBand {
    pub fn of_age(age: i32) -> Self {
        match age {
            ..=17 => Self::Minor,
            18..=24 => Self::From18To24,
            25..=34 => Self::From25To34,
            35..=49 => Self::From35To49,
            _ => Self::Over50,
        }
    }
}

#[derive(Debug, Clone, Queryable, Insertable, AsChangeset)]
#[diesel(table_name = consultations, treat_none_as_null = true, treat_none_as_default_value = false)]
pub struct Consultation {
    pub id: String,
    pub centre_id: String,
    pub counsellor_id: String,
    pub migrant_id: Option<String>,
    pub case_id: Option<String>,
    pub anonymous_sex: Option<Sex>,
    pub anonymous_age_band: Option<AgeBand>,
    pub anonymous_nationality: Option<String>,
    pub anonymous_migration_status: Option<MigrationStatus>,
    pub occurred_at: NaiveDateTime,
    pub channel: Channel,
    pub duration_minutes: i32,
    pub language: String,
    pub notes: String,
    pub outcome: Option<String>,
    pub version: i32,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

crate::versioned!(Consultation, consultations);

/// What an anonymous consultation keeps: enough for statistics, nothing identifying.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AnonymousProfile {
    pub sex: Sex,
    pub age_band: AgeBand,
    /// ISO 3166-1 alpha-2.
    #[schema(example = "TJ")]
    #[schema(pattern = "^[A-Z]{2}$")]
    pub nationality: String,
    pub migration_status: MigrationStatus,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ConsultationResponse {
    pub id: String,
    pub centre_id: String,
    pub counsellor_id: String,
    pub migrant_id: Option<String>,
    pub case_id: Option<String>,
    /// Present for anonymous consultations only.
    pub anonymous: Option<AnonymousProfile>,
    pub occurred_at: DateTime<Utc>,
    pub channel: Channel,
    #[schema(example = 25)]
    pub duration_minutes: i32,
    pub topics: Vec<Topic>,
    #[schema(example = "tg")]
    pub language: String,
    pub notes: String,
    pub outcome: Option<String>,
    pub version: i32,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl ConsultationResponse {
    pub fn new(c: Consultation, mut topics: Vec<Topic>) -> Self {
        topics.sort();
        let anonymous = match (
            c.anonymous_sex,
            c.anonymous_age_band,
            c.anonymous_nationality.clone(),
            c.anonymous_migration_status,
        ) {
            (Some(sex), Some(age_band), Some(nationality), Some(migration_status)) => {
                Some(AnonymousProfile {
                    sex,
                    age_band,
                    nationality,
                    migration_status,
                })
            }
            _ => None,
        };
        Self {
            id: c.id,
            centre_id: c.centre_id,
            counsellor_id: c.counsellor_id,
            migrant_id: c.migrant_id,
            case_id: c.case_id,
            anonymous,
            occurred_at: crate::time::utc(c.occurred_at),
            channel: c.channel,
            duration_minutes: c.duration_minutes,
            topics,
            language: c.language,
            notes: c.notes,
            outcome: c.outcome,
            version: c.version,
            created_at: crate::time::utc(c.created_at),
            updated_at: crate::time::utc(c.updated_at),
        }
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"migrant_id": "01936b2e-7c1a-7d3e-9a51-2f6c1b0e4a11", "occurred_at": "2026-11-27T09:30:00Z", "channel": "walk_in", "duration_minutes": 25, "topics": ["pre_departure", "legal_documents"], "language": "tg", "notes": "Explained work-permit (patent) steps for Russia; gave the checklist.", "outcome": "Will return with passport copy"}))]
pub struct CreateConsultation {
    /// A registered migrant; may be given with `case_id` (then they must match).
    pub migrant_id: Option<String>,
    /// A case of the migrant (it implies the migrant).
    pub case_id: Option<String>,
    /// For a one-off consultation without registration: only what statistics need.
    pub anonymous: Option<AnonymousProfile>,
    /// When it took place (RFC 3339): not in the future, at most ten years back.
    pub occurred_at: Timestamp,
    pub channel: Channel,
    #[schema(minimum = 1, maximum = 600)]
    pub duration_minutes: i32,
    /// At least one topic.
    pub topics: Vec<Topic>,
    /// ISO 639-1 language the consultation was held in.
    #[schema(example = "tg")]
    #[schema(pattern = "^[a-z]{2}$")]
    pub language: String,
    #[schema(max_length = 10000)]
    pub notes: String,
    #[schema(max_length = 2000)]
    pub outcome: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"duration_minutes": 30, "outcome": "Returned with documents"}))]
pub struct UpdateConsultation {
    /// When it took place (RFC 3339): not in the future, at most ten years back.
    pub occurred_at: Option<Timestamp>,
    pub channel: Option<Channel>,
    #[schema(minimum = 1, maximum = 600)]
    pub duration_minutes: Option<i32>,
    /// Replaces the whole set.
    pub topics: Option<Vec<Topic>>,
    #[schema(pattern = "^[a-z]{2}$")]
    pub language: Option<String>,
    #[schema(max_length = 10000)]
    pub notes: Option<String>,
    /// `null` clears it.
    #[serde(default, deserialize_with = "crate::http::json::nullable")]
    #[schema(max_length = 2000)]
    pub outcome: Option<Option<String>>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListConsultations {
    pub case_id: Option<String>,
    pub migrant_id: Option<String>,
    pub counsellor_id: Option<String>,
    pub topic: Option<Topic>,
    pub channel: Option<Channel>,
    /// Occurred at or after this time (RFC 3339, years 1900–9999).
    pub from: Option<Timestamp>,
    /// Occurred before this time (RFC 3339, years 1900–9999).
    pub to: Option<Timestamp>,
    /// Changed at or after this time (RFC 3339, years 1900–9999).
    pub updated_since: Option<Timestamp>,
    /// Page size, 1–200 (default 50).
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<i64>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

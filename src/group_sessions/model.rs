use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::consultations::model::{AgeBand, Topic};
use crate::db::schema::{group_session_tallies, group_sessions};
use crate::migrants::model::{MigrationStatus, Sex};
use crate::time::Timestamp;

crate::text_enum!(
    /// What kind of event a group session is.
    SessionKind {
        PreDepartureOrientation => "pre_departure_orientation",
        Awareness => "awareness",
        JobFair => "job_fair",
        School => "school",
        CommunityOutreach => "community_outreach",
        Online => "online",
        ReturneeReintegration => "returnee_reintegration",
        Other => "other",
    }
);

/// The most registered attendees one request may add.
pub const MAX_ATTENDEES_PER_REQUEST: usize = 500;
/// The most facilitators a session may name.
pub const MAX_FACILITATORS: usize = 20;
/// The most tally rows a session may have: one per sex, age band (or none) and status.
pub const MAX_TALLY_ROWS: usize = 4 * 6 * 5;
/// The largest count one tally row may hold.
pub const MAX_TALLY: i32 = 100_000;

#[derive(Debug, Clone, Queryable, Insertable, AsChangeset)]
#[diesel(table_name = group_sessions, treat_none_as_null = true, treat_none_as_default_value = false)]
pub struct GroupSession {
    pub id: String,
    pub centre_id: String,
    pub created_by: String,
    pub kind: SessionKind,
    pub title: String,
    pub starts_at: NaiveDateTime,
    pub duration_minutes: i32,
    pub city: Option<String>,
    pub district: Option<String>,
    pub venue: Option<String>,
    pub language: String,
    pub partner_provider_id: Option<String>,
    pub notes: String,
    pub version: i32,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

crate::versioned!(GroupSession, group_sessions);

#[derive(Debug, Clone, Queryable, Insertable)]
#[diesel(table_name = group_session_tallies, treat_none_as_default_value = false)]
pub struct TallyRow {
    pub id: String,
    pub session_id: String,
    pub sex: Sex,
    pub age_band: Option<AgeBand>,
    pub migration_status: MigrationStatus,
    pub count: i32,
}

/// Where an in-person session takes place.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"city": "Dushanbe", "district": "Sino", "venue": "School No. 45, assembly hall"}))]
pub struct Place {
    #[schema(max_length = 200)]
    pub city: String,
    #[schema(max_length = 200)]
    pub district: Option<String>,
    #[schema(max_length = 300)]
    pub venue: Option<String>,
}

/// People who attended without registering, of one sex, age band and migration status.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"sex": "female", "age_band": "18-24", "migration_status": "prospective", "count": 12}))]
pub struct Tally {
    pub sex: Sex,
    /// `null`: age not recorded.
    pub age_band: Option<AgeBand>,
    pub migration_status: MigrationStatus,
    #[schema(minimum = 0, maximum = 100000)]
    pub count: i32,
}

impl From<TallyRow> for Tally {
    fn from(row: TallyRow) -> Self {
        Self {
            sex: row.sex,
            age_band: row.age_band,
            migration_status: row.migration_status,
            count: row.count,
        }
    }
}

/// How many attended: registered people plus the anonymous tallies.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, ToSchema)]
pub struct Attendance {
    /// Registered attendees (people of the centre).
    #[schema(example = 14)]
    pub registered: i64,
    /// The sum of the anonymous tallies.
    #[schema(example = 31)]
    pub anonymous: i64,
    /// `registered + anonymous`.
    #[schema(example = 45)]
    pub total: i64,
}

impl Attendance {
    pub fn new(registered: i64, anonymous: i64) -> Self {
        Self {
            registered,
            anonymous,
            total: registered + anonymous,
        }
    }
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct GroupSessionResponse {
    pub id: String,
    pub centre_id: String,
    pub created_by: String,
    pub kind: SessionKind,
    #[schema(example = "Pre-departure orientation: working legally in Russia")]
    pub title: String,
    pub starts_at: DateTime<Utc>,
    #[schema(example = 90)]
    pub duration_minutes: i32,
    /// `null` for online sessions.
    pub place: Option<Place>,
    #[schema(example = "tg")]
    pub language: String,
    pub topics: Vec<Topic>,
    /// User ids of the staff who ran the session.
    pub facilitators: Vec<String>,
    /// A directory entry that co-hosted the session.
    pub partner_provider_id: Option<String>,
    pub notes: String,
    /// Anonymous attendance by sex, age band and migration status.
    pub tallies: Vec<Tally>,
    pub attendance: Attendance,
    pub version: i32,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// What a session's response adds to its row.
pub struct SessionParts {
    pub topics: Vec<Topic>,
    pub facilitators: Vec<String>,
    pub tallies: Vec<Tally>,
    pub registered: i64,
}

impl GroupSessionResponse {
    pub fn new(s: GroupSession, parts: SessionParts) -> Self {
        let anonymous = parts.tallies.iter().map(|t| i64::from(t.count)).sum();
        let place = s.city.map(|city| Place {
            city,
            district: s.district,
            venue: s.venue,
        });
        Self {
            id: s.id,
            centre_id: s.centre_id,
            created_by: s.created_by,
            kind: s.kind,
            title: s.title,
            starts_at: crate::time::utc(s.starts_at),
            duration_minutes: s.duration_minutes,
            place,
            language: s.language,
            topics: parts.topics,
            facilitators: parts.facilitators,
            partner_provider_id: s.partner_provider_id,
            notes: s.notes,
            tallies: parts.tallies,
            attendance: Attendance::new(parts.registered, anonymous),
            version: s.version,
            created_at: crate::time::utc(s.created_at),
            updated_at: crate::time::utc(s.updated_at),
        }
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"kind": "pre_departure_orientation", "title": "Working legally in Russia", "starts_at": "2026-11-26T10:00:00Z", "duration_minutes": 90, "place": {"city": "Dushanbe", "district": "Sino", "venue": "MRC training room"}, "language": "tg", "topics": ["pre_departure", "legal_documents"], "notes": "Patent, registration, contracts; handed out the pocket guide.", "tallies": [{"sex": "male", "age_band": "18-24", "migration_status": "prospective", "count": 17}]}))]
pub struct CreateGroupSession {
    pub kind: SessionKind,
    #[schema(min_length = 1, max_length = 300)]
    pub title: String,
    /// When it started (RFC 3339): at most a year ahead (planned sessions), ten years back.
    pub starts_at: Timestamp,
    #[schema(minimum = 1, maximum = 1440)]
    pub duration_minutes: i32,
    /// Required unless `kind` is `online`, when it must be absent or `null`.
    pub place: Option<Place>,
    /// ISO 639-1 language the session was held in.
    #[schema(example = "tg")]
    #[schema(pattern = "^[a-z]{2}$")]
    pub language: String,
    /// At least one topic.
    pub topics: Vec<Topic>,
    /// Active counsellors or supervisors of the centre (1–20); default: the caller.
    #[schema(min_items = 1, max_items = 20)]
    pub facilitators: Option<Vec<String>>,
    /// A directory entry of the centre, or a global one, that co-hosted the session.
    pub partner_provider_id: Option<String>,
    #[schema(max_length = 10000)]
    #[serde(default)]
    pub notes: String,
    /// Anonymous attendance; at most one row per sex, age band and migration status.
    #[serde(default)]
    #[schema(max_items = 120)]
    pub tallies: Vec<Tally>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"tallies": [{"sex": "female", "age_band": "25-34", "migration_status": "returnee", "count": 9}]}))]
pub struct UpdateGroupSession {
    pub kind: Option<SessionKind>,
    #[schema(min_length = 1, max_length = 300)]
    pub title: Option<String>,
    pub starts_at: Option<Timestamp>,
    #[schema(minimum = 1, maximum = 1440)]
    pub duration_minutes: Option<i32>,
    /// `null` clears it (online sessions only).
    #[serde(default, deserialize_with = "crate::http::json::nullable")]
    pub place: Option<Option<Place>>,
    #[schema(pattern = "^[a-z]{2}$")]
    pub language: Option<String>,
    /// Replaces the whole set.
    pub topics: Option<Vec<Topic>>,
    /// Replaces the whole set.
    #[schema(min_items = 1, max_items = 20)]
    pub facilitators: Option<Vec<String>>,
    /// `null` clears it.
    #[serde(default, deserialize_with = "crate::http::json::nullable")]
    pub partner_provider_id: Option<Option<String>>,
    #[schema(max_length = 10000)]
    pub notes: Option<String>,
    /// Replaces every tally.
    #[schema(max_items = 120)]
    pub tallies: Option<Vec<Tally>>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"migrant_ids": ["01936b2e-7c1a-7d3e-9a51-2f6c1b0e4a11"]}))]
pub struct AddAttendees {
    /// 1–500 people registered in the session's centre; ones already listed are kept once.
    #[schema(min_items = 1, max_items = 500)]
    pub migrant_ids: Vec<String>,
}

/// A registered attendee as the roster shows them: the identifying summary search shows.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct AttendeeResponse {
    pub migrant_id: String,
    pub given_name: String,
    pub family_name: String,
    pub sex: Sex,
    pub migration_status: MigrationStatus,
    /// Who added them, and when.
    pub added_by: String,
    pub added_at: DateTime<Utc>,
}

/// A roster line as stored: (migrant, given name, family name, sex, status, added by, at).
pub type AttendeeRow = (
    String,
    String,
    String,
    Sex,
    MigrationStatus,
    String,
    NaiveDateTime,
);

impl From<AttendeeRow> for AttendeeResponse {
    fn from(row: AttendeeRow) -> Self {
        let (migrant_id, given_name, family_name, sex, migration_status, added_by, added_at) = row;
        Self {
            migrant_id,
            given_name,
            family_name,
            sex,
            migration_status,
            added_by,
            added_at: crate::time::utc(added_at),
        }
    }
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListGroupSessions {
    pub kind: Option<SessionKind>,
    /// Started at or after this time (RFC 3339, years 1900–9999).
    pub from: Option<Timestamp>,
    /// Started before this time (RFC 3339, years 1900–9999).
    pub to: Option<Timestamp>,
    /// Sessions this staff member (user id) facilitated.
    pub facilitator: Option<String>,
    /// Changed at or after this time (RFC 3339, years 1900–9999).
    pub updated_since: Option<Timestamp>,
    /// Page size, 1–200 (default 50).
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<i64>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListAttendees {
    /// Page size, 1–200 (default 50).
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<i64>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

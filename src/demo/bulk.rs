//! Bulk writes for seeding: `COPY` on PostgreSQL, multi-row inserts on SQLite. Diesel's
//! multi-backend connection has neither, so each batch goes to the backend's own connection.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use crate::cases::model::{Case, CaseEventKind};
use crate::consultations::model::{Consultation, Topic};
use crate::db::schema::{
    case_events, cases, consultation_topics, consultations, follow_ups, group_session_attendees,
    group_session_facilitators, group_session_tallies, group_session_topics, group_sessions,
    migrant_consent_events, migrant_name_tokens, migrant_vulnerabilities, migrants,
    referral_transitions, referrals,
};
use crate::db::DbConnection;
use crate::follow_ups::model::FollowUp;
use crate::group_sessions::model::{GroupSession, TallyRow};
use crate::migrants::model::{ConsentScope, Migrant, Vulnerability};
use crate::referrals::model::{Referral, ReferralStatus};

/// Rows per INSERT: the widest row (a migrant, 24 columns) stays under SQLite's limit of 32,766
/// bound parameters.
const ROWS_PER_STATEMENT: usize = 1000;

#[derive(Insertable)]
#[diesel(treat_none_as_default_value = false, table_name = migrant_name_tokens)]
pub struct NameToken {
    pub migrant_id: String,
    pub token: String,
}

#[derive(Insertable)]
#[diesel(treat_none_as_default_value = false, table_name = migrant_vulnerabilities)]
pub struct VulnerabilityFlag {
    pub migrant_id: String,
    pub flag: Vulnerability,
}

#[derive(Insertable)]
#[diesel(treat_none_as_default_value = false, table_name = migrant_consent_events)]
pub struct ConsentEvent {
    pub id: String,
    pub migrant_id: String,
    pub scope: ConsentScope,
    pub given: bool,
    pub at: NaiveDateTime,
    pub recorded_by: String,
}

#[derive(Insertable)]
#[diesel(treat_none_as_default_value = false, table_name = case_events)]
pub struct CaseEvent {
    pub id: String,
    pub case_id: String,
    pub at: NaiveDateTime,
    pub actor_id: String,
    pub kind: CaseEventKind,
    pub assigned_to: Option<String>,
    pub note: Option<String>,
}

#[derive(Insertable)]
#[diesel(treat_none_as_default_value = false, table_name = consultation_topics)]
pub struct ConsultationTopic {
    pub consultation_id: String,
    pub topic: Topic,
}

#[derive(Insertable)]
#[diesel(treat_none_as_default_value = false, table_name = referral_transitions)]
pub struct Transition {
    pub id: String,
    pub referral_id: String,
    pub from_status: Option<ReferralStatus>,
    pub to_status: ReferralStatus,
    pub at: NaiveDateTime,
    pub actor_id: String,
    pub note: Option<String>,
}

#[derive(Insertable)]
#[diesel(treat_none_as_default_value = false, table_name = group_session_topics)]
pub struct SessionTopic {
    pub session_id: String,
    pub topic: Topic,
}

#[derive(Insertable)]
#[diesel(treat_none_as_default_value = false, table_name = group_session_facilitators)]
pub struct Facilitator {
    pub session_id: String,
    pub user_id: String,
}

#[derive(Insertable)]
#[diesel(treat_none_as_default_value = false, table_name = group_session_attendees)]
pub struct Attendee {
    pub session_id: String,
    pub migrant_id: String,
    pub added_by: String,
    pub added_at: NaiveDateTime,
}

/// Everything seeded for a batch of people, written table by table.
#[derive(Default)]
pub struct Rows {
    pub migrants: Vec<Migrant>,
    pub name_tokens: Vec<NameToken>,
    pub vulnerabilities: Vec<VulnerabilityFlag>,
    pub consent_events: Vec<ConsentEvent>,
    pub cases: Vec<Case>,
    pub case_events: Vec<CaseEvent>,
    pub consultations: Vec<Consultation>,
    pub topics: Vec<ConsultationTopic>,
    pub referrals: Vec<Referral>,
    pub transitions: Vec<Transition>,
    pub follow_ups: Vec<FollowUp>,
    pub sessions: Vec<GroupSession>,
    pub session_topics: Vec<SessionTopic>,
    pub facilitators: Vec<Facilitator>,
    pub attendees: Vec<Attendee>,
    pub tallies: Vec<TallyRow>,
}

/// Inserts `rows` into `table`, `ROWS_PER_STATEMENT` at a time, on whichever backend `conn` is.
macro_rules! insert_rows {
    ($conn:expr, $table:expr, $rows:expr) => {
        for chunk in $rows.chunks(ROWS_PER_STATEMENT) {
            match &mut *$conn {
                DbConnection::Postgresql(pg) => diesel::copy_from($table)
                    .from_insertable(chunk)
                    .execute(pg)?,
                DbConnection::Sqlite(sqlite) => {
                    diesel::insert_into($table).values(chunk).execute(sqlite)?
                }
            };
        }
    };
}

impl Rows {
    /// Writes every row, parents before children.
    pub fn insert(&self, conn: &mut DbConnection) -> QueryResult<()> {
        insert_rows!(conn, migrants::table, self.migrants);
        insert_rows!(conn, migrant_name_tokens::table, self.name_tokens);
        insert_rows!(conn, migrant_vulnerabilities::table, self.vulnerabilities);
        insert_rows!(conn, migrant_consent_events::table, self.consent_events);
        insert_rows!(conn, cases::table, self.cases);
        insert_rows!(conn, case_events::table, self.case_events);
        insert_rows!(conn, consultations::table, self.consultations);
        insert_rows!(conn, consultation_topics::table, self.topics);
        insert_rows!(conn, referrals::table, self.referrals);
        insert_rows!(conn, referral_transitions::table, self.transitions);
        insert_rows!(conn, follow_ups::table, self.follow_ups);
        insert_rows!(conn, group_sessions::table, self.sessions);
        insert_rows!(conn, group_session_topics::table, self.session_topics);
        insert_rows!(conn, group_session_facilitators::table, self.facilitators);
        insert_rows!(conn, group_session_attendees::table, self.attendees);
        insert_rows!(conn, group_session_tallies::table, self.tallies);
        Ok(())
    }
}

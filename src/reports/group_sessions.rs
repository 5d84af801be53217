//! The group-sessions report: sessions held in the period and their attendance, registered
//! and anonymous.

use chrono::NaiveDate;
use diesel::prelude::*;
use diesel::sql_types::BigInt;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::model::{shown, stored, Period, MAX_GROUPS};
use super::report::{Built, Kind};
use super::sql::{self, age, HasKeys, Keys, Needs, Params, AGE_BAND, EXCLUDED};
use crate::consultations::model::{AgeBand, Topic};
use crate::db::DbConnection;
use crate::error::ApiError;
use crate::group_sessions::model::SessionKind;
use crate::migrants::model::{MigrationStatus, Sex};

crate::text_enum!(
    /// A dimension a group-sessions report can be broken down by.
    SessionsGroupBy {
        Month => "month",
        Kind => "kind",
        Centre => "centre",
        Topic => "topic",
        City => "city",
        Sex => "sex",
        AgeBand => "age_band",
        MigrationStatus => "migration_status",
    }
);

crate::report_dimension!(SessionsGroupBy { Centre => "centre_name" } counsellor:);

impl SessionsGroupBy {
    /// A dimension of the people who attended rather than of the session.
    fn is_of_attendees(self) -> bool {
        matches!(self, Self::Sex | Self::AgeBand | Self::MigrationStatus)
    }
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct SessionsReportQuery {
    /// First day of the period (RFC 3339 full date, UTC), included: sessions starting from it.
    #[param(value_type = String, format = Date, example = "2026-01-01")]
    pub from: NaiveDate,
    /// Day after the period (RFC 3339 full date, UTC), excluded. At most five years after
    /// `from`.
    #[param(value_type = String, format = Date, example = "2026-04-01")]
    pub to: NaiveDate,
    /// One to three of `month`, `kind`, `centre`, `topic`, `city`, `sex`, `age_band`,
    /// `migration_status`, comma-separated.
    #[param(example = "month,sex")]
    pub group_by: String,
    /// Admins: one centre (default: every centre). Supervisors: their own centre only.
    pub centre_id: Option<String>,
}

/// The numbers of one cell of a group-sessions report; all `null` when suppressed.
#[derive(Debug, Clone, Default, Serialize, ToSchema)]
pub struct SessionCounts {
    /// Sessions in the cell. Broken down by `sex`, `age_band` or `migration_status`, the
    /// sessions attended by someone of the row; the total counts every session of the period.
    #[schema(example = 12)]
    pub sessions: Option<i64>,
    /// Registered attendances (one per person and session) of people who consent to statistics.
    #[schema(example = 96)]
    pub registered: Option<i64>,
    /// People counted in the sessions' anonymous tallies.
    #[schema(example = 210)]
    pub anonymous: Option<i64>,
    /// `registered + anonymous`: what disclosure control counts.
    #[schema(example = 306)]
    pub attendance: Option<i64>,
    /// Hidden by disclosure control (admins' reports only).
    pub suppressed: bool,
}

/// One row: the values of the requested dimensions (the others are absent) and its counts.
#[derive(Debug, Clone, Default, Serialize, ToSchema)]
pub struct SessionsRow {
    /// `YYYY-MM` the session started (UTC).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(example = "2026-01")]
    pub month: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kind: Option<SessionKind>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub centre: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub centre_name: Option<String>,
    /// A session with several topics counts in the row of each.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub topic: Option<Topic>,
    /// Where it was held; `null` for online sessions.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub city: Option<Option<String>>,
    /// Registered attendees: from their current record; anonymous ones: as tallied.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sex: Option<Sex>,
    /// Registered attendees: their age at the session (birth date, else birth year); anonymous
    /// ones: as tallied (`null` when not recorded).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub age_band: Option<Option<AgeBand>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub migration_status: Option<MigrationStatus>,
    #[serde(flatten)]
    pub counts: SessionCounts,
}

/// Group sessions that started in a period and their attendance, broken down by up to three
/// dimensions, with the same disclosure control as the consultations report (on
/// `attendance`).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct SessionsReport {
    #[schema(value_type = String, format = Date)]
    pub from: NaiveDate,
    #[schema(value_type = String, format = Date)]
    pub to: NaiveDate,
    pub group_by: Vec<SessionsGroupBy>,
    pub centre_id: Option<String>,
    pub disclosure_control: bool,
    /// Ordered by the dimensions' values in `group_by` order (`null` last).
    pub rows: Vec<SessionsRow>,
    /// Registered attendances of people who have not (or no longer) given consent to
    /// statistics: left out of `rows` and of `total`; `null` when the total is suppressed.
    #[schema(example = 2)]
    pub not_disaggregated: Option<i64>,
    pub total: SessionCounts,
}

#[derive(Debug, QueryableByName)]
pub struct Line {
    #[diesel(embed)]
    keys: Keys,
    #[diesel(sql_type = BigInt)]
    sessions: i64,
    #[diesel(sql_type = BigInt)]
    registered: i64,
    #[diesel(sql_type = BigInt)]
    anonymous: i64,
}

impl HasKeys for Line {
    fn keys(&self) -> &Keys {
        &self.keys
    }
}

fn dimension(p: Params, dim: SessionsGroupBy) -> String {
    match dim {
        SessionsGroupBy::Month => p.d.month("starts_at"),
        SessionsGroupBy::Kind => "kind".into(),
        SessionsGroupBy::Centre => "centre_id".into(),
        SessionsGroupBy::City => "city".into(),
        SessionsGroupBy::Sex => "sex".into(),
        SessionsGroupBy::MigrationStatus => "migration_status".into(),
        SessionsGroupBy::AgeBand => {
            format!("CASE WHEN migrant_id IS NULL THEN band ELSE {AGE_BAND} END")
        }
        // Joined in the outer query, one row per topic.
        SessionsGroupBy::Topic => "NULL".into(),
    }
}

/// One line per session (counting no one), per registered attendance and per tally row of
/// the sessions of the period (and centre), with the attendee's attributes.
fn units(p: Params) -> String {
    let session = "s.id AS session_id, s.starts_at, s.kind, s.centre_id, s.city";
    let within = format!(
        "s.starts_at >= {} AND s.starts_at < {}{}",
        p.from(),
        p.to(),
        p.centre_filter("s.centre_id")
    );
    format!(
        "SELECT {session}, CAST(NULL AS TEXT) AS migrant_id, CAST(NULL AS TEXT) AS sex, \
         CAST(NULL AS TEXT) AS band, CAST(NULL AS TEXT) AS migration_status, \
         CAST(NULL AS INTEGER) AS age, 0 AS registered, 0 AS anonymous, 0 AS excluded, \
         1 AS session_row FROM group_sessions s WHERE {within} \
         UNION ALL SELECT {session}, a.migrant_id, m.sex, CAST(NULL AS TEXT), \
         m.migration_status, {age}, 1, 0, {EXCLUDED}, 0 \
         FROM group_session_attendees a JOIN group_sessions s ON s.id = a.session_id \
         JOIN migrants m ON m.id = a.migrant_id WHERE {within} \
         UNION ALL SELECT {session}, NULL, t.sex, t.age_band, t.migration_status, NULL, 0, \
         t.count, 0, 0 FROM group_session_tallies t JOIN group_sessions s \
         ON s.id = t.session_id WHERE {within}",
        age = age(p.d, "s.starts_at"),
    )
}

/// The whole statement: grouped lines over the consenting attendees (and, unless broken down
/// by an attendee's attribute, the sessions themselves), then the total line.
fn statement(p: Params, group_by: &[SessionsGroupBy]) -> String {
    let columns = sql::group_columns(group_by, |dim| dimension(p, dim));
    let mut select = Vec::new();
    let mut keys = Vec::new();
    for i in 0..MAX_GROUPS {
        match group_by.get(i) {
            Some(SessionsGroupBy::Topic) => {
                select.push(format!("t.topic AS g{i}, NULL AS l{i}"));
                keys.push("t.topic".to_owned());
            }
            Some(_) => {
                select.push(format!("f.g{i} AS g{i}, f.l{i} AS l{i}"));
                keys.push(format!("f.g{i}, f.l{i}"));
            }
            None => select.push(format!("NULL AS g{i}, NULL AS l{i}")),
        }
    }
    let topics = if group_by.contains(&SessionsGroupBy::Topic) {
        " JOIN group_session_topics t ON t.session_id = f.session_id"
    } else {
        ""
    };
    let sessions_too = if group_by.iter().any(|d| d.is_of_attendees()) {
        " AND f.session_row = 0"
    } else {
        ""
    };
    let nothing = ["NULL"; MAX_GROUPS * 2].join(", ");
    format!(
        "WITH units AS ({units}), facts AS (SELECT b.*{columns} FROM (SELECT u.*, \
         ce.name AS centre_name FROM units u JOIN centres ce ON ce.id = u.centre_id) b) \
         SELECT {select}, 0 AS total, 0 AS left_out, {counts} FROM facts f{topics} \
         WHERE f.excluded = 0{sessions_too} GROUP BY {keys} \
         UNION ALL SELECT {nothing}, 1 AS total, \
         CAST(COALESCE(SUM(f.excluded), 0) AS BIGINT) AS left_out, {total} FROM facts f",
        units = units(p),
        select = select.join(", "),
        keys = keys.join(", "),
        counts = counts("1 = 1"),
        total = counts("f.excluded = 0"),
    )
}

/// The counts of a line over the records `keep` selects (the total keeps consenting people).
fn counts(keep: &str) -> String {
    format!(
        "CAST(COUNT(DISTINCT f.session_id) AS BIGINT) AS sessions, \
         CAST(COALESCE(SUM(CASE WHEN {keep} THEN f.registered END), 0) AS BIGINT) AS registered, \
         CAST(COALESCE(SUM(f.anonymous), 0) AS BIGINT) AS anonymous"
    )
}

/// The group-sessions report.
pub struct GroupSessions;

impl Kind for GroupSessions {
    type Dim = SessionsGroupBy;
    type Line = Line;
    type Row = SessionsRow;
    type Counts = SessionCounts;
    type Report = SessionsReport;
    const NAME: &'static str = "group-sessions";
    const COUNTS: &'static [&'static str] = &["sessions", "registered", "anonymous", "attendance"];

    fn load(
        conn: &mut DbConnection,
        period: &Period<SessionsGroupBy>,
        centre: Option<&str>,
    ) -> Result<Vec<Line>, ApiError> {
        sql::run(
            conn,
            period,
            centre,
            Needs {
                clock: false,
                hashing: false,
            },
            |p| statement(p, &period.group_by),
        )
    }

    fn tallies(line: &Line) -> (i64, i64) {
        (line.registered + line.anonymous, line.sessions)
    }

    fn counts(line: &Line, hidden: bool) -> SessionCounts {
        SessionCounts {
            sessions: shown(hidden, line.sessions),
            registered: shown(hidden, line.registered),
            anonymous: shown(hidden, line.anonymous),
            attendance: shown(hidden, line.registered + line.anonymous),
            suppressed: hidden,
        }
    }

    fn row(counts: SessionCounts) -> SessionsRow {
        SessionsRow {
            counts,
            ..Default::default()
        }
    }

    fn set(
        row: &mut SessionsRow,
        dim: SessionsGroupBy,
        value: Option<&str>,
        label: Option<&str>,
    ) -> Result<(), ApiError> {
        let text = value.map(str::to_owned);
        match dim {
            SessionsGroupBy::Month => row.month = text,
            SessionsGroupBy::Kind => row.kind = value.map(stored).transpose()?,
            SessionsGroupBy::Centre => {
                (row.centre, row.centre_name) = (text, label.map(str::to_owned));
            }
            SessionsGroupBy::Topic => row.topic = value.map(stored).transpose()?,
            SessionsGroupBy::City => row.city = Some(text),
            SessionsGroupBy::Sex => row.sex = value.map(stored).transpose()?,
            SessionsGroupBy::AgeBand => row.age_band = Some(value.map(stored).transpose()?),
            SessionsGroupBy::MigrationStatus => {
                row.migration_status = value.map(stored).transpose()?;
            }
        }
        Ok(())
    }

    fn report(built: Built<Self>) -> SessionsReport {
        SessionsReport {
            from: built.period.from,
            to: built.period.to,
            group_by: built.period.group_by,
            centre_id: built.scope.centre,
            disclosure_control: built.scope.disclosure_control,
            rows: built.rows,
            not_disaggregated: built.not_disaggregated,
            total: built.total,
        }
    }
}

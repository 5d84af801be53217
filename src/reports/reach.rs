//! The reach report: people reached through any channel — consultations and group sessions —
//! each registered person once however often they came, anonymous ones as recorded.

use chrono::NaiveDate;
use diesel::prelude::*;
use diesel::sql_types::BigInt;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::model::{shown, stored, Period, MAX_GROUPS};
use super::report::{Built, Kind};
use super::sql::{self, age, HasKeys, Keys, Needs, Params, AGE_BAND, EXCLUDED};
use crate::consultations::model::AgeBand;
use crate::db::DbConnection;
use crate::error::ApiError;
use crate::migrants::model::{MigrationStatus, Sex};

crate::text_enum!(
    /// A dimension a reach report can be broken down by.
    ReachGroupBy {
        Month => "month",
        Centre => "centre",
        Channel => "channel",
        Sex => "sex",
        AgeBand => "age_band",
        MigrationStatus => "migration_status",
    }
);

crate::report_dimension!(ReachGroupBy { Centre => "centre_name" } counsellor:);

crate::text_enum!(
    /// How a person was reached: a consultation's channel, or a group session.
    ReachChannel {
        WalkIn => "walk_in",
        Phone => "phone",
        Online => "online",
        Outreach => "outreach",
        GroupSession => "group_session",
    }
);

/// The stored value of the group-session channel (consultation channels are stored as is).
const GROUP_SESSION: &str = "group_session";

impl ReachGroupBy {
    /// A dimension of the contact (when and where and how), rather than of the person.
    fn is_of_contact(self) -> bool {
        matches!(self, Self::Month | Self::Centre | Self::Channel)
    }

    fn column(self) -> &'static str {
        match self {
            Self::Month => "month",
            Self::Centre => "centre_id",
            Self::Channel => "channel",
            Self::Sex => "sex",
            Self::AgeBand => "age_band",
            Self::MigrationStatus => "migration_status",
        }
    }
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ReachReportQuery {
    /// First day of the period (RFC 3339 full date, UTC), included.
    #[param(value_type = String, format = Date, example = "2026-01-01")]
    pub from: NaiveDate,
    /// Day after the period (RFC 3339 full date, UTC), excluded. At most five years after
    /// `from`.
    #[param(value_type = String, format = Date, example = "2027-01-01")]
    pub to: NaiveDate,
    /// One to three of `month`, `centre`, `channel`, `sex`, `age_band`, `migration_status`,
    /// comma-separated.
    #[param(example = "channel,sex")]
    pub group_by: String,
    /// Admins: one centre (default: every centre). Supervisors: their own centre only.
    pub centre_id: Option<String>,
}

/// The numbers of one cell of a reach report; all `null` when suppressed.
#[derive(Debug, Clone, Default, Serialize, ToSchema)]
pub struct ReachCounts {
    /// People reached: `registered + anonymous`.
    #[schema(example = 480)]
    pub people: Option<i64>,
    /// Distinct registered people (who consent to statistics), each once in the cell however
    /// many times they came.
    #[schema(example = 210)]
    pub registered: Option<i64>,
    /// Anonymous consultations (one person each) and people in group-session tallies.
    #[schema(example = 270)]
    pub anonymous: Option<i64>,
    /// Consultations and session attendances behind the cell (anonymous ones included). The
    /// total counts every one, with those of people who did not consent to statistics too.
    #[schema(example = 655)]
    pub contacts: Option<i64>,
    /// Hidden by disclosure control (admins' reports only).
    pub suppressed: bool,
}

/// One row: the values of the requested dimensions (the others are absent) and its counts.
#[derive(Debug, Clone, Default, Serialize, ToSchema)]
pub struct ReachRow {
    /// `YYYY-MM` (UTC): a person counts in every month they were reached.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(example = "2026-01")]
    pub month: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub centre: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub centre_name: Option<String>,
    /// A person reached through several channels counts in the row of each.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub channel: Option<ReachChannel>,
    /// Registered people: from their current record; anonymous ones: as recorded.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sex: Option<Sex>,
    /// Registered people: their age at their first contact in the row (in the period, and in
    /// the row's month, centre or channel when broken down by one); anonymous: as recorded.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub age_band: Option<Option<AgeBand>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub migration_status: Option<MigrationStatus>,
    #[serde(flatten)]
    pub counts: ReachCounts,
}

/// People reached in a period through any channel, broken down by up to three dimensions.
///
/// A registered person counts once in each row they belong to and once in `total`, however
/// many consultations and sessions they came to. Rows of `month` and `channel` overlap (a
/// person reached in two months counts in both), so they can add up to more than the total.
/// Disclosure control as for the consultations report (on `people`).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ReachReport {
    #[schema(value_type = String, format = Date)]
    pub from: NaiveDate,
    #[schema(value_type = String, format = Date)]
    pub to: NaiveDate,
    pub group_by: Vec<ReachGroupBy>,
    pub centre_id: Option<String>,
    pub disclosure_control: bool,
    /// Ordered by the dimensions' values in `group_by` order (`null` last).
    pub rows: Vec<ReachRow>,
    /// Contacts with registered people who have not (or no longer) given consent to
    /// statistics: left out of `rows` and of every number of `total` but `contacts`; `null`
    /// when the total is suppressed.
    #[schema(example = 4)]
    pub not_disaggregated: Option<i64>,
    pub total: ReachCounts,
}

#[derive(Debug, QueryableByName)]
pub struct Line {
    #[diesel(embed)]
    keys: Keys,
    #[diesel(sql_type = BigInt)]
    registered: i64,
    #[diesel(sql_type = BigInt)]
    anonymous: i64,
    #[diesel(sql_type = BigInt)]
    contacts: i64,
}

impl HasKeys for Line {
    fn keys(&self) -> &Keys {
        &self.keys
    }
}

/// Every contact of the period (and centre): consultations, registered attendances and tally
/// rows, with the month and channel, and what anonymous ones recorded of the person.
fn contacts(p: Params) -> String {
    let period = |at: &str, centre: &str| {
        format!(
            "{at} >= {} AND {at} < {}{}",
            p.from(),
            p.to(),
            p.centre_filter(centre)
        )
    };
    format!(
        "SELECT c.migrant_id, c.occurred_at AS at, c.centre_id, c.channel, \
         c.anonymous_sex AS a_sex, c.anonymous_age_band AS a_band, \
         c.anonymous_migration_status AS a_status, 1 AS n FROM consultations c WHERE {consulted} \
         UNION ALL SELECT a.migrant_id, s.starts_at, s.centre_id, '{GROUP_SESSION}', NULL, NULL, \
         NULL, 1 FROM group_session_attendees a JOIN group_sessions s ON s.id = a.session_id \
         WHERE {attended} \
         UNION ALL SELECT NULL, s.starts_at, s.centre_id, '{GROUP_SESSION}', t.sex, t.age_band, \
         t.migration_status, t.count FROM group_session_tallies t JOIN group_sessions s \
         ON s.id = t.session_id WHERE {attended} AND t.count > 0",
        consulted = period("c.occurred_at", "c.centre_id"),
        attended = period("s.starts_at", "s.centre_id"),
    )
}

/// The expression of a dimension over the `people` columns.
fn dimension(dim: ReachGroupBy) -> String {
    match dim {
        ReachGroupBy::AgeBand => {
            format!("CASE WHEN migrant_id IS NULL THEN a_band ELSE {AGE_BAND} END")
        }
        other => other.column().into(),
    }
}

/// One line per registered person and requested contact dimensions (their first contact
/// there, their attributes from their current record), and one per anonymous contact.
fn people(p: Params, group_by: &[ReachGroupBy]) -> String {
    let mut keys = String::new();
    for dim in group_by.iter().filter(|d| d.is_of_contact()) {
        keys.push_str(dim.column());
        keys.push_str(", ");
    }
    let r_keys: String = keys
        .split(", ")
        .filter(|k| !k.is_empty())
        .map(|k| format!("r.{k}, "))
        .collect();
    format!(
        "reached AS (SELECT {keys}migrant_id, MIN(at) AS first_at, COUNT(*) AS contacts \
         FROM keyed WHERE migrant_id IS NOT NULL GROUP BY {keys}migrant_id), \
         people AS (SELECT {r_keys}r.migrant_id, m.sex, m.migration_status, \
         CAST(NULL AS TEXT) AS a_band, {age}, {EXCLUDED}, 1 AS n, r.contacts \
         FROM reached r JOIN migrants m ON m.id = r.migrant_id \
         UNION ALL SELECT {keys}NULL, a_sex, a_status, a_band, NULL, 0, n, n FROM keyed \
         WHERE migrant_id IS NULL)",
        age = age(p.d, "r.first_at"),
    )
}

/// The whole statement: grouped lines from `people`, then the total line, which counts each
/// registered person once over the whole period.
fn statement(p: Params, group_by: &[ReachGroupBy]) -> String {
    let columns = sql::group_columns(group_by, dimension);
    let nothing = ["NULL"; MAX_GROUPS * 2].join(", ");
    let (select, keys) = sql::group_keys(group_by.len());
    let named = if group_by.contains(&ReachGroupBy::Centre) {
        "SELECT p.*, ce.name AS centre_name FROM people p JOIN centres ce ON ce.id = p.centre_id"
    } else {
        "SELECT * FROM people"
    };
    format!(
        "WITH contacts AS ({contacts}), keyed AS (SELECT k.*, {month} AS month FROM contacts k), \
         {people}, facts AS (SELECT b.*{columns} FROM ({named}) b), \
         everyone AS (SELECT k.migrant_id, COUNT(*) AS contacts, {EXCLUDED} FROM keyed k \
         JOIN migrants m ON m.id = k.migrant_id GROUP BY k.migrant_id, m.id), \
         totals AS (SELECT migrant_id, excluded, 1 AS n, contacts FROM everyone \
         UNION ALL SELECT NULL, 0, n, n FROM keyed WHERE migrant_id IS NULL) \
         SELECT {select}, 0 AS total, 0 AS left_out, {counts} FROM facts f \
         WHERE f.excluded = 0 GROUP BY {keys} \
         UNION ALL SELECT {nothing}, 1 AS total, \
         CAST(COALESCE(SUM(f.excluded * f.contacts), 0) AS BIGINT) AS left_out, {total} \
         FROM totals f",
        contacts = contacts(p),
        month = p.d.month("k.at"),
        people = people(p, group_by),
        counts = counts("1 = 1", "f.contacts"),
        total = counts("f.excluded = 0", "f.contacts"),
    )
}

/// The counts of a line; `keep` selects the people counted (the total keeps consenting ones).
fn counts(keep: &str, contacts: &str) -> String {
    format!(
        "CAST(COALESCE(SUM(CASE WHEN {keep} AND f.migrant_id IS NOT NULL THEN f.n END), 0) \
         AS BIGINT) AS registered, \
         CAST(COALESCE(SUM(CASE WHEN f.migrant_id IS NULL THEN f.n END), 0) AS BIGINT) \
         AS anonymous, CAST(COALESCE(SUM({contacts}), 0) AS BIGINT) AS contacts"
    )
}

/// The reach report.
pub struct Reach;

impl Kind for Reach {
    type Dim = ReachGroupBy;
    type Line = Line;
    type Row = ReachRow;
    type Counts = ReachCounts;
    type Report = ReachReport;
    const NAME: &'static str = "reach";
    const COUNTS: &'static [&'static str] = &["people", "registered", "anonymous", "contacts"];

    fn load(
        conn: &mut DbConnection,
        period: &Period<ReachGroupBy>,
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
        (line.registered + line.anonymous, line.contacts)
    }

    fn counts(line: &Line, hidden: bool) -> ReachCounts {
        ReachCounts {
            people: shown(hidden, line.registered + line.anonymous),
            registered: shown(hidden, line.registered),
            anonymous: shown(hidden, line.anonymous),
            contacts: shown(hidden, line.contacts),
            suppressed: hidden,
        }
    }

    fn row(counts: ReachCounts) -> ReachRow {
        ReachRow {
            counts,
            ..Default::default()
        }
    }

    fn set(
        row: &mut ReachRow,
        dim: ReachGroupBy,
        value: Option<&str>,
        label: Option<&str>,
    ) -> Result<(), ApiError> {
        let text = value.map(str::to_owned);
        match dim {
            ReachGroupBy::Month => row.month = text,
            ReachGroupBy::Centre => {
                (row.centre, row.centre_name) = (text, label.map(str::to_owned));
            }
            ReachGroupBy::Channel => row.channel = value.map(stored).transpose()?,
            ReachGroupBy::Sex => row.sex = value.map(stored).transpose()?,
            ReachGroupBy::AgeBand => row.age_band = Some(value.map(stored).transpose()?),
            ReachGroupBy::MigrationStatus => {
                row.migration_status = value.map(stored).transpose()?;
            }
        }
        Ok(())
    }

    fn report(built: Built<Self>) -> ReachReport {
        ReachReport {
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

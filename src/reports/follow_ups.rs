//! The follow-ups report: follow-ups due in the period and whether they were kept on time.

use chrono::NaiveDate;
use diesel::prelude::*;
use diesel::sql_types::BigInt;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::model::{shown, stored, Period};
use super::report::{Built, Kind};
use super::sql::{self, HasKeys, Keys, Needs, Params, EXCLUDED};
use crate::db::DbConnection;
use crate::error::ApiError;
use crate::follow_ups::model::{FollowUpKind, FollowUpStatus};

crate::text_enum!(
    /// A dimension a follow-ups report can be broken down by.
    FollowUpsGroupBy {
        Status => "status",
        Kind => "kind",
        Month => "month",
        Counsellor => "counsellor",
        Centre => "centre",
    }
);

crate::report_dimension!(FollowUpsGroupBy { Counsellor => "counsellor_name", Centre => "centre_name" } counsellor: Counsellor);

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct FollowUpsReportQuery {
    /// First day of the period (RFC 3339 full date, UTC), included: follow-ups due from it.
    #[param(value_type = String, format = Date, example = "2026-01-01")]
    pub from: NaiveDate,
    /// Day after the period (RFC 3339 full date, UTC), excluded. At most five years after
    /// `from`.
    #[param(value_type = String, format = Date, example = "2026-02-01")]
    pub to: NaiveDate,
    /// One to three of `status`, `kind`, `month`, `counsellor`, `centre`, comma-separated.
    /// `counsellor` is for supervisors only.
    #[param(example = "month,kind")]
    pub group_by: String,
    /// Admins: one centre (default: every centre). Supervisors: their own centre only.
    pub centre_id: Option<String>,
}

/// The numbers of one cell of a follow-ups report; all `null` when suppressed.
#[derive(Debug, Clone, Default, Serialize, ToSchema)]
pub struct FollowUpCounts {
    /// Follow-ups due in the period (cancelled ones are not counted anywhere). The total counts
    /// every one, with those of people who did not consent to statistics too.
    #[schema(example = 40)]
    pub due: Option<i64>,
    /// Marked done no later than their due time.
    #[schema(example = 28)]
    pub completed_on_time: Option<i64>,
    /// Marked done after their due time.
    #[schema(example = 5)]
    pub completed_late: Option<i64>,
    /// Marked missed, or still scheduled past their due time.
    #[schema(example = 4)]
    pub missed: Option<i64>,
    /// Distinct people the follow-ups are about.
    #[schema(example = 31)]
    pub people: Option<i64>,
    /// Hidden by disclosure control (admins' reports only).
    pub suppressed: bool,
}

/// One row: the values of the requested dimensions (the others are absent) and its counts.
#[derive(Debug, Clone, Default, Serialize, ToSchema)]
pub struct FollowUpsRow {
    /// Where the follow-up stands now.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<FollowUpStatus>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kind: Option<FollowUpKind>,
    /// `YYYY-MM` the follow-up was due (UTC).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(example = "2026-01")]
    pub month: Option<String>,
    /// The assignee's user id (supervisors only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub counsellor: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub counsellor_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub centre: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub centre_name: Option<String>,
    #[serde(flatten)]
    pub counts: FollowUpCounts,
}

/// Follow-ups due in a period, broken down by up to three dimensions, with the same
/// disclosure control as the consultations report (on `people`).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct FollowUpsReport {
    #[schema(value_type = String, format = Date)]
    pub from: NaiveDate,
    #[schema(value_type = String, format = Date)]
    pub to: NaiveDate,
    pub group_by: Vec<FollowUpsGroupBy>,
    pub centre_id: Option<String>,
    pub disclosure_control: bool,
    /// Ordered by the dimensions' values in `group_by` order (`null` last).
    pub rows: Vec<FollowUpsRow>,
    /// Follow-ups about people who have not (or no longer) given consent to statistics: left
    /// out of `rows` and of every number of `total` but `due`; `null` when it is suppressed.
    #[schema(example = 2)]
    pub not_disaggregated: Option<i64>,
    pub total: FollowUpCounts,
}

#[derive(Debug, QueryableByName)]
pub struct Line {
    #[diesel(embed)]
    keys: Keys,
    #[diesel(sql_type = BigInt)]
    due: i64,
    #[diesel(sql_type = BigInt)]
    on_time: i64,
    #[diesel(sql_type = BigInt)]
    late: i64,
    #[diesel(sql_type = BigInt)]
    missed: i64,
    #[diesel(sql_type = BigInt)]
    people: i64,
}

impl HasKeys for Line {
    fn keys(&self) -> &Keys {
        &self.keys
    }
}

fn dimension(p: Params, dim: FollowUpsGroupBy) -> String {
    match dim {
        FollowUpsGroupBy::Status => "status".into(),
        FollowUpsGroupBy::Kind => "kind".into(),
        FollowUpsGroupBy::Month => p.d.month("due_at"),
        FollowUpsGroupBy::Counsellor => "assigned_to".into(),
        FollowUpsGroupBy::Centre => "centre_id".into(),
    }
}

/// One row per follow-up due in the period (and centre), but cancelled ones, with whether it
/// was kept on time, late, or missed.
fn base(p: Params, group_by: &[FollowUpsGroupBy]) -> String {
    use FollowUpStatus::{Cancelled, Done, Missed, Scheduled};
    let columns = sql::group_columns(group_by, |dim| dimension(p, dim));
    format!(
        "facts AS (SELECT b.*{columns} FROM (SELECT fu.status, fu.kind, fu.due_at, \
         fu.assigned_to, fu.centre_id, c.migrant_id, u.full_name AS counsellor_name, \
         ce.name AS centre_name, {EXCLUDED}, \
         CASE WHEN fu.status = '{done}' AND fu.closed_at <= fu.due_at THEN 1 ELSE 0 END \
         AS on_time, \
         CASE WHEN fu.status = '{done}' AND fu.closed_at > fu.due_at THEN 1 ELSE 0 END AS late, \
         CASE WHEN fu.status = '{missed}' \
         OR (fu.status = '{scheduled}' AND fu.due_at < {now}) THEN 1 ELSE 0 END AS missed \
         FROM follow_ups fu JOIN cases c ON c.id = fu.case_id \
         JOIN migrants m ON m.id = c.migrant_id JOIN users u ON u.id = fu.assigned_to \
         JOIN centres ce ON ce.id = fu.centre_id \
         WHERE fu.due_at >= {from} AND fu.due_at < {to} AND fu.status <> '{cancelled}'{centre}) b)",
        done = Done.as_str(),
        missed = Missed.as_str(),
        scheduled = Scheduled.as_str(),
        cancelled = Cancelled.as_str(),
        now = p.now(),
        from = p.from(),
        to = p.to(),
        centre = p.centre_filter("fu.centre_id"),
    )
}

/// The counts of a line; `keep` selects the records counted beyond `due` (the total line
/// keeps only consenting people's).
fn counts(keep: &str) -> String {
    format!(
        "COUNT(*) AS due, \
         COALESCE(SUM(CASE WHEN {keep} THEN f.on_time END), 0) AS on_time, \
         COALESCE(SUM(CASE WHEN {keep} THEN f.late END), 0) AS late, \
         COALESCE(SUM(CASE WHEN {keep} THEN f.missed END), 0) AS missed, \
         COUNT(DISTINCT CASE WHEN {keep} THEN f.migrant_id END) AS people"
    )
}

/// The follow-ups report.
pub struct FollowUps;

impl Kind for FollowUps {
    type Dim = FollowUpsGroupBy;
    type Line = Line;
    type Row = FollowUpsRow;
    type Counts = FollowUpCounts;
    type Report = FollowUpsReport;
    const NAME: &'static str = "follow-ups";
    const COUNTS: &'static [&'static str] = &[
        "due",
        "completed_on_time",
        "completed_late",
        "missed",
        "people",
    ];

    fn load(
        conn: &mut DbConnection,
        period: &Period<FollowUpsGroupBy>,
        centre: Option<&str>,
    ) -> Result<Vec<Line>, ApiError> {
        sql::run(
            conn,
            period,
            centre,
            Needs {
                clock: true,
                hashing: false,
            },
            |p| {
                let with = base(p, &period.group_by);
                let (rows, total) = (counts("1 = 1"), counts("f.excluded = 0"));
                sql::grouped(&with, period.group_by.len(), &rows, &total)
            },
        )
    }

    fn tallies(line: &Line) -> (i64, i64) {
        (line.people, line.due)
    }

    fn counts(line: &Line, hidden: bool) -> FollowUpCounts {
        FollowUpCounts {
            due: shown(hidden, line.due),
            completed_on_time: shown(hidden, line.on_time),
            completed_late: shown(hidden, line.late),
            missed: shown(hidden, line.missed),
            people: shown(hidden, line.people),
            suppressed: hidden,
        }
    }

    fn row(counts: FollowUpCounts) -> FollowUpsRow {
        FollowUpsRow {
            counts,
            ..Default::default()
        }
    }

    fn set(
        row: &mut FollowUpsRow,
        dim: FollowUpsGroupBy,
        value: Option<&str>,
        label: Option<&str>,
    ) -> Result<(), ApiError> {
        let text = value.map(str::to_owned);
        let label = label.map(str::to_owned);
        match dim {
            FollowUpsGroupBy::Status => row.status = value.map(stored).transpose()?,
            FollowUpsGroupBy::Kind => row.kind = value.map(stored).transpose()?,
            FollowUpsGroupBy::Month => row.month = text,
            FollowUpsGroupBy::Counsellor => (row.counsellor, row.counsellor_name) = (text, label),
            FollowUpsGroupBy::Centre => (row.centre, row.centre_name) = (text, label),
        }
        Ok(())
    }

    fn report(built: Built<Self>) -> FollowUpsReport {
        FollowUpsReport {
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

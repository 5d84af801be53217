//! The consultations report: its dimensions and rows, and its one aggregate statement.

use chrono::{Datelike, NaiveDate};
use diesel::prelude::*;
use diesel::sql_types::BigInt;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::facts;
use super::model::{shown, stored, Period, MAX_GROUPS};
use super::report::{Built, Kind};
use super::sql::{self, Dialect, HasKeys, Keys, Needs, Params};
use crate::consultations::model::{AgeBand, Channel, Topic};
use crate::db::DbConnection;
use crate::error::ApiError;
use crate::migrants::model::{MigrationStatus, Sex};

crate::text_enum!(
    /// A dimension a consultations report can be broken down by.
    GroupBy {
        Month => "month",
        Week => "week",
        Centre => "centre",
        Channel => "channel",
        Topic => "topic",
        Sex => "sex",
        AgeBand => "age_band",
        Nationality => "nationality",
        MigrationStatus => "migration_status",
        DestinationCountry => "destination_country",
        Counsellor => "counsellor",
    }
);

crate::report_dimension!(GroupBy { Centre => "centre_name", Counsellor => "counsellor_name" } counsellor: Counsellor);

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ConsultationsReportQuery {
    /// First day of the period (RFC 3339 full date, UTC), included.
    #[param(value_type = String, format = Date, example = "2026-01-01")]
    pub from: NaiveDate,
    /// Day after the period (RFC 3339 full date, UTC), excluded: `from=2026-01-01&to=2026-02-01`
    /// is January. After `from`, at most five years later.
    #[param(value_type = String, format = Date, example = "2026-02-01")]
    pub to: NaiveDate,
    /// One to three of `month`, `week`, `centre`, `channel`, `topic`, `sex`, `age_band`,
    /// `nationality`, `migration_status`, `destination_country`, `counsellor`,
    /// comma-separated. `counsellor` is for supervisors only.
    #[param(example = "month,sex")]
    pub group_by: String,
    /// Admins: one centre (default: every centre). Supervisors: their own centre only.
    pub centre_id: Option<String>,
}

/// The numbers of one cell. When disclosure control hides it, every number is `null` and
/// `suppressed` is true.
#[derive(Debug, Clone, Default, Serialize, ToSchema)]
pub struct Counts {
    /// Consultations in the cell. The total counts every consultation of the period, with
    /// people who did not consent to statistics too.
    pub consultations: Option<i64>,
    /// Distinct registered migrants, plus each anonymous consultation as one person.
    pub people: Option<i64>,
    /// Of `people`, those whose first consultation ever falls in the period (in the row's
    /// month or week when grouped by one); every anonymous consultation counts as new.
    pub new_people: Option<i64>,
    /// Hidden by disclosure control (admins' reports only).
    pub suppressed: bool,
}

/// One row: the values of the requested dimensions (the others are absent) and its counts.
/// A dimension whose value is not recorded (age of a migrant registered without a birth date
/// or year, destination of an anonymous consultation) is `null`.
#[derive(Debug, Clone, Default, Serialize, ToSchema)]
pub struct ConsultationsRow {
    /// `YYYY-MM` (UTC).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(example = "2026-01")]
    pub month: Option<String>,
    /// ISO 8601 week, `YYYY-Www` (weeks start on Monday, UTC).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(example = "2026-W02")]
    pub week: Option<String>,
    /// The centre's id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub centre: Option<String>,
    /// The centre's name (with `centre`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub centre_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub channel: Option<Channel>,
    /// A consultation with several topics is counted in the row of each.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub topic: Option<Topic>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sex: Option<Sex>,
    /// At the consultation's date: from the birth date, else the birth year (the age reached
    /// that year); anonymous consultations carry the band recorded with them.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub age_band: Option<Option<AgeBand>>,
    /// ISO 3166-1 alpha-2.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub nationality: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub migration_status: Option<MigrationStatus>,
    /// ISO 3166-1 alpha-2.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub destination_country: Option<Option<String>>,
    /// The counsellor's user id (supervisors only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub counsellor: Option<String>,
    /// The counsellor's full name (with `counsellor`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub counsellor_name: Option<String>,
    #[serde(flatten)]
    pub counts: Counts,
}

/// Consultations in a period, broken down by up to three dimensions.
///
/// A consultation with several topics counts once in every topic row, so topic rows add up to
/// more than the total; `total` counts each consultation and person once.
///
/// Disclosure control (admins' reports): a cell counting 1–4 people is suppressed (all its
/// numbers `null`, `suppressed: true`). When exactly one row is suppressed and the total is
/// shown, the row with the next-smallest number of people is suppressed too, so the hidden
/// one cannot be worked out by subtracting the others from the total. A total of 1–4 people is
/// itself suppressed. Supervisors' reports on their own centre are not suppressed.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ConsultationsReport {
    #[schema(value_type = String, format = Date)]
    pub from: NaiveDate,
    #[schema(value_type = String, format = Date)]
    pub to: NaiveDate,
    pub group_by: Vec<GroupBy>,
    /// The centre reported on; `null`: every centre.
    pub centre_id: Option<String>,
    /// Whether disclosure control was applied (admins' reports).
    pub disclosure_control: bool,
    /// Ordered by the dimensions' values in `group_by` order (`null` last).
    pub rows: Vec<ConsultationsRow>,
    /// Consultations with registered people who have not (or no longer) given consent to
    /// statistics: left out of `rows`, and of every number of `total` but `consultations`.
    /// `null` when the total is suppressed.
    #[schema(example = 3)]
    pub not_disaggregated: Option<i64>,
    pub total: Counts,
}

/// One line of the statement's result: its dimension values and counts.
#[derive(Debug, QueryableByName)]
pub struct Line {
    #[diesel(embed)]
    keys: Keys,
    #[diesel(sql_type = BigInt)]
    consultations: i64,
    #[diesel(sql_type = BigInt)]
    people: i64,
    #[diesel(sql_type = BigInt)]
    new_people: i64,
}

impl HasKeys for Line {
    fn keys(&self) -> &Keys {
        &self.keys
    }
}

/// The expression of a dimension over the `base` columns.
fn dimension(d: Dialect, dim: GroupBy) -> String {
    match dim {
        GroupBy::Month => d.month("occurred_at"),
        GroupBy::Week => d.week("occurred_at"),
        GroupBy::Centre => d.id_text("centre_id"),
        GroupBy::Counsellor => d.id_text("counsellor_id"),
        GroupBy::Channel => "channel".into(),
        GroupBy::Sex => "sex".into(),
        GroupBy::Nationality => "nationality".into(),
        GroupBy::MigrationStatus => "migration_status".into(),
        GroupBy::DestinationCountry => "destination_country".into(),
        GroupBy::AgeBand => "age_band".into(),
        // Joined in `cells`, one row per topic.
        GroupBy::Topic => "NULL".into(),
    }
}

/// The facts of the consultations of the period (and centre), with whether they are left out
/// for want of consent, whether they are their person's first in the row and whether their
/// person is new.
fn base(p: Params, group_by: &[GroupBy]) -> String {
    format!(
        "SELECT f.migrant_id, f.occurred_at, f.centre_id, f.counsellor_id, f.channel, f.sex, \
         f.nationality, f.migration_status, f.destination_country, f.age_band, f.topics, \
         1 - f.counted AS excluded, {first}, {new} FROM consultation_facts f \
         WHERE f.occurred_at >= {from} AND f.occurred_at < {to}{centre}",
        first = first_in_cell(p, group_by),
        new = is_new(p, group_by),
        from = p.from(),
        to = p.to(),
        centre = p.facts_centre_filter("f.centre_id"),
    )
}

/// 1 when the consultation is its person's first in the row: none of theirs came before it in
/// the period, in the row's month or week when the report is broken down by one, or in its age
/// band (a person's band only ever moves up). Right for rows of dimensions that are the
/// person's own ([`by_person_only`]); every anonymous consultation is a first.
fn first_in_cell(p: Params, group_by: &[GroupBy]) -> String {
    let mut earlier = format!("f.previous_at IS NULL OR f.previous_at < {}", p.from());
    if group_by.contains(&GroupBy::Month) {
        let start = p.d.month_start("f.occurred_at");
        earlier.push_str(&format!(" OR f.previous_at < {start}"));
    }
    if group_by.contains(&GroupBy::Week) {
        let start = p.d.week_start("f.occurred_at");
        earlier.push_str(&format!(" OR f.previous_at < {start}"));
    }
    if group_by.contains(&GroupBy::AgeBand) {
        earlier.push_str(" OR f.band_changed = 1");
    }
    format!("CASE WHEN {earlier} THEN 1 ELSE 0 END AS first")
}

/// Whether every dimension is one of the person's own (or of time): then a person's rows of a
/// cell are counted once by their first, with no grouping by person.
fn by_person_only(group_by: &[GroupBy]) -> bool {
    group_by.iter().all(|dim| {
        matches!(
            dim,
            GroupBy::Month
                | GroupBy::Week
                | GroupBy::Sex
                | GroupBy::AgeBand
                | GroupBy::Nationality
                | GroupBy::MigrationStatus
                | GroupBy::DestinationCountry
        )
    })
}

/// 1 when the consultation's person is new: first consulted (ever) in the period, and in the
/// row's month or week when the report is broken down by one. Anonymous consultations (no
/// first consultation) are 0 here and counted as new people separately.
fn is_new(p: Params, group_by: &[GroupBy]) -> String {
    let mut new = format!("f.first_consulted_at >= {}", p.from());
    for dim in [GroupBy::Month, GroupBy::Week] {
        if group_by.contains(&dim) {
            let bin = |at| match dim {
                GroupBy::Month => p.d.month(at),
                _ => p.d.week(at),
            };
            let (visit, first) = (bin("f.occurred_at"), bin("f.first_consulted_at"));
            new.push_str(&format!(" AND {visit} = {first}"));
        }
    }
    format!("CASE WHEN {new} THEN 1 ELSE 0 END AS is_new")
}

/// `base` with each requested dimension computed (`g0`, ...; the labels `l0`, ... are named
/// once grouped, see [`labelled`]).
fn facts(p: Params, group_by: &[GroupBy]) -> String {
    let columns: String = group_by
        .iter()
        .enumerate()
        .map(|(i, dim)| format!(", {} AS g{i}, NULL AS l{i}", dimension(p.d, *dim)))
        .collect();
    format!(
        "SELECT migrant_id, topics, excluded, first, is_new{columns} FROM ({base}) AS base",
        base = base(p, group_by)
    )
}

/// Anonymous consultations of a group: each is one (new) person.
const ANONYMOUS: &str = "COALESCE(SUM(CASE WHEN migrant_id IS NULL THEN n END), 0)";

/// The counts of a grouped line, from its `cells`.
fn cell_counts() -> String {
    format!(
        "CAST(COALESCE(SUM(n), 0) AS BIGINT) AS consultations, \
         CAST(COUNT(migrant_id) + {ANONYMOUS} AS BIGINT) AS people, \
         CAST(COALESCE(SUM(CASE WHEN migrant_id IS NOT NULL THEN new END), 0) + {ANONYMOUS} \
         AS BIGINT) AS new_people"
    )
}

/// The counts of a line: every consultation, and the consenting people, each counted once by
/// their first consultation in the line.
const FIRST_COUNTS: &str = "CAST(COUNT(*) AS BIGINT) AS consultations, \
     CAST(COALESCE(SUM(CASE WHEN excluded = 0 THEN first END), 0) AS BIGINT) AS people, \
     CAST(COALESCE(SUM(CASE WHEN excluded = 0 AND (migrant_id IS NULL OR is_new = 1) \
     THEN first END), 0) AS BIGINT) AS new_people";

/// The total line: every consultation, but only consenting people.
fn total(p: Params) -> String {
    let nothing = ["NULL"; MAX_GROUPS * 2].join(", ");
    format!(
        "SELECT {nothing}, 1 AS total, CAST(COALESCE(SUM(excluded), 0) AS BIGINT) AS left_out, \
         {FIRST_COUNTS} FROM ({base}) AS f",
        base = base(p, &[]),
    )
}

/// The grouped lines when every dimension is the person's own: one pass, no grouping by person.
fn lines_by_first(p: Params, group_by: &[GroupBy]) -> String {
    let (select, keys) = sql::group_keys(group_by.len());
    format!(
        "SELECT {select}, 0 AS total, 0 AS left_out, {FIRST_COUNTS} FROM ({facts}) f \
         WHERE f.excluded = 0 GROUP BY {keys}",
        facts = facts(p, group_by),
    )
}

/// The grouped lines in two steps otherwise: one line per group and person (`cells`), then
/// the groups. Both backends group far faster than they count distinct values.
fn lines_by_person(p: Params, group_by: &[GroupBy]) -> String {
    let (labelled, joins) = labelled(group_by);
    format!(
        "SELECT {labelled}, 0 AS total, 0 AS left_out, consultations, people, new_people \
         FROM (SELECT g0, g1, g2, {counts} FROM ({cells}) AS cells GROUP BY g0, g1, g2) x{joins}",
        counts = cell_counts(),
        cells = cells(p, group_by),
    )
}

/// The dimensions of grouped lines `x` with their labels (the names of centres and counsellors,
/// looked up for the few lines rather than carried through every row), and the joins that
/// look them up.
fn labelled(group_by: &[GroupBy]) -> (String, String) {
    let mut select = Vec::new();
    let mut joins = String::new();
    for i in 0..MAX_GROUPS {
        let label = match group_by.get(i) {
            Some(GroupBy::Centre) => {
                joins.push_str(&format!(" LEFT JOIN centres n{i} ON n{i}.id = x.g{i}"));
                format!("n{i}.name")
            }
            Some(GroupBy::Counsellor) => {
                joins.push_str(&format!(" LEFT JOIN users n{i} ON n{i}.id = x.g{i}"));
                format!("n{i}.full_name")
            }
            _ => "NULL".to_owned(),
        };
        select.push(format!("x.g{i} AS g{i}, {label} AS l{i}"));
    }
    (select.join(", "), joins)
}

/// One line per group and person over the consenting records: their consultations (`n`) and
/// whether they are new in it.
fn cells(p: Params, group_by: &[GroupBy]) -> String {
    if group_by.contains(&GroupBy::Topic) {
        return topic_cells(p, group_by);
    }
    let (select, keys) = sql::group_keys(group_by.len());
    format!(
        "SELECT {select}, f.migrant_id, COUNT(*) AS n, MAX(f.is_new) AS new \
         FROM ({facts}) f WHERE f.excluded = 0 GROUP BY {keys}, f.migrant_id",
        facts = facts(p, group_by),
    )
}

/// [`cells`] by topic: a consultation counts in the line of each of its topics. People are
/// grouped with their consultations of each topic counted side by side, and only then spread
/// over one line per topic: grouping by person and topic at once would group each consultation
/// once per topic.
fn topic_cells(p: Params, group_by: &[GroupBy]) -> String {
    let mut spread = Vec::new();
    let mut keys = Vec::new();
    for i in 0..MAX_GROUPS {
        match group_by.get(i) {
            Some(GroupBy::Topic) => spread.push(format!("t.topic AS g{i}, NULL AS l{i}")),
            Some(_) => {
                spread.push(format!("per.g{i} AS g{i}, per.l{i} AS l{i}"));
                keys.push(format!("f.g{i}, f.l{i}"));
            }
            None => spread.push(format!("NULL AS g{i}, NULL AS l{i}")),
        }
    }
    let bits: Vec<i32> = Topic::ALL.iter().map(|t| facts::topic_bit(*t)).collect();
    let per_topic: String = bits
        .iter()
        .map(|b| format!(", SUM(CASE WHEN (f.topics & {b}) <> 0 THEN 1 ELSE 0 END) AS t{b}"))
        .collect();
    let of_topic: String = bits
        .iter()
        .map(|b| format!(" WHEN {b} THEN per.t{b}"))
        .collect();
    let groups: String = keys.iter().map(|k| format!("{k}, ")).collect();
    format!(
        "SELECT * FROM (SELECT {spread}, per.migrant_id, CASE t.bit{of_topic} END AS n, \
         per.new FROM (SELECT {groups}f.migrant_id, MAX(f.is_new) AS new{per_topic} \
         FROM ({facts}) f WHERE f.excluded = 0 GROUP BY {groups}f.migrant_id) per \
         CROSS JOIN ({topics}) t) spread WHERE n > 0",
        spread = spread.join(", "),
        facts = facts(p, group_by),
        topics = facts::topic_table(),
    )
}

/// The whole statement: the grouped lines, then the total line.
fn statement(p: Params, group_by: &[GroupBy]) -> String {
    let lines = if by_person_only(group_by) {
        lines_by_first(p, group_by)
    } else {
        lines_by_person(p, group_by)
    };
    format!("{lines} UNION ALL {total}", total = total(p))
}

/// The consultations report.
pub struct Consultations;

impl Kind for Consultations {
    type Dim = GroupBy;
    type Line = Line;
    type Row = ConsultationsRow;
    type Counts = Counts;
    type Report = ConsultationsReport;
    const NAME: &'static str = "consultations";
    const COUNTS: &'static [&'static str] = &["consultations", "people", "new_people"];

    fn load(
        conn: &mut DbConnection,
        period: &Period<GroupBy>,
        centre: Option<&str>,
    ) -> Result<Vec<Line>, ApiError> {
        let needs = Needs {
            clock: false,
            hashing: true,
        };
        sql::run(conn, period, centre, needs, |p| {
            statement(p, &period.group_by)
        })
    }

    fn tallies(line: &Line) -> (i64, i64) {
        (line.people, line.consultations)
    }

    fn counts(line: &Line, hidden: bool) -> Counts {
        Counts {
            consultations: shown(hidden, line.consultations),
            people: shown(hidden, line.people),
            new_people: shown(hidden, line.new_people),
            suppressed: hidden,
        }
    }

    fn row(counts: Counts) -> ConsultationsRow {
        ConsultationsRow {
            counts,
            ..Default::default()
        }
    }

    fn set(
        row: &mut ConsultationsRow,
        dim: GroupBy,
        value: Option<&str>,
        label: Option<&str>,
    ) -> Result<(), ApiError> {
        let text = value.map(str::to_owned);
        match dim {
            GroupBy::Month => row.month = text,
            GroupBy::Week => row.week = value.map(iso_week).transpose()?,
            GroupBy::Centre => {
                row.centre = text;
                row.centre_name = label.map(str::to_owned);
            }
            GroupBy::Counsellor => {
                row.counsellor = text;
                row.counsellor_name = label.map(str::to_owned);
            }
            GroupBy::Channel => row.channel = value.map(stored).transpose()?,
            GroupBy::Topic => row.topic = value.map(stored).transpose()?,
            GroupBy::Sex => row.sex = value.map(stored).transpose()?,
            GroupBy::AgeBand => row.age_band = Some(value.map(stored).transpose()?),
            GroupBy::Nationality => row.nationality = text,
            GroupBy::MigrationStatus => row.migration_status = value.map(stored).transpose()?,
            GroupBy::DestinationCountry => row.destination_country = Some(text),
        }
        Ok(())
    }

    fn report(built: Built<Self>) -> ConsultationsReport {
        ConsultationsReport {
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

/// `2026-W02` from the Monday that starts the week.
fn iso_week(monday: &str) -> Result<String, ApiError> {
    let day = NaiveDate::parse_from_str(monday, "%Y-%m-%d").map_err(ApiError::internal)?;
    let week = day.iso_week();
    Ok(format!("{}-W{:02}", week.year(), week.week()))
}

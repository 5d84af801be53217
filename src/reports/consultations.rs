//! The consultations report: its dimensions and rows, and its one aggregate statement.

use chrono::{Datelike, NaiveDate};
use diesel::prelude::*;
use diesel::sql_types::BigInt;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::facts;
use super::model::{shown, stored, Period, MAX_GROUPS};
use super::report::{Built, Kind};
use super::sql::{self, Dialect, HasKeys, Keys, Params};
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
/// for want of consent and whether their person is new, and only when asked for, the centre's
/// and counsellor's names.
fn base(p: Params, group_by: &[GroupBy]) -> String {
    let mut extra = String::new();
    let mut joins = String::new();
    if group_by.contains(&GroupBy::Centre) {
        extra.push_str(", ce.name AS centre_name");
        joins.push_str(&format!(
            " JOIN centres ce ON {} = f.centre_id",
            p.d.id("ce.id")
        ));
    }
    if group_by.contains(&GroupBy::Counsellor) {
        extra.push_str(", u.full_name AS counsellor_name");
        joins.push_str(&format!(
            " JOIN users u ON {} = f.counsellor_id",
            p.d.id("u.id")
        ));
    }
    format!(
        "SELECT f.migrant_id, f.occurred_at, f.centre_id, f.counsellor_id, f.channel, f.sex, \
         f.nationality, f.migration_status, f.destination_country, f.age_band, f.topics, \
         1 - f.counted AS excluded, {new}{extra} \
         FROM consultation_facts f{joins} \
         WHERE f.occurred_at >= {from} AND f.occurred_at < {to}{centre}",
        new = is_new(p, group_by),
        from = p.from(),
        to = p.to(),
        centre = p.facts_centre_filter("f.centre_id"),
    )
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

/// `base` with each requested dimension computed (`g0`, `l0`, ...).
fn facts(p: Params, group_by: &[GroupBy]) -> String {
    let columns = sql::group_columns(group_by, |dim| dimension(p.d, dim));
    format!(
        "SELECT migrant_id, topics, excluded, is_new{columns} FROM ({base}) AS base",
        base = base(p, group_by)
    )
}

/// Anonymous consultations of a group: each is one (new) person.
const ANONYMOUS: &str = "COALESCE(SUM(CASE WHEN migrant_id IS NULL THEN n END), 0)";

/// The counts of a grouped line, from its `cells`.
fn row_counts() -> String {
    format!(
        "CAST(COALESCE(SUM(n), 0) AS BIGINT) AS consultations, \
         CAST(COUNT(migrant_id) + {ANONYMOUS} AS BIGINT) AS people, \
         CAST(COALESCE(SUM(CASE WHEN migrant_id IS NOT NULL THEN new END), 0) + {ANONYMOUS} \
         AS BIGINT) AS new_people"
    )
}

/// The counts of the total line, from `people`: every consultation, but only consenting people.
fn total_counts() -> String {
    format!(
        "CAST(COALESCE(SUM(excluded * n), 0) AS BIGINT) AS left_out, \
         CAST(COALESCE(SUM(n), 0) AS BIGINT) AS consultations, \
         CAST(COUNT(CASE WHEN excluded = 0 THEN migrant_id END) + {ANONYMOUS} AS BIGINT) AS people, \
         CAST(COALESCE(SUM(CASE WHEN excluded = 0 AND migrant_id IS NOT NULL THEN new END), 0) \
         + {ANONYMOUS} AS BIGINT) AS new_people"
    )
}

/// One line per group and person over the consenting records (topics joined when asked for,
/// so a consultation counts in each of its topics).
fn cells(p: Params, group_by: &[GroupBy]) -> String {
    let mut select = Vec::new();
    let mut keys = Vec::new();
    for i in 0..MAX_GROUPS {
        match group_by.get(i) {
            Some(GroupBy::Topic) => {
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
    let topics = if group_by.contains(&GroupBy::Topic) {
        format!(
            " JOIN ({}) t ON (f.topics & t.bit) <> 0",
            facts::topic_table()
        )
    } else {
        String::new()
    };
    keys.push("f.migrant_id".to_owned());
    format!(
        "SELECT {select}, f.migrant_id, COUNT(*) AS n, MAX(f.is_new) AS new \
         FROM ({facts}) f{topics} WHERE f.excluded = 0 GROUP BY {keys}",
        select = select.join(", "),
        facts = facts(p, group_by),
        keys = keys.join(", "),
    )
}

/// One line per person (and one for the anonymous consultations) for the total, grouped in the
/// order of the facts' person index so that SQLite does not sort the period's facts.
fn people(p: Params) -> String {
    format!(
        "SELECT f.migrant_id, 1 - f.counted AS excluded, COUNT(*) AS n, \
         MAX(CASE WHEN f.first_consulted_at >= {from} THEN 1 ELSE 0 END) AS new \
         FROM consultation_facts f{by_person} \
         WHERE f.occurred_at >= {from} AND f.occurred_at < {to}{centre} \
         GROUP BY f.migrant_id, f.counted",
        by_person = p.d.use_index("consultation_facts_person_idx"),
        from = p.from(),
        to = p.to(),
        centre = p.facts_centre_filter("f.centre_id"),
    )
}

/// The whole statement. People are counted in two steps, grouping by person first, because
/// both backends group far faster than they count distinct values: the grouped lines from
/// `cells`, then the total line from `people`, which counts each consultation and person once.
/// Each reads the facts itself, so that neither waits for the other's rows to be written out
/// (PostgreSQL runs the two side by side).
fn statement(p: Params, group_by: &[GroupBy]) -> String {
    let groups = "g0, l0, g1, l1, g2, l2";
    let nothing = ["NULL"; MAX_GROUPS * 2].join(", ");
    format!(
        "WITH cells AS ({cells}), people AS ({people}) \
         SELECT {groups}, 0 AS total, 0 AS left_out, {rows} FROM cells GROUP BY {groups} \
         UNION ALL SELECT {nothing}, 1 AS total, {total} FROM people",
        cells = cells(p, group_by),
        people = people(p),
        rows = row_counts(),
        total = total_counts(),
    )
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
        sql::run(conn, period, centre, false, |p| {
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

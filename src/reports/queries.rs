//! The consultations report as one aggregate statement, the same on both backends except for
//! the few date functions SQL does not standardise ([`Dialect`]).

use chrono::NaiveDate;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Integer, Nullable, Text, Timestamp};

use super::model::{GroupBy, MAX_GROUPS};
use crate::db::{DbConnection, MultiBackend};
use crate::error::ApiError;

/// One line of the statement's result: up to three dimension values with their labels, and the
/// counts. `total` marks the line that counts each consultation once.
#[derive(Debug, QueryableByName)]
pub struct Line {
    #[diesel(sql_type = Nullable<Text>)]
    pub g0: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    pub l0: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    pub g1: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    pub l1: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    pub g2: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    pub l2: Option<String>,
    #[diesel(sql_type = BigInt)]
    pub consultations: i64,
    #[diesel(sql_type = BigInt)]
    pub people: i64,
    #[diesel(sql_type = BigInt)]
    pub new_people: i64,
    #[diesel(sql_type = Integer)]
    pub total: i32,
}

impl Line {
    /// The dimension values and labels, in `group_by` order.
    pub fn groups(&self) -> [(Option<&str>, Option<&str>); MAX_GROUPS] {
        [
            (self.g0.as_deref(), self.l0.as_deref()),
            (self.g1.as_deref(), self.l1.as_deref()),
            (self.g2.as_deref(), self.l2.as_deref()),
        ]
    }
}

/// Date functions differ between the backends; everything else in the statement is shared.
#[derive(Clone, Copy)]
enum Dialect {
    Postgres,
    Sqlite,
}

impl Dialect {
    fn of(conn: &DbConnection) -> Self {
        match conn {
            DbConnection::Postgresql(_) => Self::Postgres,
            DbConnection::Sqlite(_) => Self::Sqlite,
        }
    }

    /// Bind parameter `n` (1-based), reusable within the statement.
    fn param(self, n: usize) -> String {
        match self {
            Self::Postgres => format!("${n}"),
            Self::Sqlite => format!("?{n}"),
        }
    }

    /// `YYYY-MM` of a timestamp.
    fn month(self, at: &str) -> String {
        match self {
            Self::Postgres => format!("to_char({at}, 'YYYY-MM')"),
            Self::Sqlite => format!("strftime('%Y-%m', {at})"),
        }
    }

    /// The Monday starting a timestamp's week, `YYYY-MM-DD`.
    fn week(self, at: &str) -> String {
        match self {
            Self::Postgres => format!("to_char(date_trunc('week', {at}), 'YYYY-MM-DD')"),
            Self::Sqlite => format!("date({at}, '-6 days', 'weekday 1')"),
        }
    }

    /// A date or timestamp as the integer YYYYMMDD: the difference of two, divided by 10000,
    /// is the number of whole years between them.
    fn ymd(self, at: &str) -> String {
        match self {
            Self::Postgres => format!(
                "CAST(EXTRACT(YEAR FROM {at}) * 10000 + EXTRACT(MONTH FROM {at}) * 100 \
                 + EXTRACT(DAY FROM {at}) AS INTEGER)"
            ),
            Self::Sqlite => format!("CAST(strftime('%Y%m%d', {at}) AS INTEGER)"),
        }
    }
}

/// The expression of a dimension over the `base` columns, and of its label if it has one.
fn dimension(d: Dialect, dim: GroupBy) -> (String, Option<&'static str>) {
    let value = match dim {
        GroupBy::Month => d.month("occurred_at"),
        GroupBy::Week => d.week("occurred_at"),
        GroupBy::Centre => "centre_id".into(),
        GroupBy::Counsellor => "counsellor_id".into(),
        GroupBy::Channel => "channel".into(),
        GroupBy::Sex => "sex".into(),
        GroupBy::Nationality => "nationality".into(),
        GroupBy::MigrationStatus => "migration_status".into(),
        GroupBy::DestinationCountry => "destination_country".into(),
        GroupBy::AgeBand => "CASE WHEN migrant_id IS NULL THEN anonymous_age_band \
             WHEN age IS NULL THEN NULL WHEN age < 18 THEN '0-17' WHEN age < 25 THEN '18-24' \
             WHEN age < 35 THEN '25-34' WHEN age < 50 THEN '35-49' ELSE '50+' END"
            .into(),
        // Joined in the outer query, one row per topic.
        GroupBy::Topic => "NULL".into(),
    };
    let label = match dim {
        GroupBy::Centre => Some("centre_name"),
        GroupBy::Counsellor => Some("counsellor_name"),
        _ => None,
    };
    (value, label)
}

/// One row per consultation of the period (and centre), with what the requested dimensions
/// need: the person's attributes (registered or anonymous), and only when asked for, their age
/// at the consultation and the centre's and counsellor's names.
fn base(d: Dialect, group_by: &[GroupBy], scoped: bool) -> String {
    let mut extra = String::new();
    let mut joins = String::new();
    if group_by.contains(&GroupBy::AgeBand) {
        let (occurred, born) = (d.ymd("c.occurred_at"), d.ymd("m.date_of_birth"));
        extra.push_str(&format!(
            ", CASE WHEN m.date_of_birth IS NOT NULL THEN ({occurred} - {born}) / 10000 \
             ELSE {occurred} / 10000 - m.birth_year END AS age"
        ));
    }
    if group_by.contains(&GroupBy::Centre) {
        extra.push_str(", ce.name AS centre_name");
        joins.push_str(" JOIN centres ce ON ce.id = c.centre_id");
    }
    if group_by.contains(&GroupBy::Counsellor) {
        extra.push_str(", u.full_name AS counsellor_name");
        joins.push_str(" JOIN users u ON u.id = c.counsellor_id");
    }
    let centre = if scoped {
        format!(" AND c.centre_id = {}", d.param(3))
    } else {
        String::new()
    };
    format!(
        "SELECT c.id AS consultation_id, c.migrant_id, c.occurred_at, c.centre_id, \
         c.counsellor_id, c.channel, c.anonymous_age_band, \
         COALESCE(m.sex, c.anonymous_sex) AS sex, \
         COALESCE(m.nationality, c.anonymous_nationality) AS nationality, \
         COALESCE(m.migration_status, c.anonymous_migration_status) AS migration_status, \
         m.destination_country{extra} \
         FROM consultations c LEFT JOIN migrants m ON m.id = c.migrant_id{joins} \
         WHERE c.occurred_at >= {from} AND c.occurred_at < {to}{centre}",
        from = d.param(1),
        to = d.param(2),
    )
}

/// When each registered person of the period was first consulted ever: one index lookup per
/// person, not per consultation.
const FIRSTS: &str = "SELECT p.migrant_id AS first_of, \
     (SELECT MIN(e.occurred_at) FROM consultations e WHERE e.migrant_id = p.migrant_id) \
     AS first_at \
     FROM (SELECT DISTINCT migrant_id FROM base WHERE migrant_id IS NOT NULL) p";

/// `base` with each requested dimension computed (`g0`, `l0`, ...) and whether the row's
/// person is new: first consulted in the period, and in the row's month or week when the
/// report is broken down by one.
fn facts(d: Dialect, group_by: &[GroupBy]) -> String {
    let mut columns = String::new();
    for (i, dim) in group_by.iter().enumerate() {
        let (value, label) = dimension(d, *dim);
        columns.push_str(&format!(
            ", {value} AS g{i}, {} AS l{i}",
            label.unwrap_or("NULL")
        ));
    }
    // A membership test rather than a join: both backends index the subquery's result.
    let (mut person, mut first) = ("migrant_id".to_owned(), "first_of".to_owned());
    for dim in [GroupBy::Month, GroupBy::Week] {
        if group_by.contains(&dim) {
            let bin = |at| match dim {
                GroupBy::Month => d.month(at),
                _ => d.week(at),
            };
            person.push_str(&format!(", {}", bin("occurred_at")));
            first.push_str(&format!(", {}", bin("first_at")));
        }
    }
    let new = format!(
        "({person}) IN (SELECT {first} FROM firsts WHERE first_at >= {})",
        d.param(1)
    );
    format!(
        "SELECT consultation_id, migrant_id, \
         CASE WHEN migrant_id IS NULL THEN 1 ELSE 0 END AS anonymous, \
         CASE WHEN migrant_id IS NOT NULL AND {new} THEN 1 ELSE 0 END AS is_new{columns} \
         FROM base"
    )
}

const COUNTS: &str = "COUNT(*) AS consultations, \
     COUNT(DISTINCT f.migrant_id) + COALESCE(SUM(f.anonymous), 0) AS people, \
     COUNT(DISTINCT CASE WHEN f.is_new = 1 THEN f.migrant_id END) \
     + COALESCE(SUM(f.anonymous), 0) AS new_people";

/// The whole statement: the grouped lines (topics joined when asked for, so a consultation
/// counts in each of its topics), then the total line, which counts each consultation once.
fn statement(d: Dialect, group_by: &[GroupBy], scoped: bool) -> String {
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
        " JOIN consultation_topics t ON t.consultation_id = f.consultation_id"
    } else {
        ""
    };
    let nothing = ["NULL"; MAX_GROUPS * 2].join(", ");
    format!(
        "WITH base AS ({base}), firsts AS ({FIRSTS}), facts AS ({facts}) \
         SELECT {select}, {COUNTS}, 0 AS total FROM facts f{topics} GROUP BY {keys} \
         UNION ALL SELECT {nothing}, {COUNTS}, 1 AS total FROM facts f",
        base = base(d, group_by, scoped),
        facts = facts(d, group_by),
        select = select.join(", "),
        keys = keys.join(", "),
    )
}

/// Runs the report: grouped lines, and the total line last.
pub fn consultations_report(
    conn: &mut DbConnection,
    from: NaiveDate,
    to: NaiveDate,
    group_by: &[GroupBy],
    centre: Option<&str>,
) -> Result<Vec<Line>, ApiError> {
    let d = Dialect::of(conn);
    let midnight = |day: NaiveDate| day.and_hms_opt(0, 0, 0).unwrap_or_default();
    let mut query = diesel::sql_query(statement(d, group_by, centre.is_some()))
        .into_boxed::<MultiBackend>()
        .bind::<Timestamp, _>(midnight(from))
        .bind::<Timestamp, _>(midnight(to));
    if let Some(centre) = centre {
        query = query.bind::<Text, _>(centre.to_owned());
    }
    let mut lines: Vec<Line> = query.load(conn)?;
    lines.sort_by_key(|line| line.total);
    Ok(lines)
}

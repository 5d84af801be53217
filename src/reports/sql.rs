//! What every report's statement shares: the few functions SQL does not standardise
//! ([`Dialect`]), the bind parameters, the grouping columns, the consent rule and age bands.

use chrono::{NaiveDate, NaiveDateTime};
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Integer, Nullable, Text, Timestamp};

use super::model::{Dimension, Period, MAX_GROUPS};
use crate::db::{DbConnection, MultiBackend};
use crate::error::ApiError;

/// Date functions differ between the backends; everything else in a statement is shared.
#[derive(Clone, Copy)]
pub enum Dialect {
    Postgres,
    Sqlite,
}

impl Dialect {
    pub fn of(conn: &DbConnection) -> Self {
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
    pub fn month(self, at: &str) -> String {
        match self {
            Self::Postgres => format!("to_char({at}, 'YYYY-MM')"),
            Self::Sqlite => format!("strftime('%Y-%m', {at})"),
        }
    }

    /// The first instant of a timestamp's month, to compare timestamps with.
    pub fn month_start(self, at: &str) -> String {
        match self {
            Self::Postgres => format!("date_trunc('month', {at})"),
            Self::Sqlite => format!("strftime('%Y-%m-01', {at})"),
        }
    }

    /// The first instant of a timestamp's week (Monday), to compare timestamps with.
    pub fn week_start(self, at: &str) -> String {
        match self {
            Self::Postgres => format!("date_trunc('week', {at})"),
            Self::Sqlite => self.week(at),
        }
    }

    /// The Monday starting a timestamp's week, `YYYY-MM-DD`.
    pub fn week(self, at: &str) -> String {
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

    /// An id as `consultation_facts` stores it: uuid on PostgreSQL, text on SQLite.
    pub fn id(self, text: &str) -> String {
        match self {
            Self::Postgres => format!("CAST({text} AS UUID)"),
            Self::Sqlite => text.to_owned(),
        }
    }

    /// A `consultation_facts` id as text.
    pub fn id_text(self, id: &str) -> String {
        match self {
            Self::Postgres => format!("CAST({id} AS TEXT)"),
            Self::Sqlite => id.to_owned(),
        }
    }

    /// Days (with their fraction) from one timestamp to a later one.
    pub fn days_between(self, earlier: &str, later: &str) -> String {
        match self {
            Self::Postgres => format!(
                "CAST(EXTRACT(EPOCH FROM ({later} - {earlier})) AS DOUBLE PRECISION) / 86400"
            ),
            Self::Sqlite => format!("(julianday({later}) - julianday({earlier}))"),
        }
    }
}

/// The bind parameters of a statement: the period, then (for reports that say what is overdue
/// now) the clock, then the centre when the report covers one. SQLite refuses a bound parameter
/// the statement does not name, so each is numbered only when used.
#[derive(Clone, Copy)]
pub struct Params {
    pub d: Dialect,
    clock: bool,
    pub scoped: bool,
}

impl Params {
    pub fn from(self) -> String {
        self.d.param(1)
    }

    pub fn to(self) -> String {
        self.d.param(2)
    }

    /// The current time (reports with a clock only).
    pub fn now(self) -> String {
        self.d.param(3)
    }

    /// Today's date (reports with a clock only).
    pub fn today(self) -> String {
        match self.d {
            Dialect::Postgres => format!("CAST({} AS DATE)", self.now()),
            Dialect::Sqlite => format!("date({})", self.now()),
        }
    }

    /// ` AND <column> = <centre>` when the report covers one centre.
    pub fn centre_filter(self, column: &str) -> String {
        self.centre_filter_as(column, |centre| centre)
    }

    /// [`Params::centre_filter`] on a `consultation_facts` id column.
    pub fn facts_centre_filter(self, column: &str) -> String {
        self.centre_filter_as(column, |centre| self.d.id(&centre))
    }

    /// ` AND <column> = <the centre parameter, as `stored` writes it>`, or nothing.
    fn centre_filter_as(self, column: &str, stored: impl Fn(String) -> String) -> String {
        if !self.scoped {
            return String::new();
        }
        let n = if self.clock { 4 } else { 3 };
        format!(" AND {column} = {}", stored(self.d.param(n)))
    }
}

/// The grouping part of a result line: up to three dimension values with their labels, whether
/// it is the total line, and (on the total line) how many records were left out of the rows
/// because their person did not consent to statistics.
#[derive(Debug, QueryableByName)]
pub struct Keys {
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
    #[diesel(sql_type = Integer)]
    pub total: i32,
    #[diesel(sql_type = BigInt)]
    pub left_out: i64,
}

impl Keys {
    /// The dimension values and labels, in `group_by` order.
    pub fn groups(&self) -> [(Option<&str>, Option<&str>); MAX_GROUPS] {
        [
            (self.g0.as_deref(), self.l0.as_deref()),
            (self.g1.as_deref(), self.l1.as_deref()),
            (self.g2.as_deref(), self.l2.as_deref()),
        ]
    }
}

/// 1 when the record's registered person has not currently given consent to statistics (never
/// given, or withdrawn since): such records are left out of every row. Anonymous records
/// (no `m`) are never left out.
pub const EXCLUDED: &str = "CASE WHEN m.id IS NOT NULL AND NOT \
     (m.consent_statistics_given_at IS NOT NULL AND m.consent_statistics_withdrawn_at IS NULL) \
     THEN 1 ELSE 0 END AS excluded";

/// The person's age in whole years at `at`: from the birth date, else the age reached that
/// birth year.
pub fn age(d: Dialect, at: &str) -> String {
    let (on, born) = (d.ymd(at), d.ymd("m.date_of_birth"));
    format!(
        "CASE WHEN m.date_of_birth IS NOT NULL THEN ({on} - {born}) / 10000 \
         ELSE {on} / 10000 - m.birth_year END AS age"
    )
}

/// The age band of the `age` column.
pub const AGE_BAND: &str = "CASE WHEN age IS NULL THEN NULL WHEN age < 18 THEN '0-17' \
     WHEN age < 25 THEN '18-24' WHEN age < 35 THEN '25-34' WHEN age < 50 THEN '35-49' \
     ELSE '50+' END";

/// The requested dimensions as columns `g0`, `l0`, ... of a select list (leading comma), from
/// each dimension's expression and label column.
pub fn group_columns<D: Dimension>(group_by: &[D], dimension: impl Fn(D) -> String) -> String {
    let mut columns = String::new();
    for (i, dim) in group_by.iter().enumerate() {
        columns.push_str(&format!(
            ", {} AS g{i}, {} AS l{i}",
            dimension(*dim),
            dim.label().unwrap_or("NULL")
        ));
    }
    columns
}

/// A report of records already reduced to one line each in `facts` (with `g0`.. and
/// `excluded`): the grouped lines over the consenting records, then the total line.
/// `rows` are the count columns for a grouped line; `total` the same for the total line.
pub fn grouped(with: &str, groups: usize, rows: &str, total: &str) -> String {
    let (select, keys) = group_keys(groups);
    let nothing = ["NULL"; MAX_GROUPS * 2].join(", ");
    format!(
        "WITH {with} SELECT {select}, 0 AS total, 0 AS left_out, {rows} FROM facts f \
         WHERE f.excluded = 0 GROUP BY {keys} \
         UNION ALL SELECT {nothing}, 1 AS total, COALESCE(SUM(f.excluded), 0) AS left_out, \
         {total} FROM facts f",
    )
}

/// The `g0, l0, ...` select list over rows `f` carrying the first `groups` dimensions (the
/// others `NULL`), and their grouping keys.
pub fn group_keys(groups: usize) -> (String, String) {
    let mut select = Vec::new();
    let mut keys = Vec::new();
    for i in 0..MAX_GROUPS {
        if i < groups {
            select.push(format!("f.g{i} AS g{i}, f.l{i} AS l{i}"));
            keys.push(format!("f.g{i}, f.l{i}"));
        } else {
            select.push(format!("NULL AS g{i}, NULL AS l{i}"));
        }
    }
    (select.join(", "), keys.join(", "))
}

/// What a report's statement needs beside the period and the centre.
#[derive(Clone, Copy)]
pub struct Needs {
    /// The current time, for what is overdue now.
    pub clock: bool,
    /// Hashing, not sorting, to group hundreds of thousands of rows: PostgreSQL cannot tell how
    /// many groups a computed month or a person's cell makes, expects nearly one per row and
    /// sorts them all, where hashing them is two to three times faster.
    pub hashing: bool,
}

/// Runs a report's statement with its parameters; the total line comes last.
pub fn run<L, D>(
    conn: &mut DbConnection,
    period: &Period<D>,
    centre: Option<&str>,
    needs: Needs,
    statement: impl FnOnce(Params) -> String,
) -> Result<Vec<L>, ApiError>
where
    L: QueryableByName<MultiBackend> + 'static,
    L: HasKeys,
{
    let params = Params {
        d: Dialect::of(conn),
        clock: needs.clock,
        scoped: centre.is_some(),
    };
    let midnight = |day: NaiveDate| day.and_hms_opt(0, 0, 0).unwrap_or_default();
    let mut query = diesel::sql_query(statement(params))
        .into_boxed::<MultiBackend>()
        .bind::<Timestamp, _>(midnight(period.from))
        .bind::<Timestamp, _>(midnight(period.to));
    if needs.clock {
        let now: NaiveDateTime = crate::time::now();
        query = query.bind::<Timestamp, _>(now);
    }
    if let Some(centre) = centre {
        query = query.bind::<Text, _>(centre.to_owned());
    }
    let mut lines: Vec<L> = match params.d {
        // A report groups hundreds of thousands of rows: with the default 4 MB of sort and
        // hash memory PostgreSQL spills them to disk (a fifth of the time over a year).
        Dialect::Postgres => conn.transaction(|conn| {
            diesel::sql_query("SET LOCAL work_mem = '64MB'").execute(conn)?;
            if needs.hashing {
                diesel::sql_query("SET LOCAL enable_sort = off").execute(conn)?;
            }
            query.load(conn)
        })?,
        Dialect::Sqlite => query.load(conn)?,
    };
    lines.sort_by_key(|line| line.keys().total);
    Ok(lines)
}

/// A result line of any report.
pub trait HasKeys {
    fn keys(&self) -> &Keys;
}

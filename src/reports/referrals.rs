//! The referrals report: referrals created in the period, what became of them, and how long
//! providers took to answer.

use chrono::NaiveDate;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Double, Nullable};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::model::{shown, stored, Period};
use super::report::{Built, Kind};
use super::sql::{self, age, HasKeys, Keys, Needs, Params, AGE_BAND, EXCLUDED};
use crate::consultations::model::AgeBand;
use crate::db::DbConnection;
use crate::error::ApiError;
use crate::migrants::model::Sex;
use crate::providers::model::ProviderKind;
use crate::referrals::model::{ReferralStatus, Urgency};

crate::text_enum!(
    /// A dimension a referrals report can be broken down by.
    ReferralsGroupBy {
        ProviderKind => "provider_kind",
        Provider => "provider",
        Status => "status",
        Urgency => "urgency",
        Month => "month",
        Centre => "centre",
        Sex => "sex",
        AgeBand => "age_band",
    }
);

crate::report_dimension!(ReferralsGroupBy { Provider => "provider_name", Centre => "centre_name" } counsellor:);

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ReferralsReportQuery {
    /// First day of the period (RFC 3339 full date, UTC), included: referrals created from it.
    #[param(value_type = String, format = Date, example = "2026-01-01")]
    pub from: NaiveDate,
    /// Day after the period (RFC 3339 full date, UTC), excluded. At most five years after
    /// `from`.
    #[param(value_type = String, format = Date, example = "2026-02-01")]
    pub to: NaiveDate,
    /// One to three of `provider_kind`, `provider`, `status`, `urgency`, `month`, `centre`,
    /// `sex`, `age_band`, comma-separated.
    #[param(example = "provider_kind,status")]
    pub group_by: String,
    /// Admins: one centre (default: every centre). Supervisors: their own centre only.
    pub centre_id: Option<String>,
}

/// The numbers of one cell of a referrals report; all `null` when suppressed.
#[derive(Debug, Clone, Default, Serialize, ToSchema)]
pub struct ReferralCounts {
    /// Referrals created in the period. The total counts every one, with those of people who
    /// did not consent to statistics too.
    #[schema(example = 24)]
    pub referrals: Option<i64>,
    /// Distinct people referred.
    #[schema(example = 19)]
    pub people: Option<i64>,
    /// Now completed.
    #[schema(example = 9)]
    pub completed: Option<i64>,
    /// Now declined.
    #[schema(example = 2)]
    pub declined: Option<i64>,
    /// Pending or sent, and past their expected response date today (as on `/caseloads`).
    #[schema(example = 3)]
    pub overdue_now: Option<i64>,
    /// Median days from sent to the provider's first answer (accepted, declined or
    /// completed), over the referrals answered; `null` when none was.
    #[schema(example = 4.5)]
    pub median_days_to_response: Option<f64>,
    /// Hidden by disclosure control (admins' reports only).
    pub suppressed: bool,
}

/// One row: the values of the requested dimensions (the others are absent) and its counts.
#[derive(Debug, Clone, Default, Serialize, ToSchema)]
pub struct ReferralsRow {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub provider_kind: Option<ProviderKind>,
    /// The provider's id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub provider: Option<String>,
    /// The provider's name (with `provider`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub provider_name: Option<String>,
    /// Where the referral stands now.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<ReferralStatus>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub urgency: Option<Urgency>,
    /// `YYYY-MM` the referral was created (UTC).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(example = "2026-01")]
    pub month: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub centre: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub centre_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sex: Option<Sex>,
    /// At the referral's creation; `null` when no birth date or year is recorded.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub age_band: Option<Option<AgeBand>>,
    #[serde(flatten)]
    pub counts: ReferralCounts,
}

/// Referrals created in a period, broken down by up to three dimensions, with the same
/// disclosure control as the consultations report (on `people`).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ReferralsReport {
    #[schema(value_type = String, format = Date)]
    pub from: NaiveDate,
    #[schema(value_type = String, format = Date)]
    pub to: NaiveDate,
    pub group_by: Vec<ReferralsGroupBy>,
    pub centre_id: Option<String>,
    pub disclosure_control: bool,
    /// Ordered by the dimensions' values in `group_by` order (`null` last).
    pub rows: Vec<ReferralsRow>,
    /// Referrals of people who have not (or no longer) given consent to statistics: left out
    /// of `rows` and of every number of `total` but `referrals`; `null` when it is suppressed.
    #[schema(example = 1)]
    pub not_disaggregated: Option<i64>,
    pub total: ReferralCounts,
}

#[derive(Debug, QueryableByName)]
pub struct Line {
    #[diesel(embed)]
    keys: Keys,
    #[diesel(sql_type = BigInt)]
    referrals: i64,
    #[diesel(sql_type = BigInt)]
    people: i64,
    #[diesel(sql_type = BigInt)]
    completed: i64,
    #[diesel(sql_type = BigInt)]
    declined: i64,
    #[diesel(sql_type = BigInt)]
    overdue_now: i64,
    #[diesel(sql_type = Nullable<Double>)]
    median_days: Option<f64>,
}

impl HasKeys for Line {
    fn keys(&self) -> &Keys {
        &self.keys
    }
}

fn dimension(p: Params, dim: ReferralsGroupBy) -> String {
    match dim {
        ReferralsGroupBy::ProviderKind => "provider_kind".into(),
        ReferralsGroupBy::Provider => "provider_id".into(),
        ReferralsGroupBy::Status => "status".into(),
        ReferralsGroupBy::Urgency => "urgency".into(),
        ReferralsGroupBy::Month => p.d.month("created_at"),
        ReferralsGroupBy::Centre => "centre_id".into(),
        ReferralsGroupBy::Sex => "sex".into(),
        ReferralsGroupBy::AgeBand => AGE_BAND.into(),
    }
}

/// A status list for SQL, from the enum.
fn statuses(list: &[ReferralStatus]) -> String {
    let quoted: Vec<String> = list.iter().map(|s| format!("'{}'", s.as_str())).collect();
    quoted.join(", ")
}

/// One row per referral of the period (and centre): its provider, person, outcome flags, and
/// the days from its first move to `sent` to the provider's first answer, both read from its
/// transitions (one index lookup each).
fn base(p: Params) -> String {
    use crate::referrals::queries::WAITING_STATUSES;
    use ReferralStatus::{Accepted, Completed, Declined, Sent};
    let first = |to: &str| {
        format!("(SELECT MIN(t.at) FROM referral_transitions t WHERE t.referral_id = r.id AND t.to_status IN ({to}))")
    };
    let days = p.d.days_between(
        &first(&statuses(&[Sent])),
        &first(&statuses(&[Accepted, Declined, Completed])),
    );
    format!(
        "SELECT r.id, r.migrant_id, r.created_at, r.centre_id, r.status, r.urgency, \
         r.provider_id, sp.kind AS provider_kind, sp.name AS provider_name, \
         ce.name AS centre_name, m.sex, {age}, {EXCLUDED}, \
         CASE WHEN r.status = '{completed}' THEN 1 ELSE 0 END AS completed, \
         CASE WHEN r.status = '{declined}' THEN 1 ELSE 0 END AS declined, \
         CASE WHEN r.status IN ({waiting}) AND r.expected_response_by < {today} \
         THEN 1 ELSE 0 END AS overdue, {days} AS days \
         FROM referrals r JOIN service_providers sp ON sp.id = r.provider_id \
         JOIN centres ce ON ce.id = r.centre_id JOIN migrants m ON m.id = r.migrant_id \
         WHERE r.created_at >= {from} AND r.created_at < {to}{centre}",
        age = age(p.d, "r.created_at"),
        completed = Completed.as_str(),
        declined = Declined.as_str(),
        waiting = statuses(&WAITING_STATUSES),
        today = p.today(),
        from = p.from(),
        to = p.to(),
        centre = p.centre_filter("r.centre_id"),
    )
}

/// `base` with the dimensions, and each referral's rank by days to response within its cell
/// and within the whole report: the median is then an average of the middle one or two, on
/// both backends alike (SQLite has no percentile function).
fn ranked(p: Params, group_by: &[ReferralsGroupBy]) -> String {
    let columns = sql::group_columns(group_by, |dim| dimension(p, dim));
    let keys: String = (0..group_by.len()).map(|i| format!(", g{i}")).collect();
    format!(
        "facts0 AS (SELECT b.*{columns} FROM base b), \
         facts AS (SELECT f.*, \
         ROW_NUMBER() OVER (PARTITION BY excluded{keys}, days IS NULL ORDER BY days) AS rn, \
         COUNT(days) OVER (PARTITION BY excluded{keys}) AS n, \
         ROW_NUMBER() OVER (PARTITION BY excluded, days IS NULL ORDER BY days) AS rn_all, \
         COUNT(days) OVER (PARTITION BY excluded) AS n_all FROM facts0 f)"
    )
}

/// The counts of a line; `keep` selects the records counted beyond `referrals` (the total
/// line keeps only consenting people's).
fn counts(keep: &str, rn: &str, n: &str) -> String {
    format!(
        "COUNT(*) AS referrals, \
         COUNT(DISTINCT CASE WHEN {keep} THEN f.migrant_id END) AS people, \
         COALESCE(SUM(CASE WHEN {keep} THEN f.completed END), 0) AS completed, \
         COALESCE(SUM(CASE WHEN {keep} THEN f.declined END), 0) AS declined, \
         COALESCE(SUM(CASE WHEN {keep} THEN f.overdue END), 0) AS overdue_now, \
         AVG(CASE WHEN {keep} AND f.days IS NOT NULL \
         AND f.{rn} IN ((f.{n} + 1) / 2, (f.{n} + 2) / 2) THEN f.days END) AS median_days"
    )
}

/// The referrals report.
pub struct Referrals;

impl Kind for Referrals {
    type Dim = ReferralsGroupBy;
    type Line = Line;
    type Row = ReferralsRow;
    type Counts = ReferralCounts;
    type Report = ReferralsReport;
    const NAME: &'static str = "referrals";
    const COUNTS: &'static [&'static str] = &[
        "referrals",
        "people",
        "completed",
        "declined",
        "overdue_now",
        "median_days_to_response",
    ];

    fn load(
        conn: &mut DbConnection,
        period: &Period<ReferralsGroupBy>,
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
                // Materialised: inlined, each use of `days` would look the transitions up again.
                let with = format!(
                    "base AS MATERIALIZED ({}), {}",
                    base(p),
                    ranked(p, &period.group_by)
                );
                let rows = counts("1 = 1", "rn", "n");
                let total = counts("f.excluded = 0", "rn_all", "n_all");
                sql::grouped(&with, period.group_by.len(), &rows, &total)
            },
        )
    }

    fn tallies(line: &Line) -> (i64, i64) {
        (line.people, line.referrals)
    }

    fn counts(line: &Line, hidden: bool) -> ReferralCounts {
        ReferralCounts {
            referrals: shown(hidden, line.referrals),
            people: shown(hidden, line.people),
            completed: shown(hidden, line.completed),
            declined: shown(hidden, line.declined),
            overdue_now: shown(hidden, line.overdue_now),
            // Tenths of a day: finer would only suggest a precision the dates do not have.
            median_days_to_response: line
                .median_days
                .filter(|_| !hidden)
                .map(|days| (days * 10.0).round() / 10.0),
            suppressed: hidden,
        }
    }

    fn row(counts: ReferralCounts) -> ReferralsRow {
        ReferralsRow {
            counts,
            ..Default::default()
        }
    }

    fn set(
        row: &mut ReferralsRow,
        dim: ReferralsGroupBy,
        value: Option<&str>,
        label: Option<&str>,
    ) -> Result<(), ApiError> {
        let text = value.map(str::to_owned);
        match dim {
            ReferralsGroupBy::ProviderKind => row.provider_kind = value.map(stored).transpose()?,
            ReferralsGroupBy::Provider => {
                row.provider = text;
                row.provider_name = label.map(str::to_owned);
            }
            ReferralsGroupBy::Status => row.status = value.map(stored).transpose()?,
            ReferralsGroupBy::Urgency => row.urgency = value.map(stored).transpose()?,
            ReferralsGroupBy::Month => row.month = text,
            ReferralsGroupBy::Centre => {
                row.centre = text;
                row.centre_name = label.map(str::to_owned);
            }
            ReferralsGroupBy::Sex => row.sex = value.map(stored).transpose()?,
            ReferralsGroupBy::AgeBand => row.age_band = Some(value.map(stored).transpose()?),
        }
        Ok(())
    }

    fn report(built: Built<Self>) -> ReferralsReport {
        ReferralsReport {
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

//! `karvon retention`: anonymises the people nobody has worked with for a long time (storage
//! limitation). A person qualifies when they have no open case and nothing about them changed
//! since the cut-off: their record, a consultation, a case (its events change it), a referral
//! (its transitions change it) or a follow-up. Each batch is one transaction, and each person
//! in it is anonymised as `POST /migrants/{id}/anonymise` does.

use std::fmt;
use std::str::FromStr;

use chrono::{Months, NaiveDateTime};
use diesel::dsl::{exists, not};
use diesel::prelude::*;
use diesel::sql_types::Bool;

use super::queries::anonymise;
use crate::audit::Event;
use crate::cases::model::CaseStatus;
use crate::db::schema::{
    case_events, cases, consultations, follow_ups, group_session_attendees, group_sessions,
    migrants, referrals,
};
use crate::db::{DbConnection, MultiBackend};
use crate::error::ApiError;

/// The fields an anonymisation erases, as its audit event names them.
pub const ERASED_FIELDS: &[&str] = &[
    "given_name",
    "family_name",
    "patronymic",
    "date_of_birth",
    "region_of_origin",
    "phone",
    "free_text",
];

/// People anonymised per transaction: short transactions, so the service keeps answering.
const BATCH: i64 = 100;

/// How long without activity: `5y`, `18m` or `90d` (years, months, days).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InactiveFor {
    Months(u32),
    Days(u32),
}

impl FromStr for InactiveFor {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        let usage = || format!("`{text}`: give a number and y, m or d, e.g. 5y, 18m, 90d");
        let unit = text.chars().last().ok_or_else(usage)?;
        let number: u32 = text[..text.len() - unit.len_utf8()]
            .parse()
            .map_err(|_| usage())?;
        let period = match unit {
            'y' if number <= 100 => InactiveFor::Months(number * 12),
            'm' if number <= 1200 => InactiveFor::Months(number),
            'd' if number <= 36_500 => InactiveFor::Days(number),
            _ => return Err(usage()),
        };
        if number == 0 {
            return Err(format!("`{text}`: must be longer than nothing"));
        }
        Ok(period)
    }
}

impl fmt::Display for InactiveFor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            InactiveFor::Months(months) if months % 12 == 0 => write!(f, "{}y", months / 12),
            InactiveFor::Months(months) => write!(f, "{months}m"),
            InactiveFor::Days(days) => write!(f, "{days}d"),
        }
    }
}

impl InactiveFor {
    /// The moment activity must predate.
    pub fn cutoff(self, now: NaiveDateTime) -> NaiveDateTime {
        match self {
            InactiveFor::Months(months) => now
                .checked_sub_months(Months::new(months))
                .unwrap_or(NaiveDateTime::MIN),
            InactiveFor::Days(days) => now - chrono::Duration::days(i64::from(days)),
        }
    }
}

/// What a run found and did: counts only, never names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetentionReport {
    /// People inactive since the cut-off (when the run started).
    pub inactive: i64,
    /// People anonymised (0 in a dry run).
    pub anonymised: i64,
}

type Filter = Box<dyn BoxableExpression<migrants::table, MultiBackend, SqlType = Bool>>;

/// Not anonymised, and nothing about them open or changed since `cutoff`.
fn inactive_since(cutoff: NaiveDateTime) -> Filter {
    let their_cases = || cases::table.filter(cases::migrant_id.eq(migrants::id));
    Box::new(
        migrants::anonymised_at
            .is_null()
            .and(migrants::updated_at.lt(cutoff))
            .and(not(exists(
                their_cases().filter(
                    cases::status
                        .eq(CaseStatus::Open)
                        .or(cases::updated_at.ge(cutoff)),
                ),
            )))
            .and(not(exists(
                consultations::table
                    .filter(consultations::migrant_id.eq(migrants::id.nullable()))
                    .filter(
                        consultations::occurred_at
                            .ge(cutoff)
                            .or(consultations::updated_at.ge(cutoff)),
                    ),
            )))
            .and(not(exists(
                referrals::table
                    .filter(referrals::migrant_id.eq(migrants::id))
                    .filter(referrals::updated_at.ge(cutoff)),
            )))
            .and(not(exists(
                case_events::table
                    .filter(case_events::case_id.eq_any(their_cases().select(cases::id)))
                    .filter(case_events::at.ge(cutoff)),
            )))
            .and(not(exists(
                follow_ups::table
                    .filter(follow_ups::case_id.eq_any(their_cases().select(cases::id)))
                    .filter(follow_ups::updated_at.ge(cutoff)),
            )))
            .and(not(exists(
                group_session_attendees::table
                    .inner_join(group_sessions::table)
                    .filter(group_session_attendees::migrant_id.eq(migrants::id))
                    .filter(
                        group_sessions::starts_at
                            .ge(cutoff)
                            .or(group_session_attendees::added_at.ge(cutoff)),
                    ),
            ))),
    )
}

/// Anonymises (or with `dry_run` only counts) everyone inactive for `period`, in batches, and
/// records one `retention.run` audit event with the count (actor: system).
pub fn run(
    conn: &mut DbConnection,
    period: InactiveFor,
    dry_run: bool,
) -> Result<RetentionReport, ApiError> {
    let now = crate::time::now();
    let cutoff = period.cutoff(now);
    let inactive = migrants::table
        .filter(inactive_since(cutoff))
        .count()
        .get_result::<i64>(conn)?;
    let mut report = RetentionReport {
        inactive,
        anonymised: 0,
    };
    if dry_run {
        return Ok(report);
    }
    let mut after = String::new();
    loop {
        let batch =
            crate::db::write_transaction(conn, |conn| anonymise_batch(conn, cutoff, &after))?;
        let Some((last, anonymised)) = batch else {
            break;
        };
        after = last;
        report.anonymised += anonymised;
    }
    let summary = format!(
        "retention: no activity for {period}; {} anonymised",
        report.anonymised
    );
    crate::db::write_transaction(conn, |conn| {
        Event::new("retention.run", "migrant", None)
            .reason(&summary)
            .record(conn)?;
        Ok(())
    })?;
    Ok(report)
}

/// The next batch after `after` (by id), anonymised in the caller's transaction: the last id
/// looked at and how many were anonymised, `None` when none is left. The filter is applied
/// inside the transaction, so someone who became active meanwhile is skipped.
fn anonymise_batch(
    conn: &mut DbConnection,
    cutoff: NaiveDateTime,
    after: &str,
) -> Result<Option<(String, i64)>, ApiError> {
    let ids: Vec<String> = migrants::table
        .filter(inactive_since(cutoff))
        .filter(migrants::id.gt(after))
        .order(migrants::id.asc())
        .limit(BATCH)
        .select(migrants::id)
        .load(conn)?;
    let now = crate::time::now();
    let mut done = Vec::with_capacity(ids.len());
    for id in &ids {
        if anonymise(conn, id, None, now)? {
            done.push(id.as_str());
        }
    }
    if !done.is_empty() {
        Event::new("migrant.anonymise", "migrant", None)
            .subjects(done.iter().copied())
            .reason("retention: no activity since the cut-off")
            .changed(ERASED_FIELDS.to_vec())
            .record(conn)?;
    }
    Ok(ids.last().map(|last| (last.clone(), done.len() as i64)))
}

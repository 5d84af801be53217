//! The caseload queries: a page of staff, then one grouped aggregate per measure (the referral
//! counts share one) over the people on that page.

use std::collections::HashMap;

use chrono::{Duration, NaiveDate, NaiveDateTime, Utc};
use diesel::dsl::{case_when, count, count_star, min};
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Date, Text, Timestamp};

use super::model::{CaseloadRow, CentreCaseload, CentreKind, OpenCasesByPriority, StaffKind};
use crate::auth::roles::Role;
use crate::cases::model::{CaseStatus, Priority};
use crate::db::schema::{cases, consultations, follow_ups, referrals, users};
use crate::db::{DbConnection, MultiBackend};
use crate::follow_ups::model::FollowUpStatus;
use crate::http::{Page, PageLimit};
use crate::referrals::queries::{OPEN_STATUSES, WAITING_STATUSES};

/// A staff member whose caseload is shown.
#[derive(Queryable)]
pub struct Person {
    pub id: String,
    pub full_name: String,
    pub role: Role,
}

/// The active counsellors and supervisors of the centre (only `only_user`, when given) after
/// the cursor, by id.
pub fn people_page(
    conn: &mut DbConnection,
    centre: &str,
    only_user: Option<&str>,
    after: Option<String>,
    limit: PageLimit,
) -> QueryResult<Page<Person>> {
    let mut people = users::table
        .filter(users::centre_id.eq(centre))
        .filter(users::role.eq_any([Role::Counsellor, Role::Supervisor]))
        .filter(users::active.eq(true))
        .into_boxed();
    if let Some(user) = only_user {
        people = people.filter(users::id.eq(user));
    }
    if let Some(after) = after {
        people = people.filter(users::id.gt(after));
    }
    let rows: Vec<Person> = people
        .order(users::id.asc())
        .limit(limit.fetch())
        .select((users::id, users::full_name, users::role))
        .load(conn)?;
    Ok(Page::from_rows(rows, limit, |p| p.id.clone()))
}

type Counts = HashMap<String, i64>;

/// Each person's open cases by priority, and when their oldest open case was opened.
type OpenCases = HashMap<String, (OpenCasesByPriority, Option<NaiveDateTime>)>;

/// What the people of one page carry, by user id: one grouped query per measure.
pub struct Measures {
    open_cases: OpenCases,
    overdue_follow_ups: Counts,
    open_referrals: Counts,
    overdue_referrals: Counts,
    recent_consultations: Counts,
}

impl Measures {
    pub fn load(conn: &mut DbConnection, centre: &str, ids: &[String]) -> QueryResult<Self> {
        let now = crate::time::now();
        let (open_referrals, overdue_referrals) =
            referrals(conn, centre, ids, Utc::now().date_naive())?;
        Ok(Self {
            open_cases: open_cases(conn, centre, ids)?,
            overdue_follow_ups: overdue_follow_ups(conn, centre, ids, now)?,
            open_referrals,
            overdue_referrals,
            recent_consultations: recent_consultations(conn, centre, ids, now)?,
        })
    }

    /// The person's row; people with nothing to carry get zeros.
    pub fn caseload(&mut self, person: Person) -> CaseloadRow {
        let (priorities, oldest) = self.open_cases.remove(&person.id).unwrap_or_default();
        let count = |counts: &Counts| counts.get(&person.id).copied().unwrap_or(0);
        CaseloadRow {
            kind: StaffKind::Staff,
            open_cases: priorities.total(),
            open_cases_by_priority: priorities,
            overdue_follow_ups: count(&self.overdue_follow_ups),
            open_referrals: count(&self.open_referrals),
            overdue_referrals: count(&self.overdue_referrals),
            consultations_last_30_days: count(&self.recent_consultations),
            oldest_open_case_opened_at: oldest.map(crate::time::utc),
            role: person.role,
            user_id: person.id,
            full_name: person.full_name,
        }
    }
}

fn open_cases(conn: &mut DbConnection, centre: &str, ids: &[String]) -> QueryResult<OpenCases> {
    let groups: Vec<(String, Priority, i64, Option<NaiveDateTime>)> = cases::table
        .filter(cases::centre_id.eq(centre))
        .filter(cases::status.eq(CaseStatus::Open))
        .filter(cases::assigned_to.eq_any(ids))
        .group_by((cases::assigned_to, cases::priority))
        .select((
            cases::assigned_to,
            cases::priority,
            count_star(),
            min(cases::opened_at),
        ))
        .load(conn)?;
    let mut by_person = OpenCases::new();
    for (user, priority, count, oldest) in groups {
        let (counts, earliest) = by_person.entry(user).or_default();
        match priority {
            Priority::Low => counts.low += count,
            Priority::Normal => counts.normal += count,
            Priority::High => counts.high += count,
            Priority::Urgent => counts.urgent += count,
        }
        *earliest = match (*earliest, oldest) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
    }
    Ok(by_person)
}

/// Scheduled follow-ups assigned to each person and past due.
fn overdue_follow_ups(
    conn: &mut DbConnection,
    centre: &str,
    ids: &[String],
    now: NaiveDateTime,
) -> QueryResult<Counts> {
    Ok(follow_ups::table
        .filter(follow_ups::centre_id.eq(centre))
        .filter(follow_ups::status.eq(FollowUpStatus::Scheduled))
        .filter(follow_ups::due_at.lt(now))
        .filter(follow_ups::assigned_to.eq_any(ids))
        .group_by(follow_ups::assigned_to)
        .select((follow_ups::assigned_to, count_star()))
        .load::<(String, i64)>(conn)?
        .into_iter()
        .collect())
}

/// Each person's open referrals, and how many of those wait for an answer past the expected
/// date: one pass over the centre's open referrals (from an index alone) serves both.
fn referrals(
    conn: &mut DbConnection,
    centre: &str,
    ids: &[String],
    today: NaiveDate,
) -> QueryResult<(Counts, Counts)> {
    let overdue = referrals::status
        .eq_any(WAITING_STATUSES)
        .and(referrals::expected_response_by.lt(today));
    let rows: Vec<(String, i64, i64)> = referrals::table
        .inner_join(cases::table)
        .filter(referrals::centre_id.eq(centre))
        .filter(referrals::status.eq_any(OPEN_STATUSES))
        .filter(cases::assigned_to.eq_any(ids))
        .group_by(cases::assigned_to)
        .select((
            cases::assigned_to,
            count_star(),
            count(case_when(overdue, referrals::case_id)),
        ))
        .load(conn)?;
    let open = rows.iter().map(|(user, open, _)| (user.clone(), *open));
    let overdue = rows
        .iter()
        .map(|(user, _, overdue)| (user.clone(), *overdue));
    Ok((open.collect(), overdue.collect()))
}

/// Consultations each person logged in the last 30 days.
fn recent_consultations(
    conn: &mut DbConnection,
    centre: &str,
    ids: &[String],
    now: NaiveDateTime,
) -> QueryResult<Counts> {
    Ok(consultations::table
        .filter(consultations::centre_id.eq(centre))
        .filter(consultations::occurred_at.ge(now - Duration::days(30)))
        .filter(consultations::counsellor_id.eq_any(ids))
        .group_by(consultations::counsellor_id)
        .select((consultations::counsellor_id, count_star()))
        .load::<(String, i64)>(conn)?
        .into_iter()
        .collect())
}

/// A centre's totals as the statement reads them.
#[derive(QueryableByName)]
struct CentreLine {
    #[diesel(sql_type = Text)]
    id: String,
    #[diesel(sql_type = Text)]
    name: String,
    #[diesel(sql_type = BigInt)]
    low: i64,
    #[diesel(sql_type = BigInt)]
    normal: i64,
    #[diesel(sql_type = BigInt)]
    high: i64,
    #[diesel(sql_type = BigInt)]
    urgent: i64,
    #[diesel(sql_type = BigInt)]
    overdue_follow_ups: i64,
    #[diesel(sql_type = BigInt)]
    overdue_referrals: i64,
}

impl From<CentreLine> for CentreCaseload {
    fn from(line: CentreLine) -> Self {
        let open_cases_by_priority = OpenCasesByPriority {
            low: line.low,
            normal: line.normal,
            high: line.high,
            urgent: line.urgent,
        };
        CentreCaseload {
            kind: CentreKind::Centre,
            centre_id: line.id,
            centre_name: line.name,
            open_cases: open_cases_by_priority.total(),
            open_cases_by_priority,
            overdue_follow_ups: line.overdue_follow_ups,
            overdue_referrals: line.overdue_referrals,
        }
    }
}

/// The statement of a page of centres' totals: each measure is a count over one centre's rows
/// (an index range per centre of the page), the same rules as the staff rows.
fn centres_statement(conn: &DbConnection, after: bool) -> String {
    let p = |n| conn.placeholder(n);
    let open = |priority: Priority| {
        format!(
            "(SELECT COUNT(*) FROM cases c WHERE c.centre_id = ce.id AND c.status = '{}' \
             AND c.priority = '{}') AS {}",
            CaseStatus::Open.as_str(),
            priority.as_str(),
            priority.as_str()
        )
    };
    let priorities: Vec<String> = Priority::ALL.iter().map(|p| open(*p)).collect();
    let waiting: Vec<String> = WAITING_STATUSES
        .iter()
        .map(|s| format!("'{}'", s.as_str()))
        .collect();
    let cursor = if after {
        format!(" WHERE ce.id > {}", p(4))
    } else {
        String::new()
    };
    format!(
        "SELECT ce.id, ce.name, {priorities}, \
         (SELECT COUNT(*) FROM follow_ups f WHERE f.centre_id = ce.id AND f.status = '{scheduled}' \
         AND f.due_at < {now}) AS overdue_follow_ups, \
         (SELECT COUNT(*) FROM referrals r WHERE r.centre_id = ce.id AND r.status IN ({waiting}) \
         AND r.expected_response_by < {today}) AS overdue_referrals \
         FROM centres ce{cursor} ORDER BY ce.id LIMIT {limit}",
        priorities = priorities.join(", "),
        scheduled = FollowUpStatus::Scheduled.as_str(),
        waiting = waiting.join(", "),
        now = p(1),
        today = p(2),
        limit = p(3),
    )
}

/// A page of every centre's totals (admins), by centre id: one statement.
pub fn centres_page(
    conn: &mut DbConnection,
    after: Option<String>,
    limit: PageLimit,
) -> QueryResult<Page<CentreCaseload>> {
    let mut query = diesel::sql_query(centres_statement(conn, after.is_some()))
        .into_boxed::<MultiBackend>()
        .bind::<Timestamp, _>(crate::time::now())
        .bind::<Date, _>(Utc::now().date_naive())
        .bind::<BigInt, _>(limit.fetch());
    if let Some(after) = after {
        query = query.bind::<Text, _>(after);
    }
    let lines: Vec<CentreLine> = query.load(conn)?;
    let page = Page::from_rows(lines, limit, |line| line.id.clone());
    Ok(page.map(CentreCaseload::from))
}

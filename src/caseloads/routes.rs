//! `GET /caseloads`: what each counsellor carries — for a supervisor one row per staff member of
//! the centre, for a counsellor their own row. A page costs six queries whatever its size: the
//! staff page, then one grouped aggregate per measure over those staff.

use std::collections::HashMap;

use actix_web::{get, web};
use chrono::{DateTime, Duration, NaiveDateTime, Utc};
use diesel::dsl::{count_star, min};
use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_actix_web::service_config::ServiceConfig;

use crate::auth::roles::CentreStaff;
use crate::auth::roles::Role;
use crate::cases::model::{CaseStatus, Priority};
use crate::db::schema::{cases, consultations, follow_ups, referrals, users};
use crate::error::ApiError;
use crate::follow_ups::model::FollowUpStatus;
use crate::http::pagination::decode_cursor;
use crate::http::{Page, PageLimit, Query};
use crate::state::AppState;

pub fn configure(cfg: &mut ServiceConfig) {
    cfg.service(list_caseloads);
}

#[derive(Debug, Default, Serialize, Deserialize, ToSchema)]
pub struct OpenCasesByPriority {
    pub low: i64,
    pub normal: i64,
    pub high: i64,
    pub urgent: i64,
}

/// One staff member's caseload.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct CaseloadRow {
    pub user_id: String,
    pub full_name: String,
    pub role: Role,
    pub open_cases: i64,
    pub open_cases_by_priority: OpenCasesByPriority,
    /// Scheduled follow-ups assigned to them and past due.
    pub overdue_follow_ups: i64,
    /// Pending, sent or accepted referrals on their cases.
    pub open_referrals: i64,
    /// Pending or sent referrals on their cases past the expected response date.
    pub overdue_referrals: i64,
    pub consultations_last_30_days: i64,
    /// When their oldest open case was opened.
    pub oldest_open_case_opened_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListCaseloads {
    /// Page size, 1–200 (default 50).
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<i64>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

type Counts = HashMap<String, i64>;

/// Caseloads: each staff member of the supervisor's centre, or the counsellor's own.
#[utoipa::path(
    tag = "caseloads",
    params(ListCaseloads),
    responses((status = 200, description = "A page of caseloads", body = Page<CaseloadRow>)),
    security(("bearer" = ["counsellor", "supervisor"]))
)]
#[get("/caseloads")]
async fn list_caseloads(
    state: web::Data<AppState>,
    staff: CentreStaff,
    query: Query<ListCaseloads>,
) -> Result<web::Json<Page<CaseloadRow>>, ApiError> {
    let centre = staff.centre_id.clone();
    let query = query.into_inner();
    let limit = PageLimit::parse(query.limit)?;
    let after: Option<String> = decode_cursor(query.cursor.as_deref())?;
    let page = crate::db::run(&state.pool, move |conn| {
        let mut people = users::table
            .filter(users::centre_id.eq(&centre))
            .filter(users::role.eq_any([Role::Counsellor, Role::Supervisor]))
            .filter(users::active.eq(true))
            .into_boxed();
        if staff.is_counsellor() {
            people = people.filter(users::id.eq(staff.id.clone()));
        }
        if let Some(after) = after {
            people = people.filter(users::id.gt(after));
        }
        let rows: Vec<(String, String, Role)> = people
            .order(users::id.asc())
            .limit(limit.fetch())
            .select((users::id, users::full_name, users::role))
            .load(conn)?;
        let page = Page::from_rows(rows, limit, |(id, _, _)| id.clone());
        let ids: Vec<String> = page.items.iter().map(|(id, _, _)| id.clone()).collect();
        let now = crate::time::now();
        let today = Utc::now().date_naive();

        let open_cases: Vec<(String, Priority, i64, Option<NaiveDateTime>)> = cases::table
            .filter(cases::centre_id.eq(&centre))
            .filter(cases::status.eq(CaseStatus::Open))
            .filter(cases::assigned_to.eq_any(&ids))
            .group_by((cases::assigned_to, cases::priority))
            .select((
                cases::assigned_to,
                cases::priority,
                count_star(),
                min(cases::opened_at),
            ))
            .load(conn)?;
        let overdue_follow_ups: Counts = follow_ups::table
            .filter(follow_ups::centre_id.eq(&centre))
            .filter(follow_ups::status.eq(FollowUpStatus::Scheduled))
            .filter(follow_ups::due_at.lt(now))
            .filter(follow_ups::assigned_to.eq_any(&ids))
            .group_by(follow_ups::assigned_to)
            .select((follow_ups::assigned_to, count_star()))
            .load::<(String, i64)>(conn)?
            .into_iter()
            .collect();
        let open_referrals: Counts = referrals::table
            .inner_join(cases::table)
            .filter(referrals::centre_id.eq(&centre))
            .filter(referrals::status.eq_any(crate::referrals::queries::OPEN_STATUSES))
            .filter(cases::assigned_to.eq_any(&ids))
            .group_by(cases::assigned_to)
            .select((cases::assigned_to, count_star()))
            .load::<(String, i64)>(conn)?
            .into_iter()
            .collect();
        let overdue_referrals: Counts = referrals::table
            .inner_join(cases::table)
            .filter(referrals::centre_id.eq(&centre))
            .filter(referrals::status.eq_any(crate::referrals::queries::WAITING_STATUSES))
            .filter(referrals::expected_response_by.lt(today))
            .filter(cases::assigned_to.eq_any(&ids))
            .group_by(cases::assigned_to)
            .select((cases::assigned_to, count_star()))
            .load::<(String, i64)>(conn)?
            .into_iter()
            .collect();
        let recent_consultations: Counts = consultations::table
            .filter(consultations::centre_id.eq(&centre))
            .filter(consultations::occurred_at.ge(now - Duration::days(30)))
            .filter(consultations::counsellor_id.eq_any(&ids))
            .group_by(consultations::counsellor_id)
            .select((consultations::counsellor_id, count_star()))
            .load::<(String, i64)>(conn)?
            .into_iter()
            .collect();

        let mut by_priority: HashMap<String, (OpenCasesByPriority, Option<NaiveDateTime>)> =
            HashMap::new();
        for (user, priority, count, oldest) in open_cases {
            let (counts, earliest) = by_priority.entry(user).or_default();
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
        let count = |counts: &Counts, id: &str| counts.get(id).copied().unwrap_or(0);
        Ok(page.map(|(id, full_name, role)| {
            let (priorities, oldest) = by_priority.remove(&id).unwrap_or_default();
            CaseloadRow {
                open_cases: priorities.low
                    + priorities.normal
                    + priorities.high
                    + priorities.urgent,
                open_cases_by_priority: priorities,
                overdue_follow_ups: count(&overdue_follow_ups, &id),
                open_referrals: count(&open_referrals, &id),
                overdue_referrals: count(&overdue_referrals, &id),
                consultations_last_30_days: count(&recent_consultations, &id),
                oldest_open_case_opened_at: oldest.map(crate::time::utc),
                role,
                user_id: id,
                full_name,
            }
        }))
    })
    .await?;
    Ok(web::Json(page))
}

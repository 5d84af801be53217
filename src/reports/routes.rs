use actix_web::{get, web, HttpRequest, HttpResponse};
use utoipa_actix_web::service_config::ServiceConfig;

use super::consultations::{Consultations, ConsultationsReport, ConsultationsReportQuery};
use super::follow_ups::{FollowUps, FollowUpsReport, FollowUpsReportQuery};
use super::group_sessions::{GroupSessions, SessionsReport, SessionsReportQuery};
use super::model::Period;
use super::reach::{Reach, ReachReport, ReachReportQuery};
use super::referrals::{Referrals, ReferralsReport, ReferralsReportQuery};
use super::report::respond;
use crate::auth::roles::Manager;
use crate::error::ApiError;
use crate::http::Query;
use crate::state::AppState;

pub fn configure(cfg: &mut ServiceConfig) {
    cfg.service(report_consultations)
        .service(report_referrals)
        .service(report_follow_ups)
        .service(report_group_sessions)
        .service(report_reach);
}

const CSV_EXAMPLE: &str = "\u{feff}month,sex,consultations,people,new_people,suppressed\r\n\
2026-01,female,41,30,12,false\r\n2026-01,male,,,,true\r\ntotal,total,97,71,25,false\r\n";

/// Consultations in a period, broken down by up to three dimensions.
///
/// Supervisors report on their centre; admins on one or every centre, aggregates only (no
/// `counsellor` breakdown), with disclosure control. People who have not given consent to
/// statistics are left out of the rows (see `not_disaggregated`). Send `Accept: text/csv` for
/// CSV (streamed): a header row, the same rows and suppression (empty cells, `suppressed`
/// true), the total last with `total` in its dimension cells; UTF-8 with a BOM; text a
/// spreadsheet would run as a formula starts with an apostrophe. Each report is audited
/// (`report.consultations`, with its parameters). An admin's unknown `centre_id` answers 404.
#[utoipa::path(
    tag = "reports",
    params(ConsultationsReportQuery),
    responses((
        status = 200,
        description = "The report",
        content(
            (ConsultationsReport = "application/json"),
            (String = "text/csv", example = json!(CSV_EXAMPLE))
        ),
        headers((
            "Content-Disposition" = String,
            description = "CSV only: `attachment; filename=\"consultations-<from>-<to>.csv\"`"
        ))
    )),
    security(("bearer" = ["supervisor", "admin"]))
)]
#[get("/reports/consultations")]
async fn report_consultations(
    state: web::Data<AppState>,
    manager: Manager,
    query: Query<ConsultationsReportQuery>,
    request: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let query = query.into_inner();
    let period = Period::check(query.from, query.to, &query.group_by)?;
    respond::<Consultations>(state, manager, period, query.centre_id, &request).await
}

const REFERRALS_CSV_EXAMPLE: &str = "\u{feff}provider_kind,referrals,people,completed,declined,\
overdue_now,median_days_to_response,suppressed\r\nlegal_aid,24,19,9,2,3,4.5,false\r\n\
health,,,,,,,true\r\ntotal,61,48,25,6,7,3.0,false\r\n";

/// Referrals created in a period, broken down by up to three dimensions.
///
/// Counts `referrals`, distinct `people`, how many are now `completed` or `declined`, how many
/// are `overdue_now` (pending or sent past their expected response date, as on `/caseloads`),
/// and the median days from sent to the provider's first answer. Scope, consent rule,
/// disclosure control (a suppressed cell's median is `null` too), CSV (streamed) and audit
/// (`report.referrals`) as for the consultations report.
#[utoipa::path(
    tag = "reports",
    params(ReferralsReportQuery),
    responses((
        status = 200,
        description = "The report",
        content(
            (ReferralsReport = "application/json"),
            (String = "text/csv", example = json!(REFERRALS_CSV_EXAMPLE))
        ),
        headers((
            "Content-Disposition" = String,
            description = "CSV only: `attachment; filename=\"referrals-<from>-<to>.csv\"`"
        ))
    )),
    security(("bearer" = ["supervisor", "admin"]))
)]
#[get("/reports/referrals")]
async fn report_referrals(
    state: web::Data<AppState>,
    manager: Manager,
    query: Query<ReferralsReportQuery>,
    request: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let query = query.into_inner();
    let period = Period::check(query.from, query.to, &query.group_by)?;
    respond::<Referrals>(state, manager, period, query.centre_id, &request).await
}

const FOLLOW_UPS_CSV_EXAMPLE: &str = "\u{feff}kind,due,completed_on_time,completed_late,missed,\
people,suppressed\r\ncall,40,28,5,4,31,false\r\nvisit,,,,,,true\r\ntotal,52,35,7,6,40,false\r\n";

/// Follow-ups due in a period, broken down by up to three dimensions.
///
/// Counts the follow-ups `due` (cancelled ones are left out), those done on time or late,
/// those `missed` (marked missed, or still scheduled past their due time), and distinct
/// `people`. Admins may not break it down by `counsellor`. Scope, consent rule, disclosure
/// control, CSV (streamed) and audit (`report.follow-ups`) as for the consultations report.
#[utoipa::path(
    tag = "reports",
    params(FollowUpsReportQuery),
    responses((
        status = 200,
        description = "The report",
        content(
            (FollowUpsReport = "application/json"),
            (String = "text/csv", example = json!(FOLLOW_UPS_CSV_EXAMPLE))
        ),
        headers((
            "Content-Disposition" = String,
            description = "CSV only: `attachment; filename=\"follow-ups-<from>-<to>.csv\"`"
        ))
    )),
    security(("bearer" = ["supervisor", "admin"]))
)]
#[get("/reports/follow-ups")]
async fn report_follow_ups(
    state: web::Data<AppState>,
    manager: Manager,
    query: Query<FollowUpsReportQuery>,
    request: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let query = query.into_inner();
    let period = Period::check(query.from, query.to, &query.group_by)?;
    respond::<FollowUps>(state, manager, period, query.centre_id, &request).await
}

const GROUP_SESSIONS_CSV_EXAMPLE: &str = "\u{feff}month,sessions,registered,anonymous,attendance,\
suppressed\r\n2026-01,12,96,210,306,false\r\n2026-02,,,,,true\r\ntotal,15,99,212,311,false\r\n";

/// Group sessions that started in a period and their attendance, broken down by up to three
/// dimensions.
///
/// Counts `sessions`, `registered` attendances, people in the `anonymous` tallies and their
/// sum, `attendance`. Broken down by `sex`, `age_band` or `migration_status`, registered
/// attendees are placed by their current record (age: at the session) and tallies as
/// recorded; `sessions` then counts the sessions someone of the row attended. Scope, consent
/// rule, disclosure control (on `attendance`), CSV (streamed) and audit
/// (`report.group-sessions`) as for the consultations report.
#[utoipa::path(
    tag = "reports",
    params(SessionsReportQuery),
    responses((
        status = 200,
        description = "The report",
        content(
            (SessionsReport = "application/json"),
            (String = "text/csv", example = json!(GROUP_SESSIONS_CSV_EXAMPLE))
        ),
        headers((
            "Content-Disposition" = String,
            description = "CSV only: `attachment; filename=\"group-sessions-<from>-<to>.csv\"`"
        ))
    )),
    security(("bearer" = ["supervisor", "admin"]))
)]
#[get("/reports/group-sessions")]
async fn report_group_sessions(
    state: web::Data<AppState>,
    manager: Manager,
    query: Query<SessionsReportQuery>,
    request: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let query = query.into_inner();
    let period = Period::check(query.from, query.to, &query.group_by)?;
    respond::<GroupSessions>(state, manager, period, query.centre_id, &request).await
}

const REACH_CSV_EXAMPLE: &str = "\u{feff}channel,people,registered,anonymous,contacts,suppressed\
\r\ngroup_session,310,98,212,330,false\r\nwalk_in,171,150,21,402,false\r\n\
total,455,222,233,760,false\r\n";

/// People reached in a period through any channel — consultations and group sessions — broken
/// down by up to three dimensions.
///
/// A registered person counts once however many consultations and sessions they came to
/// (once in each row they belong to, once in the total); anonymous consultations count one
/// person each and tallies as recorded. A person counts in each `month` and each `channel`
/// they were reached in, placed by their current record (sex, migration status) and by their
/// age at their first contact in the row. Scope, consent rule, disclosure control (on
/// `people`), CSV (streamed) and audit (`report.reach`) as for the consultations report.
#[utoipa::path(
    tag = "reports",
    params(ReachReportQuery),
    responses((
        status = 200,
        description = "The report",
        content(
            (ReachReport = "application/json"),
            (String = "text/csv", example = json!(REACH_CSV_EXAMPLE))
        ),
        headers((
            "Content-Disposition" = String,
            description = "CSV only: `attachment; filename=\"reach-<from>-<to>.csv\"`"
        ))
    )),
    security(("bearer" = ["supervisor", "admin"]))
)]
#[get("/reports/reach")]
async fn report_reach(
    state: web::Data<AppState>,
    manager: Manager,
    query: Query<ReachReportQuery>,
    request: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let query = query.into_inner();
    let period = Period::check(query.from, query.to, &query.group_by)?;
    respond::<Reach>(state, manager, period, query.centre_id, &request).await
}

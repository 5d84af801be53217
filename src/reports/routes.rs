use actix_web::{get, web, HttpRequest, HttpResponse};
use utoipa_actix_web::service_config::ServiceConfig;

use super::consultations::{Consultations, ConsultationsReport, ConsultationsReportQuery};
use super::follow_ups::{FollowUps, FollowUpsReport, FollowUpsReportQuery};
use super::model::Period;
use super::referrals::{Referrals, ReferralsReport, ReferralsReportQuery};
use super::report::respond;
use crate::auth::roles::Manager;
use crate::error::ApiError;
use crate::http::Query;
use crate::state::AppState;

pub fn configure(cfg: &mut ServiceConfig) {
    cfg.service(report_consultations)
        .service(report_referrals)
        .service(report_follow_ups);
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

use actix_web::{get, post, web, HttpResponse};
use diesel::prelude::*;
use utoipa_actix_web::service_config::ServiceConfig;

use super::model::{AnonymiseRequest, MigrantExport};
use super::queries::{anonymise, export};
use crate::audit::Event;
use crate::auth::roles::Supervisor;
use crate::cases::model::CaseStatus;
use crate::db::schema::cases;
use crate::db::DbConnection;
use crate::error::{ApiError, FieldError};
use crate::http::Json;
use crate::migrants::access::load_in_centre;
use crate::migrants::model::{Migrant, MigrantResponse};
use crate::migrants::names;
use crate::migrants::queries::vulnerabilities;
use crate::state::AppState;
use crate::validation::Validator;

pub fn configure(cfg: &mut ServiceConfig) {
    cfg.service(export_migrant).service(anonymise_migrant);
}

/// Everything Karvon holds about a person, as one document (supervisors; GDPR Art. 15).
///
/// The record, consent history, cases with their events, consultations with their topics,
/// referrals with their status history, follow-ups, and the access log (who read or changed
/// the person's data, when, through which endpoint). Audited as `migrant.export`.
#[utoipa::path(
    tag = "migrants",
    params(("id" = String, Path, description = "Migrant id")),
    responses((status = 200, description = "The person's data", body = MigrantExport)),
    security(("bearer" = ["supervisor"]))
)]
#[get("/migrants/{id}/export")]
async fn export_migrant(
    state: web::Data<AppState>,
    staff: Supervisor,
    id: web::Path<String>,
) -> Result<web::Json<MigrantExport>, ApiError> {
    let id = id.into_inner();
    let document = crate::db::records_transaction(&state.pool, move |conn| {
        let migrant = load_in_centre(conn, &staff, &id)?;
        Event::new("migrant.export", "migrant", Some(&migrant.id))
            .by(&staff)
            .centre(Some(&migrant.centre_id))
            .subject(Some(&migrant.id))
            .record(conn)?;
        let flags = vulnerabilities(conn, &migrant.id)?;
        Ok(export(conn, MigrantResponse::new(migrant, flags))?)
    })
    .await?;
    Ok(web::Json(document))
}

/// Anonymise a person, irreversibly (supervisors; GDPR Art. 17).
///
/// Their names, phone, exact birth date, region of origin and every free text about them
/// (case summaries and events, consultation notes and outcomes, referral reasons and notes,
/// follow-up notes and outcomes) are erased in one transaction; what reports count stays (sex,
/// birth year, nationality, migration status, destination, vulnerabilities, topics, dates,
/// statuses). Afterwards the person's record, export and access log answer 410, searches omit
/// them, and their closed cases, consultations and referrals remain with `[anonymised]` texts.
/// All their cases must be closed first (409 lists the open ones). A retry with the same
/// `Idempotency-Key` answers 204 again; without one, 410. `reason` is kept in the
/// audit trail (`migrant.anonymise`): give a request reference, never personal data — a reason
/// containing the person's names, phone or birth date answers 400.
#[utoipa::path(
    tag = "migrants",
    params(("id" = String, Path, description = "Migrant id")),
    request_body = AnonymiseRequest,
    responses((status = 204, description = "Anonymised")),
    security(("bearer" = ["supervisor"]))
)]
#[post("/migrants/{id}/anonymise")]
async fn anonymise_migrant(
    state: web::Data<AppState>,
    staff: Supervisor,
    id: web::Path<String>,
    body: Json<AnonymiseRequest>,
) -> Result<HttpResponse, ApiError> {
    let id = id.into_inner();
    let reason = body.into_inner().reason.trim().to_owned();
    let mut v = Validator::new();
    v.text("reason", &reason, 3, 500);
    v.finish()?;
    crate::db::records_transaction(&state.pool, move |conn| {
        let migrant = load_in_centre(conn, &staff, &id)?;
        check_reason(&migrant, &reason)?;
        // Locks the person first: a case opened or reopened for them meanwhile is then seen.
        crate::migrants::access::refuse_if_anonymised(conn, &migrant.id)?;
        refuse_open_cases(conn, &migrant.id)?;
        if !anonymise(conn, &migrant.id, Some(&staff.id), crate::time::now())? {
            return Err(crate::migrants::access::anonymised());
        }
        Event::new("migrant.anonymise", "migrant", Some(&migrant.id))
            .by(&staff)
            .centre(Some(&migrant.centre_id))
            .subject(Some(&migrant.id))
            .reason(&reason)
            .changed(super::retention::ERASED_FIELDS.to_vec())
            .record(conn)?;
        Ok(())
    })
    .await?;
    Ok(HttpResponse::NoContent().finish())
}

/// 400 naming `reason` when it names the person: it is kept in the audit trail, which
/// outlives them.
fn check_reason(migrant: &Migrant, reason: &str) -> Result<(), ApiError> {
    let person = names::tokens(
        [
            Some(migrant.given_name.as_str()),
            Some(migrant.family_name.as_str()),
            migrant.patronymic.as_deref(),
        ]
        .into_iter()
        .flatten(),
    );
    let said = names::tokens([reason]);
    let digits: String = reason.chars().filter(char::is_ascii_digit).collect();
    let names_them = said.iter().any(|token| person.contains(token));
    let phone = migrant
        .phone
        .as_deref()
        .map(|p| p.chars().filter(char::is_ascii_digit).collect::<String>())
        .is_some_and(|p| p.len() >= 6 && digits.contains(&p[p.len() - 6..]));
    let birth = migrant
        .date_of_birth
        .is_some_and(|d| reason.contains(&d.format("%Y-%m-%d").to_string()));
    if names_them || phone || birth {
        return Err(ApiError::invalid_field(
            "reason",
            "must not contain the person's names, phone or birth date: give a request reference",
        ));
    }
    Ok(())
}

/// 409 listing the person's open cases: they are closed (with their follow-ups and referrals)
/// by a supervisor first, so nothing is left in progress about someone who no longer exists.
fn refuse_open_cases(conn: &mut DbConnection, migrant_id: &str) -> Result<(), ApiError> {
    let open: Vec<String> = cases::table
        .filter(cases::migrant_id.eq(migrant_id))
        .filter(cases::status.eq(CaseStatus::Open))
        .select(cases::id)
        .load(conn)?;
    if open.is_empty() {
        return Ok(());
    }
    let errors = open
        .iter()
        .map(|id| FieldError::new("cases", format!("case {id} is open; close it first")))
        .collect();
    Err(ApiError::conflict_with(
        "the person has open cases; close them first",
        errors,
    ))
}

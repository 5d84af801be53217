use actix_web::http::StatusCode;
use actix_web::{get, post, web, HttpResponse};
use chrono::NaiveDateTime;
use diesel::prelude::*;
use utoipa_actix_web::service_config::ServiceConfig;

use super::access::{load_visible, visible};
use super::model::*;
use super::queries::{record_transition, responses, WAITING_STATUSES};
use crate::audit::Event;
use crate::auth::roles::CentreStaff;
use crate::cases::access::load_writable;
use crate::cases::model::Case;
use crate::db::schema::{migrants, referrals, service_providers};
use crate::db::versioned::Versioned;
use crate::db::DbConnection;
use crate::error::ApiError;
use crate::http::pagination::decode_cursor;
use crate::http::{representation, Json, Page, PageLimit, Query};
use crate::migrants::model::{ConsentScope, Migrant, MigrantResponse};
use crate::state::AppState;
use crate::validation::Validator;

pub fn configure(cfg: &mut ServiceConfig) {
    cfg.service(create_referral)
        .service(list_referrals)
        .service(get_referral)
        .service(transition_referral);
}

fn build(conn: &mut DbConnection, referral: Referral) -> Result<ReferralResponse, ApiError> {
    responses(conn, vec![referral])?
        .pop()
        .ok_or_else(|| ApiError::internal("referral vanished"))
}

fn respond(status: StatusCode, body: ReferralResponse) -> HttpResponse {
    representation(status, "referrals", &body.id, body.version).json(body)
}

/// Refer the case's migrant to a service provider.
///
/// The provider must be active, accept referrals and be in the centre's directory; the migrant
/// must have given `referral_sharing` consent and not withdrawn it (422 otherwise). The consent
/// is kept on the referral as it stood.
#[utoipa::path(
    tag = "referrals",
    params(("id" = String, Path, description = "Case id")),
    request_body = CreateReferral,
    responses((status = 201, description = "Referral created (pending)", body = ReferralResponse)),
    security(("bearer" = ["counsellor", "supervisor"]))
)]
#[post("/cases/{id}/referrals")]
async fn create_referral(
    state: web::Data<AppState>,
    staff: CentreStaff,
    id: web::Path<String>,
    body: Json<CreateReferral>,
) -> Result<HttpResponse, ApiError> {
    let case_id = id.into_inner();
    let input = body.into_inner();
    check_create(&input)?;
    crate::db::records_transaction(&state.pool, move |conn| {
        let case = load_writable(conn, &staff, &case_id)?;
        check_provider_usable(conn, &staff, &input.provider_id)?;
        let migrant = migrants::table
            .filter(migrants::id.eq(&case.migrant_id))
            .select(Migrant::as_select())
            .first::<Migrant>(conn)?;
        let consent_given_at = consent_to_share(&migrant)?;
        let consent_record = MigrantResponse::new(migrant, Vec::new()).consent;
        let consent_snapshot =
            serde_json::to_string(&consent_record).map_err(ApiError::internal)?;
        let referral = new_referral(&staff, &case, input, consent_given_at, consent_snapshot);
        let now = referral.created_at;
        diesel::insert_into(referrals::table)
            .values(&referral)
            .execute(conn)?;
        record_transition(
            conn,
            &referral.id,
            None,
            ReferralStatus::Pending,
            &staff.id,
            None,
            now,
        )?;
        Event::new("referral.create", "referral", Some(&referral.id))
            .by(&staff)
            .centre(Some(&referral.centre_id))
            .subject(Some(&referral.migrant_id))
            .changed(vec![
                "provider_id",
                "reason",
                "urgency",
                "expected_response_by",
            ])
            .record(conn)?;
        build(conn, referral).map(|body| (StatusCode::CREATED, body))
    })
    .await
    .map(|(status, body)| respond(status, body))
}

/// A new pending referral on `case`, with the consent to share as it stands now.
fn new_referral(
    staff: &CentreStaff,
    case: &Case,
    input: CreateReferral,
    consent_given_at: NaiveDateTime,
    consent_snapshot: String,
) -> Referral {
    let now = crate::time::now();
    Referral {
        id: uuid::Uuid::now_v7().to_string(),
        case_id: case.id.clone(),
        centre_id: case.centre_id.clone(),
        migrant_id: case.migrant_id.clone(),
        provider_id: input.provider_id,
        created_by: staff.id.clone(),
        reason: input.reason.trim().to_owned(),
        urgency: input.urgency,
        status: ReferralStatus::Pending,
        expected_response_by: input.expected_response_by,
        consent_given_at,
        consent_snapshot,
        outcome: None,
        version: 1,
        created_at: now,
        updated_at: now,
    }
}

fn check_create(input: &CreateReferral) -> Result<(), ApiError> {
    let mut v = Validator::new();
    v.text("reason", &input.reason, 1, 2000);
    if let Some(by) = input.expected_response_by {
        let today = chrono::Utc::now().date_naive();
        if by < today - chrono::Duration::days(1) || by > today + chrono::Duration::days(730) {
            v.fail(
                "expected_response_by",
                "must be between today and two years ahead",
            );
        }
    }
    v.finish()
}

/// 422 unless the provider is in the caller's directory, active and accepting referrals.
fn check_provider_usable(
    conn: &mut DbConnection,
    staff: &CentreStaff,
    provider_id: &str,
) -> Result<(), ApiError> {
    let usable = service_providers::table
        .filter(service_providers::id.eq(provider_id))
        .filter(crate::providers::access::visible(staff))
        .select((
            service_providers::active,
            service_providers::accepts_referrals,
        ))
        .first::<(bool, bool)>(conn)
        .optional()?;
    let refusal = match usable {
        None => "no service provider with this id in your centre's directory",
        Some((false, _)) => "the provider is no longer active",
        Some((true, false)) => "the provider does not accept referrals",
        Some((true, true)) => return Ok(()),
    };
    Err(ApiError::unprocessable_field("provider_id", refusal))
}

/// When the migrant consented to share their details with a provider; 422 when they have not,
/// or withdrew it.
fn consent_to_share(migrant: &Migrant) -> Result<NaiveDateTime, ApiError> {
    let refusal = match migrant.consent(ConsentScope::ReferralSharing) {
        (Some(given_at), None) => return Ok(given_at),
        (Some(_), Some(_)) => {
            "the migrant has withdrawn consent to share their details with a provider"
        }
        (None, _) => {
            "the migrant has not consented to share their details with a provider; record \
             their consent first"
        }
    };
    Err(ApiError::unprocessable_field(
        "consent.referral_sharing",
        refusal,
    ))
}

/// List referrals in the caller's scope, newest first; `overdue=true` for those past their
/// expected response date.
#[utoipa::path(
    tag = "referrals",
    params(ListReferrals),
    responses((status = 200, description = "A page of referrals", body = Page<ReferralResponse>)),
    security(("bearer" = ["counsellor", "supervisor"]))
)]
#[get("/referrals")]
async fn list_referrals(
    state: web::Data<AppState>,
    staff: CentreStaff,
    query: Query<ListReferrals>,
) -> Result<web::Json<Page<ReferralResponse>>, ApiError> {
    let query = query.into_inner();
    let limit = PageLimit::parse(query.limit)?;
    let before: Option<String> = decode_cursor(query.cursor.as_deref())?;
    let page = crate::audit::read(&state.pool, &state.read_audit, move |conn, seen| {
        let mut q = referrals::table.filter(visible(&staff)).into_boxed();
        if let Some(status) = query.status {
            q = q.filter(referrals::status.eq(status));
        }
        if let Some(provider_id) = query.provider_id {
            q = q.filter(referrals::provider_id.eq(provider_id));
        }
        if let Some(case_id) = &query.case_id {
            q = q.filter(referrals::case_id.eq(case_id.clone()));
        }
        match query.overdue {
            Some(true) => {
                q = q
                    .filter(referrals::status.eq_any(WAITING_STATUSES))
                    .filter(referrals::expected_response_by.lt(chrono::Utc::now().date_naive()));
            }
            Some(false) => {
                q = q.filter(
                    referrals::status
                        .ne_all(WAITING_STATUSES)
                        .or(referrals::expected_response_by.is_null())
                        .or(referrals::expected_response_by
                            .ge(chrono::Utc::now().date_naive())
                            .assume_not_null()),
                );
            }
            None => {}
        }
        if let Some(since) = query.updated_since {
            q = q.filter(referrals::updated_at.ge(since.naive_utc()));
        }
        if let Some(before) = before {
            q = q.filter(referrals::id.lt(before));
        }
        let rows = q
            .order(referrals::id.desc())
            .limit(limit.fetch())
            .load::<Referral>(conn)?;
        let page = Page::from_rows(rows, limit, |r| r.id.clone());
        if !page.items.is_empty() {
            Event::new("referral.list", "referral", None)
                .by(&staff)
                .centre(Some(&staff.centre_id))
                .subjects(page.items.iter().map(|r| r.migrant_id.as_str()))
                .defer(seen);
        }
        Ok(page.try_map_items(|items| responses(conn, items))?)
    })
    .await?;
    Ok(web::Json(page))
}

/// Read a referral with its history (audited).
#[utoipa::path(
    tag = "referrals",
    params(("id" = String, Path, description = "Referral id")),
    responses((status = 200, description = "The referral", body = ReferralResponse)),
    security(("bearer" = ["counsellor", "supervisor"]))
)]
#[get("/referrals/{id}")]
async fn get_referral(
    state: web::Data<AppState>,
    staff: CentreStaff,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = id.into_inner();
    crate::audit::read(&state.pool, &state.read_audit, move |conn, seen| {
        let referral = load_visible(conn, &staff, &id)?;
        Event::new("referral.read", "referral", Some(&referral.id))
            .by(&staff)
            .centre(Some(&referral.centre_id))
            .subject(Some(&referral.migrant_id))
            .defer(seen);
        build(conn, referral).map(|body| (StatusCode::OK, body))
    })
    .await
    .map(|(status, body)| respond(status, body))
}

/// Move a referral through its status machine.
///
/// An illegal move answers 409 naming the allowed ones; completing or declining needs a `note`
/// saying what came of it.
#[utoipa::path(
    tag = "referrals",
    params(("id" = String, Path, description = "Referral id")),
    request_body = TransitionRequest,
    responses((status = 200, description = "The moved referral", body = ReferralResponse)),
    security(("bearer" = ["counsellor", "supervisor"]))
)]
#[post("/referrals/{id}/transitions")]
async fn transition_referral(
    state: web::Data<AppState>,
    staff: CentreStaff,
    id: web::Path<String>,
    body: Json<TransitionRequest>,
) -> Result<HttpResponse, ApiError> {
    let id = id.into_inner();
    let input = body.into_inner();
    let note = input
        .note
        .map(|n| n.trim().to_owned())
        .filter(|n| !n.is_empty());
    let mut v = Validator::new();
    v.optional_text("note", note.as_deref(), 1, 2000);
    v.finish()?;
    crate::db::records_transaction(&state.pool, move |conn| {
        let mut referral = load_visible(conn, &staff, &id)?;
        load_writable(conn, &staff, &referral.case_id)?;
        let from = referral.status;
        check_transition(from, input.to, note.as_deref())?;
        referral.status = input.to;
        if input.to.needs_outcome() {
            referral.outcome = note.clone();
        }
        if !referral.try_save(conn)? {
            return Err(ApiError::conflict(
                "the referral changed meanwhile; read it again",
            ));
        }
        record_transition(
            conn,
            &referral.id,
            Some(from),
            input.to,
            &staff.id,
            note.as_deref(),
            referral.updated_at,
        )?;
        Event::new("referral.transition", "referral", Some(&referral.id))
            .by(&staff)
            .centre(Some(&referral.centre_id))
            .subject(Some(&referral.migrant_id))
            .changed(vec!["status"])
            .record(conn)?;
        build(conn, referral).map(|body| (StatusCode::OK, body))
    })
    .await
    .map(|(status, body)| respond(status, body))
}

/// 409 unless the status machine allows the move from `from` to `to` (naming the allowed ones);
/// 422 when the move records an outcome and `note` is missing.
fn check_transition(
    from: ReferralStatus,
    to: ReferralStatus,
    note: Option<&str>,
) -> Result<(), ApiError> {
    let allowed = from.next();
    if !allowed.contains(&to) {
        let names: Vec<&str> = allowed.iter().map(|s| s.as_str()).collect();
        let detail = if names.is_empty() {
            format!("a {} referral cannot move any more", from.as_str())
        } else {
            format!(
                "a {} referral can move to {}, not {}",
                from.as_str(),
                names.join(" or "),
                to.as_str()
            )
        };
        return Err(ApiError::conflict(detail));
    }
    if to.needs_outcome() && note.is_none() {
        return Err(ApiError::unprocessable_field(
            "note",
            format!("say what came of the referral when it is {}", to.as_str()),
        ));
    }
    Ok(())
}

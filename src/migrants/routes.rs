use actix_web::http::StatusCode;
use actix_web::{get, patch, post, web, HttpResponse};
use chrono::{Datelike, NaiveDateTime};
use diesel::prelude::*;
use utoipa_actix_web::service_config::ServiceConfig;

use super::access::{load_full, load_in_centre};
use super::duplicates;
use super::model::*;
use super::names;
use super::queries::{
    record_consent, store_name_tokens, store_vulnerabilities, summaries, vulnerabilities,
};
use crate::audit::model::AuditEvent;
use crate::audit::queries::access_log;
use crate::audit::Event;
use crate::auth::roles::{CentreStaff, Supervisor};
use crate::db::schema::{migrant_name_tokens, migrants};
use crate::db::versioned::{Changes, Versioned};
use crate::db::{DbConnection, MultiBackend};
use crate::error::ApiError;
use crate::http::pagination::decode_cursor;
use crate::http::{representation, IfMatch, Json, Page, PageLimit, Query};
use crate::reports::facts::{self, Refresh};
use crate::state::AppState;
use crate::validation::Validator;

pub fn configure(cfg: &mut ServiceConfig) {
    // `duplicates` before `{id}`, so it is not taken for an id.
    cfg.service(find_duplicates)
        .service(create_migrant)
        .service(list_migrants)
        .service(get_migrant)
        .service(update_migrant)
        .service(migrant_access_log);
}

fn respond(status: StatusCode, migrant: Migrant, flags: Vec<Vulnerability>) -> HttpResponse {
    representation(status, "migrants", &migrant.id, migrant.version)
        .json(MigrantResponse::new(migrant, flags))
}

/// The row of a new registration; consent given now is dated now.
fn new_migrant(staff: &CentreStaff, input: CreateMigrant, now: NaiveDateTime) -> Migrant {
    let consent_at = |given: bool| given.then_some(now);
    Migrant {
        id: uuid::Uuid::now_v7().to_string(),
        centre_id: staff.centre_id.clone(),
        registered_by: staff.id.clone(),
        given_name: input.given_name.trim().to_owned(),
        family_name: input.family_name.trim().to_owned(),
        patronymic: input.patronymic.map(|p| p.trim().to_owned()),
        sex: input.sex,
        date_of_birth: input.date_of_birth,
        birth_year: input.date_of_birth.map(|d| d.year()).or(input.birth_year),
        nationality: input.nationality,
        region_of_origin: input.region_of_origin.map(|r| r.trim().to_owned()),
        phone: input.phone,
        preferred_language: input.preferred_language,
        migration_status: input.migration_status,
        destination_country: input.destination_country,
        consent_services_given_at: consent_at(input.consent.services),
        consent_services_withdrawn_at: None,
        consent_referral_sharing_given_at: consent_at(input.consent.referral_sharing),
        consent_referral_sharing_withdrawn_at: None,
        consent_statistics_given_at: consent_at(input.consent.statistics),
        consent_statistics_withdrawn_at: None,
        version: 1,
        created_at: now,
        updated_at: now,
    }
}

/// Register a migrant in the caller's centre.
///
/// Check `GET /migrants/duplicates` first: the same person is often registered twice under
/// different spellings.
#[utoipa::path(
    tag = "migrants",
    request_body = CreateMigrant,
    responses((status = 201, description = "Registered", body = MigrantResponse)),
    security(("bearer" = ["counsellor", "supervisor"]))
)]
#[post("/migrants")]
async fn create_migrant(
    state: web::Data<AppState>,
    staff: CentreStaff,
    body: Json<CreateMigrant>,
) -> Result<HttpResponse, ApiError> {
    let input = body.into_inner();
    input.validate()?;
    let (migrant, flags) = crate::db::records_transaction(&state.pool, move |conn| {
        let now = crate::time::now();
        let flags_given = input.vulnerabilities.clone();
        let migrant = new_migrant(&staff, input, now);
        diesel::insert_into(migrants::table)
            .values(&migrant)
            .execute(conn)?;
        store_name_tokens(conn, &migrant)?;
        store_vulnerabilities(conn, &migrant.id, &flags_given)?;
        for scope in ConsentScope::ALL {
            if migrant.has_consent(*scope) {
                record_consent(conn, &migrant.id, *scope, true, now, &staff.id)?;
            }
        }
        Event::new("migrant.create", "migrant", Some(&migrant.id))
            .by(&staff)
            .centre(Some(&migrant.centre_id))
            .subject(Some(&migrant.id))
            .changed(vec![
                "given_name",
                "family_name",
                "sex",
                "nationality",
                "migration_status",
                "consent",
            ])
            .record(conn)?;
        let flags = vulnerabilities(conn, &migrant.id)?;
        Ok((migrant, flags))
    })
    .await?;
    Ok(respond(StatusCode::CREATED, migrant, flags))
}

/// Keeps migrants having, for every query word, a name token starting with it.
fn matching_names(
    mut query: migrants::BoxedQuery<'static, MultiBackend>,
    q: &str,
) -> migrants::BoxedQuery<'static, MultiBackend> {
    for token in names::tokens([q]) {
        let upper = names::prefix_upper_bound(&token);
        query = query.filter(
            migrants::id.eq_any(
                migrant_name_tokens::table
                    .select(migrant_name_tokens::migrant_id)
                    .filter(migrant_name_tokens::token.ge(token))
                    .filter(migrant_name_tokens::token.lt(upper)),
            ),
        );
    }
    query
}

/// Search the centre's migrants (identifying summary only).
///
/// `q` matches names in any script, case- and accent-insensitively: "гулру", "Gulru" and
/// "GULRU" find the same person; each word matches the start of a name.
#[utoipa::path(
    tag = "migrants",
    params(ListMigrants),
    responses((status = 200, description = "A page of summaries", body = Page<MigrantSummary>)),
    security(("bearer" = ["counsellor", "supervisor"]))
)]
#[get("/migrants")]
async fn list_migrants(
    state: web::Data<AppState>,
    staff: CentreStaff,
    query: Query<ListMigrants>,
) -> Result<web::Json<Page<MigrantSummary>>, ApiError> {
    let centre = staff.centre_id.clone();
    let query = query.into_inner();
    let limit = PageLimit::parse(query.limit)?;
    let after: Option<String> = decode_cursor(query.cursor.as_deref())?;
    let mut v = Validator::new();
    v.optional_text("q", query.q.as_deref(), 1, 200);
    if let Some(nationality) = &query.nationality {
        v.country("nationality", nationality);
    }
    v.finish()?;
    let page = crate::audit::read(&state.pool, &state.read_audit, move |conn, seen| {
        let mut q = migrants::table
            .filter(migrants::centre_id.eq(centre))
            .filter(migrants::anonymised_at.is_null())
            .into_boxed();
        if let Some(text) = &query.q {
            q = matching_names(q, text);
        }
        if let Some(sex) = query.sex {
            q = q.filter(migrants::sex.eq(sex));
        }
        if let Some(nationality) = query.nationality {
            q = q.filter(migrants::nationality.eq(nationality));
        }
        if let Some(status) = query.migration_status {
            q = q.filter(migrants::migration_status.eq(status));
        }
        if let Some(since) = query.updated_since {
            q = q.filter(migrants::updated_at.ge(since.naive_utc()));
        }
        if let Some(after) = after {
            q = q.filter(migrants::id.gt(after));
        }
        let rows = q
            .order(migrants::id.asc())
            .limit(limit.fetch())
            .select(Migrant::as_select())
            .load::<Migrant>(conn)?;
        let page = Page::from_rows(rows, limit, |m| m.id.clone());
        if !page.items.is_empty() {
            Event::new("migrant.list", "migrant", None)
                .by(&staff)
                .centre(Some(&staff.centre_id))
                .subjects(page.items.iter().map(|m| m.id.as_str()))
                .defer(seen);
        }
        Ok(page.try_map_items(|items| summaries(conn, items))?)
    })
    .await?;
    Ok(web::Json(page))
}

/// Find people already registered who may be the one about to be registered.
///
/// Matches across Cyrillic and Latin spellings, small typos and name order ("Гулру
/// Джабборзода", "Gulru Jabborzoda", "Gurlu Jabborzoda" and "Jabborzoda Gulru" are one
/// person); birth date or year and sex raise or lower the score. Searches the caller's centre.
#[utoipa::path(
    tag = "migrants",
    params(DuplicateQuery),
    responses((status = 200, description = "Candidates, best first", body = DuplicateCandidates)),
    security(("bearer" = ["counsellor", "supervisor"]))
)]
#[get("/migrants/duplicates")]
async fn find_duplicates(
    state: web::Data<AppState>,
    staff: CentreStaff,
    query: Query<DuplicateQuery>,
) -> Result<web::Json<DuplicateCandidates>, ApiError> {
    let centre = staff.centre_id.clone();
    let query = query.into_inner();
    let mut v = Validator::new();
    v.text("given_name", &query.given_name, 1, 100);
    v.text("family_name", &query.family_name, 1, 100);
    v.optional_text("patronymic", query.patronymic.as_deref(), 1, 100);
    check_birth(&mut v, query.date_of_birth, query.birth_year);
    v.finish()?;
    let query_tokens = duplicates::query_tokens(&query);
    if query_tokens.is_empty() {
        return Err(ApiError::invalid_field(
            "given_name",
            "must contain letters",
        ));
    }
    let items = crate::audit::read(&state.pool, &state.read_audit, move |conn, seen| {
        let matches = duplicates::best_matches(conn, &centre, &query, &query_tokens)?;
        if !matches.is_empty() {
            Event::new("migrant.duplicates", "migrant", None)
                .by(&staff)
                .centre(Some(&centre))
                .subjects(matches.iter().map(|m| m.migrant.id.as_str()))
                .defer(seen);
        }
        let (scores, migrants): (Vec<_>, Vec<_>) = matches
            .into_iter()
            .map(|m| ((m.score, m.matched), m.migrant))
            .unzip();
        let summaries = summaries(conn, migrants)?;
        Ok(scores
            .into_iter()
            .zip(summaries)
            .map(|((score, matched), migrant)| DuplicateCandidate {
                score,
                matched,
                migrant,
            })
            .collect())
    })
    .await?;
    Ok(web::Json(DuplicateCandidates { items }))
}

/// Read a migrant's full record (audited).
#[utoipa::path(
    tag = "migrants",
    params(("id" = String, Path, description = "Migrant id")),
    responses((status = 200, description = "The full record", body = MigrantResponse)),
    security(("bearer" = ["counsellor", "supervisor"]))
)]
#[get("/migrants/{id}")]
async fn get_migrant(
    state: web::Data<AppState>,
    staff: CentreStaff,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = id.into_inner();
    let (migrant, flags) = crate::audit::read(&state.pool, &state.read_audit, move |conn, seen| {
        let migrant = load_full(conn, &staff, &id)?;
        Event::new("migrant.read", "migrant", Some(&migrant.id))
            .by(&staff)
            .centre(Some(&migrant.centre_id))
            .subject(Some(&migrant.id))
            .defer(seen);
        let flags = vulnerabilities(conn, &migrant.id)?;
        Ok((migrant, flags))
    })
    .await?;
    Ok(respond(StatusCode::OK, migrant, flags))
}

/// Update a migrant's record, vulnerabilities or consent (`If-Match` required).
///
/// Consent `false` withdraws it: the withdrawal time is kept, and referrals then refuse.
#[utoipa::path(
    tag = "migrants",
    params(
        ("id" = String, Path, description = "Migrant id"),
        ("If-Match" = String, Header, description = "ETag of the version being changed"),
    ),
    request_body = UpdateMigrant,
    responses((status = 200, description = "The updated record", body = MigrantResponse)),
    security(("bearer" = ["counsellor", "supervisor"]))
)]
#[patch("/migrants/{id}")]
async fn update_migrant(
    state: web::Data<AppState>,
    staff: CentreStaff,
    id: web::Path<String>,
    if_match: IfMatch,
    body: Json<UpdateMigrant>,
) -> Result<HttpResponse, ApiError> {
    let id = id.into_inner();
    let input = body.into_inner();
    input.validate()?;
    let (migrant, flags) = crate::db::records_transaction(&state.pool, move |conn| {
        let mut m = load_full(conn, &staff, &id)?;
        if_match.check(m.version)?;
        let flags = vulnerabilities(conn, &m.id)?;
        let change = apply_update(&mut m, &flags, input)?;
        if !change.fields.is_empty() {
            m.save(conn)?;
            store_update(conn, &staff, &m, &change)?;
        }
        // Audited even when nothing changed: the answer is the full record.
        audit_update(conn, &staff, &m, change.fields.fields())?;
        let flags = vulnerabilities(conn, &m.id)?;
        Ok((m, flags))
    })
    .await?;
    Ok(respond(StatusCode::OK, migrant, flags))
}

/// What a PATCH changes: the record's fields, and what is stored beside the record.
struct MigrantChange {
    fields: Changes,
    /// The new set of vulnerabilities, when it differs from the stored one.
    vulnerabilities: Option<Vec<Vulnerability>>,
    /// Each consent scope given (`true`) or withdrawn by the PATCH.
    consent: Vec<(ConsentScope, bool)>,
    at: NaiveDateTime,
}

/// Applies the PATCH to `m` (not yet saved), comparing vulnerabilities with `stored_flags`.
fn apply_update(
    m: &mut Migrant,
    stored_flags: &[Vulnerability],
    mut input: UpdateMigrant,
) -> Result<MigrantChange, ApiError> {
    let at = crate::time::now();
    let new_flags = input.vulnerabilities.take();
    let consent = input.consent.take();
    let mut fields = apply_fields(m, input)?;
    let vulnerabilities = new_flags
        .map(flag_set)
        .filter(|flags| *flags != flag_set(stored_flags.to_vec()));
    if vulnerabilities.is_some() {
        fields.mark("vulnerabilities");
    }
    let consent = apply_consent(m, consent, at);
    for (scope, _) in &consent {
        fields.mark(match scope {
            ConsentScope::Services => "consent.services",
            ConsentScope::ReferralSharing => "consent.referral_sharing",
            ConsentScope::Statistics => "consent.statistics",
        });
    }
    Ok(MigrantChange {
        fields,
        vulnerabilities,
        consent,
        at,
    })
}

/// Applies the PATCH to the record's own fields; 422 when the merged record breaks a rule that
/// combines fields (birth date and year).
fn apply_fields(m: &mut Migrant, input: UpdateMigrant) -> Result<Changes, ApiError> {
    let trim = |text: String| text.trim().to_owned();
    let mut changes = Changes::new();
    changes.set("given_name", &mut m.given_name, input.given_name.map(trim));
    changes.set(
        "family_name",
        &mut m.family_name,
        input.family_name.map(trim),
    );
    let patronymic = input.patronymic.map(|p| p.map(trim));
    changes.set("patronymic", &mut m.patronymic, patronymic);
    changes.set("sex", &mut m.sex, input.sex);
    let date_of_birth = input.date_of_birth;
    let birth_changed = changes.set("date_of_birth", &mut m.date_of_birth, date_of_birth);
    let year_given = input.birth_year.is_some();
    changes.set("birth_year", &mut m.birth_year, input.birth_year);
    if birth_changed && !year_given {
        m.birth_year = m.date_of_birth.map(|d| d.year()).or(m.birth_year);
    }
    changes.set("nationality", &mut m.nationality, input.nationality);
    let region = input.region_of_origin.map(|r| r.map(trim));
    changes.set("region_of_origin", &mut m.region_of_origin, region);
    changes.set("phone", &mut m.phone, input.phone);
    let language = input.preferred_language;
    changes.set("preferred_language", &mut m.preferred_language, language);
    let status = input.migration_status;
    changes.set("migration_status", &mut m.migration_status, status);
    let destination = input.destination_country;
    changes.set(
        "destination_country",
        &mut m.destination_country,
        destination,
    );
    let mut v = Validator::new();
    check_birth(&mut v, m.date_of_birth, m.birth_year);
    check_optional_codes(
        &mut v,
        m.phone.as_deref(),
        m.preferred_language.as_deref(),
        m.destination_country.as_deref(),
    );
    v.finish()?;
    Ok(changes)
}

/// A set of vulnerabilities as it is stored: sorted, each once.
fn flag_set(mut flags: Vec<Vulnerability>) -> Vec<Vulnerability> {
    flags.sort();
    flags.dedup();
    flags
}

/// Gives or withdraws consent on `m` where the PATCH changes it (a withdrawal keeps when it was
/// given); the scopes that changed.
fn apply_consent(
    m: &mut Migrant,
    consent: Option<ConsentChange>,
    at: NaiveDateTime,
) -> Vec<(ConsentScope, bool)> {
    let requested = consent.as_ref().map(ConsentChange::changes);
    let mut changed = Vec::new();
    for (scope, give) in requested.unwrap_or_default() {
        match (give, m.has_consent(scope)) {
            (true, false) => m.set_consent(scope, Some(at), None),
            (false, true) => {
                let (given_at, _) = m.consent(scope);
                m.set_consent(scope, given_at, Some(at));
            }
            _ => continue,
        }
        changed.push((scope, give));
    }
    changed
}

/// Writes what the change stores beside the migrant's row, once the row is saved.
fn store_update(
    conn: &mut DbConnection,
    staff: &CentreStaff,
    m: &Migrant,
    change: &MigrantChange,
) -> QueryResult<()> {
    if let Some(flags) = &change.vulnerabilities {
        store_vulnerabilities(conn, &m.id, flags)?;
    }
    for &(scope, give) in &change.consent {
        record_consent(conn, &m.id, scope, give, change.at, &staff.id)?;
    }
    let names = ["given_name", "family_name", "patronymic"];
    if names.iter().any(|field| change.fields.contains(field)) {
        store_name_tokens(conn, m)?;
    }
    if STATISTICAL
        .iter()
        .any(|field| change.fields.contains(field))
    {
        facts::refresh(conn, Refresh::Person(&m.id))?;
    }
    Ok(())
}

/// The fields reports break consultations down by (or leave them out for): a change to one
/// refreshes the copies on the person's consultation facts.
const STATISTICAL: [&str; 7] = [
    "sex",
    "date_of_birth",
    "birth_year",
    "nationality",
    "migration_status",
    "destination_country",
    "consent.statistics",
];

fn audit_update(
    conn: &mut DbConnection,
    staff: &CentreStaff,
    migrant: &Migrant,
    changed: Vec<&str>,
) -> QueryResult<()> {
    Event::new("migrant.update", "migrant", Some(&migrant.id))
        .by(staff)
        .centre(Some(&migrant.centre_id))
        .subject(Some(&migrant.id))
        .changed(changed)
        .record(conn)
}

#[derive(Debug, serde::Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct AccessLogQuery {
    /// Page size, 1–200 (default 50).
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<i64>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

/// Who read or changed this person's records, newest first (supervisors).
///
/// Lists every event naming the person as a subject — single reads, list pages and searches
/// that showed them (`endpoint` says which), and changes. Reading the log is audited itself
/// (`migrant.read_access_log`, the person as entity but not as subject: the log shows ids, not
/// their data, and does not grow each time it is read).
#[utoipa::path(
    tag = "migrants",
    params(("id" = String, Path, description = "Migrant id"), AccessLogQuery),
    responses((status = 200, description = "A page of audit events", body = Page<AuditEvent>)),
    security(("bearer" = ["supervisor"]))
)]
#[get("/migrants/{id}/access-log")]
async fn migrant_access_log(
    state: web::Data<AppState>,
    staff: Supervisor,
    id: web::Path<String>,
    query: Query<AccessLogQuery>,
) -> Result<web::Json<Page<AuditEvent>>, ApiError> {
    let id = id.into_inner();
    let query = query.into_inner();
    let limit = PageLimit::parse(query.limit)?;
    let before: Option<String> = decode_cursor(query.cursor.as_deref())?;
    let page = crate::audit::read(&state.pool, &state.read_audit, move |conn, seen| {
        let migrant = load_in_centre(conn, &staff, &id)?;
        let page = access_log(conn, &migrant.id, before, limit)?;
        Event::new("migrant.read_access_log", "migrant", Some(&migrant.id))
            .by(&staff)
            .centre(Some(&migrant.centre_id))
            .defer(seen);
        Ok(page)
    })
    .await?;
    Ok(web::Json(page))
}

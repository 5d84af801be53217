use actix_web::http::StatusCode;
use actix_web::{get, patch, post, web, HttpResponse};
use diesel::prelude::*;
use utoipa_actix_web::service_config::ServiceConfig;

use super::access::{load_visible, require_manager, visible};
use super::model::*;
use super::queries::{build, language_set, responses, store_languages, stored_languages};
use crate::audit::Event;
use crate::auth::roles::Manager;
use crate::auth::staff::Staff;
use crate::db::schema::{service_provider_languages, service_providers};
use crate::db::versioned::{Changes, Versioned};
use crate::db::{DbConnection, MultiBackend};
use crate::error::ApiError;
use crate::http::pagination::decode_cursor;
use crate::http::{representation, IfMatch, Json, Page, PageLimit, Query};
use crate::state::AppState;
use crate::validation::Validator;

pub fn configure(cfg: &mut ServiceConfig) {
    cfg.service(create_provider)
        .service(list_providers)
        .service(get_provider)
        .service(update_provider);
}

fn respond(status: StatusCode, body: ProviderResponse) -> HttpResponse {
    representation(status, "service-providers", &body.id, body.version).json(body)
}

/// Add a provider to the directory: a global entry (admins) or the centre's own (supervisors).
#[utoipa::path(
    tag = "service-providers",
    request_body = CreateProvider,
    responses((status = 201, description = "Added", body = ProviderResponse)),
    security(("bearer" = ["supervisor", "admin"]))
)]
#[post("/service-providers")]
async fn create_provider(
    state: web::Data<AppState>,
    staff: Manager,
    body: Json<CreateProvider>,
) -> Result<HttpResponse, ApiError> {
    let input = body.into_inner();
    let centre_id = input
        .centre_id
        .clone()
        .or_else(|| staff.centre().map(str::to_owned));
    require_manager(&staff, centre_id.as_deref())?;
    check_create(&input)?;
    let now = crate::time::now();
    let name = input.name.trim().to_owned();
    let provider = Provider {
        id: uuid::Uuid::now_v7().to_string(),
        centre_id,
        name_key: name_key(&name),
        name,
        kind: input.kind,
        description: input.description,
        address: input.address,
        city: input.city.map(|c| c.trim().to_owned()),
        country: input.country,
        phone: input.phone,
        email: input.email,
        website: input.website,
        opening_hours: input.opening_hours,
        accepts_referrals: input.accepts_referrals,
        active: true,
        version: 1,
        created_at: now,
        updated_at: now,
    };
    let languages = input.languages;
    crate::db::records_transaction(&state.pool, move |conn| {
        diesel::insert_into(service_providers::table)
            .values(&provider)
            .execute(conn)?;
        store_languages(conn, &provider.id, &languages)?;
        Event::new(
            "service_provider.create",
            "service_provider",
            Some(&provider.id),
        )
        .by(&staff)
        .centre(provider.centre_id.as_deref())
        .changed(vec!["name", "kind", "accepts_referrals", "languages"])
        .record(conn)?;
        build(conn, provider).map(|body| (StatusCode::CREATED, body))
    })
    .await
    .map(|(status, body)| respond(status, body))
}

fn check_create(input: &CreateProvider) -> Result<(), ApiError> {
    let mut v = Validator::new();
    v.text("name", &input.name, 1, 200);
    v.optional_text("description", input.description.as_deref(), 1, 2000);
    v.optional_text("address", input.address.as_deref(), 1, 300);
    v.optional_text("city", input.city.as_deref(), 1, 100);
    v.optional_text("opening_hours", input.opening_hours.as_deref(), 1, 300);
    check_contact(
        &mut v,
        input.country.as_deref(),
        input.phone.as_deref(),
        input.email.as_deref(),
        input.website.as_deref(),
        Some(&input.languages),
    );
    v.finish()
}

/// The directory as the caller may use it: global entries and their centre's.
#[utoipa::path(
    tag = "service-providers",
    params(ListProviders),
    responses((status = 200, description = "A page of providers", body = Page<ProviderResponse>)),
    security(("bearer" = ["counsellor", "supervisor", "admin"]))
)]
#[get("/service-providers")]
async fn list_providers(
    state: web::Data<AppState>,
    staff: Staff,
    query: Query<ListProviders>,
) -> Result<web::Json<Page<ProviderResponse>>, ApiError> {
    let query = query.into_inner();
    let limit = PageLimit::parse(query.limit)?;
    let after: Option<String> = decode_cursor(query.cursor.as_deref())?;
    let mut v = Validator::new();
    v.optional_text("q", query.q.as_deref(), 1, 200);
    v.optional_text("city", query.city.as_deref(), 1, 100);
    if let Some(language) = &query.language {
        v.language("language", language);
    }
    v.finish()?;
    let page = crate::db::run(&state.pool, move |conn| {
        let mut q = matching(&staff, query);
        if let Some(after) = after {
            q = q.filter(service_providers::id.gt(after));
        }
        let rows = q
            .order(service_providers::id.asc())
            .limit(limit.fetch())
            .load::<Provider>(conn)?;
        let page = Page::from_rows(rows, limit, |p| p.id.clone());
        Ok(page.try_map_items(|items| responses(conn, items))?)
    })
    .await?;
    Ok(web::Json(page))
}

/// The providers the caller may see that match the list's filters.
fn matching(
    staff: &Staff,
    query: ListProviders,
) -> service_providers::BoxedQuery<'static, MultiBackend> {
    let mut q = service_providers::table.filter(visible(staff)).into_boxed();
    if let Some(kind) = query.kind {
        q = q.filter(service_providers::kind.eq(kind));
    }
    if let Some(city) = query.city {
        q = q.filter(service_providers::city.eq(city));
    }
    if let Some(language) = query.language {
        q = q.filter(
            service_providers::id.eq_any(
                service_provider_languages::table
                    .filter(service_provider_languages::language.eq(language))
                    .select(service_provider_languages::provider_id),
            ),
        );
    }
    if let Some(accepts) = query.accepts_referrals {
        q = q.filter(service_providers::accepts_referrals.eq(accepts));
    }
    if let Some(active) = query.active {
        q = q.filter(service_providers::active.eq(active));
    }
    if let Some(text) = query.q {
        let escaped = name_key(&text)
            .replace('\\', "\\\\")
            .replace('%', "\\%")
            .replace('_', "\\_");
        q = q.filter(
            service_providers::name_key
                .like(format!("%{escaped}%"))
                .escape('\\'),
        );
    }
    if let Some(since) = query.updated_since {
        q = q.filter(service_providers::updated_at.ge(since.naive_utc()));
    }
    q
}

/// Read a provider.
#[utoipa::path(
    tag = "service-providers",
    params(("id" = String, Path, description = "Provider id")),
    responses((status = 200, description = "The provider", body = ProviderResponse)),
    security(("bearer" = ["counsellor", "supervisor", "admin"]))
)]
#[get("/service-providers/{id}")]
async fn get_provider(
    state: web::Data<AppState>,
    staff: Staff,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = id.into_inner();
    crate::db::run(&state.pool, move |conn| {
        let provider = load_visible(conn, &staff, &id)?;
        build(conn, provider).map(|body| (StatusCode::OK, body))
    })
    .await
    .map(|(status, body)| respond(status, body))
}

/// Update or retire a provider (its manager; `If-Match` required).
#[utoipa::path(
    tag = "service-providers",
    params(
        ("id" = String, Path, description = "Provider id"),
        ("If-Match" = String, Header, description = "ETag of the version being changed"),
    ),
    request_body = UpdateProvider,
    responses((status = 200, description = "The updated provider", body = ProviderResponse)),
    security(("bearer" = ["supervisor", "admin"]))
)]
#[patch("/service-providers/{id}")]
async fn update_provider(
    state: web::Data<AppState>,
    staff: Manager,
    id: web::Path<String>,
    if_match: IfMatch,
    body: Json<UpdateProvider>,
) -> Result<HttpResponse, ApiError> {
    let id = id.into_inner();
    let input = body.into_inner();
    validate_update(&input)?;
    crate::db::records_transaction(&state.pool, move |conn| {
        let mut p = load_visible(conn, &staff, &id)?;
        require_manager(&staff, p.centre_id.as_deref())?;
        if_match.check(p.version)?;
        let languages = input.languages.clone();
        let changes = apply_update(conn, &mut p, input)?;
        if !changes.is_empty() {
            p.save(conn)?;
            if changes.contains("languages") {
                store_languages(conn, &p.id, &languages.unwrap_or_default())?;
            }
            Event::new("service_provider.update", "service_provider", Some(&p.id))
                .by(&staff)
                .centre(p.centre_id.as_deref())
                .changed(changes.fields())
                .record(conn)?;
        }
        build(conn, p).map(|body| (StatusCode::OK, body))
    })
    .await
    .map(|(status, body)| respond(status, body))
}

fn validate_update(input: &UpdateProvider) -> Result<(), ApiError> {
    let text = |value: &Option<Option<String>>| value.clone().flatten();
    let mut v = Validator::new();
    v.optional_text("name", input.name.as_deref(), 1, 200);
    v.optional_text("description", text(&input.description).as_deref(), 1, 2000);
    v.optional_text("address", text(&input.address).as_deref(), 1, 300);
    v.optional_text("city", text(&input.city).as_deref(), 1, 100);
    v.optional_text(
        "opening_hours",
        text(&input.opening_hours).as_deref(),
        1,
        300,
    );
    check_contact(
        &mut v,
        text(&input.country).as_deref(),
        text(&input.phone).as_deref(),
        text(&input.email).as_deref(),
        text(&input.website).as_deref(),
        input.languages.as_deref(),
    );
    v.finish()
}

/// Applies the PATCH to `p` (not yet saved). A new set of languages is compared with the
/// stored one; the caller stores it once the provider is saved.
fn apply_update(
    conn: &mut DbConnection,
    p: &mut Provider,
    input: UpdateProvider,
) -> QueryResult<Changes> {
    let mut changes = Changes::new();
    let name = input.name.map(|n| n.trim().to_owned());
    if changes.set("name", &mut p.name, name) {
        p.name_key = name_key(&p.name);
    }
    changes.set("kind", &mut p.kind, input.kind);
    changes.set("description", &mut p.description, input.description);
    changes.set("address", &mut p.address, input.address);
    changes.set("city", &mut p.city, input.city);
    changes.set("country", &mut p.country, input.country);
    changes.set("phone", &mut p.phone, input.phone);
    changes.set("email", &mut p.email, input.email);
    changes.set("website", &mut p.website, input.website);
    changes.set("opening_hours", &mut p.opening_hours, input.opening_hours);
    let accepts = input.accepts_referrals;
    changes.set("accepts_referrals", &mut p.accepts_referrals, accepts);
    changes.set("active", &mut p.active, input.active);
    if let Some(languages) = input.languages {
        if language_set(languages) != stored_languages(conn, &p.id)? {
            changes.mark("languages");
        }
    }
    Ok(changes)
}

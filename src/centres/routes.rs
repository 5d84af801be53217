use actix_web::{get, patch, post, web, HttpResponse};
use diesel::prelude::*;
use utoipa_actix_web::service_config::ServiceConfig;

use super::access::visible_to;
use super::{Centre, CentreResponse, CreateCentre, ListCentres, UpdateCentre};
use crate::audit::Event;
use crate::auth::roles::Admin;
use crate::auth::staff::Staff;
use crate::db::schema::centres;
use crate::db::versioned::{Changes, Versioned};
use crate::db::DbConnection;
use crate::error::ApiError;
use crate::http::pagination::decode_cursor;
use crate::http::{representation, IfMatch, Json, Page, PageLimit, Query};
use crate::state::AppState;
use crate::validation::Validator;

pub fn configure(cfg: &mut ServiceConfig) {
    cfg.service(create_centre)
        .service(list_centres)
        .service(get_centre)
        .service(update_centre);
}

fn respond(status: actix_web::http::StatusCode, centre: Centre) -> HttpResponse {
    representation(status, "centres", &centre.id, centre.version).json(CentreResponse::from(centre))
}

/// Create a centre (admin).
#[utoipa::path(
    tag = "centres",
    request_body = CreateCentre,
    responses((status = 201, description = "Centre created", body = CentreResponse)),
    security(("bearer" = ["admin"]))
)]
#[post("/centres")]
async fn create_centre(
    state: web::Data<AppState>,
    staff: Admin,
    body: Json<CreateCentre>,
) -> Result<HttpResponse, ApiError> {
    let input = body.into_inner();
    let mut v = Validator::new();
    v.text("name", &input.name, 1, 200);
    v.text("city", &input.city, 1, 100);
    v.country("country", &input.country);
    v.finish()?;
    let now = crate::time::now();
    let centre = Centre {
        id: uuid::Uuid::now_v7().to_string(),
        name: input.name.trim().to_owned(),
        city: input.city.trim().to_owned(),
        country: input.country,
        active: true,
        version: 1,
        created_at: now,
        updated_at: now,
    };
    let centre = crate::db::transaction(&state.pool, move |conn| {
        let taken = centres::table
            .filter(centres::name.eq(&centre.name))
            .count()
            .get_result::<i64>(conn)?;
        if taken > 0 {
            return Err(ApiError::conflict("a centre with this name already exists"));
        }
        diesel::insert_into(centres::table)
            .values(&centre)
            .execute(conn)?;
        Event::new("centre.create", "centre", Some(&centre.id))
            .by(&staff)
            .centre(Some(&centre.id))
            .changed(vec!["name", "city", "country"])
            .record(conn)?;
        Ok(centre)
    })
    .await?;
    Ok(respond(actix_web::http::StatusCode::CREATED, centre))
}

/// List centres: every centre for an admin, the caller's own for staff.
#[utoipa::path(
    tag = "centres",
    params(ListCentres),
    responses((status = 200, description = "A page of centres", body = Page<CentreResponse>)),
    security(("bearer" = ["counsellor", "supervisor", "admin"]))
)]
#[get("/centres")]
async fn list_centres(
    state: web::Data<AppState>,
    staff: Staff,
    query: Query<ListCentres>,
) -> Result<web::Json<Page<CentreResponse>>, ApiError> {
    let query = query.into_inner();
    let limit = PageLimit::parse(query.limit)?;
    let after: Option<String> = decode_cursor(query.cursor.as_deref())?;
    let rows = crate::db::run(&state.pool, move |conn| {
        let mut q = visible_to(&staff);
        if let Some(active) = query.active {
            q = q.filter(centres::active.eq(active));
        }
        if let Some(since) = query.updated_since {
            q = q.filter(centres::updated_at.ge(since.naive_utc()));
        }
        if let Some(after) = after {
            q = q.filter(centres::id.gt(after));
        }
        Ok(q.order(centres::id.asc())
            .limit(limit.fetch())
            .load::<Centre>(conn)?)
    })
    .await?;
    Ok(web::Json(
        Page::from_rows(rows, limit, |c| c.id.clone()).map(CentreResponse::from),
    ))
}

/// Read a centre.
#[utoipa::path(
    tag = "centres",
    params(("id" = String, Path, description = "Centre id")),
    responses((status = 200, description = "The centre", body = CentreResponse)),
    security(("bearer" = ["counsellor", "supervisor", "admin"]))
)]
#[get("/centres/{id}")]
async fn get_centre(
    state: web::Data<AppState>,
    staff: Staff,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = id.into_inner();
    let centre = crate::db::run(&state.pool, move |conn| {
        visible_to(&staff)
            .filter(centres::id.eq(id))
            .first::<Centre>(conn)
            .optional()?
            .ok_or_else(|| ApiError::not_found("centre"))
    })
    .await?;
    Ok(respond(actix_web::http::StatusCode::OK, centre))
}

/// Update or deactivate a centre (admin; `If-Match` required).
#[utoipa::path(
    tag = "centres",
    params(
        ("id" = String, Path, description = "Centre id"),
        ("If-Match" = String, Header, description = "ETag of the version being changed"),
    ),
    request_body = UpdateCentre,
    responses((status = 200, description = "The updated centre", body = CentreResponse)),
    security(("bearer" = ["admin"]))
)]
#[patch("/centres/{id}")]
async fn update_centre(
    state: web::Data<AppState>,
    staff: Admin,
    id: web::Path<String>,
    if_match: IfMatch,
    body: Json<UpdateCentre>,
) -> Result<HttpResponse, ApiError> {
    let id = id.into_inner();
    let input = body.into_inner();
    validate_update(&input)?;
    let centre = crate::db::transaction(&state.pool, move |conn| {
        let mut centre = visible_to(&staff)
            .filter(centres::id.eq(&id))
            .first::<Centre>(conn)
            .optional()?
            .ok_or_else(|| ApiError::not_found("centre"))?;
        if_match.check(centre.version)?;
        let changes = apply_update(conn, &mut centre, input)?;
        if changes.is_empty() {
            return Ok(centre);
        }
        centre.save(conn)?;
        let action = if changes.fields() == ["active"] && !centre.active {
            "centre.deactivate"
        } else {
            "centre.update"
        };
        Event::new(action, "centre", Some(&centre.id))
            .by(&staff)
            .centre(Some(&centre.id))
            .changed(changes.fields())
            .record(conn)?;
        Ok(centre)
    })
    .await?;
    Ok(respond(actix_web::http::StatusCode::OK, centre))
}

fn validate_update(input: &UpdateCentre) -> Result<(), ApiError> {
    let mut v = Validator::new();
    v.optional_text("name", input.name.as_deref(), 1, 200);
    v.optional_text("city", input.city.as_deref(), 1, 100);
    if let Some(country) = &input.country {
        v.country("country", country);
    }
    v.finish()
}

/// Applies the PATCH to `centre` (not yet saved); 409 when the new name is taken.
fn apply_update(
    conn: &mut DbConnection,
    centre: &mut Centre,
    input: UpdateCentre,
) -> Result<Changes, ApiError> {
    let mut changes = Changes::new();
    let name = input.name.map(|n| n.trim().to_owned());
    if changes.set("name", &mut centre.name, name) {
        let taken = centres::table
            .filter(centres::name.eq(&centre.name))
            .filter(centres::id.ne(&centre.id))
            .count()
            .get_result::<i64>(conn)?;
        if taken > 0 {
            return Err(ApiError::conflict("a centre with this name already exists"));
        }
    }
    let city = input.city.map(|c| c.trim().to_owned());
    changes.set("city", &mut centre.city, city);
    changes.set("country", &mut centre.country, input.country);
    changes.set("active", &mut centre.active, input.active);
    Ok(changes)
}

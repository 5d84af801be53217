use actix_web::http::StatusCode;
use actix_web::{get, patch, post, web, HttpResponse};
use diesel::prelude::*;
use utoipa_actix_web::service_config::ServiceConfig;

use super::access::visible_to;
use super::handover::{self, OpenWorkProblem};
use super::queries::{check_centre, lock_for_change};
use super::{valid_username, CreateUser, ListUsers, UpdateUser, User, UserResponse};
use crate::audit::Event;
use crate::auth::password::check_policy;
use crate::auth::roles::{Admin, Manager, Role};
use crate::auth::sessions::revoke_all;
use crate::auth::staff::Staff;
use crate::db::schema::users;
use crate::db::versioned::{Changes, Versioned};
use crate::db::DbConnection;
use crate::error::ApiError;
use crate::http::pagination::decode_cursor;
use crate::http::{representation, IfMatch, Json, Page, PageLimit, Query};
use crate::state::AppState;
use crate::validation::Validator;

pub fn configure(cfg: &mut ServiceConfig) {
    cfg.service(create_user)
        .service(list_users)
        .service(get_user)
        .service(update_user);
}

pub(super) fn respond(status: StatusCode, user: User) -> HttpResponse {
    representation(status, "users", &user.id, user.version).json(UserResponse::from(user))
}

/// Create a staff account (admin).
#[utoipa::path(
    tag = "users",
    request_body = CreateUser,
    responses((status = 201, description = "Account created", body = UserResponse)),
    security(("bearer" = ["admin"]))
)]
#[post("/users")]
async fn create_user(
    state: web::Data<AppState>,
    staff: Admin,
    body: Json<CreateUser>,
) -> Result<HttpResponse, ApiError> {
    let input = body.into_inner();
    let mut v = Validator::new();
    if !valid_username(&input.username) {
        v.fail("username", "must be 3 to 64 letters, digits or . _ - @");
    }
    v.text("full_name", &input.full_name, 1, 200);
    if let Some(email) = &input.email {
        v.email("email", email);
    }
    v.finish()?;
    check_policy(&input.password, &input.username)
        .map_err(|reason| ApiError::unprocessable_field("password", reason))?;
    // The caller's session is checked by the first query: run it before spending a hash.
    crate::db::run(&state.pool, |_| Ok(())).await?;
    let password_hash = state.passwords.hash(input.password).await?;
    let mut user = User::new_account(
        input.username,
        input.full_name.trim().to_owned(),
        input.role,
        input.centre_id,
        password_hash,
    );
    user.email = input.email;
    let user = crate::db::transaction(&state.pool, move |conn| {
        check_centre(conn, input.role, user.centre_id.as_deref())?;
        let taken = users::table
            .filter(users::username_key.eq(&user.username_key))
            .count()
            .get_result::<i64>(conn)?;
        if taken > 0 {
            return Err(ApiError::conflict("this username is taken"));
        }
        diesel::insert_into(users::table)
            .values(&user)
            .execute(conn)?;
        Event::new("user.create", "user", Some(&user.id))
            .by(&staff)
            .centre(user.centre_id.as_deref())
            .changed(vec![
                "username",
                "full_name",
                "email",
                "role",
                "centre_id",
                "password",
            ])
            .record(conn)?;
        Ok(user)
    })
    .await?;
    Ok(respond(StatusCode::CREATED, user))
}

/// List staff accounts: all for admins, the centre's staff for supervisors.
#[utoipa::path(
    tag = "users",
    params(ListUsers),
    responses((status = 200, description = "A page of accounts", body = Page<UserResponse>)),
    security(("bearer" = ["supervisor", "admin"]))
)]
#[get("/users")]
async fn list_users(
    state: web::Data<AppState>,
    staff: Manager,
    query: Query<ListUsers>,
) -> Result<web::Json<Page<UserResponse>>, ApiError> {
    let query = query.into_inner();
    let limit = PageLimit::parse(query.limit)?;
    let after: Option<String> = decode_cursor(query.cursor.as_deref())?;
    let rows = crate::db::run(&state.pool, move |conn| {
        let mut q = visible_to(&staff);
        if let Some(role) = query.role {
            q = q.filter(users::role.eq(role));
        }
        if let Some(centre) = query.centre_id {
            q = q.filter(users::centre_id.eq(centre));
        }
        if let Some(active) = query.active {
            q = q.filter(users::active.eq(active));
        }
        if let Some(since) = query.updated_since {
            q = q.filter(users::updated_at.ge(since.naive_utc()));
        }
        if let Some(after) = after {
            q = q.filter(users::id.gt(after));
        }
        Ok(q.order(users::id.asc())
            .limit(limit.fetch())
            .load::<User>(conn)?)
    })
    .await?;
    Ok(web::Json(
        Page::from_rows(rows, limit, |u| u.id.clone()).map(UserResponse::from),
    ))
}

/// Read a staff account.
#[utoipa::path(
    tag = "users",
    params(("id" = String, Path, description = "User id")),
    responses((status = 200, description = "The account", body = UserResponse)),
    security(("bearer" = ["counsellor", "supervisor", "admin"]))
)]
#[get("/users/{id}")]
async fn get_user(
    state: web::Data<AppState>,
    staff: Staff,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = id.into_inner();
    let user = crate::db::run(&state.pool, move |conn| {
        visible_to(&staff)
            .filter(users::id.eq(id))
            .first::<User>(conn)
            .optional()?
            .ok_or_else(|| ApiError::not_found("user"))
    })
    .await?;
    Ok(respond(StatusCode::OK, user))
}

/// Update, move, deactivate or reset a staff account (admin; `If-Match` required).
///
/// Moving a counsellor or supervisor to another centre, deactivating them or making them an
/// admin takes their open cases and scheduled follow-ups away from them: send `reassign_to` to
/// hand those over in the same change (each case gets an assignment event). Without it such a
/// change answers 409 listing the work (`open_cases`, `scheduled_follow_ups` and their counts).
#[utoipa::path(
    tag = "users",
    params(
        ("id" = String, Path, description = "User id"),
        ("If-Match" = String, Header, description = "ETag of the version being changed"),
    ),
    request_body = UpdateUser,
    responses(
        (status = 200, description = "The updated account", body = UserResponse),
        (
            status = 409,
            description = "The user still holds open work and no `reassign_to` was sent, or this is the last active admin",
            content_type = "application/problem+json",
            body = OpenWorkProblem
        ),
    ),
    security(("bearer" = ["admin"]))
)]
#[patch("/users/{id}")]
async fn update_user(
    state: web::Data<AppState>,
    staff: Admin,
    id: web::Path<String>,
    if_match: IfMatch,
    body: Json<UpdateUser>,
) -> Result<HttpResponse, ApiError> {
    let id = id.into_inner();
    let input = body.into_inner();
    let mut v = Validator::new();
    v.optional_text("full_name", input.full_name.as_deref(), 1, 200);
    if let Some(email) = &input.email {
        v.email("email", email);
    }
    v.finish()?;

    let lookup_staff = staff.clone();
    let lookup_id = id.clone();
    let current = crate::db::run(&state.pool, move |conn| {
        visible_to(&lookup_staff)
            .filter(users::id.eq(lookup_id))
            .first::<User>(conn)
            .optional()?
            .ok_or_else(|| ApiError::not_found("user"))
    })
    .await?;
    if_match.check(current.version)?;
    let new_hash = match &input.password {
        Some(password) => {
            check_policy(password, &current.username)
                .map_err(|reason| ApiError::unprocessable_field("password", reason))?;
            Some(state.passwords.hash(password.clone()).await?)
        }
        None => None,
    };

    let user = crate::db::transaction(&state.pool, move |conn| {
        change_user(conn, &staff, &id, if_match, input, new_hash)
    })
    .await?;
    Ok(respond(StatusCode::OK, user))
}

/// The change of a user, in one write transaction: the user row locked, open work handed over
/// (or the change refused), the user stored, sessions ended, the audit row written.
fn change_user(
    conn: &mut DbConnection,
    staff: &Staff,
    id: &str,
    if_match: IfMatch,
    input: UpdateUser,
    new_hash: Option<String>,
) -> Result<User, ApiError> {
    let mut user = lock_for_change(conn, id)?.ok_or_else(|| ApiError::not_found("user"))?;
    if_match.check(user.version)?;
    let before = user.clone();
    let reassign_to = input.reassign_to.clone();
    let Change {
        changes,
        end_sessions,
    } = apply(conn, &mut user, input, new_hash)?;
    match (handover::reason(&before, &user), reassign_to.as_deref()) {
        (Some(reason), successor) => handover::hand_over(conn, staff, &before, reason, successor)?,
        (None, Some(_)) => return Err(ApiError::unprocessable_field(
            "reassign_to",
            "only a move to another centre, a deactivation or a change to admin hands work over",
        )),
        (None, None) => {}
    }
    if changes.is_empty() {
        return Ok(user);
    }
    user.save(conn)?;
    if let Some(reason) = end_sessions {
        revoke_all(conn, &user.id, reason)?;
    }
    let action = match (
        changes.contains("active") && !user.active,
        changes.contains("password"),
    ) {
        (true, _) => "user.deactivate",
        (false, true) => "user.password_reset",
        _ => "user.update",
    };
    Event::new(action, "user", Some(&user.id))
        .by(staff)
        .centre(user.centre_id.as_deref())
        .changed(changes.fields())
        .record(conn)?;
    Ok(user)
}

/// What [`apply`] changed: the fields, and why the user's sessions end, if they do.
struct Change {
    changes: Changes,
    end_sessions: Option<&'static str>,
}

/// Applies the requested changes to `user` (not yet stored): 422 for a centre that does not fit
/// the role, 409 when the last active admin would go.
fn apply(
    conn: &mut DbConnection,
    user: &mut User,
    input: UpdateUser,
    new_hash: Option<String>,
) -> Result<Change, ApiError> {
    let mut changes = Changes::new();
    let full_name = input.full_name.map(|n| n.trim().to_owned());
    changes.set("full_name", &mut user.full_name, full_name);
    changes.set("email", &mut user.email, input.email.map(Some));
    let old_role = user.role;
    changes.set("role", &mut user.role, input.role);
    let centre_id = if user.role == Role::Admin {
        None
    } else {
        input.centre_id.or_else(|| user.centre_id.clone())
    };
    changes.set("centre_id", &mut user.centre_id, Some(centre_id));
    if changes.contains("role") || changes.contains("centre_id") {
        check_centre(conn, user.role, user.centre_id.as_deref())?;
    }
    let mut end_sessions = None;
    if changes.set("active", &mut user.active, input.active) && !user.active {
        end_sessions = Some("deactivated");
    }
    if let Some(hash) = new_hash {
        user.password_hash = hash;
        user.must_change_password = true;
        changes.mark("password");
        end_sessions = Some("password reset by admin");
    }
    let leaves_admin_role = old_role == Role::Admin && (user.role != Role::Admin || !user.active);
    if !changes.is_empty() && leaves_admin_role {
        check_other_admins(conn, &user.id)?;
    }
    Ok(Change {
        changes,
        end_sessions,
    })
}

/// 409 unless another active admin remains.
fn check_other_admins(conn: &mut DbConnection, user_id: &str) -> Result<(), ApiError> {
    let other_admins = users::table
        .filter(users::role.eq(Role::Admin))
        .filter(users::active.eq(true))
        .filter(users::id.ne(user_id))
        .count()
        .get_result::<i64>(conn)?;
    if other_admins == 0 {
        return Err(ApiError::conflict("this is the last active admin"));
    }
    Ok(())
}

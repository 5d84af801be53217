//! Your own account: read it, change your password. Both work while a password change is
//! pending (`PendingStaff`), which is how a new account gets its first own password.

use actix_web::http::StatusCode;
use actix_web::{get, post, web, HttpResponse};
use diesel::prelude::*;
use utoipa_actix_web::service_config::ServiceConfig;

use super::queries::lock_for_change;
use super::routes::respond;
use super::{ChangePasswordRequest, User, UserResponse};
use crate::audit::Event;
use crate::auth::attempts::{self, Claimant};
use crate::auth::credentials::find_by_id;
use crate::auth::password::check_policy;
use crate::auth::sessions::revoke_all;
use crate::auth::staff::{PendingStaff, Staff};
use crate::db::schema::users;
use crate::db::versioned::Versioned;
use crate::error::ApiError;
use crate::http::Json;
use crate::state::AppState;

pub fn configure(cfg: &mut ServiceConfig) {
    cfg.service(me).service(change_password);
}

/// The caller's own account.
#[utoipa::path(
    tag = "auth",
    responses((status = 200, description = "Your account", body = UserResponse)),
    security(("bearer" = ["counsellor", "supervisor", "admin"]))
)]
#[get("/me")]
async fn me(state: web::Data<AppState>, staff: PendingStaff) -> Result<HttpResponse, ApiError> {
    let id = staff.0.id;
    let user = crate::db::run(&state.pool, move |conn| {
        Ok(users::table.filter(users::id.eq(id)).first::<User>(conn)?)
    })
    .await?;
    Ok(respond(StatusCode::OK, user))
}

/// Change your own password. Every session of yours ends: log in again with the new password.
///
/// A wrong `current_password` (422) counts as a failed login for your account and is throttled
/// the same way (429 with `Retry-After`).
#[utoipa::path(
    tag = "auth",
    request_body = ChangePasswordRequest,
    responses((status = 204, description = "Password changed; log in again")),
    security(("bearer" = ["counsellor", "supervisor", "admin"]))
)]
#[post("/me/password")]
async fn change_password(
    state: web::Data<AppState>,
    staff: PendingStaff,
    body: Json<ChangePasswordRequest>,
) -> Result<HttpResponse, ApiError> {
    let staff = staff.0;
    let input = body.into_inner();
    check_current_password(&state, &staff, &input).await?;
    let new_hash = state.passwords.hash(input.new_password).await?;
    crate::db::transaction(&state.pool, move |conn| {
        let mut user =
            lock_for_change(conn, &staff.id)?.ok_or_else(|| ApiError::not_found("user"))?;
        user.password_hash = new_hash;
        user.must_change_password = false;
        // The row is locked: no one else can have saved it since.
        user.save(conn)?;
        revoke_all(conn, &staff.id, "password changed")?;
        Event::new("user.password_change", "user", Some(&staff.id))
            .by(&staff)
            .centre(staff.centre_id.as_deref())
            .changed(vec!["password"])
            .record(conn)?;
        Ok(())
    })
    .await?;
    Ok(HttpResponse::NoContent().finish())
}

/// 422 unless `current_password` is right and `new_password` is acceptable. A wrong current
/// password counts as a failed login for the account: someone holding a stolen access token
/// must not be able to guess the password without limit or trace.
async fn check_current_password(
    state: &web::Data<AppState>,
    staff: &Staff,
    input: &ChangePasswordRequest,
) -> Result<(), ApiError> {
    let user_id = staff.id.clone();
    let user = crate::db::run(&state.pool, move |conn| Ok(find_by_id(conn, &user_id)?)).await?;
    let claimant = Claimant::new(Some(&user), &user.username, &state.pseudonyms);
    let current_ok = attempts::throttled_verify(
        state,
        claimant,
        staff.meta.clone(),
        Some(user.password_hash.clone()),
        input.current_password.clone(),
        "auth.password_change_failed",
    )
    .await?;
    if !current_ok {
        return Err(ApiError::unprocessable_field(
            "current_password",
            "is not your current password",
        ));
    }
    check_policy(&input.new_password, &user.username)
        .map_err(|reason| ApiError::unprocessable_field("new_password", reason))?;
    if input.new_password == input.current_password {
        return Err(ApiError::unprocessable_field(
            "new_password",
            "must differ from the current password",
        ));
    }
    Ok(())
}

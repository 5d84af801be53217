use actix_web::http::StatusCode;
use actix_web::{get, post, web, HttpResponse};
use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_actix_web::service_config::ServiceConfig;

use super::attempts::{self, Claimant};
use super::password::check_policy;
use super::staff::PendingStaff;
use super::tokens::{hash_refresh_token, new_refresh_token};
use crate::audit::Event;
use crate::db::schema::{refresh_tokens, sessions, users};
use crate::db::versioned::Versioned;
use crate::db::DbConnection;
use crate::error::ApiError;
use crate::http::{Json, RequestMeta};
use crate::state::AppState;
use crate::users::queries::{find_by_username, lock_for_change, revoke_sessions};
use crate::users::User;

pub fn configure(cfg: &mut ServiceConfig) {
    cfg.service(login)
        .service(refresh)
        .service(logout)
        .service(me)
        .service(change_password);
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    #[schema(example = "dilnoza.k", min_length = 1, max_length = 64)]
    pub username: String,
    #[schema(example = "plum orchard teapot 42", min_length = 1, max_length = 256)]
    pub password: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RefreshRequest {
    pub refresh_token: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChangePasswordRequest {
    pub current_password: String,
    #[schema(min_length = 12, max_length = 256)]
    pub new_password: String,
}

/// Tokens for a session.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct TokenResponse {
    /// Short-lived JWT: send as `Authorization: Bearer <token>`.
    pub access_token: String,
    #[schema(example = "Bearer")]
    pub token_type: String,
    /// Seconds until the access token expires.
    #[schema(example = 900)]
    pub expires_in: u64,
    /// Opaque; exchange at `POST /auth/refresh` for new tokens. Each is usable once: reusing a
    /// spent one ends the whole session.
    pub refresh_token: String,
    /// When true, only `POST /me/password` (and `GET /me`, logout) work until it is changed.
    pub must_change_password: bool,
}

/// Creates a session with its first refresh token, and the tokens to return.
fn start_session(
    conn: &mut DbConnection,
    state: &AppState,
    user: &User,
) -> Result<TokenResponse, ApiError> {
    let now = crate::time::now();
    let session_id = uuid::Uuid::now_v7().to_string();
    diesel::insert_into(sessions::table)
        .values((
            sessions::id.eq(&session_id),
            sessions::user_id.eq(&user.id),
            sessions::created_at.eq(now),
            sessions::expires_at.eq(now + state.refresh_ttl),
        ))
        .execute(conn)?;
    issue_tokens(conn, state, user, &session_id)
}

fn issue_tokens(
    conn: &mut DbConnection,
    state: &AppState,
    user: &User,
    session_id: &str,
) -> Result<TokenResponse, ApiError> {
    let refresh_token = new_refresh_token();
    diesel::insert_into(refresh_tokens::table)
        .values((
            refresh_tokens::token_hash.eq(hash_refresh_token(&refresh_token)),
            refresh_tokens::session_id.eq(session_id),
            refresh_tokens::created_at.eq(crate::time::now()),
        ))
        .execute(conn)?;
    let access_token = state.tokens.issue(
        &user.id,
        session_id,
        user.role.as_str(),
        user.centre_id.as_deref(),
    )?;
    Ok(TokenResponse {
        access_token,
        token_type: "Bearer".into(),
        expires_in: state.tokens.access_ttl.as_secs(),
        refresh_token,
        must_change_password: user.must_change_password,
    })
}

/// Log in with username and password.
///
/// Failed attempts are throttled: more than 5 for a username from one client address, or 20 from
/// one address, within 15 minutes answer 429 with `Retry-After` until the window passes, even
/// with the right password. Failures for a username from other addresses only slow its attempts
/// down (up to 4 s each), so that nobody can lock a person out from elsewhere.
#[utoipa::path(
    tag = "auth",
    request_body = LoginRequest,
    responses(
        (status = 200, description = "Logged in", body = TokenResponse),
    )
)]
#[post("/auth/login")]
async fn login(
    state: web::Data<AppState>,
    meta: RequestMeta,
    body: Json<LoginRequest>,
) -> Result<web::Json<TokenResponse>, ApiError> {
    let input = body.into_inner();
    let (username_len, password_len) = (
        input.username.chars().count(),
        input.password.chars().count(),
    );
    if !(1..=64).contains(&username_len) || !(1..=256).contains(&password_len) {
        return Err(ApiError::unauthorized("wrong username or password"));
    }
    let typed = input.username.clone();
    let user = crate::db::run(&state.pool, move |conn| Ok(find_by_username(conn, &typed)?)).await?;
    let claimant = Claimant::new(user.as_ref(), &input.username, &state.pseudonyms);
    // An inactive account is checked against the dummy hash: it fails like a wrong password.
    let stored_hash = user
        .as_ref()
        .filter(|u| u.active)
        .map(|u| u.password_hash.clone());
    let verified = attempts::throttled_verify(
        &state,
        claimant,
        meta.clone(),
        stored_hash,
        input.password,
        "auth.login_failed",
    )
    .await?;
    let Some(user) = user.filter(|_| verified) else {
        return Err(ApiError::unauthorized("wrong username or password"));
    };
    let app = state.clone();
    let tokens = crate::db::transaction(&state.pool, move |conn| {
        let tokens = start_session(conn, &app, &user)?;
        Event::new("auth.login", "user", Some(&user.id))
            .claimed_by(&user.username, Some(&user.id), &meta)
            .centre(user.centre_id.as_deref())
            .record(conn)?;
        Ok(tokens)
    })
    .await?;
    Ok(web::Json(tokens))
}

enum RefreshOutcome {
    Issued(TokenResponse),
    Reused,
    Invalid,
}

/// Exchange a refresh token for new tokens (the old refresh token is spent).
///
/// Presenting a refresh token that was already exchanged ends the whole session: it means the
/// token was copied, and whoever holds the newer one is cut off too.
#[utoipa::path(
    tag = "auth",
    request_body = RefreshRequest,
    responses((status = 200, description = "New tokens", body = TokenResponse))
)]
#[post("/auth/refresh")]
async fn refresh(
    state: web::Data<AppState>,
    meta: RequestMeta,
    body: Json<RefreshRequest>,
) -> Result<web::Json<TokenResponse>, ApiError> {
    let token_hash = hash_refresh_token(&body.into_inner().refresh_token);
    let app = state.clone();
    let outcome = crate::db::transaction(&state.pool, move |conn| {
        let now = crate::time::now();
        let found: Option<(Option<chrono::NaiveDateTime>, String)> = refresh_tokens::table
            .filter(refresh_tokens::token_hash.eq(&token_hash))
            .select((refresh_tokens::used_at, refresh_tokens::session_id))
            .first(conn)
            .optional()?;
        let Some((used_at, session_id)) = found else {
            return Ok(RefreshOutcome::Invalid);
        };
        let session: Option<(String, Option<chrono::NaiveDateTime>, chrono::NaiveDateTime)> =
            sessions::table
                .filter(sessions::id.eq(&session_id))
                .select((
                    sessions::user_id,
                    sessions::revoked_at,
                    sessions::expires_at,
                ))
                .first(conn)
                .optional()?;
        let Some((user_id, revoked_at, expires_at)) = session else {
            return Ok(RefreshOutcome::Invalid);
        };
        let user = users::table
            .filter(users::id.eq(&user_id))
            .first::<User>(conn)?;
        let revoke_reused = |conn: &mut DbConnection| -> Result<RefreshOutcome, ApiError> {
            if revoked_at.is_none() {
                diesel::update(sessions::table.filter(sessions::id.eq(&session_id)))
                    .set((
                        sessions::revoked_at.eq(now),
                        sessions::revoked_reason.eq("refresh token reused"),
                    ))
                    .execute(conn)?;
                Event::new("auth.refresh_token_reused", "session", Some(&session_id))
                    .claimed_by(&user.username, Some(&user.id), &meta)
                    .centre(user.centre_id.as_deref())
                    .record(conn)?;
            }
            Ok(RefreshOutcome::Reused)
        };
        if used_at.is_some() {
            return revoke_reused(conn);
        }
        if revoked_at.is_some() || expires_at <= now || !user.active {
            return Ok(RefreshOutcome::Invalid);
        }
        // Spend the token only if nobody else did since it was read: on PostgreSQL two
        // concurrent refreshes both read `used_at IS NULL`; the row lock makes one of them
        // update nothing here, and that one is a reuse.
        let spent = diesel::update(
            refresh_tokens::table
                .filter(refresh_tokens::token_hash.eq(&token_hash))
                .filter(refresh_tokens::used_at.is_null()),
        )
        .set(refresh_tokens::used_at.eq(now))
        .execute(conn)?;
        if spent != 1 {
            return revoke_reused(conn);
        }
        Ok(RefreshOutcome::Issued(issue_tokens(
            conn,
            &app,
            &user,
            &session_id,
        )?))
    })
    .await?;
    match outcome {
        RefreshOutcome::Issued(tokens) => Ok(web::Json(tokens)),
        RefreshOutcome::Reused => Err(ApiError::unauthorized(
            "this refresh token was already used; the session has been ended, log in again",
        )),
        RefreshOutcome::Invalid => Err(ApiError::unauthorized(
            "the refresh token is invalid or its session has ended",
        )),
    }
}

/// End the current session: its access and refresh tokens stop working at once.
#[utoipa::path(
    tag = "auth",
    responses((status = 204, description = "Logged out")),
    security(("bearer" = ["counsellor", "supervisor", "admin"]))
)]
#[post("/auth/logout")]
async fn logout(state: web::Data<AppState>, staff: PendingStaff) -> Result<HttpResponse, ApiError> {
    let staff = staff.0;
    crate::db::transaction(&state.pool, move |conn| {
        diesel::update(sessions::table.filter(sessions::id.eq(&staff.session_id)))
            .set((
                sessions::revoked_at.eq(crate::time::now()),
                sessions::revoked_reason.eq("logout"),
            ))
            .execute(conn)?;
        Event::new("auth.logout", "session", Some(&staff.session_id))
            .by(&staff)
            .centre(staff.centre_id.as_deref())
            .record(conn)?;
        Ok(())
    })
    .await?;
    Ok(HttpResponse::NoContent().finish())
}

/// The caller's own account.
#[utoipa::path(
    tag = "auth",
    responses((status = 200, description = "Your account", body = crate::users::UserResponse)),
    security(("bearer" = ["counsellor", "supervisor", "admin"]))
)]
#[get("/me")]
async fn me(state: web::Data<AppState>, staff: PendingStaff) -> Result<HttpResponse, ApiError> {
    let id = staff.0.id;
    let user = crate::db::run(&state.pool, move |conn| {
        Ok(users::table.filter(users::id.eq(id)).first::<User>(conn)?)
    })
    .await?;
    Ok(crate::users::routes_respond(StatusCode::OK, user))
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
    let user_id = staff.id.clone();
    let user = crate::db::run(&state.pool, move |conn| {
        Ok(users::table
            .filter(users::id.eq(user_id))
            .first::<User>(conn)?)
    })
    .await?;
    // A wrong current password counts as a failed login for the account (someone holding a
    // stolen access token must not be able to guess the password without limit or trace).
    let claimant = Claimant::new(Some(&user), &user.username, &state.pseudonyms);
    let current_ok = attempts::throttled_verify(
        &state,
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
    let new_hash = state.passwords.hash(input.new_password).await?;
    crate::db::transaction(&state.pool, move |conn| {
        let mut user =
            lock_for_change(conn, &staff.id)?.ok_or_else(|| ApiError::not_found("user"))?;
        user.password_hash = new_hash;
        user.must_change_password = false;
        // The row is locked: no one else can have saved it since.
        user.save(conn)?;
        revoke_sessions(conn, &staff.id, "password changed")?;
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

use actix_web::{post, web, HttpResponse};
use chrono::NaiveDateTime;
use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_actix_web::service_config::ServiceConfig;

use super::attempts::{self, Claimant};
use super::credentials::{find_by_id, find_by_username, Credentials};
use super::sessions::revoke;
use super::staff::PendingStaff;
use super::tokens::{hash_refresh_token, new_refresh_token, Holder};
use crate::audit::Event;
use crate::db::schema::{refresh_tokens, sessions, users};
use crate::db::DbConnection;
use crate::error::ApiError;
use crate::http::{Json, RequestMeta};
use crate::state::AppState;

pub fn configure(cfg: &mut ServiceConfig) {
    cfg.service(login).service(refresh).service(logout);
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

/// Tokens for a session.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct TokenResponse {
    /// Short-lived JWT: send as `Authorization: Bearer <token>`. Its claims hold your
    /// username, role and centre as they are now; when an admin changes them, requests with it
    /// answer 401 until you refresh it.
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
    user: &Credentials,
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
    user: &Credentials,
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
    let holder = Holder {
        user_id: &user.id,
        username: &user.username,
        role: user.role,
        centre: user.centre_id.as_deref(),
        must_change_password: user.must_change_password,
    };
    let access_token = state.tokens.issue(&holder, session_id)?;
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
    let rehash = stored_hash
        .as_deref()
        .is_some_and(|stored| state.passwords.needs_rehash(stored))
        .then(|| input.password.clone());
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
    let rehashed = match rehash {
        Some(password) => Some(state.passwords.hash(password).await?),
        None => None,
    };
    let app = state.clone();
    let tokens = crate::db::transaction(&state.pool, move |conn| {
        if let Some(hash) = rehashed {
            replace_hash(conn, &user, &hash)?;
        }
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

/// Stores a hash of the same password made with the current parameters, unless the password
/// changed since it was read.
fn replace_hash(conn: &mut DbConnection, user: &Credentials, hash: &str) -> QueryResult<usize> {
    diesel::update(
        users::table
            .filter(users::id.eq(&user.id))
            .filter(users::password_hash.eq(&user.password_hash)),
    )
    .set(users::password_hash.eq(hash))
    .execute(conn)
}

enum RefreshOutcome {
    Issued(TokenResponse),
    Reused,
    Invalid,
}

/// The session a presented refresh token belongs to, as it stands.
struct Presented {
    token_hash: String,
    session_id: String,
    used: bool,
    revoked: bool,
    expired: bool,
    user: Credentials,
}

type PresentedRow = (
    Option<NaiveDateTime>,
    String,
    Option<NaiveDateTime>,
    NaiveDateTime,
);

fn find_presented(conn: &mut DbConnection, token_hash: String) -> QueryResult<Option<Presented>> {
    let found: Option<PresentedRow> = refresh_tokens::table
        .inner_join(sessions::table)
        .filter(refresh_tokens::token_hash.eq(&token_hash))
        .select((
            refresh_tokens::used_at,
            refresh_tokens::session_id,
            sessions::revoked_at,
            sessions::expires_at,
        ))
        .first(conn)
        .optional()?;
    let Some((used_at, session_id, revoked_at, expires_at)) = found else {
        return Ok(None);
    };
    let user_id: String = sessions::table
        .find(&session_id)
        .select(sessions::user_id)
        .first(conn)?;
    Ok(Some(Presented {
        token_hash,
        session_id,
        used: used_at.is_some(),
        revoked: revoked_at.is_some(),
        expired: expires_at <= crate::time::now(),
        user: find_by_id(conn, &user_id)?,
    }))
}

/// Ends the session of a refresh token presented twice (once: a later reuse finds it ended).
fn end_reused(
    conn: &mut DbConnection,
    presented: &Presented,
    meta: &RequestMeta,
) -> Result<RefreshOutcome, ApiError> {
    if !presented.revoked {
        revoke(conn, &presented.session_id, "refresh token reused")?;
        let user = &presented.user;
        Event::new(
            "auth.refresh_token_reused",
            "session",
            Some(&presented.session_id),
        )
        .claimed_by(&user.username, Some(&user.id), meta)
        .centre(user.centre_id.as_deref())
        .record(conn)?;
    }
    Ok(RefreshOutcome::Reused)
}

/// Spends the token only if nobody else did since it was read: on PostgreSQL two concurrent
/// refreshes both read `used_at IS NULL`; the row lock makes one of them update nothing here,
/// and that one is a reuse.
fn spend(conn: &mut DbConnection, token_hash: &str) -> QueryResult<bool> {
    let spent = diesel::update(
        refresh_tokens::table
            .filter(refresh_tokens::token_hash.eq(token_hash))
            .filter(refresh_tokens::used_at.is_null()),
    )
    .set(refresh_tokens::used_at.eq(crate::time::now()))
    .execute(conn)?;
    Ok(spent == 1)
}

fn exchange(
    conn: &mut DbConnection,
    state: &AppState,
    token_hash: String,
    meta: &RequestMeta,
) -> Result<RefreshOutcome, ApiError> {
    let Some(presented) = find_presented(conn, token_hash)? else {
        return Ok(RefreshOutcome::Invalid);
    };
    if presented.used {
        return end_reused(conn, &presented, meta);
    }
    if presented.revoked || presented.expired || !presented.user.active {
        return Ok(RefreshOutcome::Invalid);
    }
    if !spend(conn, &presented.token_hash)? {
        return end_reused(conn, &presented, meta);
    }
    let tokens = issue_tokens(conn, state, &presented.user, &presented.session_id)?;
    Ok(RefreshOutcome::Issued(tokens))
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
        exchange(conn, &app, token_hash, &meta)
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
        revoke(conn, &staff.session_id, "logout")?;
        Event::new("auth.logout", "session", Some(&staff.session_id))
            .by(&staff)
            .centre(staff.centre_id.as_deref())
            .record(conn)?;
        Ok(())
    })
    .await?;
    Ok(HttpResponse::NoContent().finish())
}

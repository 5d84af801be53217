//! Who is calling: the `Staff` extractor and role checks used by every protected handler.
//!
//! The JWT is checked first (signature, algorithm, expiry, issuer, audience); it names the
//! session, the user and their username, role and centre as they were at issue, which the role
//! guards use. Then one primary-key lookup, run by the request's first query on the same
//! connection ([`crate::db::precondition`]), confirms that the session is live, the user active,
//! their centre active and the account still as the token describes it. So logout,
//! deactivation and password changes take effect at the next request; after a transfer,
//! promotion or demotion the next request answers 401 until the client refreshes its token
//! (the new one carries the new role and centre); staff of an inactive centre are refused (403)
//! on every request — here, so that no handler can forget it. Login itself still succeeds for
//! them: the session works again as soon as the centre is reactivated.
//!
//! The token is read at most once per request ([`Sessions`], kept by [`crate::http::session`]),
//! whether the idempotency layer or an extractor asks first; the lookup runs once too.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use actix_web::dev::Payload;
use actix_web::http::header;
use actix_web::{web, FromRequest, HttpRequest};
use diesel::prelude::*;

use super::roles::Role;
use super::tokens::Claims;
use crate::db::precondition::{self, Check};
use crate::db::schema::{centres, sessions, users};
use crate::db::DbConnection;
use crate::error::ApiError;
use crate::http::session::{self, SessionResolver};
use crate::http::RequestMeta;
use crate::state::AppState;

/// An authenticated, active staff member with a live session.
#[derive(Clone, Debug)]
pub struct Staff {
    pub id: String,
    pub username: String,
    pub role: Role,
    pub centre_id: Option<String>,
    pub session_id: String,
    pub meta: RequestMeta,
}

/// A staff member who may still have to change their password: accepted only by `GET me`,
/// `POST me/password` and `POST auth/logout`. Every other handler takes [`Staff`], which refuses
/// such users with 403.
pub struct PendingStaff(pub Staff);

/// (username, role, centre, must_change_password, centre active).
type StaffRow = (String, Role, Option<String>, bool, Option<bool>);

/// The app's [`SessionResolver`]: a staff member and whether they must change their password.
pub struct Sessions;

impl SessionResolver for Sessions {
    type Outcome = Result<(Staff, bool), ApiError>;

    fn resolve(req: HttpRequest) -> Pin<Box<dyn Future<Output = Self::Outcome>>> {
        Box::pin(authenticate(req))
    }

    fn key_owner(outcome: &Self::Outcome) -> Option<String> {
        match outcome {
            Ok((staff, false)) => Some(staff.id.clone()),
            _ => None,
        }
    }
}

/// The request's session; `meta` describes the request as the handler sees it (a replayed
/// `POST` is a `GET` by then).
async fn current(req: HttpRequest) -> Result<(Staff, bool), ApiError> {
    let (mut staff, must_change_password) = session::session::<Sessions>(&req).await?;
    staff.meta = RequestMeta::of(&req);
    Ok((staff, must_change_password))
}

fn bearer_token(req: &HttpRequest) -> Result<&str, ApiError> {
    req.headers()
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| {
            value
                .strip_prefix("Bearer ")
                .or_else(|| value.strip_prefix("bearer "))
        })
        .map(str::trim)
        .ok_or_else(|| {
            ApiError::unauthorized("send an access token: Authorization: Bearer <token>")
        })
}

/// Checks the bearer token and has its session checked by the request's first query; also
/// returns `must_change_password`.
async fn authenticate(req: HttpRequest) -> Result<(Staff, bool), ApiError> {
    let state = req
        .app_data::<web::Data<AppState>>()
        .ok_or_else(|| ApiError::internal("application state missing"))?
        .clone();
    let claims = state
        .tokens
        .verify(bearer_token(&req)?)
        .ok_or_else(|| ApiError::unauthorized("the access token is invalid or expired"))?;
    let must_change_password = claims.must_change_password;
    let staff = Staff {
        id: claims.sub.clone(),
        username: claims.preferred_username.clone(),
        role: claims.role,
        centre_id: claims.centre.clone(),
        session_id: claims.sid.clone(),
        meta: RequestMeta::of(&req),
    };
    let check: Check = Arc::new(move |conn| check_session(conn, &claims));
    if !precondition::defer(Arc::clone(&check)) {
        crate::db::run(&state.pool, move |conn| check(conn)).await?;
    }
    Ok((staff, must_change_password))
}

/// One primary-key lookup: the token's session is live, its user active, their centre active,
/// and the account still as the token describes it.
fn check_session(conn: &mut DbConnection, claims: &Claims) -> Result<(), ApiError> {
    let now = chrono::Utc::now().naive_utc();
    let row: Option<StaffRow> = sessions::table
        .inner_join(users::table.left_join(centres::table))
        .filter(sessions::id.eq(&claims.sid))
        .filter(sessions::user_id.eq(&claims.sub))
        .filter(sessions::revoked_at.is_null())
        .filter(sessions::expires_at.gt(now))
        .filter(users::active.eq(true))
        .select((
            users::username,
            users::role,
            users::centre_id,
            users::must_change_password,
            centres::active.nullable(),
        ))
        .first::<StaffRow>(conn)
        .optional()?;
    let (username, role, centre_id, must_change_password, centre_active) =
        row.ok_or_else(|| ApiError::unauthorized("the session has ended; log in again"))?;
    if role != Role::Admin && centre_active != Some(true) {
        return Err(ApiError::centre_inactive());
    }
    let as_issued = username == claims.preferred_username
        && role == claims.role
        && centre_id == claims.centre
        && must_change_password == claims.must_change_password;
    if !as_issued {
        return Err(ApiError::unauthorized(
            "your role or centre changed since this access token was issued; get a new one \
             with POST /api/v1/auth/refresh",
        ));
    }
    Ok(())
}

impl FromRequest for Staff {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, ApiError>>>>;

    fn from_request(req: &HttpRequest, _payload: &mut Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move {
            let (staff, must_change_password) = current(req).await?;
            if must_change_password {
                return Err(ApiError::forbidden(
                    "you must change your password first: POST /api/v1/me/password",
                ));
            }
            Ok(staff)
        })
    }
}

impl FromRequest for PendingStaff {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, ApiError>>>>;

    fn from_request(req: &HttpRequest, _payload: &mut Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move { current(req).await.map(|(staff, _)| PendingStaff(staff)) })
    }
}

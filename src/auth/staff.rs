//! Who is calling: the `Staff` extractor and role checks used by every protected handler.
//!
//! The JWT is checked first (signature, algorithm, expiry, issuer, audience); it names the
//! session, the user and their username, role and centre as they were at issue, which the role
//! guards use. Then a lookup ([`super::session_check`]), run with the request's first query on
//! the same connection ([`crate::db::precondition`]) or, for an audited read on PostgreSQL, with
//! its audit events ([`crate::audit::read`]), confirms that the session is live, the user active,
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

use super::roles::Role;
use super::session_check::SessionCheck;
use crate::db::precondition::{self, Check};
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
    let check: Check = Arc::new(SessionCheck::new(claims));
    if !precondition::defer(Arc::clone(&check)) {
        crate::db::run(&state.pool, move |conn| check.run(conn)).await?;
    }
    Ok((staff, must_change_password))
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

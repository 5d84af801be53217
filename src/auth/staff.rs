//! Who is calling: the `Staff` extractor and role checks used by every protected handler.
//!
//! The JWT is checked first (signature, algorithm, expiry, issuer, audience); then one primary-key
//! lookup confirms that its session is live and its user active, and reads the user's current
//! role and centre and whether that centre is active. So logout, deactivation, password changes,
//! transfers and demotions take effect at the next request, and staff of an inactive centre are
//! refused (403) on every request — here, so that no handler can forget it. Login itself still
//! succeeds for them: the session works again as soon as the centre is reactivated.
//!
//! The lookup runs at most once per request ([`Sessions`], kept by [`crate::http::session`]),
//! whether the idempotency layer or an extractor asks first.

use std::future::Future;
use std::pin::Pin;

use actix_web::dev::Payload;
use actix_web::http::header;
use actix_web::{web, FromRequest, HttpRequest};
use diesel::prelude::*;

use super::roles::Role;
use crate::db::schema::{centres, sessions, users};
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

/// (id, username, role, centre, must_change_password, centre active).
type StaffRow = (String, String, Role, Option<String>, bool, Option<bool>);

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

/// Checks the bearer token and its session; also returns `must_change_password`.
async fn authenticate(req: HttpRequest) -> Result<(Staff, bool), ApiError> {
    let state = req
        .app_data::<web::Data<AppState>>()
        .ok_or_else(|| ApiError::internal("application state missing"))?
        .clone();
    let claims = state
        .tokens
        .verify(bearer_token(&req)?)
        .ok_or_else(|| ApiError::unauthorized("the access token is invalid or expired"))?;
    let meta = RequestMeta::of(&req);
    let (user_id, session_id) = (claims.sub, claims.sid);
    let lookup_session = session_id.clone();
    let row: Option<StaffRow> = crate::db::run(&state.pool, move |conn| {
        let now = chrono::Utc::now().naive_utc();
        Ok(sessions::table
            .inner_join(users::table.left_join(centres::table))
            .filter(sessions::id.eq(&lookup_session))
            .filter(sessions::user_id.eq(&user_id))
            .filter(sessions::revoked_at.is_null())
            .filter(sessions::expires_at.gt(now))
            .filter(users::active.eq(true))
            .select((
                users::id,
                users::username,
                users::role,
                users::centre_id,
                users::must_change_password,
                centres::active.nullable(),
            ))
            .first::<StaffRow>(conn)
            .optional()?)
    })
    .await?;
    let (id, username, role, centre_id, must_change_password, centre_active) =
        row.ok_or_else(|| ApiError::unauthorized("the session has ended; log in again"))?;
    if role != Role::Admin && centre_active != Some(true) {
        return Err(ApiError::centre_inactive());
    }
    let staff = Staff {
        id,
        username,
        role,
        centre_id,
        session_id,
        meta,
    };
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

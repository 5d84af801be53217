//! `Idempotency-Key` for `POST`s: a retry with the same key and body answers like the first
//! (successful) request and creates nothing new — what a counsellor's phone on a flaky network
//! needs. Keys are per user and kept 24 hours. The same key with a different body answers 422; a
//! retry while the first request is still running answers 409.
//!
//! The store keeps no secrets and no personal data. A request is known by an HMAC keyed with a
//! server secret (a plain hash of a short body can be reversed by guessing). A response is known by
//! its status and the path of the resource it showed, its `Content-Location` (see
//! [`super::representation`]), never by its body. A replay reads that resource again with a `GET`
//! under the caller's own session: it shows the current state and `ETag`, passes the access rules
//! as they are now (404 if the caller lost access) and is audited as a read. A 2xx without a body
//! replays as its bare status. A 2xx with a body but no `Content-Location` is not remembered.
//!
//! Routes that hand out tokens or take passwords ([`NOT_IDEMPOTENT`]) ignore the key: they run
//! as if it were not there and nothing of theirs is stored.
//!
//! The key is reserved before the handler runs, so two concurrent requests with one key cannot
//! both create. Only 2xx responses are remembered: a failed request changed nothing, and its
//! retry should run again (e.g. after the user logs in anew).

use actix_web::body::{BodySize, BoxBody, MessageBody};
use actix_web::dev::{Payload, ServiceRequest, ServiceResponse};
use actix_web::http::header::{self, HeaderName, HeaderValue};
use actix_web::http::{Method, StatusCode, Uri};
use actix_web::middleware::Next;
use actix_web::{web, HttpResponse};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use chrono::NaiveDateTime;
use diesel::prelude::*;
use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::config::JwtSecret;
use crate::db::schema::idempotency_keys;
use crate::db::DbConnection;
use crate::error::ApiError;
use crate::http::json::BodyLimit;
use crate::http::session::{self, SessionResolver};
use crate::state::AppState;

pub const HEADER: &str = "idempotency-key";
pub const REPLAYED_HEADER: &str = "idempotent-replayed";
const RESERVED: i32 = 0;
const LIFETIME_HOURS: i64 = 24;
const IN_PROGRESS: &str =
    "a request with this Idempotency-Key is still being processed; retry shortly";

/// `POST` routes (route patterns; a trailing `*` covers every route under it) that ignore
/// `Idempotency-Key`: they hand out tokens or carry passwords, which must never be stored. Every
/// `POST` whose body has a password field belongs here (a test walks the OpenAPI document).
pub const NOT_IDEMPOTENT: &[&str] = &["/api/v1/auth/*", "/api/v1/me/password", "/api/v1/users"];

/// Whether a `POST` to the route `pattern` (e.g. `/api/v1/cases/{id}/close`) honours the key.
pub fn accepts_key(pattern: &str) -> bool {
    !NOT_IDEMPOTENT
        .iter()
        .any(|excluded| match excluded.strip_suffix('*') {
            Some(prefix) => pattern.starts_with(prefix),
            None => pattern == *excluded,
        })
}

type HmacSha256 = Hmac<Sha256>;

/// The secret request fingerprints are keyed with. It is derived from the token-signing secret
/// under its own label, so replicas sharing `KARVON_JWT_SECRET` agree and the two uses of the
/// secret never produce comparable values.
pub struct FingerprintKey([u8; 32]);

impl FingerprintKey {
    pub fn derive(secret: &JwtSecret) -> Self {
        let mut mac = keyed(secret.as_bytes());
        mac.update(b"karvon/idempotency-key/request-fingerprint/v1");
        Self(mac.finalize().into_bytes().into())
    }

    /// The fingerprint of a request: its path, query string and body.
    pub fn fingerprint(&self, path: &str, query: &str, body: &[u8]) -> String {
        let mut mac = keyed(&self.0);
        mac.update(path.as_bytes());
        mac.update(&[0]);
        mac.update(query.as_bytes());
        mac.update(&[0]);
        mac.update(body);
        URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes())
    }
}

impl std::fmt::Debug for FingerprintKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("FingerprintKey(***)")
    }
}

fn keyed(key: &[u8]) -> HmacSha256 {
    HmacSha256::new_from_slice(key).expect("HMAC accepts keys of any length")
}

/// Deletes every key older than 24 hours, whoever sent it (by `idempotency_keys_created_at_idx`).
pub fn purge_expired(conn: &mut DbConnection, now: NaiveDateTime) -> QueryResult<usize> {
    let expired_before = now - chrono::Duration::hours(LIFETIME_HOURS);
    diesel::delete(idempotency_keys::table.filter(idempotency_keys::created_at.lt(expired_before)))
        .execute(conn)
}

enum Reservation {
    Reserved,
    Replay {
        status: StatusCode,
        location: Option<String>,
    },
    Mismatch,
}

/// The caller's key and who they are, for a request that takes part.
struct Keyed {
    user_id: String,
    key: String,
}

/// The middleware, wired with the app's session resolver `R`.
pub async fn idempotent_posts<R: SessionResolver>(
    mut req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let key = match requested_key(&req) {
        None => return pass(req, next).await,
        Some(Err(error)) => return Ok(req.error_response(error)),
        Some(Ok(key)) => key,
    };
    let Some(state) = req.app_data::<web::Data<AppState>>().cloned() else {
        return pass(req, next).await;
    };
    // Without a live session (bad token, logged out, deactivated) or with a password still to
    // change, the handler refuses the request itself: nothing to remember, nothing to replay.
    let outcome = session::session::<R>(req.request()).await;
    let Some(user_id) = R::key_owner(&outcome) else {
        return pass(req, next).await;
    };
    let keyed = Keyed { user_id, key };
    let body = match read_body(&mut req).await {
        Ok(body) => body,
        Err(error) => return Ok(req.error_response(error)),
    };
    let fingerprint = state
        .fingerprint_key
        .fingerprint(req.path(), req.query_string(), &body);
    req.set_payload(body.into());

    match reserve(&state, &keyed, fingerprint).await {
        Err(error) => Ok(req.error_response(error)),
        Ok(Reservation::Mismatch) => Ok(req.error_response(ApiError::unprocessable_field(
            "Idempotency-Key",
            "was already used for a different request; use a new key for a new request",
        ))),
        Ok(Reservation::Replay { status, location }) => replay(req, next, status, location).await,
        Ok(Reservation::Reserved) => run_and_remember(req, next, &state, keyed).await,
    }
}

async fn pass(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    next.call(req)
        .await
        .map(ServiceResponse::map_into_boxed_body)
}

/// The key of a `POST` to a route that honours it (`None` otherwise); an error for an unusable
/// value. The route is found as the router will find it (on the percent-decoded path).
fn requested_key(req: &ServiceRequest) -> Option<Result<String, ApiError>> {
    let value = req.headers().get(HEADER)?;
    if req.method() != Method::POST {
        return None;
    }
    let pattern = req
        .resource_map()
        .match_pattern(req.match_info().get_ref().path())?;
    if !accepts_key(&pattern) {
        return None;
    }
    let key = value
        .to_str()
        .ok()
        .filter(|k| !k.is_empty() && k.len() <= 255)
        .map(str::to_owned)
        .ok_or_else(|| {
            ApiError::invalid_field(
                "Idempotency-Key",
                "must be 1 to 255 visible ASCII characters",
            )
        });
    Some(key)
}

async fn read_body(req: &mut ServiceRequest) -> Result<web::Bytes, ApiError> {
    let limit = req
        .app_data::<BodyLimit>()
        .map_or(BodyLimit::DEFAULT, |l| l.0);
    req.extract::<web::Bytes>().await.map_err(|error| {
        if error.as_response_error().status_code() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::payload_too_large(limit)
        } else {
            ApiError::bad_request("the request body could not be read")
        }
    })
}

async fn reserve(
    state: &AppState,
    keyed: &Keyed,
    fingerprint: String,
) -> Result<Reservation, ApiError> {
    let (user_id, key) = (keyed.user_id.clone(), keyed.key.clone());
    // Expired keys of everyone are purged by housekeeping, off the request path.
    crate::db::transaction(&state.pool, move |conn| {
        reserve_in(conn, &user_id, &key, &fingerprint, crate::time::now())
    })
    .await
}

fn reserve_in(
    conn: &mut DbConnection,
    user_id: &str,
    key: &str,
    fingerprint: &str,
    now: NaiveDateTime,
) -> Result<Reservation, ApiError> {
    let this_key = idempotency_keys::table
        .filter(idempotency_keys::user_id.eq(user_id))
        .filter(idempotency_keys::idempotency_key.eq(key));
    // An expired key is a new key, even when the purge above did not run.
    let expired_before = now - chrono::Duration::hours(LIFETIME_HOURS);
    diesel::delete(this_key.filter(idempotency_keys::created_at.lt(expired_before)))
        .execute(conn)?;
    let existing: Option<(String, i32, Option<String>)> = this_key
        .select((
            idempotency_keys::request_fingerprint,
            idempotency_keys::response_status,
            idempotency_keys::content_location,
        ))
        .first(conn)
        .optional()?;
    match existing {
        Some((stored, _, _)) if stored != fingerprint => Ok(Reservation::Mismatch),
        Some((_, RESERVED, _)) => Err(ApiError::conflict(IN_PROGRESS)),
        Some((_, status, location)) => Ok(Reservation::Replay {
            status: u16::try_from(status)
                .ok()
                .and_then(|s| StatusCode::from_u16(s).ok())
                .unwrap_or(StatusCode::OK),
            location,
        }),
        None => {
            let inserted = diesel::insert_into(idempotency_keys::table)
                .values((
                    idempotency_keys::user_id.eq(user_id),
                    idempotency_keys::idempotency_key.eq(key),
                    idempotency_keys::request_fingerprint.eq(fingerprint),
                    idempotency_keys::response_status.eq(RESERVED),
                    idempotency_keys::created_at.eq(now),
                ))
                .execute(conn);
            match inserted {
                Ok(_) => Ok(Reservation::Reserved),
                // A concurrent request with the same key reserved it first (PostgreSQL).
                Err(diesel::result::Error::DatabaseError(
                    diesel::result::DatabaseErrorKind::UniqueViolation,
                    _,
                )) => Err(ApiError::conflict(IN_PROGRESS)),
                Err(error) => Err(error.into()),
            }
        }
    }
}

/// Answers a retry: reads the resource the first response showed, as the caller, now.
async fn replay(
    mut req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
    status: StatusCode,
    location: Option<String>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let replayed = (
        HeaderName::from_static(REPLAYED_HEADER),
        HeaderValue::from_static("true"),
    );
    let Some(location) = location else {
        let response = HttpResponse::build(status).insert_header(replayed).finish();
        return Ok(req.into_response(response));
    };
    let Ok(uri) = location.parse::<Uri>() else {
        return Ok(req.error_response(ApiError::internal("stored Content-Location is not a URI")));
    };
    let head = req.head_mut();
    head.method = Method::GET;
    head.uri = uri.clone();
    head.headers.remove(header::CONTENT_TYPE);
    head.headers.remove(header::CONTENT_LENGTH);
    req.match_info_mut().get_mut().update(&uri);
    req.set_payload(Payload::None);

    let mut response = next.call(req).await?.map_into_boxed_body();
    if response.status().is_success() {
        *response.response_mut().status_mut() = status;
        if status == StatusCode::CREATED {
            if let Ok(value) = HeaderValue::from_str(&location) {
                response.headers_mut().insert(header::LOCATION, value);
            }
        }
    }
    response.headers_mut().insert(replayed.0, replayed.1);
    Ok(response)
}

/// Runs a reserved request; remembers a success, forgets the key otherwise.
async fn run_and_remember(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
    state: &AppState,
    keyed: Keyed,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let response = match next.call(req).await {
        Ok(response) => response.map_into_boxed_body(),
        Err(error) => {
            release(state, keyed).await;
            return Err(error);
        }
    };
    let status = response.status();
    let location = response
        .headers()
        .get(header::CONTENT_LOCATION)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let bodiless = matches!(
        response.response().body().size(),
        BodySize::None | BodySize::Sized(0)
    );
    if status.is_success() && (location.is_some() || bodiless) {
        remember(state, keyed, status, location).await;
    } else {
        if status.is_success() {
            // Replaying it would need a copy of the body, which may hold anything: not kept.
            tracing::error!(
                path = response.request().path(),
                "a POST showed a body without Content-Location: its Idempotency-Key is not kept"
            );
        }
        release(state, keyed).await;
    }
    Ok(response)
}

async fn remember(state: &AppState, keyed: Keyed, status: StatusCode, location: Option<String>) {
    let status = i32::from(status.as_u16());
    let stored = crate::db::transaction(&state.pool, move |conn| {
        diesel::update(
            idempotency_keys::table
                .filter(idempotency_keys::user_id.eq(&keyed.user_id))
                .filter(idempotency_keys::idempotency_key.eq(&keyed.key)),
        )
        .set((
            idempotency_keys::response_status.eq(status),
            idempotency_keys::content_location.eq(location),
        ))
        .execute(conn)?;
        Ok(())
    })
    .await;
    if let Err(error) = stored {
        tracing::warn!(%error, "could not remember an idempotent response");
    }
}

async fn release(state: &AppState, keyed: Keyed) {
    let released = crate::db::transaction(&state.pool, move |conn| {
        diesel::delete(
            idempotency_keys::table
                .filter(idempotency_keys::user_id.eq(&keyed.user_id))
                .filter(idempotency_keys::idempotency_key.eq(&keyed.key))
                .filter(idempotency_keys::response_status.eq(RESERVED)),
        )
        .execute(conn)?;
        Ok(())
    })
    .await;
    if let Err(error) = released {
        tracing::warn!(%error, "could not release an idempotency key");
    }
}

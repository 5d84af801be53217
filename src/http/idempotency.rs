//! `Idempotency-Key` for every `POST`: a retry with the same key and body returns the first
//! (successful) response again and creates nothing new — what a counsellor's phone on a flaky
//! network needs. Keys are per user and kept 24 hours. The same key with a different body
//! answers 422; a retry while the first request is still running answers 409.
//!
//! The key is reserved before the handler runs, so two concurrent requests with one key cannot
//! both create. Only 2xx responses are remembered: a failed request changed nothing, and its
//! retry should run again (e.g. after the user logs in anew).

use actix_web::body::{self, BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{self, HeaderName, HeaderValue};
use actix_web::http::{Method, StatusCode};
use actix_web::middleware::Next;
use actix_web::{web, HttpResponse};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use diesel::prelude::*;
use sha2::{Digest, Sha256};

use crate::db::schema::idempotency_keys;
use crate::error::ApiError;
use crate::http::json::BodyLimit;
use crate::state::AppState;

pub const HEADER: &str = "idempotency-key";
const REPLAYED_HEADER: &str = "idempotent-replayed";
const RESERVED: i32 = 0;

enum Reservation {
    Reserved,
    Replay {
        status: i32,
        body: String,
        etag: Option<String>,
    },
    InProgress,
    Mismatch,
}

pub async fn idempotent_posts(
    mut req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let key = match req.headers().get(HEADER) {
        Some(value) if req.method() == Method::POST => value.to_str().ok().map(str::to_owned),
        _ => {
            return next
                .call(req)
                .await
                .map(ServiceResponse::map_into_boxed_body)
        }
    };
    let Some(key) = key.filter(|k| !k.is_empty() && k.len() <= 255) else {
        return Ok(req.error_response(ApiError::invalid_field(
            "Idempotency-Key",
            "must be 1 to 255 visible ASCII characters",
        )));
    };
    let Some(state) = req.app_data::<web::Data<AppState>>().cloned() else {
        return next
            .call(req)
            .await
            .map(ServiceResponse::map_into_boxed_body);
    };
    // Without a live session (bad token, logged out, deactivated) or with a password still to
    // change, the handler refuses the request itself: nothing to remember, nothing to replay.
    let user_id = match crate::auth::staff::authenticate(req.request().clone()).await {
        Ok((staff, false)) => Some(staff.id),
        _ => None,
    };
    let Some(user_id) = user_id else {
        return next
            .call(req)
            .await
            .map(ServiceResponse::map_into_boxed_body);
    };

    let limit = req
        .app_data::<BodyLimit>()
        .map_or(BodyLimit::DEFAULT, |l| l.0);
    let bytes = match req.extract::<web::Bytes>().await {
        Ok(bytes) => bytes,
        Err(error) if error.as_response_error().status_code() == StatusCode::PAYLOAD_TOO_LARGE => {
            return Ok(req.error_response(ApiError::payload_too_large(limit)));
        }
        Err(_) => {
            return Ok(
                req.error_response(ApiError::bad_request("the request body could not be read"))
            )
        }
    };
    let fingerprint = {
        let mut hasher = Sha256::new();
        hasher.update(req.path().as_bytes());
        hasher.update([0]);
        hasher.update(req.query_string().as_bytes());
        hasher.update([0]);
        hasher.update(&bytes);
        URL_SAFE_NO_PAD.encode(hasher.finalize())
    };
    req.set_payload(bytes.into());

    let reservation = {
        let (user_id, key, fingerprint) = (user_id.clone(), key.clone(), fingerprint.clone());
        crate::db::transaction(&state.pool, move |conn| {
            reserve(conn, &user_id, &key, &fingerprint)
        })
        .await
    };
    let reservation = match reservation {
        Ok(reservation) => reservation,
        Err(error) => return Ok(req.error_response(error)),
    };
    match reservation {
        Reservation::Replay { status, body, etag } => {
            let status = u16::try_from(status)
                .ok()
                .and_then(|s| StatusCode::from_u16(s).ok())
                .unwrap_or(StatusCode::OK);
            let mut response = HttpResponse::build(status);
            response.insert_header((header::CONTENT_TYPE, "application/json"));
            response.insert_header((HeaderName::from_static(REPLAYED_HEADER), "true"));
            if let Some(etag) = etag.and_then(|e| HeaderValue::from_str(&e).ok()) {
                response.insert_header((header::ETAG, etag));
            }
            Ok(req.into_response(response.body(body)))
        }
        Reservation::InProgress => Ok(req.error_response(ApiError::conflict(
            "a request with this Idempotency-Key is still being processed; retry shortly",
        ))),
        Reservation::Mismatch => Ok(req.error_response(ApiError::unprocessable_field(
            "Idempotency-Key",
            "was already used for a different request; use a new key for a new request",
        ))),
        Reservation::Reserved => {
            let response = match next.call(req).await {
                Ok(response) => response.map_into_boxed_body(),
                Err(error) => {
                    release(&state, user_id, key).await;
                    return Err(error);
                }
            };
            if !response.status().is_success() {
                release(&state, user_id, key).await;
                return Ok(response);
            }
            let status = i32::from(response.status().as_u16());
            let etag = response
                .headers()
                .get(header::ETAG)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned);
            let (request, response) = response.into_parts();
            let (head, body) = response.into_parts();
            let bytes = body::to_bytes(body).await.unwrap_or_default();
            let stored_body = String::from_utf8_lossy(&bytes).into_owned();
            let store = crate::db::run(&state.pool, move |conn| {
                diesel::update(
                    idempotency_keys::table
                        .filter(idempotency_keys::user_id.eq(&user_id))
                        .filter(idempotency_keys::idempotency_key.eq(&key)),
                )
                .set((
                    idempotency_keys::response_status.eq(status),
                    idempotency_keys::response_body.eq(stored_body),
                    idempotency_keys::response_etag.eq(etag),
                ))
                .execute(conn)?;
                Ok(())
            })
            .await;
            if let Err(error) = store {
                tracing::warn!(%error, "could not remember an idempotent response");
            }
            Ok(ServiceResponse::new(
                request,
                head.set_body(bytes).map_into_boxed_body(),
            ))
        }
    }
}

fn reserve(
    conn: &mut crate::db::DbConnection,
    user_id: &str,
    key: &str,
    fingerprint: &str,
) -> Result<Reservation, ApiError> {
    let now = crate::time::now();
    let expired_before = now - chrono::Duration::hours(24);
    // Keys live 24 hours: each user's expired keys go when they next send one (indexed).
    diesel::delete(
        idempotency_keys::table
            .filter(idempotency_keys::user_id.eq(user_id))
            .filter(idempotency_keys::created_at.lt(expired_before)),
    )
    .execute(conn)?;
    let existing: Option<(String, i32, String, Option<String>)> = idempotency_keys::table
        .filter(idempotency_keys::user_id.eq(user_id))
        .filter(idempotency_keys::idempotency_key.eq(key))
        .select((
            idempotency_keys::request_fingerprint,
            idempotency_keys::response_status,
            idempotency_keys::response_body,
            idempotency_keys::response_etag,
        ))
        .first(conn)
        .optional()?;
    Ok(match existing {
        Some((stored, _, _, _)) if stored != fingerprint => Reservation::Mismatch,
        Some((_, RESERVED, _, _)) => Reservation::InProgress,
        Some((_, status, body, etag)) => Reservation::Replay { status, body, etag },
        None => {
            diesel::insert_into(idempotency_keys::table)
                .values((
                    idempotency_keys::user_id.eq(user_id),
                    idempotency_keys::idempotency_key.eq(key),
                    idempotency_keys::request_fingerprint.eq(fingerprint),
                    idempotency_keys::response_status.eq(RESERVED),
                    idempotency_keys::response_body.eq(""),
                    idempotency_keys::created_at.eq(now),
                ))
                .execute(conn)?;
            Reservation::Reserved
        }
    })
}

async fn release(state: &AppState, user_id: String, key: String) {
    let released = crate::db::run(&state.pool, move |conn| {
        diesel::delete(
            idempotency_keys::table
                .filter(idempotency_keys::user_id.eq(&user_id))
                .filter(idempotency_keys::idempotency_key.eq(&key))
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

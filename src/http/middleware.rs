//! The outermost request middleware: request id, NUL guard for the URL, header size cap,
//! security headers and one structured access-log line per request (method, route pattern,
//! status, latency — never bodies, tokens or query values).

use std::time::Instant;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{self, HeaderName, HeaderValue};
use actix_web::middleware::Next;
use actix_web::HttpMessage;
use tracing::Instrument;

use crate::error::ApiError;
use crate::http::request::RequestId;

pub const REQUEST_ID_HEADER: &str = "x-request-id";

/// The largest total size of a request's header fields (each counted as `name: value` plus its
/// line end); larger → 431. Real clients send a few KiB; actix alone would buffer 128 KiB.
pub const MAX_REQUEST_HEADER_BYTES: usize = 16 * 1024;

pub async fn request_context(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let request_id = incoming_request_id(&req).unwrap_or_else(|| uuid::Uuid::now_v7().to_string());
    req.extensions_mut().insert(RequestId(request_id.clone()));
    let is_docs = req.path().starts_with("/docs");
    let method = req.method().clone();
    let span = tracing::info_span!("request", request_id = %request_id, %method);
    let started = Instant::now();

    // Errors from inner services are already rendered as responses by actix (our handlers,
    // extractors and middleware all answer problem+json); only the checks below answer here.
    let mut response = match refusal(&req) {
        Some(error) => req.error_response(error).map_into_boxed_body(),
        None => next
            .call(req)
            .instrument(span.clone())
            .await?
            .map_into_boxed_body(),
    };

    let route = response
        .request()
        .match_pattern()
        .unwrap_or_else(|| "unmatched".to_owned());
    let status = response.status().as_u16();
    let latency_ms = started.elapsed().as_secs_f64() * 1000.0;
    span.in_scope(|| {
        // 503s are expected during an outage, which the pool logs once: not an error per request.
        if status >= 500 && status != 503 {
            tracing::error!(%route, status, latency_ms, "request failed");
        } else {
            tracing::info!(%route, status, latency_ms, "request");
        }
    });

    let headers = response.headers_mut();
    if let Ok(value) = HeaderValue::from_str(&request_id) {
        headers.insert(HeaderName::from_static(REQUEST_ID_HEADER), value);
    }
    set_security_headers(headers, is_docs);
    Ok(response)
}

/// Keeps a caller's request id when it is short and printable, so ids can be traced across
/// services; anything else is replaced (it would end up in logs and audit rows).
fn incoming_request_id(req: &ServiceRequest) -> Option<String> {
    let value = req.headers().get(REQUEST_ID_HEADER)?.to_str().ok()?.trim();
    let acceptable = !value.is_empty()
        && value.len() <= 128
        && value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.:".contains(c));
    acceptable.then(|| value.to_owned())
}

/// What refuses a request before any route sees it.
fn refusal(req: &ServiceRequest) -> Option<ApiError> {
    if url_contains_nul(req) {
        Some(ApiError::invalid_field(
            "url",
            "must not contain the NUL character",
        ))
    } else if header_bytes(req) > MAX_REQUEST_HEADER_BYTES {
        Some(ApiError::request_header_fields_too_large(
            MAX_REQUEST_HEADER_BYTES,
        ))
    } else {
        None
    }
}

fn header_bytes(req: &ServiceRequest) -> usize {
    req.headers()
        .iter()
        .map(|(name, value)| name.as_str().len() + value.len() + 4)
        .sum()
}

fn url_contains_nul(req: &ServiceRequest) -> bool {
    let raw = req
        .uri()
        .path_and_query()
        .map(|pq| pq.as_str())
        .unwrap_or_default();
    raw.to_ascii_lowercase().contains("%00")
}

fn set_security_headers(headers: &mut actix_web::http::header::HeaderMap, is_docs: bool) {
    let csp = if is_docs {
        // Swagger UI is served from this binary: scripts, styles and images from self only.
        "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; script-src 'self' 'unsafe-inline'; frame-ancestors 'none'"
    } else {
        "default-src 'none'; frame-ancestors 'none'"
    };
    let fixed = [
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::X_FRAME_OPTIONS, "DENY"),
        (header::REFERRER_POLICY, "no-referrer"),
        (header::CONTENT_SECURITY_POLICY, csp),
        (header::STRICT_TRANSPORT_SECURITY, "max-age=31536000"),
        (
            HeaderName::from_static("cross-origin-resource-policy"),
            "same-origin",
        ),
    ];
    for (name, value) in fixed {
        headers.insert(name, HeaderValue::from_static(value));
    }
    // Responses carry personal data: no shared or browser caches.
    if !is_docs && !headers.contains_key(header::CACHE_CONTROL) {
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
}

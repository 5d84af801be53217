//! Responses that show one resource. Each names the resource's canonical URL in
//! `Content-Location` (RFC 9110, section 8.7), a 201 also in `Location`, and its version in
//! `ETag`. An `Idempotency-Key` replay reads the resource again at that URL instead of keeping a
//! copy of the response (see [`super::idempotency`]), so every POST that shows a resource must
//! answer through [`representation`].

use actix_web::http::{header, StatusCode};
use actix_web::{HttpResponse, HttpResponseBuilder};

use super::concurrency::etag;

/// Where every API route lives.
pub const API_BASE: &str = "/api/v1";

/// A response with `status` showing the resource `{API_BASE}/{collection}/{id}` at `version`.
pub fn representation(
    status: StatusCode,
    collection: &str,
    id: &str,
    version: i32,
) -> HttpResponseBuilder {
    let path = format!("{API_BASE}/{collection}/{id}");
    let mut builder = HttpResponse::build(status);
    builder.insert_header((header::ETAG, etag(version)));
    if status == StatusCode::CREATED {
        builder.insert_header((header::LOCATION, path.clone()));
    }
    builder.insert_header((header::CONTENT_LOCATION, path));
    builder
}

//! Optimistic concurrency: every mutable resource has a `version`; reads send it as `ETag`,
//! and `PATCH` must send it back in `If-Match` (428 without it, 412 when it is stale).

use std::future::{ready, Ready};

use actix_web::dev::Payload;
use actix_web::http::header;
use actix_web::{FromRequest, HttpRequest};

use crate::error::ApiError;

pub fn etag(version: i32) -> String {
    format!("\"{version}\"")
}

/// The version named by `If-Match`; `None` for `If-Match: *` (any version).
#[derive(Clone, Copy, Debug)]
pub struct IfMatch(pub Option<i32>);

impl IfMatch {
    /// 412 unless `current` is the version the client read.
    pub fn check(self, current: i32) -> Result<(), ApiError> {
        match self.0 {
            Some(expected) if expected != current => Err(ApiError::precondition_failed()),
            _ => Ok(()),
        }
    }
}

impl FromRequest for IfMatch {
    type Error = ApiError;
    type Future = Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _payload: &mut Payload) -> Self::Future {
        let Some(value) = req.headers().get(header::IF_MATCH) else {
            return ready(Err(ApiError::precondition_required()));
        };
        let parsed = value.to_str().ok().map(str::trim).and_then(|text| {
            if text == "*" {
                return Some(None);
            }
            let text = text.strip_prefix("W/").unwrap_or(text);
            text.strip_prefix('"')
                .and_then(|rest| rest.strip_suffix('"'))
                .and_then(|version| version.parse::<i32>().ok())
                .map(Some)
        });
        // A value that names no version of ours can never match the current one.
        ready(Ok(IfMatch(parsed.unwrap_or(Some(-1)))))
    }
}

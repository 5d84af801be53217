//! The JSON body extractor used by every handler.
//!
//! Unlike `web::Json` it reports *where* the body is wrong (`errors[].field`), rejects strings
//! containing NUL (PostgreSQL cannot store them; SQLite could, so the backends would disagree),
//! and maps every failure to problem+json: malformed or mistyped JSON → 400, another media type →
//! 415, a body over the configured cap → 413.

use std::future::Future;
use std::pin::Pin;

use actix_web::dev::Payload;
use actix_web::{web, FromRequest, HttpRequest};
use serde::de::DeserializeOwned;
use serde::Deserialize;

use crate::error::{ApiError, FieldError};

pub struct Json<T>(pub T);

/// The configured body cap, registered as app data next to `web::PayloadConfig`.
#[derive(Clone, Copy, Debug)]
pub struct BodyLimit(pub usize);

impl BodyLimit {
    pub const DEFAULT: usize = 1_048_576;
}

impl<T> Json<T> {
    pub fn into_inner(self) -> T {
        self.0
    }
}

impl<T: DeserializeOwned + 'static> FromRequest for Json<T> {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, ApiError>>>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let is_json = req
            .headers()
            .get(actix_web::http::header::CONTENT_TYPE)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.parse::<mime::Mime>().ok())
            .is_some_and(|mime| {
                mime.type_() == mime::APPLICATION
                    && (mime.subtype() == mime::JSON || mime.suffix() == Some(mime::JSON))
            });
        let limit = req
            .app_data::<BodyLimit>()
            .map_or(BodyLimit::DEFAULT, |limit| limit.0);
        let body = web::Bytes::from_request(req, payload);
        Box::pin(async move {
            let bytes = body
                .await
                .map_err(|error| map_payload_error(error, limit))?;
            if !is_json {
                return Err(ApiError::unsupported_media_type());
            }
            parse(&bytes).map(Json)
        })
    }
}

/// Parses a JSON document into `T`, naming the offending field on failure.
pub fn parse<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let value: serde_json::Value = serde_json::from_slice(bytes).map_err(|error| {
        ApiError::bad_request(format!(
            "the body is not valid JSON (line {}, column {})",
            error.line(),
            error.column()
        ))
    })?;
    if let Some(path) = find_nul(&value, String::new()) {
        return Err(ApiError::invalid_field(
            path,
            "must not contain the NUL character",
        ));
    }
    serde_path_to_error::deserialize(value).map_err(invalid_at_path)
}

/// The problem for a deserialisation error, naming the field it happened at.
pub fn invalid_at_path<E: std::fmt::Display>(error: serde_path_to_error::Error<E>) -> ApiError {
    let path = error.path().to_string();
    let parent = if path == "." { String::new() } else { path };
    let message = error.into_inner().to_string();
    // A missing field is reported at its parent object; name the field itself.
    let field = match missing_field(&message) {
        Some(name) if parent.is_empty() => name.to_owned(),
        Some(name) => format!("{parent}.{name}"),
        None => parent,
    };
    ApiError::invalid(vec![FieldError::new(field, message)])
}

/// For PATCH fields that can be cleared: absent → `None`, `null` → `Some(None)`, a value →
/// `Some(Some(value))`. Use with `#[serde(default, deserialize_with = "nullable")]`.
pub fn nullable<'de, T, D>(deserializer: D) -> Result<Option<Option<T>>, D::Error>
where
    T: serde::Deserialize<'de>,
    D: serde::Deserializer<'de>,
{
    Option::<T>::deserialize(deserializer).map(Some)
}

/// The name in serde's "missing field `name`" message.
fn missing_field(message: &str) -> Option<&str> {
    message
        .strip_prefix("missing field `")?
        .split_once('`')
        .map(|(name, _)| name)
}

fn find_nul(value: &serde_json::Value, path: String) -> Option<String> {
    match value {
        serde_json::Value::String(text) if text.contains('\0') => Some(path),
        serde_json::Value::Array(items) => items
            .iter()
            .enumerate()
            .find_map(|(index, item)| find_nul(item, format!("{path}[{index}]"))),
        serde_json::Value::Object(fields) => fields.iter().find_map(|(key, item)| {
            let child = if path.is_empty() {
                key.clone()
            } else {
                format!("{path}.{key}")
            };
            if key.contains('\0') {
                Some(child)
            } else {
                find_nul(item, child)
            }
        }),
        _ => None,
    }
}

fn map_payload_error(error: actix_web::Error, limit: usize) -> ApiError {
    if error.as_response_error().status_code() == actix_web::http::StatusCode::PAYLOAD_TOO_LARGE {
        ApiError::payload_too_large(limit)
    } else {
        ApiError::bad_request("the request body could not be read")
    }
}

//! One error type for the whole API, rendered as RFC 9457 `application/problem+json`.
//!
//! Handlers build errors with the small constructors below; database and pool failures convert
//! with `?`. Internal causes are logged with the request id and never sent to the client.

use actix_web::http::header::{self, HeaderValue};
use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

pub const PROBLEM_CONTENT_TYPE: &str = "application/problem+json";

/// One invalid input field.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq, Eq)]
pub struct FieldError {
    /// Path of the field in the request, e.g. `consent.services`, `topics[2]`, `limit`.
    #[schema(example = "given_name")]
    pub field: String,
    #[schema(example = "must be 1 to 100 characters")]
    pub message: String,
}

impl FieldError {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            message: message.into(),
        }
    }
}

/// RFC 9457 problem details. Every error response of the API has this shape.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[schema(example = json!({
    "type": "https://karvon.example/problems/validation",
    "title": "Invalid request",
    "status": 400,
    "detail": "2 fields are invalid",
    "errors": [{"field": "given_name", "message": "must be 1 to 100 characters"}]
}))]
pub struct Problem {
    /// A URI naming the kind of problem.
    #[serde(rename = "type")]
    pub problem_type: String,
    pub title: String,
    pub status: u16,
    pub detail: String,
    /// One entry per invalid field (empty unless the problem is about the input).
    #[serde(default)]
    pub errors: Vec<FieldError>,
}

#[derive(Debug, Clone)]
pub struct ApiError {
    status: StatusCode,
    kind: &'static str,
    title: &'static str,
    detail: String,
    errors: Vec<FieldError>,
    /// Seconds; a u32 keeps `ApiError` small (it is every handler's error type).
    retry_after_secs: Option<u32>,
    /// What only a few errors carry, boxed so that the common ones stay small.
    extras: Option<Box<Extras>>,
}

#[derive(Debug, Clone, Default)]
struct Extras {
    /// The `Allow` header of a 405.
    allow: Option<String>,
    /// Why the database could not be used, for the log (never sent to the client).
    database_cause: Option<String>,
    /// RFC 9457 extension members, written beside the standard ones.
    extensions: Option<serde_json::Map<String, serde_json::Value>>,
}

const PROBLEM_BASE: &str = "https://karvon.example/problems/";

impl ApiError {
    fn new(
        status: StatusCode,
        kind: &'static str,
        title: &'static str,
        detail: impl Into<String>,
    ) -> Self {
        Self {
            status,
            kind,
            title,
            detail: detail.into(),
            errors: Vec::new(),
            retry_after_secs: None,
            extras: None,
        }
    }

    pub fn bad_request(detail: impl Into<String>) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "bad-request",
            "Bad request",
            detail,
        )
    }

    /// 400 naming each invalid field.
    pub fn invalid(errors: Vec<FieldError>) -> Self {
        let detail = match errors.as_slice() {
            [one] => format!("{}: {}", one.field, one.message),
            many => format!("{} fields are invalid", many.len()),
        };
        let mut error = Self::new(
            StatusCode::BAD_REQUEST,
            "validation",
            "Invalid request",
            detail,
        );
        error.errors = errors;
        error
    }

    pub fn invalid_field(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self::invalid(vec![FieldError::new(field, message)])
    }

    pub fn unauthorized(detail: impl Into<String>) -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "Authentication required",
            detail,
        )
    }

    pub fn forbidden(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, "forbidden", "Forbidden", detail)
    }

    /// 403 for staff of a deactivated centre, on every request.
    pub fn centre_inactive() -> Self {
        Self::new(
            StatusCode::FORBIDDEN,
            "centre-inactive",
            "Forbidden",
            "your centre is inactive: its staff cannot work in Karvon until an administrator \
             reactivates it",
        )
    }

    pub fn not_found(what: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "not-found",
            "Not found",
            format!("{what} not found"),
        )
    }

    /// 410: the resource existed in the caller's scope and was erased for good (an anonymised
    /// person's record).
    pub fn gone(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::GONE, "gone", "Gone", detail)
    }

    pub fn method_not_allowed(allow: String) -> Self {
        let mut error = Self::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "method-not-allowed",
            "Method not allowed",
            format!("this resource allows {allow}"),
        );
        error.extras_mut().allow = Some(allow);
        error
    }

    pub fn conflict(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, "conflict", "Conflict", detail)
    }

    /// 409 listing what is in the way (e.g. the open items that keep a case from closing).
    pub fn conflict_with(detail: impl Into<String>, errors: Vec<FieldError>) -> Self {
        let mut error = Self::conflict(detail);
        error.errors = errors;
        error
    }

    fn extras_mut(&mut self) -> &mut Extras {
        self.extras.get_or_insert_with(Box::default)
    }

    /// Adds the members of `members` (a struct serialising to a JSON object) to the problem.
    pub fn with_extensions(mut self, members: &impl Serialize) -> Self {
        if let Ok(serde_json::Value::Object(map)) = serde_json::to_value(members) {
            self.extras_mut().extensions = Some(map);
        }
        self
    }

    pub fn precondition_failed() -> Self {
        Self::new(
            StatusCode::PRECONDITION_FAILED,
            "stale-version",
            "Precondition failed",
            "the resource has changed since you read it; read it again and retry with its new ETag",
        )
    }

    pub fn precondition_required() -> Self {
        Self::new(
            StatusCode::PRECONDITION_REQUIRED,
            "if-match-required",
            "Precondition required",
            "send If-Match with the ETag of the version you read",
        )
    }

    pub fn payload_too_large(limit: usize) -> Self {
        Self::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload-too-large",
            "Payload too large",
            format!("the request body is larger than {limit} bytes"),
        )
    }

    pub fn request_header_fields_too_large(limit: usize) -> Self {
        Self::new(
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            "request-header-fields-too-large",
            "Request header fields too large",
            format!("the request headers together are larger than {limit} bytes"),
        )
    }

    pub fn unsupported_media_type() -> Self {
        Self::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported-media-type",
            "Unsupported media type",
            "send the body as application/json",
        )
    }

    /// 422: the input is well formed but breaks a rule (weak password, missing consent, ...).
    pub fn unprocessable(detail: impl Into<String>) -> Self {
        Self::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "unprocessable",
            "Unprocessable request",
            detail,
        )
    }

    pub fn unprocessable_field(field: impl Into<String>, message: impl Into<String>) -> Self {
        let field = FieldError::new(field, message);
        let mut error = Self::unprocessable(format!("{}: {}", field.field, field.message));
        error.errors = vec![field];
        error
    }

    /// 422 naming each field that breaks a rule (one id of a list, one row of a set).
    pub fn unprocessable_fields(errors: Vec<FieldError>) -> Self {
        let detail = match errors.as_slice() {
            [one] => format!("{}: {}", one.field, one.message),
            many => format!("{} fields break a rule", many.len()),
        };
        let mut error = Self::unprocessable(detail);
        error.errors = errors;
        error
    }

    pub fn too_many_requests(retry_after_secs: u64) -> Self {
        let mut error = Self::new(
            StatusCode::TOO_MANY_REQUESTS,
            "too-many-requests",
            "Too many requests",
            format!("too many failed attempts; try again in {retry_after_secs} seconds"),
        );
        error.retry_after_secs = Some(u32::try_from(retry_after_secs).unwrap_or(u32::MAX));
        error
    }

    pub fn service_unavailable(detail: impl Into<String>) -> Self {
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "unavailable",
            "Service unavailable",
            detail,
        )
    }

    /// 500. The cause is logged here; the client sees only a generic message.
    pub fn internal(cause: impl std::fmt::Display) -> Self {
        tracing::error!(%cause, "internal error");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "Internal server error",
            "the server could not complete the request; it has been logged",
        )
    }

    /// 503 with `Retry-After`: the database cannot be reached. Logged by the pool, once per
    /// outage, not here.
    pub fn unavailable() -> Self {
        let mut error =
            Self::service_unavailable("the database is not reachable right now; try again shortly");
        error.retry_after_secs = Some(5);
        error
    }

    /// 503 with `Retry-After`: the database is reachable but every pooled connection stayed
    /// busy for the checkout timeout (the server is overloaded).
    pub fn busy() -> Self {
        let mut error =
            Self::service_unavailable("the server is busy right now; try again in a moment");
        error.retry_after_secs = Some(1);
        error
    }

    /// The connection's server went away in the middle of the request (restart, failover).
    fn connection_lost(cause: &str) -> Self {
        let mut error = Self::unavailable();
        error.extras_mut().database_cause = Some(cause.to_owned());
        error
    }

    /// SQLite: the write lock was not obtained within the busy timeout.
    fn database_busy() -> Self {
        tracing::warn!("the database stayed locked for the whole busy timeout");
        let mut error = Self::service_unavailable("the database is busy; try again in a moment");
        error.retry_after_secs = Some(1);
        error
    }

    /// Whether the request failed because its database connection died.
    pub fn is_connection_lost(&self) -> bool {
        self.extras
            .as_ref()
            .is_some_and(|e| e.database_cause.is_some())
    }

    /// What the database said when the connection died (empty otherwise).
    pub fn cause(&self) -> &str {
        self.extras
            .as_ref()
            .and_then(|e| e.database_cause.as_deref())
            .unwrap_or_default()
    }

    pub fn status(&self) -> StatusCode {
        self.status
    }

    pub fn problem(&self) -> Problem {
        Problem {
            problem_type: format!("{PROBLEM_BASE}{}", self.kind),
            title: self.title.to_owned(),
            status: self.status.as_u16(),
            detail: self.detail.clone(),
            errors: self.errors.clone(),
        }
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} {}: {}",
            self.status.as_u16(),
            self.title,
            self.detail
        )
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        self.status
    }

    fn error_response(&self) -> HttpResponse {
        let mut response = HttpResponse::build(self.status);
        response.insert_header((header::CONTENT_TYPE, PROBLEM_CONTENT_TYPE));
        if let Some(seconds) = self.retry_after_secs {
            response.insert_header((header::RETRY_AFTER, seconds.to_string()));
        }
        let extras = self.extras.as_deref();
        if let Some(allow) = extras.and_then(|e| e.allow.as_deref()) {
            if let Ok(value) = HeaderValue::from_str(allow) {
                response.insert_header((header::ALLOW, value));
            }
        }
        if self.status == StatusCode::UNAUTHORIZED {
            response.insert_header((header::WWW_AUTHENTICATE, "Bearer realm=\"karvon\""));
        }
        match extras.and_then(|e| e.extensions.as_ref()) {
            None => response.json(self.problem()),
            Some(members) => {
                let mut body = serde_json::to_value(self.problem())
                    .unwrap_or_else(|_| serde_json::Value::Object(Default::default()));
                if let serde_json::Value::Object(standard) = &mut body {
                    for (name, value) in members.iter() {
                        standard
                            .entry(name.clone())
                            .or_insert_with(|| value.clone());
                    }
                }
                response.json(body)
            }
        }
    }
}

impl From<diesel::result::Error> for ApiError {
    fn from(error: diesel::result::Error) -> Self {
        use diesel::result::{DatabaseErrorKind, Error};
        match error {
            Error::NotFound => Self::not_found("resource"),
            Error::DatabaseError(DatabaseErrorKind::UniqueViolation, _) => {
                Self::conflict("a record with the same unique value already exists")
            }
            Error::DatabaseError(DatabaseErrorKind::ForeignKeyViolation, _) => {
                Self::unprocessable("a referenced record does not exist")
            }
            Error::DatabaseError(
                DatabaseErrorKind::ClosedConnection | DatabaseErrorKind::UnableToSendCommand,
                info,
            ) => Self::connection_lost(info.message()),
            Error::DatabaseError(_, info) if is_sqlite_busy(info.message()) => {
                Self::database_busy()
            }
            other => Self::internal(other),
        }
    }
}

/// SQLite reports an exhausted busy timeout as SQLITE_BUSY, which diesel passes on as text.
fn is_sqlite_busy(message: &str) -> bool {
    message.starts_with("database is locked") || message.starts_with("database table is locked")
}

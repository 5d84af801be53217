//! HTTP plumbing shared by every domain: body and query extraction, request context,
//! pagination, optimistic concurrency, idempotent POSTs, the once-per-request session and the
//! 404/405 fallback.

pub mod concurrency;
pub mod fallback;
pub mod idempotency;
pub mod json;
pub mod middleware;
pub mod pagination;
pub mod query;
pub mod representation;
pub mod request;
pub mod session;

pub use concurrency::{etag, IfMatch};
pub use json::Json;
pub use pagination::{Page, PageLimit};
pub use query::Query;
pub use representation::representation;
pub use request::RequestMeta;

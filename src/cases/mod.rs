//! Cases: a migrant's situation that needs following up, owned by one counsellor.

pub mod access;
pub mod model;
pub mod queries;
mod routes;
pub mod timeline;

pub use queries::reassign;
pub use routes::configure;

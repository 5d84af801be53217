//! The referral directory: service providers a centre can refer migrants to. Global entries
//! (managed by admins) are usable by every centre; a centre's own entries by its staff.

pub mod access;
pub mod model;
pub mod queries;
mod routes;

pub use routes::configure;

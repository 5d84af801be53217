//! Migrants: the people a centre serves. Registration, search across scripts, duplicate
//! detection before registering, the full record with consent history, and its access log.

pub mod access;
pub mod duplicates;
pub mod model;
pub mod names;
pub mod queries;
mod routes;

pub use routes::configure;

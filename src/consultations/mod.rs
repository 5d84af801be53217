//! Consultations: the centre's everyday record — walk-ins, calls and online sessions, anonymous,
//! for a registered migrant, or on a case.

pub mod access;
pub mod model;
pub mod queries;
mod routes;

pub use routes::configure;

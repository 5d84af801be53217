//! Centres: the MRCs of a deployment. Admins manage them; staff read their own.

pub mod access;
pub mod model;
mod routes;

pub use model::*;
pub use routes::configure;

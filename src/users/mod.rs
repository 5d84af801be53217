//! Staff accounts. Admins create, update and deactivate them; supervisors read their centre's
//! staff; everyone reads themselves (`GET /me`).

pub mod cli;
pub mod handover;
pub mod model;
pub mod queries;
mod routes;

pub use model::*;
pub use routes::{configure, respond as routes_respond};

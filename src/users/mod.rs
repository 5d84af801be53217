//! Staff accounts. Admins create, update and deactivate them; supervisors read their centre's
//! staff; everyone reads themselves (`GET /me`).

pub mod access;
pub mod bootstrap;
pub mod cli;
pub mod handover;
mod me;
pub mod model;
pub mod queries;
mod routes;

pub use model::*;

use utoipa_actix_web::service_config::ServiceConfig;

pub fn configure(cfg: &mut ServiceConfig) {
    routes::configure(cfg);
    me::configure(cfg);
}

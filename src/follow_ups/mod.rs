//! Follow-ups: the calls and visits that check a migrant got what they needed. A counsellor's
//! agenda is `GET /follow-ups?assigned_to=me`, ordered by due time.

pub mod access;
pub mod model;
pub mod queries;
mod routes;

pub use routes::configure;

//! Referrals: sending a migrant to a service provider, and tracking that it happened.
//!
//! Status machine: pending → sent → accepted → completed; declined (from sent or accepted) and
//! cancelled (from any open state) end it early. Every move is kept with who, when and a note.

pub mod access;
pub mod model;
pub mod queries;
mod routes;

pub use routes::configure;

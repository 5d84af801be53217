//! Reports: aggregates over the centre's records for supervisors, the ministry and donors, as
//! JSON or CSV, with disclosure control on admins' reports.

pub mod access;
mod csv;
mod disclosure;
pub mod model;
mod queries;
mod routes;

pub use routes::configure;

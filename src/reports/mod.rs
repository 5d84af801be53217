//! Reports: aggregates over the centre's records for supervisors, the ministry and donors, as
//! JSON or CSV, with disclosure control on admins' reports. Each report (consultations, ...)
//! is a [`report::Kind`]: its dimensions, one aggregate statement, its rows; scope, audit,
//! disclosure control and CSV are shared.

pub mod access;
pub mod consultations;
mod csv;
mod disclosure;
pub mod facts;
pub mod follow_ups;
pub mod group_sessions;
pub mod model;
pub mod reach;
pub mod referrals;
mod report;
mod routes;
mod sql;
pub mod turns;

pub use routes::configure;

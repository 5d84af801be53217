//! Group sessions: pre-departure orientations, awareness sessions and outreach events, with
//! registered attendees (people of the centre) and anonymous tallies that add up to the
//! session's attendance.

pub mod access;
pub mod attendance;
pub mod model;
pub mod queries;
mod routes;

pub use routes::configure;

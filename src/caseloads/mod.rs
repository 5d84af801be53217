//! `GET /caseloads`: what each counsellor carries — for a supervisor one row per staff member of
//! the centre, for a counsellor their own row. A page costs five queries whatever its size: the
//! staff page, then one grouped aggregate per measure over those staff (the two referral counts
//! share one). For an admin, one row per centre with its totals and no one named: one statement
//! per page of centres.

pub mod model;
pub mod queries;
mod routes;

pub use routes::configure;

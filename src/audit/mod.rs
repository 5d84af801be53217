//! The append-only audit trail: who did what to which record, when, from where.
//!
//! A change's events are written in its own transaction; a read's are committed together with
//! other reads' before the read answers ([`read`]). Nothing here
//! (or anywhere) updates or deletes them or their subjects; on both backends triggers refuse it.
//!
//! Every response that shows a person's data records one event naming each person shown as a
//! subject (`audit_event_subjects`): a single read names one, a page of a list all on the page.
//! An empty page shows nobody and records nothing.

mod arrays;
mod event;
pub mod model;
pub mod queries;
mod reads;
pub mod routes;

pub use event::{Deferred, Event};
pub use reads::{read, ReadAudit};

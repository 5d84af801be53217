//! The append-only audit trail: who did what to which record, when, from where.
//!
//! Events are written in the same transaction as the change or read they describe. Nothing here
//! (or anywhere) updates or deletes them or their subjects; on both backends triggers refuse it.
//!
//! Every response that shows a person's data records one event naming each person shown as a
//! subject (`audit_event_subjects`): a single read names one, a page of a list all on the page.
//! An empty page shows nobody and records nothing.

mod event;
pub mod model;
pub mod queries;
pub mod routes;

pub use event::Event;

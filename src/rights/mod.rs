//! The data subject's rights (GDPR Art. 15, 17, 30; the IOM Data Protection Principles): a
//! person's whole record as one document, anonymisation on request, and the retention job that
//! anonymises people nobody has worked with for a long time.

pub mod model;
pub mod queries;
pub mod retention;
mod routes;

pub use routes::configure;

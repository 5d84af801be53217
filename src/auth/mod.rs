//! Authentication: password login, access and refresh tokens, throttling, and the `Staff`
//! extractor every protected handler uses.

pub mod bootstrap;
pub mod password;
mod routes;
pub mod staff;
pub mod throttle;
pub mod tokens;

pub use routes::configure;

//! Authentication: password login, access and refresh tokens, throttling, and the `Staff`
//! extractor every protected handler uses.

pub mod attempts;
pub mod credentials;
mod hashers;
pub mod password;
pub mod pseudonyms;
pub mod roles;
mod routes;
pub mod session_check;
pub mod sessions;
pub mod staff;
pub mod throttle;
pub mod tokens;

pub use routes::configure;

//! What every handler shares: the pool, token keys and the password hasher.

use crate::auth::password::Passwords;
use crate::auth::tokens::TokenKeys;
use crate::db::Pool;

pub struct AppState {
    pub pool: Pool,
    pub tokens: TokenKeys,
    pub passwords: Passwords,
    pub refresh_ttl: chrono::Duration,
}

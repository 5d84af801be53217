//! What every handler shares: the pool, token keys, the password hasher and the keyed hash of
//! login names.

use crate::auth::password::Passwords;
use crate::auth::pseudonyms::Pseudonyms;
use crate::auth::tokens::TokenKeys;
use crate::db::Pool;

pub struct AppState {
    pub pool: Pool,
    pub tokens: TokenKeys,
    pub passwords: Passwords,
    pub pseudonyms: Pseudonyms,
    pub refresh_ttl: chrono::Duration,
}

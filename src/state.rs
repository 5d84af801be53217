//! What every handler shares: the pool, token keys, the password hasher, the keyed hash of
//! login names and the key of Idempotency-Key fingerprints.

use crate::audit::ReadAudit;
use crate::auth::password::Passwords;
use crate::auth::pseudonyms::Pseudonyms;
use crate::auth::tokens::TokenKeys;
use crate::db::wal::Checkpoints;
use crate::db::Pool;
use crate::http::idempotency::FingerprintKey;
use crate::reports::turns::ReportTurns;

pub struct AppState {
    pub pool: Pool,
    /// Commits the audit events of reads in groups.
    pub read_audit: ReadAudit,
    pub tokens: TokenKeys,
    pub passwords: Passwords,
    pub pseudonyms: Pseudonyms,
    pub refresh_ttl: chrono::Duration,
    pub fingerprint_key: FingerprintKey,
    /// SQLite's checkpoint thread, which runs as long as the state lives.
    pub checkpoints: Option<Checkpoints>,
    /// The share of the pool reports may hold at once.
    pub report_turns: ReportTurns,
}

//! Periodic housekeeping: deletes rows that no longer mean anything (passed throttle windows,
//! expired sessions with their refresh tokens, idempotency keys past their 24 hours), so that these tables do not grow without bound.
//!
//! `serve` runs it every `KARVON_HOUSEKEEPING_INTERVAL_SECS`. Every purge is an idempotent delete
//! of rows that are already dead, so replicas each running it on one database is harmless: at
//! worst two of them find nothing left to delete. A failed purge is logged and tried again at the
//! next tick; it never stops the server.

use std::time::Duration;

use chrono::NaiveDateTime;
use diesel::prelude::*;

use crate::db::schema::{refresh_tokens, sessions};
use crate::db::{DbConnection, Pool};

/// A purge: deletes what expired before `now`, returns how many rows went.
pub type Purge = fn(&mut DbConnection, NaiveDateTime) -> QueryResult<usize>;

/// Every purge, by what it deletes (for the log). A new kind of expiring row is one more line.
pub const PURGES: &[(&str, Purge)] = &[
    (
        "login throttle counters",
        crate::auth::throttle::purge_expired,
    ),
    ("expired sessions", purge_expired_sessions),
    (
        "expired idempotency keys",
        crate::http::idempotency::purge_expired,
    ),
];

/// Starts the periodic task on the current runtime; the first run is one interval after start.
pub fn spawn(pool: Pool, interval: Duration) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut ticks = tokio::time::interval_at(tokio::time::Instant::now() + interval, interval);
        // After a stall (a suspended host), run once rather than catching up every missed tick.
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        loop {
            ticks.tick().await;
            run_once(&pool).await;
        }
    })
}

/// Runs every purge once, each on the blocking pool in a transaction of its own; errors are
/// logged.
pub async fn run_once(pool: &Pool) {
    for (what, purge) in PURGES {
        let outcome =
            crate::db::transaction(pool, move |conn| Ok(purge(conn, crate::time::now())?)).await;
        match outcome {
            Ok(0) => {}
            Ok(purged) => tracing::info!(purged, what, "housekeeping purged"),
            Err(error) => tracing::warn!(%error, what, "housekeeping purge failed"),
        }
    }
}

/// Deletes sessions past their expiry (revoked or not) and their refresh tokens: a refresh token
/// of an expired session is refused anyway. Tokens go first (they reference their session); both
/// deletes name the same sessions, by one `now`. No transaction is needed: stopping between the
/// two leaves expired sessions without tokens, which the next run deletes.
pub fn purge_expired_sessions(conn: &mut DbConnection, now: NaiveDateTime) -> QueryResult<usize> {
    let expired = sessions::table
        .filter(sessions::expires_at.lt(now))
        .select(sessions::id);
    diesel::delete(refresh_tokens::table.filter(refresh_tokens::session_id.eq_any(expired)))
        .execute(conn)?;
    diesel::delete(sessions::table.filter(sessions::expires_at.lt(now))).execute(conn)
}

//! Login throttling, decided in the database before any password is hashed, so that it holds
//! under concurrency and across replicas.
//!
//! Each password check (a login, or the current password of `POST /me/password`) first reserves
//! an attempt on three counters, in one transaction:
//! - the username at this client address: at most [`PAIR_LIMIT`] per window, then 429. A
//!   stranger elsewhere cannot lock a person out this way;
//! - the client address, whatever the username: at most [`CLIENT_LIMIT`] per window, then 429;
//! - the username, from any address: never refused, but each check waits before verifying,
//!   doubling from [`DELAY_BASE`] up to [`DELAY_CAP`] with the failures counted.
//!
//! A window lasts [`WINDOW_MINUTES`] from its first counted attempt. A right password gives its
//! reservation back and clears the username's counters (not the address's: one known account must
//! not reset an address that is guessing others).

use std::time::Duration;

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::pseudonyms::Pseudonyms;
use crate::db::schema::login_throttle;
use crate::db::DbConnection;

pub const PAIR_LIMIT: i32 = 5;
pub const CLIENT_LIMIT: i32 = 20;
pub const WINDOW_MINUTES: i64 = 15;
/// Failures of a username (from any address) that cost no delay.
pub const DELAY_FREE_FAILURES: i32 = 2;
pub const DELAY_BASE: Duration = Duration::from_millis(250);
pub const DELAY_CAP: Duration = Duration::from_secs(4);

pub fn window() -> chrono::Duration {
    chrono::Duration::minutes(WINDOW_MINUTES)
}

/// Which hard limit refused an attempt.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Lock {
    /// This username from this client address.
    UsernameAtClient,
    /// This client address, whatever the username.
    Client,
}

/// The counters one password check touches (their keys are keyed hashes).
#[derive(Clone)]
pub struct AttemptKeys {
    pair: String,
    client: String,
    username: String,
}

impl AttemptKeys {
    pub fn new(pseudonyms: &Pseudonyms, username_key: &str, client_ip: &str) -> Self {
        let hash = |kind: &str, parts: &[&str]| format!("{kind}:{}", pseudonyms.hash(parts));
        Self {
            pair: hash("pair", &["pair", username_key, client_ip]),
            client: hash("client", &["client", client_ip]),
            username: hash("username", &["username", username_key]),
        }
    }

    /// The counters with a hard limit, address first: an address locked for every name then
    /// refuses before a row is created for the name it tries next.
    fn limited(&self) -> [(&str, i32, Lock); 2] {
        [
            (&self.client, CLIENT_LIMIT, Lock::Client),
            (&self.pair, PAIR_LIMIT, Lock::UsernameAtClient),
        ]
    }
}

pub enum Reservation {
    /// The password may be checked, after waiting this long (holding no connection or permit).
    Granted { delay: Duration },
    /// Refused: 429 with `Retry-After: retry_after` seconds. `first_refusal` is true for the first
    /// refusal of this lock, which alone is audited.
    Locked {
        lock: Lock,
        retry_after: u64,
        first_refusal: bool,
    },
}

/// Reserves an attempt; call inside a write transaction. Rows are always touched in the same
/// order (client, pair, username) so that concurrent checks cannot deadlock on PostgreSQL.
pub fn reserve(
    conn: &mut DbConnection,
    keys: &AttemptKeys,
    now: NaiveDateTime,
) -> QueryResult<Reservation> {
    let mut reserved: Vec<&str> = Vec::new();
    for (key, limit, lock) in keys.limited() {
        if take(conn, key, Some(limit), now)?.is_some() {
            reserved.push(key);
            continue;
        }
        // Give back what this attempt took before it hit the limit.
        for key in reserved {
            give_back(conn, key)?;
        }
        let window_started_at: NaiveDateTime = login_throttle::table
            .find(key)
            .select(login_throttle::window_started_at)
            .first(conn)?;
        let unlock_at = window_started_at + window();
        return Ok(Reservation::Locked {
            lock,
            retry_after: (unlock_at - now).num_seconds().max(1).unsigned_abs(),
            first_refusal: note_lock(conn, key, limit, now)?,
        });
    }
    let failures = take(conn, &keys.username, None, now)?.unwrap_or(1);
    Ok(Reservation::Granted {
        delay: delay_after(failures - 1),
    })
}

/// The wait before checking a password for a username that has failed `failures` times.
pub fn delay_after(failures: i32) -> Duration {
    let Ok(doublings) = u32::try_from(failures - DELAY_FREE_FAILURES) else {
        return Duration::ZERO;
    };
    DELAY_BASE
        .checked_mul(2u32.saturating_pow(doublings))
        .map_or(DELAY_CAP, |delay| delay.min(DELAY_CAP))
}

/// The password was right: the reservation was not a failure.
pub fn succeeded(conn: &mut DbConnection, keys: &AttemptKeys) -> QueryResult<()> {
    give_back(conn, &keys.client)?;
    diesel::delete(login_throttle::table.find(&keys.pair)).execute(conn)?;
    diesel::delete(login_throttle::table.find(&keys.username)).execute(conn)?;
    Ok(())
}

/// The password was wrong (the reservation already counted it). Returns the locks this failure
/// completed, each reported once so that its one audit event can be written.
pub fn failed(
    conn: &mut DbConnection,
    keys: &AttemptKeys,
    now: NaiveDateTime,
) -> QueryResult<Vec<Lock>> {
    let mut completed = Vec::new();
    for (key, limit, lock) in keys.limited() {
        if note_lock(conn, key, limit, now)? {
            completed.push(lock);
        }
    }
    Ok(completed)
}

/// Counts one attempt on `key` unless it is at `limit`; returns the new count, or `None` when the
/// limit refused it. The check and the increment are one statement: concurrent attempts cannot
/// all pass the check before any of them counts.
fn take(
    conn: &mut DbConnection,
    key: &str,
    limit: Option<i32>,
    now: NaiveDateTime,
) -> QueryResult<Option<i32>> {
    crate::db::execute_native(
        conn,
        diesel::insert_into(login_throttle::table)
            .values((
                login_throttle::throttle_key.eq(key),
                login_throttle::failures.eq(0),
                login_throttle::window_started_at.eq(now),
            ))
            .on_conflict_do_nothing(),
    )?;
    // A window that has passed starts afresh (and its lock, if any, is over).
    diesel::update(
        login_throttle::table
            .find(key)
            .filter(login_throttle::window_started_at.le(now - window())),
    )
    .set((
        login_throttle::failures.eq(0),
        login_throttle::window_started_at.eq(now),
        login_throttle::throttled_at.eq(None::<NaiveDateTime>),
    ))
    .execute(conn)?;
    let counted = diesel::update(
        login_throttle::table
            .find(key)
            .filter(login_throttle::failures.lt(limit.unwrap_or(i32::MAX))),
    )
    .set(login_throttle::failures.eq(login_throttle::failures + 1))
    .returning(login_throttle::failures)
    .get_result(conn)
    .optional()?;
    Ok(counted)
}

fn give_back(conn: &mut DbConnection, key: &str) -> QueryResult<()> {
    diesel::update(
        login_throttle::table
            .find(key)
            .filter(login_throttle::failures.gt(0)),
    )
    .set(login_throttle::failures.eq(login_throttle::failures - 1))
    .execute(conn)
    .map(|_| ())
}

/// Marks `key` as locked if it is at its limit and not marked yet; true for the one caller that
/// marked it.
fn note_lock(
    conn: &mut DbConnection,
    key: &str,
    limit: i32,
    now: NaiveDateTime,
) -> QueryResult<bool> {
    let marked = diesel::update(
        login_throttle::table
            .find(key)
            .filter(login_throttle::failures.ge(limit))
            .filter(login_throttle::throttled_at.is_null())
            .filter(login_throttle::window_started_at.gt(now - window())),
    )
    .set(login_throttle::throttled_at.eq(now))
    .execute(conn)?;
    Ok(marked == 1)
}

/// Deletes counters whose window has passed: they count nothing any more. One row per statement:
/// a password check holds locks on several counter rows, and a multi-row delete taking them in
/// another order could deadlock with it on PostgreSQL.
pub fn purge_expired(conn: &mut DbConnection, now: NaiveDateTime) -> QueryResult<usize> {
    let cutoff = now - window();
    let mut purged = 0;
    loop {
        let expired: Vec<String> = login_throttle::table
            .filter(login_throttle::window_started_at.le(cutoff))
            .select(login_throttle::throttle_key)
            .limit(500)
            .load(conn)?;
        if expired.is_empty() {
            return Ok(purged);
        }
        for key in expired {
            purged += diesel::delete(
                login_throttle::table
                    .find(&key)
                    .filter(login_throttle::window_started_at.le(cutoff)),
            )
            .execute(conn)?;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_delay_doubles_from_the_base_up_to_the_cap() {
        let delays: Vec<u128> = (0..10).map(|f| delay_after(f).as_millis()).collect();
        assert_eq!(delays, [0, 0, 250, 500, 1000, 2000, 4000, 4000, 4000, 4000]);
        assert_eq!(delay_after(i32::MAX), DELAY_CAP);
    }
}

//! Login throttling: more than 5 failed logins for one username (since its last successful
//! login), or 20 from one client address, within 15 minutes locks further attempts — even with
//! the right password — until the oldest counted failure leaves the window.

use chrono::{Duration, NaiveDateTime};
use diesel::prelude::*;

use crate::db::schema::login_attempts;
use crate::db::DbConnection;

pub const USERNAME_LIMIT: usize = 5;
pub const CLIENT_LIMIT: usize = 20;
pub const WINDOW_MINUTES: i64 = 15;

/// Seconds until the caller may try again, or `None` when not locked.
pub fn locked_for(
    conn: &mut DbConnection,
    username_key: &str,
    client_ip: &str,
    now: NaiveDateTime,
) -> QueryResult<Option<u64>> {
    let window_start = now - Duration::minutes(WINDOW_MINUTES);
    let last_success: Option<NaiveDateTime> = login_attempts::table
        .filter(login_attempts::username_key.eq(username_key))
        .filter(login_attempts::succeeded.eq(true))
        .filter(login_attempts::at.ge(window_start))
        .select(diesel::dsl::max(login_attempts::at))
        .first(conn)?;
    let counted_from = last_success.map_or(window_start, |at| at.max(window_start));
    let by_username: Vec<NaiveDateTime> = login_attempts::table
        .filter(login_attempts::username_key.eq(username_key))
        .filter(login_attempts::succeeded.eq(false))
        .filter(login_attempts::at.gt(counted_from))
        .select(login_attempts::at)
        .order(login_attempts::at.desc())
        .limit(USERNAME_LIMIT as i64)
        .load(conn)?;
    let by_client: Vec<NaiveDateTime> = login_attempts::table
        .filter(login_attempts::client_ip.eq(client_ip))
        .filter(login_attempts::succeeded.eq(false))
        .filter(login_attempts::at.ge(window_start))
        .select(login_attempts::at)
        .order(login_attempts::at.desc())
        .limit(CLIENT_LIMIT as i64)
        .load(conn)?;
    // The lock lifts when the oldest of the last `limit` failures leaves the window.
    let unlock_at = [(by_username, USERNAME_LIMIT), (by_client, CLIENT_LIMIT)]
        .into_iter()
        .filter(|(failures, limit)| failures.len() >= *limit)
        .filter_map(|(failures, _)| failures.last().copied())
        .map(|oldest| oldest + Duration::minutes(WINDOW_MINUTES))
        .max();
    Ok(unlock_at.map(|at| (at - now).num_seconds().max(1).unsigned_abs()))
}

pub fn record_attempt(
    conn: &mut DbConnection,
    username_key: &str,
    client_ip: &str,
    succeeded: bool,
    now: NaiveDateTime,
) -> QueryResult<()> {
    diesel::insert_into(login_attempts::table)
        .values((
            login_attempts::id.eq(uuid::Uuid::now_v7().to_string()),
            login_attempts::username_key.eq(username_key),
            login_attempts::client_ip.eq(client_ip),
            login_attempts::succeeded.eq(succeeded),
            login_attempts::at.eq(now),
        ))
        .execute(conn)
        .map(|_| ())
}

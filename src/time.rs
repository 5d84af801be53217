//! Timestamps are stored as UTC without zone (portable across both backends) and sent as
//! RFC 3339 UTC.

use chrono::{DateTime, NaiveDateTime, Timelike, Utc};

/// Now, at microsecond precision: what both backends store, so a value read back equals the
/// value written.
pub fn now() -> NaiveDateTime {
    let now = Utc::now().naive_utc();
    now.with_nanosecond(now.nanosecond() / 1_000 * 1_000)
        .unwrap_or(now)
}

pub fn utc(value: NaiveDateTime) -> DateTime<Utc> {
    value.and_utc()
}

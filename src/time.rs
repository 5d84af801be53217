//! Timestamps are stored as UTC without zone (portable across both backends) and sent as
//! RFC 3339 UTC.

use chrono::{DateTime, Datelike, NaiveDateTime, Timelike, Utc};
use serde::de::Error as _;
use serde::{Deserialize, Deserializer};
use utoipa::ToSchema;

/// The years a timestamp from a client may fall in. Wider than any real record, narrower than
/// what breaks a backend: PostgreSQL cannot hold years before 4713 BC (500 on a filter), and
/// SQLite compares the stored text, which misorders years of more than four digits.
pub const EARLIEST_YEAR: i32 = 1900;
pub const LATEST_YEAR: i32 = 9999;

/// The message of a timestamp outside [`EARLIEST_YEAR`]..=[`LATEST_YEAR`].
pub const OUT_OF_RANGE: &str =
    "must be an RFC 3339 time between 1900-01-01T00:00:00Z and 9999-12-31T23:59:59Z";

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

/// Whether `value` (UTC) lies in the accepted years.
pub fn in_range(value: NaiveDateTime) -> bool {
    (EARLIEST_YEAR..=LATEST_YEAR).contains(&value.year())
}

/// The earliest accepted instant: the start of every list ordered by time.
pub fn earliest() -> NaiveDateTime {
    chrono::NaiveDate::from_ymd_opt(EARLIEST_YEAR, 1, 1)
        .and_then(|day| day.and_hms_opt(0, 0, 0))
        .unwrap_or(NaiveDateTime::MIN)
}

/// An RFC 3339 time between 1900-01-01T00:00:00Z and 9999-12-31T23:59:59Z (after conversion to
/// UTC); any other value is refused with 400 naming the field.
// Every timestamp a client sends (query parameter or body field) has this type, so the range is
// checked while deserialising, where the error still knows the field's name.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, ToSchema)]
#[schema(value_type = String, format = DateTime, example = "2026-11-27T09:30:00Z")]
pub struct Timestamp(DateTime<Utc>);

impl Timestamp {
    pub fn utc(self) -> DateTime<Utc> {
        self.0
    }

    pub fn naive_utc(self) -> NaiveDateTime {
        self.0.naive_utc()
    }
}

impl<'de> Deserialize<'de> for Timestamp {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let value = DateTime::<Utc>::deserialize(deserializer)?;
        if in_range(value.naive_utc()) {
            Ok(Self(value))
        } else {
            Err(D::Error::custom(OUT_OF_RANGE))
        }
    }
}

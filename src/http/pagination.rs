//! Keyset pagination: `?limit=&cursor=` → `{items, next_cursor}`. A cursor is the sort key of
//! the last item returned, opaque to clients (base64url of JSON). Lists fetch `limit + 1` rows
//! to learn whether another page exists, so no count query is needed.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use chrono::NaiveDateTime;
use serde::de::{DeserializeOwned, Error as _};
use serde::{Deserialize, Deserializer, Serialize};
use utoipa::ToSchema;

use crate::error::ApiError;

pub const DEFAULT_LIMIT: i64 = 50;
pub const MAX_LIMIT: i64 = 200;

/// One page of a list.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct Page<T> {
    pub items: Vec<T>,
    /// Pass as `cursor` to get the next page; `null` on the last page.
    pub next_cursor: Option<String>,
}

/// A validated page size (1–200, default 50).
#[derive(Clone, Copy, Debug)]
pub struct PageLimit(pub i64);

impl PageLimit {
    pub fn parse(limit: Option<i64>) -> Result<Self, ApiError> {
        match limit {
            None => Ok(Self(DEFAULT_LIMIT)),
            Some(value) if (1..=MAX_LIMIT).contains(&value) => Ok(Self(value)),
            Some(_) => Err(ApiError::invalid_field(
                "limit",
                format!("must be between 1 and {MAX_LIMIT}"),
            )),
        }
    }

    /// Rows to fetch: one more than the page, to detect a next page.
    pub fn fetch(self) -> i64 {
        self.0 + 1
    }
}

pub fn encode_cursor<K: Serialize>(key: &K) -> String {
    URL_SAFE_NO_PAD.encode(serde_json::to_vec(key).unwrap_or_default())
}

pub fn decode_cursor<K: DeserializeOwned>(cursor: Option<&str>) -> Result<Option<K>, ApiError> {
    let Some(cursor) = cursor else {
        return Ok(None);
    };
    URL_SAFE_NO_PAD
        .decode(cursor)
        .ok()
        .and_then(|bytes| serde_json::from_slice(&bytes).ok())
        .map(Some)
        .ok_or_else(|| ApiError::invalid_field("cursor", "is not a cursor this API issued"))
}

/// A time inside a cursor: encoded as the plain `NaiveDateTime`, and on decoding refused
/// outside the accepted years, which only a forged cursor holds (PostgreSQL would fail on it).
#[derive(Clone, Copy, Debug)]
pub struct CursorTime(pub NaiveDateTime);

impl<'de> Deserialize<'de> for CursorTime {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let value = NaiveDateTime::deserialize(deserializer)?;
        if crate::time::in_range(value) {
            Ok(Self(value))
        } else {
            Err(D::Error::custom(crate::time::OUT_OF_RANGE))
        }
    }
}

impl<T> Page<T> {
    /// Builds a page from `limit + 1` fetched rows; `key` gives the cursor of an item.
    pub fn from_rows<K: Serialize>(
        mut rows: Vec<T>,
        limit: PageLimit,
        key: impl Fn(&T) -> K,
    ) -> Self {
        let has_more = rows.len() as i64 > limit.0;
        rows.truncate(limit.0 as usize);
        let next_cursor = if has_more {
            rows.last().map(|last| encode_cursor(&key(last)))
        } else {
            None
        };
        Self {
            items: rows,
            next_cursor,
        }
    }

    /// Replaces the items with a read model built for the whole page at once (one query for
    /// all their topics, languages, histories...).
    pub fn try_map_items<U, E>(
        self,
        f: impl FnOnce(Vec<T>) -> Result<Vec<U>, E>,
    ) -> Result<Page<U>, E> {
        Ok(Page {
            items: f(self.items)?,
            next_cursor: self.next_cursor,
        })
    }

    pub fn map<U>(self, f: impl FnMut(T) -> U) -> Page<U> {
        Page {
            items: self.items.into_iter().map(f).collect(),
            next_cursor: self.next_cursor,
        }
    }
}

//! Rows that save themselves with a version check, and the changes a PATCH really makes.
//!
//! Every mutable row carries `version` (its ETag). A save writes the whole row (its
//! `AsChangeset`, so a column added to the row is saved without anyone listing it) only where
//! the stored version is still the one that was read: when someone else saved first, nothing
//! is written and the caller learns it lost the race.

use diesel::QueryResult;

use super::DbConnection;
use crate::error::ApiError;

/// A row with `version` and `updated_at`, saved by [`Versioned::save`]. Implement it with
/// [`versioned!`](crate::versioned).
pub trait Versioned {
    /// Bumps `version` and `updated_at`, returning the version it replaced.
    fn bump(&mut self) -> i32;

    /// Writes the row where its id matches and its stored version is `previous`; the number of
    /// rows written.
    fn write_if_version(&self, conn: &mut DbConnection, previous: i32) -> QueryResult<usize>;

    /// Saves the row as the next version, or answers whether someone else saved it first
    /// (`false`, nothing written). For writes that choose their own answer to a lost race.
    fn try_save(&mut self, conn: &mut DbConnection) -> QueryResult<bool> {
        let previous = self.bump();
        Ok(self.write_if_version(conn, previous)? == 1)
    }

    /// Saves the row as the next version; 412 when someone else saved it first.
    fn save(&mut self, conn: &mut DbConnection) -> Result<(), ApiError> {
        if self.try_save(conn)? {
            Ok(())
        } else {
            Err(ApiError::precondition_failed())
        }
    }
}

/// Implements [`Versioned`] for a row type that derives `AsChangeset` on `table`:
/// `versioned!(Centre, centres);`.
#[macro_export]
macro_rules! versioned {
    ($row:ty, $table:ident) => {
        impl $crate::db::versioned::Versioned for $row {
            fn bump(&mut self) -> i32 {
                let previous = self.version;
                self.version += 1;
                self.updated_at = $crate::time::now();
                previous
            }

            fn write_if_version(
                &self,
                conn: &mut $crate::db::DbConnection,
                previous: i32,
            ) -> diesel::QueryResult<usize> {
                use diesel::prelude::*;
                use $crate::db::schema::$table;
                diesel::update(
                    $table::table
                        .filter($table::id.eq(&self.id))
                        .filter($table::version.eq(previous)),
                )
                .set(self)
                .execute(conn)
            }
        }
    };
}

/// The fields a PATCH really changed, in the order they were applied.
#[derive(Debug, Default)]
pub struct Changes {
    fields: Vec<&'static str>,
}

impl Changes {
    pub fn new() -> Self {
        Self::default()
    }

    /// Applies one PATCH field: `value` (when given) replaces `slot` if it differs, and `field`
    /// is recorded as changed. True when it changed.
    pub fn set<T: PartialEq>(
        &mut self,
        field: &'static str,
        slot: &mut T,
        value: Option<T>,
    ) -> bool {
        match value {
            Some(value) if value != *slot => {
                *slot = value;
                self.fields.push(field);
                true
            }
            _ => false,
        }
    }

    /// Records a change made elsewhere than in the row (a join table, a consent event).
    pub fn mark(&mut self, field: &'static str) {
        self.fields.push(field);
    }

    pub fn contains(&self, field: &str) -> bool {
        self.fields.contains(&field)
    }

    pub fn is_empty(&self) -> bool {
        self.fields.is_empty()
    }

    /// The changed fields, for the audit event.
    pub fn fields(&self) -> Vec<&'static str> {
        self.fields.clone()
    }
}

//! User queries shared by the user handlers, the hand-over of work and bootstrap.

use diesel::prelude::*;

use super::User;
use crate::auth::roles::Role;
use crate::db::schema::{centres, users};
use crate::db::DbConnection;
use crate::error::ApiError;

pub fn count(conn: &mut DbConnection) -> QueryResult<i64> {
    users::table.count().get_result(conn)
}

/// 422 unless the centre exists and is active; admins must have none, others one.
pub fn check_centre(
    conn: &mut DbConnection,
    role: Role,
    centre_id: Option<&str>,
) -> Result<(), ApiError> {
    match (role, centre_id) {
        (Role::Admin, Some(_)) => Err(ApiError::unprocessable_field(
            "centre_id",
            "admins belong to no centre",
        )),
        (Role::Admin, None) => Ok(()),
        (_, None) => Err(ApiError::unprocessable_field(
            "centre_id",
            "counsellors and supervisors need a centre",
        )),
        (_, Some(centre_id)) => {
            let active = centres::table
                .filter(centres::id.eq(centre_id))
                .filter(centres::active.eq(true))
                .count()
                .get_result::<i64>(conn)?;
            if active == 1 {
                Ok(())
            } else {
                Err(ApiError::unprocessable_field(
                    "centre_id",
                    "no active centre has this id",
                ))
            }
        }
    }
}

/// Reads a user about to be changed, in the caller's write transaction. On PostgreSQL the row
/// stays locked until the transaction ends: an assignment to this user (which locks the row to
/// share, see [`check_assignable`]) waits for the change and then sees it, and a change waits for
/// a running assignment and then sees the work it gave. `NO KEY UPDATE` is enough for that and
/// does not hold up inserts that merely reference the user (sessions, audit rows). On SQLite the
/// write transaction (`BEGIN IMMEDIATE`) already keeps every other writer out.
pub fn lock_for_change(conn: &mut DbConnection, id: &str) -> QueryResult<Option<User>> {
    let query = users::table.filter(users::id.eq(id));
    match conn {
        DbConnection::Postgresql(pg) => query.for_no_key_update().first(pg).optional(),
        DbConnection::Sqlite(sqlite) => query.first(sqlite).optional(),
    }
}

/// 422 unless `user_id` is an active counsellor or supervisor of `centre`. On PostgreSQL the
/// user's row stays locked to share until the caller's transaction ends, so the user cannot be
/// moved or deactivated between this check and the assignment it allows (see
/// [`lock_for_change`]).
pub fn check_assignable(
    conn: &mut DbConnection,
    centre: &str,
    user_id: &str,
    field: &str,
) -> Result<(), ApiError> {
    let query = users::table
        .filter(users::id.eq(user_id))
        .filter(users::centre_id.eq(centre))
        .filter(users::active.eq(true))
        .filter(users::role.eq_any([Role::Counsellor, Role::Supervisor]))
        .select(users::id);
    let found = match conn {
        DbConnection::Postgresql(pg) => query.for_share().first::<String>(pg).optional()?,
        DbConnection::Sqlite(sqlite) => query.first::<String>(sqlite).optional()?,
    };
    match found {
        Some(_) => Ok(()),
        None => Err(ApiError::unprocessable_field(
            field,
            "must be an active counsellor or supervisor of the centre",
        )),
    }
}

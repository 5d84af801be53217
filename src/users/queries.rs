//! User queries shared by the user handlers, login and bootstrap.

use diesel::prelude::*;

use super::User;
use crate::auth::staff::{Role, Staff};
use crate::db::schema::{centres, sessions, users};
use crate::db::{DbConnection, MultiBackend};
use crate::error::ApiError;

/// The access rule for staff accounts: admins see all, supervisors their centre's staff,
/// counsellors only themselves.
pub fn visible_to(staff: &Staff) -> users::BoxedQuery<'static, MultiBackend> {
    let query = users::table.into_boxed();
    match staff.role {
        Role::Admin => query,
        Role::Supervisor => query.filter(users::centre_id.eq(staff.centre_id.clone())),
        Role::Counsellor => query.filter(users::id.eq(staff.id.clone())),
    }
}

pub fn find_by_username(conn: &mut DbConnection, username: &str) -> QueryResult<Option<User>> {
    users::table
        .filter(users::username_key.eq(super::username_key(username)))
        .first::<User>(conn)
        .optional()
}

/// Ends every live session of a user (deactivation, password change or reset).
pub fn revoke_sessions(conn: &mut DbConnection, user_id: &str, reason: &str) -> QueryResult<usize> {
    diesel::update(
        sessions::table
            .filter(sessions::user_id.eq(user_id))
            .filter(sessions::revoked_at.is_null()),
    )
    .set((
        sessions::revoked_at.eq(crate::time::now()),
        sessions::revoked_reason.eq(reason),
    ))
    .execute(conn)
}

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

/// 422 unless `user_id` is an active counsellor or supervisor of `centre`.
pub fn check_assignable(
    conn: &mut DbConnection,
    centre: &str,
    user_id: &str,
    field: &str,
) -> Result<(), ApiError> {
    let found = users::table
        .filter(users::id.eq(user_id))
        .filter(users::centre_id.eq(centre))
        .filter(users::active.eq(true))
        .filter(users::role.eq_any(["counsellor", "supervisor"]))
        .count()
        .get_result::<i64>(conn)?;
    if found == 1 {
        Ok(())
    } else {
        Err(ApiError::unprocessable_field(
            field,
            "must be an active counsellor or supervisor of your centre",
        ))
    }
}

//! Ending login sessions: every refresh token of a session dies with it, and the access tokens
//! stop working at their next request (the session lookup refuses a revoked session).

use diesel::prelude::*;

use crate::db::schema::sessions;
use crate::db::DbConnection;

/// Ends every live session of a user (deactivation, password change or reset).
pub fn revoke_all(conn: &mut DbConnection, user_id: &str, reason: &str) -> QueryResult<usize> {
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

/// Ends one session (logout, a reused refresh token).
pub fn revoke(conn: &mut DbConnection, session_id: &str, reason: &str) -> QueryResult<usize> {
    diesel::update(sessions::table.filter(sessions::id.eq(session_id)))
        .set((
            sessions::revoked_at.eq(crate::time::now()),
            sessions::revoked_reason.eq(reason),
        ))
        .execute(conn)
}

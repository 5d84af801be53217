//! Who may read and change which group session — the one place these rules live.
//!
//! - Read (the session and its roster): counsellors and supervisors, their centre's sessions.
//!   A session is the centre's public activity; the roster shows what search already shows.
//! - Change (details, tallies, attendees): supervisors, their centre's; counsellors, the
//!   sessions they facilitate.
//! - Admins: none (reports only).

use diesel::prelude::*;
use diesel::sql_types::Bool;

use super::model::GroupSession;
use crate::auth::roles::CentreStaff;
use crate::db::schema::{group_session_facilitators, group_sessions};
use crate::db::{DbConnection, MultiBackend};
use crate::error::ApiError;

pub type SessionFilter =
    Box<dyn BoxableExpression<group_sessions::table, MultiBackend, SqlType = Bool>>;

pub fn visible(staff: &CentreStaff) -> SessionFilter {
    Box::new(group_sessions::centre_id.eq(staff.centre_id.clone()))
}

pub fn load_visible(
    conn: &mut DbConnection,
    staff: &CentreStaff,
    id: &str,
) -> Result<GroupSession, ApiError> {
    group_sessions::table
        .filter(group_sessions::id.eq(id))
        .filter(visible(staff))
        .first::<GroupSession>(conn)
        .optional()?
        .ok_or_else(|| ApiError::not_found("group session"))
}

/// A session the caller may change: visible (404), and theirs to run or a supervisor's (403).
/// Its row stays locked until the transaction ends, so concurrent changes of its attendance
/// follow one another instead of racing.
pub fn load_editable(
    conn: &mut DbConnection,
    staff: &CentreStaff,
    id: &str,
) -> Result<GroupSession, ApiError> {
    diesel::update(group_sessions::table)
        .filter(group_sessions::id.eq(id))
        .filter(visible(staff))
        .set(group_sessions::version.eq(group_sessions::version))
        .execute(conn)?;
    let session = load_visible(conn, staff, id)?;
    if staff.is_supervisor() || facilitates(conn, &session.id, &staff.id)? {
        Ok(session)
    } else {
        Err(ApiError::forbidden(
            "only the session's facilitators or a supervisor may change it",
        ))
    }
}

fn facilitates(conn: &mut DbConnection, session_id: &str, user_id: &str) -> QueryResult<bool> {
    let n: i64 = group_session_facilitators::table
        .filter(group_session_facilitators::session_id.eq(session_id))
        .filter(group_session_facilitators::user_id.eq(user_id))
        .count()
        .get_result(conn)?;
    Ok(n == 1)
}

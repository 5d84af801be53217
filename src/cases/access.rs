//! Who may see and change which case — the one place these rules live.
//!
//! - Read a case and everything on it: counsellors, cases of their centre assigned to them;
//!   supervisors, their centre's cases. Admins: none (they never read personal data).
//!
//! Every rule names the caller's current centre, even where it also names the caller: a case
//! may stay assigned to someone who has since moved to another centre (a closed case, reopened
//! later), and they must not keep it.
//! - Write on a case (update, consultation, referral, follow-up): the same people, while the case
//!   is open.
//! - Reassign, reopen: supervisors. Close: the assigned counsellor or a supervisor.
//!
//! A case outside the caller's scope answers 404; a forbidden action on a visible case 403.

use diesel::prelude::*;
use diesel::sql_types::Bool;

use super::model::Case;
use crate::auth::roles::{CentreRole, CentreStaff};
use crate::db::schema::cases;
use crate::db::{DbConnection, MultiBackend};
use crate::error::ApiError;

pub type CaseFilter = Box<dyn BoxableExpression<cases::table, MultiBackend, SqlType = Bool>>;

/// The cases the caller may read.
pub fn visible(staff: &CentreStaff) -> CaseFilter {
    let centre = staff.centre_id.clone();
    match staff.role {
        CentreRole::Supervisor => Box::new(cases::centre_id.eq(centre)),
        CentreRole::Counsellor => Box::new(
            cases::centre_id
                .eq(centre)
                .and(cases::assigned_to.eq(staff.id.clone())),
        ),
    }
}

/// A case the caller may read; 404 otherwise.
pub fn load_visible(
    conn: &mut DbConnection,
    staff: &CentreStaff,
    id: &str,
) -> Result<Case, ApiError> {
    cases::table
        .filter(cases::id.eq(id))
        .filter(visible(staff))
        .first::<Case>(conn)
        .optional()?
        .ok_or_else(|| ApiError::not_found("case"))
}

/// A case the caller may write on: visible (404) and open (409).
pub fn load_writable(
    conn: &mut DbConnection,
    staff: &CentreStaff,
    id: &str,
) -> Result<Case, ApiError> {
    let case = load_visible(conn, staff, id)?;
    if !case.is_open() {
        return Err(ApiError::conflict(
            "the case is closed; a supervisor can reopen it",
        ));
    }
    Ok(case)
}

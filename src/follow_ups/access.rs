//! Who may see and act on which follow-up: counsellors, those of their centre assigned to them
//! or on cases assigned to them; supervisors, their centre's; admins none.

use diesel::dsl::exists;
use diesel::prelude::*;
use diesel::sql_types::Bool;

use super::model::{FollowUp, FollowUpStatus};
use crate::auth::roles::{CentreRole, CentreStaff};
use crate::db::schema::{cases, follow_ups};
use crate::db::{DbConnection, MultiBackend};
use crate::error::ApiError;

pub type FollowUpFilter =
    Box<dyn BoxableExpression<follow_ups::table, MultiBackend, SqlType = Bool>>;

pub fn visible(staff: &CentreStaff) -> FollowUpFilter {
    let centre = staff.centre_id.clone();
    match staff.role {
        CentreRole::Supervisor => Box::new(follow_ups::centre_id.eq(centre)),
        CentreRole::Counsellor => Box::new(
            follow_ups::centre_id.eq(centre).and(
                follow_ups::assigned_to.eq(staff.id.clone()).or(exists(
                    cases::table
                        .filter(cases::id.eq(follow_ups::case_id))
                        .filter(cases::assigned_to.eq(staff.id.clone())),
                )),
            ),
        ),
    }
}

pub fn load_visible(
    conn: &mut DbConnection,
    staff: &CentreStaff,
    id: &str,
) -> Result<FollowUp, ApiError> {
    follow_ups::table
        .filter(follow_ups::id.eq(id))
        .filter(visible(staff))
        .first::<FollowUp>(conn)
        .optional()?
        .ok_or_else(|| ApiError::not_found("follow-up"))
}

/// A follow-up that can still be acted on: visible (404) and scheduled (409).
pub fn load_scheduled(
    conn: &mut DbConnection,
    staff: &CentreStaff,
    id: &str,
) -> Result<FollowUp, ApiError> {
    let follow_up = load_visible(conn, staff, id)?;
    if follow_up.status != FollowUpStatus::Scheduled {
        return Err(ApiError::conflict(format!(
            "the follow-up is already {}",
            follow_up.status.as_str()
        )));
    }
    Ok(follow_up)
}

//! Handing over a staff member's open work when an admin moves them to another centre,
//! deactivates them or makes them an admin: they lose the old scope at once, so their open cases
//! and scheduled follow-ups either move to `reassign_to` in the same transaction as the change,
//! or the change is refused (409) listing them. Counsellors and supervisors may both hold cases,
//! so a change between those two roles keeps the work.

use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::queries::check_assignable;
use super::User;
use crate::auth::roles::Role;
use crate::auth::staff::Staff;
use crate::cases::model::{Case, CaseStatus};
use crate::db::schema::{cases, follow_ups};
use crate::db::DbConnection;
use crate::error::{ApiError, Problem};
use crate::follow_ups::model::{FollowUp, FollowUpStatus};

/// The work that keeps a user from being moved, deactivated or made an admin.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct OpenWork {
    /// Ids of the open cases assigned to the user.
    pub open_cases: Vec<String>,
    pub open_case_count: usize,
    /// Ids of the scheduled follow-ups assigned to the user.
    pub scheduled_follow_ups: Vec<String>,
    pub scheduled_follow_up_count: usize,
}

/// The 409 of `PATCH /users/{id}`: the problem, with the user's open work as extension members.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[schema(example = json!({
    "type": "https://karvon.example/problems/conflict",
    "title": "Conflict",
    "status": 409,
    "detail": "the user still holds 1 open case(s) and 1 scheduled follow-up(s); send reassign_to to hand them over in the same change",
    "errors": [],
    "open_cases": ["01936b2e-7c1a-7d3e-9a51-2f6c1b0e4a55"],
    "open_case_count": 1,
    "scheduled_follow_ups": ["01936b2e-7c1a-7d3e-9a51-2f6c1b0e4a66"],
    "scheduled_follow_up_count": 1
}))]
pub struct OpenWorkProblem {
    #[serde(flatten)]
    pub problem: Problem,
    #[serde(flatten)]
    pub open_work: OpenWork,
}

/// Why the change from `before` to `after` takes the user's work away from them, if it does:
/// the note of each case's reassignment event.
pub fn reason(before: &User, after: &User) -> Option<&'static str> {
    if before.active && !after.active {
        Some("staff member deactivated")
    } else if before.role != after.role && after.role == Role::Admin {
        Some("staff member became an administrator")
    } else if before.centre_id != after.centre_id {
        Some("staff member moved to another centre")
    } else {
        None
    }
}

/// Moves the open work of `user` (as it was before the change) to `reassign_to`, or refuses the
/// change: 409 listing the work when there is some and no `reassign_to`; 422 naming
/// `reassign_to` unless it is an active counsellor or supervisor of the user's centre other than
/// the user. Runs in the change's transaction, after [`super::queries::lock_for_change`].
pub fn hand_over(
    conn: &mut DbConnection,
    admin: &Staff,
    user: &User,
    reason: &str,
    reassign_to: Option<&str>,
) -> Result<(), ApiError> {
    if let Some(successor) = reassign_to {
        check_successor(conn, user, successor)?;
    }
    let open_cases: Vec<Case> = cases::table
        .filter(cases::assigned_to.eq(&user.id))
        .filter(cases::status.eq(CaseStatus::Open))
        .order(cases::id.asc())
        .load(conn)?;
    let scheduled: Vec<FollowUp> = follow_ups::table
        .filter(follow_ups::assigned_to.eq(&user.id))
        .filter(follow_ups::status.eq(FollowUpStatus::Scheduled))
        .order(follow_ups::id.asc())
        .load(conn)?;
    if open_cases.is_empty() && scheduled.is_empty() {
        return Ok(());
    }
    let Some(successor) = reassign_to else {
        return Err(refusal(&open_cases, &scheduled));
    };
    for case in open_cases {
        crate::cases::reassign(conn, admin, case, successor, reason, "reassign_to")?;
    }
    for follow_up in scheduled {
        crate::follow_ups::queries::reassign(conn, admin, follow_up, successor, "reassign_to")?;
    }
    Ok(())
}

fn check_successor(conn: &mut DbConnection, user: &User, successor: &str) -> Result<(), ApiError> {
    if successor == user.id {
        return Err(ApiError::unprocessable_field(
            "reassign_to",
            "must be someone other than the user being changed",
        ));
    }
    let centre = user.centre_id.as_deref().ok_or_else(|| {
        ApiError::unprocessable_field("reassign_to", "an admin holds no work to hand over")
    })?;
    check_assignable(conn, centre, successor, "reassign_to")
}

fn refusal(open_cases: &[Case], scheduled: &[FollowUp]) -> ApiError {
    let work = OpenWork {
        open_cases: open_cases.iter().map(|c| c.id.clone()).collect(),
        open_case_count: open_cases.len(),
        scheduled_follow_ups: scheduled.iter().map(|f| f.id.clone()).collect(),
        scheduled_follow_up_count: scheduled.len(),
    };
    ApiError::conflict(format!(
        "the user still holds {} open case(s) and {} scheduled follow-up(s); send reassign_to \
         (an active counsellor or supervisor of their centre) to hand them over in the same change",
        work.open_case_count, work.scheduled_follow_up_count
    ))
    .with_extensions(&work)
}

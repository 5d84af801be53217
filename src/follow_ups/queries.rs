//! Follow-up writes shared by the follow-up handlers and other domains (closing a case, handing
//! over a staff member's work).

use diesel::prelude::*;

use super::model::{FollowUp, FollowUpStatus};
use crate::audit::Event;
use crate::auth::roles::CentreStaff;
use crate::auth::staff::Staff;
use crate::db::schema::{cases, follow_ups};
use crate::db::versioned::Versioned;
use crate::db::DbConnection;
use crate::error::ApiError;
use crate::users::queries::check_assignable;

pub fn migrant_of(conn: &mut DbConnection, case_id: &str) -> QueryResult<String> {
    cases::table
        .filter(cases::id.eq(case_id))
        .select(cases::migrant_id)
        .first(conn)
}

/// Writes a changed follow-up with a version check (412 when someone else changed it first),
/// and its audit event.
pub fn save(
    conn: &mut DbConnection,
    staff: &Staff,
    f: &mut FollowUp,
    action: &str,
    changed: Vec<&str>,
) -> Result<(), ApiError> {
    f.save(conn)?;
    Ok(audit(conn, staff, f, action, changed)?)
}

/// Records that the caller was shown a follow-up (its note and case are about the person).
pub fn audit(
    conn: &mut DbConnection,
    staff: &Staff,
    f: &FollowUp,
    action: &str,
    changed: Vec<&str>,
) -> QueryResult<()> {
    let migrant_id = migrant_of(conn, &f.case_id)?;
    event(staff, f, &migrant_id, action)
        .changed(changed)
        .record(conn)
}

/// The audit event of an action on a follow-up, naming the person of its case.
pub fn event<'a>(
    staff: &'a Staff,
    f: &'a FollowUp,
    migrant_id: &'a str,
    action: &'a str,
) -> Event<'a> {
    Event::new(action, "follow_up", Some(&f.id))
        .by(staff)
        .centre(Some(&f.centre_id))
        .subject(Some(migrant_id))
}

/// Gives a follow-up to `assignee`, an active counsellor or supervisor of its centre (422
/// naming `field` otherwise), in the caller's transaction.
pub fn reassign(
    conn: &mut DbConnection,
    staff: &Staff,
    mut f: FollowUp,
    assignee: &str,
    field: &str,
) -> Result<FollowUp, ApiError> {
    check_assignable(conn, &f.centre_id, assignee, field)?;
    if f.assigned_to != assignee {
        f.assigned_to = assignee.to_owned();
        save(
            conn,
            staff,
            &mut f,
            "follow_up.reassign",
            vec!["assigned_to"],
        )?;
    }
    Ok(f)
}

/// Ids of the case's follow-ups that are still scheduled.
pub fn scheduled_for_case(conn: &mut DbConnection, case_id: &str) -> QueryResult<Vec<String>> {
    follow_ups::table
        .filter(follow_ups::case_id.eq(case_id))
        .filter(follow_ups::status.eq(FollowUpStatus::Scheduled))
        .order(follow_ups::due_at.asc())
        .select(follow_ups::id)
        .load(conn)
}

/// Cancels those of the given follow-ups still scheduled, with a note as their outcome. 409
/// when one of them changes meanwhile (the caller did not read it with an `If-Match`).
pub fn cancel(
    conn: &mut DbConnection,
    staff: &CentreStaff,
    migrant_id: &str,
    ids: &[String],
    note: &str,
) -> Result<(), ApiError> {
    let scheduled: Vec<FollowUp> = follow_ups::table
        .filter(follow_ups::id.eq_any(ids))
        .filter(follow_ups::status.eq(FollowUpStatus::Scheduled))
        .order(follow_ups::due_at.asc())
        .load(conn)?;
    let now = crate::time::now();
    for mut f in scheduled {
        f.status = FollowUpStatus::Cancelled;
        f.outcome = Some(note.to_owned());
        f.closed_at = Some(now);
        if !f.try_save(conn)? {
            return Err(ApiError::conflict(
                "a follow-up of the case changed meanwhile; try again",
            ));
        }
        Event::new("follow_up.cancel", "follow_up", Some(&f.id))
            .by(staff)
            .centre(Some(&staff.centre_id))
            .subject(Some(migrant_id))
            .changed(vec!["status", "outcome"])
            .record(conn)?;
    }
    Ok(())
}

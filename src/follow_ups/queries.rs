//! Follow-up writes shared by the follow-up handlers and other domains (closing a case, handing
//! over a staff member's work).

use diesel::prelude::*;

use super::model::{FollowUp, FollowUpStatus};
use crate::audit::Event;
use crate::auth::roles::CentreStaff;
use crate::auth::staff::Staff;
use crate::db::schema::{cases, follow_ups};
use crate::db::DbConnection;
use crate::error::ApiError;
use crate::users::queries::check_assignable;

fn migrant_of(conn: &mut DbConnection, case_id: &str) -> QueryResult<String> {
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
    let previous = f.version;
    f.version += 1;
    f.updated_at = crate::time::now();
    let updated = diesel::update(
        follow_ups::table
            .filter(follow_ups::id.eq(&f.id))
            .filter(follow_ups::version.eq(previous)),
    )
    .set((
        follow_ups::assigned_to.eq(&f.assigned_to),
        follow_ups::due_at.eq(f.due_at),
        follow_ups::kind.eq(f.kind),
        follow_ups::note.eq(&f.note),
        follow_ups::status.eq(f.status),
        follow_ups::outcome.eq(&f.outcome),
        follow_ups::closed_at.eq(f.closed_at),
        follow_ups::version.eq(f.version),
        follow_ups::updated_at.eq(f.updated_at),
    ))
    .execute(conn)?;
    if updated != 1 {
        return Err(ApiError::precondition_failed());
    }
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
    Event::new(action, "follow_up", Some(&f.id))
        .by(staff)
        .centre(Some(&f.centre_id))
        .subject(Some(&migrant_id))
        .changed(changed)
        .record(conn)
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

/// Cancels scheduled follow-ups with a note as their outcome.
pub fn cancel(
    conn: &mut DbConnection,
    staff: &CentreStaff,
    migrant_id: &str,
    ids: &[String],
    note: &str,
) -> QueryResult<()> {
    let now = crate::time::now();
    for id in ids {
        diesel::update(
            follow_ups::table
                .filter(follow_ups::id.eq(id))
                .filter(follow_ups::status.eq(FollowUpStatus::Scheduled)),
        )
        .set((
            follow_ups::status.eq(FollowUpStatus::Cancelled),
            follow_ups::outcome.eq(note),
            follow_ups::closed_at.eq(now),
            follow_ups::version.eq(follow_ups::version + 1),
            follow_ups::updated_at.eq(now),
        ))
        .execute(conn)?;
        Event::new("follow_up.cancel", "follow_up", Some(id))
            .by(staff)
            .centre(Some(&staff.centre_id))
            .subject(Some(migrant_id))
            .changed(vec!["status", "outcome"])
            .record(conn)?;
    }
    Ok(())
}

//! Writes on cases shared by the handlers and by other domains: case events, audit rows,
//! reassignment and what closing does to a case's open items.

use diesel::prelude::*;

use super::model::*;
use crate::audit::Event;
use crate::auth::roles::CentreStaff;
use crate::auth::staff::Staff;
use crate::db::schema::case_events;
use crate::db::versioned::Versioned;
use crate::db::DbConnection;
use crate::error::{ApiError, FieldError};
use crate::users::queries::check_assignable;

pub fn record_case_event(
    conn: &mut DbConnection,
    case_id: &str,
    actor: &Staff,
    kind: CaseEventKind,
    assigned_to: Option<&str>,
    note: Option<&str>,
) -> QueryResult<()> {
    diesel::insert_into(case_events::table)
        .values((
            case_events::id.eq(uuid::Uuid::now_v7().to_string()),
            case_events::case_id.eq(case_id),
            case_events::at.eq(crate::time::now()),
            case_events::actor_id.eq(&actor.id),
            case_events::kind.eq(kind),
            case_events::assigned_to.eq(assigned_to),
            case_events::note.eq(note),
        ))
        .execute(conn)
        .map(|_| ())
}

/// The audit event of an action on a case, naming its person.
pub fn event<'a>(
    staff: &'a Staff,
    action: &'a str,
    case: &'a Case,
    changed: Vec<&'a str>,
) -> Event<'a> {
    Event::new(action, "case", Some(&case.id))
        .by(staff)
        .centre(Some(&case.centre_id))
        .subject(Some(&case.migrant_id))
        .changed(changed)
}

pub fn audit(
    conn: &mut DbConnection,
    staff: &Staff,
    action: &str,
    case: &Case,
    changed: Vec<&str>,
) -> QueryResult<()> {
    event(staff, action, case, changed).record(conn)
}

/// Gives an open case to `assignee`, who must be an active counsellor or supervisor of the
/// case's centre (422 naming `field` otherwise), with its `assigned` case event and audit row,
/// in the caller's transaction. The one way a case changes hands: `POST cases/{id}/assign` and
/// the hand-over when a staff member moves, leaves or becomes an admin.
pub fn reassign(
    conn: &mut DbConnection,
    actor: &Staff,
    mut case: Case,
    assignee: &str,
    reason: &str,
    field: &str,
) -> Result<Case, ApiError> {
    check_assignable(conn, &case.centre_id, assignee, field)?;
    if case.assigned_to == assignee {
        // Nothing to change, but the answer shows the case.
        audit(conn, actor, "case.reassign", &case, vec![])?;
        return Ok(case);
    }
    case.assigned_to = assignee.to_owned();
    case.save(conn)?;
    record_case_event(
        conn,
        &case.id,
        actor,
        CaseEventKind::Assigned,
        Some(&case.assigned_to),
        Some(reason),
    )?;
    audit(conn, actor, "case.reassign", &case, vec!["assigned_to"])?;
    Ok(case)
}

/// Closing a case with scheduled follow-ups or open referrals answers 409 listing them; with
/// `force` (supervisors) they are cancelled, in the caller's transaction.
pub fn close_open_items(
    conn: &mut DbConnection,
    staff: &CentreStaff,
    case: &Case,
    force: bool,
) -> Result<(), ApiError> {
    let follow_ups = crate::follow_ups::queries::scheduled_for_case(conn, &case.id)?;
    let referrals = crate::referrals::queries::open_for_case(conn, &case.id)?;
    if follow_ups.is_empty() && referrals.is_empty() {
        return Ok(());
    }
    if !force {
        let items = follow_ups
            .iter()
            .map(|id| FieldError::new(format!("follow_ups.{id}"), "is still scheduled"))
            .chain(referrals.iter().map(|(id, status)| {
                FieldError::new(
                    format!("referrals.{id}"),
                    format!("is still {}", status.as_str()),
                )
            }))
            .collect();
        return Err(ApiError::conflict_with(
            format!(
                "the case has {} scheduled follow-up(s) and {} open referral(s); complete or cancel them, or a supervisor may close with force",
                follow_ups.len(),
                referrals.len()
            ),
            items,
        ));
    }
    let note = "cancelled: case closed by a supervisor";
    crate::follow_ups::queries::cancel(conn, staff, &case.migrant_id, &follow_ups, note)?;
    let referrals: Vec<String> = referrals.into_iter().map(|(id, _)| id).collect();
    crate::referrals::queries::cancel(conn, staff, &case.migrant_id, &referrals, note)?;
    Ok(())
}

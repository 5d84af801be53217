//! Follow-up queries used by other domains (closing a case, caseloads).

use diesel::prelude::*;

use crate::audit::Event;
use crate::auth::staff::Staff;
use crate::db::schema::follow_ups;
use crate::db::DbConnection;

/// Ids of the case's follow-ups that are still scheduled.
pub fn scheduled_for_case(conn: &mut DbConnection, case_id: &str) -> QueryResult<Vec<String>> {
    follow_ups::table
        .filter(follow_ups::case_id.eq(case_id))
        .filter(follow_ups::status.eq("scheduled"))
        .order(follow_ups::due_at.asc())
        .select(follow_ups::id)
        .load(conn)
}

/// Cancels scheduled follow-ups with a note as their outcome.
pub fn cancel(
    conn: &mut DbConnection,
    staff: &Staff,
    migrant_id: &str,
    ids: &[String],
    note: &str,
) -> QueryResult<()> {
    let now = crate::time::now();
    for id in ids {
        diesel::update(
            follow_ups::table
                .filter(follow_ups::id.eq(id))
                .filter(follow_ups::status.eq("scheduled")),
        )
        .set((
            follow_ups::status.eq("cancelled"),
            follow_ups::outcome.eq(note),
            follow_ups::closed_at.eq(now),
            follow_ups::version.eq(follow_ups::version + 1),
            follow_ups::updated_at.eq(now),
        ))
        .execute(conn)?;
        Event::new("follow_up.cancel", "follow_up", Some(id))
            .by(staff)
            .centre(staff.centre_id.as_deref())
            .subject(Some(migrant_id))
            .changed(vec!["status", "outcome"])
            .record(conn)?;
    }
    Ok(())
}

//! Cases: a migrant's situation that needs following up, owned by one counsellor.

pub mod access;
pub mod model;
mod routes;
pub mod timeline;

pub use routes::{configure, reassign};

use crate::auth::roles::CentreStaff;
use crate::db::DbConnection;
use crate::error::{ApiError, FieldError};

/// Closing a case with scheduled follow-ups or open referrals answers 409 listing them; with
/// `force` (supervisors) they are cancelled, in the caller's transaction.
pub fn close_open_items(
    conn: &mut DbConnection,
    staff: &CentreStaff,
    case: &model::Case,
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

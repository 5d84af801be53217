//! Who may report on what — the one place these rules live.
//!
//! - Supervisors: their own centre; naming another centre answers 403. No disclosure control
//!   (they already see their centre's records).
//! - Admins: one centre or every centre, aggregates only: no breakdown by counsellor, and
//!   disclosure control on every report.

use diesel::prelude::*;

use super::model::Dimension;
use crate::auth::roles::Manager;
use crate::db::schema::centres;
use crate::db::DbConnection;
use crate::error::ApiError;

/// What a report covers and how it is shown.
#[derive(Debug, Clone)]
pub struct Scope {
    /// `None`: every centre.
    pub centre: Option<String>,
    pub disclosure_control: bool,
}

/// The scope of the caller's report, from the centre they asked for; refuses what their role
/// may not see before anything is read.
pub fn scope<D: Dimension>(
    manager: &Manager,
    requested: Option<String>,
    group_by: &[D],
) -> Result<Scope, ApiError> {
    match manager {
        Manager::Supervisor(supervisor) => match requested {
            Some(other) if other != supervisor.centre_id => Err(ApiError::forbidden(
                "supervisors report on their own centre only",
            )),
            _ => Ok(Scope {
                centre: Some(supervisor.centre_id.clone()),
                disclosure_control: false,
            }),
        },
        Manager::Admin(_) if group_by.iter().any(|d| d.is_counsellor()) => {
            Err(ApiError::forbidden(
                "admins see aggregates only: group_by=counsellor is for supervisors",
            ))
        }
        Manager::Admin(_) => Ok(Scope {
            centre: requested,
            disclosure_control: true,
        }),
    }
}

/// An admin's `centre_id` must name a centre (404 otherwise), so a typo is not a report of
/// zeros.
pub fn check_centre(conn: &mut DbConnection, scope: &Scope) -> Result<(), ApiError> {
    let Some(centre) = &scope.centre else {
        return Ok(());
    };
    let found: i64 = centres::table
        .filter(centres::id.eq(centre))
        .count()
        .get_result(conn)?;
    if found == 0 {
        return Err(ApiError::not_found("centre"));
    }
    Ok(())
}

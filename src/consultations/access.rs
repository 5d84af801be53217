//! Who may read and change which consultation — the one place these rules live.
//!
//! - Read: counsellors, the consultations they logged and those on cases assigned to them;
//!   supervisors, their centre's. Admins: none.
//! - Change: the author or a supervisor of the centre.
//! - Log: counsellors and supervisors, own centre; on a case only if they may write on it.

use diesel::dsl::exists;
use diesel::prelude::*;
use diesel::sql_types::Bool;

use super::model::Consultation;
use crate::auth::roles::{CentreRole, CentreStaff};
use crate::db::schema::{cases, consultations};
use crate::db::{DbConnection, MultiBackend};
use crate::error::ApiError;

pub type ConsultationFilter =
    Box<dyn BoxableExpression<consultations::table, MultiBackend, SqlType = Bool>>;

pub fn visible(staff: &CentreStaff) -> ConsultationFilter {
    let centre = staff.centre_id.clone();
    match staff.role {
        CentreRole::Supervisor => Box::new(consultations::centre_id.eq(centre)),
        CentreRole::Counsellor => Box::new(
            consultations::centre_id.eq(centre).and(
                consultations::counsellor_id.eq(staff.id.clone()).or(exists(
                    cases::table
                        .filter(cases::id.nullable().eq(consultations::case_id))
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
) -> Result<Consultation, ApiError> {
    consultations::table
        .filter(consultations::id.eq(id))
        .filter(visible(staff))
        .first::<Consultation>(conn)
        .optional()?
        .ok_or_else(|| ApiError::not_found("consultation"))
}

/// A consultation the caller may change: visible (404), not with an anonymised person (410),
/// and theirs or a supervisor's (403).
pub fn load_editable(
    conn: &mut DbConnection,
    staff: &CentreStaff,
    id: &str,
) -> Result<Consultation, ApiError> {
    let consultation = load_visible(conn, staff, id)?;
    if let Some(migrant_id) = &consultation.migrant_id {
        crate::migrants::access::refuse_if_anonymised(conn, migrant_id)?;
    }
    if staff.is_supervisor() || consultation.counsellor_id == staff.id {
        Ok(consultation)
    } else {
        Err(ApiError::forbidden(
            "only its author or a supervisor may change a consultation",
        ))
    }
}

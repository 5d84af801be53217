//! Who may see and move which referral: the people who may read / write on its case
//! (see `cases::access`). Counsellors, referrals of their centre on cases assigned to them;
//! supervisors, their centre's; admins none.

use diesel::dsl::exists;
use diesel::prelude::*;
use diesel::sql_types::Bool;

use super::model::Referral;
use crate::auth::roles::{CentreRole, CentreStaff};
use crate::db::schema::{cases, referrals};
use crate::db::{DbConnection, MultiBackend};
use crate::error::ApiError;

pub type ReferralFilter =
    Box<dyn BoxableExpression<referrals::table, MultiBackend, SqlType = Bool>>;

pub fn visible(staff: &CentreStaff) -> ReferralFilter {
    let centre = staff.centre_id.clone();
    match staff.role {
        CentreRole::Supervisor => Box::new(referrals::centre_id.eq(centre)),
        CentreRole::Counsellor => Box::new(
            referrals::centre_id.eq(centre).and(exists(
                cases::table
                    .filter(cases::id.eq(referrals::case_id))
                    .filter(cases::assigned_to.eq(staff.id.clone())),
            )),
        ),
    }
}

pub fn load_visible(
    conn: &mut DbConnection,
    staff: &CentreStaff,
    id: &str,
) -> Result<Referral, ApiError> {
    referrals::table
        .filter(referrals::id.eq(id))
        .filter(visible(staff))
        .first::<Referral>(conn)
        .optional()?
        .ok_or_else(|| ApiError::not_found("referral"))
}

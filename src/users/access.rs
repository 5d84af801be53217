//! Who may see which staff account — the one place this rule lives. Creating and changing
//! accounts is for admins (the `Admin` guard on the handlers).

use diesel::prelude::*;

use crate::auth::roles::Role;
use crate::auth::staff::Staff;
use crate::db::schema::users;
use crate::db::MultiBackend;

/// The access rule for staff accounts: admins see all, supervisors their centre's staff,
/// counsellors only themselves.
pub fn visible_to(staff: &Staff) -> users::BoxedQuery<'static, MultiBackend> {
    let query = users::table.into_boxed();
    match staff.role {
        Role::Admin => query,
        Role::Supervisor => query.filter(users::centre_id.eq(staff.centre_id.clone())),
        Role::Counsellor => query.filter(users::id.eq(staff.id.clone())),
    }
}

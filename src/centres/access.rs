//! Who may see which centre — the one place this rule lives: admins every centre, staff only
//! their own. Managing centres is for admins (the `Admin` guard on the handlers).

use diesel::prelude::*;

use crate::auth::roles::Role;
use crate::auth::staff::Staff;
use crate::db::schema::centres;
use crate::db::MultiBackend;

/// The access rule for centres: admins see every centre, staff only their own.
pub fn visible_to(staff: &Staff) -> centres::BoxedQuery<'static, MultiBackend> {
    let query = centres::table.into_boxed();
    match (&staff.role, &staff.centre_id) {
        (Role::Admin, _) => query,
        (_, Some(centre)) => query.filter(centres::id.eq(centre.clone())),
        (_, None) => query.filter(centres::id.is_null()),
    }
}

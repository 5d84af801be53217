//! Who may use and manage which provider — the one place these rules live.
//!
//! - Read: every staff member, the global entries and their own centre's; admins, all.
//! - Manage: admins the global entries; supervisors their centre's. Counsellors read only.

use diesel::prelude::*;
use diesel::sql_types::Bool;

use super::model::Provider;
use crate::auth::roles::{Manager, Role};
use crate::auth::staff::Staff;
use crate::db::schema::service_providers;
use crate::db::{DbConnection, MultiBackend};
use crate::error::ApiError;

pub type ProviderFilter =
    Box<dyn BoxableExpression<service_providers::table, MultiBackend, SqlType = Bool>>;

/// Providers the caller may see (and, for staff, refer to).
pub fn visible(staff: &Staff) -> ProviderFilter {
    match staff.role {
        Role::Admin => Box::new(service_providers::id.eq(service_providers::id)),
        _ => Box::new(
            service_providers::centre_id
                .is_null()
                .or(service_providers::centre_id
                    .eq(staff.centre_id.clone())
                    .assume_not_null()),
        ),
    }
}

pub fn load_visible(
    conn: &mut DbConnection,
    staff: &Staff,
    id: &str,
) -> Result<Provider, ApiError> {
    service_providers::table
        .filter(service_providers::id.eq(id))
        .filter(visible(staff))
        .first::<Provider>(conn)
        .optional()?
        .ok_or_else(|| ApiError::not_found("service provider"))
}

/// 403 unless the caller manages this entry: admins the global ones, supervisors their centre's.
pub fn require_manager(staff: &Manager, centre_id: Option<&str>) -> Result<(), ApiError> {
    if staff.centre() == centre_id {
        Ok(())
    } else {
        Err(ApiError::forbidden(
            "admins manage global entries; supervisors their centre's",
        ))
    }
}

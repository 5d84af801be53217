//! Roles, and the guard extractors that say in a handler's signature who may call it.
//!
//! A handler takes [`Staff`] (any active staff member), [`CentreStaff`] (a counsellor or
//! supervisor, with their centre), [`Supervisor`], [`Admin`] or [`Manager`] (an admin or a
//! supervisor). Anyone else gets 403 before the handler runs. Finer rules (which case, which
//! centre's entry) stay in each domain's `access.rs`, inside the SQL.
//!
//! Each guard's [`Guard::ROLES`] is what the operation's `security` requirement lists in the
//! spec (`security(("bearer" = ["supervisor"]))`); a test checks that the two agree.

use std::future::Future;
use std::ops::Deref;
use std::pin::Pin;

use actix_web::dev::Payload;
use actix_web::{FromRequest, HttpRequest};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::staff::Staff;
use crate::error::ApiError;

#[derive(
    Clone,
    Copy,
    Debug,
    PartialEq,
    Eq,
    Serialize,
    Deserialize,
    ToSchema,
    clap::ValueEnum,
    diesel::AsExpression,
    diesel::FromSqlRow,
)]
#[serde(rename_all = "snake_case")]
#[diesel(sql_type = diesel::sql_types::Text)]
pub enum Role {
    Counsellor,
    Supervisor,
    Admin,
}

impl Role {
    pub const ALL: [Role; 3] = [Self::Counsellor, Self::Supervisor, Self::Admin];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Counsellor => "counsellor",
            Self::Supervisor => "supervisor",
            Self::Admin => "admin",
        }
    }
}

crate::text_enum_sql!(Role { Counsellor => "counsellor", Supervisor => "supervisor", Admin => "admin" });

/// The role of someone who works in a centre.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CentreRole {
    Counsellor,
    Supervisor,
}

/// Who may pass a guard, and how the guard is made from the caller.
pub trait Guard: Sized {
    /// The roles admitted; the spec's `security` requirement of the operation lists the same.
    const ROLES: &'static [Role];

    /// The guard for this caller; `None` when their role is not admitted.
    fn admit(staff: Staff) -> Option<Self>;
}

/// A counsellor or supervisor, with the centre they work in now.
#[derive(Clone, Debug)]
pub struct CentreStaff {
    staff: Staff,
    pub centre_id: String,
    pub role: CentreRole,
}

impl CentreStaff {
    pub fn is_supervisor(&self) -> bool {
        self.role == CentreRole::Supervisor
    }

    pub fn is_counsellor(&self) -> bool {
        self.role == CentreRole::Counsellor
    }
}

impl Deref for CentreStaff {
    type Target = Staff;

    fn deref(&self) -> &Staff {
        &self.staff
    }
}

impl Guard for CentreStaff {
    const ROLES: &'static [Role] = &[Role::Counsellor, Role::Supervisor];

    fn admit(staff: Staff) -> Option<Self> {
        let role = match staff.role {
            Role::Counsellor => CentreRole::Counsellor,
            Role::Supervisor => CentreRole::Supervisor,
            Role::Admin => return None,
        };
        let centre_id = staff.centre_id.clone()?;
        Some(Self {
            staff,
            centre_id,
            role,
        })
    }
}

/// A supervisor of a centre.
#[derive(Clone, Debug)]
pub struct Supervisor(CentreStaff);

impl Deref for Supervisor {
    type Target = CentreStaff;

    fn deref(&self) -> &CentreStaff {
        &self.0
    }
}

impl Guard for Supervisor {
    const ROLES: &'static [Role] = &[Role::Supervisor];

    fn admit(staff: Staff) -> Option<Self> {
        CentreStaff::admit(staff)
            .filter(CentreStaff::is_supervisor)
            .map(Self)
    }
}

/// An administrator of the deployment (no centre, no personal data).
#[derive(Clone, Debug)]
pub struct Admin(Staff);

impl Deref for Admin {
    type Target = Staff;

    fn deref(&self) -> &Staff {
        &self.0
    }
}

impl Guard for Admin {
    const ROLES: &'static [Role] = &[Role::Admin];

    fn admit(staff: Staff) -> Option<Self> {
        (staff.role == Role::Admin).then_some(Self(staff))
    }
}

/// Someone who manages staff and entries: an admin (every centre) or a supervisor (theirs).
#[derive(Clone, Debug)]
pub enum Manager {
    Admin(Admin),
    Supervisor(Supervisor),
}

impl Manager {
    /// The centre the caller manages; `None` for an admin, who manages every centre.
    pub fn centre(&self) -> Option<&str> {
        match self {
            Self::Admin(_) => None,
            Self::Supervisor(supervisor) => Some(&supervisor.centre_id),
        }
    }
}

impl Deref for Manager {
    type Target = Staff;

    fn deref(&self) -> &Staff {
        match self {
            Self::Admin(admin) => admin,
            Self::Supervisor(supervisor) => supervisor,
        }
    }
}

impl Guard for Manager {
    const ROLES: &'static [Role] = &[Role::Supervisor, Role::Admin];

    fn admit(staff: Staff) -> Option<Self> {
        match staff.role {
            Role::Admin => Admin::admit(staff).map(Self::Admin),
            _ => Supervisor::admit(staff).map(Self::Supervisor),
        }
    }
}

/// "only counsellors and supervisors may do this", from a guard's roles.
fn refusal<G: Guard>(staff: &Staff) -> ApiError {
    let plural: Vec<String> = G::ROLES
        .iter()
        .map(|r| format!("{}s", r.as_str()))
        .collect();
    ApiError::forbidden(format!(
        "only {} may do this; you are a {}",
        plural.join(" and "),
        staff.role.as_str()
    ))
}

macro_rules! guard_extractor {
    ($guard:ty) => {
        impl FromRequest for $guard {
            type Error = ApiError;
            type Future = Pin<Box<dyn Future<Output = Result<Self, ApiError>>>>;

            fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
                let staff = Staff::from_request(req, payload);
                Box::pin(async move {
                    let staff = staff.await?;
                    if !<$guard as Guard>::ROLES.contains(&staff.role) {
                        return Err(refusal::<$guard>(&staff));
                    }
                    <$guard as Guard>::admit(staff)
                        .ok_or_else(|| ApiError::forbidden("this action needs a centre"))
                })
            }
        }
    };
}

guard_extractor!(CentreStaff);
guard_extractor!(Supervisor);
guard_extractor!(Admin);
guard_extractor!(Manager);

use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::auth::roles::Role;
use crate::db::schema::users;
use crate::time::Timestamp;

#[derive(Debug, Clone, Queryable, Insertable, AsChangeset)]
#[diesel(table_name = users, treat_none_as_null = true, treat_none_as_default_value = false)]
pub struct User {
    pub id: String,
    pub username: String,
    pub username_key: String,
    pub full_name: String,
    pub email: Option<String>,
    pub role: Role,
    pub centre_id: Option<String>,
    pub active: bool,
    pub must_change_password: bool,
    pub password_hash: String,
    pub version: i32,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

crate::versioned!(User, users);

/// A staff account as the API shows it (never the password hash).
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct UserResponse {
    pub id: String,
    #[schema(example = "dilnoza.k")]
    pub username: String,
    #[schema(example = "Dilnoza Karimova")]
    pub full_name: String,
    #[schema(example = "dilnoza@mrc-dushanbe.example")]
    pub email: Option<String>,
    pub role: Role,
    /// `null` for admins.
    pub centre_id: Option<String>,
    pub active: bool,
    /// True after an admin set the password: the user must change it before anything else.
    pub must_change_password: bool,
    pub version: i32,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<User> for UserResponse {
    fn from(u: User) -> Self {
        Self {
            id: u.id,
            username: u.username,
            full_name: u.full_name,
            email: u.email,
            role: u.role,
            centre_id: u.centre_id,
            active: u.active,
            must_change_password: u.must_change_password,
            version: u.version,
            created_at: crate::time::utc(u.created_at),
            updated_at: crate::time::utc(u.updated_at),
        }
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"username": "dilnoza.k", "full_name": "Dilnoza Karimova", "email": "dilnoza@mrc-dushanbe.example", "role": "counsellor", "centre_id": "01936b2e-7c1a-7d3e-9a51-2f6c1b0e4a44", "password": "plum orchard teapot 42"}))]
pub struct CreateUser {
    /// 3–64 characters: letters, digits, `.`, `_`, `-`, `@`. Unique, case-insensitively.
    #[schema(example = "dilnoza.k", min_length = 3, max_length = 64)]
    pub username: String,
    #[schema(example = "Dilnoza Karimova", min_length = 1, max_length = 200)]
    pub full_name: String,
    pub email: Option<String>,
    pub role: Role,
    /// Required for counsellors and supervisors; must be absent for admins.
    pub centre_id: Option<String>,
    /// At least 12 characters, not containing the username, not a common password. The user
    /// must change it at first login.
    #[schema(example = "plum orchard teapot 42", min_length = 12, max_length = 256)]
    pub password: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"centre_id": "01936b2e-7c1a-7d3e-9a51-2f6c1b0e4a45", "reassign_to": "01936b2e-7c1a-7d3e-9a51-2f6c1b0e4a22"}))]
pub struct UpdateUser {
    #[schema(min_length = 1, max_length = 200)]
    pub full_name: Option<String>,
    pub email: Option<String>,
    pub role: Option<Role>,
    pub centre_id: Option<String>,
    /// `false` deactivates the account and ends its sessions at once.
    pub active: Option<bool>,
    /// A new password set by the admin: the user must change it at next login; their sessions end.
    #[schema(min_length = 12, max_length = 256)]
    pub password: Option<String>,
    /// With a move to another centre, a deactivation or a change to `admin` only: the user id of
    /// an active counsellor or supervisor of the user's current centre (not the user) who takes
    /// over the user's open cases and scheduled follow-ups in the same change. Without it such a
    /// change answers 409 listing that work; with any other change, 422.
    pub reassign_to: Option<String>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListUsers {
    pub role: Option<Role>,
    pub centre_id: Option<String>,
    pub active: Option<bool>,
    /// Only accounts changed at or after this time (RFC 3339, years 1900–9999).
    pub updated_since: Option<Timestamp>,
    /// Page size, 1–200 (default 50).
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<i64>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

pub fn valid_username(username: &str) -> bool {
    let length = username.chars().count();
    (3..=64).contains(&length)
        && username
            .chars()
            .all(|c| c.is_alphanumeric() || ".-_@".contains(c))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChangePasswordRequest {
    pub current_password: String,
    #[schema(min_length = 12, max_length = 256)]
    pub new_password: String,
}

impl User {
    /// A new active account that must change its password at first login.
    pub fn new_account(
        username: String,
        full_name: String,
        role: Role,
        centre_id: Option<String>,
        password_hash: String,
    ) -> Self {
        let now = crate::time::now();
        Self {
            id: uuid::Uuid::now_v7().to_string(),
            username_key: crate::auth::credentials::username_key(&username),
            username,
            full_name,
            email: None,
            role,
            centre_id,
            active: true,
            must_change_password: true,
            password_hash,
            version: 1,
            created_at: now,
            updated_at: now,
        }
    }
}

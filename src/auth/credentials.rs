//! What login reads of a staff account: its name, password hash and standing. The account
//! itself (the `users` domain) is managed elsewhere; this is the part authentication needs.

use diesel::prelude::*;

use super::roles::Role;
use crate::db::schema::users;
use crate::db::DbConnection;

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = users)]
pub struct Credentials {
    pub id: String,
    pub username: String,
    pub username_key: String,
    pub role: Role,
    pub centre_id: Option<String>,
    pub active: bool,
    pub must_change_password: bool,
    pub password_hash: String,
}

/// How usernames are compared: `Dilnoza.K` and `dilnoza.k ` name the same account.
pub fn username_key(username: &str) -> String {
    username.trim().to_lowercase()
}

pub fn find_by_username(
    conn: &mut DbConnection,
    username: &str,
) -> QueryResult<Option<Credentials>> {
    users::table
        .filter(users::username_key.eq(username_key(username)))
        .select(Credentials::as_select())
        .first(conn)
        .optional()
}

pub fn find_by_id(conn: &mut DbConnection, id: &str) -> QueryResult<Credentials> {
    users::table
        .filter(users::id.eq(id))
        .select(Credentials::as_select())
        .first(conn)
}

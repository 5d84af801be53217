//! First start: a database without users gets an `admin` account, so someone can log in.

use diesel::prelude::*;

use super::{queries, User};
use crate::audit::Event;
use crate::auth::password::Passwords;
use crate::auth::roles::Role;
use crate::db::schema::users;
use crate::db::Pool;

/// Creates `admin` when no user exists. Returns the generated one-time password when none was
/// configured (the caller prints it once); `None` when nothing was created or it was configured.
pub async fn ensure_admin(
    pool: &Pool,
    passwords: &Passwords,
    configured_password: Option<String>,
) -> anyhow::Result<Option<String>> {
    let check_pool = pool.clone();
    let existing = tokio::task::spawn_blocking(move || -> anyhow::Result<i64> {
        let mut conn = check_pool.get()?;
        Ok(queries::count(&mut conn)?)
    })
    .await??;
    if existing > 0 {
        return Ok(None);
    }
    let generated = configured_password.is_none();
    let password = configured_password
        .unwrap_or_else(|| crate::auth::tokens::new_refresh_token()[..24].to_owned());
    let hash = passwords
        .hash(password.clone())
        .await
        .map_err(|e| anyhow::anyhow!("hashing the bootstrap password: {e}"))?;
    let insert_pool = pool.clone();
    tokio::task::spawn_blocking(move || -> anyhow::Result<()> {
        let mut conn = insert_pool.get()?;
        let admin = User::new_account(
            "admin".into(),
            "Administrator".into(),
            Role::Admin,
            None,
            hash,
        );
        conn.transaction(|conn| {
            diesel::insert_into(users::table)
                .values(&admin)
                .execute(conn)?;
            Event::new("user.bootstrap_admin", "user", Some(&admin.id))
                .changed(vec!["username", "role", "password"])
                .record(conn)
        })?;
        Ok(())
    })
    .await??;
    Ok(generated.then_some(password))
}

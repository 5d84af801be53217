//! `karvon create-user`: creates an account from a script (password on stdin).

use diesel::prelude::*;

use super::queries::check_centre;
use super::{valid_username, User};
use crate::audit::Event;
use crate::auth::password::{check_policy, Passwords};
use crate::auth::roles::Role;
use crate::config::{DatabaseConfig, PasswordHashing};
use crate::db::schema::users;

pub struct NewAccount {
    pub username: String,
    pub full_name: String,
    pub role: Role,
    pub centre_id: Option<String>,
    pub password: String,
}

pub async fn create_user(
    database: &DatabaseConfig,
    hashing: PasswordHashing,
    account: NewAccount,
) -> anyhow::Result<String> {
    if !valid_username(&account.username) {
        anyhow::bail!("username must be 3 to 64 letters, digits or . _ - @");
    }
    check_policy(&account.password, &account.username)
        .map_err(|reason| anyhow::anyhow!("password {reason}"))?;
    let hash = Passwords::new(hashing)?
        .hash(account.password)
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let url = database.database_url.clone();
    tokio::task::spawn_blocking(move || -> anyhow::Result<String> {
        let pool = crate::db::build_pool(&url, 1, false, crate::db::CHECKOUT_TIMEOUT);
        let mut conn = pool.get()?;
        crate::db::run_migrations(&mut conn)?;
        let full_name = if account.full_name.trim().is_empty() {
            account.username.clone()
        } else {
            account.full_name.trim().to_owned()
        };
        let mut user = User::new_account(
            account.username,
            full_name,
            account.role,
            account.centre_id,
            hash,
        );
        // The operator chose this password on the command line for the account's owner.
        user.must_change_password = false;
        crate::db::write_transaction(&mut conn, |conn| {
            check_centre(conn, account.role, user.centre_id.as_deref())?;
            diesel::insert_into(users::table)
                .values(&user)
                .execute(conn)?;
            Event::new("user.create_cli", "user", Some(&user.id))
                .centre(user.centre_id.as_deref())
                .changed(vec![
                    "username",
                    "full_name",
                    "role",
                    "centre_id",
                    "password",
                ])
                .record(conn)?;
            Ok(())
        })
        .map_err(|e| anyhow::anyhow!("{e}"))?;
        Ok(format!(
            "created {} `{}` ({})",
            user.role.as_str(),
            user.username,
            user.id
        ))
    })
    .await?
}

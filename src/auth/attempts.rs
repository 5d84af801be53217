//! A password check under the login throttle, shared by login and `POST /me/password`: reserve
//! the attempt (429 when locked), wait out the username's delay, verify, then settle the counters
//! and the audit trail.

use actix_web::web;

use super::credentials::{username_key, Credentials};
use super::pseudonyms::Pseudonyms;
use super::throttle::{self, AttemptKeys, Lock, Reservation};
use crate::audit::Event;
use crate::error::ApiError;
use crate::http::RequestMeta;
use crate::state::AppState;

/// Whose password is checked, as audit events name them: an account, or (for a name that is no
/// account) a pseudonym of what was typed, which may be a password typed in the wrong field.
#[derive(Clone, Debug)]
pub struct Claimant {
    pub user_id: Option<String>,
    pub username: String,
    pub username_key: String,
    pub centre_id: Option<String>,
}

impl Claimant {
    pub fn new(user: Option<&Credentials>, typed_username: &str, pseudonyms: &Pseudonyms) -> Self {
        let username_key =
            user.map_or_else(|| username_key(typed_username), |u| u.username_key.clone());
        Self {
            user_id: user.map(|u| u.id.clone()),
            username: user.map_or_else(
                || pseudonyms.unknown_username(&username_key),
                |u| u.username.clone(),
            ),
            username_key,
            centre_id: user.and_then(|u| u.centre_id.clone()),
        }
    }

    /// An event about this claimant's account (none for an unknown name).
    pub fn event<'a>(&'a self, action: &'a str, meta: &'a RequestMeta) -> Event<'a> {
        Event::new(action, "user", self.user_id.as_deref())
            .claimed_by(&self.username, self.user_id.as_deref(), meta)
            .centre(self.centre_id.as_deref())
    }

    /// The one event of a lock: on the account (or unknown name) for a username locked at an
    /// address, on the address (`client_ip` of the event) for an address locked for every name.
    fn lock_event<'a>(&'a self, lock: Lock, meta: &'a RequestMeta) -> Event<'a> {
        match lock {
            Lock::UsernameAtClient => self.event("auth.login_throttled", meta),
            Lock::Client => Event::new("auth.login_throttled", "client_address", None)
                .claimed_by(&self.username, self.user_id.as_deref(), meta)
                .centre(self.centre_id.as_deref()),
        }
    }
}

/// Checks `password` against `stored_hash` (`None`: no usable account; a dummy hash is checked)
/// under the throttle. A wrong password is audited as `failure_action`; a refused attempt is not
/// audited, except that each lock writes one `auth.login_throttled` event.
pub async fn throttled_verify(
    state: &web::Data<AppState>,
    claimant: Claimant,
    meta: RequestMeta,
    stored_hash: Option<String>,
    password: String,
    failure_action: &'static str,
) -> Result<bool, ApiError> {
    let keys = AttemptKeys::new(&state.pseudonyms, &claimant.username_key, &meta.client_ip);
    let delay = reserve(state, &claimant, &meta, &keys).await?;
    // Sleeping here holds neither a database connection nor a hashing permit.
    tokio::time::sleep(delay).await;
    let matches = state.passwords.verify(stored_hash, password).await?;
    crate::db::transaction(&state.pool, move |conn| {
        if matches {
            return Ok(throttle::succeeded(conn, &keys)?);
        }
        for lock in throttle::failed(conn, &keys, crate::time::now())? {
            claimant.lock_event(lock, &meta).record(conn)?;
        }
        Ok(claimant.event(failure_action, &meta).record(conn)?)
    })
    .await?;
    Ok(matches)
}

/// Reserves the attempt and returns the delay to wait, or refuses it with 429. The refusal
/// commits too: it may be the first of its lock, which is audited.
async fn reserve(
    state: &web::Data<AppState>,
    claimant: &Claimant,
    meta: &RequestMeta,
    keys: &AttemptKeys,
) -> Result<std::time::Duration, ApiError> {
    let (claimant, meta, keys) = (claimant.clone(), meta.clone(), keys.clone());
    let outcome = crate::db::transaction(&state.pool, move |conn| {
        Ok(match throttle::reserve(conn, &keys, crate::time::now())? {
            Reservation::Granted { delay } => Ok(delay),
            Reservation::Locked {
                lock,
                retry_after,
                first_refusal,
            } => {
                if first_refusal {
                    claimant.lock_event(lock, &meta).record(conn)?;
                }
                Err(retry_after)
            }
        })
    })
    .await?;
    outcome.map_err(ApiError::too_many_requests)
}

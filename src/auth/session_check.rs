//! Whether an access token's session still stands: the session live, its user active, their
//! centre active, and the account still as the token describes it.
//!
//! Every request is checked once, by a primary-key lookup on the connection of its first query
//! ([`crate::db::precondition`]). On PostgreSQL an audited read's check instead goes with its
//! audit events to the group that commits them, where one query checks the whole group's
//! sessions ([`crate::audit::read`]), and a write's check goes with its audit event
//! ([`SessionCheck::run_after`]): a round trip less per request, and still decided before the
//! answer leaves (a write's, before its commit).

use std::collections::HashMap;

use diesel::prelude::*;
use diesel::query_builder::QueryId;

use super::roles::Role;
use super::tokens::Claims;
use crate::db::schema::{centres, sessions, users};
use crate::db::then::{Preceding, Then};
use crate::db::DbConnection;
use crate::error::ApiError;

/// The check of one request's session, from its verified access token.
pub struct SessionCheck(Claims);

/// The account behind a live session: (username, role, centre, must_change_password, centre
/// active).
type Account = (String, Role, Option<String>, bool, Option<bool>);

/// A live session's id and user, with its account.
type LiveSession = (String, String, Account);

/// Sessions neither revoked nor expired, of active users, with their accounts.
#[diesel::dsl::auto_type]
fn live_sessions(now: chrono::NaiveDateTime) -> _ {
    sessions::table
        .inner_join(users::table.left_join(centres::table))
        .filter(sessions::revoked_at.is_null())
        .filter(sessions::expires_at.gt(now))
        .filter(users::active.eq(true))
        .select((
            sessions::id,
            sessions::user_id,
            (
                users::username,
                users::role,
                users::centre_id,
                users::must_change_password,
                centres::active.nullable(),
            ),
        ))
}

/// The live session a token names, if it is the token's user's.
#[diesel::dsl::auto_type]
fn session_of<'a>(now: chrono::NaiveDateTime, sid: &'a str, sub: &'a str) -> _ {
    let live: live_sessions = live_sessions(now);
    live.filter(sessions::id.eq(sid))
        .filter(sessions::user_id.eq(sub))
}

// Found in the statement cache by its type, alone or after other statements.
const _: () = assert!(<session_of<'static> as QueryId>::HAS_STATIC_QUERY_ID);

impl SessionCheck {
    pub fn new(claims: Claims) -> Self {
        Self(claims)
    }

    /// One primary-key lookup.
    pub fn run(&self, conn: &mut DbConnection) -> Result<(), ApiError> {
        let now = chrono::Utc::now().naive_utc();
        let session: Option<LiveSession> = session_of(now, &self.0.sid, &self.0.sub)
            .first(conn)
            .optional()?;
        self.judge(session.as_ref().map(|(_, _, account)| account))
    }

    /// The lookup as the last part of one statement with `before` (PostgreSQL), which runs
    /// whatever the verdict: the caller rolls it back on a refusal.
    pub fn run_after<P>(
        &self,
        conn: &mut PgConnection,
        before: P,
    ) -> QueryResult<Result<(), ApiError>>
    where
        P: Preceding + QueryId,
    {
        let now = chrono::Utc::now().naive_utc();
        let session: Option<LiveSession> = Then(before, session_of(now, &self.0.sid, &self.0.sub))
            .get_result(conn)
            .optional()?;
        Ok(self.judge(session.as_ref().map(|(_, _, account)| account)))
    }

    /// The verdicts of several checks, in their order, from one query on PostgreSQL (one
    /// prepared statement for any number, the ids bound as an array); one lookup each on
    /// SQLite, where a lookup costs no round trip.
    pub fn run_all(
        conn: &mut DbConnection,
        checks: &[&SessionCheck],
    ) -> QueryResult<Vec<Result<(), ApiError>>> {
        // A group whose reads were all checked already needs no query.
        if checks.is_empty() {
            return Ok(Vec::new());
        }
        let DbConnection::Postgresql(pg) = conn else {
            return Ok(checks.iter().map(|check| check.run(conn)).collect());
        };
        let ids: Vec<&str> = checks.iter().map(|check| check.0.sid.as_str()).collect();
        let live: Vec<LiveSession> = live_sessions(chrono::Utc::now().naive_utc())
            .filter(sessions::id.eq_any(ids))
            .load(pg)?;
        let live: HashMap<&str, (&str, &Account)> = live
            .iter()
            .map(|(id, user, account)| (id.as_str(), (user.as_str(), account)))
            .collect();
        Ok(checks
            .iter()
            .map(|check| {
                let account = live
                    .get(check.0.sid.as_str())
                    .filter(|(user, _)| *user == check.0.sub)
                    .map(|(_, account)| *account);
                check.judge(account)
            })
            .collect())
    }

    /// The verdict on the account behind the token's session, if the session is live.
    fn judge(&self, account: Option<&Account>) -> Result<(), ApiError> {
        let (username, role, centre_id, must_change_password, centre_active) =
            account.ok_or_else(|| ApiError::unauthorized("the session has ended; log in again"))?;
        if *role != Role::Admin && *centre_active != Some(true) {
            return Err(ApiError::centre_inactive());
        }
        let claims = &self.0;
        let as_issued = *username == claims.preferred_username
            && *role == claims.role
            && *centre_id == claims.centre
            && *must_change_password == claims.must_change_password;
        if !as_issued {
            return Err(ApiError::unauthorized(
                "your role or centre changed since this access token was issued; get a new one \
                 with POST /api/v1/auth/refresh",
            ));
        }
        Ok(())
    }
}

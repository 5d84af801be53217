//! A check that must pass before a request answers: the caller's session. It runs before the
//! request's first query, inside that query's blocking call and on the same connection, which
//! saves the thread hand-off, wake-up and pool checkout that a lookup of its own costs.
//!
//! The HTTP layer runs each request in a [`scope`]; `auth` defers the session check to it
//! ([`defer`]), and [`super::run`] runs a deferred check before its work until one passes. The
//! scope hands back a check that never ran (the request made no query, or was refused before
//! it), and the HTTP layer runs it then: no answer leaves without its check. An audited read on
//! PostgreSQL [`take`]s the check and has it run with its audit events' group.

use std::cell::RefCell;
use std::future::Future;
use std::sync::Arc;

use super::DbConnection;
use crate::auth::session_check::SessionCheck;
use crate::error::ApiError;

/// A check on the request's connection; an error is the request's answer.
pub type Check = Arc<SessionCheck>;

tokio::task_local! {
    /// The request's check until it passes.
    static DEFERRED: RefCell<Option<Check>>;
}

/// Runs `request` where checks can be deferred; its output and the check that never ran.
pub async fn scope<F: Future>(request: F) -> (F::Output, Option<Check>) {
    DEFERRED
        .scope(RefCell::new(None), async move {
            let output = request.await;
            (
                output,
                DEFERRED.with(|deferred| deferred.borrow_mut().take()),
            )
        })
        .await
}

/// Defers `check` to the request's first query; `false` outside a [`scope`], where the caller
/// must run it itself.
pub fn defer(check: Check) -> bool {
    DEFERRED
        .try_with(|deferred| *deferred.borrow_mut() = Some(check))
        .is_ok()
}

/// The request's check, while it has not passed.
pub(super) fn deferred() -> Option<Check> {
    DEFERRED
        .try_with(|deferred| deferred.borrow().clone())
        .ok()
        .flatten()
}

/// Takes the request's check, while it has not passed, for a caller that runs it itself; later
/// queries skip it.
pub fn take() -> Option<Check> {
    DEFERRED
        .try_with(|deferred| deferred.borrow_mut().take())
        .ok()
        .flatten()
}

/// The request's check passed: later queries skip it.
pub(super) fn passed() {
    drop(take());
}

/// Runs `check`, if any, and then `work` on the same connection; `checked` tells whether the
/// check ran and passed.
pub(super) fn then<T>(
    conn: &mut DbConnection,
    check: Option<Check>,
    checked: &mut bool,
    work: impl FnOnce(&mut DbConnection) -> Result<T, ApiError>,
) -> Result<T, ApiError> {
    if let Some(check) = check {
        check.run(conn)?;
        *checked = true;
    }
    work(conn)
}

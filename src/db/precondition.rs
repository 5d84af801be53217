//! A check that must pass before a request answers: the caller's session. It runs before the
//! request's first query, inside that query's blocking call and on the same connection, which
//! saves the thread hand-off, wake-up and pool checkout that a lookup of its own costs.
//!
//! The HTTP layer runs each request in a [`scope`]; `auth` defers the session check to it
//! ([`defer`]), and [`super::run`] runs a deferred check before its work until one passes. The
//! scope hands back a check that never ran (the request made no query, or was refused before
//! it), and the HTTP layer runs it then: no answer leaves without its check. An audited read on
//! PostgreSQL [`take`]s the check and has it run with its audit events' group.
//!
//! A write to people's records on PostgreSQL runs first too (`db::records_transaction`): its
//! check waits on the thread running the write ([`at_commit`]) for the write's first audit
//! event, whose statement takes it along ([`waiting`], [`judged`]), and the verdict decides
//! before the commit ([`arrive`]): a refused session's write is rolled back and answered with
//! the refusal. A round trip less per write.

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

thread_local! {
    /// The check of the write running on this thread, until it has a verdict.
    static RIDING: RefCell<Riding> = const { RefCell::new(Riding::Nothing) };
}

/// Where a write's check stands.
enum Riding {
    Nothing,
    Waiting(Check),
    Judged(Result<(), ApiError>),
    /// The verdict was the write's to act on, before its commit.
    Arrived,
}

/// When the request's deferred check runs, relative to the work that takes it.
#[derive(Clone, Copy)]
pub(super) enum CheckAt {
    /// Before the work, on its connection.
    Start,
    /// With the work's first audit event, or else before its commit: for writes on PostgreSQL,
    /// whose work must end with [`arrive`].
    Commit,
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

/// Runs `check`, if any, with `work` on the same connection, when `at` says; `checked` tells
/// whether it ran and passed (or, at the commit, whether its verdict was reached).
pub(super) fn then<T>(
    conn: &mut DbConnection,
    check: Option<Check>,
    at: CheckAt,
    checked: &mut bool,
    work: impl FnOnce(&mut DbConnection) -> Result<T, ApiError>,
) -> Result<T, ApiError> {
    let Some(check) = check else {
        return work(conn);
    };
    match at {
        CheckAt::Start => {
            check.run(conn)?;
            *checked = true;
            work(conn)
        }
        CheckAt::Commit => at_commit(check, checked, || work(conn)),
    }
}

/// Runs `write` with `check` waiting on this thread for its first audit event.
fn at_commit<T>(
    check: Check,
    checked: &mut bool,
    write: impl FnOnce() -> Result<T, ApiError>,
) -> Result<T, ApiError> {
    struct Reset;
    impl Drop for Reset {
        fn drop(&mut self) {
            RIDING.with(|riding| *riding.borrow_mut() = Riding::Nothing);
        }
    }
    let _reset = Reset;
    RIDING.with(|riding| *riding.borrow_mut() = Riding::Waiting(check));
    let outcome = write();
    *checked = RIDING.with(|riding| matches!(*riding.borrow(), Riding::Arrived));
    outcome
}

/// The check of the write running on this thread, while no statement has taken it.
pub fn waiting() -> Option<Check> {
    RIDING.with(|riding| match &*riding.borrow() {
        Riding::Waiting(check) => Some(Arc::clone(check)),
        _ => None,
    })
}

/// The verdict of the write's check, reached by the statement that took it.
pub fn judged(verdict: Result<(), ApiError>) {
    RIDING.with(|riding| *riding.borrow_mut() = Riding::Judged(verdict));
}

/// The end of a write, before its commit: the verdict of its check, run now if no statement
/// took it along.
pub(super) fn arrive(conn: &mut DbConnection) -> Result<(), ApiError> {
    let verdict = match RIDING.with(|riding| riding.replace(Riding::Nothing)) {
        Riding::Waiting(check) => check.run(conn),
        Riding::Judged(verdict) => verdict,
        Riding::Nothing | Riding::Arrived => return Ok(()),
    };
    RIDING.with(|riding| *riding.borrow_mut() = Riding::Arrived);
    verdict
}

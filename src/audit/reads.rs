//! The audit events of reads, committed in groups.
//!
//! A read makes no change of its own, so committing its audit row alone would cost a WAL flush
//! (and on SQLite the write lock) per read. Instead each read hands its events to one writer
//! thread, which commits everything waiting in one transaction and then answers every reader in
//! it. A read answers only after its events are committed: an answered read is in the trail even
//! if the process dies right after. While one group commits, the next one gathers, so a group
//! costs no waiting when the server is idle. Changes keep their events in their own transaction.
//!
//! On PostgreSQL a read's session check goes to the writer too, which checks the sessions of a
//! whole group with one query in the group's transaction and writes only the events of reads
//! whose session stands: the read costs one round trip instead of two, and its answer still
//! waits for the check. The read itself runs first, as the token describes the caller; what it
//! found is dropped if the check fails.

use std::sync::{Arc, Mutex, PoisonError};

use tokio::sync::{mpsc, oneshot};

use super::event::{insert, Deferred, Entry};
use crate::auth::session_check::SessionCheck;
use crate::db::precondition::{self, Check};
use crate::db::{DbConnection, Pool};
use crate::error::ApiError;

/// Reads waiting for a writer; a burst beyond this waits to hand its events over.
const QUEUE: usize = 4096;
/// Events per transaction at most: keeps one commit short when a queue has built up.
const GROUP: usize = 512;
/// Writers on PostgreSQL, each on its own connection: while one group commits, the next is
/// written (one writer left the database idle half the time under load). SQLite has one writer
/// at a time anyway, and a second would only wait for its lock.
const POSTGRES_WRITERS: u32 = 2;

/// One read's events, the check of its session if it has not passed yet, and where to say
/// they are committed.
struct Submission {
    entries: Vec<Entry>,
    session: Option<Check>,
    committed: oneshot::Sender<Result<(), ApiError>>,
}

/// The handle readers use; the writer thread stops when the last handle is dropped.
#[derive(Clone)]
pub struct ReadAudit {
    queue: mpsc::Sender<Submission>,
}

impl ReadAudit {
    /// Starts the writers on connections of their own, so they never queue behind the reads
    /// they serve.
    pub fn start(pool: &Pool) -> std::io::Result<Self> {
        let (queue, submissions) = mpsc::channel(QUEUE);
        let submissions = Arc::new(Mutex::new(submissions));
        let writers = if pool.is_sqlite() {
            1
        } else {
            POSTGRES_WRITERS
        };
        let pool = pool.dedicated(writers);
        for _ in 0..writers {
            let (pool, submissions) = (pool.clone(), Arc::clone(&submissions));
            std::thread::Builder::new()
                .name("audit-writer".into())
                .spawn(move || write_groups(&pool, &submissions))?;
        }
        Ok(Self { queue })
    }

    /// Returns once the events are committed, `session` checked with them: 503 if the database
    /// could not take them, the check's refusal if it failed.
    async fn commit(&self, deferred: Deferred, session: Option<Check>) -> Result<(), ApiError> {
        if deferred.0.is_empty() {
            return Ok(());
        }
        let (committed, outcome) = oneshot::channel();
        let submission = Submission {
            entries: deferred.0,
            session,
            committed,
        };
        let stopped = || ApiError::internal("the audit writer stopped");
        self.queue.send(submission).await.map_err(|_| stopped())?;
        outcome.await.map_err(|_| stopped())?
    }
}

/// Takes whatever is waiting (at least one submission, at most about [`GROUP`] events); `None`
/// once every handle is gone. The other writer waits meanwhile, so groups do not interleave.
fn next_group(submissions: &Mutex<mpsc::Receiver<Submission>>) -> Option<Vec<Submission>> {
    let mut submissions = submissions.lock().unwrap_or_else(PoisonError::into_inner);
    let mut group = vec![submissions.blocking_recv()?];
    let mut events = group[0].entries.len();
    while events < GROUP {
        let Ok(next) = submissions.try_recv() else {
            break;
        };
        events += next.entries.len();
        group.push(next);
    }
    Some(group)
}

fn write_groups(pool: &Pool, submissions: &Mutex<mpsc::Receiver<Submission>>) {
    while let Some(group) = next_group(submissions) {
        let verdicts = commit_group(pool, &group);
        for (submission, verdict) in group.into_iter().zip(verdicts) {
            // A reader that gave up (its client went away) no longer listens.
            let _ = submission.committed.send(verdict);
        }
    }
}

/// Commits one group's events, each read's verdict in order. A panic fails this group's reads
/// (500) but not the writer: on SQLite it is the only one, and every later read would fail
/// with it.
fn commit_group(pool: &Pool, group: &[Submission]) -> Vec<Result<(), ApiError>> {
    let commit = || pool.with_connection(|conn| pool.write(conn, |conn| write_group(conn, group)));
    let outcome =
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(commit)).unwrap_or_else(|_| {
            tracing::error!("the audit writer panicked committing a group; its reads answer 500");
            Err(ApiError::internal("the audit writer failed"))
        });
    match outcome {
        Ok(verdicts) => verdicts,
        Err(error) => vec![Err(error); group.len()],
    }
}

/// Checks the sessions the group carries and writes the events of the reads whose session
/// stands; the verdicts in the group's order.
fn write_group(
    conn: &mut DbConnection,
    group: &[Submission],
) -> Result<Vec<Result<(), ApiError>>, ApiError> {
    let checks: Vec<&SessionCheck> = group.iter().filter_map(|s| s.session.as_deref()).collect();
    let mut checked = SessionCheck::run_all(conn, &checks)?.into_iter();
    let verdicts: Vec<Result<(), ApiError>> = group
        .iter()
        .map(|s| match s.session {
            Some(_) => checked
                .next()
                .unwrap_or_else(|| Err(ApiError::internal("a read's session went unchecked"))),
            None => Ok(()),
        })
        .collect();
    let entries: Vec<&Entry> = group
        .iter()
        .zip(&verdicts)
        .filter(|(_, verdict)| verdict.is_ok())
        .flat_map(|(s, _)| &s.entries)
        .collect();
    insert(conn, &entries)?;
    Ok(verdicts)
}

/// Runs a read and commits the audit events it noted before returning what it read. The read
/// is not a transaction: like PostgreSQL's default isolation, each statement sees what was
/// committed when it started, and on SQLite a read no longer takes the write lock.
pub async fn read<T, F>(pool: &Pool, audit: &ReadAudit, work: F) -> Result<T, ApiError>
where
    F: FnOnce(&mut DbConnection, &mut Deferred) -> Result<T, ApiError> + Send + 'static,
    T: Send + 'static,
{
    // SQLite's one writer would check every read's session in turn; its readers check their
    // own in parallel, at no round trip's cost.
    let session = if pool.is_sqlite() {
        None
    } else {
        precondition::take()
    };
    let (value, deferred, session) = crate::db::run(pool, move |conn| {
        let mut deferred = Deferred::default();
        let value = work(conn, &mut deferred);
        // With nothing to audit, or a refusal to give, the session is checked here: its own
        // refusal comes first.
        let session = match session {
            Some(check) if value.is_err() || deferred.0.is_empty() => {
                check.run(conn).map(|()| None)?
            }
            session => session,
        };
        Ok((value?, deferred, session))
    })
    .await?;
    audit.commit(deferred, session).await?;
    Ok(value)
}

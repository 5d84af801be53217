//! SQLite: requests' write transactions committed in groups.
//!
//! SQLite commits one transaction at a time, and each commit writes every page it touched to the
//! log and waits for the disk (`synchronous=FULL`). So the requests' write transactions go to one
//! writer thread, which runs whatever is waiting inside one transaction, each request's work in a
//! savepoint of its own, and commits them together: one log write and one fsync for the group,
//! and the pages several of them touch (the newest leaf of each table and index) written once.
//! The writer's own connection also keeps those pages in its cache instead of reading them back.
//!
//! A request answers only after its group committed, so an answered write is as durable as
//! before, and requests are serialised exactly as the write lock serialised them. A request
//! whose work fails rolls back its own savepoint and ends the group (the next one takes the
//! rest): if an error ever undid more than the savepoint, the commit fails and only requests
//! not yet answered learn of it.

use std::panic::{catch_unwind, AssertUnwindSafe};

use diesel::connection::SimpleConnection;
use diesel::r2d2;
use diesel::Connection;
use tokio::sync::{mpsc, oneshot};

use super::precondition::{self, Check, CheckAt};
use super::{DbConnection, Pool};
use crate::error::ApiError;

/// Requests waiting for the writer; a burst beyond this waits to hand its work over, for the
/// pool's checkout timeout at most (then 503 busy, as a request waiting for a connection gets).
const QUEUE: usize = 1024;
/// Requests per group at most: keeps one commit, and the wait of those in it, short.
const GROUP: usize = 64;

/// The writer's connection, beyond every connection's set-up: a savepoint's undo journal in
/// memory rather than in a temporary file (it holds the pages one request changed, and is
/// emptied when the request's savepoint is released), and a page cache that holds a group's
/// changes without spilling them to the log before the commit.
const WRITER_SETUP: &str = "PRAGMA temp_store = MEMORY; PRAGMA cache_size = -4096;";

/// One request's work: run on the group's connection (or told why there is none), it returns
/// how it went and how to answer the request once the group's commit is known.
type Job = Box<dyn FnOnce(Result<&mut DbConnection, ApiError>) -> Ran + Send>;

/// A job that ran, waiting for its group's commit.
struct Ran {
    failed: bool,
    answer: Box<dyn FnOnce(Result<(), ApiError>) + Send>,
}

/// The handle requests use; the writer thread stops when the last handle is dropped.
#[derive(Clone)]
pub struct GroupWriter {
    queue: mpsc::Sender<Job>,
    handover_timeout: std::time::Duration,
}

impl GroupWriter {
    /// Starts the writer on a connection of its own, so it never queues behind reads.
    pub fn start(pool: &Pool) -> std::io::Result<Self> {
        let (queue, jobs) = mpsc::channel(QUEUE);
        let handover_timeout = pool.connections.connection_timeout();
        let pool = pool.dedicated(1);
        std::thread::Builder::new()
            .name("sqlite-writer".into())
            .spawn(move || write_groups(&pool, jobs))?;
        Ok(Self {
            queue,
            handover_timeout,
        })
    }

    /// Runs `work` in a transaction of its own (a savepoint of the group's), after the
    /// request's deferred check; returns once the group has committed.
    pub async fn transaction<T, F>(&self, work: F) -> Result<T, ApiError>
    where
        F: FnOnce(&mut DbConnection) -> Result<T, ApiError> + Send + 'static,
        T: Send + 'static,
    {
        let check = precondition::deferred();
        let (answer, answered) = oneshot::channel();
        let job: Job = Box::new(move |conn| {
            let (checked, outcome) = match conn {
                Ok(conn) => in_savepoint(conn, check, work),
                Err(error) => (false, Err(error)),
            };
            Ran {
                failed: outcome.is_err(),
                answer: Box::new(move |committed| {
                    // A request that gave up (its client went away) no longer listens.
                    let _ = answer.send((checked, outcome.and_then(|v| committed.map(|()| v))));
                }),
            }
        });
        let stopped = || ApiError::internal("the database writer stopped");
        let handover = self.queue.send_timeout(job, self.handover_timeout).await;
        handover.map_err(|error| match error {
            mpsc::error::SendTimeoutError::Timeout(_) => ApiError::busy(),
            mpsc::error::SendTimeoutError::Closed(_) => stopped(),
        })?;
        let (checked, outcome) = answered.await.map_err(|_| stopped())?;
        if checked {
            precondition::passed();
        }
        outcome
    }
}

/// The request's check, then its work, in a savepoint: a failure undoes what it wrote alone.
/// Whether the check ran and passed, and the outcome.
fn in_savepoint<T>(
    conn: &mut DbConnection,
    check: Option<Check>,
    work: impl FnOnce(&mut DbConnection) -> Result<T, ApiError>,
) -> (bool, Result<T, ApiError>) {
    let mut checked = false;
    let outcome = conn
        .transaction(|conn| precondition::then(conn, check, CheckAt::Start, &mut checked, work));
    (checked, outcome)
}

fn write_groups(pool: &Pool, mut jobs: mpsc::Receiver<Job>) {
    while let Some(first) = jobs.blocking_recv() {
        commit_group(pool, first, &mut jobs);
    }
}

/// Runs `first` and whatever else is waiting in one transaction, commits it and answers them.
/// A panic fails the group (500) but not the writer, and its connection, which may still hold
/// the open transaction, is closed rather than reused.
fn commit_group(pool: &Pool, first: Job, jobs: &mut mpsc::Receiver<Job>) {
    let mut waiting = Some(first);
    let mut ran = Vec::new();
    let committed = writer_connection(pool).and_then(|mut conn| {
        let group = AssertUnwindSafe(|| {
            pool.write(&mut conn, |conn| {
                run_group(conn, waiting.take(), jobs, &mut ran);
                Ok(())
            })
        });
        catch_unwind(group).unwrap_or_else(|_| {
            conn.lost = true;
            tracing::error!("a write panicked; its group of writes answers 500");
            Err(ApiError::internal("the database writer failed"))
        })
    });
    // No connection, or the transaction could not begin (SQLite stayed locked): say why.
    if let (Some(job), Err(error)) = (waiting, &committed) {
        ran.push(job(Err(error.clone())));
    }
    for job in ran {
        (job.answer)(committed.clone());
    }
}

fn writer_connection(
    pool: &Pool,
) -> Result<r2d2::PooledConnection<super::ConnectionManager>, ApiError> {
    let mut conn = pool.checkout()?;
    if !conn.grouped {
        conn.batch_execute(WRITER_SETUP)?;
        conn.grouped = true;
    }
    Ok(conn)
}

/// Runs jobs, `first` and then those waiting, until one fails or the group is full.
fn run_group(
    conn: &mut DbConnection,
    first: Option<Job>,
    jobs: &mut mpsc::Receiver<Job>,
    ran: &mut Vec<Ran>,
) {
    let mut next = first;
    while let Some(job) = next {
        let done = job(Ok(conn));
        let failed = done.failed;
        ran.push(done);
        next = if failed || ran.len() >= GROUP {
            None
        } else {
            jobs.try_recv().ok()
        };
    }
}

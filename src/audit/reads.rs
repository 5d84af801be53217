//! The audit events of reads, committed in groups.
//!
//! A read makes no change of its own, so committing its audit row alone would cost a WAL flush
//! (and on SQLite the write lock) per read. Instead each read hands its events to one writer
//! thread, which commits everything waiting in one transaction and then answers every reader in
//! it. A read answers only after its events are committed: an answered read is in the trail even
//! if the process dies right after. While one group commits, the next one gathers, so a group
//! costs no waiting when the server is idle. Changes keep their events in their own transaction.

use tokio::sync::{mpsc, oneshot};

use super::event::{insert, Deferred, Entry};
use crate::db::{DbConnection, Pool};
use crate::error::ApiError;

/// Reads waiting for the writer; a burst beyond this waits to hand its events over.
const QUEUE: usize = 4096;
/// Events per transaction at most: keeps one commit short when a queue has built up.
const GROUP: usize = 512;

/// One read's events, and where to say they are committed.
struct Submission {
    entries: Vec<Entry>,
    committed: oneshot::Sender<Result<(), ApiError>>,
}

/// The handle readers use; the writer thread stops when the last handle is dropped.
#[derive(Clone)]
pub struct ReadAudit {
    queue: mpsc::Sender<Submission>,
}

impl ReadAudit {
    /// Starts the writer on a connection of its own, so it never queues behind the reads it
    /// serves.
    pub fn start(pool: &Pool) -> std::io::Result<Self> {
        let (queue, submissions) = mpsc::channel(QUEUE);
        let pool = pool.dedicated(1);
        std::thread::Builder::new()
            .name("audit-writer".into())
            .spawn(move || write_groups(&pool, submissions))?;
        Ok(Self { queue })
    }

    /// Returns once the events are committed: 503 if the database could not take them.
    pub async fn commit(&self, deferred: Deferred) -> Result<(), ApiError> {
        if deferred.0.is_empty() {
            return Ok(());
        }
        let (committed, outcome) = oneshot::channel();
        let submission = Submission {
            entries: deferred.0,
            committed,
        };
        let stopped = || ApiError::internal("the audit writer stopped");
        self.queue.send(submission).await.map_err(|_| stopped())?;
        outcome.await.map_err(|_| stopped())?
    }
}

fn write_groups(pool: &Pool, mut submissions: mpsc::Receiver<Submission>) {
    while let Some(first) = submissions.blocking_recv() {
        let mut group = vec![first];
        let mut events = group[0].entries.len();
        while events < GROUP {
            let Ok(next) = submissions.try_recv() else {
                break;
            };
            events += next.entries.len();
            group.push(next);
        }
        let entries: Vec<&Entry> = group.iter().flat_map(|s| &s.entries).collect();
        let outcome = pool.with_connection(|conn| {
            crate::db::write_transaction(conn, |conn| Ok(insert(conn, &entries)?))
        });
        for submission in group {
            // A reader that gave up (its client went away) no longer listens.
            let _ = submission.committed.send(outcome.clone());
        }
    }
}

/// Runs a read and commits the audit events it noted before returning what it read. The read
/// is not a transaction: like PostgreSQL's default isolation, each statement sees what was
/// committed when it started, and on SQLite a read no longer takes the write lock.
pub async fn read<T, F>(pool: &Pool, audit: &ReadAudit, work: F) -> Result<T, ApiError>
where
    F: FnOnce(&mut DbConnection, &mut Deferred) -> Result<T, ApiError> + Send + 'static,
    T: Send + 'static,
{
    let (value, deferred) = crate::db::run(pool, move |conn| {
        let mut deferred = Deferred::default();
        let value = work(conn, &mut deferred)?;
        Ok((value, deferred))
    })
    .await?;
    audit.commit(deferred).await?;
    Ok(value)
}

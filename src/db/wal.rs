//! SQLite's checkpoints, off the request path.
//!
//! In WAL mode SQLite copies the log back into the database file (a checkpoint, ending with an
//! fsync of the file) inside whichever commit pushes the log past `wal_autocheckpoint` pages:
//! under steady writes about one request in a hundred waited 100–250 ms for it. A thread of its
//! own checkpoints every [`INTERVAL`] instead, and a request only does it if that thread has
//! fallen 10 000 pages (40 MB) behind (`wal_autocheckpoint` in the connection set-up).

use std::sync::mpsc::{self, RecvTimeoutError};
use std::time::Duration;

use diesel::connection::SimpleConnection;

use super::Pool;

const INTERVAL: Duration = Duration::from_millis(500);

/// The checkpoint thread of a SQLite database; it stops when this is dropped.
pub struct Checkpoints {
    _running: mpsc::Sender<()>,
}

impl Checkpoints {
    /// Starts the thread on a connection of its own; nothing on PostgreSQL, which checkpoints
    /// in its own processes.
    pub fn start(pool: &Pool) -> std::io::Result<Option<Self>> {
        if !pool.is_sqlite() {
            return Ok(None);
        }
        let (running, stopped) = mpsc::channel::<()>();
        let pool = pool.dedicated(1);
        std::thread::Builder::new()
            .name("wal-checkpoint".into())
            .spawn(move || {
                while let Err(RecvTimeoutError::Timeout) = stopped.recv_timeout(INTERVAL) {
                    // A checkpoint that cannot run now (the database is not migrated yet, or
                    // busy) is left to the next turn, or to the requests' fallback.
                    let _ = pool.with_connection(|conn| {
                        Ok(conn.batch_execute("PRAGMA wal_checkpoint(PASSIVE)")?)
                    });
                }
            })?;
        Ok(Some(Self { _running: running }))
    }
}

//! Storage: one diesel code path over SQLite (embedded default) and PostgreSQL (production).
//!
//! The backend is chosen from the `DATABASE_URL` scheme, never by trying one and then the other,
//! so a mistyped PostgreSQL URL reports the real PostgreSQL error.

pub mod group;
pub mod precondition;
pub mod schema;
pub mod then;
pub mod versioned;
pub mod wal;

use std::ops::{Deref, DerefMut};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use diesel::connection::{AnsiTransactionManager, SimpleConnection, TransactionManager};
use diesel::prelude::*;
use diesel::query_builder::{AstPass, QueryFragment, QueryId};
use diesel::query_dsl::methods::ExecuteDsl;
use diesel::r2d2::{self, ManageConnection, R2D2Connection};
use diesel_migrations::{embed_migrations, EmbeddedMigrations, MigrationHarness};

use crate::error::ApiError;
use precondition::CheckAt;

pub const POSTGRES_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/postgres");
pub const SQLITE_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/sqlite");

/// A connection to whichever backend `DATABASE_URL` names.
#[derive(diesel::MultiConnection)]
pub enum DbConnection {
    Postgresql(PgConnection),
    Sqlite(SqliteConnection),
}

impl DbConnection {
    /// Bind parameter `n` (1-based) of a hand-written statement, in the backend's syntax;
    /// reusable within the statement.
    pub fn placeholder(&self, n: usize) -> String {
        match self {
            Self::Postgresql(_) => format!("${n}"),
            Self::Sqlite(_) => format!("?{n}"),
        }
    }
}

/// How long a command (migrate, create-user, seed-demo) waits for a connection; the server's
/// requests wait `DATABASE_CHECKOUT_TIMEOUT_SECS`.
pub const CHECKOUT_TIMEOUT: Duration = Duration::from_secs(2);

/// The connection pool, and whether the database is known to be unreachable (so an outage is
/// logged once when it starts and once when it ends, not on every request).
#[derive(Clone)]
pub struct Pool {
    connections: r2d2::Pool<ConnectionManager>,
    manager: ConnectionManager,
    outage: Arc<AtomicBool>,
    /// Whether a request gave up waiting for a connection while the database was reachable
    /// (logged once per episode).
    saturated: Arc<AtomicBool>,
    /// False until start-up has migrated the database: requests answer 503 until then.
    migrated: Arc<AtomicBool>,
    /// SQLite, in the server: where [`transaction`] sends its work to be committed in groups.
    group: Option<group::GroupWriter>,
}

/// A pooled connection, and whether it was seen to lose its server. r2d2 asks `has_broken` when
/// the connection comes back, and a lost one is closed instead of being handed out again: after a
/// database restart every dead connection fails at most one request.
pub struct PooledDb {
    db: DbConnection,
    lost: bool,
    /// Whether it has been set up as the group writer's connection ([`group`]).
    grouped: bool,
}

impl Deref for PooledDb {
    type Target = DbConnection;

    fn deref(&self) -> &DbConnection {
        &self.db
    }
}

impl DerefMut for PooledDb {
    fn deref_mut(&mut self) -> &mut DbConnection {
        &mut self.db
    }
}

/// Where the data lives, parsed from `DATABASE_URL`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DatabaseUrl {
    /// A file path (`sqlite://karvon.db`, `sqlite:///var/lib/karvon/karvon.db`).
    Sqlite(String),
    Postgres(String),
}

impl DatabaseUrl {
    pub fn parse(url: &str) -> Result<Self, String> {
        if let Some(path) = url.strip_prefix("sqlite://") {
            if path.is_empty() {
                return Err("sqlite:// needs a file path, e.g. sqlite://karvon.db".into());
            }
            Ok(Self::Sqlite(path.to_owned()))
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Ok(Self::Postgres(url.to_owned()))
        } else {
            Err("must start with sqlite:// or postgres://".into())
        }
    }

    pub fn backend_name(&self) -> &'static str {
        match self {
            Self::Sqlite(_) => "sqlite",
            Self::Postgres(_) => "postgres",
        }
    }

    /// The URL with any password masked, for logs and start-up messages.
    pub fn redacted(&self) -> String {
        match self {
            Self::Sqlite(path) => format!("sqlite://{path}"),
            Self::Postgres(url) => match (url.find("://"), url.rfind('@')) {
                (Some(scheme_end), Some(at)) if at > scheme_end => {
                    let credentials = &url[scheme_end + 3..at];
                    match credentials.split_once(':') {
                        Some((user, _)) => {
                            format!("{}{user}:***{}", &url[..scheme_end + 3], &url[at..])
                        }
                        None => url.clone(),
                    }
                }
                _ => url.clone(),
            },
        }
    }
}

impl std::fmt::Display for DatabaseUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.redacted())
    }
}

/// r2d2 manager that opens the backend named by the URL and prepares each new connection.
#[derive(Clone, Debug)]
pub struct ConnectionManager {
    url: DatabaseUrl,
    /// Whether the last attempt to open a connection failed: a checkout that times out then
    /// means the database is down, not that every connection is busy.
    unreachable: Arc<AtomicBool>,
    /// SQLite only: the turn of this process's writers (see [`Pool::write`]).
    writers: Option<Arc<Mutex<()>>>,
}

/// SQLite set-up on every new connection. `busy_timeout` comes first so that the WAL switch itself
/// waits for a concurrent writer. `synchronous=FULL` fsyncs the WAL on every commit: an
/// acknowledged write survives a power cut (NORMAL would only survive a process crash).
/// Checkpoints are the server's checkpoint thread's job ([`wal`]); a connection only
/// checkpoints when the log has grown far past SQLite's default of 1000 pages. Each connection
/// caches 1 MiB of pages rather than 2: the operating system caches the file for all of them,
/// and at 2 MiB each the pool's caches alone could hold 20 MiB of the server's memory. The soft
/// heap limit (process-wide) keeps everything SQLite allocates, sorts and temporary tables
/// included, near 8 MiB: past it SQLite reuses its cached pages rather than allocating more.
/// Without it, 64 concurrent caseloads took SQLite to 44 MiB.
const SQLITE_CONNECTION_SETUP: &str = "PRAGMA busy_timeout = 5000;
PRAGMA journal_mode = WAL;
PRAGMA foreign_keys = ON;
PRAGMA synchronous = FULL;
PRAGMA wal_autocheckpoint = 10000;
PRAGMA cache_size = -1024;
PRAGMA soft_heap_limit = 8388608;";

impl ManageConnection for ConnectionManager {
    type Connection = PooledDb;
    type Error = r2d2::Error;

    fn connect(&self) -> Result<PooledDb, r2d2::Error> {
        let opened = self.open();
        self.unreachable.store(opened.is_err(), Ordering::Relaxed);
        Ok(PooledDb {
            db: opened?,
            lost: false,
            grouped: false,
        })
    }

    fn is_valid(&self, conn: &mut PooledDb) -> Result<(), r2d2::Error> {
        conn.db
            .batch_execute("SELECT 1")
            .map_err(r2d2::Error::QueryError)
    }

    fn has_broken(&self, conn: &mut PooledDb) -> bool {
        conn.lost || conn.db.is_broken()
    }
}

impl ConnectionManager {
    fn open(&self) -> Result<DbConnection, r2d2::Error> {
        match &self.url {
            DatabaseUrl::Postgres(url) => PgConnection::establish(url)
                .map(DbConnection::Postgresql)
                .map_err(r2d2::Error::ConnectionError),
            DatabaseUrl::Sqlite(path) => {
                let mut conn =
                    SqliteConnection::establish(path).map_err(r2d2::Error::ConnectionError)?;
                conn.batch_execute(SQLITE_CONNECTION_SETUP)
                    .map_err(r2d2::Error::QueryError)?;
                Ok(DbConnection::Sqlite(conn))
            }
        }
    }
}

/// A pool that connects lazily: building it never fails, so a server can start while the
/// database is still down and wait for it (see [`Pool::try_connect`]).
pub fn build_pool(
    url: &DatabaseUrl,
    max_size: u32,
    check_on_checkout: bool,
    checkout_timeout: Duration,
) -> Pool {
    let manager = ConnectionManager {
        url: url.clone(),
        unreachable: Arc::new(AtomicBool::new(false)),
        writers: matches!(url, DatabaseUrl::Sqlite(_)).then(Arc::default),
    };
    if let DatabaseUrl::Sqlite(_) = url {
        // Switch the file to WAL once, alone: WAL is persistent, and several fresh connections
        // switching at the same moment would contend for the exclusive lock it needs.
        drop(manager.connect());
    }
    let connections = pool_builder(max_size, checkout_timeout, check_on_checkout)
        .build_unchecked(manager.clone());
    Pool {
        manager,
        connections,
        outage: Arc::new(AtomicBool::new(false)),
        saturated: Arc::new(AtomicBool::new(false)),
        migrated: Arc::new(AtomicBool::new(false)),
        group: None,
    }
}

fn pool_builder(
    max_size: u32,
    checkout_timeout: Duration,
    check_on_checkout: bool,
) -> r2d2::Builder<ConnectionManager> {
    r2d2::Pool::builder()
        .max_size(max_size)
        .min_idle(Some(1))
        .connection_timeout(checkout_timeout)
        // Off by default: a check costs a round trip on every request, and lost connections are
        // detected by their failing query instead (`PooledDb::lost`).
        .test_on_check_out(check_on_checkout)
        // r2d2 would log every failed reconnection attempt; `Pool` logs an outage once.
        .error_handler(Box::new(r2d2::NopErrorHandler))
}

impl Pool {
    /// A connection within the pool's checkout timeout, or 503 when none can be had.
    pub fn checkout(&self) -> Result<r2d2::PooledConnection<ConnectionManager>, ApiError> {
        if !self.migrated.load(Ordering::Acquire) {
            return Err(ApiError::unavailable());
        }
        let checked_out = self.connections.get();
        if checked_out.is_ok() && self.saturated.load(Ordering::Relaxed) {
            self.saturated.store(false, Ordering::Relaxed);
        }
        checked_out.map_err(|error| {
            if self.manager.unreachable.load(Ordering::Relaxed) {
                self.outage_began(&error);
                return ApiError::unavailable();
            }
            if !self.saturated.swap(true, Ordering::Relaxed) {
                tracing::warn!(
                    "every database connection stayed busy for the checkout timeout; answering \
                     503 to the requests that waited (DATABASE_POOL_SIZE may be too small)"
                );
            }
            ApiError::busy()
        })
    }

    /// For commands (migrate, create-user, seed-demo): a connection or the reason there is none.
    pub fn get(&self) -> anyhow::Result<r2d2::PooledConnection<ConnectionManager>> {
        self.connections
            .get()
            .map_err(|e| anyhow::anyhow!("cannot reach the database: {e}"))
    }

    /// Opens the pool to requests, once start-up has migrated the database.
    pub fn mark_migrated(&self) {
        self.migrated.store(true, Ordering::Release);
    }

    /// Runs `work` on a pooled connection, on the calling thread (which may block). A connection
    /// whose server went away is discarded, and the outage logged once.
    pub fn with_connection<T>(
        &self,
        work: impl FnOnce(&mut DbConnection) -> Result<T, ApiError>,
    ) -> Result<T, ApiError> {
        let mut conn = self.checkout()?;
        let outcome = work(&mut conn);
        match &outcome {
            Err(error) if error.is_connection_lost() => {
                conn.lost = true;
                self.outage_began(&error.cause());
            }
            _ => self.reachable(),
        }
        outcome
    }

    /// A pool of `size` connections of its own to the same database, sharing this one's
    /// readiness and outage state: for a worker that must not queue behind requests. Its
    /// connections are checked before each use, since one failure there fails every request
    /// the worker serves at that moment.
    pub fn dedicated(&self, size: u32) -> Self {
        Self {
            connections: pool_builder(size, self.connections.connection_timeout(), true)
                .build_unchecked(self.manager.clone()),
            manager: self.manager.clone(),
            outage: Arc::clone(&self.outage),
            saturated: Arc::clone(&self.saturated),
            migrated: Arc::clone(&self.migrated),
            group: None,
        }
    }

    /// On SQLite, this pool with its write transactions committed in groups by a writer thread
    /// of its own ([`group`]); on PostgreSQL, which commits concurrent transactions together
    /// itself, the pool as it is.
    pub fn with_grouped_writes(mut self) -> std::io::Result<Self> {
        if self.is_sqlite() {
            self.group = Some(group::GroupWriter::start(&self)?);
        }
        Ok(self)
    }

    /// A write transaction on a connection of this pool (see [`write_transaction`]). On SQLite
    /// the process's writers first take turns on a lock of their own: waiting for SQLite's
    /// write lock instead means sleeping in its busy handler, up to 100 ms a try, and under 64
    /// concurrent writes a few waited seconds while others went ahead (p99 2 s, with the lock
    /// 0.3 s, at the same throughput). Other processes still meet the busy timeout.
    pub fn write<T>(
        &self,
        conn: &mut DbConnection,
        work: impl FnOnce(&mut DbConnection) -> Result<T, ApiError>,
    ) -> Result<T, ApiError> {
        let _turn = self
            .manager
            .writers
            .as_ref()
            .map(|writers| writers.lock().unwrap_or_else(PoisonError::into_inner));
        write_transaction(conn, work)
    }

    pub fn is_sqlite(&self) -> bool {
        matches!(self.manager.url, DatabaseUrl::Sqlite(_))
    }

    /// A connection can be had right now (within the checkout timeout), or why not.
    pub fn try_connect(&self) -> Result<(), r2d2::PoolError> {
        self.connections.get().map(drop)
    }

    fn outage_began(&self, cause: &dyn std::fmt::Display) {
        if !self.outage.swap(true, Ordering::Relaxed) {
            tracing::error!(%cause, "the database is unreachable; answering 503 until it returns");
        }
    }

    fn reachable(&self) {
        if self.outage.load(Ordering::Relaxed) && self.outage.swap(false, Ordering::Relaxed) {
            tracing::info!("the database is reachable again");
        }
    }
}

/// Applies every pending embedded migration of the connection's backend.
pub fn run_migrations(conn: &mut DbConnection) -> anyhow::Result<usize> {
    let applied = match conn {
        DbConnection::Postgresql(pg) => pg
            .run_pending_migrations(POSTGRES_MIGRATIONS)
            .map_err(|e| anyhow::anyhow!("PostgreSQL migration failed: {e}"))?
            .len(),
        DbConnection::Sqlite(sqlite) => sqlite
            .run_pending_migrations(SQLITE_MIGRATIONS)
            .map_err(|e| anyhow::anyhow!("SQLite migration failed: {e}"))?
            .len(),
    };
    Ok(applied)
}

/// Runs blocking database work on actix's blocking thread pool, never on the async executor:
/// the pool checkout and the closure both happen off the executor. The request's deferred
/// check ([`precondition`]) runs first, on the same connection, until it has passed.
pub async fn run<T, F>(pool: &Pool, work: F) -> Result<T, ApiError>
where
    F: FnOnce(&mut DbConnection) -> Result<T, ApiError> + Send + 'static,
    T: Send + 'static,
{
    run_checked(pool, CheckAt::Start, work).await
}

/// Like [`run`], inside one transaction: every write the closure makes (including its audit
/// events) commits together or not at all. On the server's SQLite pool the transaction is a
/// savepoint in a group that commits together ([`group`]).
pub async fn transaction<T, F>(pool: &Pool, work: F) -> Result<T, ApiError>
where
    F: FnOnce(&mut DbConnection) -> Result<T, ApiError> + Send + 'static,
    T: Send + 'static,
{
    if let Some(group) = &pool.group {
        return group.transaction(work).await;
    }
    let writer = pool.clone();
    run(pool, move |conn| writer.write(conn, work)).await
}

/// Like [`transaction`], for a write to people's records, which never changes an account, a
/// session or a centre: on PostgreSQL the request's check goes with the write's first audit
/// event, or else runs just before the commit, a round trip less. A write that could change
/// what the check reads must use [`transaction`], which checks before it: it could end the
/// caller's own session first (a logout) or bring an ended one back (an account reactivated).
pub async fn records_transaction<T, F>(pool: &Pool, work: F) -> Result<T, ApiError>
where
    F: FnOnce(&mut DbConnection) -> Result<T, ApiError> + Send + 'static,
    T: Send + 'static,
{
    if pool.is_sqlite() {
        return transaction(pool, work).await;
    }
    let checked_write = move |conn: &mut DbConnection| {
        let value = work(conn)?;
        precondition::arrive(conn)?;
        Ok(value)
    };
    let writer = pool.clone();
    run_checked(pool, CheckAt::Commit, move |conn| {
        writer.write(conn, checked_write)
    })
    .await
}

async fn run_checked<T, F>(pool: &Pool, at: CheckAt, work: F) -> Result<T, ApiError>
where
    F: FnOnce(&mut DbConnection) -> Result<T, ApiError> + Send + 'static,
    T: Send + 'static,
{
    let pool = pool.clone();
    let check = precondition::deferred();
    let (checked, outcome) = actix_web::web::block(move || {
        let mut checked = false;
        let outcome =
            pool.with_connection(|conn| precondition::then(conn, check, at, &mut checked, work));
        (checked, outcome)
    })
    .await
    .map_err(|_| ApiError::internal("database worker stopped"))?;
    if checked {
        precondition::passed();
    }
    outcome
}

/// A write transaction. On SQLite it starts with `BEGIN IMMEDIATE`, taking the write lock up
/// front: a deferred transaction that reads and then writes can fail with SQLITE_BUSY at once
/// (the busy timeout does not apply to lock upgrades), which would turn into an error under load.
pub fn write_transaction<T, F>(conn: &mut DbConnection, work: F) -> Result<T, ApiError>
where
    F: FnOnce(&mut DbConnection) -> Result<T, ApiError>,
{
    let sqlite = match conn {
        DbConnection::Sqlite(sqlite) => sqlite,
        DbConnection::Postgresql(_) => return conn.transaction(work),
    };
    AnsiTransactionManager::begin_transaction_sql(sqlite, "BEGIN IMMEDIATE")?;
    let outcome = work(conn);
    let DbConnection::Sqlite(sqlite) = conn else {
        return Err(ApiError::internal(
            "connection changed backend inside a transaction",
        ));
    };
    match outcome {
        Ok(value) => {
            AnsiTransactionManager::commit_transaction(sqlite)?;
            Ok(value)
        }
        Err(error) => {
            AnsiTransactionManager::rollback_transaction(sqlite)?;
            Err(error)
        }
    }
}

/// Marks where [`PreparedSql`] binds its value.
pub const PARAM: &str = "\u{0}";

/// A hand-written statement that takes one text value wherever its text holds [`PARAM`]. Unlike
/// `diesel::sql_query`, which is prepared afresh on every call, the connection prepares it once
/// and reuses it: PostgreSQL spent longer planning the consultation facts refresh than running
/// it. The connection's statement cache finds it by its key type `K` alone, without rendering
/// its text: one `K` must stand for one text on each backend.
pub struct PreparedSql<K> {
    /// The text, split at each place the value goes (`split(PARAM)`, done once).
    pub parts: &'static [String],
    pub value: String,
    pub key: std::marker::PhantomData<K>,
}

impl<K, DB> QueryFragment<DB> for PreparedSql<K>
where
    DB: diesel::backend::Backend + diesel::sql_types::HasSqlType<diesel::sql_types::Text>,
    String: diesel::serialize::ToSql<diesel::sql_types::Text, DB>,
{
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, DB>) -> QueryResult<()> {
        let (first, rest) = self
            .parts
            .split_first()
            .map_or(("", &[][..]), |(first, rest)| (first.as_str(), rest));
        out.push_sql(first);
        for part in rest {
            out.push_bind_param::<diesel::sql_types::Text, _>(&self.value)?;
            out.push_sql(part);
        }
        Ok(())
    }
}

impl<K: 'static> QueryId for PreparedSql<K> {
    type QueryId = K;
    const HAS_STATIC_QUERY_ID: bool = true;
}

impl<K, C> RunQueryDsl<C> for PreparedSql<K> {}

/// Makes `$statement<'a>`, a hand-written PostgreSQL statement with one fixed text, runnable
/// on a `PgConnection` and found in the statement cache by its type, so it is prepared once per
/// connection: `pg_statement!(TopicArray);`.
#[macro_export]
macro_rules! pg_statement {
    ($statement:ident) => {
        impl diesel::query_builder::QueryId for $statement<'_> {
            type QueryId = $statement<'static>;
            const HAS_STATIC_QUERY_ID: bool = true;
        }

        impl diesel::RunQueryDsl<diesel::PgConnection> for $statement<'_> {}
    };
}

/// Runs a statement the multi-backend connection cannot express (`ON CONFLICT`, several rows
/// of values) on the native connection underneath: the same diesel query, rendered for
/// whichever backend it is.
pub fn execute_native<Q>(conn: &mut DbConnection, query: Q) -> QueryResult<usize>
where
    Q: ExecuteDsl<PgConnection> + ExecuteDsl<SqliteConnection>,
{
    match conn {
        DbConnection::Postgresql(pg) => ExecuteDsl::execute(query, pg),
        DbConnection::Sqlite(sqlite) => ExecuteDsl::execute(query, sqlite),
    }
}

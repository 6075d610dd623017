//! [`SqliteStore`]: sessions in a SQLite database file.

use std::path::Path;
use std::str::FromStr;
use std::time::{Duration, Instant};

use fanout::Error;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};

use crate::common::{BUSY_TIMEOUT, storage};

/// A [`SessionStore`] in a SQLite database: a file (in WAL mode, so readers never wait for the
/// writer) or memory. Cheap to clone; clones share the connection pool.
///
/// Writers take turns: each waits up to 10 s for the others (the busy timeout) before it fails
/// with a storage error. Commits are durable when the process crashes; in WAL mode with
/// `synchronous = NORMAL` (the default here, SQLite's recommendation for WAL) the last commits
/// before a power loss may be lost, never the database. Use [`options`](Self::options) and
/// [`connect_with`](Self::connect_with) to change that, or the busy timeout.
///
/// ```
/// use fanout_sql::SqliteStore;
/// use fanout::store::{SessionQuery, SessionStore};
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> fanout::Result<()> {
/// # let dir = std::env::temp_dir().join(format!("fanout-sql-doc-{}", std::process::id()));
/// # std::fs::create_dir_all(&dir).unwrap();
/// let store = SqliteStore::open(dir.join("chat.db")).await?;
/// let page = store.sessions(&SessionQuery { user_id: Some("ada".into()), ..Default::default() }).await?;
/// assert_eq!(page.total, 0);
/// # drop(store); std::fs::remove_dir_all(&dir).unwrap();
/// # Ok(()) }
/// ```
///
/// [`SessionStore`]: fanout::store::SessionStore
#[derive(Debug, Clone)]
pub struct SqliteStore {
    pool: SqlitePool,
}

impl SqliteStore {
    /// Open the database at `url` (`sqlite://PATH`, created when missing, or `sqlite::memory:`)
    /// with this crate's settings ([`options`](Self::options)), and apply the migrations.
    pub async fn connect(url: &str) -> fanout::Result<Self> {
        let options = Self::options(url)?;
        if is_memory(url) {
            // Each connection to `:memory:` would be a database of its own: one connection, kept.
            let pool = SqlitePoolOptions::new()
                .max_connections(1)
                .min_connections(1)
                .idle_timeout(None)
                .max_lifetime(None)
                .acquire_timeout(BUSY_TIMEOUT);
            return Self::from_pool(
                pool.connect_with(options).await.map_err(|e| storage("opening the database", e))?,
            )
            .await;
        }
        Self::connect_with(options).await
    }

    /// Open (create when missing) the database file at `path`, and apply the migrations.
    pub async fn open(path: impl AsRef<Path>) -> fanout::Result<Self> {
        Self::connect_with(Self::defaults(SqliteConnectOptions::new().filename(path))).await
    }

    /// A database in memory, gone when the store (and its clones) are dropped.
    pub async fn memory() -> fanout::Result<Self> {
        Self::connect("sqlite::memory:").await
    }

    /// The connection options [`connect`](Self::connect) uses for `url`: created when missing,
    /// WAL journal, `synchronous = NORMAL`, foreign keys on, a busy timeout of 10 s. Change
    /// them and pass them to [`connect_with`](Self::connect_with).
    ///
    /// ```
    /// use std::time::Duration;
    /// use fanout_sql::SqliteStore;
    /// use fanout_sql::sqlx::sqlite::SqliteSynchronous;
    ///
    /// let options = SqliteStore::options("sqlite://fanout.db")?
    ///     .synchronous(SqliteSynchronous::Full)
    ///     .busy_timeout(Duration::from_secs(30));
    /// # Ok::<(), fanout::Error>(())
    /// ```
    pub fn options(url: &str) -> fanout::Result<SqliteConnectOptions> {
        let options = SqliteConnectOptions::from_str(url)
            .map_err(|e| Error::config(format!("not a SQLite database URL: {e}")).with_source(e))?;
        Ok(if is_memory(url) { options.foreign_keys(true) } else { Self::defaults(options) })
    }

    fn defaults(options: SqliteConnectOptions) -> SqliteConnectOptions {
        options
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .foreign_keys(true)
            .busy_timeout(BUSY_TIMEOUT)
    }

    /// Open the database with `options` as given (keep foreign keys on: deleting a session
    /// relies on them), and apply the migrations.
    pub async fn connect_with(options: SqliteConnectOptions) -> fanout::Result<Self> {
        // A new file turns to WAL under an exclusive lock that SQLite does not wait for: a
        // process opening it at the same moment as another retries for a while.
        let deadline = Instant::now() + BUSY_TIMEOUT;
        let pool = loop {
            match SqlitePoolOptions::new().acquire_timeout(BUSY_TIMEOUT).connect_with(options.clone()).await {
                Ok(pool) => break pool,
                Err(e) if is_busy(&e) && Instant::now() < deadline => {
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
                Err(e) => return Err(storage("opening the database", e)),
            }
        };
        Self::from_pool(pool).await
    }

    /// A store on `pool`, after applying the migrations.
    pub async fn from_pool(pool: SqlitePool) -> fanout::Result<Self> {
        // The write lock first, then the record of applied steps: one process migrates, the
        // others wait and find nothing left to do.
        let mut tx =
            pool.begin_with("BEGIN IMMEDIATE").await.map_err(|e| storage("opening the database", e))?;
        crate::migrate::apply!(tx, crate::migrate::SQLITE);
        tx.commit().await.map_err(|e| storage("applying the schema's migrations", e))?;
        tracing::debug!(file = %pool.connect_options().get_filename().display(), "SQLite session store open");
        Ok(Self { pool })
    }

    /// The connection pool, for anything this store does not do (closing it, say).
    pub fn pool(&self) -> &SqlitePool {
        &self.pool
    }
}

/// SQLite's `SQLITE_BUSY` (and its extended codes): another connection holds the lock.
fn is_busy(err: &sqlx::Error) -> bool {
    let code = err.as_database_error().and_then(|e| e.code()).and_then(|code| code.parse::<i32>().ok());
    code.is_some_and(|code| code & 0xff == 5)
}

fn is_memory(url: &str) -> bool {
    url.contains(":memory:") || url.contains("mode=memory")
}

// What `sql_store.rs` needs of this backend.
type Store = SqliteStore;
type Db = sqlx::Sqlite;
const WRITE_BEGIN: &str = "BEGIN IMMEDIATE";
use crate::common::sqlite as load;
const READ_BEGIN: &str = "BEGIN";

// Compiled once per backend, for its types: on purpose.
#[allow(clippy::duplicate_mod)]
#[path = "sql_store.rs"]
mod sql_store;

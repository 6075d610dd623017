//! [`PostgresStore`]: sessions in a PostgreSQL database, shared by any number of processes.

use std::str::FromStr;

use fanout::Error;
use sqlx::Connection;
use sqlx::postgres::{PgConnectOptions, PgConnection, PgPool, PgPoolOptions};

use crate::common::{BUSY_TIMEOUT, storage};

/// The key of the advisory lock held while migrating (`fanout` in ASCII).
const MIGRATION_LOCK: i64 = 0x66_61_6e_6f_75_74;

/// A [`SessionStore`] in a PostgreSQL database. Any number of processes may share one
/// database: runs only add rows, so concurrent runs on one session, from anywhere, all arrive
/// whole. Cheap to clone; clones share the connection pool.
///
/// An operation waits up to 10 s for a pooled connection (or the server to come back) before it
/// fails with a storage error.
///
/// ```no_run
/// use fanout_sql::PostgresStore;
/// use fanout::store::SessionStore;
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> fanout::Result<()> {
/// let store = PostgresStore::connect("postgres://fanout:secret@localhost/fanout").await?;
/// let runs = store.runs("support-4711").await?;
/// # Ok(()) }
/// ```
///
/// [`SessionStore`]: fanout::store::SessionStore
#[derive(Debug, Clone)]
pub struct PostgresStore {
    pool: PgPool,
}

impl PostgresStore {
    /// Connect to the database at `url` (`postgres://user:password@host:port/database`, or any
    /// form [`PgConnectOptions`] reads) and apply the migrations.
    pub async fn connect(url: &str) -> fanout::Result<Self> {
        let options = PgConnectOptions::from_str(url)
            .map_err(|e| Error::config(format!("not a PostgreSQL database URL: {e}")).with_source(e))?;
        Self::connect_with(options).await
    }

    /// Connect with `options` and apply the migrations. The first connection is made at once,
    /// so a server that is down or refuses the login fails here, with its error.
    pub async fn connect_with(options: PgConnectOptions) -> fanout::Result<Self> {
        let mut conn = PgConnection::connect_with(&options)
            .await
            .map_err(|e| storage("connecting to the database", e))?;
        migrate(&mut conn).await?;
        // Closing is a courtesy to the server; the migrations are committed either way.
        let _ = conn.close().await;
        tracing::debug!(
            host = options.get_host(),
            database = options.get_database().unwrap_or_default(),
            "PostgreSQL session store open"
        );
        let pool = PgPoolOptions::new().acquire_timeout(BUSY_TIMEOUT).connect_lazy_with(options);
        Ok(Self { pool })
    }

    /// A store on `pool`, after applying the migrations.
    pub async fn from_pool(pool: PgPool) -> fanout::Result<Self> {
        let mut conn = pool.acquire().await.map_err(|e| storage("connecting to the database", e))?;
        migrate(&mut conn).await?;
        drop(conn);
        Ok(Self { pool })
    }

    /// The connection pool, for anything this store does not do (closing it, say).
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }
}

/// Apply the pending migrations, holding an advisory lock: processes that open one database at
/// once wait for each other, and only the first migrates.
async fn migrate(conn: &mut PgConnection) -> fanout::Result<()> {
    let mut tx = conn.begin().await.map_err(|e| storage("applying the schema's migrations", e))?;
    sqlx::query("SELECT pg_advisory_xact_lock($1)")
        .bind(MIGRATION_LOCK)
        .execute(&mut *tx)
        .await
        .map_err(|e| storage("applying the schema's migrations", e))?;
    crate::migrate::apply!(tx, crate::migrate::POSTGRES);
    tx.commit().await.map_err(|e| storage("applying the schema's migrations", e))
}

// What `sql_store.rs` needs of this backend.
type Store = PostgresStore;
type Db = sqlx::Postgres;
const WRITE_BEGIN: &str = "BEGIN";
use crate::common::postgres as load;
const READ_BEGIN: &str = "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY";

// Compiled once per backend, for its types: on purpose.
#[allow(clippy::duplicate_mod)]
#[path = "sql_store.rs"]
mod sql_store;

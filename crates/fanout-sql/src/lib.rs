//! Session stores for [fanout] on SQL databases, through [sqlx]: [`SqliteStore`]
//! (feature `sqlite`, on by default: an embedded database file) and [`PostgresStore`] (feature
//! `postgres`: any number of processes on one database). Both implement
//! [`SessionStore`] on one schema and pass the same test suite as
//! fanout's [`MemoryStore`](fanout::store::MemoryStore).
//!
//! ```
//! use fanout::models::Message;
//! use fanout::store::{RunRecord, RunState, SessionStore, StoredMessage};
//!
//! # #[tokio::main(flavor = "current_thread")] async fn main() -> fanout::Result<()> {
//! let store = fanout_sql::connect("sqlite::memory:").await?;
//! let run = RunRecord {
//!     run_id: "run-1".into(),
//!     session_id: "s1".into(),
//!     user_id: Some("ada".into()),
//!     agent_id: None,
//!     parent_run_id: None,
//!     created_at: std::time::SystemTime::now(),
//! };
//! store.begin_run(&run).await?;
//! let answer = Message::Assistant { content: Some("Hello, Ada.".into()), tool_calls: vec![], replay: None };
//! let messages = [
//!     StoredMessage { seq: 0, message: Message::user("I am Ada.") },
//!     StoredMessage { seq: 1, message: answer.clone() },
//! ];
//! store.append_messages("run-1", &messages).await?;
//! store.set_state("run-1", RunState::Completed, None).await?;
//!
//! let history = store.history("s1", Some(10)).await?;
//! assert_eq!(history[0].messages, [Message::user("I am Ada."), answer]);
//! # Ok(()) }
//! ```
//!
//! # Which database
//!
//! [`connect`] takes a URL: `sqlite://PATH` (a file, created when missing), `sqlite::memory:`
//! (gone when the store is dropped), `postgres://user:password@host/database`.
//! [`connect_from_env`] reads it from `DATABASE_URL`, by default [`DEFAULT_DATABASE_URL`]
//! (`sqlite://fanout.db`, a file in the working directory).
//!
//! # The schema
//!
//! Five tables, created by the migrations in `migrations/{sqlite,postgres}` (applied when a store
//! opens, under a lock, recorded in `fanout_migrations`):
//!
//! - `fanout_sessions`: one row per session (the user and agent of its first run, its name);
//! - `fanout_runs`: one row per run, numbered by `run_order` in the order runs began, indexed
//!   by `(session_id, run_order)`;
//! - `fanout_messages`: `(run_id, seq)` → the message as JSON with its
//!   [`FORMAT_VERSION`](fanout::store::FORMAT_VERSION); a `seq` stored twice keeps the first;
//! - `fanout_run_states`: one row per state change of a run; the newest counts;
//! - `fanout_run_leases` (schema 2): which process runs a run, until when (by the database's
//!   clock): the one table whose rows are rewritten, to coordinate processes (see
//!   `SessionStore::claim_run`): a run left running
//!   with an expired lease is interrupted, and may be resumed
//!   ([`Agent::resume`](fanout::Agent::resume)).
//!
//! A run only adds rows: storing one costs the same after ten runs of its session as after ten
//! thousand, and runs going on at once on one session (in one process or several) never
//! overwrite each other. Loading the last `n` completed runs reads those runs only, one row per
//! run (its messages joined into one JSON array by the database). Every statement is
//! parameterised.
//!
//! # Failures
//!
//! Every failure — the database down, locked past its busy timeout, full, a row that does not
//! decode, a row written by a newer fanout (a higher format version) — is an
//! [`ErrorKind::Storage`](fanout::error::ErrorKind::Storage) error carrying sqlx's error as its
//! [`source`](std::error::Error::source); nothing panics. A URL this build cannot open (an
//! unknown scheme, or a backend whose feature is off) is an
//! [`ErrorKind::Config`](fanout::error::ErrorKind::Config) error.

//!
//! # Features
//!
//! - `sqlite` (default): [`SqliteStore`], with sqlx's bundled libsqlite3 (built from C by `cc`);
//! - `postgres`: [`PostgresStore`], TLS by rustls with ring and the webpki roots (no OpenSSL).
//!
// The stores link to themselves when built, to this section when their feature is off (the
// first definition of a link wins).
#![cfg_attr(feature = "sqlite", doc = "[`SqliteStore`]: crate::SqliteStore")]
#![cfg_attr(feature = "postgres", doc = "[`PostgresStore`]: crate::PostgresStore")]
//! [`SqliteStore`]: crate#features
//! [`PostgresStore`]: crate#features
#![cfg_attr(docsrs, feature(doc_cfg))]

#[cfg(any(feature = "sqlite", feature = "postgres"))]
mod common;
#[cfg(any(feature = "sqlite", feature = "postgres"))]
mod migrate;
#[cfg(feature = "postgres")]
mod postgres;
#[cfg(feature = "sqlite")]
mod sqlite;

use std::sync::Arc;

use fanout::store::SessionStore;
use fanout::{Error, Result};

#[cfg(feature = "postgres")]
#[cfg_attr(docsrs, doc(cfg(feature = "postgres")))]
pub use postgres::PostgresStore;
#[cfg(feature = "sqlite")]
#[cfg_attr(docsrs, doc(cfg(feature = "sqlite")))]
pub use sqlite::SqliteStore;

/// sqlx, as this crate uses it: its connection options and pools, for
/// `SqliteStore::connect_with` and friends.
pub use sqlx;

/// The database used when `DATABASE_URL` is not set: a SQLite file `fanout.db` in the working
/// directory.
pub const DEFAULT_DATABASE_URL: &str = "sqlite://fanout.db";

/// The database URL from the environment: `DATABASE_URL` when set and not empty, else
/// [`DEFAULT_DATABASE_URL`].
///
/// ```
/// // Without DATABASE_URL in the environment:
/// # if std::env::var_os("DATABASE_URL").is_none() {
/// assert_eq!(fanout_sql::database_url(), "sqlite://fanout.db");
/// # }
/// ```
pub fn database_url() -> String {
    std::env::var("DATABASE_URL")
        .ok()
        .filter(|url| !url.trim().is_empty())
        .unwrap_or_else(|| DEFAULT_DATABASE_URL.to_owned())
}

/// Open the store at `url` and apply its migrations: `sqlite://PATH` (created when missing),
/// `sqlite::memory:`, or `postgres://…` (`postgresql://…`).
///
/// A URL of a backend this build does not include, or of no known backend, is a
/// [`Config`](fanout::error::ErrorKind::Config) error; a database that cannot be opened is a
/// [`Storage`](fanout::error::ErrorKind::Storage) error.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> fanout::Result<()> {
/// let store = fanout_sql::connect("sqlite::memory:").await?;
/// assert!(store.session("nobody").await?.is_none());
///
/// let err = fanout_sql::connect("mysql://localhost/db").await.unwrap_err();
/// assert!(err.is_config());
/// # Ok(()) }
/// ```
pub async fn connect(url: &str) -> Result<Arc<dyn SessionStore>> {
    match scheme(url) {
        "sqlite" => {
            #[cfg(feature = "sqlite")]
            return Ok(Arc::new(SqliteStore::connect(url).await?));
            #[cfg(not(feature = "sqlite"))]
            return Err(Error::config("a sqlite:// database needs fanout-sql's `sqlite` feature"));
        }
        "postgres" | "postgresql" => {
            #[cfg(feature = "postgres")]
            return Ok(Arc::new(PostgresStore::connect(url).await?));
            #[cfg(not(feature = "postgres"))]
            return Err(Error::config("a postgres:// database needs fanout-sql's `postgres` feature"));
        }
        other => Err(Error::config(format!(
            "cannot open a database of scheme {other:?}: expected sqlite://PATH, sqlite::memory: or postgres://…"
        ))),
    }
}

/// [`connect`] to the database named by `DATABASE_URL` (see [`database_url`]), by default the
/// SQLite file `fanout.db` in the working directory.
///
/// ```no_run
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> fanout::Result<()> {
/// let store = fanout_sql::connect_from_env().await?;
/// # Ok(()) }
/// ```
pub async fn connect_from_env() -> Result<Arc<dyn SessionStore>> {
    connect(&database_url()).await
}

/// The scheme of `url`, without anything after it (a URL may hold a password: error messages
/// name only the scheme).
fn scheme(url: &str) -> &str {
    url.split_once(':').map_or("", |(scheme, _)| scheme)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schemes() {
        assert_eq!(scheme("sqlite::memory:"), "sqlite");
        assert_eq!(scheme("sqlite://fanout.db"), "sqlite");
        assert_eq!(scheme("postgres://u:secret@h/db"), "postgres");
        assert_eq!(scheme("fanout.db"), "");
    }

    #[tokio::test]
    async fn unknown_schemes_are_config_errors_that_do_not_repeat_the_url() {
        let err = connect("mysql://u:secret@h/db").await.err().map(|e| (e.is_config(), e.to_string()));
        let (config, text) = err.unwrap_or_default();
        assert!(config);
        assert!(!text.contains("secret"), "{text}");
    }
}

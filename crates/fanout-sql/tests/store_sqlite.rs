//! The session store conformance suite on `SqliteStore` (a file in WAL mode, and memory), and
//! what only SQLite has: files that cannot be opened, a lock held too long, a full database,
//! rows it must refuse, two processes on one file.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::sync::Arc;
use std::time::{Duration, Instant};

use fanout::models::Message;
use fanout::store::{RunState, SessionStore, StoredMessage};
use fanout_sql::SqliteStore;
use fanout_sql::sqlx::{self, Connection};
use support::{Fixture, TempDir, record};

/// A store on a new file in a temp dir of its own.
async fn fixture() -> Option<Fixture> {
    let dir = TempDir::new("fanout-sqlite");
    let store = SqliteStore::open(dir.path().join("fanout.db")).await.unwrap();
    Some(Fixture::new(Arc::new(store), dir))
}

crate::conformance!(fixture);

/// The suite again on `sqlite::memory:`.
mod memory {
    use super::*;

    async fn fixture() -> Option<Fixture> {
        Some(Fixture::new(fanout_sql::connect("sqlite::memory:").await.unwrap(), ()))
    }

    crate::conformance!(fixture);
}

fn url(dir: &TempDir) -> String {
    format!("sqlite://{}", dir.path().join("fanout.db").display())
}

#[tokio::test]
async fn connect_opens_files_and_memory_and_creates_missing_files() {
    let dir = TempDir::new("fanout-sqlite");
    let store = fanout_sql::connect(&url(&dir)).await.unwrap();
    assert!(dir.path().join("fanout.db").is_file());
    store.begin_run(&record("r1", "s1", None, None)).await.unwrap();
    drop(store);
    // Reopened, the runs are there and the migrations are not applied twice.
    let store = fanout_sql::connect(&url(&dir)).await.unwrap();
    assert_eq!(store.runs("s1").await.unwrap().len(), 1);
    let journal: String = sqlx::query_scalar("PRAGMA journal_mode")
        .fetch_one(SqliteStore::connect(&url(&dir)).await.unwrap().pool())
        .await
        .unwrap();
    assert_eq!(journal, "wal");

    // Each memory store is a database of its own.
    let a = fanout_sql::connect("sqlite::memory:").await.unwrap();
    let b = SqliteStore::memory().await.unwrap();
    a.begin_run(&record("r1", "s1", None, None)).await.unwrap();
    assert!(b.session("s1").await.unwrap().is_none());
}

#[tokio::test]
async fn a_file_that_cannot_be_opened_is_a_storage_error() {
    let dir = TempDir::new("fanout-sqlite");
    // A missing directory.
    let missing = dir.path().join("no/such/dir/fanout.db");
    let err = SqliteStore::open(&missing).await.unwrap_err();
    assert!(err.is_storage(), "{err}");
    assert!(std::error::Error::source(&err).is_some(), "sqlx's error is the source");
    let err = fanout_sql::connect(&format!("sqlite://{}", missing.display())).await.unwrap_err();
    assert!(err.is_storage(), "{err}");
    // A "directory" that is a file.
    std::fs::write(dir.path().join("file"), "").unwrap();
    let err = SqliteStore::open(dir.path().join("file/fanout.db")).await.unwrap_err();
    assert!(err.is_storage(), "{err}");
    // A file that is not a database.
    std::fs::write(dir.path().join("notes.db"), "these are my notes, not a database ".repeat(200)).unwrap();
    let err = SqliteStore::open(dir.path().join("notes.db")).await.unwrap_err();
    assert!(err.is_storage(), "{err}");
    // A read-only directory (root writes anyway: checked when the tests do not run as root).
    let locked = dir.path().join("read-only");
    std::fs::create_dir(&locked).unwrap();
    std::fs::set_permissions(&locked, std::os::unix::fs::PermissionsExt::from_mode(0o555)).unwrap();
    if std::fs::write(locked.join("probe"), "").is_ok() {
        eprintln!("notice: running as root, a read-only directory is writable: that case is not checked");
    } else {
        let err = SqliteStore::open(locked.join("fanout.db")).await.unwrap_err();
        assert!(err.is_storage(), "{err}");
    }
    // Read only: what is stored can be read, nothing can be stored.
    let writer = SqliteStore::open(dir.path().join("fanout.db")).await.unwrap();
    writer.begin_run(&record("r1", "s1", None, None)).await.unwrap();
    let reader = fanout_sql::connect(&format!("{}?mode=ro", url(&dir))).await.unwrap();
    assert_eq!(reader.runs("s1").await.unwrap().len(), 1);
    let err = reader.begin_run(&record("r2", "s1", None, None)).await.unwrap_err();
    assert!(err.is_storage() && err.to_string().contains("readonly"), "{err}");
    let err = reader.set_state("r1", RunState::Completed, None).await.unwrap_err();
    assert!(err.is_storage() && err.to_string().contains("readonly"), "{err}");
}

#[tokio::test]
async fn a_lock_held_past_the_busy_timeout_is_a_storage_error_and_the_store_recovers() {
    let dir = TempDir::new("fanout-sqlite");
    let options = SqliteStore::options(&url(&dir)).unwrap().busy_timeout(Duration::from_millis(200));
    let store = SqliteStore::connect_with(options.clone()).await.unwrap();
    store.begin_run(&record("r1", "s1", None, None)).await.unwrap();

    // Another connection takes the write lock and keeps it.
    let mut other = sqlx::SqliteConnection::connect_with(&options).await.unwrap();
    sqlx::raw_sql("BEGIN EXCLUSIVE").execute(&mut other).await.unwrap();
    let started = Instant::now();
    let message = [StoredMessage { seq: 0, message: Message::user("hi") }];
    let err = store.append_messages("r1", &message).await.unwrap_err();
    assert!(err.is_storage(), "{err}");
    assert!(err.to_string().contains("locked"), "{err}");
    assert!(started.elapsed() >= Duration::from_millis(150), "it waited for the lock first");
    let err = store.begin_run(&record("r2", "s1", None, None)).await.unwrap_err();
    assert!(err.is_storage(), "{err}");
    // Readers are not blocked by a writer (WAL).
    assert_eq!(store.runs("s1").await.unwrap().len(), 1);

    sqlx::raw_sql("COMMIT").execute(&mut other).await.unwrap();
    store.append_messages("r1", &message).await.unwrap();
    store.begin_run(&record("r2", "s1", None, None)).await.unwrap();
    assert_eq!(store.runs("s1").await.unwrap().len(), 2);
}

#[tokio::test]
async fn a_full_database_is_a_storage_error_and_what_is_stored_stays_readable() {
    let dir = TempDir::new("fanout-sqlite");
    // At most 40 pages of 4 KiB: the schema takes about a dozen.
    let options = SqliteStore::options(&url(&dir)).unwrap().pragma("max_page_count", "40");
    let store = SqliteStore::connect_with(options).await.unwrap();
    store.begin_run(&record("r1", "s1", None, None)).await.unwrap();
    let big = "x".repeat(20_000);
    let mut err = None;
    for seq in 0..20 {
        let message = [StoredMessage { seq, message: Message::user(big.clone()) }];
        if let Err(e) = store.append_messages("r1", &message).await {
            err = Some((seq, e));
            break;
        }
    }
    let (stored, err) = err.expect("the database filled up");
    assert!(err.is_storage(), "{err}");
    assert!(err.to_string().contains("full"), "{err}");
    let run = store.run("r1").await.unwrap().unwrap();
    assert_eq!(run.messages.len(), stored as usize);
    assert_eq!(run.state, RunState::Running);
}

#[tokio::test]
async fn unreadable_rows_are_refused() {
    let dir = TempDir::new("fanout-sqlite");
    let store = SqliteStore::open(dir.path().join("fanout.db")).await.unwrap();
    let pool = store.pool().clone();
    support::unreadable_rows_are_refused(&store, |sql, run_id| {
        let pool = pool.clone();
        async move {
            sqlx::query(sql).bind(run_id).execute(&pool).await.unwrap();
        }
    })
    .await;
}

#[tokio::test]
async fn a_database_migrated_by_a_newer_fanout_is_refused() {
    let dir = TempDir::new("fanout-sqlite");
    let store = SqliteStore::open(dir.path().join("fanout.db")).await.unwrap();
    sqlx::query(
        "INSERT INTO fanout_migrations (version, description, applied_at) VALUES (999, 'from the future', 0)",
    )
    .execute(store.pool())
    .await
    .unwrap();
    store.pool().close().await;
    let err = SqliteStore::open(dir.path().join("fanout.db")).await.unwrap_err();
    assert!(err.is_storage() && err.to_string().contains("newer fanout-sql"), "{err}");
}

/// Two processes open one new file at the same time and store runs of one session at once:
/// every run of both arrives whole.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_processes_on_one_file() {
    let dir = TempDir::new("fanout-sqlite");
    let url = url(&dir);
    let store = SqliteStore::connect(&url).await.unwrap();
    support::two_processes_parent(&store, "two_processes_child", &url).await;
}

/// The other process of `two_processes_on_one_file` (does nothing in a normal test run).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_processes_child() {
    let Some((url, session)) = support::child_args() else { return };
    let store = SqliteStore::connect(&url).await.unwrap();
    support::two_processes_child(&store, &session).await;
}

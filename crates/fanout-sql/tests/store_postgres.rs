//! The session store conformance suite on `PostgresStore`, on a throw-away cluster the tests
//! start (see `support/postgres.rs`), and what only a server has: a server that is down or goes
//! down, rows it must refuse, two processes on one database.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::sync::Arc;
use std::time::Duration;

use fanout::store::SessionStore;
use fanout_sql::PostgresStore;
use fanout_sql::sqlx::{self, postgres::PgPoolOptions};
use support::postgres::{self as pg, Cluster};
use support::{Fixture, record};

/// A store on a new database of the shared cluster.
async fn fixture() -> Option<Fixture> {
    let url = pg::database().await?;
    Some(Fixture::new(Arc::new(PostgresStore::connect(&url).await.unwrap()), ()))
}

crate::conformance!(fixture);

#[tokio::test]
async fn connect_through_the_url() {
    let Some(url) = pg::database().await else { return };
    let store = fanout_sql::connect(&url).await.unwrap();
    store.begin_run(&record("r1", "s1", None, None)).await.unwrap();
    // Opened again: the migrations are not applied twice.
    let again = fanout_sql::connect(&url.replacen("postgres://", "postgresql://", 1)).await.unwrap();
    assert_eq!(again.runs("s1").await.unwrap().len(), 1);
}

#[tokio::test]
async fn a_server_that_is_not_there_is_a_storage_error() {
    // A loopback port nobody listens on.
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let started = std::time::Instant::now();
    let err =
        PostgresStore::connect(&format!("postgres://postgres@127.0.0.1:{port}/fanout")).await.unwrap_err();
    assert!(err.is_storage(), "{err}");
    assert!(std::error::Error::source(&err).is_some());
    assert!(started.elapsed() < Duration::from_secs(5), "it fails at once, not after retries");
    let err = fanout_sql::connect(&format!("postgres://u:secret@127.0.0.1:{port}/fanout")).await.unwrap_err();
    assert!(err.is_storage(), "{err}");
    assert!(!err.to_string().contains("secret"), "{err}");
    // A database that does not exist.
    let Some(admin) = pg::shared() else { return };
    let err = PostgresStore::connect(&pg::with_database(admin, "no_such_database")).await.unwrap_err();
    assert!(err.is_storage(), "{err}");
}

#[tokio::test]
async fn a_database_dropped_under_the_store_gives_storage_errors() {
    let Some(url) = pg::database().await else { return };
    let store = PostgresStore::connect(&url).await.unwrap();
    store.begin_run(&record("r1", "s1", None, None)).await.unwrap();
    pg::drop_database(&url).await;
    assert!(store.begin_run(&record("r2", "s1", None, None)).await.unwrap_err().is_storage());
    assert!(store.set_state("r1", fanout::store::RunState::Completed, None).await.unwrap_err().is_storage());
    assert!(store.history("s1", None).await.unwrap_err().is_storage());
    assert!(store.sessions(&Default::default()).await.unwrap_err().is_storage());
}

/// A cluster of its own, stopped while the store is in use: every operation fails with a
/// storage error (after the pool's acquire timeout), none panics.
#[tokio::test]
async fn a_server_stopped_under_the_store_gives_storage_errors() {
    if pg::shared().is_none() || std::env::var_os("FANOUT_TEST_POSTGRES_URL").is_some() {
        return;
    }
    let cluster = Cluster::start().unwrap();
    let options: sqlx::postgres::PgConnectOptions = cluster.admin_url.parse().unwrap();
    let pool = PgPoolOptions::new().acquire_timeout(Duration::from_millis(300)).connect_lazy_with(options);
    let store = PostgresStore::from_pool(pool).await.unwrap();
    support::store_run(
        &store,
        &record("r1", "s1", None, None),
        &support::typical_run("x"),
        fanout::store::RunState::Completed,
    )
    .await;
    cluster.stop().unwrap();

    let message = support::numbered(&[fanout::models::Message::user("hi")]);
    let errors = [
        store.begin_run(&record("r2", "s1", None, None)).await.err(),
        store.append_messages("r1", &message).await.err(),
        store.set_state("r1", fanout::store::RunState::Failed, None).await.err(),
        store.history("s1", Some(1)).await.err(),
        store.run("r1").await.err(),
        store.session("s1").await.err(),
        store.sessions(&Default::default()).await.err(),
        store.rename_session("s1", "x").await.err(),
        store.delete_session("s1").await.err(),
    ];
    for err in errors {
        let err = err.expect("the server is down");
        assert!(err.is_storage(), "{err}");
    }
    // The cluster is stopped and removed when dropped.
}

#[tokio::test]
async fn unreadable_rows_are_refused() {
    let Some(url) = pg::database().await else { return };
    let store = PostgresStore::connect(&url).await.unwrap();
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
    let Some(url) = pg::database().await else { return };
    let store = PostgresStore::connect(&url).await.unwrap();
    sqlx::query(
        "INSERT INTO fanout_migrations (version, description, applied_at) VALUES (999, 'from the future', 0)",
    )
    .execute(store.pool())
    .await
    .unwrap();
    let err = PostgresStore::connect(&url).await.unwrap_err();
    assert!(err.is_storage() && err.to_string().contains("newer fanout-sql"), "{err}");
}

/// Two processes open one new database at the same time (both migrate it: one does, the other
/// waits) and store runs of one session at once: every run of both arrives whole.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_processes_on_one_database() {
    let Some(url) = pg::database().await else { return };
    let store = PostgresStore::connect(&url).await.unwrap();
    support::two_processes_parent(&store, "two_processes_child", &url).await;
}

/// The other process of `two_processes_on_one_database` (does nothing in a normal test run).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_processes_child() {
    let Some((url, session)) = support::child_args() else { return };
    let store = PostgresStore::connect(&url).await.unwrap();
    support::two_processes_child(&store, &session).await;
}

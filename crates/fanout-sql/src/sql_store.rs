//! The [`SessionStore`] implementation of both backends, written once: this file is a module of
//! `sqlite.rs` and of `postgres.rs` (`#[path]`), each defining `Store` (its store type, with a
//! `pool: sqlx::Pool<Db>` field), `Db` (its sqlx database) and how its transactions begin:
//!
//! - `WRITE_BEGIN`: a writing transaction (SQLite: `BEGIN IMMEDIATE`, so it waits for the write
//!   lock up front instead of failing when it upgrades);
//! - `READ_BEGIN`: a reading transaction that needs one snapshot for two statements (a page of
//!   sessions and their total; Postgres: `REPEATABLE READ`).
//!
//! - `load`: the statements that load runs (`common::sqlite` or `common::postgres`).
//!
//! The other statements (in `common`) are ones both databases accept as they are.

use std::time::{Duration, SystemTime};

use fanout::Result;
use fanout::store::{
    FORMAT_VERSION, Page, RunRecord, RunState, SessionInfo, SessionQuery, SessionStore, StoreFuture,
    StoredMessage, StoredRun,
};
use sqlx::{QueryBuilder, Row};

use super::{Db, READ_BEGIN, Store, WRITE_BEGIN, load};
use crate::common::{self as c, storage};

/// Which runs `load` reads.
enum Runs<'a> {
    /// One run.
    One(&'a str),
    /// The last `limit` of a session, whatever their state.
    Session { session_id: &'a str, limit: i64 },
    /// The last `limit` of a session in `state`.
    InState { session_id: &'a str, state: RunState, limit: i64 },
}

impl Store {
    /// Runs with their newest states and messages, oldest first, in one statement (one
    /// snapshot).
    async fn load(&self, which: Runs<'_>) -> Result<Vec<StoredRun>> {
        let what = match &which {
            Runs::One(run_id) => format!("loading run {run_id:?}"),
            Runs::Session { session_id, .. } | Runs::InState { session_id, .. } => {
                format!("loading the runs of session {session_id:?}")
            }
        };
        let rows = match &which {
            Runs::One(run_id) => sqlx::query(load::SELECT_RUN).bind(*run_id).fetch_all(&self.pool).await,
            Runs::Session { session_id, limit } => {
                sqlx::query(load::SELECT_SESSION_RUNS)
                    .bind(*session_id)
                    .bind(*limit)
                    .fetch_all(&self.pool)
                    .await
            }
            Runs::InState { session_id, state, limit } => {
                sqlx::query(load::SELECT_SESSION_RUNS_IN_STATE)
                    .bind(*session_id)
                    .bind(state.as_str())
                    .bind(*limit)
                    .fetch_all(&self.pool)
                    .await
            }
        }
        .map_err(|e| storage(&what, e))?;

        // Newest first from the query; oldest first for the caller.
        let mut runs = Vec::with_capacity(rows.len());
        for row in rows.iter().rev() {
            let read = || -> std::result::Result<_, sqlx::Error> {
                Ok((
                    RunRecord {
                        run_id: row.try_get(1)?,
                        session_id: row.try_get(2)?,
                        user_id: row.try_get(3)?,
                        agent_id: row.try_get(4)?,
                        parent_run_id: row.try_get(5)?,
                        created_at: c::time(row.try_get(6)?),
                    },
                    row.try_get::<&str, _>(7)?,
                    row.try_get::<i64, _>(8)?,
                    row.try_get::<Option<&str>, _>(9)?,
                    row.try_get::<i64, _>(10)?,
                    row.try_get::<Option<i64>, _>(11)?,
                    row.try_get::<Option<&str>, _>(12)?,
                ))
            };
            let (record, state, version, data, updated_at, messages_version, messages) =
                read().map_err(|e| storage(&what, e))?;
            let (state, data) = c::decode_state(&record.run_id, state, version, data)?;
            let messages = c::decode_messages(&record.run_id, messages_version, messages)?;
            runs.push(StoredRun { record, state, updated_at: c::time(updated_at), data, messages });
        }
        Ok(runs)
    }

    /// A session row with its newest run's start and count of runs.
    fn session_info(row: &<Db as sqlx::Database>::Row, what: &str) -> Result<SessionInfo> {
        let read = || -> std::result::Result<_, sqlx::Error> {
            let created_at = row.try_get::<i64, _>(4)?;
            Ok(SessionInfo {
                session_id: row.try_get(0)?,
                user_id: row.try_get(1)?,
                agent_id: row.try_get(2)?,
                name: row.try_get(3)?,
                created_at: c::time(created_at),
                updated_at: c::time(row.try_get::<Option<i64>, _>(5)?.unwrap_or(created_at)),
                runs: u64::try_from(row.try_get::<i64, _>(6)?).unwrap_or(0),
            })
        };
        read().map_err(|e| storage(what, e))
    }

    /// `WHERE` of a session listing.
    fn filter<'q>(qb: &mut QueryBuilder<'q, Db>, query: &'q SessionQuery) {
        qb.push(" FROM fanout_sessions s WHERE 1 = 1");
        if let Some(user_id) = &query.user_id {
            qb.push(" AND s.user_id = ").push_bind(user_id.as_str());
        }
        if let Some(agent_id) = &query.agent_id {
            qb.push(" AND s.agent_id = ").push_bind(agent_id.as_str());
        }
    }
}

impl SessionStore for Store {
    fn begin_run<'a>(&'a self, run: &'a RunRecord) -> StoreFuture<'a, ()> {
        Box::pin(async move {
            let what = format!("storing run {:?}", run.run_id);
            let created_at = c::nanos(run.created_at);
            let mut tx = self.pool.begin_with(WRITE_BEGIN).await.map_err(|e| storage(&what, e))?;
            sqlx::query(c::INSERT_SESSION)
                .bind(run.session_id.as_str())
                .bind(run.user_id.as_deref())
                .bind(run.agent_id.as_deref())
                .bind(created_at)
                .execute(&mut *tx)
                .await
                .map_err(|e| storage(&what, e))?;
            sqlx::query(c::INSERT_RUN)
                .bind(run.run_id.as_str())
                .bind(run.session_id.as_str())
                .bind(run.user_id.as_deref())
                .bind(run.agent_id.as_deref())
                .bind(run.parent_run_id.as_deref())
                .bind(created_at)
                .execute(&mut *tx)
                .await
                .map_err(|e| c::write_error(&what, &run.run_id, e))?;
            sqlx::query(c::INSERT_STATE)
                .bind(run.run_id.as_str())
                .bind(RunState::Running.as_str())
                .bind(i64::from(FORMAT_VERSION))
                .bind(None::<String>)
                .bind(c::nanos(SystemTime::now()))
                .execute(&mut *tx)
                .await
                .map_err(|e| storage(&what, e))?;
            tx.commit().await.map_err(|e| storage(&what, e))
        })
    }

    fn append_messages<'a>(&'a self, run_id: &'a str, messages: &'a [StoredMessage]) -> StoreFuture<'a, ()> {
        Box::pin(async move {
            if messages.is_empty() {
                return Ok(());
            }
            let what = format!("storing messages of run {run_id:?}");
            let rows = messages
                .iter()
                .map(|m| Ok((i64::from(m.seq), c::encode_message(&m.message)?)))
                .collect::<Result<Vec<_>>>()?;
            fn insert<'q>(run_id: &'q str, chunk: &'q [(i64, String)]) -> QueryBuilder<'q, Db> {
                let mut qb =
                    QueryBuilder::new("INSERT INTO fanout_messages (run_id, seq, format_version, body) ");
                qb.push_values(chunk, |mut row, (seq, body)| {
                    row.push_bind(run_id)
                        .push_bind(*seq)
                        .push_bind(i64::from(FORMAT_VERSION))
                        .push_bind(body.as_str());
                });
                qb.push(" ON CONFLICT (run_id, seq) DO NOTHING");
                qb
            }
            if rows.len() <= c::MESSAGES_PER_INSERT {
                insert(run_id, &rows)
                    .build()
                    .execute(&self.pool)
                    .await
                    .map_err(|e| c::write_error(&what, run_id, e))?;
                return Ok(());
            }
            // Many at once: all or none.
            let mut tx = self.pool.begin_with(WRITE_BEGIN).await.map_err(|e| storage(&what, e))?;
            for chunk in rows.chunks(c::MESSAGES_PER_INSERT) {
                insert(run_id, chunk)
                    .build()
                    .execute(&mut *tx)
                    .await
                    .map_err(|e| c::write_error(&what, run_id, e))?;
            }
            tx.commit().await.map_err(|e| storage(&what, e))
        })
    }

    fn set_state<'a>(
        &'a self,
        run_id: &'a str,
        state: RunState,
        data: Option<&'a serde_json::Value>,
    ) -> StoreFuture<'a, ()> {
        Box::pin(async move {
            let what = format!("storing the state of run {run_id:?}");
            let data = c::encode_data(data)?;
            sqlx::query(c::INSERT_STATE)
                .bind(run_id)
                .bind(state.as_str())
                .bind(i64::from(FORMAT_VERSION))
                .bind(data)
                .bind(c::nanos(SystemTime::now()))
                .execute(&self.pool)
                .await
                .map_err(|e| c::write_error(&what, run_id, e))?;
            Ok(())
        })
    }

    fn history<'a>(&'a self, session_id: &'a str, runs: Option<usize>) -> StoreFuture<'a, Vec<StoredRun>> {
        Box::pin(async move {
            if runs == Some(0) {
                return Ok(Vec::new());
            }
            let limit = runs.map_or(c::NO_LIMIT, c::int);
            self.load(Runs::InState { session_id, state: RunState::Completed, limit }).await
        })
    }

    fn run<'a>(&'a self, run_id: &'a str) -> StoreFuture<'a, Option<StoredRun>> {
        Box::pin(async move { Ok(self.load(Runs::One(run_id)).await?.pop()) })
    }

    fn runs<'a>(&'a self, session_id: &'a str) -> StoreFuture<'a, Vec<StoredRun>> {
        Box::pin(async move { self.load(Runs::Session { session_id, limit: c::NO_LIMIT }).await })
    }

    fn session<'a>(&'a self, session_id: &'a str) -> StoreFuture<'a, Option<SessionInfo>> {
        Box::pin(async move {
            let what = format!("loading session {session_id:?}");
            let row = sqlx::query(c::SELECT_SESSION)
                .bind(session_id)
                .fetch_optional(&self.pool)
                .await
                .map_err(|e| storage(&what, e))?;
            row.map(|row| Self::session_info(&row, &what)).transpose()
        })
    }

    fn sessions<'a>(&'a self, query: &'a SessionQuery) -> StoreFuture<'a, Page<SessionInfo>> {
        Box::pin(async move {
            let what = "listing sessions";
            // The page's ids first (each session's newest run through the index), then
            // their details: counting runs only for the sessions shown.
            let mut page: QueryBuilder<'_, Db> = QueryBuilder::new(
                "SELECT s.session_id, s.user_id, s.agent_id, s.name, s.created_at, \
                 (SELECT r.created_at FROM fanout_runs r WHERE r.run_order = p.newest), \
                 (SELECT COUNT(*) FROM fanout_runs r WHERE r.session_id = s.session_id) \
                 FROM (SELECT s.session_id, \
                 (SELECT MAX(r.run_order) FROM fanout_runs r WHERE r.session_id = s.session_id) AS newest",
            );
            Self::filter(&mut page, query);
            page.push(" ORDER BY newest DESC LIMIT ")
                .push_bind(c::int(query.page_size()))
                .push(" OFFSET ")
                .push_bind(c::int(query.offset));
            page.push(") p JOIN fanout_sessions s ON s.session_id = p.session_id ORDER BY p.newest DESC");
            let mut total: QueryBuilder<'_, Db> = QueryBuilder::new("SELECT COUNT(*)");
            Self::filter(&mut total, query);

            let mut tx = self.pool.begin_with(READ_BEGIN).await.map_err(|e| storage(what, e))?;
            let rows = page.build().fetch_all(&mut *tx).await.map_err(|e| storage(what, e))?;
            let count = total.build().fetch_one(&mut *tx).await.map_err(|e| storage(what, e))?;
            tx.commit().await.map_err(|e| storage(what, e))?;
            let total = count.try_get::<i64, _>(0).map_err(|e| storage(what, e))?;
            let items = rows.iter().map(|row| Self::session_info(row, what)).collect::<Result<_>>()?;
            Ok(Page { items, total: u64::try_from(total).unwrap_or(0) })
        })
    }

    fn rename_session<'a>(&'a self, session_id: &'a str, name: &'a str) -> StoreFuture<'a, bool> {
        Box::pin(async move {
            let done = sqlx::query(c::RENAME_SESSION)
                .bind(session_id)
                .bind(name)
                .execute(&self.pool)
                .await
                .map_err(|e| storage(format_args!("renaming session {session_id:?}"), e))?;
            Ok(done.rows_affected() > 0)
        })
    }

    fn delete_session<'a>(&'a self, session_id: &'a str) -> StoreFuture<'a, bool> {
        Box::pin(async move {
            let done = sqlx::query(c::DELETE_SESSION)
                .bind(session_id)
                .execute(&self.pool)
                .await
                .map_err(|e| storage(format_args!("deleting session {session_id:?}"), e))?;
            Ok(done.rows_affected() > 0)
        })
    }

    fn claim_run<'a>(&'a self, run_id: &'a str, owner: &'a str, ttl: Duration) -> StoreFuture<'a, bool> {
        Box::pin(async move {
            let ttl = i64::try_from(ttl.as_nanos()).unwrap_or(i64::MAX / 2);
            let done = sqlx::query(load::CLAIM_RUN)
                .bind(run_id)
                .bind(owner)
                .bind(ttl)
                .execute(&self.pool)
                .await
                .map_err(|e| storage(format_args!("claiming the lease of run {run_id:?}"), e))?;
            Ok(done.rows_affected() > 0)
        })
    }

    fn release_run<'a>(&'a self, run_id: &'a str, owner: &'a str) -> StoreFuture<'a, ()> {
        Box::pin(async move {
            sqlx::query(c::RELEASE_RUN)
                .bind(run_id)
                .bind(owner)
                .execute(&self.pool)
                .await
                .map_err(|e| storage(format_args!("releasing the lease of run {run_id:?}"), e))?;
            Ok(())
        })
    }

    fn interrupted_runs<'a>(&'a self, session_id: &'a str) -> StoreFuture<'a, Vec<String>> {
        Box::pin(async move {
            sqlx::query_scalar(load::SELECT_INTERRUPTED).bind(session_id).fetch_all(&self.pool).await.map_err(
                |e| storage(format_args!("listing the interrupted runs of session {session_id:?}"), e),
            )
        })
    }
}

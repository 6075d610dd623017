//! The schema's migrations, embedded from `migrations/{sqlite,postgres}`, and what applying them
//! needs on both backends.
//!
//! fanout keeps its own record (`fanout_migrations`) rather than sqlx's `_sqlx_migrations`, which
//! an application's own sqlx migrations use: sharing it, either side would find versions it does
//! not know. Each backend applies the pending migrations in one transaction under a lock
//! (SQLite's write lock, a Postgres advisory lock), so processes opening one database at once
//! apply each migration once.

use fanout::{Error, Result};

/// One step of the schema.
#[derive(Debug)]
pub(crate) struct Migration {
    /// Its number: steps are applied in order, each once.
    pub(crate) version: i64,
    /// What it does, recorded with it.
    pub(crate) description: &'static str,
    /// Its statements.
    pub(crate) sql: &'static str,
}

/// SQLite's steps.
#[cfg(feature = "sqlite")]
pub(crate) const SQLITE: &[Migration] = &[
    Migration {
        version: 1,
        description: "sessions, runs, messages, run states",
        sql: include_str!("../migrations/sqlite/0001_sessions.sql"),
    },
    Migration {
        version: 2,
        description: "run leases",
        sql: include_str!("../migrations/sqlite/0002_run_leases.sql"),
    },
];

/// PostgreSQL's steps.
#[cfg(feature = "postgres")]
pub(crate) const POSTGRES: &[Migration] = &[
    Migration {
        version: 1,
        description: "sessions, runs, messages, run states",
        sql: include_str!("../migrations/postgres/0001_sessions.sql"),
    },
    Migration {
        version: 2,
        description: "run leases",
        sql: include_str!("../migrations/postgres/0002_run_leases.sql"),
    },
];

/// The record of applied steps.
pub(crate) const CREATE_TABLE: &str = "CREATE TABLE IF NOT EXISTS fanout_migrations (\
     version BIGINT PRIMARY KEY, description TEXT NOT NULL, applied_at BIGINT NOT NULL)";

pub(crate) const SELECT_APPLIED: &str = "SELECT version FROM fanout_migrations ORDER BY version";

pub(crate) const INSERT_APPLIED: &str =
    "INSERT INTO fanout_migrations (version, description, applied_at) VALUES ($1, $2, $3)";

/// The steps of `known` not yet `applied`, in order; an error when the database has a step this
/// fanout does not know (a newer fanout migrated it).
pub(crate) fn pending(applied: &[i64], known: &'static [Migration]) -> Result<Vec<&'static Migration>> {
    let newest = known.iter().map(|m| m.version).max().unwrap_or(0);
    if let Some(&version) = applied.iter().find(|&&v| v > newest) {
        return Err(Error::storage(format!(
            "the database's schema is at version {version}, and this fanout-sql knows versions up to \
             {newest}: it was migrated by a newer fanout-sql"
        )));
    }
    Ok(known.iter().filter(|m| !applied.contains(&m.version)).collect())
}

/// Applies the pending steps of `$known` on `$tx`, a transaction that holds the migration lock.
macro_rules! apply {
    ($tx:expr, $known:expr) => {{
        use crate::common::storage;
        use crate::migrate::{CREATE_TABLE, INSERT_APPLIED, SELECT_APPLIED, pending};
        let what = "applying the schema's migrations";
        sqlx::raw_sql(CREATE_TABLE).execute(&mut *$tx).await.map_err(|e| storage(what, e))?;
        let applied: Vec<i64> =
            sqlx::query_scalar(SELECT_APPLIED).fetch_all(&mut *$tx).await.map_err(|e| storage(what, e))?;
        for migration in pending(&applied, $known)? {
            tracing::debug!(version = migration.version, migration.description, "applying a migration");
            sqlx::raw_sql(migration.sql).execute(&mut *$tx).await.map_err(|e| {
                storage(
                    format_args!("applying migration {} ({})", migration.version, migration.description),
                    e,
                )
            })?;
            sqlx::query(INSERT_APPLIED)
                .bind(migration.version)
                .bind(migration.description)
                .bind(crate::common::nanos(std::time::SystemTime::now()))
                .execute(&mut *$tx)
                .await
                .map_err(|e| storage(what, e))?;
        }
    }};
}

pub(crate) use apply;

#[cfg(test)]
mod tests {
    use super::*;

    const KNOWN: &[Migration] = &[
        Migration { version: 1, description: "one", sql: "" },
        Migration { version: 2, description: "two", sql: "" },
    ];

    #[test]
    fn pending_steps_in_order_and_newer_schemas_refused() {
        let versions = |applied: &[i64]| {
            pending(applied, KNOWN).map(|p| p.iter().map(|m| m.version).collect::<Vec<_>>())
        };
        assert_eq!(versions(&[]).ok(), Some(vec![1, 2]));
        assert_eq!(versions(&[1]).ok(), Some(vec![2]));
        assert_eq!(versions(&[1, 2]).ok(), Some(vec![]));
        assert!(
            versions(&[1, 2, 3]).is_err_and(|e| e.is_storage() && e.to_string().contains("newer fanout-sql"))
        );
    }
}

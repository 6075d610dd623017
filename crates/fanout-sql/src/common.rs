//! What both backends share: time and JSON conversions, error wording, and the
//! statements of the [`SessionStore`](fanout::store::SessionStore) implementation (`sql_store.rs`),
//! which SQLite and PostgreSQL both accept as they are.

use std::fmt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use fanout::Error;
use fanout::models::Message;
use fanout::store::{FORMAT_VERSION, RunState};

/// How long a SQLite writer waits for another to finish, and how long any caller waits for a
/// pooled connection, before the operation fails with a storage error.
pub(crate) const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// At most this many messages go in one `INSERT` (SQLite allows 32,766 parameters, Postgres
/// 65,535; a message takes 4).
pub(crate) const MESSAGES_PER_INSERT: usize = 1000;

/// `LIMIT` when there is none.
pub(crate) const NO_LIMIT: i64 = i64::MAX;

/// Nanoseconds since the Unix epoch (negative before it), as stored.
pub(crate) fn nanos(time: SystemTime) -> i64 {
    match time.duration_since(UNIX_EPOCH) {
        Ok(after) => i64::try_from(after.as_nanos()).unwrap_or(i64::MAX),
        Err(before) => i64::try_from(before.duration().as_nanos()).map_or(i64::MIN, |n| -n),
    }
}

/// The time stored as `nanos`.
pub(crate) fn time(nanos: i64) -> SystemTime {
    let magnitude = Duration::from_nanos(nanos.unsigned_abs());
    if nanos >= 0 { UNIX_EPOCH + magnitude } else { UNIX_EPOCH - magnitude }
}

/// A storage error saying what failed (`what`) and why, with sqlx's error as its source.
pub(crate) fn storage(what: impl fmt::Display, err: sqlx::Error) -> Error {
    Error::storage(format!("{what}: {err}")).with_source(err)
}

/// The error of a statement that adds a row of `run_id`: a run stored twice, a row for a run
/// that is not stored, or anything else.
pub(crate) fn write_error(what: impl fmt::Display, run_id: &str, err: sqlx::Error) -> Error {
    let (unique, foreign_key) = err
        .as_database_error()
        .map_or((false, false), |db| (db.is_unique_violation(), db.is_foreign_key_violation()));
    if unique {
        Error::storage(format!("a run with id {run_id:?} is already stored")).with_source(err)
    } else if foreign_key {
        Error::storage(format!("no run with id {run_id:?} is stored")).with_source(err)
    } else {
        storage(what, err)
    }
}

/// Refuse a row written in a newer format than this fanout knows.
pub(crate) fn check_version(version: i64, what: impl fmt::Display) -> fanout::Result<()> {
    if version > i64::from(FORMAT_VERSION) || version < 1 {
        return Err(Error::storage(format!(
            "{what} is stored in format version {version}, and this fanout reads versions 1 to \
             {FORMAT_VERSION}: it was written by a newer fanout"
        )));
    }
    Ok(())
}

/// A message as stored.
pub(crate) fn encode_message(message: &Message) -> fanout::Result<String> {
    serde_json::to_string(message)
        .map_err(|e| Error::storage(format!("a message cannot be stored as JSON: {e}")).with_source(e))
}

/// A run's stored messages, as `load` reads them: the newest format version among them, checked,
/// and their bodies joined into one JSON array (in `seq` order), decoded.
pub(crate) fn decode_messages(
    run_id: &str,
    version: Option<i64>,
    array: Option<&str>,
) -> fanout::Result<Vec<Message>> {
    let Some(array) = array else { return Ok(Vec::new()) };
    check_version(version.unwrap_or(1), format_args!("a message of run {run_id:?}"))?;
    serde_json::from_str(array).map_err(|e| {
        Error::storage(format!("the messages of run {run_id:?} cannot be read: {e}")).with_source(e)
    })
}

/// Run data as stored.
pub(crate) fn encode_data(data: Option<&serde_json::Value>) -> fanout::Result<Option<String>> {
    data.map(serde_json::to_string)
        .transpose()
        .map_err(|e| Error::storage(format!("run data cannot be stored as JSON: {e}")).with_source(e))
}

/// A stored state row: its name, format version and data checked and decoded.
pub(crate) fn decode_state(
    run_id: &str,
    name: &str,
    version: i64,
    data: Option<&str>,
) -> fanout::Result<(RunState, Option<serde_json::Value>)> {
    check_version(version, format_args!("the state of run {run_id:?}"))?;
    let state = RunState::from_name(name)
        .ok_or_else(|| Error::storage(format!("run {run_id:?} has an unknown state {name:?}")))?;
    let data = data.map(serde_json::from_str).transpose().map_err(|e| {
        Error::storage(format!("the data of run {run_id:?} cannot be read: {e}")).with_source(e)
    })?;
    Ok((state, data))
}

/// A count or position as stored (`usize` beyond `i64` is clamped: no table holds that many).
pub(crate) fn int(n: usize) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

// The statements. Both backends accept them as they are (`$n` parameters, `ON CONFLICT`).

pub(crate) const INSERT_SESSION: &str = "INSERT INTO fanout_sessions (session_id, user_id, agent_id, created_at) \
     VALUES ($1, $2, $3, $4) ON CONFLICT (session_id) DO NOTHING";

pub(crate) const INSERT_RUN: &str = "INSERT INTO fanout_runs (run_id, session_id, user_id, agent_id, parent_run_id, created_at) \
     VALUES ($1, $2, $3, $4, $5, $6)";

pub(crate) const INSERT_STATE: &str = "INSERT INTO fanout_run_states (run_id, state, format_version, data, created_at) \
     VALUES ($1, $2, $3, $4, $5)";

/// The statements that load runs: a run in one row — its record, its newest state, and its
/// messages: the newest format version among them and their bodies joined into one JSON array
/// in `seq` order (`string_agg … ORDER BY`: SQLite 3.44+, which sqlx bundles, and Postgres
/// alike). One row per run, not per message: a long history is a few thousand rows, not tens of
/// thousands. `$columns` selects the 13 columns `load` reads, from `r` (the runs) and `s` (each
/// run's newest state).
macro_rules! load_statements {
    ($columns:literal) => {
        /// One run.
        pub(crate) const SELECT_RUN: &str = concat!($columns, " WHERE r.run_id = $1");

        /// A session's runs whatever their state, newest first, at most `$2`.
        pub(crate) const SELECT_SESSION_RUNS: &str =
            concat!($columns, " WHERE r.session_id = $1 ORDER BY r.run_order DESC LIMIT $2");

        /// A session's runs whose newest state is `$2`, newest first, at most `$3`: walks the
        /// `(session_id, run_order)` index backwards and stops after `$3` matches.
        pub(crate) const SELECT_SESSION_RUNS_IN_STATE: &str =
            concat!($columns, " WHERE r.session_id = $1 AND s.state = $2 ORDER BY r.run_order DESC LIMIT $3");
    };
}

/// The statements of run leases, with `$now`: the database's clock in nanoseconds since the Unix
/// epoch (so processes on hosts with skewed clocks agree on when a lease expires).
macro_rules! lease_statements {
    ($now:literal) => {
        /// Take or renew the lease of run `$1` for owner `$2`, for `$3` ns: granted (a row
        /// changed) when there is none, it expired, or `$2` holds it.
        pub(crate) const CLAIM_RUN: &str = concat!(
            "INSERT INTO fanout_run_leases (run_id, owner, expires_at) VALUES ($1, $2, ",
            $now,
            " + $3) ON CONFLICT (run_id) DO UPDATE SET owner = excluded.owner, \
             expires_at = excluded.expires_at \
             WHERE fanout_run_leases.owner = excluded.owner OR fanout_run_leases.expires_at <= ",
            $now
        );

        /// The ids of session `$1`'s runs whose newest state is running or interrupted and whose
        /// lease expired or is missing, oldest first.
        pub(crate) const SELECT_INTERRUPTED: &str = concat!(
            "SELECT r.run_id FROM fanout_runs r \
             LEFT JOIN fanout_run_leases l ON l.run_id = r.run_id \
             WHERE r.session_id = $1 AND (l.expires_at IS NULL OR l.expires_at <= ",
            $now,
            ") AND (SELECT x.state FROM fanout_run_states x WHERE x.run_id = r.run_id \
             ORDER BY x.state_id DESC LIMIT 1) IN ('running', 'interrupted') \
             ORDER BY r.run_order"
        );
    };
}

/// Give up owner `$2`'s lease of run `$1`.
pub(crate) const RELEASE_RUN: &str = "DELETE FROM fanout_run_leases WHERE run_id = $1 AND owner = $2";

/// SQLite's: the newest state by a correlated `MAX`, the messages by two scalar subqueries.
/// SQLite's planner walks the index in `ORDER BY` order and stops at the `LIMIT`.
#[cfg(feature = "sqlite")]
pub(crate) mod sqlite {
    lease_statements!("CAST((julianday('now') - 2440587.5) * 86400000000000.0 AS INTEGER)");
    load_statements!(
        "SELECT r.run_order, r.run_id, r.session_id, r.user_id, r.agent_id, r.parent_run_id, \
         r.created_at, s.state, s.format_version, s.data, s.created_at, \
         (SELECT MAX(m.format_version) FROM fanout_messages m WHERE m.run_id = r.run_id), \
         (SELECT '[' || string_agg(m.body, ',' ORDER BY m.seq) || ']' \
          FROM fanout_messages m WHERE m.run_id = r.run_id) \
         FROM fanout_runs r \
         JOIN fanout_run_states s ON s.state_id = \
         (SELECT MAX(x.state_id) FROM fanout_run_states x WHERE x.run_id = r.run_id)"
    );
}

/// Postgres's: the newest state and the messages by `LATERAL` joins, a nested loop per run. The
/// prepared statement's generic plan (which does not know the `LIMIT`) then still walks the
/// index backwards and stops early; with a correlated `MAX` in the join condition it hashed every
/// run of the session first.
#[cfg(feature = "postgres")]
pub(crate) mod postgres {
    lease_statements!("CAST(EXTRACT(EPOCH FROM clock_timestamp()) * 1000000000 AS BIGINT)");
    load_statements!(
        "SELECT r.run_order, r.run_id, r.session_id, r.user_id, r.agent_id, r.parent_run_id, \
         r.created_at, s.state, s.format_version, s.data, s.created_at, m.format_version, m.bodies \
         FROM fanout_runs r \
         CROSS JOIN LATERAL (SELECT x.state, x.format_version, x.data, x.created_at \
          FROM fanout_run_states x WHERE x.run_id = r.run_id ORDER BY x.state_id DESC LIMIT 1) s \
         CROSS JOIN LATERAL (SELECT MAX(y.format_version) AS format_version, \
          '[' || string_agg(y.body, ',' ORDER BY y.seq) || ']' AS bodies \
          FROM fanout_messages y WHERE y.run_id = r.run_id) m"
    );
}

/// A session with its newest run's start and its count of runs.
pub(crate) const SELECT_SESSION: &str = "SELECT s.session_id, s.user_id, s.agent_id, s.name, s.created_at, \
     (SELECT r.created_at FROM fanout_runs r WHERE r.session_id = s.session_id ORDER BY r.run_order DESC LIMIT 1), \
     (SELECT COUNT(*) FROM fanout_runs r WHERE r.session_id = s.session_id) \
     FROM fanout_sessions s WHERE s.session_id = $1";

pub(crate) const RENAME_SESSION: &str = "UPDATE fanout_sessions SET name = $2 WHERE session_id = $1";

/// Deleting the session deletes its runs, their messages and states (`ON DELETE CASCADE`).
pub(crate) const DELETE_SESSION: &str = "DELETE FROM fanout_sessions WHERE session_id = $1";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_round_trip_to_the_nanosecond() {
        for t in [
            UNIX_EPOCH,
            UNIX_EPOCH + Duration::new(1_754_000_000, 123_456_789),
            UNIX_EPOCH - Duration::new(86_400, 1),
            SystemTime::now(),
        ] {
            assert_eq!(time(nanos(t)), t);
        }
    }

    #[test]
    fn newer_format_versions_are_refused() {
        assert!(check_version(i64::from(FORMAT_VERSION), "a row").is_ok());
        let err = check_version(i64::from(FORMAT_VERSION) + 1, "a row").err();
        assert!(err.is_some_and(|e| e.is_storage() && e.to_string().contains("newer fanout")));
    }
}

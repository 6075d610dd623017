//! Sessions: where conversations are kept between runs.
//!
//! A [`SessionStore`] keeps each run of a session as rows of its own: the run (who, when, which
//! session), its messages (numbered within the run), and its states (running, completed …).
//! A run only ever **adds** rows; nothing it wrote is rewritten. So any number of runs may go on
//! at once on one session, in one process or in several sharing a database: each is stored
//! whole and in order, none is lost, none interleaves with another.
//!
//! **The rule for concurrent runs**: a run sees, as its history, the session's runs that had
//! [completed](RunState::Completed) when it started; runs that are still going on, failed,
//! were cancelled or interrupted are not part of anyone's history (an interrupted run becomes
//! part of it once it is resumed and completes). Runs are ordered by when they started.
//!
//! Backends: [`MemoryStore`] here; SQLite and PostgreSQL in the `fanout-sql` crate. Every
//! backend passes the same test suite. Give an agent a store with
//! [`AgentBuilder::store`](crate::AgentBuilder::store) and name the session on the run:
//!
//! ```
//! use std::sync::Arc;
//! use fanout::prelude::*;
//! use fanout::models::scripted::{ScriptedModel, Turn};
//! use fanout::store::MemoryStore;
//!
//! # #[tokio::main] async fn main() -> fanout::Result<()> {
//! let model = ScriptedModel::new([Turn::text("Hello, Ada."), Turn::text("You are Ada.")]);
//! let agent = Agent::builder().model(model.clone()).store(MemoryStore::new()).build()?;
//! agent.run("I am Ada.").session("s1").await?;
//! let second = agent.run("Who am I?").session("s1").await?;
//! // The second request carried the first run's messages.
//! assert_eq!(model.requests()[1].messages.len(), 3);
//! assert_eq!(second.all_messages().len(), 4);
//! # Ok(()) }
//! ```

mod memory;

use std::fmt;
use std::sync::OnceLock;
use std::time::{Duration, SystemTime};

use futures::future::BoxFuture;
use serde::{Deserialize, Serialize};

pub use memory::MemoryStore;

use crate::error::Result;
use crate::model::Message;

/// The version of the stored shape of [`Message`]s and run data, written with every message row.
/// A store refuses rows of a newer version with a clear error instead of misreading them.
pub const FORMAT_VERSION: u32 = 1;

/// A new random id (a UUID v4): what a session or a run gets when the caller names none; for a
/// conversation that begins before its first run.
pub fn new_session_id() -> String {
    uuid::Uuid::new_v4().to_string()
}

/// This process's name in run leases ([`SessionStore::claim_run`]): its process id and a random
/// part, fixed for the life of the process, so two processes (on one host or several) never
/// share it. Each execution of a run holds its lease as `{lease_owner()}/{n}`, a number of its
/// own, so two executions of one run never share a lease, not even in one process.
pub fn lease_owner() -> &'static str {
    static OWNER: OnceLock<String> = OnceLock::new();
    OWNER.get_or_init(|| {
        let random = uuid::Uuid::new_v4().simple().to_string();
        format!("pid{}-{}", std::process::id(), &random[..12])
    })
}

/// What a store's methods return.
pub type StoreFuture<'a, T> = BoxFuture<'a, Result<T>>;

/// Who a run belongs to and when it began: the first row a run adds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunRecord {
    /// The run's id (unique across sessions).
    pub run_id: String,
    /// The session it belongs to.
    pub session_id: String,
    /// The user it ran for, if given.
    pub user_id: Option<String>,
    /// The agent that ran it (its name), if named.
    pub agent_id: Option<String>,
    /// The run that started this one (a team's leader), if any.
    pub parent_run_id: Option<String>,
    /// When it began.
    pub created_at: SystemTime,
}

/// Where a stored run is: each change is a row of its own, the newest one counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum RunState {
    /// Going on (or its process died: see [`Interrupted`](Self::Interrupted)).
    Running,
    /// Waiting for the user to confirm tool calls.
    Paused,
    /// Ended with an output (an answer, or a limit it reached).
    Completed,
    /// Ended with an error.
    Failed,
    /// Cancelled by its caller.
    Cancelled,
    /// Its process stopped before it ended; it can be resumed.
    Interrupted,
}

impl RunState {
    /// The name stored in the database.
    pub fn as_str(self) -> &'static str {
        match self {
            RunState::Running => "running",
            RunState::Paused => "paused",
            RunState::Completed => "completed",
            RunState::Failed => "failed",
            RunState::Cancelled => "cancelled",
            RunState::Interrupted => "interrupted",
        }
    }

    /// The state stored as `name`, if it is one.
    pub fn from_name(name: &str) -> Option<Self> {
        Some(match name {
            "running" => RunState::Running,
            "paused" => RunState::Paused,
            "completed" => RunState::Completed,
            "failed" => RunState::Failed,
            "cancelled" => RunState::Cancelled,
            "interrupted" => RunState::Interrupted,
            _ => return None,
        })
    }
}

impl fmt::Display for RunState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One message of a run, numbered: `seq` orders a run's messages (the user's message is 0),
/// whatever order they were stored in (a batch's results arrive as their calls finish).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoredMessage {
    /// Position in the run.
    pub seq: u32,
    /// The message.
    pub message: Message,
}

/// A run as stored: its record, its newest state and its messages in order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoredRun {
    /// Who, when, which session.
    pub record: RunRecord,
    /// The newest state.
    pub state: RunState,
    /// When that state was stored.
    pub updated_at: SystemTime,
    /// What came with that state: the run's output summary when it completed, the error when it
    /// failed, the paused run when it paused (JSON; see [`RunOutput`](crate::RunOutput)).
    pub data: Option<serde_json::Value>,
    /// The run's messages, by `seq`.
    pub messages: Vec<Message>,
}

/// A session: a conversation of one or more runs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SessionInfo {
    /// Its id.
    pub session_id: String,
    /// The user of its first run, if given.
    pub user_id: Option<String>,
    /// The agent of its first run, if named.
    pub agent_id: Option<String>,
    /// Its name, if it was given one ([`SessionStore::rename_session`]).
    pub name: Option<String>,
    /// When its first run began.
    pub created_at: SystemTime,
    /// When its newest run began.
    pub updated_at: SystemTime,
    /// How many runs it has.
    pub runs: u64,
}

/// Which sessions to list: newest first, optionally one user's or one agent's, a page at a time.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct SessionQuery {
    /// Only this user's sessions.
    pub user_id: Option<String>,
    /// Only this agent's sessions.
    pub agent_id: Option<String>,
    /// At most this many (`0`: the store's default of 20).
    pub limit: usize,
    /// Skip this many first.
    pub offset: usize,
}

impl SessionQuery {
    /// The page size used when `limit` is 0.
    pub const DEFAULT_LIMIT: usize = 20;

    /// The page size asked for, or the default.
    pub fn page_size(&self) -> usize {
        if self.limit == 0 { Self::DEFAULT_LIMIT } else { self.limit }
    }
}

/// One page of a listing, with the total count.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Page<T> {
    /// The items of this page.
    pub items: Vec<T>,
    /// How many there are in all.
    pub total: u64,
}

/// Where sessions are kept. Every method adds rows or reads them, except
/// [`rename_session`](Self::rename_session) and [`delete_session`](Self::delete_session), which
/// the user asks for.
///
/// Implementations must be safe for any number of concurrent callers, also across processes
/// where the backend is shared, and report every failure as an [`ErrorKind::Storage`] error
/// (down, locked, full, unreadable rows), never a panic.
///
/// [`ErrorKind::Storage`]: crate::error::ErrorKind::Storage
pub trait SessionStore: Send + Sync + fmt::Debug + 'static {
    /// A run begins: add its record (and its session, when new) with the state
    /// [`Running`](RunState::Running). A run id stored before is an error.
    fn begin_run<'a>(&'a self, run: &'a RunRecord) -> StoreFuture<'a, ()>;

    /// Add messages of a run, each at its `seq`. Adding a `seq` the run already has is ignored
    /// (the first write stays), so a write that is retried, or replayed by a resumed run, is
    /// harmless.
    fn append_messages<'a>(&'a self, run_id: &'a str, messages: &'a [StoredMessage]) -> StoreFuture<'a, ()>;

    /// The run changed state: add a row with `state` and what comes with it (`data`).
    fn set_state<'a>(
        &'a self,
        run_id: &'a str,
        state: RunState,
        data: Option<&'a serde_json::Value>,
    ) -> StoreFuture<'a, ()>;

    /// The history a new run of `session_id` continues: the last `runs` completed runs (all
    /// when `None`), oldest first, with their messages.
    fn history<'a>(&'a self, session_id: &'a str, runs: Option<usize>) -> StoreFuture<'a, Vec<StoredRun>>;

    /// One run, whatever its state.
    fn run<'a>(&'a self, run_id: &'a str) -> StoreFuture<'a, Option<StoredRun>>;

    /// Every run of a session, oldest first, whatever their state.
    fn runs<'a>(&'a self, session_id: &'a str) -> StoreFuture<'a, Vec<StoredRun>>;

    /// One session.
    fn session<'a>(&'a self, session_id: &'a str) -> StoreFuture<'a, Option<SessionInfo>>;

    /// Sessions, newest first (by their newest run), filtered and paged by `query`.
    fn sessions<'a>(&'a self, query: &'a SessionQuery) -> StoreFuture<'a, Page<SessionInfo>>;

    /// Name a session; false when there is no such session.
    fn rename_session<'a>(&'a self, session_id: &'a str, name: &'a str) -> StoreFuture<'a, bool>;

    /// Delete a session and all its runs; false when there is no such session.
    fn delete_session<'a>(&'a self, session_id: &'a str) -> StoreFuture<'a, bool>;

    /// Take or renew the **lease** of run `run_id` for `owner`, for `ttl` from now (by the
    /// store's clock: the database server's, so hosts with skewed clocks agree): granted (true)
    /// when the run has no lease, when its lease has expired, or when `owner` holds it already;
    /// refused (false) while another owner's lease is live.
    ///
    /// This is how several processes sharing a store agree on who runs a run: the process
    /// running it holds the lease and renews it (every third of `ttl`), so a run whose state is
    /// [`Running`](RunState::Running) and whose lease has expired was left by a process that is
    /// gone ([`interrupted_runs`](Self::interrupted_runs)); a live run on another instance is
    /// never taken over, because its lease is live. The lease is the one row a run rewrites: it
    /// coordinates, it is not part of the run's record. A run may be claimed before it is
    /// begun (so it is never seen running without a lease).
    ///
    /// The default grants every claim: a store without leases serves one process.
    fn claim_run<'a>(&'a self, run_id: &'a str, owner: &'a str, ttl: Duration) -> StoreFuture<'a, bool> {
        let _ = (run_id, owner, ttl);
        Box::pin(std::future::ready(Ok(true)))
    }

    /// Give up `owner`'s lease of `run_id` (a run that paused or ended): another process may
    /// claim it at once. Releasing a lease one does not hold does nothing.
    fn release_run<'a>(&'a self, run_id: &'a str, owner: &'a str) -> StoreFuture<'a, ()> {
        let _ = (run_id, owner);
        Box::pin(std::future::ready(Ok(())))
    }

    /// The ids of the session's **interrupted** runs, oldest first: runs whose newest state is
    /// [`Running`](RunState::Running) or [`Interrupted`](RunState::Interrupted) and whose lease
    /// has expired (or that have none). Each can be resumed with
    /// [`Agent::resume`](crate::Agent::resume).
    ///
    /// The default (a store without leases) lists every run of the session in those states.
    fn interrupted_runs<'a>(&'a self, session_id: &'a str) -> StoreFuture<'a, Vec<String>> {
        Box::pin(async move {
            Ok(self
                .runs(session_id)
                .await?
                .into_iter()
                .filter(|run| matches!(run.state, RunState::Running | RunState::Interrupted))
                .map(|run| run.record.run_id)
                .collect())
        })
    }
}

impl<S: SessionStore + ?Sized> SessionStore for std::sync::Arc<S> {
    fn begin_run<'a>(&'a self, run: &'a RunRecord) -> StoreFuture<'a, ()> {
        (**self).begin_run(run)
    }
    fn append_messages<'a>(&'a self, run_id: &'a str, messages: &'a [StoredMessage]) -> StoreFuture<'a, ()> {
        (**self).append_messages(run_id, messages)
    }
    fn set_state<'a>(
        &'a self,
        run_id: &'a str,
        state: RunState,
        data: Option<&'a serde_json::Value>,
    ) -> StoreFuture<'a, ()> {
        (**self).set_state(run_id, state, data)
    }
    fn history<'a>(&'a self, session_id: &'a str, runs: Option<usize>) -> StoreFuture<'a, Vec<StoredRun>> {
        (**self).history(session_id, runs)
    }
    fn run<'a>(&'a self, run_id: &'a str) -> StoreFuture<'a, Option<StoredRun>> {
        (**self).run(run_id)
    }
    fn runs<'a>(&'a self, session_id: &'a str) -> StoreFuture<'a, Vec<StoredRun>> {
        (**self).runs(session_id)
    }
    fn session<'a>(&'a self, session_id: &'a str) -> StoreFuture<'a, Option<SessionInfo>> {
        (**self).session(session_id)
    }
    fn sessions<'a>(&'a self, query: &'a SessionQuery) -> StoreFuture<'a, Page<SessionInfo>> {
        (**self).sessions(query)
    }
    fn rename_session<'a>(&'a self, session_id: &'a str, name: &'a str) -> StoreFuture<'a, bool> {
        (**self).rename_session(session_id, name)
    }
    fn delete_session<'a>(&'a self, session_id: &'a str) -> StoreFuture<'a, bool> {
        (**self).delete_session(session_id)
    }
    fn claim_run<'a>(&'a self, run_id: &'a str, owner: &'a str, ttl: Duration) -> StoreFuture<'a, bool> {
        (**self).claim_run(run_id, owner, ttl)
    }
    fn release_run<'a>(&'a self, run_id: &'a str, owner: &'a str) -> StoreFuture<'a, ()> {
        (**self).release_run(run_id, owner)
    }
    fn interrupted_runs<'a>(&'a self, session_id: &'a str) -> StoreFuture<'a, Vec<String>> {
        (**self).interrupted_runs(session_id)
    }
}

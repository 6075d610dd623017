//! [`MemoryStore`]: sessions in the process's memory, for tests and programs that keep nothing.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime};

use super::{
    Page, RunRecord, RunState, SessionInfo, SessionQuery, SessionStore, StoreFuture, StoredMessage, StoredRun,
};
use crate::error::{Error, Result};

/// A [`SessionStore`] in memory: gone when the process ends. Cheap to clone; clones share the
/// sessions.
#[derive(Debug, Clone, Default)]
pub struct MemoryStore {
    inner: Arc<Mutex<Sessions>>,
}

#[derive(Debug, Default)]
struct Sessions {
    /// Runs by id.
    runs: HashMap<String, Run>,
    /// Each session's run ids, in the order they began, and its name.
    sessions: HashMap<String, Session>,
    /// Orders runs (and so sessions) by when they began.
    next: u64,
    /// Run leases: owner and expiry, by run id.
    leases: HashMap<String, (String, Instant)>,
}

#[derive(Debug)]
struct Session {
    runs: Vec<String>,
    name: Option<String>,
}

#[derive(Debug)]
struct Run {
    record: RunRecord,
    order: u64,
    state: RunState,
    updated_at: SystemTime,
    data: Option<serde_json::Value>,
    messages: BTreeMap<u32, crate::model::Message>,
}

impl Run {
    fn stored(&self) -> StoredRun {
        StoredRun {
            record: self.record.clone(),
            state: self.state,
            updated_at: self.updated_at,
            data: self.data.clone(),
            messages: self.messages.values().cloned().collect(),
        }
    }
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> MutexGuard<'_, Sessions> {
        // A panic while holding the lock cannot leave the maps half-updated: each method
        // checks before it changes anything.
        self.inner.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn info(sessions: &Sessions, id: &str, session: &Session) -> Option<SessionInfo> {
        let first = sessions.runs.get(session.runs.first()?)?;
        let last = sessions.runs.get(session.runs.last()?)?;
        Some(SessionInfo {
            session_id: id.to_owned(),
            user_id: first.record.user_id.clone(),
            agent_id: first.record.agent_id.clone(),
            name: session.name.clone(),
            created_at: first.record.created_at,
            updated_at: last.record.created_at,
            runs: session.runs.len() as u64,
        })
    }
}

fn ready<'a, T: Send + 'a>(value: Result<T>) -> StoreFuture<'a, T> {
    Box::pin(std::future::ready(value))
}

impl SessionStore for MemoryStore {
    fn begin_run<'a>(&'a self, run: &'a RunRecord) -> StoreFuture<'a, ()> {
        let mut sessions = self.lock();
        if sessions.runs.contains_key(&run.run_id) {
            return ready(Err(Error::storage(format!("a run with id {:?} is already stored", run.run_id))));
        }
        sessions.next += 1;
        let order = sessions.next;
        sessions
            .sessions
            .entry(run.session_id.clone())
            .or_insert_with(|| Session { runs: Vec::new(), name: None })
            .runs
            .push(run.run_id.clone());
        let stored = Run {
            record: run.clone(),
            order,
            state: RunState::Running,
            updated_at: SystemTime::now(),
            data: None,
            messages: BTreeMap::new(),
        };
        sessions.runs.insert(run.run_id.clone(), stored);
        ready(Ok(()))
    }

    fn append_messages<'a>(&'a self, run_id: &'a str, messages: &'a [StoredMessage]) -> StoreFuture<'a, ()> {
        let mut sessions = self.lock();
        let Some(run) = sessions.runs.get_mut(run_id) else {
            return ready(Err(Error::storage(format!("no run with id {run_id:?} is stored"))));
        };
        for message in messages {
            run.messages.entry(message.seq).or_insert_with(|| message.message.clone());
        }
        ready(Ok(()))
    }

    fn set_state<'a>(
        &'a self,
        run_id: &'a str,
        state: RunState,
        data: Option<&'a serde_json::Value>,
    ) -> StoreFuture<'a, ()> {
        let mut sessions = self.lock();
        let Some(run) = sessions.runs.get_mut(run_id) else {
            return ready(Err(Error::storage(format!("no run with id {run_id:?} is stored"))));
        };
        run.state = state;
        run.data = data.cloned();
        run.updated_at = SystemTime::now();
        ready(Ok(()))
    }

    fn history<'a>(&'a self, session_id: &'a str, runs: Option<usize>) -> StoreFuture<'a, Vec<StoredRun>> {
        let sessions = self.lock();
        let Some(session) = sessions.sessions.get(session_id) else { return ready(Ok(Vec::new())) };
        let completed: Vec<&Run> = session
            .runs
            .iter()
            .filter_map(|id| sessions.runs.get(id))
            .filter(|run| run.state == RunState::Completed)
            .collect();
        let skip = runs.map_or(0, |n| completed.len().saturating_sub(n));
        ready(Ok(completed[skip..].iter().map(|run| run.stored()).collect()))
    }

    fn run<'a>(&'a self, run_id: &'a str) -> StoreFuture<'a, Option<StoredRun>> {
        ready(Ok(self.lock().runs.get(run_id).map(Run::stored)))
    }

    fn runs<'a>(&'a self, session_id: &'a str) -> StoreFuture<'a, Vec<StoredRun>> {
        let sessions = self.lock();
        let runs = sessions.sessions.get(session_id).map_or_else(Vec::new, |session| {
            session.runs.iter().filter_map(|id| sessions.runs.get(id)).map(Run::stored).collect()
        });
        ready(Ok(runs))
    }

    fn session<'a>(&'a self, session_id: &'a str) -> StoreFuture<'a, Option<SessionInfo>> {
        let sessions = self.lock();
        let info = sessions.sessions.get(session_id).and_then(|s| Self::info(&sessions, session_id, s));
        ready(Ok(info))
    }

    fn sessions<'a>(&'a self, query: &'a SessionQuery) -> StoreFuture<'a, Page<SessionInfo>> {
        let sessions = self.lock();
        let mut matching: Vec<(u64, SessionInfo)> = sessions
            .sessions
            .iter()
            .filter_map(|(id, session)| {
                let newest = sessions.runs.get(session.runs.last()?)?.order;
                Some((newest, Self::info(&sessions, id, session)?))
            })
            .filter(|(_, info)| query.user_id.is_none() || info.user_id == query.user_id)
            .filter(|(_, info)| query.agent_id.is_none() || info.agent_id == query.agent_id)
            .collect();
        matching.sort_by_key(|(order, _)| std::cmp::Reverse(*order));
        let total = matching.len() as u64;
        let items =
            matching.into_iter().skip(query.offset).take(query.page_size()).map(|(_, info)| info).collect();
        ready(Ok(Page { items, total }))
    }

    fn rename_session<'a>(&'a self, session_id: &'a str, name: &'a str) -> StoreFuture<'a, bool> {
        let mut sessions = self.lock();
        let found = sessions.sessions.get_mut(session_id).map(|s| s.name = Some(name.to_owned())).is_some();
        ready(Ok(found))
    }

    fn delete_session<'a>(&'a self, session_id: &'a str) -> StoreFuture<'a, bool> {
        let mut sessions = self.lock();
        let Some(session) = sessions.sessions.remove(session_id) else { return ready(Ok(false)) };
        for id in &session.runs {
            sessions.runs.remove(id);
            sessions.leases.remove(id);
        }
        ready(Ok(true))
    }

    fn claim_run<'a>(&'a self, run_id: &'a str, owner: &'a str, ttl: Duration) -> StoreFuture<'a, bool> {
        let mut sessions = self.lock();
        let now = Instant::now();
        let granted = match sessions.leases.get(run_id) {
            Some((holder, expires)) => holder == owner || *expires <= now,
            None => true,
        };
        if granted {
            sessions.leases.insert(run_id.to_owned(), (owner.to_owned(), now + ttl));
        }
        ready(Ok(granted))
    }

    fn release_run<'a>(&'a self, run_id: &'a str, owner: &'a str) -> StoreFuture<'a, ()> {
        let mut sessions = self.lock();
        if sessions.leases.get(run_id).is_some_and(|(holder, _)| holder == owner) {
            sessions.leases.remove(run_id);
        }
        ready(Ok(()))
    }

    fn interrupted_runs<'a>(&'a self, session_id: &'a str) -> StoreFuture<'a, Vec<String>> {
        let sessions = self.lock();
        let now = Instant::now();
        let ids = sessions.sessions.get(session_id).map_or_else(Vec::new, |session| {
            session
                .runs
                .iter()
                .filter(|id| {
                    sessions
                        .runs
                        .get(*id)
                        .is_some_and(|run| matches!(run.state, RunState::Running | RunState::Interrupted))
                        && sessions.leases.get(*id).is_none_or(|(_, expires)| *expires <= now)
                })
                .cloned()
                .collect()
        });
        ready(Ok(ids))
    }
}

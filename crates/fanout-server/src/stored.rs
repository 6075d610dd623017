//! Runs read back from the session store, the same way for every protocol: a served agent's
//! run (never another agent's), and the state a paused run is continued from.

use fanout::output::PausedRun;
use fanout::store::StoredRun;

use crate::State;
use crate::error::{ApiError, quote};

impl State {
    /// The stored run `run_id` of the agent served as `agent_id`; `None` when there is no such
    /// run, no store, or the run is another agent's.
    pub(crate) async fn stored_run(
        &self,
        agent_id: &str,
        run_id: &str,
    ) -> Result<Option<StoredRun>, ApiError> {
        let Some(store) = &self.store else { return Ok(None) };
        let run = store.run(run_id).await.map_err(|e| ApiError::storage(&e))?;
        Ok(run.filter(|run| self.owns(agent_id, run.record.agent_id.as_deref())))
    }

    /// Whether a run stored under agent name `stored` is the run of the agent served as
    /// `agent_id`. A run stored without a name is only the one unnamed agent's: with several,
    /// none of them may read or continue it.
    pub(crate) fn owns(&self, agent_id: &str, stored: Option<&str>) -> bool {
        match stored {
            Some(name) => self.served_id(Some(name)).is_some_and(|served| served == agent_id),
            None => {
                let mut unnamed = self.agents.iter().filter(|a| a.agent.name().is_none());
                matches!((unnamed.next(), unnamed.next()), (Some(only), None) if only.id == agent_id)
            }
        }
    }
}

/// The state a paused run was stored with, to continue it from (a 500 when it is unreadable:
/// the store holds something this version did not write).
pub(crate) fn paused_state(run: &StoredRun) -> Result<PausedRun, ApiError> {
    run.data.clone().and_then(|data| serde_json::from_value(data).ok()).ok_or_else(|| {
        ApiError::config(format!(
            "The stored state of paused run {} is unreadable",
            quote(&run.record.run_id)
        ))
    })
}

//! Agents that hand work to other agents: an agent used as a tool ([`Agent::as_tool`],
//! [`AgentTool`]) and a [`Team`] — a leader and its members — built on it.
//!
//! A sub-agent is a tool call: it runs in the executor beside the other calls of its turn, so
//! the members a leader calls in one turn work **at the same time**, on every API (`.await`,
//! [`stream`](crate::agent::RunRequest::stream), [`blocking`](crate::agent::RunRequest::blocking),
//! [`print_response`](crate::Agent::print_response)), and whatever applies to a tool call
//! applies to it. What the run that calls it shares with the sub-agent's run:
//!
//! - **One stream.** The sub-agent's events join the calling run's stream as they happen,
//!   between its own; every event's [`Origin`](crate::event::Origin) says which run it belongs
//!   to, the run and tool call that started that run, and the path of agents from the root
//!   (`["lead", "researcher"]`). [`RunEvent::is_nested`](crate::RunEvent::is_nested) tells a
//!   sub-agent's events from the streamed run's own; only the streamed run's own
//!   [`RunCompleted`](crate::EventKind::RunCompleted) ends the stream. `print_response` draws
//!   each member's tool calls, live, under the call that delegated to it.
//! - **Limits.** The call's timeout bounds the sub-agent's whole run; the calling agent's
//!   [`max_concurrency`](crate::AgentBuilder::max_concurrency) and shared
//!   [`concurrency_limit`](crate::AgentBuilder::concurrency_limit) bound the tool calls of the
//!   whole tree (calls that run sub-agents take no slot themselves, so members never wait for
//!   each other's slots); a sub-agent's run gets no more model turns or tool calls than the run
//!   above allows ([`max_turns`](crate::AgentBuilder::max_turns),
//!   [`tool_call_limit`](crate::AgentBuilder::tool_call_limit)); and the tree is at most
//!   [`max_depth`](crate::AgentBuilder::max_depth) levels deep.
//! - **Cancellation.** A sub-agent's run lives inside its call: cancelling the run above
//!   ([`cancel_on`](crate::agent::RunRequest::cancel_on), Ctrl-C in `print_response`, dropping
//!   it) or its call timing out stops the sub-agent and all of its own calls at once.
//! - **Failures stay local.** A sub-agent that fails, times out or ends without an answer is an
//!   error result for the model above; the other calls of the batch go on.
//! - **Confirmation.** A sub-agent whose tools need confirmation pauses; its call pauses with it
//!   ([`ToolCallPaused`](crate::EventKind::ToolCallPaused)) while the other calls finish, and the
//!   run above pauses at the end of the batch with every pending call of every sub-agent in
//!   [`RunStatus::Paused`](crate::RunStatus::Paused) — ids prefixed with the call that ran the
//!   sub-agent (`call_2/call_1_1`). One [`continue_run`](crate::Agent::continue_run) with the
//!   decisions resumes them all, each where it stopped.
//! - **Usage** rolls up: the run's [`Metrics::usage`](crate::Metrics::usage) counts its
//!   sub-agents' tokens, and [`Metrics::members`](crate::Metrics::members) lists each
//!   sub-agent run's own.
//! - **Storage.** When the run above is stored (a [`store`](crate::store) and a session), each
//!   sub-agent's run is stored in the same session, under its parent's run id
//!   ([`RunRecord::parent_run_id`](crate::store::RunRecord::parent_run_id)). A session's
//!   history is kept per agent: the team's next run continues the team's runs, a member's next
//!   run continues that member's earlier runs.
//! - **Traces.** The sub-agent's `invoke_agent` span is a child of the `execute_tool` span of
//!   the call that ran it.
//!
//! ```
//! use fanout::prelude::*;
//! use fanout::models::scripted::{ScriptedModel, Turn};
//! use fanout::team::{Team, TeamMode};
//!
//! # #[tokio::main] async fn main() -> fanout::Result<()> {
//! let researcher = |name: &str, finding: &str| {
//!     Agent::builder()
//!         .name(name)
//!         .description(format!("Researches the {name} of a city"))
//!         .model(ScriptedModel::new([Turn::text(finding)]))
//!         .build()
//! };
//! // The leader's model calls both members in one turn, then writes the answer.
//! let leader = ScriptedModel::new([
//!     Turn::call_every_tool(serde_json::json!({"task": "Research Rome"})),
//!     Turn::summarize_results(),
//! ]);
//! let team = Team::new(Agent::builder().name("lead").model(leader))
//!     .member(researcher("history", "Rome was founded in 753 BC.")?)
//!     .member(researcher("geography", "Rome lies on the Tiber.")?)
//!     .mode(TeamMode::Coordinate)
//!     .build()?;
//! let output = team.run("Tell me about Rome").await?;
//! assert!(output.content.contains("753 BC") && output.content.contains("Tiber"));
//! let members: Vec<_> = output.metrics.members.iter().map(|m| m.path.join("/")).collect();
//! assert_eq!(members.len(), 2);
//! assert!(members.contains(&"lead/history".to_owned()));
//! # Ok(()) }
//! ```

mod agent_tool;
mod broadcast;

use std::sync::Arc;

pub use agent_tool::AgentTool;

use crate::agent::{Agent, AgentBuilder};
use crate::error::{Error, Result};
use crate::tool::{Tool, ToolExt};

/// How a team's leader works with its members (Agno's modes of the same names).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum TeamMode {
    /// The leader hands tasks to the members it chooses — several at once when their work is
    /// independent — and writes the answer from their results. Each member is a tool of the
    /// leader ([`Agent::as_tool`]).
    #[default]
    Coordinate,
    /// The leader hands the request to the one member best suited to it, whose answer is the
    /// team's answer as it is (no further turn of the leader): each member is a tool marked
    /// [`respond_directly`](crate::tool::ToolExt::respond_directly).
    Route,
    /// Every member gets the user's message as its task at once — the leader's first turn
    /// calls them all without asking the model — and the leader writes the answer from their
    /// results.
    Broadcast,
}

/// A team: a leader agent and its members, built into one [`Agent`] — the leader, with its
/// members as tools — that runs, streams, prints, pauses and is stored like any other. A
/// team can be a member of another team.
///
/// See the [module](self) for what members share with the leader's run, and [`TeamMode`] for
/// how the leader uses them. For options on one member's tool (a timeout, confirmation before
/// it runs, a concurrency limit), give the leader its members as tools yourself:
/// `Agent::builder().tool(member.as_tool().timeout(..))` is a team in
/// [`Coordinate`](TeamMode::Coordinate) mode.
///
/// ```
/// use fanout::prelude::*;
/// use fanout::models::scripted::{ScriptedModel, Turn};
/// use fanout::team::{Team, TeamMode};
///
/// # #[tokio::main] async fn main() -> fanout::Result<()> {
/// let member = |name: &str, answer: &str| {
///     Agent::builder().name(name).model(ScriptedModel::new([Turn::text(answer)])).build()
/// };
/// // Route: the leader picks one member, whose answer is the team's.
/// let leader = ScriptedModel::new([Turn::call("billing", serde_json::json!({"task": "Refund order 42"}))]);
/// let support = Team::new(Agent::builder().name("support").model(leader))
///     .members([member("billing", "Order 42 is refunded.")?, member("tech", "Restart it.")?])
///     .mode(TeamMode::Route)
///     .build()?;
/// let output = support.run("I want my money back for order 42").await?;
/// assert_eq!(output.content, "Order 42 is refunded.");
/// assert!(output.is_completed());
/// # Ok(()) }
/// ```
#[derive(Debug)]
#[must_use = "a Team does nothing until it is built"]
pub struct Team {
    leader: AgentBuilder,
    members: Vec<Agent>,
    mode: TeamMode,
}

impl Team {
    /// A team led by the agent `leader` builds (its model, instructions, limits, store …; named
    /// `team` unless it has a name).
    pub fn new(leader: AgentBuilder) -> Self {
        Self { leader, members: Vec::new(), mode: TeamMode::default() }
    }

    /// Add a member. Members need distinct names: the leader calls each one by its name.
    pub fn member(mut self, member: Agent) -> Self {
        self.members.push(member);
        self
    }

    /// Add members.
    pub fn members(mut self, members: impl IntoIterator<Item = Agent>) -> Self {
        self.members.extend(members);
        self
    }

    /// How the leader works with the members (default [`TeamMode::Coordinate`]).
    pub fn mode(mut self, mode: TeamMode) -> Self {
        self.mode = mode;
        self
    }

    /// Build the team's agent. Fails without members, with a member that has no name, or
    /// where the leader's own build fails (no model, two tools of one name).
    pub fn build(self) -> Result<Agent> {
        if self.members.is_empty() {
            return Err(Error::config("the team has no members: add some with `.member(...)`"));
        }
        if let Some(position) = self.members.iter().position(|m| m.name().is_none()) {
            return Err(Error::config(format!(
                "team member {} has no name: give each member one (`.name(...)`), the leader calls it by it",
                position + 1
            )));
        }
        let tools: Vec<AgentTool> = self.members.iter().map(Agent::as_tool).collect();
        let names: Vec<String> = tools.iter().map(|t| t.definition().name.clone()).collect();
        let leader = self.leader.default_name("team");
        let leader = match self.mode {
            TeamMode::Coordinate => {
                tools.into_iter().fold(leader, |leader, tool| leader.tool(tool)).instructions(
                    "You lead a team of agents. Hand tasks to your team members by calling their tools: \
                 each takes a `task` with everything the member needs to know. Call several members \
                 at once when their work does not depend on each other, then write the answer from \
                 their results.",
                )
            }
            TeamMode::Route => tools
                .into_iter()
                .fold(leader, |leader, tool| leader.tool(tool.respond_directly()))
                .instructions(
                    "You lead a team of agents. Hand the user's request to the one team member best \
                     suited to answer it, by calling their tool with the request as the `task`; their \
                     answer goes to the user as it is.",
                ),
            TeamMode::Broadcast => tools
                .into_iter()
                .fold(leader, |leader, tool| leader.tool(tool))
                .wrap_model(|model| Arc::new(broadcast::Broadcast { model, members: names }))
                .instructions(
                    "You lead a team of agents. Every team member is given the user's request at \
                     once; write the answer from their results.",
                ),
        };
        leader.build()
    }
}

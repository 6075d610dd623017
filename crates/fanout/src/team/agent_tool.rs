//! [`AgentTool`]: an agent the model of another agent calls like any tool.

use std::sync::Arc;

use serde_json::Value;

use crate::agent::{Agent, delegate};
use crate::tool::{Invocation, Tool, ToolDefinition, ToolOptions, parameters_schema, parse_args};

/// An agent used as a tool by another agent: the model calls it with a task, the agent runs on
/// it — a sub-agent's run under the call — and its answer is the call's result. Made by
/// [`Agent::as_tool`].
///
/// It is a tool like any other: it runs in the executor beside the other calls of its turn
/// (several agents at once when the model calls several), and takes every tool option
/// ([`ToolExt`](crate::tool::ToolExt)): a timeout, a concurrency limit, confirmation before it
/// runs, and so on. Its run's events join the calling run's stream, tagged with where they
/// come from ([`Origin`](crate::event::Origin)); see the [`team`](crate::team) module for what
/// the sub-agent shares with the run that called it.
///
/// ```
/// use std::time::Duration;
/// use fanout::prelude::*;
/// use fanout::models::scripted::{ScriptedModel, Turn};
///
/// # #[tokio::main] async fn main() -> fanout::Result<()> {
/// let translator = Agent::builder()
///     .name("translator")
///     .description("Translates text into French")
///     .model(ScriptedModel::new([Turn::text("Bonjour")]))
///     .build()?;
/// let tool = translator.as_tool();
/// assert_eq!(tool.definition().name, "translator");
/// assert_eq!(tool.definition().description, "Translates text into French");
///
/// let model = ScriptedModel::new([
///     Turn::call("translator", serde_json::json!({"task": "Translate 'Hello'"})),
///     Turn::summarize_results(),
/// ]);
/// let writer = Agent::builder().model(model).tool(tool.timeout(Duration::from_secs(60))).build()?;
/// let output = writer.run("Say hello in French").await?;
/// assert_eq!(output.tool_executions[0].result.as_deref(), Ok("Bonjour"));
/// assert_eq!(output.metrics.members[0].agent.as_deref(), Some("translator"));
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct AgentTool {
    agent: Agent,
    definition: Arc<ToolDefinition>,
}

/// The argument of an agent's tool.
#[derive(serde::Deserialize, schemars::JsonSchema)]
struct Task {
    /// The task for the agent: everything it needs to know to do it, and what a good result
    /// looks like.
    task: String,
}

impl Agent {
    /// This agent as a tool for another agent's model (see [`AgentTool`]): named after the
    /// agent (characters a tool name cannot hold become `_`; an unnamed agent is `agent`),
    /// described by its [`description`](crate::AgentBuilder::description), called with a
    /// `task` text.
    pub fn as_tool(&self) -> AgentTool {
        let name = tool_name(self.name().unwrap_or("agent"));
        let description = match self.description() {
            Some(description) => description.to_owned(),
            None => format!("Hand a task to the agent `{name}`; its answer is the result."),
        };
        let definition = Arc::new(ToolDefinition {
            name,
            description,
            parameters: parameters_schema::<Task>(),
            strict: false,
        });
        AgentTool { agent: self.clone(), definition }
    }
}

impl AgentTool {
    /// The agent the tool runs.
    pub fn agent(&self) -> &Agent {
        &self.agent
    }
}

/// `name` as a tool name: letters, digits, `_` and `-`, at most 64 characters (what OpenAI
/// accepts; the other providers accept at least that).
pub(crate) fn tool_name(name: &str) -> String {
    let name: String = name
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() || c == '_' || c == '-' { c } else { '_' })
        .take(64)
        .collect();
    if name.is_empty() { "agent".to_owned() } else { name }
}

impl Tool for AgentTool {
    fn definition(&self) -> Arc<ToolDefinition> {
        Arc::clone(&self.definition)
    }

    fn invoke(self: Arc<Self>, args: Value) -> Invocation {
        match parse_args::<Task>(args) {
            Ok(Task { task }) => Invocation::future(async move { delegate(&self.agent, task).await }),
            Err(err) => Invocation::error(err),
        }
    }

    fn options(&self) -> ToolOptions {
        ToolOptions { delegates: true, ..ToolOptions::default() }
    }
}

#[cfg(test)]
mod tests {
    use super::tool_name;

    #[test]
    fn agent_names_become_valid_tool_names() {
        assert_eq!(tool_name("Research Team (EU)"), "Research_Team__EU_");
        assert_eq!(tool_name("researcher-1"), "researcher-1");
        assert_eq!(tool_name(""), "agent");
        assert_eq!(tool_name(&"x".repeat(100)).len(), 64);
    }
}

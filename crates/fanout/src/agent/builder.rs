//! [`AgentBuilder`]: configure an [`Agent`].

use std::sync::Arc;
use std::time::Duration;

use super::{Agent, Inner, Settings};
use crate::error::{Error, Result};
use crate::exec::{ExecLimits, Executor};
use crate::model::Model;
use crate::retry::RetryPolicy;
use crate::store::SessionStore;
use crate::tool::ConcurrencyLimit;
use crate::tool::{
    AgentTools, Hooks, IntoAgentTools, PostHook, PreHook, Tool, ToolCache, ToolSet, ToolSource,
};

/// The default cap on model turns per run: generous for real work, finite so a model that never
/// stops calling tools cannot loop forever.
pub const DEFAULT_MAX_TURNS: usize = 25;

/// The default limit on levels of sub-agents below a run (a team's members are one level, their
/// own members a second …): deep enough for any sensible tree, finite so that agents that call
/// each other cannot recurse forever.
pub const DEFAULT_MAX_DEPTH: usize = 5;

/// The default number of repair turns for a final answer that does not fit the output schema.
pub const DEFAULT_OUTPUT_REPAIRS: usize = 1;

/// How long a stored run's lease lasts unless [`AgentBuilder::run_lease`] says otherwise.
pub const DEFAULT_LEASE: Duration = Duration::from_secs(30);

/// Builds an [`Agent`]; start with [`Agent::builder`].
///
/// ```
/// use std::time::Duration;
/// use fanout::prelude::*;
/// use fanout::models::scripted::{ScriptedModel, Turn};
///
/// let agent = Agent::builder()
///     .model(ScriptedModel::new([Turn::text("hi")]))
///     .instructions("Answer in one sentence.")
///     .markdown(true)
///     .max_turns(5)
///     .tool_call_limit(20)
///     .tool_timeout(Duration::from_secs(30))
///     .max_concurrency(8)
///     .build()?;
/// assert!(agent.system_prompt().unwrap().contains("Use markdown"));
/// # Ok::<(), fanout::Error>(())
/// ```
#[derive(Debug)]
pub struct AgentBuilder {
    name: Option<String>,
    description: Option<String>,
    model: Option<Arc<dyn Model>>,
    trace_tool_content: bool,
    tools: Vec<Arc<dyn Tool>>,
    sources: Vec<Arc<dyn ToolSource>>,
    system_message: Option<String>,
    instructions: Vec<String>,
    limits: ExecLimits,
    hooks: Hooks,
    cache: Option<Arc<dyn ToolCache>>,
    shared_limit: Option<ConcurrencyLimit>,
    settings: Settings,
    conversation: Option<Box<super::Conversation>>,
}

impl Default for AgentBuilder {
    fn default() -> Self {
        Self {
            name: None,
            description: None,
            model: None,
            trace_tool_content: false,
            tools: Vec::new(),
            sources: Vec::new(),
            system_message: None,
            instructions: Vec::new(),
            limits: ExecLimits::default(),
            hooks: Hooks::default(),
            cache: None,
            shared_limit: None,
            settings: Settings {
                max_turns: DEFAULT_MAX_TURNS,
                tool_call_limit: None,
                parallel_tool_calls: None,
                eager_start: true,
                debug_mode: false,
                markdown: false,
                retry: RetryPolicy::default(),
                output_schema: None,
                output_repairs: DEFAULT_OUTPUT_REPAIRS,
                lease: DEFAULT_LEASE,
                max_depth: DEFAULT_MAX_DEPTH,
            },
            conversation: None,
        }
    }
}

impl AgentBuilder {
    /// The model (required).
    pub fn model(mut self, model: impl Model) -> Self {
        self.model = Some(Arc::new(model));
        self
    }

    /// Name the agent: its runs are traced as `invoke_agent {name}` (see the README's "Tracing").
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }

    /// Say what the agent does: the description of the tool it becomes when another agent uses
    /// it ([`Agent::as_tool`], a [`Team`](crate::team::Team)'s members), which that agent's
    /// model reads to decide what to hand it.
    pub fn description(mut self, description: impl Into<String>) -> Self {
        self.description = Some(description.into());
        self
    }

    /// At most `depth` levels of sub-agents below a run of this agent (default
    /// [`DEFAULT_MAX_DEPTH`]): a team's members are one level, their own members a second.
    /// A sub-agent's run keeps the smaller of its own limit and what its parent has left; a
    /// call beyond it is not run and the model is told why.
    pub fn max_depth(mut self, depth: usize) -> Self {
        self.settings.max_depth = depth;
        self
    }

    /// Record each tool call's arguments and result on its trace span
    /// (`gen_ai.tool.call.arguments` / `.result`, up to 16 KiB each). Off by default, as the
    /// OpenTelemetry GenAI conventions ask, since they may hold sensitive data; the env var
    /// `OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT=true` turns it on for every agent.
    pub fn trace_tool_content(mut self, capture: bool) -> Self {
        self.trace_tool_content = capture;
        self
    }

    /// Make the final answer a `T`: its JSON Schema goes to the model with every turn (natively
    /// where the provider supports it; tools stay usable), the answer is checked against `T`,
    /// and [`RunOutput::parse`](crate::RunOutput::parse) returns it. See
    /// [`structured`](crate::structured).
    ///
    /// ```
    /// use fanout::prelude::*;
    /// use fanout::models::scripted::{ScriptedModel, Turn};
    ///
    /// #[derive(serde::Deserialize, schemars::JsonSchema)]
    /// struct Verdict { approved: bool, reasons: Vec<String> }
    ///
    /// # #[tokio::main] async fn main() -> fanout::Result<()> {
    /// let model = ScriptedModel::new([Turn::text(r#"{"approved": true, "reasons": ["tests pass"]}"#)]);
    /// let agent = Agent::builder().model(model).output_schema::<Verdict>().build()?;
    /// let verdict: Verdict = agent.run("Review this change").await?.parse()?;
    /// assert!(verdict.approved);
    /// # Ok(()) }
    /// ```
    pub fn output_schema<T: schemars::JsonSchema + serde::de::DeserializeOwned>(mut self) -> Self {
        self.settings.output_schema = Some(Arc::new(crate::structured::OutputSchema::of::<T>()));
        self
    }

    /// How many repair turns a final answer that does not fit the output schema gets (default
    /// [`DEFAULT_OUTPUT_REPAIRS`]): the model is told what is wrong and answers again. After
    /// them the run fails with [`ErrorKind::InvalidOutput`](crate::error::ErrorKind::InvalidOutput).
    pub fn output_repairs(mut self, repairs: usize) -> Self {
        self.settings.output_repairs = repairs;
        self
    }

    /// Keep conversations in `store`: a run of a [session](crate::agent::RunRequest::session)
    /// continues its completed runs and is stored as it goes (see [`store`](crate::store)).
    /// Runs without a session get a new one each.
    pub fn store(mut self, store: impl SessionStore) -> Self {
        self.conversation.get_or_insert_default().store = Some(Arc::new(store));
        self
    }

    /// How long a stored run's lease lasts (default 30 s): the process running a run renews it
    /// every third of this, and a run left [running](crate::store::RunState::Running) whose
    /// lease has expired counts as interrupted, ready to [resume](crate::Agent::resume) (see
    /// [`SessionStore::claim_run`]). Shorter: an interrupted run is found sooner; longer: a
    /// process that stalls (a long GC-like pause, a frozen VM) keeps its runs. A run whose
    /// lease another process took over stops, and stores nothing more.
    pub fn run_lease(mut self, ttl: Duration) -> Self {
        self.settings.lease = ttl.max(Duration::from_millis(30));
        self
    }

    /// Send at most the last `runs` runs of history (default: all).
    pub fn history_runs(mut self, runs: usize) -> Self {
        self.conversation.get_or_insert_default().limits.runs = Some(runs);
        self
    }

    /// Send at most about `messages` messages of history, cut where a run begins (default: all;
    /// see [`HistoryLimits`](crate::history::HistoryLimits)).
    pub fn history_messages(mut self, messages: usize) -> Self {
        self.conversation.get_or_insert_default().limits.messages = Some(messages);
        self
    }

    /// Send at most about `tokens` tokens of history (four characters a token), cut where a run
    /// begins (default: all).
    pub fn history_tokens(mut self, tokens: usize) -> Self {
        self.conversation.get_or_insert_default().limits.tokens = Some(tokens);
        self
    }

    /// Add one tool: a `#[tool]` function by name, a [`FunctionTool`](crate::tool::FunctionTool), …
    pub fn tool(mut self, tool: impl Tool) -> Self {
        self.tools.push(Arc::new(tool));
        self
    }

    /// Add tools: `tools![atask1, atask2]`, a [`Toolkit`](crate::tool::Toolkit), an MCP
    /// server's tools (`fanout::mcp::MCPTools`, feature `mcp`), any
    /// [`ToolSource`](crate::tool::ToolSource), …
    pub fn tools(mut self, tools: impl IntoAgentTools) -> Self {
        match tools.into_agent_tools() {
            AgentTools::Fixed(tools) => self.tools.extend(tools),
            AgentTools::Source(source) => self.sources.push(source),
        }
        self
    }

    /// Replace the whole system prompt with `message` (instructions and the markdown hint are
    /// then not added).
    pub fn system_message(mut self, message: impl Into<String>) -> Self {
        self.system_message = Some(message.into());
        self
    }

    /// Add an instruction to the system prompt; call it several times for several.
    pub fn instructions(mut self, instruction: impl Into<String>) -> Self {
        self.instructions.push(instruction.into());
        self
    }

    /// Ask the model to answer in markdown (adds an instruction, like Agno's `markdown=True`).
    pub fn markdown(mut self, markdown: bool) -> Self {
        self.settings.markdown = markdown;
        self
    }

    /// Log each request, response and timing at debug level.
    pub fn debug_mode(mut self, debug: bool) -> Self {
        self.settings.debug_mode = debug;
        self
    }

    /// At most `turns` model turns per run (default [`DEFAULT_MAX_TURNS`]). Sub-agents run by
    /// this agent's runs (team members) get no more turns per run than this either.
    pub fn max_turns(mut self, turns: usize) -> Self {
        self.settings.max_turns = turns.max(1);
        self
    }

    /// At most `limit` tool calls per run; when reached, the run ends with
    /// [`RunStatus::ToolCallLimitReached`](crate::RunStatus::ToolCallLimitReached). Sub-agents
    /// run by this agent's runs get no higher limit per run than this either.
    pub fn tool_call_limit(mut self, limit: usize) -> Self {
        self.settings.tool_call_limit = Some(limit);
        self
    }

    /// Timeout for tools that have none of their own — sub-agents used as tools included: a
    /// member that does not finish in time is cancelled, its own tool calls with it.
    pub fn tool_timeout(mut self, timeout: Duration) -> Self {
        self.limits.default_timeout = Some(timeout);
        self
    }

    /// At most `n` tool calls run at the same time (per run). The limit holds for the whole tree
    /// below the run: the tool calls of the sub-agents it runs (team members) take its slots
    /// too, while the calls that run sub-agents take none themselves — so a team with
    /// `max_concurrency(2)` runs all its members at once, and at most two of their tool calls.
    pub fn max_concurrency(mut self, n: usize) -> Self {
        self.limits.max_concurrency = Some(n);
        self
    }

    /// At most `n` calls of one model turn are run; the others get a "not run" result.
    pub fn max_calls_per_turn(mut self, n: usize) -> Self {
        self.limits.max_calls_per_turn = Some(n);
        self
    }

    /// Hold a slot of `limit` for every tool call of every run of this agent, on top of
    /// [`max_concurrency`](Self::max_concurrency) (and, like it, by the tool calls of the
    /// sub-agents the runs start); share the limit with other agents to cap
    /// their calls together (see [`ConcurrencyLimit`]).
    pub fn concurrency_limit(mut self, limit: ConcurrencyLimit) -> Self {
        self.shared_limit = Some(limit);
        self
    }

    /// Send `parallel_tool_calls` to the provider (left to the provider's default otherwise).
    pub fn parallel_tool_calls(mut self, parallel: bool) -> Self {
        self.settings.parallel_tool_calls = Some(parallel);
        self
    }

    /// How failed model turns are retried (2 retries with backoff by default; see
    /// [`RetryPolicy`]). Each retry is reported as a [`EventKind::ModelRetry`](crate::EventKind::ModelRetry).
    pub fn retry_policy(mut self, policy: RetryPolicy) -> Self {
        self.settings.retry = policy;
        self
    }

    /// Start each tool call as soon as its arguments have streamed in (default on).
    pub fn eager_start(mut self, eager: bool) -> Self {
        self.settings.eager_start = eager;
        self
    }

    /// Run `hook` before every tool call (before the tool's own pre-hook).
    pub fn pre_hook(mut self, hook: PreHook) -> Self {
        self.hooks.pre.push(hook);
        self
    }

    /// Run `hook` after every tool call (after the tool's own post-hook).
    pub fn post_hook(mut self, hook: PostHook) -> Self {
        self.hooks.post.push(hook);
        self
    }

    /// Where tools with a `cache_ttl` keep their results (in memory by default, shared by
    /// all runs of the agent).
    pub fn tool_cache(mut self, cache: Arc<dyn ToolCache>) -> Self {
        self.cache = Some(cache);
        self
    }

    /// Name the agent `name` unless it has a name already.
    pub(crate) fn default_name(mut self, name: &str) -> Self {
        self.name.get_or_insert_with(|| name.to_owned());
        self
    }

    /// Replace the model with what `wrap` makes of it (nothing happens without a model).
    pub(crate) fn wrap_model(mut self, wrap: impl FnOnce(Arc<dyn Model>) -> Arc<dyn Model>) -> Self {
        self.model = self.model.map(wrap);
        self
    }

    /// Build the agent. Fails without a model or when two tools share a name.
    pub fn build(self) -> Result<Agent> {
        let model =
            self.model.ok_or(Error::config("the agent has no model: call `.model(...)` on the builder"))?;
        let lists: Vec<_> = self.sources.iter().map(|source| source.tools()).collect();
        let versions = lists.iter().map(|list| list.version).collect();
        let listed = lists.into_iter().flat_map(|list| list.tools);
        let tools = ToolSet::new(self.tools.iter().cloned().chain(listed))?;
        let system_prompt = self.system_message.or_else(|| {
            let mut lines: Vec<String> = self.instructions;
            lines.extend(tools.instructions().map(str::to_owned));
            if self.settings.markdown {
                lines.push("Use markdown to format your answers.".to_owned());
            }
            match lines.len() {
                0 => None,
                1 => lines.pop(),
                _ => Some(lines.iter().map(|l| format!("- {l}")).collect::<Vec<_>>().join("\n")),
            }
        });
        #[cfg(feature = "terminal")]
        if self.settings.debug_mode {
            crate::log::enable_debug();
        }
        let mut executor = Executor::new(Arc::new(tools), self.limits)
            .with_hooks(self.hooks)
            .with_content_capture(self.trace_tool_content);
        if let Some(limit) = self.shared_limit {
            executor = executor.with_concurrency_limit(limit);
        }
        if let Some(cache) = self.cache {
            executor = executor.with_cache(cache);
        }
        let sources = (!self.sources.is_empty()).then(|| {
            Box::new(super::sources::Sources::new(self.tools, self.sources, versions, executor.clone()))
        });
        Ok(Agent {
            inner: Arc::new(Inner {
                name: self.name,
                description: self.description,
                model,
                executor,
                sources,
                system_prompt,
                settings: self.settings,
                conversation: self.conversation,
            }),
        })
    }
}

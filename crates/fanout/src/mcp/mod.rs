//! MCP tools: any [Model Context Protocol](https://modelcontextprotocol.io) server's tools,
//! beside an agent's own (feature `mcp`, on the `rmcp` crate).
//!
//! [`MCPTools`] connects to one server, over stdio (it spawns the server) or streamable HTTP,
//! lists its tools (every page, the server's JSON schemas passed through) and hands them to an
//! agent with [`AgentBuilder::tools`](crate::AgentBuilder::tools). Then:
//!
//! - the calls of one model turn are all in flight at once over the one session;
//! - a call that outlives the agent's tool timeout ends with a timeout error, and the server
//!   gets `notifications/cancelled`;
//! - the server's `notifications/progress` become
//!   [`EventKind::ToolCallProgress`](crate::EventKind::ToolCallProgress) events;
//! - `notifications/tools/list_changed` re-lists the tools before the next model turn;
//! - a server that crashes fails the calls in flight (their siblings go on); the next turn
//!   reconnects (respawns over stdio, a new session over HTTP);
//! - dropping the agent (and every `MCPTools` clone) ends the session and kills a stdio server.
//!
//! Several servers: pass each to [`AgentBuilder::tools`](crate::AgentBuilder::tools), or connect
//! them at once with [`MultiMCPTools`]; [`McpServer::prefix`], [`McpServer::include`] and
//! [`McpServer::exclude`] keep their names apart.
//!
//! Results: text as text, structured content as JSON, images, audio and binary resources as a
//! one-line summary (type and size, never base64), `isError: true` as an error result.
//!
//! ```no_run
//! use fanout::prelude::*;
//! use fanout::mcp::{MCPTools, McpServer};
//! use fanout::models::scripted::{ScriptedModel, Turn};
//!
//! # #[tokio::main] async fn main() -> fanout::Result<()> {
//! let everything = MCPTools::stdio("npx", ["-y", "@modelcontextprotocol/server-everything"]).await?;
//! let time = McpServer::stdio("uvx", ["mcp-server-time"]).prefix("time_").connect().await?;
//! let agent = Agent::builder()
//!     .model(ScriptedModel::new([Turn::call("echo", serde_json::json!({"message": "hi"})), Turn::summarize_results()]))
//!     .tools(everything)
//!     .tools(time)
//!     .tool_timeout(std::time::Duration::from_secs(30))
//!     .build()?;
//! agent.print_response("Say hi through the echo tool").await?;
//! # Ok(()) }
//! ```

mod result;
mod session;
mod tool;

use std::collections::HashMap;
use std::ffi::OsString;
use std::fmt;
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::{Arc, PoisonError, RwLock};
use std::time::Duration;

use futures::future::BoxFuture;
use reqwest013::header::{HeaderName, HeaderValue};
use serde_json::Value;

use crate::error::{Error, Result};
use crate::tool::{AgentTools, IntoAgentTools, Tool, ToolDefinition, ToolList, ToolSource};
use session::Session;
use tool::McpTool;

/// How to reach an MCP server, and which of its tools to take. Finish with
/// [`connect`](McpServer::connect).
#[derive(Clone)]
pub struct McpServer {
    name: String,
    endpoint: Endpoint,
    prefix: String,
    include: Option<Vec<String>>,
    exclude: Vec<String>,
    connect_timeout: Duration,
    call_timeout: Duration,
    /// A header that did not parse, reported by `connect`.
    invalid: Option<String>,
}

#[derive(Clone)]
enum Endpoint {
    Stdio { program: OsString, args: Vec<OsString>, env: Vec<(OsString, OsString)>, cwd: Option<PathBuf> },
    Http { url: String, headers: HashMap<HeaderName, HeaderValue> },
}

impl fmt::Debug for McpServer {
    /// Header values (credentials) and environment values are never shown.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut s = f.debug_struct("McpServer");
        s.field("name", &self.name);
        match &self.endpoint {
            Endpoint::Stdio { program, args, env, cwd } => s
                .field("program", program)
                .field("args", args)
                .field("env", &env.iter().map(|(k, _)| k).collect::<Vec<_>>())
                .field("cwd", cwd),
            Endpoint::Http { url, headers } => {
                s.field("url", url).field("headers", &headers.keys().collect::<Vec<_>>())
            }
        };
        s.field("prefix", &self.prefix)
            .field("include", &self.include)
            .field("exclude", &self.exclude)
            .finish()
    }
}

/// How long connecting (spawn or dial, then the MCP handshake) may take by default.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(30);

/// The longest a call may take by default, even when the agent has no tool timeout: a server
/// that never answers must not hang the run.
pub const DEFAULT_CALL_TIMEOUT: Duration = Duration::from_secs(300);

impl McpServer {
    /// A server run as a child process speaking MCP on its stdin and stdout (its stderr is
    /// passed through). Named after the program's file name.
    pub fn stdio<S: Into<OsString>>(program: impl Into<OsString>, args: impl IntoIterator<Item = S>) -> Self {
        let program = program.into();
        let name = PathBuf::from(&program)
            .file_name()
            .map_or_else(|| "mcp".into(), |n| n.to_string_lossy().into_owned());
        let args = args.into_iter().map(Into::into).collect();
        Self::new(name, Endpoint::Stdio { program, args, env: Vec::new(), cwd: None })
    }

    /// A server at a streamable-HTTP endpoint such as `https://example.com/mcp`. Named after
    /// its host.
    pub fn http(url: impl Into<String>) -> Self {
        let url = url.into();
        let host =
            url.split("://").nth(1).and_then(|rest| rest.split(['/', ':', '?']).next()).unwrap_or("mcp");
        Self::new(host.to_owned(), Endpoint::Http { url, headers: HashMap::new() })
    }

    fn new(name: String, endpoint: Endpoint) -> Self {
        Self {
            name,
            endpoint,
            prefix: String::new(),
            include: None,
            exclude: Vec::new(),
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            call_timeout: DEFAULT_CALL_TIMEOUT,
            invalid: None,
        }
    }

    /// The name used in errors and logs.
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = name.into();
        self
    }

    /// Set an environment variable of the server process (stdio only; it inherits the rest).
    pub fn env(mut self, key: impl Into<OsString>, value: impl Into<OsString>) -> Self {
        if let Endpoint::Stdio { env, .. } = &mut self.endpoint {
            env.push((key.into(), value.into()));
        }
        self
    }

    /// The server process's working directory (stdio only).
    pub fn current_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        if let Endpoint::Stdio { cwd, .. } = &mut self.endpoint {
            *cwd = Some(dir.into());
        }
        self
    }

    /// Send a header with every request (HTTP only), e.g. `Authorization: Bearer …`.
    pub fn header(mut self, name: &str, value: &str) -> Self {
        if let Endpoint::Http { headers, .. } = &mut self.endpoint {
            match (HeaderName::from_bytes(name.as_bytes()), HeaderValue::from_str(value)) {
                (Ok(name), Ok(mut value)) => {
                    value.set_sensitive(true);
                    headers.insert(name, value);
                }
                _ => self.invalid = Some(name.to_owned()),
            }
        }
        self
    }

    /// Send `Authorization: Bearer {token}` (HTTP only).
    pub fn bearer_auth(self, token: &str) -> Self {
        self.header("authorization", &format!("Bearer {token}"))
    }

    /// Put `prefix` before every tool name the model sees (`time_` makes `time_get_current_time`),
    /// to keep several servers' tools apart.
    pub fn prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = prefix.into();
        self
    }

    /// Take only these tools (by the server's names).
    pub fn include<S: Into<String>>(mut self, names: impl IntoIterator<Item = S>) -> Self {
        self.include = Some(names.into_iter().map(Into::into).collect());
        self
    }

    /// Leave out these tools (by the server's names).
    pub fn exclude<S: Into<String>>(mut self, names: impl IntoIterator<Item = S>) -> Self {
        self.exclude.extend(names.into_iter().map(Into::into));
        self
    }

    /// How long connecting may take (default [`DEFAULT_CONNECT_TIMEOUT`]).
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// The longest one call may take (default [`DEFAULT_CALL_TIMEOUT`]); the agent's
    /// [`tool_timeout`](crate::AgentBuilder::tool_timeout), when shorter, ends it sooner. Either
    /// way the call ends with a timeout error and the server gets `notifications/cancelled`.
    pub fn call_timeout(mut self, timeout: Duration) -> Self {
        self.call_timeout = timeout;
        self
    }

    /// Connect, complete the MCP handshake and list the tools.
    ///
    /// Fails when the server cannot be reached, or when a tool's input schema is one a model
    /// API would reject (not an object schema); the error names the tool, which
    /// [`exclude`](McpServer::exclude) can leave out.
    pub async fn connect(self) -> Result<MCPTools> {
        if let Some(header) = &self.invalid {
            return Err(Error::config(format!("MCP server `{}`: invalid header `{header}`", self.name)));
        }
        let session = Session::connect(self).await?;
        let tools = list(&session).await?;
        session.notices.list_changed.store(false, Ordering::Release);
        let list = RwLock::new(ToolList { version: 0, tools });
        Ok(MCPTools { inner: Arc::new(Inner { session, list, refreshing: tokio::sync::Mutex::new(()) }) })
    }

    fn wants(&self, name: &str) -> bool {
        self.include.as_ref().is_none_or(|names| names.iter().any(|n| n == name))
            && !self.exclude.iter().any(|n| n == name)
    }
}

/// The tools of one MCP server, for [`AgentBuilder::tools`](crate::AgentBuilder::tools).
///
/// Cheap to clone: clones share the session. The list is re-read before each model turn after
/// the server announced a change, and after a reconnect.
#[derive(Debug, Clone)]
pub struct MCPTools {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    session: Arc<Session>,
    list: RwLock<ToolList>,
    /// One refresh at a time: concurrent runs of an agent must not respawn a server twice.
    refreshing: tokio::sync::Mutex<()>,
}

impl MCPTools {
    /// Spawn `program` with `args` and connect over its stdio (see [`McpServer::stdio`] for
    /// environment, working directory, prefix and filters).
    pub async fn stdio<S: Into<OsString>>(
        program: impl Into<OsString>,
        args: impl IntoIterator<Item = S>,
    ) -> Result<Self> {
        McpServer::stdio(program, args).connect().await
    }

    /// Connect to a streamable-HTTP server (see [`McpServer::http`] for headers and the rest).
    pub async fn http(url: impl Into<String>) -> Result<Self> {
        McpServer::http(url).connect().await
    }

    /// The definitions of the tools as the model sees them now.
    pub fn definitions(&self) -> Vec<Arc<ToolDefinition>> {
        self.inner.current().tools.iter().map(|tool| tool.definition()).collect()
    }

    /// The server's name, as used in errors.
    pub fn server_name(&self) -> &str {
        &self.inner.session.server.name
    }
}

impl Inner {
    fn current(&self) -> ToolList {
        self.list.read().unwrap_or_else(PoisonError::into_inner).clone()
    }
}

impl ToolSource for MCPTools {
    fn tools(&self) -> ToolList {
        self.inner.current()
    }

    fn refresh(&self) -> BoxFuture<'_, ()> {
        Box::pin(async move {
            let session = &self.inner.session;
            let _one_at_a_time = self.inner.refreshing.lock().await;
            session.probe().await;
            if session.is_down()
                && let Err(err) = session.reconnect().await
            {
                return tracing::warn!("{err}");
            }
            if !session.notices.list_changed.swap(false, Ordering::AcqRel) {
                return;
            }
            match list(session).await {
                Ok(tools) => {
                    let mut list = self.inner.list.write().unwrap_or_else(PoisonError::into_inner);
                    let same = list.tools.len() == tools.len()
                        && list.tools.iter().zip(&tools).all(|(a, b)| a.definition() == b.definition());
                    if !same {
                        *list = ToolList { version: list.version + 1, tools };
                    }
                }
                Err(err) => {
                    // Try again before the next turn.
                    session.notices.list_changed.store(true, Ordering::Release);
                    tracing::warn!("{err}");
                }
            }
        })
    }
}

impl IntoAgentTools for MCPTools {
    fn into_agent_tools(self) -> AgentTools {
        AgentTools::Source(Arc::new(self))
    }
}

/// Several servers' tools as one [`ToolSource`], connected concurrently (like Agno's
/// `MultiMCPTools`); the same as passing each [`MCPTools`] to the agent in turn.
///
/// ```no_run
/// use fanout::mcp::{McpServer, MultiMCPTools};
///
/// # async fn f() -> fanout::Result<()> {
/// let servers = MultiMCPTools::connect([
///     McpServer::stdio("uvx", ["mcp-server-time"]).prefix("time_"),
///     McpServer::http("http://127.0.0.1:3001/mcp").prefix("everything_"),
/// ])
/// .await?;
/// # let _ = servers; Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct MultiMCPTools {
    servers: Vec<MCPTools>,
}

impl MultiMCPTools {
    /// Connect to every server at once; fails (and drops the others) if any fails.
    pub async fn connect(servers: impl IntoIterator<Item = McpServer>) -> Result<Self> {
        let servers = futures::future::try_join_all(servers.into_iter().map(McpServer::connect)).await?;
        Ok(Self { servers })
    }

    /// The servers, in the order given.
    pub fn servers(&self) -> &[MCPTools] {
        &self.servers
    }
}

impl ToolSource for MultiMCPTools {
    fn tools(&self) -> ToolList {
        let lists: Vec<ToolList> = self.servers.iter().map(ToolSource::tools).collect();
        // Each server's version only grows, so the sum changes whenever one of them does.
        let version = lists.iter().map(|list| list.version).sum();
        ToolList { version, tools: lists.into_iter().flat_map(|list| list.tools).collect() }
    }

    fn refresh(&self) -> BoxFuture<'_, ()> {
        Box::pin(async move {
            futures::future::join_all(self.servers.iter().map(ToolSource::refresh)).await;
        })
    }
}

impl IntoAgentTools for MultiMCPTools {
    fn into_agent_tools(self) -> AgentTools {
        AgentTools::Source(Arc::new(self))
    }
}

/// Every page of `tools/list`, filtered, prefixed and checked.
async fn list(session: &Arc<Session>) -> Result<Vec<Arc<dyn Tool>>> {
    let server = &session.server;
    let listed = session.connection()?.peer.list_all_tools().await.map_err(|e| {
        Error::invalid_response("MCP", format!("MCP server `{}`: tools/list failed: {e}", server.name))
    })?;
    let mut tools: Vec<Arc<dyn Tool>> = Vec::with_capacity(listed.len());
    for remote in listed.into_iter().filter(|tool| server.wants(&tool.name)) {
        let parameters = Value::Object((*remote.input_schema).clone());
        check_schema(&server.name, &remote.name, &parameters)?;
        let definition = ToolDefinition {
            name: format!("{}{}", server.prefix, remote.name),
            description: remote
                .description
                .as_deref()
                .or(remote.title.as_deref())
                .unwrap_or_default()
                .to_owned(),
            parameters,
            strict: false,
        };
        tools.push(Arc::new(McpTool {
            session: Arc::clone(session),
            remote_name: remote.name.into_owned(),
            definition: Arc::new(definition),
        }));
    }
    Ok(tools)
}

/// Model APIs take a plain object schema for a tool's arguments: `"type": "object"`, no
/// alternatives (`anyOf`, `oneOf`, …) at the top level, `properties` an object.
fn check_schema(server: &str, tool: &str, schema: &Value) -> Result<()> {
    let problem = match schema.get("type") {
        Some(Value::String(kind)) if kind == "object" => {
            let top =
                ["anyOf", "oneOf", "allOf", "enum", "not"].into_iter().find(|key| schema.get(key).is_some());
            match (top, schema.get("properties")) {
                (Some(key), _) => Some(format!("has `{key}` at the top level")),
                (None, Some(properties)) if !properties.is_object() => {
                    Some("has `properties` that is not an object".into())
                }
                _ => None,
            }
        }
        other => Some(format!("is of type {}", other.map_or_else(|| "(none)".to_owned(), Value::to_string))),
    };
    match problem {
        None => Ok(()),
        Some(problem) => Err(Error::config(format!(
            "MCP server `{server}`: the input schema of the tool `{tool}` {problem}, which model APIs reject (they \
             take a plain `\"type\": \"object\"` schema); leave the tool out with `.exclude([\"{tool}\"])`"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn only_object_schemas_pass() {
        assert!(check_schema("s", "ok", &json!({"type": "object", "properties": {}})).is_ok());
        let err = check_schema("s", "bad", &json!({"type": "string"})).unwrap_err().to_string();
        assert!(err.contains("`bad`") && err.contains("\"string\"") && err.contains("exclude"), "{err}");
        assert!(check_schema("s", "none", &json!({})).is_err());
        let err = check_schema("s", "alt", &json!({"type": "object", "anyOf": []})).unwrap_err().to_string();
        assert!(err.contains("`anyOf` at the top level"), "{err}");
        assert!(check_schema("s", "p", &json!({"type": "object", "properties": []})).is_err());
    }

    #[test]
    fn debug_hides_credentials_and_environment_values() {
        let server = McpServer::http("https://mcp.example.com/mcp").bearer_auth("sk-secret");
        let debug = format!("{server:?}");
        assert!(debug.contains("authorization") && !debug.contains("sk-secret"), "{debug}");
        assert!(debug.contains("mcp.example.com"));
        let server = McpServer::stdio("server", ["--flag"]).env("API_KEY", "sk-env-secret");
        let debug = format!("{server:?}");
        assert!(debug.contains("API_KEY") && !debug.contains("sk-env-secret"), "{debug}");
    }

    #[test]
    fn include_and_exclude() {
        let server = McpServer::stdio("s", Vec::<String>::new()).include(["a", "b"]).exclude(["b"]);
        assert!(server.wants("a") && !server.wants("b") && !server.wants("c"));
    }
}

//! One tool of an MCP server, callable like any other: each call is its own `tools/call`
//! request on the shared session, so the calls of a turn are all in flight at once.

use std::sync::Arc;

use rmcp::RoleClient;
use rmcp::model::{
    CallToolRequest, CallToolRequestParams, CancelledNotification, CancelledNotificationParam, ClientRequest,
    RequestId, ServerResult,
};
use rmcp::service::{Peer, PeerRequestOptions, ServiceError};
use serde_json::Value;

use super::result::to_tool_result;
use super::session::{Connection, Session};
use crate::tool::{Invocation, ProgressReporter, Tool, ToolDefinition, ToolError, ToolResult};

/// A server tool under the name the model sees (with the prefix, if any).
pub(super) struct McpTool {
    pub(super) session: Arc<Session>,
    /// The server's own name for it.
    pub(super) remote_name: String,
    pub(super) definition: Arc<ToolDefinition>,
}

impl std::fmt::Debug for McpTool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("McpTool")
            .field("server", &self.session.server.name)
            .field("name", &self.remote_name)
            .finish()
    }
}

impl Tool for McpTool {
    fn definition(&self) -> Arc<ToolDefinition> {
        Arc::clone(&self.definition)
    }

    fn invoke(self: Arc<Self>, args: Value) -> Invocation {
        let Value::Object(arguments) = args else {
            return Invocation::error(ToolError::InvalidArguments(
                "the arguments must be a JSON object".into(),
            ));
        };
        // Taken here, inside the executor's task: the notification handler runs elsewhere.
        let reporter = ProgressReporter::current();
        Invocation::future(async move {
            let limit = self.session.server.call_timeout;
            // Dropping the call on timeout cancels it on the server (see `CancelOnDrop`).
            tokio::time::timeout(limit, self.call(arguments, reporter))
                .await
                .unwrap_or(Err(ToolError::TimedOut(limit)))
        })
    }
}

impl McpTool {
    async fn call(
        &self,
        arguments: serde_json::Map<String, Value>,
        reporter: Option<ProgressReporter>,
    ) -> ToolResult {
        let server = &self.session.server.name;
        let connection = self.session.connection().map_err(|e| ToolError::Failed(e.to_string()))?;
        let peer = connection.peer.clone();
        let params = CallToolRequestParams::new(self.remote_name.clone()).with_arguments(arguments);
        let request = ClientRequest::CallToolRequest(CallToolRequest::new(params));
        let handle = peer
            .send_request_with_option(request, PeerRequestOptions::no_options())
            .await
            .map_err(|e| failure(&connection, server, &e))?;
        // Registered once the request is queued: its progress cannot arrive before the server
        // has read it, a round trip later.
        let _route =
            reporter.map(|reporter| self.session.notices.route(handle.progress_token.clone(), reporter));
        // A timeout (the agent's or the server's call timeout) or an aborted run drops this
        // future; the guard then tells the server.
        let mut guard = CancelOnDrop {
            peer: Some(peer),
            id: handle.id.clone(),
            suspect: Arc::clone(&connection.suspect),
        };
        let response = handle.await_response().await;
        guard.peer = None;
        match response.map_err(|e| failure(&connection, server, &e))? {
            ServerResult::CallToolResult(result) => to_tool_result(result),
            _ => Err(ToolError::Failed(format!(
                "the MCP server `{server}` sent an unexpected reply to tools/call"
            ))),
        }
    }
}

fn failure(connection: &Connection, server: &str, err: &ServiceError) -> ToolError {
    match err {
        ServiceError::TransportClosed | ServiceError::TransportSend(_) => {
            connection.mark_broken();
            ToolError::Failed(format!(
                "the MCP server `{server}` closed the connection during the call (it is reconnected before the next turn)"
            ))
        }
        ServiceError::McpError(error) => {
            let message = crate::model::http::truncate(&error.message, MAX_ERROR);
            ToolError::Failed(format!("the MCP server `{server}` answered: {message}"))
        }
        other => ToolError::Failed(format!("MCP server `{server}`: {other}")),
    }
}

/// A server's error message is for the model to read, not to flood its context.
const MAX_ERROR: usize = 4096;

/// Sends `notifications/cancelled` for a request whose caller stopped waiting (a timeout, an
/// aborted run), so the server can stop working on it.
struct CancelOnDrop {
    peer: Option<Peer<RoleClient>>,
    id: RequestId,
    /// Set when the request is abandoned: the session is checked before the next turn.
    suspect: Arc<std::sync::atomic::AtomicBool>,
}

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        let Some(peer) = self.peer.take() else { return };
        self.suspect.store(true, std::sync::atomic::Ordering::Release);
        let Ok(runtime) = tokio::runtime::Handle::try_current() else { return };
        let reason = "the client stopped waiting (timeout or cancelled run)";
        let notification = CancelledNotification::new(CancelledNotificationParam::new(
            Some(self.id.clone()),
            Some(reason.into()),
        ));
        runtime.spawn(async move {
            // A server that is gone needs no cancellation.
            let _ = peer.send_notification(notification.into()).await;
        });
    }
}

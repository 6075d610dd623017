//! An agent's card (spec §8): who it is, where it answers (HTTP+JSON and JSON-RPC, A2A 1.0, at
//! `/a2a/agents/{id}`), what it can do, how to authenticate, and how a message answers a task
//! waiting for confirmation (an extension the card declares).

use axum::http::HeaderMap;
use axum::http::header::HOST;
use serde_json::{Value, json};

use crate::{Registered, State};

/// The protocol version served.
pub(crate) const VERSION: &str = "1.0";

/// The extension that says how a message approves or rejects a paused task's calls.
pub(crate) const CONFIRMATION_EXTENSION: &str = "urn:fanout:a2a:tool-confirmation:v1";

/// The absolute base URL of agent `id` as the client reached this server: its `Host`, `https`
/// behind a proxy that says so (`X-Forwarded-Proto`), and `prefix` (where the server's routes
/// are mounted). A `Host` that is not a plain host name and port is not repeated.
pub(crate) fn base_url(headers: &HeaderMap, prefix: &str, id: &str) -> String {
    let host = headers
        .get(HOST)
        .and_then(|h| h.to_str().ok())
        .filter(|h| {
            !h.is_empty()
                && h.len() <= 255
                && h.chars().all(|c| c.is_ascii_alphanumeric() || "-.:[]_".contains(c))
        })
        .unwrap_or("localhost");
    let scheme = match headers.get("x-forwarded-proto").and_then(|p| p.to_str().ok()) {
        Some(p) if p.eq_ignore_ascii_case("https") => "https",
        _ => "http",
    };
    format!("{scheme}://{host}{prefix}/a2a/agents/{id}")
}

/// The card of `registered`, served at `url`.
pub(crate) fn card(state: &State, registered: &Registered, url: &str) -> Value {
    let name = registered.agent.name().unwrap_or(&registered.id);
    let description = registered.description.clone().unwrap_or_else(|| format!("The fanout agent {name}."));
    let tools: Vec<String> = registered.agent.tool_definitions().iter().map(|t| t.name.clone()).collect();
    let mut card = json!({
        "name": name,
        "description": description,
        "supportedInterfaces": [
            {"url": url, "protocolBinding": "HTTP+JSON", "protocolVersion": VERSION},
            {"url": url, "protocolBinding": "JSONRPC", "protocolVersion": VERSION},
        ],
        "version": env!("CARGO_PKG_VERSION"),
        "capabilities": {
            "streaming": true,
            "pushNotifications": false,
            "extendedAgentCard": false,
            "extensions": [{
                "uri": CONFIRMATION_EXTENSION,
                "description": "Tools that need the user's approval pause the task in \
                    TASK_STATE_INPUT_REQUIRED; its status message lists the calls (a data part \
                    {\"pendingCalls\": [{\"toolCallId\", \"name\", \"arguments\"}]}). Continue it \
                    with a message carrying its taskId and contextId and, per call or for all, a \
                    data part {\"approved\": true|false, \"note\": \"…\", \"toolCallId\": \"…\"} \
                    (without toolCallId: every call), or the text yes or no.",
                "required": false,
            }],
        },
        "defaultInputModes": ["text/plain", "application/json"],
        "defaultOutputModes": ["text/plain", "application/json"],
        "skills": [{
            "id": registered.id,
            "name": name,
            "description": description,
            "tags": tools,
        }],
    });
    // For A2A 0.3 clients, which read these instead of `supportedInterfaces` (1.0 clients
    // ignore them).
    card["url"] = json!(url);
    card["preferredTransport"] = json!("JSONRPC");
    card["protocolVersion"] = json!("0.3.0");
    if state.api_key.is_some() {
        card["securitySchemes"] = json!({"bearer": {"httpAuthSecurityScheme": {
            "scheme": "Bearer",
            "description": "The server's API key as a bearer token (Authorization: Bearer <key>)",
        }}});
        card["securityRequirements"] = json!([{"schemes": {"bearer": {"list": []}}}]);
    }
    card
}

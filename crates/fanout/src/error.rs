//! The one error type of fanout and its `Result` alias.
//!
//! Errors of a single tool call never appear here: they become that call's result (see
//! [`ToolError`](crate::tool::ToolError)) so the model can react and the run goes on. This enum is
//! for what stops a run: the model provider failing, a limit being reached, bad configuration.

use std::time::Duration;

/// `Result` with fanout's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can stop a run or a request.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A required setting is missing, such as the API key.
    #[error("configuration: {0}")]
    Config(String),

    /// No model was given to the agent builder.
    #[error("the agent has no model: call `.model(...)` on the builder")]
    MissingModel,

    /// Two tools share a name: the model could not tell them apart.
    #[error("two tools are named `{0}`: tool names must be unique within an agent")]
    DuplicateTool(String),

    /// The provider answered with an error status.
    #[error("{provider} API error {status}{}: {message}{}",
        code.as_deref().map(|c| format!(" ({c})")).unwrap_or_default(),
        request_id.as_deref().map(|id| format!(" [request id {id}]")).unwrap_or_default())]
    Api {
        /// Which provider answered, e.g. `openai`.
        provider: &'static str,
        /// HTTP status.
        status: u16,
        /// The provider's error message (or the raw body when it is not the usual JSON shape).
        message: String,
        /// The provider's error code, e.g. `rate_limit_exceeded`.
        code: Option<String>,
        /// The provider's error type, e.g. `invalid_request_error`.
        kind: Option<String>,
        /// The `x-request-id` header, to quote to the provider's support.
        request_id: Option<String>,
    },

    /// The request could not be sent or the connection broke.
    #[error("{provider} connection error: {message}")]
    Connection {
        /// Which provider.
        provider: &'static str,
        /// What went wrong, with its causes.
        message: String,
    },

    /// The request took longer than the configured timeout.
    #[error("{provider} request timed out after {:.1}s", .after.as_secs_f64())]
    Timeout {
        /// Which provider.
        provider: &'static str,
        /// The configured timeout.
        after: Duration,
    },

    /// The server's answer does not have the shape the protocol requires.
    #[error("{provider} sent an invalid response: {message}")]
    InvalidResponse {
        /// Which provider.
        provider: &'static str,
        /// What was wrong, precisely.
        message: String,
    },

    /// The stream ended before the model said it had finished: the answer would be truncated.
    #[error("{provider} stream ended before the model finished ({message})")]
    IncompleteStream {
        /// Which provider.
        provider: &'static str,
        /// Where it stopped.
        message: String,
    },

    /// A scripted model was asked for more turns than it was given, or for a tool it cannot call.
    #[error("scripted model: {0}")]
    Script(String),

    /// The run was cancelled (dropped, Ctrl-C, or a cancellation handle).
    #[error("the run was cancelled")]
    Cancelled,

    /// Writing to the terminal failed.
    #[error("terminal output: {0}")]
    Io(#[from] std::io::Error),
}

impl Error {
    /// True for errors worth retrying the same request for: connection problems, timeouts,
    /// 408/409/429/5xx and streams cut before the model finished.
    pub fn is_retryable(&self) -> bool {
        match self {
            Error::Connection { .. } | Error::Timeout { .. } | Error::IncompleteStream { .. } => true,
            Error::Api { status, .. } => matches!(status, 408 | 409 | 429) || *status >= 500,
            _ => false,
        }
    }
}

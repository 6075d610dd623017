//! The one error type of fanout and its `Result` alias.
//!
//! Errors of a single tool call never appear here: they become that call's result (see
//! [`ToolError`](crate::tool::ToolError)) so the model can react and the run goes on. [`Error`] is
//! for what stops a run or a request: the model provider failing, bad configuration, a
//! cancellation.
//!
//! Like `reqwest::Error`, [`Error`] is opaque and one pointer wide: ask it what happened with
//! [`kind`](Error::kind) and the `is_*` queries, [`status`](Error::status),
//! [`request_id`](Error::request_id) and so on, instead of matching on text. A [`Model`] of
//! another crate builds its own with [`Error::new`] and the `with_*` methods, keeping its
//! source error:
//!
//! ```
//! use fanout::error::{Error, ErrorKind};
//!
//! let io = std::io::Error::new(std::io::ErrorKind::ConnectionReset, "reset by peer");
//! let err = Error::new(ErrorKind::Connect, "the socket broke").with_provider("mymodel").with_source(io);
//! assert!(err.is_connect() && err.is_retryable());
//! assert_eq!(err.provider(), Some("mymodel"));
//! assert!(std::error::Error::source(&err).is_some());
//! ```
//!
//! [`Model`]: crate::model::Model

use std::error::Error as StdError;
use std::fmt;
use std::time::Duration;

/// `Result` with fanout's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// A boxed error that can cross threads: the source of an [`Error`].
pub type BoxError = Box<dyn StdError + Send + Sync + 'static>;

/// What kind of failure an [`Error`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum ErrorKind {
    /// A setting is missing or wrong: no model, no API key, duplicate tool names, a request
    /// that cannot be encoded. Retrying does not help.
    Config,
    /// The request could not be sent or the connection broke.
    Connect,
    /// The request, or a stream that went silent, took longer than allowed.
    Timeout,
    /// The provider answered with an error status (see [`Error::status`]).
    Status,
    /// The provider's answer does not have the shape the protocol requires.
    InvalidResponse,
    /// The stream ended before the model said it had finished.
    IncompleteStream,
    /// The run was cancelled (dropped, Ctrl-C, or a cancellation token).
    Cancelled,
    /// Reading or writing a file, a pipe or the terminal failed.
    Io,
    /// The session store failed: down, locked, full, or holding rows it cannot read (see
    /// [`store`](crate::store)). The run's answer still reaches the caller.
    Storage,
    /// The final answer does not fit the run's output schema, even after the repair turns
    /// (see [`structured`](crate::structured)); [`Error::raw_output`] holds the answer.
    InvalidOutput,
    /// Anything else a model reported (a scripted model out of turns, a third-party model's own
    /// failure).
    Other,
}

/// Everything that can stop a run or a request. One pointer wide; see the [module](self) docs.
pub struct Error {
    inner: Box<Inner>,
}

struct Inner {
    kind: ErrorKind,
    message: String,
    provider: Option<std::borrow::Cow<'static, str>>,
    status: Option<u16>,
    code: Option<String>,
    error_type: Option<String>,
    request_id: Option<String>,
    retry_after: Option<Duration>,
    retryable: Option<bool>,
    quota_exceeded: bool,
    source: Option<BoxError>,
    raw_output: Option<String>,
}

impl Error {
    /// An error of `kind` saying `message` (what happened, in a few words).
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Self {
            inner: Box::new(Inner {
                kind,
                message: message.into(),
                provider: None,
                status: None,
                code: None,
                error_type: None,
                request_id: None,
                retry_after: None,
                retryable: None,
                quota_exceeded: false,
                source: None,
                raw_output: None,
            }),
        }
    }

    /// A final answer that does not fit the output schema ([`ErrorKind::InvalidOutput`]):
    /// `message` says why, `raw` is the answer.
    pub fn invalid_output(message: impl Into<String>, raw: impl Into<String>) -> Self {
        let mut err = Self::new(ErrorKind::InvalidOutput, message);
        err.inner.raw_output = Some(raw.into());
        err
    }

    /// Keep the run's answer with the error ([`raw_output`](Self::raw_output)): for a run that
    /// produced it but failed afterwards (its store failed).
    pub fn with_raw_output(mut self, raw: impl Into<String>) -> Self {
        self.inner.raw_output = Some(raw.into());
        self
    }

    /// The model's answer, when it did not fit the output schema ([`ErrorKind::InvalidOutput`]),
    /// or when the run produced it but its store failed ([`ErrorKind::Storage`]).
    pub fn raw_output(&self) -> Option<&str> {
        self.inner.raw_output.as_deref()
    }

    /// A configuration error ([`ErrorKind::Config`]).
    pub fn config(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Config, message)
    }

    /// The provider answered `status` with `message` ([`ErrorKind::Status`]).
    pub fn status_error(provider: &'static str, status: u16, message: impl Into<String>) -> Self {
        let mut err = Self::new(ErrorKind::Status, message).with_provider(provider);
        err.inner.status = Some(status);
        err
    }

    /// The provider sent something the protocol does not allow ([`ErrorKind::InvalidResponse`]).
    pub fn invalid_response(provider: &'static str, message: impl Into<String>) -> Self {
        Self::new(ErrorKind::InvalidResponse, message).with_provider(provider)
    }

    /// The stream ended before the model finished ([`ErrorKind::IncompleteStream`]).
    pub fn incomplete_stream(provider: &'static str, message: impl Into<String>) -> Self {
        Self::new(ErrorKind::IncompleteStream, message).with_provider(provider)
    }

    /// The run was cancelled ([`ErrorKind::Cancelled`]).
    pub fn cancelled() -> Self {
        Self::new(ErrorKind::Cancelled, "the run was cancelled")
    }

    /// Say which provider this error comes from (such as `openai`).
    pub fn with_provider(mut self, provider: &'static str) -> Self {
        self.inner.provider = Some(std::borrow::Cow::Borrowed(provider));
        self
    }

    /// Keep the error that caused this one; [`source`](StdError::source) returns it.
    pub fn with_source(mut self, source: impl Into<BoxError>) -> Self {
        self.inner.source = Some(source.into());
        self
    }

    /// The provider's error code, such as `rate_limit_exceeded`.
    pub fn with_code(mut self, code: impl Into<String>) -> Self {
        self.inner.code = Some(code.into());
        self
    }

    /// The provider's error type, such as `invalid_request_error` or `overloaded_error`.
    pub fn with_error_type(mut self, error_type: impl Into<String>) -> Self {
        self.inner.error_type = Some(error_type.into());
        self
    }

    /// The provider's request id, to quote to its support.
    pub fn with_request_id(mut self, request_id: impl Into<String>) -> Self {
        self.inner.request_id = Some(request_id.into());
        self
    }

    /// How long the provider asked to wait before trying again (`retry-after` and its kin).
    pub fn with_retry_after(mut self, wait: Duration) -> Self {
        self.inner.retry_after = Some(wait);
        self
    }

    /// Override whether retrying the request may succeed (by default it follows the kind and
    /// status, see [`is_retryable`](Self::is_retryable)); for errors such as an in-stream
    /// "overloaded" event that carry no status.
    pub fn with_retryable(mut self, retryable: bool) -> Self {
        self.inner.retryable = Some(retryable);
        self
    }

    /// Say that the account cannot make this request until someone acts on it: no quota or
    /// credit left, billing not set up, a plan that does not include it. Such an error is never
    /// retryable (whatever [`with_retryable`](Self::with_retryable) said), is not a rate limit,
    /// and its [`Display`](fmt::Display) says to check the plan and billing. fanout's providers
    /// set it from what each API documents (see [`is_quota_exceeded`](Self::is_quota_exceeded)).
    pub fn with_quota_exceeded(mut self) -> Self {
        self.inner.quota_exceeded = true;
        self
    }

    /// What kind of failure this is.
    pub fn kind(&self) -> ErrorKind {
        self.inner.kind
    }

    /// The message, without the provider, status and hints that [`Display`](fmt::Display) adds.
    pub fn message(&self) -> &str {
        &self.inner.message
    }

    /// The provider the error comes from, when it comes from one.
    pub fn provider(&self) -> Option<&str> {
        self.inner.provider.as_deref()
    }

    /// The HTTP status the provider answered with.
    pub fn status(&self) -> Option<u16> {
        self.inner.status
    }

    /// The provider's error code.
    pub fn code(&self) -> Option<&str> {
        self.inner.code.as_deref()
    }

    /// The provider's error type.
    pub fn error_type(&self) -> Option<&str> {
        self.inner.error_type.as_deref()
    }

    /// The provider's request id (`x-request-id`, `request-id`, …).
    pub fn request_id(&self) -> Option<&str> {
        self.inner.request_id.as_deref()
    }

    /// How long the provider asked to wait before trying again.
    pub fn retry_after(&self) -> Option<Duration> {
        self.inner.retry_after
    }

    /// True when the request could not be sent or the connection broke.
    pub fn is_connect(&self) -> bool {
        self.inner.kind == ErrorKind::Connect
    }

    /// True when the request, or a silent stream, timed out.
    pub fn is_timeout(&self) -> bool {
        self.inner.kind == ErrorKind::Timeout
    }

    /// True when the provider answered with an error status.
    pub fn is_status(&self) -> bool {
        self.inner.kind == ErrorKind::Status
    }

    /// True when the provider said to slow down: status 429, or an error type saying so — but
    /// not when the account is out of quota ([`is_quota_exceeded`](Self::is_quota_exceeded)),
    /// which OpenAI and Gemini also answer with 429.
    pub fn is_rate_limited(&self) -> bool {
        if self.inner.quota_exceeded {
            return false;
        }
        self.inner.status == Some(429)
            || self.inner.error_type.as_deref().is_some_and(|t| t.contains("rate_limit"))
            || self.inner.code.as_deref().is_some_and(|c| c.contains("rate_limit"))
    }

    /// True when the account cannot make the request until someone acts on it, so waiting and
    /// retrying cannot help: OpenAI's `insufficient_quota` (a 429), `billing_hard_limit_reached`
    /// and `billing_not_active`; Anthropic's "credit balance is too low" and "reached your
    /// specified API usage limits" (400s) and `billing_error`; any 402 Payment Required (OpenRouter, DeepSeek …); Gemini's
    /// `RESOURCE_EXHAUSTED` for a daily quota or a quota of 0 on the plan (a per-minute one is a
    /// rate limit), and "enable billing". Never retryable.
    pub fn is_quota_exceeded(&self) -> bool {
        self.inner.quota_exceeded
    }

    /// True when the run was cancelled.
    pub fn is_cancelled(&self) -> bool {
        self.inner.kind == ErrorKind::Cancelled
    }

    /// True for configuration errors.
    pub fn is_config(&self) -> bool {
        self.inner.kind == ErrorKind::Config
    }

    /// True when the provider's answer did not fit the protocol.
    pub fn is_invalid_response(&self) -> bool {
        self.inner.kind == ErrorKind::InvalidResponse
    }

    /// True when the session store failed.
    pub fn is_storage(&self) -> bool {
        self.inner.kind == ErrorKind::Storage
    }

    /// A session store failure ([`ErrorKind::Storage`]).
    pub fn storage(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Storage, message)
    }

    /// True when a stream ended before the model finished.
    pub fn is_incomplete_stream(&self) -> bool {
        self.inner.kind == ErrorKind::IncompleteStream
    }

    /// True when sending the same request again may succeed: connection problems, timeouts,
    /// streams cut short, and statuses 408, 409, 429 and 5xx — unless the error says otherwise
    /// ([`with_retryable`](Self::with_retryable)). Never when the account is out of quota
    /// ([`is_quota_exceeded`](Self::is_quota_exceeded)), even with a 429.
    pub fn is_retryable(&self) -> bool {
        if self.inner.quota_exceeded {
            return false;
        }
        if let Some(retryable) = self.inner.retryable {
            return retryable;
        }
        match self.inner.kind {
            ErrorKind::Connect | ErrorKind::Timeout | ErrorKind::IncompleteStream => true,
            ErrorKind::Status => self.inner.status.is_some_and(|s| matches!(s, 408 | 409 | 429) || s >= 500),
            _ => false,
        }
    }

    /// What the user can do about it, when there is something to say.
    fn hint(&self) -> Option<&'static str> {
        if self.inner.quota_exceeded {
            return Some("out of quota or credit: check the plan and billing; retrying cannot help");
        }
        match (self.inner.kind, self.inner.status) {
            (ErrorKind::Status, Some(401)) => Some("check the API key"),
            (ErrorKind::Status, Some(403)) => Some("check the API key and its permissions"),
            (ErrorKind::Status, Some(404)) => Some("check the model id and the base URL"),
            (ErrorKind::Status, Some(429)) => Some("rate limited: wait, or lower the request rate"),
            (ErrorKind::Status, Some(500..)) => Some("the provider failed: try again later"),
            // An MCP server's errors name the server and say what failed.
            (ErrorKind::Connect, _) if self.inner.provider.as_deref() == Some("MCP") => None,
            (ErrorKind::Connect, _) => Some("check the base URL and the network"),
            _ => None,
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let inner = &*self.inner;
        let provider = inner.provider.as_deref().unwrap_or("model");
        match inner.kind {
            ErrorKind::Config => write!(f, "configuration: {}", inner.message)?,
            ErrorKind::Status => {
                write!(f, "{provider} API error")?;
                if let Some(status) = inner.status {
                    write!(f, " {status}")?;
                }
                if let Some(code) = inner.code.as_deref().or(inner.error_type.as_deref()) {
                    write!(f, " ({code})")?;
                }
                write!(f, ": {}", inner.message)?;
            }
            ErrorKind::Connect => write!(f, "{provider} connection error: {}", inner.message)?,
            ErrorKind::Timeout => write!(f, "{provider} timed out: {}", inner.message)?,
            ErrorKind::InvalidResponse => {
                write!(f, "{provider} sent an invalid response: {}", inner.message)?
            }
            ErrorKind::IncompleteStream => {
                write!(f, "{provider} stream ended before the model finished ({})", inner.message)?
            }
            ErrorKind::Cancelled => f.write_str(&inner.message)?,
            ErrorKind::Io => write!(f, "I/O error: {}", inner.message)?,
            ErrorKind::Storage => write!(f, "session store: {}", inner.message)?,
            ErrorKind::InvalidOutput => f.write_str(&inner.message)?,
            ErrorKind::Other => match inner.provider.as_deref() {
                Some(provider) => write!(f, "{provider}: {}", inner.message)?,
                None => f.write_str(&inner.message)?,
            },
        }
        if let Some(hint) = self.hint() {
            write!(f, " ({hint})")?;
        }
        if let Some(id) = &inner.request_id {
            write!(f, " [request id {id}]")?;
        }
        Ok(())
    }
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let inner = &*self.inner;
        let mut s = f.debug_struct("Error");
        s.field("kind", &inner.kind).field("message", &inner.message);
        if let Some(provider) = &inner.provider {
            s.field("provider", provider);
        }
        if let Some(status) = inner.status {
            s.field("status", &status);
        }
        if let Some(code) = &inner.code {
            s.field("code", code);
        }
        if let Some(error_type) = &inner.error_type {
            s.field("error_type", error_type);
        }
        if let Some(id) = &inner.request_id {
            s.field("request_id", id);
        }
        if let Some(wait) = inner.retry_after {
            s.field("retry_after", &wait);
        }
        if inner.quota_exceeded {
            s.field("quota_exceeded", &true);
        }
        if let Some(source) = &inner.source {
            s.field("source", source);
        }
        s.finish()
    }
}

impl StdError for Error {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        self.inner.source.as_deref().map(|s| s as &(dyn StdError + 'static))
    }
}

impl From<std::io::Error> for Error {
    fn from(err: std::io::Error) -> Self {
        Error::new(ErrorKind::Io, err.to_string()).with_source(err)
    }
}

/// An [`Error`] as plain data: what it says, without its source chain (kept as text in
/// `message` where the source said more).
#[derive(serde::Serialize, serde::Deserialize)]
struct ErrorData {
    kind: ErrorKind,
    message: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    provider: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    status: Option<u16>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    code: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    error_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    request_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    retry_after: Option<Duration>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    retryable: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    raw_output: Option<String>,
}

/// Errors serialize as their fields (kind, message, provider, status, codes, request id); the
/// source error is not data and is left out.
impl serde::Serialize for Error {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let inner = &*self.inner;
        ErrorData {
            kind: inner.kind,
            message: inner.message.clone(),
            provider: inner.provider.as_deref().map(str::to_owned),
            status: inner.status,
            code: inner.code.clone(),
            error_type: inner.error_type.clone(),
            request_id: inner.request_id.clone(),
            retry_after: inner.retry_after,
            retryable: inner.retryable,
            raw_output: inner.raw_output.clone(),
        }
        .serialize(serializer)
    }
}

impl<'de> serde::Deserialize<'de> for Error {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let data = ErrorData::deserialize(deserializer)?;
        let mut err = Error::new(data.kind, data.message);
        let inner = &mut *err.inner;
        inner.provider = data.provider.map(std::borrow::Cow::Owned);
        inner.status = data.status;
        inner.code = data.code;
        inner.error_type = data.error_type;
        inner.request_id = data.request_id;
        inner.retry_after = data.retry_after;
        inner.retryable = data.retryable;
        inner.raw_output = data.raw_output;
        Ok(err)
    }
}

/// `#[serde(with)]` for an `Arc<Error>` field.
pub(crate) mod shared {
    use std::sync::Arc;

    use super::Error;

    pub(crate) fn serialize<S: serde::Serializer>(
        err: &Arc<Error>,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        serde::Serialize::serialize(&**err, serializer)
    }

    pub(crate) fn deserialize<'de, D: serde::Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Arc<Error>, D::Error> {
        <Error as serde::Deserialize>::deserialize(deserializer).map(Arc::new)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_pointer_wide_and_thread_safe() {
        fn assert_send_sync<T: Send + Sync + 'static>() {}
        assert_send_sync::<Error>();
        assert_eq!(std::mem::size_of::<Error>(), std::mem::size_of::<usize>());
        assert_eq!(std::mem::size_of::<Result<()>>(), std::mem::size_of::<usize>());
    }

    #[test]
    fn queries_per_kind() {
        let rate = Error::status_error("openai", 429, "slow down")
            .with_code("rate_limit_exceeded")
            .with_request_id("req_1")
            .with_retry_after(Duration::from_secs(2));
        assert!(rate.is_status() && rate.is_rate_limited() && rate.is_retryable());
        assert_eq!(rate.status(), Some(429));
        assert_eq!(rate.request_id(), Some("req_1"));
        assert_eq!(rate.retry_after(), Some(Duration::from_secs(2)));
        assert_eq!(rate.provider(), Some("openai"));
        assert_eq!(
            rate.to_string(),
            "openai API error 429 (rate_limit_exceeded): slow down (rate limited: wait, or lower the request \
             rate) [request id req_1]"
        );

        let bad = Error::status_error("openai", 400, "bad tool schema");
        assert!(!bad.is_retryable() && !bad.is_rate_limited());
        assert!(Error::status_error("anthropic", 529, "overloaded").is_retryable());
        assert!(Error::status_error("anthropic", 409, "conflict").is_retryable());

        let timeout = Error::new(ErrorKind::Timeout, "no bytes for 120s").with_provider("openai");
        assert!(timeout.is_timeout() && timeout.is_retryable() && !timeout.is_connect());
        assert!(Error::new(ErrorKind::Connect, "refused").is_retryable());
        assert!(Error::incomplete_stream("openai", "no [DONE]").is_retryable());
        assert!(Error::incomplete_stream("openai", "x").is_incomplete_stream());
        assert!(!Error::invalid_response("openai", "not JSON").is_retryable());
        assert!(Error::invalid_response("openai", "x").is_invalid_response());
        assert!(Error::cancelled().is_cancelled() && !Error::cancelled().is_retryable());
        assert!(Error::config("no key").is_config() && !Error::config("no key").is_retryable());

        let overloaded = Error::new(ErrorKind::Other, "overloaded").with_retryable(true);
        assert!(overloaded.is_retryable());
        assert!(!Error::status_error("x", 503, "down").with_retryable(false).is_retryable());
        assert!(Error::status_error("x", 400, "x").with_error_type("rate_limit_error").is_rate_limited());
    }

    #[test]
    fn quota_is_not_a_rate_limit_and_never_retried() {
        let quota = Error::status_error("openai", 429, "You exceeded your current quota")
            .with_code("insufficient_quota")
            .with_retry_after(Duration::from_secs(1))
            .with_retryable(true)
            .with_quota_exceeded();
        assert!(quota.is_quota_exceeded() && quota.is_status());
        assert!(!quota.is_retryable() && !quota.is_rate_limited());
        assert_eq!(
            quota.to_string(),
            "openai API error 429 (insufficient_quota): You exceeded your current quota (out of quota or credit: \
             check the plan and billing; retrying cannot help)"
        );
        assert!(format!("{quota:?}").contains("quota_exceeded: true"));
        assert!(!Error::status_error("openai", 429, "slow down").is_quota_exceeded());
        let denied = Error::status_error("gemini", 403, "The caller does not have permission");
        assert!(!denied.is_retryable());
        assert!(denied.to_string().ends_with("(check the API key and its permissions)"), "{denied}");
    }

    #[test]
    fn source_chain_and_debug() {
        let io = std::io::Error::other("disk full");
        let err = Error::from(io);
        assert_eq!(err.kind(), ErrorKind::Io);
        assert_eq!(err.source().map(ToString::to_string).as_deref(), Some("disk full"));
        let debug = format!("{:?}", Error::status_error("openai", 500, "boom").with_request_id("r"));
        assert_eq!(
            debug,
            r#"Error { kind: Status, message: "boom", provider: "openai", status: 500, request_id: "r" }"#
        );
    }
}

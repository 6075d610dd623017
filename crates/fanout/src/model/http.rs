//! What every HTTP provider shares: its client settings, sending one request, turning transport
//! failures and error statuses into [`Error`]s, and reading an SSE body with an idle timeout.
//!
//! Providers make exactly one attempt per call: retries belong to the run loop's
//! [`RetryPolicy`](crate::retry::RetryPolicy), so a failing turn is tried at most
//! `1 + max_retries` times in all. The error carries what the retry needs (`retry-after`).

use std::collections::VecDeque;
use std::sync::OnceLock;
use std::time::Duration;

use std::future::Future;

use bytes::Bytes;
use futures::future::BoxFuture;
use futures::stream::BoxStream;
use futures::{StreamExt, TryStreamExt};
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};

use super::sse::SseParser;
use super::{DeltaStream, ModelDelta};
use crate::error::{Error, ErrorKind, Result};

/// How long a request may take: for a whole answer, the request; for a stream, until its
/// headers arrive (a long stream is never cut while bytes flow; see `idle_timeout`).
pub(crate) const DEFAULT_TIMEOUT: Duration = Duration::from_secs(600);
/// How long a stream may stay silent before it counts as broken (and is retried).
pub(crate) const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(120);
/// Error bodies are read up to this many bytes.
const MAX_ERROR_BODY: usize = 64 << 10;
/// A whole (non-streamed) answer larger than this is refused.
pub(crate) const MAX_BODY: usize = 64 << 20;

/// The builder methods of every provider's transport settings (`http_client`, `timeout`,
/// `idle_timeout`, `header`), for a type with `fn with(self, impl FnOnce(&mut Config)) -> Self`
/// whose config holds an [`HttpSettings`] named `http`: the same words and docs everywhere.
macro_rules! transport_methods {
    () => {
        /// Send requests through this client (a proxy, custom TLS, a pool shared with the rest
        /// of your program) instead of fanout's shared one.
        pub fn http_client(self, client: reqwest::Client) -> Self {
            self.with(|c| c.http.client = Some(client))
        }

        /// Give up on a whole answer after `timeout`, and on a streamed one when its headers
        /// have not arrived by then (10 minutes by default, like the SDKs). A stream that keeps
        /// sending is never cut: see [`idle_timeout`](Self::idle_timeout).
        pub fn timeout(self, timeout: std::time::Duration) -> Self {
            self.with(|c| c.http.timeout = timeout)
        }

        /// Treat a stream that sends nothing for `timeout` as broken (2 minutes by default); the
        /// turn is then retried by the agent's [`RetryPolicy`](crate::RetryPolicy).
        pub fn idle_timeout(self, timeout: std::time::Duration) -> Self {
            self.with(|c| c.http.idle_timeout = timeout)
        }

        /// Add a header to every request (a beta flag, a gateway's routing header …).
        pub fn header(self, name: impl Into<String>, value: impl Into<String>) -> Self {
            self.with(|c| c.http.headers.push((name.into(), value.into())))
        }
    };
}
pub(crate) use transport_methods;

/// The transport settings of a provider.
#[derive(Debug, Clone)]
pub(crate) struct HttpSettings {
    /// The user's client (proxy, TLS, shared pool), else fanout's shared one.
    pub(crate) client: Option<reqwest::Client>,
    pub(crate) timeout: Duration,
    pub(crate) idle_timeout: Duration,
    /// Extra headers for every request.
    pub(crate) headers: Vec<(String, String)>,
}

impl Default for HttpSettings {
    fn default() -> Self {
        Self {
            client: None,
            timeout: DEFAULT_TIMEOUT,
            idle_timeout: DEFAULT_IDLE_TIMEOUT,
            headers: Vec::new(),
        }
    }
}

impl HttpSettings {
    /// A POST of `body` to `url` with the extra headers; the caller adds authentication.
    pub(crate) fn post(
        &self,
        provider: &'static str,
        url: &str,
        body: Vec<u8>,
    ) -> Result<reqwest::RequestBuilder> {
        let client = match &self.client {
            Some(client) => client.clone(),
            None => shared_client(provider)?,
        };
        let mut request = client.post(url).header("content-type", "application/json").body(body);
        for (name, value) in &self.headers {
            let header = (HeaderName::try_from(name.as_str()), HeaderValue::try_from(value.as_str()));
            match header {
                (Ok(name), Ok(value)) => request = request.header(name, value),
                _ => return Err(Error::config(format!("the header `{name}` is not a valid HTTP header"))),
            }
        }
        Ok(request)
    }
}

/// One client for every provider of the process: one connection pool, built once.
fn shared_client(provider: &'static str) -> Result<reqwest::Client> {
    static CLIENT: OnceLock<std::result::Result<reqwest::Client, String>> = OnceLock::new();
    CLIENT
        .get_or_init(|| {
            reqwest::Client::builder()
                .connect_timeout(Duration::from_secs(10))
                .build()
                .map_err(|e| format!("the HTTP client could not be created: {e}"))
        })
        .clone()
        .map_err(|message| Error::config(message).with_provider(provider))
}

/// What a provider's error body says.
#[derive(Debug, Default, Clone, PartialEq)]
pub(crate) struct ErrorBody {
    pub(crate) message: Option<String>,
    pub(crate) code: Option<String>,
    pub(crate) error_type: Option<String>,
    /// A wait asked for in the body (Gemini's `RetryInfo.retryDelay`).
    pub(crate) retry_after: Option<Duration>,
    /// The quotas a Google `QuotaFailure` detail names (`quotaId`, such as
    /// `GenerateRequestsPerDayPerProjectPerModel-FreeTier`).
    pub(crate) quota_ids: Vec<String>,
}

/// Error codes and types that say the account is out of quota or credit, or has no billing:
/// OpenAI's `insufficient_quota` (sent with a 429), `billing_hard_limit_reached`,
/// `billing_not_active`; Anthropic's `billing_error` (402).
const QUOTA_CODES: [&str; 4] =
    ["insufficient_quota", "billing_hard_limit_reached", "billing_not_active", "billing_error"];

/// Messages that say the same where the code does not: Anthropic's 400s "Your credit balance is
/// too low to access the Anthropic API" and "You have reached your specified API usage limits"
/// (a spending limit, until the date it names), Gemini's 400 "… Please enable billing on your
/// project".
const QUOTA_MESSAGES: [&str; 4] = [
    "credit balance is too low",
    "credit_balance_too_low",
    "reached your specified api usage limits",
    "enable billing",
];

impl ErrorBody {
    /// The one rule for "retrying cannot help, the account needs attention" across providers
    /// (see [`Error::is_quota_exceeded`]). A rate limit, even a 429 whose message mentions the
    /// quota (Gemini's per-minute `RESOURCE_EXHAUSTED`), is not one: it passes with a wait.
    fn quota_exceeded(&self, status: Option<u16>) -> bool {
        let named = [self.code.as_deref(), self.error_type.as_deref()]
            .into_iter()
            .flatten()
            .any(|t| QUOTA_CODES.iter().any(|code| t.eq_ignore_ascii_case(code)));
        let message = self.message.as_deref().unwrap_or_default().to_ascii_lowercase();
        let said = QUOTA_MESSAGES.iter().any(|m| message.contains(m));
        // Gemini: a daily quota resets at midnight Pacific time, and a limit of 0 means the
        // plan (the free tier) has no quota at all for this model; neither passes with a wait.
        let daily = self.quota_ids.iter().any(|id| id.to_ascii_lowercase().contains("perday"));
        let none_on_the_plan = self.code.as_deref() == Some("RESOURCE_EXHAUSTED") && limit_zero(&message);
        named || said || status == Some(402) || daily || none_on_the_plan
    }

    /// The error this body describes. With the HTTP `status` it answered with, retryability
    /// follows the status; an error reported inside a stream has none, and its caller says
    /// whether a retry may help ([`Error::with_retryable`]). An account out of quota or credit
    /// is never retryable, whatever the status ([`Error::is_quota_exceeded`]).
    pub(crate) fn into_error(self, provider: &'static str, status: Option<u16>) -> Error {
        let quota_exceeded = self.quota_exceeded(status);
        let message = self.message.filter(|m| !m.is_empty()).unwrap_or_else(|| "(no message)".to_owned());
        let mut err = match status {
            Some(status) => Error::status_error(provider, status, message),
            None => Error::new(ErrorKind::Status, message).with_provider(provider),
        };
        if let Some(code) = self.code {
            err = err.with_code(code);
        }
        if let Some(error_type) = self.error_type {
            err = err.with_error_type(error_type);
        }
        if let Some(wait) = self.retry_after {
            err = err.with_retry_after(wait);
        }
        if quota_exceeded {
            err = err.with_quota_exceeded();
        }
        err
    }
}

/// True when `message` (lower case) says `limit: 0` (Gemini's "Quota exceeded for metric: …,
/// limit: 0, model: …").
fn limit_zero(message: &str) -> bool {
    message
        .match_indices("limit: 0")
        .any(|(at, found)| !message[at + found.len()..].starts_with(|c: char| c.is_ascii_digit() || c == '.'))
}

/// How to read a provider's error responses.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ErrorFormat {
    pub(crate) provider: &'static str,
    /// The header carrying the request id (`x-request-id`, `request-id`).
    pub(crate) request_id_header: &'static str,
    /// Parse an error body; `None` when it is not the provider's usual shape.
    pub(crate) parse: fn(&str) -> Option<ErrorBody>,
    /// Said after a 401, e.g. "check OPENAI_API_KEY".
    pub(crate) key_hint: &'static str,
}

/// Send `request` once. A 2xx response is returned for the caller to read; anything else
/// becomes a typed [`Error`] with the status, the provider's message, code and request id, the
/// `retry-after` wait, and `x-should-retry` when the server says whether a retry can help.
pub(crate) async fn send(
    format: &ErrorFormat,
    request: reqwest::RequestBuilder,
    timeout: Duration,
) -> Result<reqwest::Response> {
    let response = match tokio::time::timeout(timeout, request.send()).await {
        Ok(Ok(response)) => response,
        Ok(Err(err)) => return Err(transport_error(format.provider, err)),
        Err(_) => return Err(timed_out(format.provider, timeout, "waiting for the response")),
    };
    let status = response.status();
    if status.is_success() {
        return Ok(response);
    }
    let headers = response.headers().clone();
    let text = read_bounded(response, MAX_ERROR_BODY).await.unwrap_or_default();
    let text = String::from_utf8_lossy(&text);
    let mut body = (format.parse)(&text)
        .unwrap_or_else(|| ErrorBody { message: Some(truncate(text.trim(), 500)), ..ErrorBody::default() });
    if status.as_u16() == 401 {
        let message = body.message.filter(|m| !m.is_empty()).unwrap_or_else(|| "(no message)".to_owned());
        body.message = Some(format!("the API key was rejected ({}): {message}", format.key_hint));
    }
    let mut err = body.into_error(format.provider, Some(status.as_u16()));
    if let Some(id) = header(&headers, format.request_id_header) {
        err = err.with_request_id(id);
    }
    // The header's wait comes before one given in the body.
    if let Some(wait) = retry_after(&headers) {
        err = err.with_retry_after(wait);
    }
    // The server may say whether a retry can help (Anthropic and OpenAI do); the SDKs obey it.
    match header(&headers, "x-should-retry").as_deref() {
        Some("true") => err = err.with_retryable(true),
        Some("false") => err = err.with_retryable(false),
        _ => {}
    }
    Err(err)
}

/// Read a whole (non-streamed) answer, up to [`MAX_BODY`] bytes.
pub(crate) async fn read_body(provider: &'static str, response: reqwest::Response) -> Result<Bytes> {
    match read_bounded(response, MAX_BODY).await {
        Ok(bytes) if bytes.len() > MAX_BODY => Err(Error::invalid_response(
            provider,
            format!("the response is larger than {} MiB", MAX_BODY >> 20),
        )),
        Ok(bytes) => Ok(bytes),
        Err(err) => Err(transport_error(provider, err)),
    }
}

/// The body, stopping once it exceeds `limit` (the result is then longer than `limit`).
async fn read_bounded(response: reqwest::Response, limit: usize) -> reqwest::Result<Bytes> {
    let mut stream = response.bytes_stream();
    let mut body = Vec::new();
    while let Some(chunk) = stream.try_next().await? {
        body.extend_from_slice(&chunk);
        if body.len() > limit {
            break;
        }
    }
    Ok(body.into())
}

/// A transport failure as an [`Error`], keeping reqwest's error as the source.
pub(crate) fn transport_error(provider: &'static str, err: reqwest::Error) -> Error {
    let kind = if err.is_timeout() { ErrorKind::Timeout } else { ErrorKind::Connect };
    let mut message = err.to_string();
    let mut source = std::error::Error::source(&err);
    while let Some(cause) = source {
        message.push_str(": ");
        message.push_str(&cause.to_string());
        source = cause.source();
    }
    Error::new(kind, message).with_provider(provider).with_source(err)
}

fn timed_out(provider: &'static str, after: Duration, what: &str) -> Error {
    Error::new(ErrorKind::Timeout, format!("no answer after {:.1}s {what}", after.as_secs_f64()))
        .with_provider(provider)
}

/// The value of header `name`, when it is text.
pub(crate) fn header(headers: &HeaderMap, name: &str) -> Option<String> {
    headers.get(name).and_then(|v| v.to_str().ok()).map(str::to_owned)
}

/// `retry-after-ms` (milliseconds), else `retry-after` (seconds).
pub(crate) fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let seconds = |name: &str, scale: f64| {
        header(headers, name)?
            .trim()
            .parse::<f64>()
            .ok()
            .filter(|v| v.is_finite() && *v >= 0.0 && *v < 1e9)
            .map(|v| v / scale)
    };
    seconds("retry-after-ms", 1000.0).or_else(|| seconds("retry-after", 1.0)).map(Duration::from_secs_f64)
}

/// Cut `text` to at most `max` characters, marking the cut.
pub(crate) fn truncate(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text.to_owned(),
    }
}

/// The events of a streamed answer: SSE framing, bounded event size, and an idle timeout.
pub(crate) struct SseBody {
    provider: &'static str,
    bytes: BoxStream<'static, reqwest::Result<Bytes>>,
    parser: SseParser,
    events: VecDeque<String>,
    scratch: Vec<String>,
    idle_timeout: Duration,
}

impl SseBody {
    /// Read `response` as SSE; a silence longer than `idle_timeout` is a timeout error.
    pub(crate) fn new(provider: &'static str, response: reqwest::Response, idle_timeout: Duration) -> Self {
        Self {
            provider,
            bytes: response.bytes_stream().boxed(),
            parser: SseParser::default(),
            events: VecDeque::new(),
            scratch: Vec::new(),
            idle_timeout,
        }
    }

    /// The data of the next event, or `None` when the body ended.
    pub(crate) async fn next(&mut self) -> Result<Option<String>> {
        loop {
            if let Some(event) = self.events.pop_front() {
                return Ok(Some(event));
            }
            let chunk = match tokio::time::timeout(self.idle_timeout, self.bytes.try_next()).await {
                Ok(Ok(Some(chunk))) => chunk,
                Ok(Ok(None)) => return Ok(None),
                Ok(Err(err)) => return Err(transport_error(self.provider, err)),
                Err(_) => {
                    let message =
                        format!("the stream sent nothing for {:.1}s", self.idle_timeout.as_secs_f64());
                    return Err(Error::new(ErrorKind::Timeout, message).with_provider(self.provider));
                }
            };
            self.parser
                .feed(&chunk, &mut self.scratch)
                .map_err(|too_large| Error::invalid_response(self.provider, too_large.to_string()))?;
            self.events.extend(self.scratch.drain(..));
        }
    }
}

/// How a provider turns the events of its stream into deltas.
pub(crate) trait Assemble: Send {
    /// Handle one event's data; `Ok(true)` once the provider's end marker was seen.
    fn on_event(&mut self, data: &str, out: &mut VecDeque<ModelDelta>) -> Result<bool>;
    /// The body ended: an error unless the turn is complete.
    fn on_end(&mut self, out: &mut VecDeque<ModelDelta>) -> Result<()>;
}

/// One streamed model turn, the same for every provider: wait for `response` (one request,
/// no retries), build the provider's assembler from it (`assemble`, which may read headers such
/// as the request id), then read its SSE events — bounded in size, with `idle_timeout` — into
/// deltas. What was parsed before a failure is delivered first, then the error.
pub(crate) fn sse_deltas<'a, A: Assemble + 'a>(
    provider: &'static str,
    idle_timeout: Duration,
    response: impl Future<Output = Result<reqwest::Response>> + Send + 'a,
    assemble: impl FnOnce(&reqwest::Response) -> A + Send + 'a,
) -> DeltaStream<'a> {
    let connect = async move {
        let response = response.await?;
        let assembler = assemble(&response);
        Ok(Turn {
            events: SseBody::new(provider, response, idle_timeout),
            assembler,
            queue: VecDeque::new(),
            finished: false,
            pending_error: None,
        })
    };
    let start: BoxFuture<'a, Result<Turn<A>>> = Box::pin(connect);
    futures::stream::unfold(Some(Err(start)), |state| async move {
        let mut turn = match state? {
            Ok(turn) => turn,
            Err(connect) => match connect.await {
                Ok(turn) => turn,
                Err(err) => return Some((Err(err), None)),
            },
        };
        let item = turn.next().await?;
        Some((item, Some(Ok(turn))))
    })
    .boxed()
}

/// A streamed turn once its response arrived.
struct Turn<A> {
    events: SseBody,
    assembler: A,
    queue: VecDeque<ModelDelta>,
    finished: bool,
    pending_error: Option<Error>,
}

impl<A: Assemble> Turn<A> {
    async fn next(&mut self) -> Option<Result<ModelDelta>> {
        loop {
            if let Some(delta) = self.queue.pop_front() {
                return Some(Ok(delta));
            }
            if let Some(err) = self.pending_error.take() {
                return Some(Err(err));
            }
            if self.finished {
                return None;
            }
            let outcome = match self.events.next().await {
                Ok(Some(data)) => self.assembler.on_event(&data, &mut self.queue),
                Ok(None) => self.assembler.on_end(&mut self.queue).map(|()| true),
                Err(err) => Err(err),
            };
            match outcome {
                Ok(done) => self.finished = done,
                Err(err) => {
                    self.finished = true;
                    self.pending_error = Some(err);
                }
            }
        }
    }
}

impl std::fmt::Debug for SseBody {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SseBody").field("provider", &self.provider).finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_headers() {
        let mut headers = HeaderMap::new();
        assert_eq!(retry_after(&headers), None);
        headers.insert("retry-after", HeaderValue::from_static("2"));
        assert_eq!(retry_after(&headers), Some(Duration::from_secs(2)));
        headers.insert("retry-after-ms", HeaderValue::from_static("150"));
        assert_eq!(retry_after(&headers), Some(Duration::from_millis(150)));
        headers.insert("retry-after-ms", HeaderValue::from_static("-1"));
        assert_eq!(retry_after(&headers), Some(Duration::from_secs(2)));
        headers.insert("retry-after", HeaderValue::from_static("Wed, 21 Oct 2015 07:28:00 GMT"));
        assert_eq!(retry_after(&headers), None);
    }

    #[test]
    fn quota_and_billing_are_told_from_rate_limits() {
        let body = |code: Option<&str>, error_type: Option<&str>, message: &str| ErrorBody {
            message: Some(message.to_owned()),
            code: code.map(str::to_owned),
            error_type: error_type.map(str::to_owned),
            ..ErrorBody::default()
        };
        let quota = |body: ErrorBody, status: Option<u16>| {
            let err = body.into_error("p", status);
            assert!(!err.is_quota_exceeded() || !err.is_retryable(), "{err}");
            err.is_quota_exceeded()
        };
        // OpenAI: the same status, two different meanings.
        let openai = "You exceeded your current quota, please check your plan and billing details.";
        assert!(quota(body(Some("insufficient_quota"), Some("insufficient_quota"), openai), Some(429)));
        assert!(quota(body(Some("insufficient_quota"), None, openai), None), "in a stream too");
        assert!(quota(body(Some("billing_hard_limit_reached"), None, "Billing hard limit"), Some(400)));
        assert!(!quota(body(Some("rate_limit_exceeded"), Some("requests"), "Rate limit reached"), Some(429)));
        // Anthropic.
        let low = "Your credit balance is too low to access the Anthropic API. Please go to Plans & Billing.";
        assert!(quota(body(None, Some("invalid_request_error"), low), Some(400)));
        assert!(quota(body(None, Some("billing_error"), "There's an issue with your billing"), Some(402)));
        let spent = "You have reached your specified API usage limits. You will regain access on 2026-08-01.";
        assert!(quota(body(None, Some("invalid_request_error"), spent), Some(400)));
        assert!(!quota(body(None, Some("rate_limit_error"), "Number of requests exceeded"), Some(429)));
        // Any 402 (OpenRouter's and DeepSeek's insufficient credits).
        assert!(quota(body(None, None, "Insufficient Balance"), Some(402)));
        // Gemini: per minute is a rate limit; per day, or a limit of 0, is not.
        let google = |ids: &[&str], message: &str| ErrorBody {
            quota_ids: ids.iter().map(|id| (*id).to_owned()).collect(),
            ..body(Some("RESOURCE_EXHAUSTED"), None, message)
        };
        let check = "You exceeded your current quota, please check your plan.";
        assert!(!quota(google(&["GenerateRequestsPerMinutePerProjectPerModel-FreeTier"], check), Some(429)));
        assert!(!quota(google(&[], check), Some(429)));
        assert!(quota(google(&["GenerateRequestsPerDayPerProjectPerModel-FreeTier"], check), Some(429)));
        let zero =
            "Quota exceeded for metric: generate_content_free_tier_requests, limit: 0, model: gemini-pro";
        assert!(quota(google(&["GenerateRequestsPerMinutePerProjectPerModel-FreeTier"], zero), Some(429)));
        let ten = "Quota exceeded for metric: generate_content_free_tier_requests, limit: 10, model: x";
        assert!(!quota(google(&["GenerateRequestsPerMinutePerProjectPerModel-FreeTier"], ten), Some(429)));
        let billing =
            "Gemini API free tier is not available in your country. Please enable billing on your project.";
        assert!(quota(body(Some("FAILED_PRECONDITION"), None, billing), Some(400)));
        // Other client errors are unchanged.
        assert!(!quota(body(None, Some("invalid_request_error"), "max_tokens: too large"), Some(400)));
    }

    #[test]
    fn truncate_marks_the_cut() {
        assert_eq!(truncate("héllo", 2), "hé…");
        assert_eq!(truncate("hi", 2), "hi");
    }
}

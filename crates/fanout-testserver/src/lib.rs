//! A scripted OpenAI-compatible Chat Completions server on loopback, for fanout's tests and
//! benchmarks. It speaks the real wire format: JSON responses, or SSE chunks with tool-call
//! deltas (the first with `index`, `id`, `name` and empty arguments, later ones only `index` and a
//! fragment), a usage chunk with empty `choices`, and `data: [DONE]`; errors as
//! `{"error":{message,type,code}}` with an `x-request-id` header. It can inject faults.
//!
//! ```
//! # #[tokio::main] async fn main() {
//! use fanout_testserver::{Reply, Script, Server};
//!
//! let server = Server::start(Script::sequence([
//!     Reply::tool_calls([("atask1", r#"{"delay":3}"#)]),
//!     Reply::text("All done."),
//! ]))
//! .await
//! .unwrap();
//! println!("point OPENAI_BASE_URL at {}", server.url());
//! # }
//! ```

pub mod anthropic;
pub mod gemini;
pub mod responses;

use std::collections::VecDeque;
use std::convert::Infallible;
use std::fmt::Write as _;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio::sync::{Notify, mpsc};
use tokio::time::Instant;

/// How a streamed reply is shaped and which faults it injects.
#[derive(Debug, Clone, Default)]
pub struct Shape {
    /// Characters per text token (0: the whole text in one chunk).
    pub token_chars: usize,
    /// Characters per tool-call argument fragment (0: one fragment).
    pub fragment_chars: usize,
    /// Wait before each chunk.
    pub chunk_delay: Duration,
    /// Wait before each argument fragment (a slowly streaming model).
    pub fragment_delay: Duration,
    /// Close the connection abruptly after this many chunks (no `[DONE]`).
    pub cut_after: Option<usize>,
    /// Send a chunk that is not JSON after this many chunks.
    pub malformed_after: Option<usize>,
    /// Do not send the usage chunk.
    pub omit_usage: bool,
    /// End lines with CRLF instead of LF.
    pub crlf: bool,
    /// Send `: keep-alive` comments between chunks.
    pub keep_alive: bool,
    /// After this many chunks, stop sending but keep the connection open (a silent server).
    pub stall_after: Option<usize>,
}

/// One scripted reply.
#[derive(Debug, Clone)]
pub enum Reply {
    /// The model calls tools: `(name, arguments text)`.
    ToolCalls(Vec<(String, String)>, Shape),
    /// The model answers with text.
    Text(String, Shape),
    /// An HTTP error with the OpenAI error body.
    Error {
        /// HTTP status.
        status: u16,
        /// `error.message`.
        message: String,
        /// `error.code`.
        code: Option<String>,
        /// `retry-after` header, in seconds.
        retry_after: Option<String>,
        /// `retry-after-ms` header.
        retry_after_ms: Option<String>,
    },
    /// Exactly these bytes, for any provider's wire: recorded streams replayed, other
    /// providers' shapes, faults no other reply makes.
    Raw(Raw),
}

/// A reply given byte for byte (see [`Reply::Raw`]).
#[derive(Debug, Clone, Default)]
pub struct Raw {
    /// HTTP status.
    pub status: u16,
    /// Extra headers (`content-type` is set from `content_type`).
    pub headers: Vec<(String, String)>,
    /// `content-type`.
    pub content_type: String,
    /// The body in pieces; each piece is one write, `delay` apart.
    pub chunks: Vec<String>,
    /// Pause before each chunk after the first.
    pub delay: Duration,
    /// Cut the connection (an I/O error) after this many chunks.
    pub cut_after: Option<usize>,
    /// Stop sending after this many chunks, keeping the connection open.
    pub stall_after: Option<usize>,
}

impl Raw {
    /// An SSE body: one `data:` event per item of `data` (with `event: NAME` first when the
    /// item is `(Some(name), data)`).
    pub fn sse<N: Into<String>, D: Into<String>>(events: impl IntoIterator<Item = (Option<N>, D)>) -> Self {
        let chunks = events
            .into_iter()
            .map(|(name, data)| match name {
                Some(name) => format!("event: {}\ndata: {}\n\n", name.into(), data.into()),
                None => format!("data: {}\n\n", data.into()),
            })
            .collect();
        Raw { status: 200, content_type: "text/event-stream".into(), chunks, ..Raw::default() }
    }

    /// A whole JSON body with `status`.
    pub fn json(status: u16, body: impl Into<String>) -> Self {
        Raw { status, content_type: "application/json".into(), chunks: vec![body.into()], ..Raw::default() }
    }

    /// Add a header.
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// Change it in place.
    pub fn with(mut self, f: impl FnOnce(&mut Raw)) -> Self {
        f(&mut self);
        self
    }
}

impl Reply {
    /// Tool calls with the given names and argument texts.
    pub fn tool_calls<N: Into<String>, A: Into<String>>(calls: impl IntoIterator<Item = (N, A)>) -> Self {
        Reply::ToolCalls(calls.into_iter().map(|(n, a)| (n.into(), a.into())).collect(), Shape::default())
    }

    /// A text answer.
    pub fn text(text: impl Into<String>) -> Self {
        Reply::Text(text.into(), Shape::default())
    }

    /// An error reply.
    pub fn error(status: u16, message: impl Into<String>) -> Self {
        Reply::Error { status, message: message.into(), code: None, retry_after: None, retry_after_ms: None }
    }

    /// Set the error's `code` (errors only).
    pub fn code(mut self, value: &str) -> Self {
        if let Reply::Error { code, .. } = &mut self {
            *code = Some(value.to_owned());
        }
        self
    }

    /// Send `retry-after: seconds` (errors only).
    pub fn retry_after(mut self, seconds: &str) -> Self {
        if let Reply::Error { retry_after, .. } = &mut self {
            *retry_after = Some(seconds.to_owned());
        }
        self
    }

    /// Send `retry-after-ms: ms` (errors only).
    pub fn retry_after_ms(mut self, ms: &str) -> Self {
        if let Reply::Error { retry_after_ms, .. } = &mut self {
            *retry_after_ms = Some(ms.to_owned());
        }
        self
    }

    /// A raw reply (see [`Raw`]).
    pub fn raw(raw: Raw) -> Self {
        Reply::Raw(raw)
    }

    /// Shape the stream (tool calls and text only).
    pub fn shaped(mut self, f: impl FnOnce(&mut Shape)) -> Self {
        if let Reply::ToolCalls(_, shape) | Reply::Text(_, shape) = &mut self {
            f(shape);
        }
        self
    }
}

/// What the server answers.
#[derive(Debug, Clone)]
pub enum Script {
    /// One reply per request, in order; a 500 once they run out.
    Sequence(Arc<Mutex<VecDeque<Reply>>>),
    /// Stateless, for any number of concurrent runs: when the last message is not a tool result,
    /// call every offered tool with these arguments; otherwise summarize the tool results.
    CallAllTools {
        /// The arguments of every call, as JSON text.
        arguments: String,
        /// Tools called otherwise: by name, the arguments of each of its calls (a tool may be
        /// called several times in the turn, or not at all).
        per_tool: Vec<(String, Vec<String>)>,
        /// Stream shaping.
        shape: Shape,
    },
}

impl Script {
    /// Reply to requests with `replies`, in order.
    pub fn sequence(replies: impl IntoIterator<Item = Reply>) -> Self {
        Script::Sequence(Arc::new(Mutex::new(replies.into_iter().collect())))
    }

    /// The seed flow for any agent: call every offered tool with `arguments`, then summarize.
    pub fn call_all_tools(arguments: impl Into<String>) -> Self {
        Script::CallAllTools { arguments: arguments.into(), per_tool: Vec::new(), shape: Shape::default() }
    }

    fn reply(&self, body: &Value) -> Reply {
        match self {
            Script::Sequence(replies) => replies
                .lock()
                .ok()
                .and_then(|mut r| r.pop_front())
                .unwrap_or_else(|| Reply::error(500, "the test server's script has no more replies")),
            Script::CallAllTools { arguments, per_tool, shape } => {
                let messages = body["messages"].as_array().map(Vec::as_slice).unwrap_or_default();
                if messages.last().is_some_and(|m| m["role"] == "tool") {
                    Reply::Text(summarize(messages), shape.clone())
                } else {
                    let tools = body["tools"].as_array().map(Vec::as_slice).unwrap_or_default();
                    let calls = tools
                        .iter()
                        .filter_map(|t| t["function"]["name"].as_str())
                        .flat_map(|name| match per_tool.iter().find(|(tool, _)| tool == name) {
                            Some((_, calls)) => {
                                calls.iter().map(|args| (name.to_owned(), args.clone())).collect()
                            }
                            None => vec![(name.to_owned(), arguments.clone())],
                        })
                        .collect();
                    Reply::ToolCalls(calls, shape.clone())
                }
            }
        }
    }
}

/// A markdown table of the trailing tool results, sorted by tool name (as Agno's example shows).
fn summarize(messages: &[Value]) -> String {
    let names: std::collections::HashMap<&str, &str> = messages
        .iter()
        .filter_map(|m| m["tool_calls"].as_array())
        .flatten()
        .filter_map(|c| Some((c["id"].as_str()?, c["function"]["name"].as_str()?)))
        .collect();
    let mut results: Vec<(&str, &str)> = messages
        .iter()
        .rev()
        .take_while(|m| m["role"] == "tool")
        .map(|m| {
            let id = m["tool_call_id"].as_str().unwrap_or_default();
            (names.get(id).copied().unwrap_or(id), m["content"].as_str().unwrap_or_default())
        })
        .collect();
    results.sort();
    let mut text = String::from("All tasks have finished.\n\n| # | result |\n|---|---|\n");
    for (i, (_, content)) in results.iter().enumerate() {
        text.push_str(&format!("| {} | {} |\n", i + 1, content.replace('|', "\\|").replace('\n', " ")));
    }
    text.push_str("\nDone.");
    text
}

/// A request the server received.
#[derive(Debug, Clone)]
pub struct Received {
    /// When it arrived.
    pub at: Instant,
    /// Its path.
    pub path: String,
    /// Its query string (`api-version=…`), if any.
    pub query: Option<String>,
    /// The `authorization` header.
    pub authorization: Option<String>,
    /// The JSON body (`Value::Null` if it was not JSON).
    pub body: Value,
    /// Every header, names in lower case.
    pub headers: Vec<(String, String)>,
}

impl Received {
    /// The value of header `name` (lower case).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
    }
}

struct Shared {
    script: Script,
    received: Mutex<Vec<Received>>,
    arrived: Notify,
    ids: AtomicU64,
}

/// A running server; stops when dropped.
#[derive(Debug)]
pub struct Server {
    addr: SocketAddr,
    shared: Arc<Shared>,
    task: tokio::task::JoinHandle<()>,
}

impl std::fmt::Debug for Shared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shared").field("script", &self.script).finish_non_exhaustive()
    }
}

impl Server {
    /// Start on 127.0.0.1 with a free port.
    pub async fn start(script: Script) -> std::io::Result<Self> {
        Self::bind(script, 0).await
    }

    /// Start on 127.0.0.1:`port` (0: any free port).
    pub async fn bind(script: Script, port: u16) -> std::io::Result<Self> {
        let listener = TcpListener::bind(("127.0.0.1", port)).await?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared {
            script,
            received: Mutex::default(),
            arrived: Notify::new(),
            ids: AtomicU64::new(0),
        });
        let accept_shared = Arc::clone(&shared);
        let task = tokio::spawn(async move {
            while let Ok((socket, _)) = listener.accept().await {
                let shared = Arc::clone(&accept_shared);
                tokio::spawn(async move {
                    let service = hyper::service::service_fn(move |req| handle(Arc::clone(&shared), req));
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(socket), service)
                        .await;
                });
            }
        });
        Ok(Self { addr, shared, task })
    }

    /// The base URL, like `http://127.0.0.1:PORT/v1`: what `OPENAI_BASE_URL` takes.
    pub fn url(&self) -> String {
        format!("http://{}/v1", self.addr)
    }

    /// The requests received so far, oldest first.
    pub fn requests(&self) -> Vec<Received> {
        self.with_requests(<[Received]>::to_vec)
    }

    /// Look at the requests received so far without copying them (bodies can be megabytes).
    pub fn with_requests<R>(&self, f: impl FnOnce(&[Received]) -> R) -> R {
        match self.shared.received.lock() {
            Ok(received) => f(&received),
            Err(poisoned) => f(&poisoned.into_inner()),
        }
    }

    /// Wait until `n` requests have arrived.
    pub async fn wait_for_requests(&self, n: usize) {
        loop {
            let notified = self.shared.arrived.notified();
            tokio::pin!(notified);
            // Registered before the check, so an arrival in between is not missed.
            notified.as_mut().enable();
            if self.with_requests(<[Received]>::len) >= n {
                return;
            }
            notified.await;
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.task.abort();
    }
}

type Body = BoxBody<Bytes, std::io::Error>;

async fn handle(shared: Arc<Shared>, req: Request<Incoming>) -> Result<Response<Body>, Infallible> {
    let at = Instant::now();
    let path = req.uri().path().to_owned();
    let query = req.uri().query().map(str::to_owned);
    let authorization = req.headers().get("authorization").and_then(|v| v.to_str().ok()).map(str::to_owned);
    let headers = req
        .headers()
        .iter()
        .filter_map(|(name, value)| Some((name.as_str().to_owned(), value.to_str().ok()?.to_owned())))
        .collect();
    let bytes = req.into_body().collect().await.map(|b| b.to_bytes()).unwrap_or_default();
    let body: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    let request_id = format!("req_{}", shared.ids.fetch_add(1, Ordering::Relaxed));
    // The seed flow speaks Chat Completions only; a scripted sequence answers any path, so raw
    // replies can speak other providers' wires.
    let known_route = path.ends_with("/chat/completions") || matches!(shared.script, Script::Sequence(_));
    let reply = if known_route { Some(shared.script.reply(&body)) } else { None };
    let model = body["model"].as_str().unwrap_or("scripted").to_owned();
    let stream = body["stream"].as_bool().unwrap_or(false);
    let include_usage = body["stream_options"]["include_usage"].as_bool().unwrap_or(false);
    let prompt_tokens = (bytes.len() / 4) as u64;
    // Logged after the reply is chosen so the (possibly megabytes large) body is moved, not copied.
    if let Ok(mut received) = shared.received.lock() {
        received.push(Received { at, path: path.clone(), query, authorization, body, headers });
    }
    shared.arrived.notify_waiters();
    let Some(reply) = reply else {
        return Ok(error_response(404, &format!("no route for {path}"), None, &request_id, None, None));
    };
    Ok(match reply {
        Reply::Error { status, message, code, retry_after, retry_after_ms } => {
            error_response(status, &message, code, &request_id, retry_after, retry_after_ms)
        }
        Reply::Raw(raw) => raw_response(raw, &request_id),
        Reply::ToolCalls(calls, shape) if stream => streamed(
            tool_call_chunks(&calls, &shape),
            shape,
            include_usage,
            prompt_tokens,
            &model,
            &request_id,
        ),
        Reply::Text(text, shape) if stream => {
            streamed(text_chunks(&text, &shape), shape, include_usage, prompt_tokens, &model, &request_id)
        }
        Reply::ToolCalls(calls, _) => {
            let tool_calls: Vec<Value> = calls
                .iter()
                .enumerate()
                .map(|(i, (name, args))| {
                    json!({"id": format!("call_{i}"), "type": "function", "function": {"name": name, "arguments": args}})
                })
                .collect();
            let size = calls.iter().map(|(n, a)| n.len() + a.len()).sum::<usize>();
            let message =
                json!({"role": "assistant", "content": null, "tool_calls": tool_calls, "refusal": null});
            completion(message, "tool_calls", prompt_tokens, size, &model, &request_id)
        }
        Reply::Text(text, _) => {
            let message = json!({"role": "assistant", "content": text, "refusal": null});
            completion(message, "stop", prompt_tokens, text.len(), &model, &request_id)
        }
    })
}

fn usage(prompt: u64, completion_chars: usize) -> Value {
    let completion = (completion_chars / 4) as u64 + 1;
    json!({
        "prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion,
        "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
        "completion_tokens_details": {"reasoning_tokens": 0, "audio_tokens": 0}
    })
}

fn completion(
    message: Value,
    finish: &str,
    prompt: u64,
    chars: usize,
    model: &str,
    id: &str,
) -> Response<Body> {
    let body = json!({
        "id": format!("chatcmpl-{id}"), "object": "chat.completion", "created": 1_764_000_000, "model": model,
        "choices": [{"index": 0, "message": message, "finish_reason": finish, "logprobs": null}],
        "usage": usage(prompt, chars), "system_fingerprint": null, "service_tier": "default"
    });
    response(200, "application/json", id, full(body.to_string()))
}

fn error_response(
    status: u16,
    message: &str,
    code: Option<String>,
    id: &str,
    retry_after: Option<String>,
    retry_after_ms: Option<String>,
) -> Response<Body> {
    let kind = if status >= 500 { "server_error" } else { "invalid_request_error" };
    let body = json!({"error": {"message": message, "type": kind, "param": null, "code": code}});
    let mut resp = response(status, "application/json", id, full(body.to_string()));
    for (name, value) in [("retry-after", retry_after), ("retry-after-ms", retry_after_ms)] {
        if let Some(value) = value.and_then(|v| hyper::header::HeaderValue::from_str(&v).ok()) {
            resp.headers_mut().insert(name, value);
        }
    }
    resp
}

fn full(text: String) -> Body {
    Full::new(Bytes::from(text)).map_err(|never| match never {}).boxed()
}

fn response(status: u16, content_type: &str, id: &str, body: Body) -> Response<Body> {
    let mut resp = Response::new(body);
    *resp.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let headers = resp.headers_mut();
    if let Ok(v) = hyper::header::HeaderValue::from_str(content_type) {
        headers.insert("content-type", v);
    }
    if let Ok(v) = hyper::header::HeaderValue::from_str(id) {
        headers.insert("x-request-id", v);
    }
    resp
}

/// A streamed chunk's `delta` and `finish_reason`, plus the delay before it.
struct Piece {
    delta: Value,
    finish: Option<&'static str>,
    delay: Duration,
}

fn split(text: &str, size: usize) -> Vec<String> {
    if size == 0 || text.is_empty() {
        return vec![text.to_owned()];
    }
    let chars: Vec<char> = text.chars().collect();
    chars.chunks(size).map(|c| c.iter().collect()).collect()
}

fn text_chunks(text: &str, shape: &Shape) -> Vec<Piece> {
    let mut pieces = vec![Piece {
        delta: json!({"role": "assistant", "content": ""}),
        finish: None,
        delay: Duration::ZERO,
    }];
    pieces.extend(split(text, shape.token_chars).into_iter().map(|t| Piece {
        delta: json!({"content": t}),
        finish: None,
        delay: shape.chunk_delay,
    }));
    pieces.push(Piece { delta: json!({}), finish: Some("stop"), delay: Duration::ZERO });
    pieces
}

fn tool_call_chunks(calls: &[(String, String)], shape: &Shape) -> Vec<Piece> {
    let mut pieces = Vec::new();
    for (index, (name, args)) in calls.iter().enumerate() {
        let mut first = json!({"tool_calls": [{"index": index, "id": format!("call_{index}"), "type": "function",
            "function": {"name": name, "arguments": ""}}]});
        if index == 0 {
            first["role"] = "assistant".into();
            first["content"] = Value::Null;
        }
        pieces.push(Piece { delta: first, finish: None, delay: shape.chunk_delay });
        for fragment in split(args, shape.fragment_chars) {
            pieces.push(Piece {
                delta: json!({"tool_calls": [{"index": index, "function": {"arguments": fragment}}]}),
                finish: None,
                delay: shape.chunk_delay + shape.fragment_delay,
            });
        }
    }
    pieces.push(Piece { delta: json!({}), finish: Some("tool_calls"), delay: Duration::ZERO });
    pieces
}

/// How many bytes of chunks that are due together are sent in one write.
const FLUSH_AT: usize = 64 * 1024;

fn streamed(
    pieces: Vec<Piece>,
    shape: Shape,
    include_usage: bool,
    prompt: u64,
    model: &str,
    id: &str,
) -> Response<Body> {
    let (tx, rx) = mpsc::channel::<Result<Frame<Bytes>, std::io::Error>>(16);
    let completion_chars: usize = pieces.iter().map(|p| p.delta.to_string().len()).sum();
    let model = model.to_owned();
    let chunk_id = format!("chatcmpl-{id}");
    let end = if shape.crlf { "\r\n" } else { "\n" };
    tokio::spawn(async move {
        // Chunks due at the same moment leave in one write, as from a busy real server: the bytes
        // are the same, without one channel send and one syscall per chunk. A pause (pacing), a
        // fault or the end sends what is pending first.
        let mut pending = String::new();
        macro_rules! flush {
            () => {
                if !pending.is_empty()
                    && tx.send(Ok(Frame::data(Bytes::from(std::mem::take(&mut pending))))).await.is_err()
                {
                    return;
                }
            };
        }
        for (n, piece) in pieces.into_iter().enumerate() {
            if !piece.delay.is_zero() {
                flush!();
                tokio::time::sleep(piece.delay).await;
            }
            if shape.stall_after == Some(n) {
                flush!();
                // Silent, the connection open, until the client gives up.
                tx.closed().await;
                return;
            }
            if shape.cut_after == Some(n) {
                flush!();
                let _ = tx.send(Err(std::io::Error::other("connection cut by the test script"))).await;
                return;
            }
            if shape.malformed_after == Some(n) {
                let _ = write!(pending, "data: {{\"choices\": [{{\"delta\": {end}{end}");
            }
            if shape.keep_alive {
                let _ = write!(pending, ": keep-alive{end}{end}");
            }
            let chunk = json!({
                "id": chunk_id, "object": "chat.completion.chunk", "created": 1_764_000_000, "model": model,
                "system_fingerprint": null,
                "choices": [{"index": 0, "delta": piece.delta, "logprobs": null, "finish_reason": piece.finish}]
            });
            let _ = write!(pending, "data: {chunk}{end}{end}");
            if pending.len() >= FLUSH_AT {
                flush!();
            }
        }
        if include_usage && !shape.omit_usage {
            let chunk = json!({"id": chunk_id, "object": "chat.completion.chunk", "created": 1_764_000_000,
                "model": model, "choices": [], "usage": usage(prompt, completion_chars)});
            let _ = write!(pending, "data: {chunk}{end}{end}");
        }
        let _ = write!(pending, "data: [DONE]{end}{end}");
        flush!();
    });
    let body = StreamBody::new(tokio_stream_from(rx)).boxed();
    let mut resp = response(200, "text/event-stream", id, body);
    resp.headers_mut().insert("cache-control", hyper::header::HeaderValue::from_static("no-cache"));
    resp
}

fn raw_response(raw: Raw, id: &str) -> Response<Body> {
    let (tx, rx) = mpsc::channel::<Result<Frame<Bytes>, std::io::Error>>(16);
    let delay = raw.delay;
    let (cut_after, stall_after) = (raw.cut_after, raw.stall_after);
    tokio::spawn(async move {
        for (n, chunk) in raw.chunks.into_iter().enumerate() {
            if n > 0 && !delay.is_zero() {
                tokio::time::sleep(delay).await;
            }
            if stall_after == Some(n) {
                tx.closed().await;
                return;
            }
            if cut_after == Some(n) {
                let _ = tx.send(Err(std::io::Error::other("connection cut by the test script"))).await;
                return;
            }
            if tx.send(Ok(Frame::data(Bytes::from(chunk)))).await.is_err() {
                return;
            }
        }
    });
    let body = StreamBody::new(tokio_stream_from(rx)).boxed();
    let mut resp = response(raw.status, &raw.content_type, id, body);
    for (name, value) in raw.headers {
        if let (Ok(name), Ok(value)) =
            (hyper::header::HeaderName::try_from(name), hyper::header::HeaderValue::try_from(value))
        {
            resp.headers_mut().insert(name, value);
        }
    }
    resp
}

fn tokio_stream_from<T: Send + 'static>(
    mut rx: mpsc::Receiver<T>,
) -> impl futures::Stream<Item = T> + Send + 'static {
    futures::stream::poll_fn(move |cx| rx.poll_recv(cx))
}

//! The `otel` feature end to end: runs traced through `fanout::telemetry` are exported over real
//! OTLP/HTTP to a loopback receiver, which decodes them with the official protobuf definitions.
//! The spans must show what fanout does: a batch of tool calls as overlapping siblings under the
//! agent span, one chat span per model attempt with its usage, retries and failures.
#![cfg(feature = "otel")]
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use fanout::RetryPolicy;
use fanout::models::openai::OpenAIChat;
use fanout::models::scripted::{ScriptedModel, Turn};
use fanout::prelude::*;
use fanout::telemetry::Telemetry;
use fanout_testserver::{Reply, Script, Server};
use futures::StreamExt;
use http_body_util::{BodyExt, Full};
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use opentelemetry_proto::tonic::common::v1::any_value::Value;
use opentelemetry_proto::tonic::trace::v1::span::SpanKind;
use opentelemetry_proto::tonic::trace::v1::status::StatusCode;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, Span};
use prost::Message as _;
use tracing_subscriber::Layer;
use tracing_subscriber::filter::LevelFilter;
use tracing_subscriber::layer::SubscriberExt;

/// An OTLP/HTTP trace receiver on loopback, on a runtime of its own: the exporter's flush
/// blocks the test's thread while it waits for the answer.
struct Receiver {
    url: String,
    received: Arc<Mutex<Vec<ResourceSpans>>>,
    paths: Arc<Mutex<Vec<(String, String)>>>,
}

impl Receiver {
    fn start() -> Self {
        let received = Arc::new(Mutex::new(Vec::new()));
        let paths = Arc::new(Mutex::new(Vec::new()));
        let (tx, rx) = std::sync::mpsc::channel();
        let (store, log) = (Arc::clone(&received), Arc::clone(&paths));
        std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
            runtime.block_on(async move {
                let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
                tx.send(listener.local_addr().unwrap()).unwrap();
                loop {
                    let (stream, _) = listener.accept().await.unwrap();
                    let (store, log) = (Arc::clone(&store), Arc::clone(&log));
                    tokio::spawn(async move {
                        let service = service_fn(move |request: Request<hyper::body::Incoming>| {
                            let (store, log) = (Arc::clone(&store), Arc::clone(&log));
                            async move {
                                let path = request.uri().path().to_owned();
                                let content_type = request
                                    .headers()
                                    .get("content-type")
                                    .and_then(|v| v.to_str().ok())
                                    .unwrap_or_default()
                                    .to_owned();
                                log.lock().unwrap().push((path, content_type));
                                let body = request.into_body().collect().await.unwrap().to_bytes();
                                let export = ExportTraceServiceRequest::decode(body).unwrap();
                                store.lock().unwrap().extend(export.resource_spans);
                                let reply = ExportTraceServiceResponse::default().encode_to_vec();
                                Ok::<_, Infallible>(
                                    Response::builder()
                                        .header("content-type", "application/x-protobuf")
                                        .body(Full::new(Bytes::from(reply)))
                                        .unwrap(),
                                )
                            }
                        });
                        let _ = hyper::server::conn::http1::Builder::new()
                            .serve_connection(TokioIo::new(stream), service)
                            .await;
                    });
                }
            });
        });
        let addr = rx.recv().unwrap();
        Self { url: format!("http://{addr}"), received, paths }
    }

    /// Every span received, with the resource's `service.name`.
    fn spans(&self) -> Vec<Span> {
        let received = self.received.lock().unwrap();
        received.iter().flat_map(|r| &r.scope_spans).flat_map(|s| s.spans.iter().cloned()).collect()
    }
}

/// Run `run` with a subscriber exporting to a fresh receiver; return the spans it got.
async fn traced<F: Future<Output = ()>>(run: impl FnOnce() -> F) -> (Receiver, Vec<Span>) {
    let receiver = Receiver::start();
    let telemetry = Telemetry::otlp_http(&receiver.url).unwrap();
    // INFO and above, as `telemetry::init` keeps (hyper's TRACE events would be span events).
    let subscriber = tracing_subscriber::registry().with(telemetry.layer().with_filter(LevelFilter::INFO));
    {
        // The test runtime has one thread: every task of the run sees this subscriber.
        let _default = tracing::subscriber::set_default(subscriber);
        run().await;
    }
    telemetry.flush().unwrap();
    let spans = receiver.spans();
    (receiver, spans)
}

fn attr<'a>(span: &'a Span, key: &str) -> Option<&'a Value> {
    span.attributes.iter().find(|kv| kv.key == key).and_then(|kv| kv.value.as_ref()?.value.as_ref())
}

fn text<'a>(span: &'a Span, key: &str) -> Option<&'a str> {
    match attr(span, key)? {
        Value::StringValue(s) => Some(s),
        _ => None,
    }
}

fn int(span: &Span, key: &str) -> Option<i64> {
    match attr(span, key)? {
        Value::IntValue(i) => Some(*i),
        _ => None,
    }
}

fn strings(span: &Span, key: &str) -> Vec<String> {
    match attr(span, key) {
        Some(Value::ArrayValue(array)) => array
            .values
            .iter()
            .filter_map(|v| match v.value.as_ref()? {
                Value::StringValue(s) => Some(s.clone()),
                _ => None,
            })
            .collect(),
        other => panic!("`{key}` is not a string array: {other:?}"),
    }
}

fn named<'a>(spans: &'a [Span], operation: &str) -> Vec<&'a Span> {
    let mut found: Vec<&Span> =
        spans.iter().filter(|s| text(s, "gen_ai.operation.name") == Some(operation)).collect();
    found.sort_by_key(|s| s.start_time_unix_nano);
    found
}

fn is_error(span: &Span) -> bool {
    span.status.as_ref().is_some_and(|s| s.code == StatusCode::Error as i32)
}

/// The response id and model a chat span carries.
fn who(chat: &Span) -> (Option<&str>, Option<&str>) {
    (text(chat, "gen_ai.response.id"), text(chat, "gen_ai.response.model"))
}

/// Sleep `ms` milliseconds
#[tool]
async fn nap1(ms: u64) -> String {
    tokio::time::sleep(Duration::from_millis(ms)).await;
    format!("nap 1 took {ms}ms")
}

/// Sleep `ms` milliseconds
#[tool]
async fn nap2(ms: u64) -> String {
    tokio::time::sleep(Duration::from_millis(ms)).await;
    format!("nap 2 took {ms}ms")
}

/// Sleep `ms` milliseconds
#[tool]
async fn nap3(ms: u64) -> String {
    tokio::time::sleep(Duration::from_millis(ms)).await;
    format!("nap 3 took {ms}ms")
}

#[tokio::test]
async fn the_seed_flow_is_an_agent_span_with_overlapping_sibling_tool_spans() {
    let model = ScriptedModel::new([
        Turn::call_every_tool(serde_json::json!({"ms": 200})),
        Turn::summarize_results(),
    ]);
    let agent = Agent::builder().name("seed").model(model).tools(tools![nap1, nap2, nap3]).build().unwrap();
    let (receiver, spans) = traced(|| async {
        let mut events = Box::pin(agent.run("Please run all tasks").stream().map(|e| e.map(|e| e.kind)));
        while let Some(event) = events.next().await {
            event.unwrap();
        }
    })
    .await;
    assert!(
        receiver
            .paths
            .lock()
            .unwrap()
            .iter()
            .all(|(path, ct)| path == "/v1/traces" && ct == "application/x-protobuf"),
        "{:?}",
        receiver.paths.lock().unwrap()
    );

    let agents = named(&spans, "invoke_agent");
    assert_eq!(agents.len(), 1, "one run, one agent span");
    let run = agents[0];
    assert_eq!(run.name, "invoke_agent seed");
    assert_eq!(text(run, "gen_ai.agent.name"), Some("seed"));
    assert_eq!(text(run, "gen_ai.provider.name"), Some("scripted"));
    assert!(int(run, "gen_ai.usage.input_tokens").unwrap() > 0);
    assert!(!is_error(run));

    let chats = named(&spans, "chat");
    assert_eq!(chats.len(), 2, "two model turns");
    for ((chat, finish), turn) in chats.iter().zip(["tool_calls", "stop"]).zip(1..) {
        assert_eq!(chat.name, "chat scripted");
        assert_eq!(text(chat, "gen_ai.response.model"), Some("scripted"));
        assert_eq!(text(chat, "gen_ai.response.id"), Some(format!("scripted-turn-{turn}").as_str()));
        assert_eq!(chat.kind, SpanKind::Client as i32);
        assert_eq!(chat.parent_span_id, run.span_id);
        assert_eq!(text(chat, "gen_ai.request.model"), Some("scripted"));
        assert!(int(chat, "gen_ai.usage.input_tokens").unwrap() > 0, "usage on {chat:?}");
        assert!(int(chat, "gen_ai.usage.output_tokens").unwrap() > 0);
        assert_eq!(strings(chat, "gen_ai.response.finish_reasons"), [finish]);
        assert_eq!(int(chat, "fanout.retry"), Some(0));
    }

    let tools = named(&spans, "execute_tool");
    assert_eq!(tools.len(), 3);
    let mut names: Vec<&str> = tools.iter().map(|t| t.name.as_str()).collect();
    names.sort_unstable();
    assert_eq!(names, ["execute_tool nap1", "execute_tool nap2", "execute_tool nap3"]);
    for tool in &tools {
        assert_eq!(tool.trace_id, run.trace_id);
        assert_eq!(tool.parent_span_id, run.span_id, "tool spans are siblings of the chat spans");
        assert_eq!(tool.kind, SpanKind::Internal as i32);
        assert_eq!(text(tool, "gen_ai.tool.type"), Some("function"));
        assert!(text(tool, "gen_ai.tool.call.id").is_some_and(|id| id.starts_with("call_")));
        assert_eq!(text(tool, "gen_ai.tool.description"), Some("Sleep `ms` milliseconds"));
        assert_eq!(attr(tool, "gen_ai.tool.call.arguments"), None, "content is opt-in");
        assert!(!is_error(tool));
        // Each ran its 200 ms (margin for the clock's coarseness).
        assert!(tool.end_time_unix_nano - tool.start_time_unix_nano >= 190_000_000);
    }
    // They ran at the same time: each started before any other ended.
    let first_end = tools.iter().map(|t| t.end_time_unix_nano).min().unwrap();
    assert!(tools.iter().all(|t| t.start_time_unix_nano < first_end), "the calls overlap");
    // Between the two chat spans.
    assert!(tools.iter().all(|t| t.start_time_unix_nano >= chats[0].start_time_unix_nano));
    assert!(tools.iter().all(|t| t.end_time_unix_nano <= chats[1].start_time_unix_nano));
}

/// Wait `ms` milliseconds
#[tool]
async fn wait_ms(ms: u64) -> String {
    tokio::time::sleep(Duration::from_millis(ms)).await;
    format!("waited {ms}ms")
}

/// Always fails
#[tool]
async fn broken() -> Result<String, String> {
    Err("the disk is on fire".to_owned())
}

#[tokio::test]
async fn retries_cancelled_calls_and_failed_tools_are_visible() {
    // Turn 1: two eager calls start, then the stream is cut (retry 1, both calls cancelled);
    // then a rate limit (retry 2); then the calls. Turn 2: the answer.
    let eager = [("wait_ms", r#"{"ms": 5000}"#), ("wait_ms", r#"{"ms": 5000}"#), ("wait_ms", r#"{"ms": 1}"#)];
    let cut = Reply::tool_calls(eager).shaped(|s| {
        s.chunk_delay = Duration::from_millis(30);
        s.cut_after = Some(5);
    });
    let server = Server::start(Script::sequence([
        cut,
        Reply::error(429, "slow down").retry_after_ms("10"),
        Reply::tool_calls([("broken", "{}"), ("wait_ms", r#"{"ms": 3}"#)]),
        Reply::text("done"),
    ]))
    .await
    .unwrap();
    let model = OpenAIChat::new("gpt-5-mini").api_key("sk-test").base_url(server.url());
    let policy = RetryPolicy::default().initial_backoff(Duration::from_millis(5));
    let agent = Agent::builder()
        .model(model)
        .tools(tools![wait_ms, broken])
        .retry_policy(policy)
        .trace_tool_content(true)
        .build()
        .unwrap();
    let (_receiver, spans) = traced(|| async {
        let mut events = Box::pin(agent.run("go").stream().map(|e| e.map(|e| e.kind)));
        while let Some(event) = events.next().await {
            event.unwrap();
        }
    })
    .await;
    let run = named(&spans, "invoke_agent")[0];
    assert_eq!(run.name, "invoke_agent", "an agent without a name");

    let chats = named(&spans, "chat");
    let retries: Vec<i64> = chats.iter().map(|c| int(c, "fanout.retry").unwrap()).collect();
    assert_eq!(retries, [0, 1, 2, 0], "three attempts for turn 1, one for turn 2");
    assert_eq!(chats[0].name, "chat gpt-5-mini");
    assert_eq!(text(chats[0], "gen_ai.provider.name"), Some("openai"));
    for failed in &chats[..2] {
        assert!(is_error(failed), "{failed:?}");
        assert_eq!(failed.events.len(), 1, "the retry warning is an event of the failed attempt");
        assert!(failed.end_time_unix_nano <= chats[2].start_time_unix_nano);
    }
    assert!(text(chats[0], "error.type").is_some());
    assert_eq!(text(chats[1], "error.type"), Some("429"));
    // Who answered, on every attempt that got an answer: the cut stream had said it already.
    assert_eq!(who(chats[0]), (Some("chatcmpl-req_0"), Some("gpt-5-mini")));
    assert_eq!(who(chats[1]), (None, None), "the 429 answered nothing");
    assert_eq!(who(chats[2]), (Some("chatcmpl-req_2"), Some("gpt-5-mini")));
    assert_eq!(who(chats[3]), (Some("chatcmpl-req_3"), Some("gpt-5-mini")));
    assert!(chats[2..].iter().all(|c| !is_error(c) && text(c, "error.type").is_none()));

    let tools = named(&spans, "execute_tool");
    assert!(tools.iter().all(|t| t.parent_span_id == run.span_id));
    let cancelled: Vec<&&Span> =
        tools.iter().filter(|t| text(t, "error.type") == Some("cancelled")).collect();
    assert_eq!(cancelled.len(), 2, "both eager calls of the cut attempt");
    assert!(cancelled.iter().all(|t| is_error(t) && t.end_time_unix_nano <= chats[1].start_time_unix_nano));

    let failed = tools.iter().find(|t| t.name == "execute_tool broken").unwrap();
    assert!(is_error(failed));
    assert_eq!(text(failed, "error.type"), Some("failed"));
    assert_eq!(failed.status.as_ref().unwrap().message, "the disk is on fire");

    let ok = tools.iter().find(|t| text(t, "gen_ai.tool.call.arguments") == Some(r#"{"ms": 3}"#)).unwrap();
    assert_eq!(text(ok, "gen_ai.tool.call.result"), Some("waited 3ms"), "content capture is on");
    assert!(!is_error(ok));
}

#[tokio::test]
async fn every_provider_reports_who_answered_streamed_or_whole() {
    use fanout::models::anthropic::Claude;
    use fanout::models::google::Gemini;
    use fanout::models::openai::OpenAIResponses;
    use fanout_testserver::{anthropic, gemini, responses};

    // (the agent, the reply, streamed, the response id and model the chat span must carry)
    let claude = anthropic::Turn::new().id("msg_01abc").text("ok");
    let gemini_turn = gemini::Turn::new().text("ok").response_id("resp-gemini-1");
    let responses_turn = responses::Turn::new("resp_abc").text("ok");
    let cases = [
        ("claude", Reply::raw(claude.sse()), true, ("msg_01abc", "claude-test")),
        ("claude", Reply::raw(claude.json()), false, ("msg_01abc", "claude-test")),
        ("gemini", gemini_turn.reply(), true, ("resp-gemini-1", "gemini-test")),
        ("gemini", gemini_turn.whole(), false, ("resp-gemini-1", "gemini-test")),
        ("responses", responses_turn.reply(), true, ("resp_abc", responses::MODEL)),
        ("responses", responses_turn.whole(), false, ("resp_abc", responses::MODEL)),
        ("openai", Reply::text("ok"), false, ("chatcmpl-req_0", "gpt-5-mini")),
    ];
    for (provider, reply, streamed, (id, model)) in cases {
        let server = Server::start(Script::sequence([reply])).await.unwrap();
        let builder = Agent::builder();
        let builder = match provider {
            "claude" => builder
                .model(Claude::new("claude-sonnet-4-5").api_key("k").base_url(anthropic::base_url(&server))),
            "gemini" => builder
                .model(Gemini::new("gemini-2.5-flash").api_key("k").base_url(gemini::base_url(&server))),
            "responses" => {
                builder.model(OpenAIResponses::new("gpt-5-mini").api_key("k").base_url(server.url()))
            }
            _ => builder.model(OpenAIChat::new("gpt-5-mini").api_key("k").base_url(server.url())),
        };
        let agent = builder.build().unwrap();
        let (_receiver, spans) = traced(|| async {
            if streamed {
                let mut events = Box::pin(agent.run("hi").stream());
                while let Some(event) = events.next().await {
                    event.unwrap();
                }
            } else {
                agent.run("hi").await.unwrap();
            }
        })
        .await;
        let chats = named(&spans, "chat");
        assert_eq!(chats.len(), 1, "{provider}");
        let at = format!("{provider}, streamed: {streamed}");
        assert_eq!(text(chats[0], "gen_ai.response.id"), Some(id), "{at}");
        assert_eq!(text(chats[0], "gen_ai.response.model"), Some(model), "{at}");
        if provider != "openai" {
            // The test server's Chat Completions echoes the model asked for; the others do not.
            assert_ne!(text(chats[0], "gen_ai.request.model"), Some(model), "{at}: the model that answered");
        }
    }
}

#[tokio::test]
async fn a_members_agent_span_is_a_child_of_the_leaders_tool_span_that_ran_it() {
    let member = |name: &str| {
        Agent::builder()
            .name(name)
            .model(ScriptedModel::new([
                Turn::call_every_tool(serde_json::json!({"ms": 50})),
                Turn::summarize_results(),
            ]))
            .tools(tools![nap1, nap2])
            .build()
            .unwrap()
    };
    let leader = Agent::builder().name("lead").model(ScriptedModel::new([
        Turn::call_every_tool(serde_json::json!({"task": "nap"})),
        Turn::summarize_results(),
    ]));
    let team = Team::new(leader).members([member("m1"), member("m2")]).build().unwrap();
    let (_, spans) = traced(|| async {
        let mut events = Box::pin(team.run("go").stream());
        while let Some(event) = events.next().await {
            event.unwrap();
        }
    })
    .await;
    let agents = named(&spans, "invoke_agent");
    assert_eq!(agents.len(), 3);
    let lead = agents.iter().find(|s| text(s, "gen_ai.agent.name") == Some("lead")).unwrap();
    let tools = named(&spans, "execute_tool");
    for name in ["m1", "m2"] {
        let agent = agents.iter().find(|s| text(s, "gen_ai.agent.name") == Some(name)).unwrap();
        let call = tools.iter().find(|s| text(s, "gen_ai.tool.name") == Some(name)).unwrap();
        assert_eq!(agent.parent_span_id, call.span_id, "{name}'s run is under the call that ran it");
        assert_eq!(call.parent_span_id, lead.span_id);
        assert_eq!(agent.trace_id, lead.trace_id, "one trace for the whole team");
        // The member's own calls are under its own span.
        let own = tools.iter().filter(|s| s.parent_span_id == agent.span_id).count();
        assert_eq!(own, 2);
    }
}

//! Retries have one owner, the run loop: a failing model turn makes at most `1 + max_retries`
//! requests, each retry is a `EventKind::ModelRetry`, and eager calls cancelled by a retry are
//! reported, so every start has an end. Against the loopback server, over real HTTP.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod support;

use support::{fast, retries, run_events};

use std::time::Duration;

use fanout::RetryPolicy;
use fanout::models::openai::OpenAIChat;
use fanout::prelude::*;
use fanout_testserver::{Raw, Reply, Script, Server};

/// Wait `ms` milliseconds
#[tool]
async fn wait_ms(ms: u64) -> String {
    tokio::time::sleep(Duration::from_millis(ms)).await;
    format!("waited {ms}ms")
}

fn agent(server: &Server, policy: RetryPolicy) -> Agent {
    let model = OpenAIChat::new("gpt-5-mini").api_key("sk-test").base_url(server.url());
    Agent::builder().model(model).tool(wait_ms).retry_policy(policy).build().unwrap()
}

#[tokio::test]
async fn a_server_that_always_fails_gets_three_requests_per_turn() {
    let server = Server::start(Script::sequence((0..9).map(|_| Reply::error(500, "boom")))).await.unwrap();
    let (events, outcome) = run_events(&agent(&server, fast()), "hi").await;
    let err = outcome.expect_err("the run fails");
    assert_eq!(err.status(), Some(500));
    assert_eq!(server.requests().len(), 3, "1 + max_retries (2), never 9");
    let retries = retries(&events);
    assert_eq!(retries.iter().map(|r| r.0).collect::<Vec<_>>(), [1, 2], "one event per retry");
    assert!(retries[0].2.contains("openai API error 500"), "{}", retries[0].2);

    // The same through the non-streamed `run`.
    let server =
        Server::start(Script::sequence((0..9).map(|_| Reply::error(502, "bad gateway")))).await.unwrap();
    let err = agent(&server, fast()).run("hi").await.expect_err("the run fails");
    assert_eq!(err.status(), Some(502));
    assert_eq!(server.requests().len(), 3);
}

#[tokio::test]
async fn a_server_that_cuts_every_stream_gets_three_requests_per_turn() {
    let cut = || Reply::text("never finished").shaped(|s| s.cut_after = Some(0));
    let server = Server::start(Script::sequence((0..9).map(|_| cut()))).await.unwrap();
    let (events, outcome) = run_events(&agent(&server, fast()), "hi").await;
    let err = outcome.expect_err("the run fails");
    assert!(err.is_incomplete_stream() || err.is_connect(), "{err}");
    assert_eq!(server.requests().len(), 3);
    assert_eq!(retries(&events).len(), 2);
}

#[tokio::test]
async fn the_policy_sets_the_number_of_requests() {
    let server = Server::start(Script::sequence((0..9).map(|_| Reply::error(503, "down")))).await.unwrap();
    let (events, outcome) = run_events(&agent(&server, fast().max_retries(4)), "hi").await;
    assert!(outcome.is_err());
    assert_eq!(server.requests().len(), 5);
    assert_eq!(retries(&events).len(), 4);

    let server = Server::start(Script::sequence((0..9).map(|_| Reply::error(503, "down")))).await.unwrap();
    let (events, outcome) = run_events(&agent(&server, RetryPolicy::none()), "hi").await;
    assert!(outcome.is_err());
    assert_eq!(server.requests().len(), 1);
    assert!(retries(&events).is_empty());
}

#[tokio::test]
async fn a_rate_limit_waits_as_long_as_the_server_asks_then_succeeds() {
    let server = Server::start(Script::sequence([
        Reply::error(429, "slow down").code("rate_limit_exceeded").retry_after_ms("150"),
        Reply::text("ok"),
    ]))
    .await
    .unwrap();
    let (events, outcome) = run_events(&agent(&server, RetryPolicy::default()), "hi").await;
    assert_eq!(outcome.unwrap().content, "ok");
    let retries = retries(&events);
    assert_eq!(retries.len(), 1);
    assert_eq!(retries[0].1, Duration::from_millis(150), "the server's wait, not the backoff");
    let requests = server.requests();
    assert!(requests[1].at.duration_since(requests[0].at) >= Duration::from_millis(150));
}

/// OpenAI's answer when the account has no credit: a 429, like a rate limit, with a
/// `retry-after` — but no wait cures it.
fn out_of_quota() -> Reply {
    let body = r#"{"error": {"message": "You exceeded your current quota, please check your plan and billing details.",
        "type": "insufficient_quota", "param": null, "code": "insufficient_quota"}}"#;
    Reply::raw(Raw::json(429, body).header("retry-after", "1").header("x-request-id", "req_quota"))
}

#[tokio::test]
async fn a_429_for_an_account_out_of_quota_ends_the_run_at_once() {
    let server = Server::start(Script::sequence([out_of_quota(), Reply::text("never")])).await.unwrap();
    let (events, outcome) = run_events(&agent(&server, RetryPolicy::default()), "hi").await;
    let err = outcome.expect_err("the run fails");
    assert_eq!((err.status(), err.code()), (Some(429), Some("insufficient_quota")));
    assert!(err.is_quota_exceeded() && !err.is_rate_limited() && !err.is_retryable(), "{err:?}");
    assert_eq!(
        err.to_string(),
        "openai API error 429 (insufficient_quota): You exceeded your current quota, please check your plan and \
         billing details. (out of quota or credit: check the plan and billing; retrying cannot help) [request id \
         req_quota]"
    );
    assert!(retries(&events).is_empty(), "no retry, no wait");
    assert_eq!(server.requests().len(), 1);

    // The same through the non-streamed `run`; a real rate limit still waits (see above).
    let server = Server::start(Script::sequence([out_of_quota(), Reply::text("never")])).await.unwrap();
    let err = agent(&server, RetryPolicy::default()).run("hi").await.expect_err("the run fails");
    assert!(err.is_quota_exceeded());
    assert_eq!(server.requests().len(), 1);
}

#[tokio::test]
async fn client_errors_are_not_retried() {
    let server = Server::start(Script::sequence([Reply::error(400, "bad schema"), Reply::text("never")]))
        .await
        .unwrap();
    let (events, outcome) = run_events(&agent(&server, fast()), "hi").await;
    let err = outcome.expect_err("fails");
    assert_eq!(err.status(), Some(400));
    assert!(!err.is_retryable());
    assert_eq!(server.requests().len(), 1);
    assert!(retries(&events).is_empty());
}

#[tokio::test]
async fn eager_calls_cancelled_by_a_retry_are_reported_and_every_start_has_an_end() {
    // Two complete calls start eagerly, then the stream is cut; the retry gets the whole turn.
    let calls = [("wait_ms", r#"{"ms": 5000}"#), ("wait_ms", r#"{"ms": 5000}"#), ("wait_ms", r#"{"ms": 1}"#)];
    let cut = Reply::tool_calls(calls).shaped(|s| {
        s.chunk_delay = Duration::from_millis(30);
        s.cut_after = Some(5);
    });
    let quick = [("wait_ms", r#"{"ms": 1}"#), ("wait_ms", r#"{"ms": 2}"#)];
    let server =
        Server::start(Script::sequence([cut, Reply::tool_calls(quick), Reply::text("done")])).await.unwrap();
    let (events, outcome) = run_events(&agent(&server, fast()), "go").await;
    let output = outcome.unwrap();
    assert_eq!(output.content, "done");
    assert_eq!(server.requests().len(), 3);
    assert_eq!(retries(&events).len(), 1);

    let cancelled: Vec<usize> = events
        .iter()
        .filter_map(|e| match e {
            EventKind::ToolCallCancelled { index, reason, .. } => {
                assert!(reason.contains("retried"), "{reason}");
                Some(*index)
            }
            _ => None,
        })
        .collect();
    assert_eq!(cancelled, [0, 1], "both eager 5 s calls were cancelled");
    // Every start is followed by exactly one completion or cancellation, before the retry.
    let mut open = std::collections::HashMap::new();
    for event in &events {
        match event {
            EventKind::ToolCallStarted { turn, index, .. } => {
                assert!(open.insert((*turn, *index), ()).is_none(), "started twice without an end");
            }
            EventKind::ToolCallCompleted { turn, index, .. }
            | EventKind::ToolCallCancelled { turn, index, .. } => {
                assert!(open.remove(&(*turn, *index)).is_some(), "an end without a start");
            }
            EventKind::ModelRetry { .. } => assert!(open.is_empty(), "a call outlived its attempt"),
            _ => {}
        }
    }
    assert!(open.is_empty());
    // The executions of the run are those of the retried turn only.
    assert_eq!(output.tool_executions.len(), 2);
    assert!(output.tool_executions.iter().all(|e| e.result.is_ok()));
}

#[tokio::test]
async fn a_stream_cut_after_text_was_shown_is_not_retried() {
    let reply = Reply::text("The answer is forty").shaped(|s| {
        s.token_chars = 4;
        s.chunk_delay = Duration::from_millis(20);
        s.cut_after = Some(3);
    });
    let server = Server::start(Script::sequence([reply, Reply::text("never")])).await.unwrap();
    let (events, outcome) = run_events(&agent(&server, fast()), "hi").await;
    assert!(outcome.is_err());
    assert!(events.iter().any(|e| matches!(e, EventKind::ContentDelta(_))));
    assert!(retries(&events).is_empty(), "text already shown cannot be taken back");
    assert_eq!(server.requests().len(), 1);
}

#[tokio::test]
async fn a_silent_stream_is_an_idle_timeout_that_is_retried() {
    let stall = Reply::text("hello").shaped(|s| s.stall_after = Some(0));
    let server = Server::start(Script::sequence([stall, Reply::text("recovered")])).await.unwrap();
    let model = OpenAIChat::new("m")
        .api_key("k")
        .base_url(server.url())
        .idle_timeout(Duration::from_millis(200))
        .timeout(Duration::from_secs(30));
    let agent = Agent::builder().model(model).retry_policy(fast()).build().unwrap();
    let (events, outcome) = run_events(&agent, "hi").await;
    assert_eq!(outcome.unwrap().content, "recovered");
    let retries = retries(&events);
    assert_eq!(retries.len(), 1);
    assert!(retries[0].2.contains("sent nothing for 0.2s"), "{}", retries[0].2);
}

#[tokio::test]
async fn a_slow_stream_that_keeps_sending_outlives_the_total_timeout() {
    // Paced tokens for ~0.6 s with a 0.3 s total timeout: the stream is alive, so it is not cut.
    let reply = Reply::text("one two three four five six").shaped(|s| {
        s.token_chars = 4;
        s.chunk_delay = Duration::from_millis(80);
    });
    let server = Server::start(Script::sequence([reply])).await.unwrap();
    let model = OpenAIChat::new("m").api_key("k").base_url(server.url()).timeout(Duration::from_millis(300));
    let agent = Agent::builder().model(model).retry_policy(RetryPolicy::none()).build().unwrap();
    let (_, outcome) = run_events(&agent, "hi").await;
    assert_eq!(outcome.unwrap().content, "one two three four five six");
}

#[tokio::test]
async fn an_endless_sse_event_is_refused_not_buffered() {
    let huge = "x".repeat(17 << 20);
    let raw = Raw::sse([(None::<&str>, format!(r#"{{"choices":[{{"delta":{{"content":"{huge}"#))]);
    let server = Server::start(Script::sequence([Reply::raw(raw)])).await.unwrap();
    let (_, outcome) = run_events(&agent(&server, fast()), "hi").await;
    let err = outcome.expect_err("refused");
    assert!(err.is_invalid_response(), "{err}");
    assert!(err.to_string().contains("larger than 16 MiB"), "{err}");
    assert_eq!(server.requests().len(), 1, "not worth retrying");
}

#[tokio::test]
async fn the_users_own_http_client_is_used() {
    let server = Server::start(Script::sequence([Reply::text("via my client")])).await.unwrap();
    let client = reqwest::Client::builder().user_agent("my-app/1.0").build().unwrap();
    let model = OpenAIChat::new("m").api_key("k").base_url(server.url()).http_client(client);
    let agent = Agent::builder().model(model).build().unwrap();
    assert_eq!(agent.run("hi").await.unwrap().content, "via my client");
    assert_eq!(server.requests()[0].header("user-agent"), Some("my-app/1.0"));
}

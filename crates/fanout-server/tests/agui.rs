//! AG-UI: the official client (npm `@ag-ui/client`, pinned by `.ci/install-agui`) against a
//! fanout server — the seed agent's events and messages, a thread's history, `/agui`, the confirm
//! agent's interrupt and resume, errors, the API key — and, over plain HTTP, what that client
//! cannot send: malformed bodies, wrong ids, a client that goes away mid-run.
//!
//! The client needs `FANOUT_AGUI_NODE_MODULES` (printed by `.ci/install-agui`): missing under
//! `CI=true` fails, elsewhere that test is skipped with a notice.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod support;

use std::sync::Arc;
use std::time::Duration;

use fanout::models::scripted::{ScriptedModel, Turn};
use fanout::prelude::*;
use fanout::store::{MemoryStore, RunState, SessionStore};
use fanout_server::ServerBuilder;
use reqwest::StatusCode;
use serde_json::{Value, json};
use support::Fixture;

/// The installed client's `node_modules`, if configured.
fn agui_modules() -> Option<String> {
    support::installed("FANOUT_AGUI_NODE_MODULES", "install-agui")
}

/// Run the client script against `fixture`, with `key` as its bearer token.
async fn client_script(modules: &str, fixture: &Fixture, key: Option<&str>) {
    let mut client = tokio::process::Command::new("node");
    client.arg(support::script("agui/client.mjs")).arg(&fixture.url).env("FANOUT_AGUI_NODE_MODULES", modules);
    if let Some(key) = key {
        client.arg(key);
    }
    support::run_client(&mut client, "agui client: all ok", Duration::from_secs(120)).await;
}

/// Write a note
///
/// # Arguments
/// * `text` - What to note
#[tool]
fn note(text: String) -> String {
    format!("noted: {text}")
}

/// Remove a file
///
/// # Arguments
/// * `path` - The file to remove
#[tool(requires_confirmation)]
fn remove(path: String) -> String {
    format!("removed {path}")
}

/// The fixture's agents, and: `team` (a leader delegating to `helper`, which calls a tool and
/// answers, and to `failing`, whose run fails), `broken` (its run fails), `careful` (a leader
/// whose member `remover` calls a tool that needs the user's approval).
fn more_agents(builder: ServerBuilder) -> ServerBuilder {
    let remover = Agent::builder()
        .name("remover")
        .description("Removes files")
        .model(ScriptedModel::new([Turn::call("remove", json!({"path": "/tmp/y"})), Turn::text("Removed.")]))
        .tool(remove)
        .build()
        .expect("remover");
    let careful = Agent::builder()
        .name("careful")
        .model(ScriptedModel::new([
            Turn::call("remover", json!({"task": "remove /tmp/y"})),
            Turn::summarize_results(),
        ]))
        .tool(remover.as_tool())
        .store(Arc::new(MemoryStore::new()))
        .build()
        .expect("careful");
    let helper = Agent::builder()
        .name("helper")
        .description("Notes things")
        .model(ScriptedModel::new([Turn::call("note", json!({"text": "x"})), Turn::text("Noted.")]))
        .tool(note)
        .build()
        .expect("helper");
    let failing = Agent::builder()
        .name("failing")
        .description("Fails")
        .model(ScriptedModel::new([Turn::call("missing", json!({}))]))
        .build()
        .expect("failing");
    let team = Agent::builder()
        .name("team")
        .model(ScriptedModel::new([Turn::call_every_tool(json!({"task": "go"})), Turn::summarize_results()]))
        .tool(helper.as_tool())
        .tool(failing.as_tool())
        .build()
        .expect("team");
    let broken = Agent::builder()
        .name("broken")
        .model(ScriptedModel::new([Turn::call("missing", json!({}))]))
        .build()
        .expect("broken");
    builder.agent("team", team).agent("broken", broken).agent("careful", careful)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_official_client() {
    let Some(modules) = agui_modules() else { return };
    let fixture = Fixture::start(3_000, more_agents).await;
    client_script(&modules, &fixture, None).await;
    let keyed = Fixture::start(3_000, |b| more_agents(b).api_key("agui-secret")).await;
    client_script(&modules, &keyed, Some("agui-secret")).await;
}

fn input(thread: &str, run: &str, text: &str) -> Value {
    json!({
        "threadId": thread, "runId": run, "state": {}, "tools": [], "context": [], "forwardedProps": {},
        "messages": [{"id": "m1", "role": "user", "content": text}],
    })
}

async fn post(url: &str, body: Value) -> reqwest::Response {
    reqwest::Client::new().post(url).json(&body).send().await.expect("request")
}

/// The events of an AG-UI SSE body.
fn agui_events(body: &str) -> Vec<Value> {
    body.split("\n\n")
        .filter_map(|frame| frame.strip_prefix("data: "))
        .map(|data| serde_json::from_str(data).expect("one JSON event per data line"))
        .collect()
}

fn types(events: &[Value]) -> Vec<&str> {
    events.iter().map(|e| e["type"].as_str().unwrap()).collect()
}

#[tokio::test]
async fn a_run_streams_ag_ui_events_under_the_client_ids() {
    let fixture = Fixture::start(3_000, |b| b).await;
    let response = post(&format!("{}/agents/seed/agui", fixture.url), input("t1", "run-1", "Go")).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["content-type"], "text/event-stream");
    let events = agui_events(&response.text().await.unwrap());
    let types = types(&events);
    assert_eq!(types[0], "RUN_STARTED");
    assert_eq!(events[0]["threadId"], "t1");
    assert_eq!(events[0]["runId"], "run-1");
    assert_eq!(*types.last().unwrap(), "RUN_FINISHED");
    assert_eq!(types.iter().filter(|t| **t == "TOOL_CALL_RESULT").count(), 3);
    // The three calls belong to the turn's assistant message.
    let parents: Vec<&Value> =
        events.iter().filter(|e| e["type"] == "TOOL_CALL_START").map(|e| &e["parentMessageId"]).collect();
    assert!(parents.iter().all(|p| *p == parents[0] && p.is_string()), "{parents:?}");
    // Stored under the client's ids: the thread is the session.
    let stored = fixture.store.run("run-1").await.unwrap().expect("stored");
    assert_eq!(stored.record.session_id, "t1");
    assert_eq!(stored.state, RunState::Completed);

    // The same run id again is refused before anything runs.
    let again = post(&format!("{}/agents/seed/agui", fixture.url), input("t1", "run-1", "Go")).await;
    assert_eq!(again.status(), StatusCode::CONFLICT);
    // A run id fanout cannot use is replaced by a new one.
    let odd = post(&format!("{}/agui", fixture.url), input("t2", "not a plain id!", "Go")).await;
    let odd = agui_events(&odd.text().await.unwrap());
    assert_ne!(odd[0]["runId"], "not a plain id!");
    assert!(fixture.store.run(odd[0]["runId"].as_str().unwrap()).await.unwrap().is_some());
}

#[tokio::test]
async fn malformed_requests_get_clear_errors_before_any_run() {
    let fixture = Fixture::start(3_000, |b| b.body_limit(64 * 1024)).await;
    let url = format!("{}/agents/seed/agui", fixture.url);
    let raw = |body: &'static str| {
        reqwest::Client::new().post(&url).header("content-type", "application/json").body(body).send()
    };
    let cases: Vec<(reqwest::Response, StatusCode, &str)> = vec![
        (raw("{not json").await.unwrap(), StatusCode::BAD_REQUEST, "not valid JSON"),
        (raw("[1, 2]").await.unwrap(), StatusCode::UNPROCESSABLE_ENTITY, "JSON object"),
        (raw(r#"{"runId": "r", "messages": []}"#).await.unwrap(), StatusCode::UNPROCESSABLE_ENTITY, "threadId"),
        (
            raw(r#"{"threadId": "t", "runId": "r", "messages": {}}"#).await.unwrap(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "messages must be an array",
        ),
        (
            raw(r#"{"threadId": "t", "runId": "r", "messages": [{"id": "1", "role": "assistant", "content": "x"}]}"#)
                .await
                .unwrap(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "no user message",
        ),
        (
            raw(r#"{"threadId": "t", "runId": "r", "messages": [], "resume": [{"interruptId": "x", "status": "resolved"}]}"#)
                .await
                .unwrap(),
            StatusCode::CONFLICT,
            "no paused run",
        ),
        (
            post(&format!("{}/agents/nope/agui", fixture.url), input("t", "r", "Hi")).await,
            StatusCode::NOT_FOUND,
            "Agent not found",
        ),
        (
            reqwest::Client::new()
                .post(&url)
                .header("content-type", "application/json")
                .body(vec![b' '; 65 * 1024])
                .send()
                .await
                .unwrap(),
            StatusCode::PAYLOAD_TOO_LARGE,
            "too large",
        ),
    ];
    for (response, status, detail) in cases {
        assert_eq!(response.status(), status, "{detail}");
        let body: Value = response.json().await.unwrap();
        assert!(body["detail"].as_str().unwrap().contains(detail), "{body}");
        assert!(body["error_type"].is_string(), "{body}");
    }
    // Nothing ran.
    assert!(fixture.store.runs("t").await.unwrap().is_empty());
}

#[tokio::test]
async fn a_resume_must_answer_the_threads_own_interrupts() {
    let fixture = Fixture::start(3_000, |b| b).await;
    let url = format!("{}/agents/confirm/agui", fixture.url);
    let paused = agui_events(&post(&url, input("c1", "p1", "Delete /tmp/x")).await.text().await.unwrap());
    let finished = paused.last().unwrap();
    assert_eq!(finished["outcome"]["type"], "interrupt", "{finished}");
    let interrupt = finished["outcome"]["interrupts"][0]["id"].as_str().unwrap().to_owned();
    assert_eq!(fixture.store.run("p1").await.unwrap().unwrap().state, RunState::Paused);

    let mut resume = input("c1", "p2", "ignored");
    resume["resume"] = json!([{"interruptId": "call_other", "status": "resolved"}]);
    let wrong = post(&url, resume.clone()).await;
    assert_eq!(wrong.status(), StatusCode::UNPROCESSABLE_ENTITY);
    // Another agent's thread has nothing paused.
    let other = post(&format!("{}/agents/seed/agui", fixture.url), resume.clone()).await;
    assert_eq!(other.status(), StatusCode::CONFLICT);

    resume["resume"] = json!([{"interruptId": interrupt, "status": "cancelled"}]);
    let done = agui_events(&post(&url, resume.clone()).await.text().await.unwrap());
    assert_eq!(done[0]["runId"], "p1", "the paused run goes on");
    let result = done.iter().find(|e| e["type"] == "TOOL_CALL_RESULT").unwrap();
    assert!(result["content"].as_str().unwrap().contains("rejected"), "{result}");
    assert_eq!(done.last().unwrap()["outcome"]["type"], "success");
    assert_eq!(fixture.store.run("p1").await.unwrap().unwrap().state, RunState::Completed);
    // It continued once: nothing is paused any more.
    assert_eq!(post(&url, resume).await.status(), StatusCode::CONFLICT);

    // AgentOS's way: the conversation ends with a tool message answering the call.
    let paused = agui_events(&post(&url, input("c2", "q1", "Delete /tmp/x")).await.text().await.unwrap());
    let call = paused.last().unwrap()["outcome"]["interrupts"][0]["toolCallId"].as_str().unwrap().to_owned();
    let mut answer = input("c2", "q2", "Delete /tmp/x");
    answer["messages"].as_array_mut().unwrap().extend([
        json!({"id": "a1", "role": "assistant", "toolCalls": [
            {"id": call, "type": "function", "function": {"name": "delete", "arguments": "{}"}}]}),
        json!({"id": "t1", "role": "tool", "toolCallId": call, "content": "{\"accepted\": true}"}),
    ]);
    let done = agui_events(&post(&url, answer).await.text().await.unwrap());
    let result = done.iter().find(|e| e["type"] == "TOOL_CALL_RESULT").unwrap();
    assert_eq!(result["content"], "deleted /tmp/x");
    assert_eq!(done.last().unwrap()["result"], "Done.");
}

#[tokio::test]
async fn a_client_that_goes_away_cancels_the_run() {
    let fixture = Fixture::start(5_000, |b| b).await;
    let mut response =
        post(&format!("{}/agents/slow/agui", fixture.url), input("s1", "slow-1", "wait")).await;
    let first = String::from_utf8(response.chunk().await.unwrap().unwrap().to_vec()).unwrap();
    assert_eq!(agui_events(&first)[0]["type"], "RUN_STARTED");
    drop(response);
    assert_eq!(fixture.wait_for_state("slow-1", |s| s != RunState::Running).await, RunState::Cancelled);
}

#[tokio::test]
async fn the_api_key_guards_both_routes() {
    let fixture = Fixture::start(3_000, |b| b.api_key("k")).await;
    for route in ["/agui", "/agents/seed/agui"] {
        let url = format!("{}{route}", fixture.url);
        let anonymous = post(&url, input("a", "a1", "Hi")).await;
        assert_eq!(anonymous.status(), StatusCode::UNAUTHORIZED);
        let wrong = reqwest::Client::new()
            .post(&url)
            .bearer_auth("nope")
            .json(&input("a", "a2", "Hi"))
            .send()
            .await
            .unwrap();
        assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
    }
    let keyed = reqwest::Client::new()
        .post(format!("{}/agui", fixture.url))
        .bearer_auth("k")
        .json(&input("a", "a3", "Hi"))
        .send()
        .await
        .unwrap();
    assert_eq!(keyed.status(), StatusCode::OK);
    let events = agui_events(&keyed.text().await.unwrap());
    assert_eq!(events.last().unwrap()["type"], "RUN_FINISHED");
}

fn input_tokens(events: &[Value]) -> u64 {
    events.last().unwrap()["usage"][0]["inputTokens"].as_u64().expect("RUN_FINISHED has the usage")
}

#[tokio::test]
async fn the_stored_conversation_wins_over_the_clients_copy() {
    let fixture = Fixture::start(3_000, |b| b).await;
    let url = format!("{}/agents/seed/agui", fixture.url);
    let first = agui_events(&post(&url, input("h1", "h1-1", "Go")).await.text().await.unwrap());
    // A copy of the conversation that is not what happened: the stored session is used instead.
    let mut second = input("h1", "h1-2", "Go");
    second["messages"] = long_copy();
    let second = agui_events(&post(&url, second).await.text().await.unwrap());
    let (stored, copied) = (input_tokens(&first), input_tokens(&second));
    assert!(copied > stored, "the stored history is read: {copied} > {stored}");
    assert!(copied < stored + 1_000, "the client's copy is not: {copied} tokens");
    // On a thread with nothing stored, the client's copy is the history.
    let mut fresh = input("h2", "h2-1", "Go");
    fresh["messages"] = long_copy();
    let fresh = agui_events(&post(&url, fresh).await.text().await.unwrap());
    assert!(input_tokens(&fresh) > stored + 1_000, "{}", input_tokens(&fresh));
}

/// A conversation of some 4,000 tokens, then "Go".
fn long_copy() -> Value {
    json!([
        {"id": "x1", "role": "user", "content": "x".repeat(8_000)},
        {"id": "x2", "role": "assistant", "content": "y".repeat(8_000)},
        {"id": "x3", "role": "user", "content": "Go"},
    ])
}

//! The server over real HTTP: runs (JSON, SSE, background, resume, continue, cancel), sessions,
//! errors and limits, shutdown.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod support;

use std::time::Duration;

use fanout::store::{RunState, SessionStore};
use reqwest::StatusCode;
use serde_json::{Value, json};
use support::{Fixture, events, names};

fn client() -> reqwest::Client {
    reqwest::Client::new()
}

async fn post_form(url: &str, form: &[(&str, &str)]) -> reqwest::Response {
    client().post(url).form(form).send().await.expect("request")
}

#[tokio::test]
async fn a_run_as_json_and_as_sse() {
    let fixture = Fixture::start(50, |b| b).await;
    let url = &fixture.url;
    let response = post_form(
        &format!("{url}/agents/seed/runs"),
        &[("message", "Run all tasks"), ("stream", "false"), ("user_id", "ada")],
    )
    .await;
    assert_eq!(response.status(), StatusCode::OK);
    let run: Value = response.json().await.unwrap();
    assert_eq!(run["status"], "COMPLETED");
    assert!(run["content"].as_str().unwrap().contains("Task 1 completed in 10ms"), "{run}");
    assert_eq!(run["tools"].as_array().unwrap().len(), 3);
    assert_eq!(run["agent_id"], "seed");
    let session = run["session_id"].as_str().unwrap().to_owned();

    // The same session, streamed, as JSON input.
    let body = client()
        .post(format!("{url}/agents/seed/runs"))
        .json(&json!({"message": "Again", "session_id": session, "user_id": "ada"}))
        .send()
        .await
        .unwrap();
    assert_eq!(body.headers()["content-type"], "text/event-stream");
    let events = events(&body.text().await.unwrap());
    let names = names(&events);
    assert_eq!(names.first(), Some(&"RunStarted"));
    assert_eq!(names.last(), Some(&"RunCompleted"));
    assert_eq!(names.iter().filter(|n| **n == "ToolCallStarted").count(), 3);
    assert_eq!(names.iter().filter(|n| **n == "ToolCallCompleted").count(), 3);
    assert!(names.contains(&"RunContent"));
    for (i, (_, data)) in events.iter().enumerate() {
        assert_eq!(data["event_index"], i, "{data}");
        assert_eq!(data["session_id"], session.as_str());
    }
    // Both runs are in the session, in order.
    let runs: Value = support::get_json(format!("{url}/sessions/{session}/runs")).await;
    assert_eq!(runs.as_array().unwrap().len(), 2);
    assert_eq!(runs[1]["run_input"], "Again");
    assert_eq!(runs[1]["status"], "COMPLETED");
    // The second run's history held the first one.
    let detail: Value = support::get_json(format!("{url}/sessions/{session}")).await;
    assert_eq!(detail["session_name"], "Run all tasks");
    assert!(detail["chat_history"].as_array().unwrap().len() >= 10, "{detail}");
}

#[tokio::test]
async fn a_client_that_disconnects_cancels_a_plain_run_but_not_a_background_one() {
    let fixture = Fixture::start(800, |b| b).await;
    let url = &fixture.url;
    // Plain: read the first event, then go away.
    let mut response =
        post_form(&format!("{url}/agents/slow/runs"), &[("message", "wait"), ("stream", "true")]).await;
    let first = String::from_utf8(response.chunk().await.unwrap().unwrap().to_vec()).unwrap();
    let run_id = events(&first)[0].1["run_id"].as_str().unwrap().to_owned();
    drop(response);
    let state = fixture.wait_for_state(&run_id, |s| s != RunState::Running).await;
    assert_eq!(state, RunState::Cancelled);

    // Background: read the first event, go away, resume from it.
    let mut response = post_form(
        &format!("{url}/agents/slow/runs"),
        &[("message", "wait"), ("stream", "true"), ("background", "true")],
    )
    .await;
    let first = String::from_utf8(response.chunk().await.unwrap().unwrap().to_vec()).unwrap();
    let first = events(&first);
    let run_id = first[0].1["run_id"].as_str().unwrap().to_owned();
    let last = first.last().unwrap().1["event_index"].as_u64().unwrap();
    drop(response);
    let resumed = post_form(
        &format!("{url}/agents/slow/runs/{run_id}/resume"),
        &[("last_event_index", &last.to_string())],
    )
    .await;
    assert_eq!(resumed.status(), StatusCode::OK);
    let resumed = events(&resumed.text().await.unwrap());
    let run_events: Vec<&Value> =
        resumed.iter().filter(|(_, d)| d.get("event_index").is_some()).map(|(_, d)| d).collect();
    assert_eq!(run_events[0]["event_index"], last + 1, "{resumed:?}");
    for pair in run_events.windows(2) {
        assert_eq!(pair[1]["event_index"].as_u64().unwrap(), pair[0]["event_index"].as_u64().unwrap() + 1);
    }
    assert_eq!(resumed.last().unwrap().0, "RunCompleted");
    assert_eq!(fixture.wait_for_state(&run_id, |s| s != RunState::Running).await, RunState::Completed);

    // Once it ended, a resume from the start replays everything.
    let replay = post_form(&format!("{url}/agents/slow/runs/{run_id}/resume"), &[]).await;
    let replay = events(&replay.text().await.unwrap());
    assert_eq!(replay[0].0, "replay");
    assert_eq!(replay[1].0, "RunStarted");
    assert_eq!(replay.last().unwrap().0, "RunCompleted");
}

#[tokio::test]
async fn background_without_stream_answers_202_and_can_be_polled() {
    let fixture = Fixture::start(100, |b| b).await;
    let url = &fixture.url;
    let response = post_form(
        &format!("{url}/agents/slow/runs"),
        &[("message", "wait"), ("stream", "false"), ("background", "true")],
    )
    .await;
    assert_eq!(response.status(), StatusCode::ACCEPTED);
    let accepted: Value = response.json().await.unwrap();
    assert_eq!(accepted["status"], "RUNNING");
    let run_id = accepted["run_id"].as_str().unwrap();
    let session = accepted["session_id"].as_str().unwrap();
    let mut status = Value::Null;
    for _ in 0..100 {
        let run: Value =
            support::get_json(format!("{url}/agents/slow/runs/{run_id}?session_id={session}")).await;
        status = run["status"].clone();
        if status == "COMPLETED" {
            assert!(run["content"].as_str().unwrap().contains("waited 100ms"), "{run}");
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(status, "COMPLETED");
}

#[tokio::test]
async fn a_paused_run_continues_once() {
    let fixture = Fixture::start(10, |b| b).await;
    let url = &fixture.url;
    let paused: Value = post_form(
        &format!("{url}/agents/confirm/runs"),
        &[("message", "Delete /tmp/x"), ("stream", "false")],
    )
    .await
    .json()
    .await
    .unwrap();
    assert_eq!(paused["status"], "PAUSED");
    let mut tools = paused["tools"].clone();
    assert_eq!(tools[0]["requires_confirmation"], true);
    tools[0]["confirmed"] = json!(true);
    let run_id = paused["run_id"].as_str().unwrap();
    let continue_url = format!("{url}/agents/confirm/runs/{run_id}/continue");
    let tools = tools.to_string();
    let body = post_form(
        &continue_url,
        &[("tools", &tools), ("session_id", paused["session_id"].as_str().unwrap())],
    )
    .await;
    let events = events(&body.text().await.unwrap());
    assert_eq!(names(&events).first(), Some(&"RunContinued"));
    let (last, data) = events.last().unwrap();
    assert_eq!(last, "RunCompleted");
    assert_eq!(data["content"], "Done.");
    assert_eq!(data["tools"][0]["result"], "deleted /tmp/x");
    // A second continue is refused.
    let again = post_form(&continue_url, &[("tools", &tools)]).await;
    assert_eq!(again.status(), StatusCode::CONFLICT);
    let error: Value = again.json().await.unwrap();
    assert!(error["detail"].as_str().unwrap().contains("completed, not paused"), "{error}");
}

#[tokio::test]
async fn cancel_stops_a_run_going_on() {
    let fixture = Fixture::start(5_000, |b| b).await;
    let url = &fixture.url;
    let mut response = post_form(&format!("{url}/agents/slow/runs"), &[("message", "wait")]).await;
    let first = String::from_utf8(response.chunk().await.unwrap().unwrap().to_vec()).unwrap();
    let run_id = events(&first)[0].1["run_id"].as_str().unwrap().to_owned();
    let cancelled = client().post(format!("{url}/agents/slow/runs/{run_id}/cancel")).send().await.unwrap();
    assert_eq!(cancelled.status(), StatusCode::OK);
    let mut rest = first;
    while let Some(chunk) = response.chunk().await.unwrap() {
        rest.push_str(std::str::from_utf8(&chunk).unwrap());
    }
    assert_eq!(events(&rest).last().unwrap().0, "RunCancelled");
    assert_eq!(fixture.wait_for_state(&run_id, |s| s != RunState::Running).await, RunState::Cancelled);
    let unknown = client().post(format!("{url}/agents/slow/runs/nope/cancel")).send().await.unwrap();
    assert_eq!(unknown.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn bad_requests_get_clear_json_errors() {
    let fixture = Fixture::start(10, |b| b.body_limit(4096)).await;
    let url = &fixture.url;
    let c = client();
    let check = |status: StatusCode, detail: &'static str| {
        move |response: reqwest::Response| async move {
            assert_eq!(response.status(), status);
            let body: Value = response.json().await.expect("a JSON error");
            assert!(body["detail"].as_str().unwrap().contains(detail), "{body}");
        }
    };
    check(StatusCode::NOT_FOUND, "Agent not found")(
        post_form(&format!("{url}/agents/nope/runs"), &[("message", "x")]).await,
    )
    .await;
    check(StatusCode::UNPROCESSABLE_ENTITY, "`message` is required")(
        post_form(&format!("{url}/agents/seed/runs"), &[]).await,
    )
    .await;
    check(StatusCode::UNPROCESSABLE_ENTITY, "true or false")(
        post_form(&format!("{url}/agents/seed/runs"), &[("message", "x"), ("stream", "maybe")]).await,
    )
    .await;
    check(StatusCode::BAD_REQUEST, "not valid JSON")(
        c.post(format!("{url}/agents/seed/runs"))
            .header("content-type", "application/json")
            .body("{nope")
            .send()
            .await
            .unwrap(),
    )
    .await;
    check(StatusCode::UNSUPPORTED_MEDIA_TYPE, "text/plain")(
        c.post(format!("{url}/agents/seed/runs"))
            .header("content-type", "text/plain")
            .body("x")
            .send()
            .await
            .unwrap(),
    )
    .await;
    check(StatusCode::PAYLOAD_TOO_LARGE, "too large")(
        post_form(&format!("{url}/agents/seed/runs"), &[("message", &"x".repeat(10_000))]).await,
    )
    .await;
    check(StatusCode::METHOD_NOT_ALLOWED, "Method Not Allowed")(
        c.get(format!("{url}/agents/seed/runs")).send().await.unwrap(),
    )
    .await;
    check(StatusCode::NOT_FOUND, "Not Found")(c.get(format!("{url}/nothing/here")).send().await.unwrap())
        .await;
    check(StatusCode::NOT_FOUND, "Session not found")(
        c.get(format!("{url}/sessions/nope")).send().await.unwrap(),
    )
    .await;
    check(StatusCode::NOT_FOUND, "Run not found")(
        c.get(format!("{url}/agents/seed/runs/nope")).send().await.unwrap(),
    )
    .await;
    check(StatusCode::UNPROCESSABLE_ENTITY, "control characters")(
        post_form(&format!("{url}/agents/seed/runs"), &[("message", "x"), ("session_id", "a\nb")]).await,
    )
    .await;
    check(StatusCode::BAD_REQUEST, "Invalid JSON in tools")(
        post_form(&format!("{url}/agents/confirm/runs/r/continue"), &[("tools", "[")]).await,
    )
    .await;
    check(StatusCode::UNPROCESSABLE_ENTITY, "whole number")(
        c.get(format!("{url}/sessions?limit=-1")).send().await.unwrap(),
    )
    .await;
    // A multipart form with a file is refused; one without works.
    let form = reqwest::multipart::Form::new().text("message", "x").text("stream", "false");
    assert_eq!(
        c.post(format!("{url}/agents/seed/runs")).multipart(form).send().await.unwrap().status(),
        StatusCode::OK
    );
    let form = reqwest::multipart::Form::new()
        .text("message", "x")
        .part("files", reqwest::multipart::Part::bytes(b"abc".to_vec()).file_name("a.txt"));
    check(StatusCode::BAD_REQUEST, "File uploads")(
        c.post(format!("{url}/agents/seed/runs")).multipart(form).send().await.unwrap(),
    )
    .await;
    // The server is still up.
    assert_eq!(c.get(format!("{url}/health")).send().await.unwrap().status(), StatusCode::OK);
}

#[tokio::test]
async fn the_api_key_guards_every_route_but_health_and_the_page() {
    let fixture = Fixture::start(10, |b| b.api_key("s3cret")).await;
    let url = &fixture.url;
    let c = client();
    assert_eq!(c.get(format!("{url}/health")).send().await.unwrap().status(), StatusCode::OK);
    assert_eq!(c.get(format!("{url}/")).send().await.unwrap().status(), StatusCode::OK);
    for path in ["/config", "/agents", "/agents/seed", "/sessions"] {
        let response = c.get(format!("{url}{path}")).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "{path}");
        let wrong = c.get(format!("{url}{path}")).bearer_auth("s3cres").send().await.unwrap();
        assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED, "{path}");
        let right = c.get(format!("{url}{path}")).bearer_auth("s3cret").send().await.unwrap();
        assert_eq!(right.status(), StatusCode::OK, "{path}");
    }
    let run = c.post(format!("{url}/agents/seed/runs")).form(&[("message", "x")]).send().await.unwrap();
    assert_eq!(run.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn sessions_are_listed_by_user_paged_renamed_and_deleted() {
    let fixture = Fixture::start(10, |b| b).await;
    let url = &fixture.url;
    let c = client();
    for (user, message) in [("ada", "one"), ("ada", "two"), ("bob", "three")] {
        let r = post_form(
            &format!("{url}/agents/seed/runs"),
            &[("message", message), ("stream", "false"), ("user_id", user)],
        )
        .await;
        assert_eq!(r.status(), StatusCode::OK);
    }
    let page: Value = c
        .get(format!("{url}/sessions?user_id=ada&limit=1&page=2"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(page["meta"]["total_count"], 2);
    assert_eq!(page["meta"]["total_pages"], 2);
    assert_eq!(page["data"].as_array().unwrap().len(), 1);
    assert_eq!(page["data"][0]["session_name"], "one");
    let session = page["data"][0]["session_id"].as_str().unwrap();
    // Another user's view of the session: not found.
    assert_eq!(
        c.get(format!("{url}/sessions/{session}?user_id=bob")).send().await.unwrap().status(),
        StatusCode::NOT_FOUND
    );
    let renamed: Value = c
        .post(format!("{url}/sessions/{session}/rename"))
        .json(&json!({"session_name": "First"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(renamed["session_name"], "First");
    let deleted = c.delete(format!("{url}/sessions/{session}")).send().await.unwrap();
    assert_eq!(deleted.status(), StatusCode::NO_CONTENT);
    assert_eq!(
        c.get(format!("{url}/sessions/{session}")).send().await.unwrap().status(),
        StatusCode::NOT_FOUND
    );
    let all: Value = c.get(format!("{url}/sessions")).send().await.unwrap().json().await.unwrap();
    assert_eq!(all["meta"]["total_count"], 2);
}

#[tokio::test]
async fn shutdown_lets_short_runs_finish_and_records_long_ones_as_interrupted() {
    let mut fixture = Fixture::start(60_000, |b| b.shutdown_grace(Duration::from_millis(300))).await;
    let url = fixture.url.clone();
    let accepted: Value = post_form(
        &format!("{url}/agents/slow/runs"),
        &[("message", "wait"), ("stream", "false"), ("background", "true")],
    )
    .await
    .json()
    .await
    .unwrap();
    let run_id = accepted["run_id"].as_str().unwrap().to_owned();
    fixture.wait_for_state(&run_id, |s| s == RunState::Running).await;
    fixture.shutdown();
    let done = tokio::time::timeout(Duration::from_secs(5), &mut fixture.done).await;
    assert!(matches!(done, Ok(Ok(Ok(())))), "{done:?}");
    let run = fixture.store.run(&run_id).await.unwrap().unwrap();
    assert_eq!(run.state, RunState::Interrupted);
    // No longer accepting.
    assert!(client().get(format!("{url}/health")).send().await.is_err());
}

/// Delete a file
///
/// # Arguments
/// * `path` - The file to delete
#[fanout::tool(requires_confirmation)]
fn remove(path: String) -> String {
    format!("removed {path}")
}

#[tokio::test]
async fn an_agent_never_continues_another_agents_paused_run() {
    use fanout::models::scripted::{ScriptedModel, Turn};
    let store = std::sync::Arc::new(fanout::store::MemoryStore::new());
    let unnamed = || {
        fanout::Agent::builder()
            .model(ScriptedModel::new([Turn::call("remove", json!({"path": "/x"})), Turn::text("Done.")]))
            .tool(remove)
            .store(std::sync::Arc::clone(&store))
            .build()
            .unwrap()
    };
    // Two agents of one name: refused, their stored runs could not be told apart.
    let named =
        |name: &str| fanout::Agent::builder().name(name).model(ScriptedModel::new([])).build().unwrap();
    let twins = fanout_server::Server::builder().agent("a", named("same")).agent("b", named("same")).build();
    assert!(twins.unwrap_err().to_string().contains("both named"));

    // Two unnamed agents: a run stored without a name is neither's to continue.
    let server = fanout_server::Server::builder()
        .agent("a", unnamed())
        .agent("b", unnamed())
        .store(std::sync::Arc::clone(&store))
        .build()
        .unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(server.serve_with_shutdown(listener, std::future::pending()));
    let paused: Value =
        post_form(&format!("{url}/agents/a/runs"), &[("message", "remove it"), ("stream", "false")])
            .await
            .json()
            .await
            .unwrap();
    assert_eq!(paused["status"], "PAUSED", "{paused}");
    let run_id = paused["run_id"].as_str().unwrap();
    let tools = json!([{"tool_call_id": paused["tools"][0]["tool_call_id"], "confirmed": true}]).to_string();
    let other = post_form(
        &format!("{url}/agents/b/runs/{run_id}/continue"),
        &[("tools", &tools), ("stream", "false")],
    )
    .await;
    assert_eq!(other.status(), StatusCode::NOT_FOUND);
    let a2a = client()
        .post(format!("{url}/a2a/agents/b/message:send"))
        .header("A2A-Version", "1.0")
        .json(&json!({"message": {"messageId": "m1", "role": "ROLE_USER", "taskId": run_id, "parts": [{"text": "yes"}]}}))
        .send()
        .await
        .unwrap();
    assert_eq!(a2a.status(), StatusCode::NOT_FOUND, "{}", a2a.text().await.unwrap());
    assert_eq!(store.run(run_id).await.unwrap().unwrap().state, RunState::Paused, "untouched");
}

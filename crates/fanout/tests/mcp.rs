//! MCP tools against real servers nobody here wrote: `@modelcontextprotocol/server-everything`
//! (npm) and `mcp-server-time` (PyPI), plus `tests/mcp/fault_server.py`, written with the
//! pinned `mcp` Python SDK, for the faults. `.ci/install-mcp-servers` installs them (pinned) and
//! prints the variables these tests read; without them a test fails under `CI=true` and skips
//! with a notice otherwise.
#![cfg(feature = "mcp")]
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::path::PathBuf;
use std::time::{Duration, Instant};

use fanout::mcp::{MCPTools, McpServer, MultiMCPTools};
use fanout::models::scripted::{ScriptedModel, Turn};
use fanout::prelude::*;
use fanout::tool::ToolError;
use futures::StreamExt;
use serde_json::json;

fn installed(var: &str) -> Option<PathBuf> {
    match std::env::var_os(var) {
        Some(path) if PathBuf::from(&path).exists() => Some(PathBuf::from(path)),
        _ => {
            let notice = format!(
                "{var} is not set to an installed MCP server: run `eval \"$(.ci/install-mcp-servers)\"`"
            );
            assert!(std::env::var("CI").as_deref() != Ok("true"), "{notice}");
            eprintln!("skipped: {notice}");
            None
        }
    }
}

/// `@modelcontextprotocol/server-everything` over stdio.
fn everything() -> Option<McpServer> {
    let dir = installed("FANOUT_MCP_EVERYTHING")?;
    Some(
        McpServer::stdio("node", [dir.join("dist/index.js").into_os_string(), "stdio".into()])
            .name("everything"),
    )
}

fn python() -> Option<PathBuf> {
    installed("FANOUT_MCP_PYTHON")
}

/// The fault-injection server, with extra arguments.
fn fault_server(args: &[&str]) -> Option<McpServer> {
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/mcp/fault_server.py");
    let mut argv = vec![script.into_os_string()];
    argv.extend(args.iter().map(Into::into));
    Some(McpServer::stdio(python()?, argv).name("faults"))
}

/// Run to the end, collecting the events.
async fn run_events(agent: &Agent, input: &str) -> (Vec<EventKind>, RunOutput) {
    let mut stream = agent.run(input).stream().map(|e| e.map(|e| e.kind));
    let mut events = Vec::new();
    while let Some(event) = stream.next().await {
        match event.unwrap() {
            EventKind::RunCompleted(output) => return (events, *output),
            event => events.push(event),
        }
    }
    panic!("the run ended without RunCompleted");
}

fn results(output: &RunOutput) -> Vec<&Result<String, ToolError>> {
    output.tool_executions.iter().map(|e| &e.result).collect()
}

#[tokio::test]
async fn three_long_operations_in_one_turn_overlap_and_report_progress() {
    let Some(server) = everything() else { return };
    let tools = server.connect().await.unwrap();
    let names: Vec<String> = tools.definitions().iter().map(|d| d.name.clone()).collect();
    assert!(names.iter().any(|n| n == "trigger-long-running-operation"), "{names:?}");
    let long = json!({"duration": 2, "steps": 4});
    let agent = Agent::builder()
        .model(ScriptedModel::new([
            Turn::calls((0..3).map(|_| ("trigger-long-running-operation", long.clone()))),
            Turn::summarize_results(),
        ]))
        .tools(tools)
        .build()
        .unwrap();
    let started = Instant::now();
    let (events, output) = run_events(&agent, "run three").await;
    let elapsed = started.elapsed();
    assert_eq!(output.tool_executions.len(), 3);
    for result in results(&output) {
        assert!(result.as_ref().unwrap().starts_with("Long running operation completed"), "{result:?}");
    }
    assert!(elapsed < Duration::from_millis(3500), "three 2 s calls took {elapsed:?}: they did not overlap");
    for index in 0..3 {
        let progress: Vec<(f64, Option<f64>)> = events
            .iter()
            .filter_map(|event| match event {
                EventKind::ToolCallProgress { index: i, progress, total, .. } if *i == index => {
                    Some((*progress, *total))
                }
                _ => None,
            })
            .collect();
        // Steps 1–3 come long before the result; step 4 may race it.
        assert!(progress.len() >= 3, "call {index}: {progress:?}");
        assert!(progress.windows(2).all(|w| w[0].0 < w[1].0) && progress[0].1 == Some(4.0), "{progress:?}");
    }
}

#[tokio::test]
async fn text_structured_and_image_results_and_server_errors() {
    let Some(server) = everything() else { return };
    let agent = Agent::builder()
        .model(ScriptedModel::new([
            Turn::calls([
                ("echo", json!({"message": "hello"})),
                ("get-sum", json!({"a": 2, "b": 3})),
                ("get-structured-content", json!({"location": "New York"})),
                ("get-tiny-image", json!({})),
                ("get-sum", json!({"a": "not a number"})),
            ]),
            Turn::summarize_results(),
        ]))
        .tools(server.connect().await.unwrap())
        .build()
        .unwrap();
    let output = agent.run("go").await.unwrap();
    let results = results(&output);
    assert_eq!(results[0].as_ref().unwrap(), "Echo: hello");
    assert!(results[1].as_ref().unwrap().contains('5'), "{:?}", results[1]);
    let structured = results[2].as_ref().unwrap();
    assert!(
        serde_json::from_str::<serde_json::Value>(structured).unwrap()["temperature"].is_number(),
        "{structured}"
    );
    let image = results[3].as_ref().unwrap();
    assert!(image.contains("[image image/png, ") && image.contains(" bytes]"), "{image}");
    assert!(image.len() < 500, "no base64 for the model: {image}");
    assert!(results[4].is_err(), "bad arguments are an error result: {:?}", results[4]);
}

#[tokio::test]
async fn python_time_server_with_a_prefix_beside_a_local_tool() {
    let Some(python) = python() else { return };
    /// Add two numbers
    #[tool]
    fn add(a: i64, b: i64) -> i64 {
        a + b
    }
    let time = McpServer::stdio(python, ["-m", "mcp_server_time", "--local-timezone", "UTC"])
        .prefix("time_")
        .exclude(["convert_time"])
        .connect()
        .await
        .unwrap();
    let names: Vec<String> = time.definitions().iter().map(|d| d.name.clone()).collect();
    assert_eq!(names, ["time_get_current_time"]);
    let agent = Agent::builder()
        .model(ScriptedModel::new([
            Turn::calls([
                ("time_get_current_time", json!({"timezone": "Europe/Paris"})),
                ("add", json!({"a": 1, "b": 2})),
            ]),
            Turn::summarize_results(),
        ]))
        .tools(time)
        .tools(tools![add])
        .build()
        .unwrap();
    let output = agent.run("what time is it in Paris?").await.unwrap();
    let results = results(&output);
    assert!(results[0].as_ref().unwrap().contains("Europe/Paris"), "{:?}", results[0]);
    assert_eq!(results[1].as_ref().unwrap(), "3");
}

#[tokio::test]
async fn several_servers_at_once_with_multi_mcp_tools() {
    let (Some(everything), Some(python)) = (everything(), python()) else { return };
    let time = McpServer::stdio(python, ["-m", "mcp_server_time"]).prefix("time_");
    let servers = MultiMCPTools::connect([everything.prefix("everything_"), time]).await.unwrap();
    assert_eq!(servers.servers().len(), 2);
    let agent = Agent::builder()
        .model(ScriptedModel::new([
            Turn::calls([
                ("time_get_current_time", json!({"timezone": "Asia/Tokyo"})),
                ("everything_echo", json!({"message": "both"})),
            ]),
            Turn::summarize_results(),
        ]))
        .tools(servers)
        .build()
        .unwrap();
    let output = agent.run("go").await.unwrap();
    let results = results(&output);
    assert!(results[0].as_ref().unwrap().contains("Asia/Tokyo"), "{:?}", results[0]);
    assert_eq!(results[1].as_ref().unwrap(), "Echo: both");
}

#[tokio::test]
async fn a_crash_fails_only_its_call_and_the_next_turn_respawns_the_server() {
    let Some(faults) = fault_server(&[]) else { return };
    let Some(everything) = everything() else { return };
    let agent = Agent::builder()
        .model(ScriptedModel::new([
            Turn::calls([("crash", json!({})), ("echo", json!({"message": "still here"}))]),
            Turn::call("ping", json!({})),
            Turn::summarize_results(),
        ]))
        .tools(faults.connect().await.unwrap())
        .tools(everything.connect().await.unwrap())
        .build()
        .unwrap();
    let output = agent.run("go").await.unwrap();
    let results = results(&output);
    let crash = results[0].as_ref().unwrap_err().to_string();
    assert!(crash.contains("`faults`") && crash.contains("closed the connection"), "{crash}");
    assert_eq!(results[1].as_ref().unwrap(), "Echo: still here");
    assert_eq!(results[2].as_ref().unwrap(), "pong", "the server was respawned for the next turn");
}

#[tokio::test]
async fn a_call_that_never_answers_times_out_and_the_server_is_told() {
    let Some(faults) = fault_server(&[]) else { return };
    let agent = Agent::builder()
        .model(ScriptedModel::new([
            Turn::calls([("hang", json!({})), ("ping", json!({}))]),
            Turn::call("cancellations", json!({"at_least": 1})),
            Turn::summarize_results(),
        ]))
        .tools(faults.connect().await.unwrap())
        .tool_timeout(Duration::from_secs(1))
        .build()
        .unwrap();
    let output = agent.run("go").await.unwrap();
    let results = results(&output);
    assert_eq!(results[0], &Err(ToolError::TimedOut(Duration::from_secs(1))));
    assert_eq!(results[1].as_ref().unwrap(), "pong");
    assert_eq!(results[2].as_ref().unwrap(), "1", "the server received notifications/cancelled");
}

#[tokio::test]
async fn the_servers_call_timeout_applies_without_an_agent_timeout() {
    let Some(faults) = fault_server(&[]) else { return };
    let agent = Agent::builder()
        .model(ScriptedModel::new([Turn::call("hang", json!({})), Turn::summarize_results()]))
        .tools(faults.call_timeout(Duration::from_millis(500)).connect().await.unwrap())
        .build()
        .unwrap();
    let output = agent.run("go").await.unwrap();
    assert_eq!(results(&output)[0], &Err(ToolError::TimedOut(Duration::from_millis(500))));
}

#[tokio::test]
async fn a_schema_model_apis_reject_fails_the_connect_naming_the_tool() {
    let Some(faults) = fault_server(&["--bad-schema"]) else { return };
    let err = faults.clone().connect().await.unwrap_err().to_string();
    assert!(err.contains("`bad_schema_tool`") && err.contains("anyOf"), "{err}");
    let tools = faults.exclude(["bad_schema_tool"]).connect().await.unwrap();
    assert!(tools.definitions().iter().all(|d| d.name != "bad_schema_tool"));
}

#[tokio::test]
async fn list_changed_refreshes_the_tools_before_the_next_turn() {
    let Some(faults) = fault_server(&[]) else { return };
    let model = ScriptedModel::new([
        Turn::call("add_tool", json!({})),
        Turn::call("late", json!({})),
        Turn::summarize_results(),
    ]);
    let agent = Agent::builder().model(model.clone()).tools(faults.connect().await.unwrap()).build().unwrap();
    let output = agent.run("go").await.unwrap();
    let results = results(&output);
    assert_eq!(results[0].as_ref().unwrap(), "added `late`");
    assert_eq!(results[1].as_ref().unwrap(), "the late tool works");
    let sent: Vec<Vec<String>> =
        model.requests().iter().map(|r| r.tools.iter().map(|d| d.name.clone()).collect()).collect();
    assert!(!sent[0].contains(&"late".to_owned()) && sent[1].contains(&"late".to_owned()), "{sent:?}");
}

#[tokio::test]
async fn dropping_the_agent_ends_the_server_process() {
    let dir = std::env::temp_dir().join(format!("fanout-mcp-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let pidfile = dir.join("pid");
    let Some(faults) = fault_server(&[]) else { return };
    let tools = faults.env("FAULT_PIDFILE", &pidfile).connect().await.unwrap();
    let pid: u32 = std::fs::read_to_string(&pidfile).unwrap().trim().parse().unwrap();
    let proc = PathBuf::from(format!("/proc/{pid}"));
    assert!(proc.exists());
    let agent = Agent::builder().model(ScriptedModel::new([Turn::text("hi")])).tools(tools).build().unwrap();
    agent.run("hi").await.unwrap();
    drop(agent);
    // The kill and the reaping are asynchronous: wait for them, bounded.
    let deadline = Instant::now() + Duration::from_secs(10);
    while proc.exists() && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(!proc.exists(), "the server process {pid} outlived the agent (or is a zombie)");
    let _ = std::fs::remove_dir_all(dir);
}

/// server-everything over streamable HTTP on `port`, once it says it listens.
async fn start_http(dir: &std::path::Path, port: u16) -> tokio::process::Child {
    let mut child = tokio::process::Command::new("node")
        .arg(dir.join("dist/index.js"))
        .arg("streamableHttp")
        .env("PORT", port.to_string())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let mut lines = tokio::io::AsyncBufReadExt::lines(tokio::io::BufReader::new(stderr));
    let listening = async {
        while let Some(line) = lines.next_line().await.unwrap() {
            if line.contains("listening") {
                return;
            }
        }
        panic!("the HTTP server exited");
    };
    tokio::time::timeout(Duration::from_secs(20), listening).await.expect("the HTTP server did not start");
    // Keep draining its log so it never blocks on a full pipe.
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    child
}

fn echo_turns(messages: &[&str]) -> ScriptedModel {
    let mut turns: Vec<Turn> = messages.iter().map(|m| Turn::call("echo", json!({"message": m}))).collect();
    turns.push(Turn::summarize_results());
    ScriptedModel::new(turns)
}

#[tokio::test]
async fn streamable_http_server_and_a_new_session_after_it_restarts() {
    let Some(dir) = installed("FANOUT_MCP_EVERYTHING") else { return };
    // The server takes its port from the environment: pick a free one.
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let mut server = start_http(&dir, port).await;
    let tools = McpServer::http(format!("http://127.0.0.1:{port}/mcp"))
        .bearer_auth("test-token")
        .connect()
        .await
        .unwrap();
    let agent = Agent::builder()
        .model(ScriptedModel::new([
            Turn::calls([("echo", json!({"message": "over http"})), ("get-sum", json!({"a": 20, "b": 22}))]),
            Turn::summarize_results(),
        ]))
        .tools(tools.clone())
        .build()
        .unwrap();
    let output = agent.run("go").await.unwrap();
    let before = results(&output);
    assert_eq!(before[0].as_ref().unwrap(), "Echo: over http");
    assert!(before[1].as_ref().unwrap().contains("42"));

    // A restarted server knows nothing of the old session, and this one says so with an error
    // that names no request: the call waits until its timeout. Before the next turn the client
    // pings, gets no answer either, and opens a new session.
    server.kill().await.unwrap();
    let mut server = start_http(&dir, port).await;
    let agent = Agent::builder()
        .model(echo_turns(&["first", "second"]))
        .tools(tools)
        .tool_timeout(Duration::from_secs(3))
        .build()
        .unwrap();
    let output = agent.run("go").await.unwrap();
    let after = results(&output);
    assert_eq!(after[0], &Err(ToolError::TimedOut(Duration::from_secs(3))));
    assert_eq!(after[1].as_ref().unwrap(), "Echo: second", "a new session by the next turn at the latest");
    server.kill().await.unwrap();
}

#[tokio::test]
async fn mcp_tools_stdio_shorthand() {
    let Some(dir) = installed("FANOUT_MCP_EVERYTHING") else { return };
    let tools =
        MCPTools::stdio("node", [dir.join("dist/index.js").into_os_string(), "stdio".into()]).await.unwrap();
    assert!(tools.definitions().iter().any(|d| d.name == "echo" && d.parameters["type"] == "object"));
}

#[tokio::test]
async fn a_server_that_cannot_start_is_a_clear_connect_error() {
    let err = McpServer::stdio("/nonexistent/mcp-server", ["--stdio"]).connect().await.unwrap_err();
    let text = err.to_string();
    assert!(text.contains("could not connect to the MCP server `mcp-server`: cannot start"), "{text}");
    assert!(!text.contains("base URL"), "{text}");
    assert_eq!(err.kind(), fanout::error::ErrorKind::Connect);
}

//! The seed example as a new user runs it: offline on the scripted model, against an
//! OpenAI-compatible server (the loopback scripted one), through the blocking API, and on a real
//! pseudo-terminal under tmux at several widths.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::path::PathBuf;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use fanout_testserver::{Script, Server};

/// `target/<profile>/examples/<name>`: cargo builds the examples before running tests.
fn example(name: &str) -> PathBuf {
    let mut dir = std::env::current_exe().unwrap();
    dir.pop(); // the test binary
    if dir.ends_with("deps") {
        dir.pop();
    }
    let path = dir.join("examples").join(name);
    assert!(path.exists(), "{} is missing: run through `cargo test`, which builds examples", path.display());
    path
}

fn run(name: &str, envs: &[(&str, &str)]) -> (Output, Duration) {
    let mut command = Command::new(example(name));
    command
        .env_remove("OPENAI_API_KEY")
        .env_remove("OPENAI_BASE_URL")
        .env_remove("FANOUT_LOG")
        .env_remove("FANOUT_MODEL");
    command.envs(envs.iter().copied());
    let start = Instant::now();
    let output = command.output().unwrap();
    (output, start.elapsed())
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn offline_example_runs_the_tools_at_once_and_prints_the_panels() {
    let (output, elapsed) = run("async_tools", &[]);
    let (stdout, stderr) = (text(&output.stdout), text(&output.stderr));
    assert!(output.status.success(), "{stdout}\n{stderr}");
    assert!(
        stderr.starts_with("OPENAI_API_KEY is not set: using fanout's built-in scripted model"),
        "{stderr}"
    );
    // Three 3 s tasks overlapped.
    assert!(elapsed < Duration::from_secs(6), "took {elapsed:?}");
    // Their log lines interleave: all three start before any finishes.
    let first_done = stderr.find("has completed").unwrap();
    for n in 1..=3 {
        assert!(stderr.find(&format!("INFO    Task {n} has started")).unwrap() < first_done, "{stderr}");
    }
    for title in ["┏━ Message ━", "┏━ Tool Calls ━", "┏━ Response ("] {
        assert!(stdout.contains(title), "missing {title}:\n{stdout}");
    }
    assert!(stdout.contains("✓ atask2(delay=3)  3.0"), "{stdout}");
    assert!(stdout.contains("1  Task 1 completed in 3.00s"), "{stdout}");
    assert!(!stdout.contains('\x1b'), "plain output when not a terminal");
}

/// What the server saw for one seed run: two requests, the tool phase between them.
fn check_seed_requests(server: &Server, tools: &[&str]) {
    let requests = server.requests();
    assert_eq!(requests.len(), 2, "exactly two model requests");
    let phase = requests[1].at.duration_since(requests[0].at);
    assert!(phase >= Duration::from_secs(3) && phase < Duration::from_millis(3500), "tool phase {phase:?}");
    let messages = requests[1].body["messages"].as_array().unwrap();
    let calls = messages[messages.len() - 4]["tool_calls"].as_array().unwrap();
    let results = &messages[messages.len() - 3..];
    for ((call, result), tool) in calls.iter().zip(results).zip(tools) {
        assert_eq!(call["function"]["name"], *tool);
        assert_eq!(result["role"], "tool");
        assert_eq!(result["tool_call_id"], call["id"], "results in call order");
        let n = &tool[tool.len() - 1..];
        assert_eq!(result["content"], format!("Task {n} completed in 3.00s"));
    }
}

/// Run example `name` against a fresh loopback server playing the seed flow.
async fn run_against_server(name: &'static str) -> (Server, Output) {
    let server = Server::start(Script::call_all_tools(r#"{"delay":3}"#)).await.unwrap();
    let url = server.url();
    let (output, _) = tokio::task::spawn_blocking(move || {
        run(name, &[("OPENAI_API_KEY", "sk-test"), ("OPENAI_BASE_URL", url.as_str())])
    })
    .await
    .unwrap();
    assert!(output.status.success(), "{}\n{}", text(&output.stdout), text(&output.stderr));
    (server, output)
}

#[tokio::test(flavor = "multi_thread")]
async fn example_against_an_openai_compatible_server() {
    let (server, output) = run_against_server("async_tools").await;
    let stdout = text(&output.stdout);
    assert!(!text(&output.stderr).contains("scripted model"));
    check_seed_requests(&server, &["atask2", "atask1", "atask3"]);
    assert_eq!(server.requests()[0].body["model"], "gpt-5-mini");
    assert!(stdout.contains("3  Task 3 completed in 3.00s"), "{stdout}");
}

#[tokio::test(flavor = "multi_thread")]
async fn sync_example_runs_blocking_tools_concurrently() {
    let (server, _) = run_against_server("sync_tools").await;
    check_seed_requests(&server, &["task2", "task1", "task3"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn fanout_model_runs_the_example_on_another_provider() {
    let server = Server::start(Script::call_all_tools(r#"{"delay":3}"#)).await.unwrap();
    let url = server.url();
    let (output, _) = tokio::task::spawn_blocking(move || {
        let envs = [
            ("FANOUT_MODEL", "groq:llama-3.3-70b-versatile"),
            ("GROQ_API_KEY", "gsk-test"),
            ("GROQ_BASE_URL", url.as_str()),
        ];
        run("async_tools", &envs)
    })
    .await
    .unwrap();
    assert!(output.status.success(), "{}\n{}", text(&output.stdout), text(&output.stderr));
    assert!(!text(&output.stderr).contains("scripted model"));
    check_seed_requests(&server, &["atask2", "atask1", "atask3"]);
    let first = &server.requests()[0];
    assert_eq!(first.body["model"], "llama-3.3-70b-versatile");
    assert_eq!(first.header("authorization"), Some("Bearer gsk-test"));
}

#[tokio::test(flavor = "multi_thread")]
async fn fanout_model_runs_the_example_on_the_responses_api() {
    let calls = fanout_testserver::responses::Turn::new("resp_1")
        .reasoning("All three at once.", "enc-1")
        .call("call_2", "atask2", r#"{"delay":3}"#)
        .call("call_1", "atask1", r#"{"delay":3}"#)
        .call("call_3", "atask3", r#"{"delay":3}"#);
    let answer = fanout_testserver::responses::Turn::new("resp_2").text("All three tasks are done.");
    let server = Server::start(Script::sequence([calls.reply(), answer.reply()])).await.unwrap();
    let url = server.url();
    let (output, _) = tokio::task::spawn_blocking(move || {
        let envs = [
            ("FANOUT_MODEL", "openai-responses:gpt-5-mini"),
            ("OPENAI_API_KEY", "sk-test"),
            ("OPENAI_BASE_URL", url.as_str()),
        ];
        run("async_tools", &envs)
    })
    .await
    .unwrap();
    assert!(output.status.success(), "{}\n{}", text(&output.stdout), text(&output.stderr));
    assert!(text(&output.stdout).contains("All three tasks are done."));
    let requests = server.requests();
    assert_eq!(requests.len(), 2, "exactly two model requests");
    assert!(requests.iter().all(|r| r.path == "/v1/responses"));
    let phase = requests[1].at.duration_since(requests[0].at);
    assert!(phase >= Duration::from_secs(3) && phase < Duration::from_millis(3500), "tool phase {phase:?}");
    let input = requests[1].body["input"].as_array().unwrap();
    assert_eq!(input[1]["encrypted_content"], "enc-1");
    let outputs: Vec<(&str, &str)> = input
        .iter()
        .filter(|i| i["type"] == "function_call_output")
        .map(|i| (i["call_id"].as_str().unwrap(), i["output"].as_str().unwrap()))
        .collect();
    assert_eq!(
        outputs,
        [
            ("call_2", "Task 2 completed in 3.00s"),
            ("call_1", "Task 1 completed in 3.00s"),
            ("call_3", "Task 3 completed in 3.00s")
        ]
    );
}

#[test]
fn an_unknown_fanout_model_lists_the_providers() {
    let (output, _) = run("async_tools", &[("FANOUT_MODEL", "acme:rocket-1")]);
    assert!(!output.status.success());
    let stderr = text(&output.stderr);
    assert!(stderr.contains("unknown model provider `acme`"), "{stderr}");
    assert!(
        stderr.contains("known providers: openai, openai-responses, anthropic, google, azure-openai, groq"),
        "{stderr}"
    );
}

#[test]
fn wrong_key_is_reported_not_replaced() {
    let (output, _) =
        run("async_tools", &[("OPENAI_API_KEY", "sk-wrong"), ("OPENAI_BASE_URL", "http://127.0.0.1:9/v1")]);
    assert!(!output.status.success());
    let all = format!("{}{}", text(&output.stdout), text(&output.stderr));
    assert!(all.contains("connection error"), "{all}");
    assert!(!all.contains("scripted model"));
}

/// A server that keeps failing: the run is reported once, on one `Error:` line with the status,
/// no `Debug` dump after it, no empty response panel; the process exits with status 1.
#[tokio::test(flavor = "multi_thread")]
async fn a_failing_server_is_reported_once_on_one_line() {
    let server = Server::start(Script::sequence([])).await.unwrap();
    let url = server.url();
    let (output, _) = tokio::task::spawn_blocking(move || {
        run("async_tools", &[("OPENAI_API_KEY", "sk-test"), ("OPENAI_BASE_URL", url.as_str())])
    })
    .await
    .unwrap();
    let (stdout, stderr) = (text(&output.stdout), text(&output.stderr));
    assert_eq!(output.status.code(), Some(1), "{stdout}\n{stderr}");
    let errors: Vec<&str> = stderr.lines().filter(|l| l.starts_with("Error")).collect();
    assert_eq!(errors.len(), 1, "one report:\n{stderr}");
    assert!(errors[0].contains("500") && errors[0].contains("request id"), "{stderr}");
    assert!(!stderr.contains("Api {"), "no Debug dump:\n{stderr}");
    assert!(!stdout.contains("Response ("), "no empty response panel:\n{stdout}");
    assert!(stdout.contains("┏━ Message ━"), "{stdout}");
}

/// Run example `name` in a detached tmux session of `cols` × `rows`, let `interact` type into it,
/// and once the example exits return the screen (with up to 500 lines of scrollback when
/// `scrollback`) and its exit status. `None` when tmux is not installed, which CI does not allow.
fn tmux_run(
    name: &str,
    (cols, rows): (usize, usize),
    scrollback: bool,
    interact: impl FnOnce(&Tmux),
) -> Option<(String, String)> {
    if Command::new("tmux").arg("-V").output().is_err() {
        assert!(std::env::var_os("CI").is_none(), "tmux is required in CI (.ci/run installs it)");
        eprintln!("skipped: tmux is not installed");
        return None;
    }
    let session = format!("fanout-{name}-{cols}x{rows}-{}", std::process::id());
    let done = std::env::temp_dir().join(format!("{session}.done"));
    let _ = std::fs::remove_file(&done);
    // The status goes to a temporary file first, so `done` appears with its content whole.
    let script = format!(
        "env -u OPENAI_API_KEY TERM=xterm-256color {example}; echo $? > {done}.tmp; mv {done}.tmp {done}; sleep 60",
        example = example(name).display(),
        done = done.display()
    );
    let (cols, rows) = (cols.to_string(), rows.to_string());
    let status = Command::new("tmux")
        .args(["new-session", "-d", "-s", &session, "-x", &cols, "-y", &rows, &script])
        .status()
        .unwrap();
    assert!(status.success());
    let tmux = Tmux { session: session.clone() };
    interact(&tmux);
    let deadline = Instant::now() + Duration::from_secs(30);
    while !done.exists() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
    }
    let mut capture = vec!["capture-pane", "-p", "-t", &session];
    if scrollback {
        capture.extend(["-S", "-500"]);
    }
    let screen = Command::new("tmux").args(&capture).output().unwrap();
    let _ = Command::new("tmux").args(["kill-session", "-t", &session]).status();
    let exit = std::fs::read_to_string(&done).unwrap_or_default().trim().to_owned();
    let _ = std::fs::remove_file(&done);
    Some((text(&screen.stdout), exit))
}

fn tmux_screen(name: &str, cols: usize, rows: usize, scrollback: bool) -> Option<String> {
    tmux_run(name, (cols, rows), scrollback, |_| {}).map(|(screen, _)| screen)
}

/// A running tmux session, to watch and type into.
struct Tmux {
    session: String,
}

impl Tmux {
    /// Wait until the screen shows `text`.
    fn wait_for(&self, wanted: &str) {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let screen =
                Command::new("tmux").args(["capture-pane", "-p", "-t", &self.session]).output().unwrap();
            if text(&screen.stdout).contains(wanted) {
                return;
            }
            assert!(Instant::now() < deadline, "{wanted:?} never showed:\n{}", text(&screen.stdout));
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn keys(&self, keys: &[&str]) {
        let mut args = vec!["send-keys", "-t", &self.session];
        args.extend(keys);
        assert!(Command::new("tmux").args(&args).status().unwrap().success());
    }
}

/// The live display on a real pseudo-terminal: after the run, the screen holds closed panels,
/// final statuses instead of spinners, and the timeline; no line is wider than the terminal.
#[test]
fn live_display_in_a_real_terminal() {
    let handles: Vec<_> = [60, 90, 160]
        .into_iter()
        .map(|width| std::thread::spawn(move || (width, tmux_screen("async_tools", width, 50, false))))
        .collect();
    for handle in handles {
        let (width, Some(screen)) = handle.join().unwrap() else { return };
        assert!(screen.contains("Response ("), "width {width}:\n{screen}");
        assert_eq!(screen.matches('┏').count(), 3, "width {width}: three panels:\n{screen}");
        assert_eq!(screen.matches('┗').count(), 3, "width {width}: all closed:\n{screen}");
        assert_eq!(screen.matches('✓').count(), 3, "width {width}:\n{screen}");
        assert!(
            !screen.contains(['⠋', '⠙', '⠹', '⠸', '⠼', '⠴', '⠦', '⠧', '⠇', '⠏']),
            "width {width}:\n{screen}"
        );
        assert!(screen.contains("timeline: 3.0"), "width {width}:\n{screen}");
        let panel_lines = screen.lines().filter(|l| l.starts_with(['┏', '┃', '┗']));
        for line in panel_lines {
            assert_eq!(line.chars().count(), width, "width {width}: {line:?}");
        }
    }
}

/// An answer taller than the terminal: what scrolled off is printed once, not once per frame.
#[test]
fn long_streamed_answer_leaves_each_line_once_in_the_scrollback() {
    let Some(screen) = tmux_screen("long_answer", 70, 20, true) else { return };
    for i in 1..=40 {
        assert_eq!(screen.matches(&format!("item number {i},")).count(), 1, "item {i}:\n{screen}");
    }
    assert_eq!(screen.matches('┏').count(), 2, "{screen}");
    assert_eq!(screen.matches('┗').count(), 2, "{screen}");
}

/// Ctrl-C while the tools run: the run is cancelled, the display closed with no spinner left,
/// one line says so, and the example exits with 130 as shells expect.
#[test]
fn ctrl_c_cancels_the_run_and_exits_130() {
    let Some((screen, status)) = tmux_run("async_tools", (90, 40), false, |tmux| {
        tmux.wait_for("atask3(delay=3)");
        tmux.keys(&["C-c"]);
    }) else {
        return;
    };
    assert_eq!(status, "130", "{screen}");
    assert!(screen.contains("Interrupted: the run was cancelled."), "{screen}");
    assert_eq!(screen.matches('┏').count(), screen.matches('┗').count(), "{screen}");
    assert!(!screen.contains(['⠋', '⠙', '⠹', '⠸', '⠼', '⠴', '⠦', '⠧', '⠇', '⠏']), "{screen}");
    assert!(screen.contains("cancelled"), "{screen}");
}

/// The y/N prompt of a tool that requires confirmation sits below the live display, and the
/// display goes on intact after the answer.
#[test]
fn confirmation_prompt_in_the_live_display() {
    let Some((screen, status)) = tmux_run("confirm", (80, 40), false, |tmux| {
        tmux.wait_for("[y/N]");
        tmux.keys(&["y", "Enter"]);
    }) else {
        return;
    };
    assert_eq!(status, "0", "{screen}");
    assert!(screen.contains("✓ delete_file(path=\"/tmp/old-report.txt\")"), "{screen}");
    assert!(screen.contains("deleted /tmp/old-report.txt"), "{screen}");
    assert!(!screen.contains("[y/N]"), "the question gives way to the display: {screen}");
    for title in ["┏━ Message ━", "┏━ Tool Calls ━", "┏━ Response ("] {
        assert_eq!(screen.matches(title).count(), 1, "{title} once, not torn:\n{screen}");
    }
    assert_eq!(screen.matches('┗').count(), 3, "{screen}");
}

/// Ctrl-C at the y/N prompt cancels the run.
#[test]
fn ctrl_c_at_the_confirmation_prompt() {
    let Some((screen, status)) = tmux_run("confirm", (80, 40), false, |tmux| {
        tmux.wait_for("[y/N]");
        tmux.keys(&["C-c"]);
    }) else {
        return;
    };
    assert_eq!(status, "130", "{screen}");
    assert!(screen.contains("Interrupted: the run was cancelled."), "{screen}");
    assert!(!screen.contains("paused"), "{screen}");
}

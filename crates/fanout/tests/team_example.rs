//! The `team` example as a new user runs it: offline on the scripted model, against an
//! OpenAI-compatible server (the loopback scripted one), and on a real pseudo-terminal under
//! tmux, where each member's tool call is drawn under the leader's call that delegated to it.
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

fn run(envs: &[(&str, &str)]) -> (Output, Duration) {
    let mut command = Command::new(example("team"));
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

/// The members' calls, each under the leader's call that delegated to it.
fn assert_nested(stdout: &str) {
    for n in 1..=3 {
        let member = stdout.find(&format!("✓ worker_{n}(")).unwrap_or_else(|| panic!("{stdout}"));
        let line_end = member + stdout[member..].find('\n').unwrap();
        let next_line = &stdout[line_end + 1..];
        let next_line = &next_line[..next_line.find('\n').unwrap()];
        assert!(
            next_line.contains(&format!("   ✓ atask{n}(")) && next_line.contains(")  3.0"),
            "{next_line:?} in\n{stdout}"
        );
    }
}

#[test]
fn offline_team_runs_its_members_at_once_and_draws_them_nested() {
    let (output, elapsed) = run(&[]);
    let (stdout, stderr) = (text(&output.stdout), text(&output.stderr));
    assert!(output.status.success(), "{stdout}\n{stderr}");
    assert!(
        stderr.starts_with("OPENAI_API_KEY is not set: using fanout's built-in scripted model"),
        "{stderr}"
    );
    // Three members with a 3 s task each: about 3 s, not 9.
    assert!(elapsed < Duration::from_secs(6), "took {elapsed:?}");
    let first_done = stderr.find("has completed").unwrap();
    for n in 1..=3 {
        assert!(stderr.find(&format!("INFO    Task {n} has started")).unwrap() < first_done, "{stderr}");
    }
    assert_nested(&stdout);
    assert!(stdout.contains("timeline: 3.0"), "{stdout}");
    assert!(stdout.contains("3  Task 3 completed in 3.00s"), "{stdout}");
    assert!(!stdout.contains('\x1b'), "plain output when not a terminal");
}

#[tokio::test(flavor = "multi_thread")]
async fn team_example_against_an_openai_compatible_server() {
    // The server calls every offered tool with these arguments: the leader's members take the
    // task, the members' tasks the delay.
    let script = Script::call_all_tools(r#"{"task":"Run your task with a delay of 3s","delay":3}"#);
    let server = Server::start(script).await.unwrap();
    let url = server.url();
    let (output, elapsed) = tokio::task::spawn_blocking(move || {
        run(&[("OPENAI_API_KEY", "sk-test"), ("OPENAI_BASE_URL", url.as_str())])
    })
    .await
    .unwrap();
    let (stdout, stderr) = (text(&output.stdout), text(&output.stderr));
    assert!(output.status.success(), "{stdout}\n{stderr}");
    assert!(!stderr.contains("scripted model"));
    assert!(elapsed < Duration::from_secs(6), "took {elapsed:?}");
    // The leader's two turns and one turn per member (their task's result is their answer).
    let requests = server.requests();
    assert_eq!(requests.len(), 5);
    let tools = |i: usize| -> Vec<String> {
        let tools = requests[i].body["tools"].as_array().cloned().unwrap_or_default();
        tools.iter().map(|t| t["function"]["name"].as_str().unwrap().to_owned()).collect()
    };
    assert_eq!(tools(0), ["worker_1", "worker_2", "worker_3"]);
    let mut member_tools: Vec<Vec<String>> = (1..=3).map(tools).collect();
    member_tools.sort();
    assert_eq!(member_tools, [["atask1"], ["atask2"], ["atask3"]]);
    // The members' requests came together: they worked at the same time.
    let spread = requests[3].at.duration_since(requests[1].at);
    assert!(spread < Duration::from_secs(1), "{spread:?}");
    let phase = requests[4].at.duration_since(requests[0].at);
    assert!(phase >= Duration::from_secs(3) && phase < Duration::from_millis(4500), "{phase:?}");
    assert_nested(&stdout);
}

#[test]
fn live_team_display_in_a_real_terminal() {
    if Command::new("tmux").arg("-V").output().is_err() {
        assert!(std::env::var_os("CI").is_none(), "tmux is required in CI (.ci/run installs it)");
        eprintln!("skipped: tmux is not installed");
        return;
    }
    let session = format!("fanout-team-{}", std::process::id());
    let done = std::env::temp_dir().join(format!("{session}.done"));
    let _ = std::fs::remove_file(&done);
    let script = format!(
        "env -u OPENAI_API_KEY TERM=xterm-256color {example}; echo $? > {done}.tmp; mv {done}.tmp {done}; sleep 60",
        example = example("team").display(),
        done = done.display()
    );
    let status = Command::new("tmux")
        .args(["new-session", "-d", "-s", &session, "-x", "100", "-y", "50", &script])
        .status()
        .unwrap();
    assert!(status.success());
    let capture =
        || text(&Command::new("tmux").args(["capture-pane", "-p", "-t", &session]).output().unwrap().stdout);
    // While the members work: their calls, running, under the leader's.
    let deadline = Instant::now() + Duration::from_secs(20);
    let running = loop {
        let screen = capture();
        if screen.contains("atask3(delay=3)") && !screen.contains("Response (") {
            break screen;
        }
        assert!(Instant::now() < deadline, "the members' calls never showed:\n{screen}");
        std::thread::sleep(Duration::from_millis(50));
    };
    let lines: Vec<&str> = running.lines().collect();
    for n in 1..=3 {
        let at = lines.iter().position(|l| l.contains(&format!("worker_{n}(task="))).unwrap();
        assert!(
            lines[at + 1].starts_with("┃   ") && lines[at + 1].contains(&format!("atask{n}(")),
            "{running}"
        );
    }
    let deadline = Instant::now() + Duration::from_secs(30);
    while !done.exists() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
    }
    let screen = capture();
    let _ = Command::new("tmux").args(["kill-session", "-t", &session]).status();
    let exit = std::fs::read_to_string(&done).unwrap_or_default();
    let _ = std::fs::remove_file(&done);
    assert_eq!(exit.trim(), "0", "{screen}");
    assert_eq!(screen.matches('✓').count(), 6, "{screen}");
    assert!(!screen.contains(['⠋', '⠙', '⠹', '⠸', '⠼', '⠴', '⠦', '⠧', '⠇', '⠏']), "{screen}");
    assert!(screen.contains("Response ("), "{screen}");
}

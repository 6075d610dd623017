//! The `chat` example remembers across restarts, on SQLite and on a real PostgreSQL: two
//! processes one after the other, the second continuing the first one's session; the model (a
//! loopback OpenAI-compatible server) receives the first conversation with the second question.
#![allow(clippy::unwrap_used, clippy::expect_used, dead_code)]

mod support;

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};

use fanout_testserver::{Reply, Script, Server};
use support::postgres as pg;

/// The example's binary, built by `cargo test` beside this test's.
fn chat_binary() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let dir = exe.parent().and_then(|deps| deps.parent()).unwrap();
    dir.join("examples").join(format!("chat{}", std::env::consts::EXE_SUFFIX))
}

/// Run the example once with `lines` on its stdin; its stdout.
fn chat(server: &Server, database_url: &str, session: Option<&str>, lines: &str) -> String {
    let mut command = Command::new(chat_binary());
    command
        .env("OPENAI_API_KEY", "sk-test")
        .env("OPENAI_BASE_URL", server.url())
        .env("DATABASE_URL", database_url)
        .env_remove("FANOUT_MODEL")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    if let Some(id) = session {
        command.args(["--session", id]);
    }
    let mut child = command.spawn().expect("the chat example is built by cargo test");
    child.stdin.take().unwrap().write_all(lines.as_bytes()).unwrap();
    let output = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "chat failed: {}\n{stdout}\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    stdout
}

async fn remembers_across_restarts(database_url: &str) {
    let server = Server::start(Script::sequence([
        Reply::tool_calls([
            ("atask1", r#"{"delay":0}"#),
            ("atask2", r#"{"delay":0}"#),
            ("atask3", r#"{"delay":0}"#),
        ]),
        Reply::text("All three tasks are done."),
        Reply::text("You asked me to run all tasks."),
    ]))
    .await
    .unwrap();
    let url = database_url.to_owned();
    let first = tokio::task::block_in_place(|| chat(&server, &url, None, "Please run all tasks\n"));
    assert!(first.contains("All three tasks are done."), "{first}");
    let session = first
        .lines()
        .find_map(|line| line.strip_prefix("New session "))
        .and_then(|rest| rest.split_whitespace().next())
        .expect("the new session's id is printed")
        .to_owned();

    let second =
        tokio::task::block_in_place(|| chat(&server, &url, Some(&session), "What did I ask you?\nexit\n"));
    assert!(
        second.contains(&format!("Continuing session {session}: 1 earlier runs, 6 messages.")),
        "{second}"
    );
    assert!(second.contains("You asked me to run all tasks."), "{second}");

    // The second process sent the first conversation, then the new question.
    let requests = server.requests();
    assert_eq!(requests.len(), 3);
    let messages = requests[2].body["messages"].as_array().unwrap().clone();
    let contents: Vec<String> =
        messages.iter().map(|m| m["content"].as_str().unwrap_or("").to_owned()).collect();
    let roles: Vec<&str> = messages.iter().map(|m| m["role"].as_str().unwrap()).collect();
    assert_eq!(
        roles,
        ["developer", "user", "assistant", "tool", "tool", "tool", "assistant", "user"],
        "{messages:#?}"
    );
    assert_eq!(contents[1], "Please run all tasks");
    assert_eq!(contents[6], "All three tasks are done.");
    assert_eq!(contents[7], "What did I ask you?");

    let store = fanout_sql::connect(database_url).await.unwrap();
    let runs = store.runs(&session).await.unwrap();
    assert_eq!(runs.len(), 2);
    assert!(runs.iter().all(|run| run.state == fanout::store::RunState::Completed));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_chat_example_remembers_across_restarts_on_sqlite() {
    let dir = std::env::temp_dir().join(support::id("fanout-chat"));
    std::fs::create_dir_all(&dir).unwrap();
    remembers_across_restarts(&format!("sqlite://{}", dir.join("chat.db").display())).await;
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_chat_example_remembers_across_restarts_on_postgres() {
    let Some(url) = pg::database().await else { return };
    remembers_across_restarts(&url).await;
}

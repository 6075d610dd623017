//! A real Restate server for the tests: `restate-server` (installed by `.ci/install-restate`)
//! on loopback, with free ports and a throw-away base directory, killed when dropped.
//!
//! Missing, it fails the test under `CI=true` and is skipped with a notice elsewhere.

#![allow(dead_code, unreachable_pub, clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tokio::process::{Child, Command};

/// Whether missing components fail the test (CI) instead of skipping it.
pub fn required() -> bool {
    std::env::var("CI").as_deref() == Ok("true")
}

/// Skip (with a notice) or, under CI, fail because `what` is missing.
pub fn missing(what: &str) {
    assert!(!required(), "{what} is missing: CI must have it (eval \"$(.ci/install-restate)\")");
    eprintln!(
        "notice: {what} is missing; this Restate test is skipped (run: eval \"$(.ci/install-restate)\")"
    );
}

/// The `restate-server` binary: `FANOUT_RESTATE_SERVER`, else the one `.ci/install-restate`
/// installs, else one on `PATH`.
fn server_binary() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("FANOUT_RESTATE_SERVER") {
        return Some(PathBuf::from(path)).filter(|p| p.is_file());
    }
    let scope = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../.ci/restate/node_modules/@restatedev");
    if let Ok(entries) = std::fs::read_dir(&scope) {
        for entry in entries.flatten() {
            let bin = entry.path().join("bin/restate-server");
            if entry.file_name().to_string_lossy().starts_with("restate-server-") && bin.is_file() {
                return Some(bin);
            }
        }
    }
    std::env::var_os("PATH")?
        .to_str()?
        .split(':')
        .map(|dir| Path::new(dir).join("restate-server"))
        .find(|p| p.is_file())
}

/// A free port on loopback (free when asked; the server binds it right after).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// A directory of its own under the system's temp dir, removed by [`Restate`]'s drop.
pub fn scratch_dir(label: &str) -> PathBuf {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let dir = std::env::temp_dir().join(format!(
        "fanout-restate-{label}-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A running server.
pub struct Restate {
    child: Child,
    dir: PathBuf,
    /// `http://127.0.0.1:PORT`: where handlers are invoked.
    pub ingress: String,
    /// `http://127.0.0.1:PORT`: the admin API.
    pub admin: String,
    pub http: reqwest::Client,
}

impl Restate {
    /// Start a server and wait until it takes invocations; `None` when the binary is missing
    /// outside CI.
    pub async fn start() -> Option<Self> {
        Self::start_with(&[]).await
    }

    /// [`start`](Self::start) with extra configuration (`RESTATE_…` variables).
    pub async fn start_with(config: &[(&str, &str)]) -> Option<Self> {
        let Some(binary) = server_binary() else {
            missing("restate-server");
            return None;
        };
        let dir = scratch_dir("server");
        let (ingress, admin, fabric) = (free_port(), free_port(), free_port());
        let log = std::fs::File::create(dir.join("server.log")).unwrap();
        let child = Command::new(binary)
            .args(["--no-logo", "--node-name", "test", "--base-dir"])
            .arg(dir.join("data"))
            .env("RESTATE_INGRESS__BIND_ADDRESS", format!("127.0.0.1:{ingress}"))
            .env("RESTATE_ADMIN__BIND_ADDRESS", format!("127.0.0.1:{admin}"))
            .env("RESTATE_BIND_ADDRESS", format!("127.0.0.1:{fabric}"))
            .env("RESTATE_LISTEN_MODE", "tcp")
            .env("RESTATE_DEFAULT_NUM_PARTITIONS", "4")
            .env("RESTATE_DISABLE_TELEMETRY", "true")
            .env("RESTATE_LOG_DISABLE_ANSI_CODES", "true")
            .envs(config.iter().copied())
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .kill_on_drop(true)
            .spawn()
            .expect("restate-server starts");
        let server = Self {
            child,
            dir,
            ingress: format!("http://127.0.0.1:{ingress}"),
            admin: format!("http://127.0.0.1:{admin}"),
            http: reqwest::Client::builder().timeout(Duration::from_secs(120)).build().unwrap(),
        };
        let started = Instant::now();
        loop {
            let admin_up = server.get_ok(&format!("{}/health", server.admin)).await;
            if admin_up && server.get_ok(&format!("{}/restate/health", server.ingress)).await {
                break;
            }
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "restate-server did not come up:\n{}",
                server.log()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        eprintln!("restate-server up in {:.2}s", started.elapsed().as_secs_f64());
        Some(server)
    }

    async fn get_ok(&self, url: &str) -> bool {
        self.http.get(url).send().await.is_ok_and(|r| r.status().is_success())
    }

    /// Tell the server about a service endpoint at `uri`.
    pub async fn register(&self, uri: &str) -> Value {
        let response = self
            .http
            .post(format!("{}/deployments", self.admin))
            .header("content-type", "application/json")
            .body(json!({"uri": uri, "force": true}).to_string())
            .send()
            .await
            .unwrap();
        let status = response.status();
        let body: Value = serde_json::from_str(&response.text().await.unwrap()).unwrap_or(Value::Null);
        assert!(status.is_success(), "registering {uri}: {status} {body}\n{}", self.log());
        body
    }

    /// Invoke `{object}/{key}/{handler}` through the ingress (`body` as JSON; `Null`: none)
    /// and wait for the answer: `(HTTP status, body)`.
    pub async fn call(&self, object: &str, key: &str, handler: &str, body: Value) -> (u16, Value) {
        let mut request = self.http.post(format!("{}/{object}/{key}/{handler}", self.ingress));
        // A handler without input takes no body.
        if !body.is_null() {
            request = request.header("content-type", "application/json").body(body.to_string());
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        let text = response.text().await.unwrap();
        (status, serde_json::from_str(&text).unwrap_or(Value::String(text)))
    }

    /// Run the agent `object` on `message` in session `key`: the final text.
    pub async fn run(&self, object: &str, key: &str, message: &str) -> String {
        let (status, body) = self.call(object, key, "run", json!({"message": message})).await;
        assert_eq!(status, 200, "{body}");
        body.as_str().unwrap_or_else(|| panic!("not a string: {body}")).to_owned()
    }

    /// The session's conversation.
    pub async fn messages(&self, object: &str, key: &str) -> Vec<Value> {
        let (status, body) = self.call(object, key, "messages", Value::Null).await;
        assert_eq!(status, 200, "{body}");
        body.as_array().cloned().unwrap_or_default()
    }

    /// Rows of a SQL query on the server's introspection tables (`sys_invocation` …).
    pub async fn query(&self, sql: &str) -> Vec<Value> {
        let response = self
            .http
            .post(format!("{}/query", self.admin))
            .header("content-type", "application/json")
            .header("accept", "application/json")
            .body(json!({"query": sql}).to_string())
            .send()
            .await
            .unwrap();
        let body: Value = serde_json::from_str(&response.text().await.unwrap()).unwrap_or(Value::Null);
        body["rows"].as_array().cloned().unwrap_or_default()
    }

    /// The server's log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("server.log")).unwrap_or_default()
    }
}

impl Drop for Restate {
    fn drop(&mut self) {
        let _ = self.child.start_kill();
        let killed = Instant::now();
        while !matches!(self.child.try_wait(), Ok(Some(_))) && killed.elapsed() < Duration::from_secs(5) {
            std::thread::sleep(Duration::from_millis(10));
        }
        if std::thread::panicking() {
            let log = self.log();
            let tail: Vec<&str> = log.lines().rev().take(60).collect();
            eprintln!("--- restate-server log (last lines) ---");
            for line in tail.iter().rev() {
                eprintln!("{line}");
            }
        }
        // The process is gone or going; its files can go too.
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

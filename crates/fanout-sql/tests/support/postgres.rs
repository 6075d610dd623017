//! A throw-away PostgreSQL cluster for the tests: Debian's `postgresql` package's `initdb` and
//! `pg_ctl` (under `/usr/lib/postgresql/*/bin`), a data directory in a temp dir, a free loopback
//! port, the unix socket in the temp dir too. One cluster per test binary, shared by its tests
//! (each test in a database of its own).
//!
//! Every [`Cluster`] has a watchdog: a shell that waits for its stdin to close, then stops the
//! server and removes the temp dir. Dropping the cluster closes it (and waits for the cleanup);
//! so does the test process ending, however it ends (a failed test, a panic, a kill), which is
//! what stops the shared cluster, held in a static that is never dropped.
//!
//! `FANOUT_TEST_POSTGRES_URL` (an admin URL such as `postgres://postgres@localhost/postgres`)
//! uses a running server instead. Without PostgreSQL the tests fail under `CI=true` and are
//! skipped with a notice elsewhere.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;

use sqlx::Connection;
use sqlx::postgres::PgConnection;

use super::{id, in_ci};

/// A running cluster, stopped and removed when dropped or when the process ends.
#[derive(Debug)]
pub struct Cluster {
    /// The admin URL (database `postgres`, user `postgres`, no password).
    pub admin_url: String,
    pub port: u16,
    bin: PathBuf,
    data: PathBuf,
    as_postgres: bool,
    /// Stops the server and removes the temp dir once its stdin closes.
    watchdog: Child,
}

impl Cluster {
    /// `initdb` and start a new cluster, or say why not.
    pub fn start() -> Result<Self, String> {
        let bin = find_bin().ok_or("no PostgreSQL: /usr/lib/postgresql/*/bin/initdb is missing")?;
        let dir = std::env::temp_dir().join(id("fanout-pg"));
        std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        let as_postgres = is_root();
        let port = free_port()?;
        let data = dir.join("data");
        let mut cluster = Self {
            admin_url: format!("postgres://postgres@127.0.0.1:{port}/postgres"),
            port,
            bin,
            data: data.clone(),
            as_postgres,
            // Replaced at once: a watchdog needs the commands of the cluster.
            watchdog: Command::new("true").spawn().map_err(|e| e.to_string())?,
        };
        let _ = cluster.watchdog.wait();
        cluster.watchdog = cluster.spawn_watchdog(&dir)?;
        if as_postgres {
            // initdb refuses to run as root: the cluster belongs to the `postgres` user.
            run(Command::new("chown").args(["-R", "postgres:postgres"]).arg(&dir))?;
        }
        let data = data.display().to_string();
        run(&mut cluster.command(
            "initdb",
            &["-D", &data, "-U", "postgres", "-A", "trust", "-E", "UTF8", "--locale=C", "--no-sync"],
        ))?;
        let socket_dir = dir.display().to_string();
        let options = format!(
            "-p {port} -k {socket_dir} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200"
        );
        let log = format!("{socket_dir}/log");
        run(&mut cluster
            .command("pg_ctl", &["-D", &data, "-l", &log, "-o", &options, "-w", "-t", "60", "start"]))
        .map_err(|e| format!("{e}\n{}", std::fs::read_to_string(&log).unwrap_or_default()))?;
        Ok(cluster)
    }

    /// Stop the server at once (as a crash would), keeping the data.
    pub fn stop(&self) -> Result<(), String> {
        let data = self.data.display().to_string();
        run(&mut self.command("pg_ctl", &["-D", &data, "-m", "immediate", "-w", "stop"]))
    }

    /// A `tool` of this cluster's PostgreSQL, run as the cluster's owner.
    fn command(&self, tool: &str, args: &[&str]) -> Command {
        let tool = self.bin.join(tool);
        let mut command = if self.as_postgres {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(tool);
            c
        } else {
            Command::new(tool)
        };
        command.args(args).stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::piped());
        command
    }

    /// A shell that waits for its stdin to close (this process dropping the cluster, or
    /// ending), then stops the server if it runs and removes `dir`.
    fn spawn_watchdog(&self, dir: &Path) -> Result<Child, String> {
        let pg_ctl = self
            .command("pg_ctl", &["-D", &self.data.display().to_string(), "-m", "immediate", "-w", "stop"]);
        let quote = |arg: &std::ffi::OsStr| format!("'{}'", arg.to_string_lossy().replace('\'', r"'\''"));
        let stop =
            std::iter::once(pg_ctl.get_program()).chain(pg_ctl.get_args()).map(quote).collect::<Vec<_>>();
        let script = format!(
            "cat >/dev/null; [ -f {pid} ] && {stop} >/dev/null 2>&1; rm -rf {dir}",
            pid = quote(self.data.join("postmaster.pid").as_os_str()),
            stop = stop.join(" "),
            dir = quote(dir.as_os_str()),
        );
        Command::new("sh")
            .args(["-c", &script])
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("cannot start the watchdog: {e}"))
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        // Closing the watchdog's stdin sets it off; wait for it to have cleaned up.
        drop(self.watchdog.stdin.take());
        let _ = self.watchdog.wait();
    }
}

/// The admin URL of this test binary's cluster: started by the first test that asks, shared by
/// the others. `None` (after a notice) when PostgreSQL is missing outside CI.
pub fn shared() -> Option<&'static str> {
    /// The URL, and the cluster (never dropped: its watchdog cleans up when the process ends).
    static SHARED: OnceLock<Option<(String, Option<Cluster>)>> = OnceLock::new();
    let shared = SHARED.get_or_init(|| {
        if let Ok(url) = std::env::var("FANOUT_TEST_POSTGRES_URL") {
            return Some((url, None));
        }
        match Cluster::start() {
            Ok(cluster) => Some((cluster.admin_url.clone(), Some(cluster))),
            Err(why) => {
                assert!(!in_ci(), "PostgreSQL is required under CI=true: {why}");
                eprintln!("notice: the PostgreSQL tests are skipped: {why} (apt-get install postgresql)");
                None
            }
        }
    });
    shared.as_ref().map(|(url, _)| url.as_str())
}

/// A new, empty database on the shared cluster: its URL.
pub async fn database() -> Option<String> {
    let admin = shared()?;
    let name = id("t").replace('-', "_");
    let mut conn = PgConnection::connect(admin).await.unwrap();
    sqlx::raw_sql(&format!("CREATE DATABASE {name}")).execute(&mut conn).await.unwrap();
    let _ = conn.close().await;
    Some(with_database(admin, &name))
}

/// `url` with its database replaced by `name`.
pub fn with_database(url: &str, name: &str) -> String {
    let (base, _) = url.rsplit_once('/').unwrap();
    format!("{base}/{name}")
}

/// Drop the database of `url` with everyone still connected to it.
pub async fn drop_database(url: &str) {
    let admin = shared().unwrap();
    let (_, name) = url.rsplit_once('/').unwrap();
    let mut conn = PgConnection::connect(admin).await.unwrap();
    sqlx::raw_sql(&format!("DROP DATABASE {name} WITH (FORCE)")).execute(&mut conn).await.unwrap();
    let _ = conn.close().await;
}

/// The newest `initdb` of Debian's packages (or on `PATH`): its bin dir.
fn find_bin() -> Option<PathBuf> {
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| {
            let version = entry.file_name().to_string_lossy().parse().ok()?;
            let bin = entry.path().join("bin");
            bin.join("initdb").is_file().then_some((version, bin))
        })
        .collect();
    versions.sort();
    if let Some((_, bin)) = versions.pop() {
        return Some(bin);
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path).find(|dir| dir.join("initdb").is_file() && dir.join("pg_ctl").is_file())
}

fn is_root() -> bool {
    Command::new("id").arg("-u").output().is_ok_and(|out| String::from_utf8_lossy(&out.stdout).trim() == "0")
}

fn free_port() -> Result<u16, String> {
    let listener = TcpListener::bind("127.0.0.1:0").map_err(|e| e.to_string())?;
    listener.local_addr().map(|a| a.port()).map_err(|e| e.to_string())
}

fn run(command: &mut Command) -> Result<(), String> {
    let out = command.output().map_err(|e| format!("{command:?}: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!("{command:?} failed ({}): {}", out.status, String::from_utf8_lossy(&out.stderr)))
    }
}

//! One server's connection: spawning or dialing it, the MCP handshake, reconnecting after a
//! failure, and routing the server's notifications (progress, tool list changes).

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError, RwLock};

use rmcp::RoleClient;
use rmcp::model::{
    ClientCapabilities, ClientConfig, ClientRequest, Implementation, PingRequest, ProgressNotificationParam,
    ProgressToken,
};
use rmcp::service::{NotificationContext, Peer, PeerRequestOptions, RunningService, ServiceExt};
use rmcp::transport::{StreamableHttpClientTransport, TokioChildProcess};

use super::{Endpoint, McpServer};
use crate::error::{Error, ErrorKind, Result};
use crate::tool::{ProgressReporter, ToolProgress};

/// What the server tells us outside of responses, shared with the handler rmcp runs.
#[derive(Debug, Default)]
pub(super) struct Notices {
    /// Where progress of each call in flight goes, by the call's progress token.
    progress: Mutex<HashMap<ProgressToken, ProgressReporter>>,
    /// The server said its tool list changed; re-list before the next turn.
    pub(super) list_changed: AtomicBool,
}

impl Notices {
    /// Route progress for `token` to `reporter` until the returned guard is dropped.
    pub(super) fn route(self: &Arc<Self>, token: ProgressToken, reporter: ProgressReporter) -> Route {
        self.progress.lock().unwrap_or_else(PoisonError::into_inner).insert(token.clone(), reporter);
        Route { notices: Arc::clone(self), token }
    }
}

/// Ends a progress route when the call is over, however it ends.
pub(super) struct Route {
    notices: Arc<Notices>,
    token: ProgressToken,
}

impl Drop for Route {
    fn drop(&mut self) {
        self.notices.progress.lock().unwrap_or_else(PoisonError::into_inner).remove(&self.token);
    }
}

/// The client side rmcp runs: it only listens for notifications.
struct Handler {
    notices: Arc<Notices>,
    info: ClientConfig,
}

impl rmcp::ClientHandler for Handler {
    async fn on_progress(&self, params: ProgressNotificationParam, _: NotificationContext<RoleClient>) {
        let reporter = self
            .notices
            .progress
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&params.progress_token)
            .cloned();
        if let Some(reporter) = reporter {
            let message = params.message.map(|m| crate::model::http::truncate(&m, MAX_MESSAGE));
            reporter.report(ToolProgress { progress: params.progress, total: params.total, message });
        }
    }

    async fn on_tool_list_changed(&self, _: NotificationContext<RoleClient>) {
        self.notices.list_changed.store(true, Ordering::Release);
    }

    fn get_info(&self) -> ClientConfig {
        self.info.clone()
    }
}

/// Progress messages are for display: a server cannot flood the events with megabytes.
const MAX_MESSAGE: usize = 1024;

type Service = RunningService<RoleClient, Handler>;

/// A server's connection, replaced when it fails. Dropping the last handle ends the session
/// (and, over stdio, kills the server).
pub(super) struct Session {
    pub(super) server: McpServer,
    pub(super) notices: Arc<Notices>,
    live: RwLock<Option<Live>>,
}

/// The current connection, numbered so a failure seen on an old one cannot condemn its successor.
struct Live {
    service: Arc<Service>,
    generation: u64,
    /// A call saw the connection close (rmcp's own flags may lag behind).
    broken: Arc<AtomicBool>,
    /// A call was abandoned unanswered: check that the server still answers at all.
    suspect: Arc<AtomicBool>,
}

impl Live {
    fn new(service: Service, generation: u64) -> Self {
        Self { service: Arc::new(service), generation, broken: Arc::default(), suspect: Arc::default() }
    }

    fn is_down(&self) -> bool {
        self.broken.load(Ordering::Acquire) || self.service.is_closed() || self.service.is_transport_closed()
    }
}

/// A call's hold on the connection it was sent on.
pub(super) struct Connection {
    pub(super) peer: Peer<RoleClient>,
    broken: Arc<AtomicBool>,
    pub(super) suspect: Arc<AtomicBool>,
}

impl Connection {
    /// The connection failed under a call: reconnect before the next turn.
    pub(super) fn mark_broken(&self) {
        self.broken.store(true, Ordering::Release);
    }
}

/// How long a server that had a call abandoned gets to answer a ping before it is reconnected.
const PROBE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session").field("server", &self.server.name).finish_non_exhaustive()
    }
}

impl Session {
    /// Connect to `server` and complete the handshake.
    pub(super) async fn connect(server: McpServer) -> Result<Arc<Self>> {
        let notices = Arc::new(Notices::default());
        let service = start(&server, &notices).await?;
        Ok(Arc::new(Self { server, notices, live: RwLock::new(Some(Live::new(service, 0))) }))
    }

    /// The live connection, or an error naming the server when it is down.
    pub(super) fn connection(&self) -> Result<Connection> {
        let live = self.live.read().unwrap_or_else(PoisonError::into_inner);
        match live.as_ref() {
            Some(live) if !live.is_down() => Ok(Connection {
                peer: live.service.peer().clone(),
                broken: Arc::clone(&live.broken),
                suspect: Arc::clone(&live.suspect),
            }),
            _ => Err(Error::new(
                ErrorKind::Connect,
                format!(
                    "the MCP server `{}` is not connected; it is reconnected before the next turn",
                    self.server.name
                ),
            )
            .with_provider("MCP")),
        }
    }

    /// True when the connection ended (the server exited, the HTTP session failed, …).
    pub(super) fn is_down(&self) -> bool {
        self.live.read().unwrap_or_else(PoisonError::into_inner).as_ref().is_none_or(Live::is_down)
    }

    /// After a call was abandoned unanswered, ping the server: one that lost our session may
    /// never answer anything again (some answer with an error that names no request, which
    /// leaves the request waiting forever). No answer in time marks the connection broken.
    pub(super) async fn probe(&self) {
        let Ok(connection) = self.connection() else { return };
        if !connection.suspect.swap(false, Ordering::AcqRel) {
            return;
        }
        let ping = ClientRequest::PingRequest(PingRequest::default());
        let answered = match connection
            .peer
            .send_request_with_option(ping, PeerRequestOptions::with_timeout(PROBE_TIMEOUT))
            .await
        {
            Ok(handle) => handle.await_response().await.is_ok(),
            Err(_) => false,
        };
        if !answered {
            tracing::warn!(
                "the MCP server `{}` does not answer a ping any more: reconnecting",
                self.server.name
            );
            connection.mark_broken();
        }
    }

    /// Replace a dead connection with a new one: respawn over stdio, a new session over HTTP.
    pub(super) async fn reconnect(&self) -> Result<()> {
        // Drop the dead service first: over stdio that kills and reaps the old process.
        let old = self.live.write().unwrap_or_else(PoisonError::into_inner).take();
        let generation = old.map_or(0, |live| live.generation + 1);
        let service = start(&self.server, &self.notices).await?;
        *self.live.write().unwrap_or_else(PoisonError::into_inner) = Some(Live::new(service, generation));
        // The new session's list is read anyway.
        self.notices.list_changed.store(true, Ordering::Release);
        Ok(())
    }
}

async fn start(server: &McpServer, notices: &Arc<Notices>) -> Result<Service> {
    let info = ClientConfig::new(
        ClientCapabilities::default(),
        Implementation::new("fanout", env!("CARGO_PKG_VERSION")),
    );
    let handler = Handler { notices: Arc::clone(notices), info };
    let name = &server.name;
    let failed = |err: &dyn std::fmt::Display| {
        Error::new(ErrorKind::Connect, format!("could not connect to the MCP server `{name}`: {err}"))
            .with_provider("MCP")
    };
    let handshake = async {
        match &server.endpoint {
            Endpoint::Stdio { program, args, env, cwd } => {
                let mut command = tokio::process::Command::new(program);
                command.args(args).envs(env.iter().map(|(k, v)| (k, v)));
                if let Some(cwd) = cwd {
                    command.current_dir(cwd);
                }
                // No zombies and no orphans: the server dies with its session.
                command.kill_on_drop(true);
                let (transport, _) = TokioChildProcess::builder(command)
                    .stderr(std::process::Stdio::inherit())
                    .spawn()
                    .map_err(|e| failed(&format!("cannot start `{}`: {e}", program.to_string_lossy())))?;
                handler.serve(transport).await.map_err(|e| failed(&e))
            }
            Endpoint::Http { url, headers } => {
                let client = http_client()?;
                let mut config =
                    rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig::with_uri(
                        url.as_str(),
                    );
                config.custom_headers = headers.clone();
                let transport = StreamableHttpClientTransport::with_client(client, config);
                handler.serve(transport).await.map_err(|e| failed(&e))
            }
        }
    };
    match tokio::time::timeout(server.connect_timeout, handshake).await {
        Ok(service) => service,
        Err(_) => Err(failed(&format!("no answer within {:.1}s", server.connect_timeout.as_secs_f64()))),
    }
}

/// A reqwest 0.13 client (rmcp's) with rustls on ring and the webpki roots: no C crypto build,
/// no process-wide crypto provider installed behind the user's back.
fn http_client() -> Result<reqwest013::Client> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let roots = rustls::RootCertStore { roots: webpki_roots::TLS_SERVER_ROOTS.to_vec() };
    let tls = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| Error::config(format!("TLS setup failed: {e}")))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    reqwest013::Client::builder()
        .tls_backend_preconfigured(tls)
        .build()
        .map_err(|e| Error::config(format!("HTTP client setup failed: {e}")))
}

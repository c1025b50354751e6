//! `iiswsgi sim serve`: the simulated IIS's HTTP front on hyper and tokio.
//! Every http/https binding of applicationHost.config gets a local listener
//! (the binding's port mapped to a given or free local port); requests go
//! through IIS's routing ([`dispatch`]) to the `FastCGI` module
//! ([`crate::host`]) or the static file handler ([`files`]).
//!
//! An `https` binding is served as plain HTTP on its local port with
//! `HTTPS=on` and `SERVER_PORT_SECURE=1`: the simulator terminates no TLS.

pub mod dispatch;
pub mod files;
pub mod state;

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;

use crate::host::{FastCgiHost, HostOptions};
use crate::machine::{MachineError, SimMachine};
use crate::model::routing::SiteBinding;
use crate::status::runfile::{self, ServeState, ServedBinding};

/// What can stop `sim serve` from starting.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error(transparent)]
    Machine(#[from] MachineError),
    #[error(transparent)]
    Config(#[from] iiswsgi_iisconfig::ConfigError),
    #[error("cannot listen on {addr} for the binding {binding}")]
    Listen {
        addr: SocketAddr,
        binding: String,
        source: std::io::Error,
    },
    #[error("applicationHost.config has no http or https binding to serve")]
    NoBindings,
    #[error("cannot start the async runtime: {0}")]
    Runtime(std::io::Error),
}

/// How to serve.
#[derive(Debug, Clone)]
pub struct ServeOptions {
    pub root: PathBuf,
    /// The local address to listen on.
    pub listen: IpAddr,
    /// Binding port → local port (others get a free port).
    pub ports: BTreeMap<u16, u16>,
    pub show_process_output: bool,
    /// How long one configured second lasts (test-only shortening).
    pub second: Duration,
    /// Stop once the first request has been answered (`--once`).
    pub once: bool,
}

/// One local listener: a binding's protocol and port.
#[derive(Debug)]
pub struct Listener {
    pub protocol: String,
    pub port: u16,
    pub local: SocketAddr,
    /// The local address as text (`LOCAL_ADDR`, the log's `s-ip`).
    pub ip: String,
}

/// A mapping line: `Default Web Site  http/*:80:  ->  http://127.0.0.1:8080/`.
#[derive(Debug, Clone)]
pub struct Mapping {
    pub site: String,
    pub binding: String,
    pub url: String,
}

impl std::fmt::Display for Mapping {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}  {}  ->  {}", self.site, self.binding, self.url)
    }
}

pub(crate) struct FrontState {
    pub machine: SimMachine,
    pub config: state::ConfigCache,
    pub bindings: Vec<SiteBinding>,
    pub host: FastCgiHost,
    pub logs: state::W3cLogs,
    pub paths: state::HostPaths,
}

/// A bound server, ready to run.
pub struct Server {
    state: Arc<FrontState>,
    listeners: Vec<(TcpListener, Arc<Listener>)>,
    pub mappings: Vec<Mapping>,
    /// With `--once`: notified when a connection that carried a request has
    /// ended (its response written, or its client gone).
    answered: Option<Arc<tokio::sync::Notify>>,
}

impl Server {
    /// Reads the machine and binds a listener per (protocol, port) of its bindings.
    pub async fn bind(opts: &ServeOptions) -> Result<Server, ServeError> {
        let machine = SimMachine::open(&opts.root)?;
        let config = state::ConfigCache::open(&machine)?;
        let ah = config.apphost();
        let bindings = SiteBinding::all(&ah.sites);
        if bindings.is_empty() {
            return Err(ServeError::NoBindings);
        }
        let mut listeners: Vec<(TcpListener, Arc<Listener>)> = Vec::new();
        let mut mappings = Vec::new();
        for b in &bindings {
            let existing = listeners
                .iter()
                .find(|(_, l)| l.port == b.info.port && l.protocol == b.protocol)
                .map(|(_, l)| Arc::clone(l));
            let l = if let Some(l) = existing {
                l
            } else {
                let local_port = opts.ports.get(&b.info.port).copied().unwrap_or(0);
                let addr = SocketAddr::new(opts.listen, local_port);
                let tcp = TcpListener::bind(addr)
                    .await
                    .map_err(|source| ServeError::Listen {
                        addr,
                        binding: b.label(),
                        source,
                    })?;
                let local = tcp.local_addr().map_err(|source| ServeError::Listen {
                    addr,
                    binding: b.label(),
                    source,
                })?;
                let l = Arc::new(Listener {
                    protocol: b.protocol.clone(),
                    port: b.info.port,
                    local,
                    ip: local.ip().to_string(),
                });
                listeners.push((tcp, Arc::clone(&l)));
                l
            };
            let host = if b.info.host.is_empty() {
                l.local.ip().to_string()
            } else {
                b.info.host.clone()
            };
            mappings.push(Mapping {
                site: b.site_name.clone(),
                binding: b.label(),
                url: format!("http://{host}:{}/", l.local.port()),
            });
        }
        let logs = state::W3cLogs::new(&machine, &ah.host);
        let host = FastCgiHost::new(HostOptions {
            machine: machine.clone(),
            capture: opts.show_process_output,
            second: opts.second,
        });
        Ok(Server {
            state: Arc::new(FrontState {
                machine,
                config,
                bindings,
                host,
                logs,
                paths: state::HostPaths::default(),
            }),
            listeners,
            mappings,
            answered: opts.once.then(|| Arc::new(tokio::sync::Notify::new())),
        })
    }

    /// Serves until `stop` completes (or, with `once`, until the first
    /// request has been answered), then shuts every `FastCGI` process down.
    pub async fn run(self, stop: impl std::future::Future<Output = ()>) {
        let mut accept_tasks = Vec::new();
        for (tcp, li) in self.listeners {
            let st = Arc::clone(&self.state);
            let answered = self.answered.clone();
            accept_tasks.push(tokio::spawn(accept_loop(tcp, li, st, answered)));
        }
        let st = Arc::clone(&self.state);
        let flusher = tokio::spawn(async move {
            loop {
                tokio::time::sleep(state::W3C_FLUSH_EVERY).await;
                st.logs.flush();
            }
        });
        let publisher = tokio::spawn(publish(Arc::clone(&self.state), self.mappings.clone()));
        let once = async {
            match &self.answered {
                Some(n) => n.notified().await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            () = stop => {}
            () = once => tracing::info!("--once: the first request was answered"),
        }
        tracing::info!("stopping: shutting the FastCGI processes down");
        for t in &accept_tasks {
            t.abort();
        }
        flusher.abort();
        publisher.abort();
        self.state.logs.flush();
        self.state.host.shutdown(Duration::from_secs(5)).await;
        self.state.logs.flush();
        ServeState::remove(self.state.machine.root());
    }
}

/// Publishes the bindings and the live processes in the machine's run file
/// for `sim status`, rewritten when they change (checked twice a second).
async fn publish(st: Arc<FrontState>, mappings: Vec<Mapping>) {
    let mut state = ServeState {
        pid: std::process::id(),
        started: runfile::now_unix(),
        bindings: mappings
            .iter()
            .map(|m| ServedBinding {
                site: m.site.clone(),
                binding: m.binding.clone(),
                url: m.url.clone(),
            })
            .collect(),
        processes: Vec::new(),
    };
    let mut written = false;
    loop {
        let processes = st.host.live_processes();
        if !written || processes != state.processes {
            state.processes = processes;
            // File I/O off the runtime thread, which serves the requests.
            let (snapshot, root) = (state.clone(), st.machine.root().to_path_buf());
            match tokio::task::spawn_blocking(move || snapshot.write(&root)).await {
                Ok(Ok(())) => written = true,
                Ok(Err(e)) => tracing::warn!("{}", iiswsgi_iisconfig::error_chain(&e)),
                Err(e) => tracing::warn!("writing the sim serve state file: {e}"),
            }
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

async fn accept_loop(
    tcp: TcpListener,
    li: Arc<Listener>,
    st: Arc<FrontState>,
    answered: Option<Arc<tokio::sync::Notify>>,
) {
    loop {
        let (stream, peer) = match tcp.accept().await {
            Ok(x) => x,
            Err(e) => {
                tracing::warn!("accept on {}: {e}", li.local);
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let st = Arc::clone(&st);
        let li = Arc::clone(&li);
        let peer_ip: Arc<str> = peer.ip().to_string().into();
        let answered = answered.clone();
        tokio::spawn(async move {
            let served = Arc::new(std::sync::atomic::AtomicBool::new(false));
            let seen = Arc::clone(&served);
            let svc = service_fn(move |req| {
                seen.store(true, std::sync::atomic::Ordering::Relaxed);
                let client = (peer, Arc::clone(&peer_ip));
                dispatch::handle(Arc::clone(&st), Arc::clone(&li), client, req)
            });
            // With --once a connection carries one request (hyper answers
            // `Connection: close`), so its end means the answer was written.
            // Header names go out in Title-Case, as IIS writes them
            // (`Content-Type`, `Server`), not in hyper's lower case.
            let conn = http1::Builder::new()
                .title_case_headers(true)
                .keep_alive(answered.is_none())
                .serve_connection(TokioIo::new(stream), svc);
            if let Err(e) = conn.await {
                tracing::debug!("connection from {peer}: {e}");
            }
            if let Some(n) = answered {
                if served.load(std::sync::atomic::Ordering::Relaxed) {
                    n.notify_one();
                }
            }
        });
    }
}

/// Runs `sim serve` on its own runtime until Ctrl-C or SIGTERM; `mapped` is
/// called with each mapping line once the listeners are bound.
///
/// One thread serves everything (as one nginx worker does): the `FastCGI`
/// processes need the cores, and a single-threaded runtime hands a request
/// from the front to the pool and back without waking another thread.
pub fn run_until_signal(opts: &ServeOptions, mapped: impl Fn(&Mapping)) -> Result<(), ServeError> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(ServeError::Runtime)?;
    rt.block_on(async {
        let server = Server::bind(opts).await?;
        for m in &server.mappings {
            mapped(m);
        }
        server.run(stop_signal()).await;
        Ok::<(), ServeError>(())
    })?;
    rt.shutdown_timeout(Duration::from_secs(2));
    Ok(())
}

pub async fn stop_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    let (Ok(mut int), Ok(mut term)) = (
        signal(SignalKind::interrupt()),
        signal(SignalKind::terminate()),
    ) else {
        let _ = tokio::signal::ctrl_c().await;
        return;
    };
    tokio::select! {
        _ = int.recv() => {}
        _ = term.recv() => {}
    }
}

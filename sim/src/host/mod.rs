//! The simulated IIS `FastCGI` module (`iisfcgi.dll`): process pools keyed by
//! `fullPath|arguments`, processes started and spoken to as IIS does.
//!
//! * [`process`]: starting one process and shutting it down;
//! * [`exchange`]: one request on the wire;
//! * [`head`]: the response's CGI head, parsed into an HTTP head;
//! * [`pool`]: the pool's lifecycle rules;
//! * [`live`]: the live processes, published for `sim status`;
//! * [`relay`]: the queue from an exchange to its HTTP response.
//!
//! Working directory: IIS passes no directory to `CreateProcessW`, so a
//! `FastCGI` process inherits w3wp's, `%windir%\system32\inetsrv`; here the
//! machine's `C:\Windows\System32\inetsrv` (host path).

pub mod exchange;
pub mod head;
pub mod live;
pub mod pool;
pub mod process;
pub mod relay;

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use iiswsgi_iisconfig::{FastCgiApplication, Protocol};

use crate::machine::{Program, SimMachine};
use pool::Pool;
use process::LaunchSpec;

/// How the host runs.
#[derive(Debug, Clone)]
pub struct HostOptions {
    pub machine: SimMachine,
    /// Capture the processes' stdout and stderr into the log (IIS discards them).
    pub capture: bool,
    /// How long one configured second lasts (1 s; tests shorten it, since
    /// IIS's schema forbids timeouts under 10 s).
    pub second: Duration,
}

pub(crate) struct Shared {
    pub machine: SimMachine,
    pub capture: bool,
    pub second: Duration,
    pub live: live::Registry,
}

impl Shared {
    /// `n` configured seconds.
    pub(crate) fn scaled(&self, n: u64) -> Duration {
        self.second
            .saturating_mul(u32::try_from(n).unwrap_or(u32::MAX))
    }

    fn monitor_path(&self, app: &FastCgiApplication) -> Option<PathBuf> {
        let m = app.monitor_changes_to.trim();
        if m.is_empty() {
            return None;
        }
        self.machine.host_path(m).ok()
    }

    /// The environment block in IIS's order (reference §1.1):
    /// `_FCGI_SHUTDOWN_EVENT_` when `signalBeforeTerminateSeconds` > 0,
    /// `_FCGI_X_PIPE_` for `NamedPipe`, `<environmentVariables>`, the machine's
    /// environment (w3wp's), then `IISWSGI_SIM_ROOT` and `IISWSGI_BACKEND`.
    /// `PATH` is the host's: the machine's Windows `PATH` names nothing here.
    pub(crate) fn environment(
        &self,
        app: &FastCgiApplication,
        serial: u64,
    ) -> Vec<(String, String)> {
        let mut env = Vec::new();
        if app.signal_before_terminate_seconds > 0 {
            env.push((
                "_FCGI_SHUTDOWN_EVENT_".to_owned(),
                (1000 + serial * 4).to_string(),
            ));
        }
        if app.protocol == Protocol::NamedPipe {
            env.push((
                "_FCGI_X_PIPE_".to_owned(),
                format!("\\\\.\\pipe\\IISFCGI-{}", pipe_uuid(serial)),
            ));
        }
        env.extend(app.environment_variables.iter().cloned());
        for (k, v) in self.machine.environment() {
            if k.eq_ignore_ascii_case("PATH") {
                env.push((k, std::env::var("PATH").unwrap_or_default()));
            } else {
                env.push((k, v));
            }
        }
        env.push((
            "IISWSGI_SIM_ROOT".to_owned(),
            self.machine.root().display().to_string(),
        ));
        env.push(("IISWSGI_BACKEND".to_owned(), "sim".to_owned()));
        env
    }

    fn launch_spec(&self, app: &FastCgiApplication) -> Result<LaunchSpec, String> {
        static SERIAL: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
        let serial = SERIAL.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let program = match self.machine.resolve_program(&app.full_path) {
            Ok(Program::Host(p)) => p,
            Ok(other) => return Err(format!("fullPath maps to {other:?}, not a program")),
            Err(e) => return Err(e.to_string()),
        };
        let cwd = self
            .machine
            .host_path("C:\\Windows\\System32\\inetsrv")
            .ok()
            .filter(|p| p.is_dir())
            .unwrap_or_else(|| self.machine.root().to_path_buf());
        let args = self
            .machine
            .host_args(&crate::model::cmdline::split_windows(
                &self.machine.expand(&app.arguments),
            ));
        Ok(LaunchSpec {
            program,
            args,
            env: self.environment(app, serial),
            cwd,
            protocol: app.protocol,
            capture: self.capture,
            label: app.script_processor(),
        })
    }
}

/// A stable, UUID-shaped pipe name for a process serial.
#[allow(
    clippy::cast_possible_truncation,
    reason = "the fields of a UUID are slices of the hash"
)]
fn pipe_uuid(serial: u64) -> String {
    let h = serial.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    format!(
        "{:08x}-{:04x}-{:04x}-{:04x}-{:012x}",
        (h >> 32) as u32,
        (h >> 16) as u16,
        h as u16,
        (serial >> 48) as u16,
        serial & 0xFFFF_FFFF_FFFF
    )
}

/// The `FastCGI` module: every pool.
pub struct FastCgiHost {
    shared: Arc<Shared>,
    pools: Mutex<Vec<Arc<Pool>>>,
}

impl FastCgiHost {
    pub fn new(opts: HostOptions) -> FastCgiHost {
        FastCgiHost {
            shared: Arc::new(Shared {
                machine: opts.machine,
                capture: opts.capture,
                second: opts.second,
                live: live::Registry::default(),
            }),
            pools: Mutex::new(Vec::new()),
        }
    }

    fn pools(&self) -> std::sync::MutexGuard<'_, Vec<Arc<Pool>>> {
        self.pools
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The pool for `app`; a changed `<fastCgi>` entry recycles its processes.
    pub fn pool(&self, app: &FastCgiApplication) -> Arc<Pool> {
        let mut pools = self.pools();
        // Found without building the key: IIS compares it case-insensitively.
        if let Some(p) = pools.iter().find(|p| app.matches_script_processor(&p.key)) {
            let mut st = p.lock();
            if st.app != *app {
                st.app = app.clone();
                p.recycle(&mut st, "its <fastCgi> entry changed");
            }
            return Arc::clone(p);
        }
        let pool = Arc::new(Pool::new(Arc::clone(&self.shared), app.clone()));
        pools.push(Arc::clone(&pool));
        let weak = Arc::downgrade(&pool);
        let tick = self.shared.second.max(Duration::from_millis(20));
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(tick).await;
                match weak.upgrade() {
                    Some(p) if !p.lock().closing => p.tick(),
                    _ => break,
                }
            }
        });
        pool
    }

    /// Every live process of every pool.
    pub fn live_processes(&self) -> Vec<crate::status::runfile::LiveProcess> {
        self.shared.live.snapshot()
    }

    /// Shuts every process down as IIS does at app-pool shutdown; busy ones
    /// get up to `grace` to finish their request, then are killed.
    pub async fn shutdown(&self, grace: Duration) {
        let pools: Vec<Arc<Pool>> = self.pools().clone();
        let deadline = tokio::time::Instant::now() + grace;
        for p in &pools {
            p.close().await;
        }
        while pools.iter().any(|p| p.lock().running > 0) && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

//! The gateway process: finds its transport (IIS's pipe on STDIN, a listening
//! socket on STDIN, or `--bind`), loads the WSGI application, and serves
//! `FastCGI` requests through the WSGI bridge until told to stop.

pub mod conn;
pub mod lifecycle;
pub mod logfile;
pub mod logging;
pub mod memory;
mod serve;
pub mod settings;
pub mod slots;
pub mod transport;
pub mod watch;
#[cfg(unix)]
pub mod workers;

pub use serve::serve;

use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use iiswsgi_fastcgi::app::Request;
use iiswsgi_fastcgi::nv::Params;
use iiswsgi_wsgi::{LoadError, Outcome, RequestChannel, ServerModel};
use pyo3::prelude::*;

use crate::lifecycle::Lifecycle;
use crate::settings::{Settings, WebSettings};
use crate::transport::Bind;

/// Why serving stopped with a failure.
#[derive(Debug, thiserror::Error)]
pub enum GatewayError {
    #[error("cannot open the log file {} (pass --log PATH or set WSGI_LOG to a writable file)", path.display())]
    Log { path: PathBuf, source: io::Error },
    #[error(transparent)]
    Load(#[from] LoadError),
    #[error(transparent)]
    Config(#[from] iiswsgi_iisconfig::ConfigError),
    #[error(transparent)]
    Watch(#[from] watch::WatchError),
    #[error("{context}")]
    Io { context: String, source: io::Error },
    /// `--bind` failed; the message says what to do.
    #[error("{0}")]
    Listen(io::Error),
    #[error("no WSGI application configured: pass APP (module:callable), set WSGI_HANDLER in the environment, or add it to <appSettings> in the application's web.config")]
    NoApp,
    #[error("stopped after a fatal error: {0}")]
    Fatal(String),
    #[error(transparent)]
    Python(#[from] PyErr),
}

/// How to serve: the `iiswsgi serve` arguments themselves (the CLI flattens
/// this struct), so each option is defined once. The `PasteDeploy` runner
/// builds one from its `[server]` options.
#[derive(clap::Args, Debug, Clone, Default)]
pub struct ServeOptions {
    /// The WSGI application: `module:callable`, wfastcgi's dotted `module.callable`
    /// (a `()` after a name calls it), or `config:PATH.ini[#name]` (`PasteDeploy`).
    /// Default: `WSGI_HANDLER` from the environment or from web.config <appSettings>.
    pub app: Option<String>,
    /// Listen instead of using STDIN: `unix:PATH` or `tcp:HOST:PORT`.
    #[arg(long, value_name = "ADDRESS")]
    pub bind: Option<Bind>,
    /// Log file (default: `WSGI_LOG`, else %`IIS_USER_HOME%\Logs`\..., else the temporary directory).
    #[arg(long, value_name = "PATH")]
    pub log: Option<PathBuf>,
    /// Log filter, e.g. `info`, `debug`, `iiswsgi_gateway=debug` (default: `IISWSGI_LOG_LEVEL` or info).
    #[arg(long, value_name = "FILTER")]
    pub log_level: Option<String>,
    /// The application's mount point; overrides the one derived from IIS's `APPL_MD_PATH`.
    #[arg(long, value_name = "PATH")]
    pub script_name: Option<String>,
    /// Restart (exit after the request in flight) when a file under the application
    /// directory matching this regex changes; empty disables. Default as wfastcgi's.
    #[arg(long, value_name = "REGEX")]
    pub restart_regex: Option<String>,
    /// The application directory (default: IIS's `APPL_PHYSICAL_PATH` of the first request).
    #[arg(long, visible_alias = "chdir", value_name = "DIR")]
    pub app_dir: Option<PathBuf>,
    /// Requests served at once when listening (default 64); idle connections do not count.
    #[arg(long, value_name = "N")]
    pub max_conns: Option<usize>,
    /// With --bind: worker processes sharing the socket, so Python runs on N cores (Unix).
    #[arg(long, value_name = "N", requires = "bind")]
    pub workers: Option<usize>,
    /// When listening: close a connection whose request stops arriving for this
    /// long (default 30; 0 waits forever). Idle keep-alive connections are not affected.
    #[arg(long, value_name = "SECS", value_parser = parse_secs)]
    pub read_timeout: Option<Duration>,
    /// After SIGTERM/SIGINT or a restart, how long requests in flight get to
    /// finish before the process exits with status 1, naming them in the log (default 30).
    #[arg(long, value_name = "SECS", value_parser = parse_secs)]
    pub graceful_timeout: Option<Duration>,
    /// The command line these options were parsed from (`iiswsgi serve …`),
    /// as given: `--workers` starts its workers with it.
    #[arg(skip)]
    pub argv: Vec<String>,
}

/// Seconds on the command line.
fn parse_secs(s: &str) -> Result<Duration, String> {
    s.trim()
        .parse::<u64>()
        .map(Duration::from_secs)
        .map_err(|_| format!("{s:?} is not a whole number of seconds"))
}

/// The transport model, which decides `wsgi.multithread`/`multiprocess` and `GET_VALUES`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// IIS's pipe (or a connected socket) on STDIN: one request at a time,
    /// concurrency from IIS's `maxInstances` processes.
    Pipe,
    /// A listening socket on STDIN (IIS `protocol="Tcp"`, `FastCGI` spawners).
    StdinListener,
    /// `--bind`.
    Bind,
}

/// Default of `--max-conns`.
pub const DEFAULT_MAX_CONNS: usize = 64;
/// Default of `--read-timeout`.
pub const DEFAULT_READ_TIMEOUT: Duration = Duration::from_secs(30);

struct AppSlot {
    app: Option<Arc<Py<PyAny>>>,
    /// An application named on the command line that was not importable at
    /// start-up: retried from the application directory on the first request.
    deferred: Option<String>,
    initialised: bool,
}

/// Shared state of the serving process.
pub struct Server {
    pub lifecycle: Lifecycle,
    mode: Mode,
    options: ServeOptions,
    /// The settings as resolved at start-up (before any `web.config`).
    settings: Settings,
    model: Mutex<Arc<ServerModel>>,
    app: Mutex<AppSlot>,
    watcher: Mutex<Option<notify::RecommendedWatcher>>,
    fatal: OnceLock<String>,
}

impl Server {
    fn lock_app(&self) -> std::sync::MutexGuard<'_, AppSlot> {
        self.app
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The application, loading it on the first request when it is configured
    /// only in the `web.config` of that request's `APPL_PHYSICAL_PATH`.
    fn app_for(&self, params: &Params) -> Result<Arc<Py<PyAny>>, GatewayError> {
        let mut slot = self.lock_app();
        if !slot.initialised {
            slot.initialised = true;
            let dir = self.options.app_dir.clone().or_else(|| {
                params
                    .get(b"APPL_PHYSICAL_PATH")
                    .map(|p| PathBuf::from(String::from_utf8_lossy(p).into_owned()))
            });
            let need_app = slot.app.is_none();
            let handler = self.init_app_dir(dir.as_deref(), need_app)?;
            if need_app {
                let spec = slot
                    .deferred
                    .take()
                    .or(handler)
                    .ok_or(GatewayError::NoApp)?;
                let app = Python::attach(|py| iiswsgi_wsgi::load_app(py, &spec))?;
                tracing::info!("loaded WSGI application {spec}");
                slot.app = Some(Arc::new(app));
            }
        }
        slot.app.clone().ok_or(GatewayError::NoApp)
    }

    /// Applies the application directory's `web.config` (wfastcgi's keys) and
    /// starts the restart watcher. With `configure` (the application is not
    /// loaded yet) it also changes into the directory, puts it and `PYTHONPATH`
    /// on `sys.path`, exports the other settings to `os.environ`, and returns
    /// the `WSGI_HANDLER` to load.
    fn init_app_dir(
        &self,
        dir: Option<&Path>,
        configure: bool,
    ) -> Result<Option<String>, GatewayError> {
        let web = match dir.and_then(iiswsgi_iisconfig::find_web_config) {
            Some(path) => {
                let w = WebSettings::load(&path)?;
                tracing::info!(
                    "read {} appSettings from {}",
                    w.entries.len(),
                    path.display()
                );
                Some(w)
            }
            None => None,
        };
        let settings = Settings::from_process(&self.options, web.as_ref());
        if web.is_some() {
            for line in settings.describe() {
                tracing::debug!("setting {line}");
            }
        }
        if configure {
            if let Some(log) = settings.log.as_ref().filter(|l| l.from_web_config()) {
                logging::retarget(&log.value)?;
            }
            self.configure_python(dir, &settings, web.as_ref())?;
        }
        let sn = settings
            .script_name
            .as_ref()
            .filter(|s| s.from_web_config());
        let xou = Some(&settings.use_x_original_url).filter(|x| x.from_web_config());
        if sn.is_some() || xou.is_some() {
            let mut model = self
                .model
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            let mut updated = ServerModel::clone(&model);
            if let Some(sn) = sn {
                updated.script_name = Some(sn.value.clone());
            }
            if let Some(x) = xou {
                updated.use_x_original_url = x.value;
            }
            *model = Arc::new(updated);
        }
        // IIS's models, or an explicit --app-dir behind another web server.
        if let Some(dir) = dir.filter(|_| self.mode != Mode::Bind || self.options.app_dir.is_some())
        {
            self.start_watcher(dir, &settings.restart_regex.value);
        }
        Ok(settings.app.map(|a| a.value))
    }

    /// Changes into the application directory, puts it and web.config's
    /// `PYTHONPATH` on `sys.path`, and exports the other appSettings to
    /// `os.environ` (where not set already).
    #[allow(
        clippy::unused_self,
        reason = "configures the interpreter for this server; kept a method like its siblings"
    )]
    fn configure_python(
        &self,
        dir: Option<&Path>,
        settings: &Settings,
        web: Option<&WebSettings>,
    ) -> Result<(), GatewayError> {
        Python::attach(|py| -> PyResult<()> {
            let sys_path = py.import("sys")?.getattr("path")?;
            if let Some(dir) = dir {
                if let Err(e) = std::env::set_current_dir(dir) {
                    tracing::warn!("cannot change into {}: {e}", dir.display());
                }
                sys_path.call_method1("insert", (0, dir.to_string_lossy().into_owned()))?;
            }
            for part in settings.python_path.iter().flat_map(|p| &p.value) {
                sys_path.call_method1("append", (part,))?;
            }
            let environ = py.import("os")?.getattr("environ")?;
            for e in web.iter().flat_map(|w| &w.entries) {
                if !environ.contains(e.key.as_str())? {
                    environ.set_item(e.key.as_str(), e.value.as_str())?;
                }
            }
            Ok(())
        })?;
        Ok(())
    }

    fn start_watcher(&'_ self, dir: &Path, pattern: &str) {
        if pattern.is_empty() {
            tracing::info!("restart on change disabled (empty WSGI_RESTART_FILE_REGEX)");
            return;
        }
        let this: &'static Server = match server_static() {
            Some(s) => s,
            None => return,
        };
        match watch::start(dir, pattern, move |rel| {
            this.lifecycle
                .request_stop(format!("{rel} changed (WSGI_RESTART_FILE_REGEX)"));
        }) {
            Ok(w) => {
                tracing::info!(
                    "restarting when a file under {} matching {pattern:?} changes",
                    dir.display()
                );
                *self
                    .watcher
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(w);
            }
            Err(e) => tracing::error!("{e}; restart on change is off"),
        }
    }
}

/// The WSGI side of a connection: each request runs the application.
impl conn::Handler for Server {
    fn begin(&self, what: String) -> Option<u64> {
        self.lifecycle.begin(what)
    }

    fn end(&self, token: u64) {
        self.lifecycle.end(token);
    }

    /// Runs one request. Returns an error when the process must stop (the
    /// application could not be loaded).
    fn handle(
        &self,
        request: &Request,
        channel: Arc<dyn RequestChannel>,
    ) -> Result<Outcome, io::Error> {
        let params = &request.params;
        let app = match self.app_for(params) {
            Ok(app) => app,
            Err(err) => {
                let text = iiswsgi_iisconfig::error_chain(&err);
                let detail = match &err {
                    GatewayError::Load(l) => l
                        .traceback()
                        .filter(|t| !t.is_empty())
                        .unwrap_or(&text)
                        .to_owned(),
                    _ => text.clone(),
                };
                tracing::error!("{text}");
                if detail != text {
                    tracing::error!("{detail}");
                }
                let _ = iiswsgi_wsgi::send_error_response(
                    channel.as_ref(),
                    &format!("{text}\n\n{detail}"),
                );
                let _ = self.fatal.set(text.clone());
                return Err(io::Error::other(text));
            }
        };
        let model = Arc::clone(
            &self
                .model
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner),
        );
        Ok(Python::attach(|py| {
            let pairs: Vec<(&[u8], &[u8])> = params.iter().collect();
            iiswsgi_wsgi::serve_request(py, app.bind(py), &pairs, &model, channel)
        }))
    }
}

pub(crate) static SERVER: OnceLock<Server> = OnceLock::new();

fn server_static() -> Option<&'static Server> {
    SERVER.get()
}

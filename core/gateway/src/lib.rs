//! The gateway process: finds its transport (IIS's pipe on STDIN, a listening
//! socket on STDIN, or `--bind`), loads the WSGI application, and serves
//! FastCGI requests through the WSGI bridge until told to stop.

pub mod config;
pub mod conn;
pub mod lifecycle;
pub mod logging;
pub mod memory;
pub mod transport;
pub mod watch;
#[cfg(unix)]
pub mod workers;

use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};

use iiswsgi_fastcgi::app::AppConfig;
use iiswsgi_fastcgi::nv::Params;
use iiswsgi_wsgi::errors::{Level, LogStream};
use iiswsgi_wsgi::{LoadError, RequestChannel, ServerModel};
use pyo3::prelude::*;

use crate::lifecycle::Lifecycle;
use crate::transport::{Bind, Listener, StdinKind};

/// Why serving stopped with a failure.
#[derive(Debug, thiserror::Error)]
pub enum GatewayError {
    #[error("cannot open the log file {path}: {source}; pass --log PATH or set WSGI_LOG to a writable file")]
    Log { path: PathBuf, source: io::Error },
    #[error(transparent)]
    Load(#[from] LoadError),
    #[error("{0}")]
    Config(#[from] config::ConfigError),
    #[error("{0}")]
    Watch(#[from] watch::WatchError),
    #[error("{context}: {source}")]
    Io { context: String, source: io::Error },
    #[error("no WSGI application configured: pass APP (module:callable), set WSGI_HANDLER in the environment, or add it to <appSettings> in the application's web.config")]
    NoApp,
    #[error("stopped after a fatal error: {0}")]
    Fatal(String),
    #[error("Python error: {0}")]
    Python(#[from] PyErr),
}

/// What `iiswsgi serve` was asked to do.
#[derive(Debug, Clone, Default)]
pub struct ServeOptions {
    /// `module:callable`, dotted `module.attr`, or `config:PATH.ini[#name]`.
    pub app: Option<String>,
    pub bind: Option<Bind>,
    pub log: Option<PathBuf>,
    pub log_level: Option<String>,
    /// Mount point overriding the one derived from `APPL_MD_PATH`.
    pub script_name: Option<String>,
    /// `WSGI_RESTART_FILE_REGEX`; empty disables.
    pub restart_regex: Option<String>,
    /// The application's directory (default: `APPL_PHYSICAL_PATH` of the first request).
    pub app_dir: Option<PathBuf>,
    /// Connections served at once in the listening modes.
    pub max_conns: Option<usize>,
    /// With `bind`: worker processes sharing the listening socket.
    pub workers: Option<usize>,
}

/// The transport model, which decides `wsgi.multithread`/`multiprocess` and GET_VALUES.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// IIS's pipe (or a connected socket) on STDIN: one request at a time,
    /// concurrency from IIS's `maxInstances` processes.
    Pipe,
    /// A listening socket on STDIN (IIS `protocol="Tcp"`, FastCGI spawners).
    StdinListener,
    /// `--bind`.
    Bind,
}

const DEFAULT_MAX_CONNS: usize = 64;

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
    model: Mutex<Arc<ServerModel>>,
    app: Mutex<AppSlot>,
    watcher: Mutex<Option<notify::RecommendedWatcher>>,
    fatal: OnceLock<String>,
}

/// `WSGI_X_ORIGINAL_URL=ignore` turns off the use of URL Rewrite's header.
const X_ORIGINAL_URL: &str = "WSGI_X_ORIGINAL_URL";

fn use_x_original_url(value: &str) -> bool {
    !value.trim().eq_ignore_ascii_case("ignore")
}

fn setting(name: &str) -> Option<String> {
    std::env::var(name).ok()
}

impl Server {
    fn lock_app(&self) -> std::sync::MutexGuard<'_, AppSlot> {
        self.app.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Runs one request. Returns an error when the process must stop (the
    /// application could not be loaded).
    pub(crate) fn handle(
        &self,
        params: &Params,
        channel: Arc<dyn RequestChannel>,
    ) -> Option<io::Error> {
        let app = match self.app_for(params) {
            Ok(app) => app,
            Err(err) => {
                let text = err.to_string();
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
                return Some(io::Error::other(text));
            }
        };
        let model = Arc::clone(&self.model.lock().unwrap_or_else(|e| e.into_inner()));
        Python::attach(|py| {
            let pairs: Vec<(&[u8], &[u8])> = params.iter().collect();
            iiswsgi_wsgi::serve_request(py, app.bind(py), &pairs, &model, channel);
        });
        None
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
        let settings = match dir.and_then(config::find_web_config) {
            Some(path) => {
                let s = config::read_app_settings(&path)?;
                tracing::info!("read {} appSettings from {}", s.len(), path.display());
                s
            }
            None => Vec::new(),
        };
        let get = |key: &str| {
            settings
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(key))
                .map(|(_, v)| v.clone())
        };
        if configure {
            if self.options.log.is_none() && setting("WSGI_LOG").is_none() {
                if let Some(log) = get("WSGI_LOG").filter(|l| !l.is_empty()) {
                    logging::retarget(Path::new(&config::expand_percent_vars(&log)))?;
                }
            }
            Python::attach(|py| -> PyResult<()> {
                let sys_path = py.import("sys")?.getattr("path")?;
                if let Some(dir) = dir {
                    if let Err(e) = std::env::set_current_dir(dir) {
                        tracing::warn!("cannot change into {}: {e}", dir.display());
                    }
                    sys_path.call_method1("insert", (0, dir.to_string_lossy().into_owned()))?;
                }
                if let Some(pp) = get("PYTHONPATH") {
                    for part in config::expand_percent_vars(&pp)
                        .split(';')
                        .filter(|p| !p.is_empty())
                    {
                        sys_path.call_method1("append", (part,))?;
                    }
                }
                let environ = py.import("os")?.getattr("environ")?;
                for (k, v) in &settings {
                    if !environ.contains(k.as_str())? {
                        environ.set_item(k.as_str(), v.as_str())?;
                    }
                }
                Ok(())
            })?;
        }
        if self.options.script_name.is_none() && setting("SCRIPT_NAME").is_none() {
            if let Some(sn) = get("SCRIPT_NAME") {
                let mut model = self.model.lock().unwrap_or_else(|e| e.into_inner());
                let mut updated = ServerModel::clone(&model);
                updated.script_name = Some(sn);
                *model = Arc::new(updated);
            }
        }
        if setting(X_ORIGINAL_URL).is_none() {
            if let Some(v) = get(X_ORIGINAL_URL) {
                let mut model = self.model.lock().unwrap_or_else(|e| e.into_inner());
                let mut updated = ServerModel::clone(&model);
                updated.use_x_original_url = use_x_original_url(&v);
                *model = Arc::new(updated);
            }
        }
        // IIS's models, or an explicit --app-dir behind another web server.
        if let Some(dir) = dir.filter(|_| self.mode != Mode::Bind || self.options.app_dir.is_some())
        {
            let pattern = self
                .options
                .restart_regex
                .clone()
                .or_else(|| setting("WSGI_RESTART_FILE_REGEX"))
                .or_else(|| get("WSGI_RESTART_FILE_REGEX"))
                .unwrap_or_else(|| watch::DEFAULT_RESTART_REGEX.to_owned());
            self.start_watcher(dir, &pattern);
        }
        let handler = setting("WSGI_HANDLER")
            .or_else(|| get("WSGI_HANDLER"))
            .filter(|h| !h.is_empty());
        Ok(handler)
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
                *self.watcher.lock().unwrap_or_else(|e| e.into_inner()) = Some(w);
            }
            Err(e) => tracing::error!("{e}; restart on change is off"),
        }
    }
}

static SERVER: OnceLock<Server> = OnceLock::new();

fn server_static() -> Option<&'static Server> {
    SERVER.get()
}

/// Serves until the web server goes away or a stop is requested. `app`
/// overrides `options.app` with an already loaded application (PasteDeploy's
/// server runner).
pub fn serve(
    py: Python<'_>,
    options: ServeOptions,
    app: Option<Py<PyAny>>,
) -> Result<(), GatewayError> {
    if let Some(n) = options.workers.filter(|&n| n > 1) {
        return serve_workers(py, &options, n);
    }
    let (mode, transport) = match &options.bind {
        Some(bind) => (Mode::Bind, Transport::Bind(bind.clone())),
        None => match transport::stdin_kind() {
            Ok(StdinKind::Connected(s)) => (Mode::Pipe, Transport::Connected(s)),
            Ok(StdinKind::Listening(l)) => (Mode::StdinListener, Transport::Listener(l)),
            Err(e) => {
                let _ = logging::init(log_path(&options).as_deref(), &log_level(&options), true);
                tracing::error!("{e}");
                return Err(GatewayError::Io {
                    context: "cannot serve".into(),
                    source: e,
                });
            }
        },
    };
    let log = logging::init(
        log_path(&options).as_deref(),
        &log_level(&options),
        mode != Mode::Pipe,
    )?;
    tracing::info!(
        "iiswsgi {} starting: pid {}, {mode:?} mode, log {}",
        env!("CARGO_PKG_VERSION"),
        std::process::id(),
        log.display()
    );
    if memory::tune() {
        tracing::debug!("malloc tuned: trim threshold 32 MiB, mmap threshold 8 MiB");
    }
    if mode == Mode::Pipe {
        // IIS gives the process invalid stdout/stderr handles: route prints to the log.
        let sys = py.import("sys")?;
        sys.setattr(
            "stdout",
            Bound::new(py, LogStream::new("stdout", Level::Info))?,
        )?;
        sys.setattr(
            "stderr",
            Bound::new(py, LogStream::new("stderr", Level::Warn))?,
        )?;
    }
    if let Some(dir) = &options.app_dir {
        std::env::set_current_dir(dir).map_err(|source| GatewayError::Io {
            context: format!(
                "cannot change into the application directory {}",
                dir.display()
            ),
            source,
        })?;
    }
    // The working directory is importable, as with `python -m`.
    let cwd = std::env::current_dir()
        .map(|d| d.to_string_lossy().into_owned())
        .unwrap_or_default();
    let sys_path = py.import("sys")?.getattr("path")?;
    if !sys_path.contains(cwd.as_str())? && !sys_path.contains("")? {
        sys_path.call_method1("insert", (0, cwd))?;
    }

    let spec = options
        .app
        .clone()
        .or_else(|| setting("WSGI_HANDLER"))
        .filter(|s| !s.is_empty());
    let mut deferred = None;
    let loaded = match (app, &spec) {
        (Some(app), _) => Some(app),
        (None, Some(spec)) => match iiswsgi_wsgi::load_app(py, spec) {
            Ok(app) => {
                tracing::info!("loaded WSGI application {spec}");
                Some(app)
            }
            Err(e @ LoadError::ModuleNotFound { .. })
                if mode != Mode::Bind && options.app_dir.is_none() =>
            {
                // IIS starts the process in a directory of its own: the module is
                // found once APPL_PHYSICAL_PATH is known, at the first request.
                tracing::info!("{e}; retrying from the application directory on the first request");
                deferred = Some(spec.clone());
                None
            }
            Err(e) => {
                tracing::error!("{e}");
                if let Some(tb) = e.traceback().filter(|t| !t.is_empty()) {
                    tracing::error!("{tb}");
                }
                return Err(e.into());
            }
        },
        (None, None) => {
            tracing::info!(
                "no application given: loading WSGI_HANDLER from web.config on the first request"
            );
            None
        }
    };
    let model = ServerModel {
        multithread: mode != Mode::Pipe,
        multiprocess: mode != Mode::Bind,
        use_x_original_url: setting(X_ORIGINAL_URL).is_none_or(|v| use_x_original_url(&v)),
        script_name: options
            .script_name
            .clone()
            .or_else(|| setting("SCRIPT_NAME")),
    };
    let server = Server {
        lifecycle: Lifecycle::default(),
        mode,
        options,
        model: Mutex::new(Arc::new(model)),
        app: Mutex::new(AppSlot {
            app: loaded.map(Arc::new),
            deferred,
            initialised: false,
        }),
        watcher: Mutex::new(None),
        fatal: OnceLock::new(),
    };
    if SERVER.set(server).is_err() {
        return Err(GatewayError::Fatal(
            "serve() can run once per process".into(),
        ));
    }
    let server = SERVER
        .get()
        .ok_or_else(|| GatewayError::Fatal("server state missing".into()))?;
    install_stop_handlers(server);
    py.detach(|| run(server, transport))
}

/// `--bind … --workers N`: a supervisor process; the workers serve.
fn serve_workers(py: Python<'_>, options: &ServeOptions, n: usize) -> Result<(), GatewayError> {
    logging::init(log_path(options).as_deref(), &log_level(options), true)?;
    let Some(bind) = options.bind.clone() else {
        let e = GatewayError::Fatal(
            "--workers needs --bind: under IIS, maxInstances sets the number of processes".into(),
        );
        tracing::error!("{e}");
        return Err(e);
    };
    #[cfg(unix)]
    {
        let python: String = py.import("sys")?.getattr("executable")?.extract()?;
        let result = py.detach(|| workers::supervise(options, &bind, n, &python));
        if let Err(e) = &result {
            tracing::error!("{e}");
        }
        result
    }
    #[cfg(not(unix))]
    {
        let _ = (py, bind, n);
        let e = GatewayError::Fatal(
            "--workers is available on Unix; under IIS, maxInstances sets the number of processes"
                .into(),
        );
        tracing::error!("{e}");
        Err(e)
    }
}

fn log_path(options: &ServeOptions) -> Option<PathBuf> {
    options.log.clone().or_else(|| {
        setting("WSGI_LOG")
            .filter(|s| !s.is_empty())
            .map(PathBuf::from)
    })
}

fn log_level(options: &ServeOptions) -> String {
    options
        .log_level
        .clone()
        .or_else(|| setting("IISWSGI_LOG_LEVEL"))
        .unwrap_or_else(|| "info".into())
}

enum Transport {
    Connected(Box<dyn transport::Stream>),
    Listener(Listener),
    Bind(Bind),
}

fn run(server: &'static Server, transport: Transport) -> Result<(), GatewayError> {
    match transport {
        Transport::Connected(stream) => {
            let end = conn::serve_connection(server, stream, AppConfig::single_request());
            if let Some(f) = server.fatal.get() {
                return Err(GatewayError::Fatal(f.clone()));
            }
            match end {
                Ok(end) => {
                    tracing::info!("connection ended ({end:?}); exiting");
                    Ok(())
                }
                Err(e) => {
                    tracing::error!("connection failed: {e}");
                    Err(GatewayError::Io {
                        context: "the FastCGI connection failed".into(),
                        source: e,
                    })
                }
            }
        }
        Transport::Listener(l) => accept_loop(server, l),
        Transport::Bind(bind) => {
            let l = Listener::bind(&bind).map_err(|source| GatewayError::Io {
                context: format!("cannot listen on {bind}"),
                source,
            })?;
            tracing::info!("listening on {bind}");
            accept_loop(server, l)
        }
    }
}

fn accept_loop(server: &'static Server, listener: Listener) -> Result<(), GatewayError> {
    let max = server.options.max_conns.unwrap_or(DEFAULT_MAX_CONNS).max(1);
    let config = AppConfig {
        max_conns: u32::try_from(max).unwrap_or(u32::MAX),
        max_reqs: u32::try_from(max).unwrap_or(u32::MAX),
        ..AppConfig::single_request()
    };
    let slots = Arc::new((Mutex::new(0usize), std::sync::Condvar::new()));
    loop {
        {
            let (lock, cv) = &*slots;
            let mut n = lock.lock().unwrap_or_else(|e| e.into_inner());
            while *n >= max {
                n = cv.wait(n).unwrap_or_else(|e| e.into_inner());
            }
            *n += 1;
        }
        let stream = match listener.accept() {
            Ok(s) => s,
            Err(e) => {
                let (lock, _) = &*slots;
                *lock.lock().unwrap_or_else(|e| e.into_inner()) -= 1;
                if server.lifecycle.stopping() {
                    return Ok(());
                }
                if is_permanent_accept_error(&e) {
                    tracing::error!("accept failed: {e}; the listening socket is unusable");
                    return Err(GatewayError::Io {
                        context: "cannot accept connections".into(),
                        source: e,
                    });
                }
                tracing::warn!("accept failed: {e}");
                std::thread::sleep(std::time::Duration::from_millis(50));
                continue;
            }
        };
        let slots = slots.clone();
        let config = config.clone();
        let spawned = std::thread::Builder::new()
            .name("iiswsgi-conn".into())
            .spawn(move || {
                // Give the thread a Python thread state for its whole life, detached
                // while it waits: attaching per request is then cheap.
                let ended = Python::attach(|py| {
                    py.detach(|| conn::serve_connection(server, stream, config))
                });
                match ended {
                    Ok(end) => tracing::debug!("connection ended: {end:?}"),
                    Err(e) => tracing::warn!("connection failed: {e}"),
                }
                if let Some(f) = server.fatal.get() {
                    tracing::error!("exiting: {f}");
                    std::process::exit(1);
                }
                let (lock, cv) = &*slots;
                *lock.lock().unwrap_or_else(|e| e.into_inner()) -= 1;
                cv.notify_one();
            });
        if let Err(e) = spawned {
            tracing::error!("cannot start a connection thread: {e}");
        }
    }
}

/// Accept errors that retrying cannot cure (not a socket, not listening, closed).
fn is_permanent_accept_error(e: &io::Error) -> bool {
    // EBADF, EINVAL, ENOTSOCK on Linux; WSAEBADF, WSAEINVAL, WSAENOTSOCK on Windows.
    matches!(e.raw_os_error(), Some(9 | 22 | 88 | 10009 | 10022 | 10038))
        || e.kind() == io::ErrorKind::InvalidInput
}

fn install_stop_handlers(server: &'static Server) {
    #[cfg(unix)]
    {
        use signal_hook::consts::{SIGINT, SIGTERM};
        match signal_hook::iterator::Signals::new([SIGTERM, SIGINT]) {
            Ok(mut signals) => {
                let _ = std::thread::Builder::new()
                    .name("iiswsgi-signals".into())
                    .spawn(move || {
                        if let Some(sig) = signals.forever().next() {
                            let name = if sig == SIGTERM { "SIGTERM" } else { "SIGINT" };
                            server.lifecycle.request_stop(format!("{name} received"));
                        }
                    });
            }
            Err(e) => tracing::warn!("cannot install signal handlers: {e}"),
        }
    }
    #[cfg(windows)]
    {
        if transport::windows::watch_shutdown_event(move || {
            server
                .lifecycle
                .request_stop("IIS signalled _FCGI_SHUTDOWN_EVENT_".into())
        })
        .is_some()
        {
            tracing::info!("waiting on IIS's shutdown event");
        }
    }
}

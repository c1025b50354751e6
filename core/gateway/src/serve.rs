//! `iiswsgi serve`: start-up (log, application, transport), the accept loop of
//! the listening modes, and the stop handlers.

use std::io;
use std::path::Path;
use std::sync::{Arc, Mutex, OnceLock};

use iiswsgi_fastcgi::app::AppConfig;
use iiswsgi_wsgi::errors::{Level, LogStream};
use iiswsgi_wsgi::{LoadError, ServerModel};
use pyo3::prelude::*;

use crate::conn::{self, ConnOptions};
use crate::lifecycle::Lifecycle;
use crate::settings::Settings;
use crate::slots::Slots;
use crate::transport::{self, Bind, Listener, StdinKind};
use crate::{logging, memory, AppSlot, GatewayError, Mode, ServeOptions, Server, SERVER};

/// Connections a listening gateway keeps open at once (parked ones included);
/// `--max-conns` bounds the requests served at once.
const MAX_OPEN_CONNS: usize = 10_000;
/// Environment variable a `--workers` supervisor gives its workers: its pid.
#[cfg(unix)]
pub(crate) const SUPERVISOR_PID: &str = "IISWSGI_SUPERVISOR_PID";

/// Serves until the web server goes away or a stop is requested. `app`
/// overrides `options.app` with an already loaded application (`PasteDeploy`'s
/// server runner).
pub fn serve(
    py: Python<'_>,
    options: ServeOptions,
    app: Option<Py<PyAny>>,
) -> Result<(), GatewayError> {
    let settings = Settings::from_process(&options, None);
    if let Some(n) = options.workers.filter(|&n| n > 1) {
        return serve_workers(py, &options, &settings, n);
    }
    let (mode, transport) = match &options.bind {
        Some(bind) => (Mode::Bind, Transport::Bind(bind.clone())),
        None => match transport::stdin_kind() {
            Ok(StdinKind::Connected(s)) => (Mode::Pipe, Transport::Connected(s)),
            Ok(StdinKind::Listening(l)) => (Mode::StdinListener, Transport::Listener(l)),
            Err(e) => {
                let _ = logging::init(log_path(&settings), &settings.log_level.value, true);
                tracing::error!("{e}");
                return Err(GatewayError::Io {
                    context: "cannot serve".into(),
                    source: e,
                });
            }
        },
    };
    start_up(py, &options, &settings, mode)?;
    let (loaded, deferred) = load(py, &options, &settings, app, mode)?;
    let model = ServerModel {
        multithread: mode != Mode::Pipe,
        multiprocess: mode != Mode::Bind,
        use_x_original_url: settings.use_x_original_url.value,
        script_name: settings.script_name.as_ref().map(|s| s.value.clone()),
    };
    let server = Server {
        lifecycle: Lifecycle::new(settings.graceful_timeout.value),
        mode,
        options,
        settings,
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
    watch_supervisor(server);
    py.detach(|| run(server, transport))
}

/// Logging, malloc tuning, `sys.stdout` in IIS's model, the working directory.
fn start_up(
    py: Python<'_>,
    options: &ServeOptions,
    settings: &Settings,
    mode: Mode,
) -> Result<(), GatewayError> {
    let log = logging::init(
        log_path(settings),
        &settings.log_level.value,
        mode != Mode::Pipe,
    )?;
    tracing::info!(
        "iiswsgi {} starting: pid {}, {mode:?} mode, log {}",
        env!("CARGO_PKG_VERSION"),
        std::process::id(),
        log.display()
    );
    logging::report_skipped();
    for line in settings.describe() {
        tracing::debug!("setting {line}");
    }
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
        if let Err(source) = std::env::set_current_dir(dir) {
            let e = GatewayError::Io {
                context: format!(
                    "cannot change into the application directory {} (check --app-dir: it must \
                     be an existing folder)",
                    dir.display()
                ),
                source,
            };
            tracing::error!("{}", iiswsgi_iisconfig::error_chain(&e));
            return Err(e);
        }
    }
    // The working directory is importable, as with `python -m`.
    let cwd = std::env::current_dir()
        .map(|d| d.to_string_lossy().into_owned())
        .unwrap_or_default();
    let sys_path = py.import("sys")?.getattr("path")?;
    if !sys_path.contains(cwd.as_str())? && !sys_path.contains("")? {
        sys_path.call_method1("insert", (0, cwd))?;
    }
    Ok(())
}

/// The application, or the spec to load on the first request.
fn load(
    py: Python<'_>,
    options: &ServeOptions,
    settings: &Settings,
    app: Option<Py<PyAny>>,
    mode: Mode,
) -> Result<(Option<Py<PyAny>>, Option<String>), GatewayError> {
    let spec = settings.app.as_ref().map(|a| a.value.clone());
    match (app, &spec) {
        (Some(app), _) => Ok((Some(app), None)),
        (None, Some(spec)) => match iiswsgi_wsgi::load_app(py, spec) {
            Ok(app) => {
                tracing::info!("loaded WSGI application {spec}");
                Ok((Some(app), None))
            }
            Err(e @ LoadError::ModuleNotFound { .. })
                if mode != Mode::Bind && options.app_dir.is_none() =>
            {
                // IIS starts the process in a directory of its own: the module is
                // found once APPL_PHYSICAL_PATH is known, at the first request.
                tracing::info!("{e}; retrying from the application directory on the first request");
                Ok((None, Some(spec.clone())))
            }
            Err(e) => {
                tracing::error!("{e}");
                if let Some(tb) = e.traceback().filter(|t| !t.is_empty()) {
                    tracing::error!("{tb}");
                }
                Err(e.into())
            }
        },
        (None, None) => {
            tracing::info!(
                "no application given: loading WSGI_HANDLER from web.config on the first request"
            );
            Ok((None, None))
        }
    }
}

/// `--bind … --workers N`: a supervisor process; the workers serve.
fn serve_workers(
    py: Python<'_>,
    options: &ServeOptions,
    settings: &Settings,
    n: usize,
) -> Result<(), GatewayError> {
    logging::init(log_path(settings), &settings.log_level.value, true)?;
    logging::report_skipped();
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
        let result = py.detach(|| crate::workers::supervise(options, settings, &bind, n, &python));
        if let Err(e) = &result {
            tracing::error!("{}", iiswsgi_iisconfig::error_chain(e));
        }
        result
    }
    #[cfg(not(unix))]
    {
        let _ = (py, bind, n, settings);
        let e = GatewayError::Fatal(
            "--workers is available on Unix; under IIS, maxInstances sets the number of processes"
                .into(),
        );
        tracing::error!("{e}");
        Err(e)
    }
}

fn log_path(settings: &Settings) -> Option<&Path> {
    settings.log.as_ref().map(|l| l.value.as_path())
}

enum Transport {
    Connected(Box<dyn transport::Stream>),
    Listener(Listener),
    Bind(Bind),
}

fn run(server: &'static Server, transport: Transport) -> Result<(), GatewayError> {
    match transport {
        Transport::Connected(stream) => {
            let end = conn::serve_connection(stream, server, &ConnOptions::pipe());
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
            let l = Listener::bind(&bind).map_err(|e| {
                tracing::error!("{e}");
                GatewayError::Listen(e)
            })?;
            tracing::info!("listening on {bind}");
            accept_loop(server, l)
        }
    }
}

/// The options of a listening mode's connections.
fn listening_options(settings: &Settings) -> ConnOptions {
    let max = settings.max_conns.value.max(1);
    ConnOptions {
        codec: AppConfig {
            max_conns: u32::try_from(MAX_OPEN_CONNS).unwrap_or(u32::MAX),
            max_reqs: u32::try_from(max).unwrap_or(u32::MAX),
            ..AppConfig::single_request()
        },
        read_timeout: settings.read_timeout.value,
        slots: Some(Arc::new(Slots::new(max))),
        keep_buffers: 64 * 1024,
    }
}

/// Accepts connections, one thread each. A thread holds a serving slot only
/// while it runs a request (see [`crate::slots`]).
#[allow(
    clippy::needless_pass_by_value,
    reason = "the accept loop owns the listening socket for its lifetime"
)]
fn accept_loop(server: &'static Server, listener: Listener) -> Result<(), GatewayError> {
    #[cfg(unix)]
    if let Some(n) = transport::unix::raise_open_files_limit() {
        tracing::debug!("open files limit: {n}");
    }
    let opts = Arc::new(listening_options(&server.settings));
    let open = Arc::new(Slots::new(MAX_OPEN_CONNS));
    loop {
        let conn_slot = open.acquire();
        let stream = match listener.accept() {
            Ok(s) => s,
            Err(e) => {
                drop(conn_slot);
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
        let opts = Arc::clone(&opts);
        let spawned = std::thread::Builder::new()
            .name("iiswsgi-conn".into())
            .spawn(move || {
                // Give the thread a Python thread state for its whole life, detached
                // while it waits: attaching per request is then cheap.
                let ended = Python::attach(|py| {
                    py.detach(|| conn::serve_connection(stream, server, &opts))
                });
                match ended {
                    Ok(end) => tracing::debug!("connection ended: {end:?}"),
                    Err(e) => tracing::warn!("connection failed: {e}"),
                }
                if let Some(f) = server.fatal.get() {
                    tracing::error!("exiting: {f}");
                    std::process::exit(1);
                }
                drop(conn_slot);
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
                .request_stop("IIS signalled _FCGI_SHUTDOWN_EVENT_".into());
        })
        .is_some()
        {
            tracing::info!("waiting on IIS's shutdown event");
        }
    }
}

/// A `--workers` worker stops (after its requests in flight) when its
/// supervisor is gone. On Linux the supervisor also asks the kernel for a
/// SIGTERM on its death (`PR_SET_PDEATHSIG`); this check covers other Unixes.
fn watch_supervisor(server: &'static Server) {
    #[cfg(unix)]
    {
        let supervisor = std::env::var(SUPERVISOR_PID).ok();
        let Some(supervisor) = supervisor.and_then(|p| p.parse::<u32>().ok()) else {
            return;
        };
        let spawned = std::thread::Builder::new()
            .name("iiswsgi-supervisor-watch".into())
            .spawn(move || loop {
                if std::os::unix::process::parent_id() != supervisor {
                    server.lifecycle.request_stop(format!(
                        "the --workers supervisor (pid {supervisor}) is gone"
                    ));
                    return;
                }
                std::thread::sleep(std::time::Duration::from_millis(500));
            });
        if let Err(e) = spawned {
            tracing::warn!("cannot watch the supervisor process: {e}");
        }
    }
    #[cfg(not(unix))]
    let _ = server;
}

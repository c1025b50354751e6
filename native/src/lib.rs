//! The composition root: the `iiswsgi._native` extension module that carries
//! the `iiswsgi` command line. IIS runs `python.exe -m iiswsgi serve APP`, so
//! the gateway lives inside the application's own interpreter and
//! virtualenv. Arguments are defined in `iiswsgi-cli`; this crate parses with
//! them and dispatches to the gateway, the packager and the simulator.

use std::path::PathBuf;

use iiswsgi_cli::Command;
use iiswsgi_gateway::transport::Bind;
use iiswsgi_gateway::{GatewayError, ServeOptions};
use pyo3::prelude::*;

mod install;
#[cfg(unix)]
mod replay;
mod sim;

/// The Python running this process (`sys.executable`).
pub(crate) fn python(py: Python<'_>) -> PathBuf {
    py.import("sys")
        .and_then(|sys| sys.getattr("executable"))
        .and_then(|e| e.extract::<String>())
        .map_or_else(|_| PathBuf::from("python3"), PathBuf::from)
}

/// An error and its sources as the user sees them: anyhow's `{:#}` (an
/// error's message never repeats its source's text, so the chain is shown).
pub(crate) fn report<E: std::error::Error + Send + Sync + 'static>(e: E) -> String {
    format!("{:#}", anyhow::Error::new(e))
}

/// Runs a packaging command: progress on stderr, the result on stdout (its
/// last line, or JSON), exit status 0 only on success.
fn run_deploy<T: serde::Serialize>(
    command: &str,
    json: bool,
    run: impl FnOnce(&mut dyn FnMut(&str)) -> Result<T, iiswsgi_deploy::DeployError>,
    last_line: impl FnOnce(&T) -> String,
) -> i32 {
    let mut progress = |msg: &str| eprintln!("iiswsgi {command}: {msg}");
    match run(&mut progress) {
        Ok(result) => {
            if json {
                match serde_json::to_string(&result) {
                    Ok(s) => println!("{s}"),
                    Err(e) => {
                        eprintln!("iiswsgi {command}: error: {e}");
                        return 1;
                    }
                }
            } else {
                println!("{}", last_line(&result));
            }
            0
        }
        Err(e) => {
            let e = report(e);
            eprintln!("iiswsgi {command}: error: {e}");
            if json {
                println!("{}", serde_json::json!({ "error": e }));
            }
            1
        }
    }
}

fn dir_or_cwd(dir: Option<PathBuf>) -> PathBuf {
    dir.unwrap_or_else(|| PathBuf::from("."))
}

fn exit_code(py: Python<'_>, result: Result<(), GatewayError>) -> i32 {
    match result {
        Ok(()) => 0,
        Err(e) => {
            if let GatewayError::Log { .. } = e {
                // Nowhere else to say it (other errors are logged, and mirrored
                // on stderr outside IIS's model).
                eprintln!("iiswsgi: {}", report(e));
            }
            let _ = py.check_signals();
            1
        }
    }
}

/// Runs the command line; returns the process exit status.
#[pyfunction]
fn main(py: Python<'_>, argv: Vec<String>) -> i32 {
    let cli = match iiswsgi_cli::parse(argv.clone()) {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return e.exit_code();
        }
    };
    match cli.command {
        Command::Serve(mut args) => {
            args.argv = argv;
            let result = iiswsgi_gateway::serve(py, args, None);
            exit_code(py, result)
        }
        Command::Init(a) => {
            let dir = dir_or_cwd(a.dir);
            run_deploy(
                "init",
                a.json,
                |p| iiswsgi_deploy::init::init(&dir, a.force, p),
                |r| {
                    r.written
                        .iter()
                        .map(|p| p.display().to_string())
                        .collect::<Vec<_>>()
                        .join("\n")
                },
            )
        }
        Command::Package(a) => {
            let dir = dir_or_cwd(a.dir);
            let python = python(py);
            run_deploy(
                "package",
                a.json,
                |p| {
                    if a.wheels {
                        let version = a
                            .wheels_python
                            .clone()
                            .unwrap_or_else(|| iiswsgi_deploy::wheels::target_python_version(&dir));
                        iiswsgi_deploy::wheels::download(&dir, &python, &version, p)?;
                    }
                    iiswsgi_deploy::package::package(&dir, a.dist_dir.as_deref(), p)
                },
                |r| r.zip.display().to_string(),
            )
        }
        Command::Feed(a) => {
            let dir = dir_or_cwd(a.dir);
            run_deploy(
                "feed",
                a.json,
                |p| {
                    let f = iiswsgi_deploy::feed::feed(
                        &dir,
                        &a.packages,
                        a.dist_dir.as_deref(),
                        a.url_template.as_deref(),
                        p,
                    )?;
                    for w in &f.warnings {
                        p(&format!("warning: {w}"));
                    }
                    Ok(f)
                },
                |r| r.url.clone(),
            )
        }
        Command::Sim(cmd) => sim::run(py, cmd),
        Command::Install(a) => install::run_install(py, a),
        Command::Uninstall(a) => install::run_uninstall(a),
        Command::CleanWebpi(a) => {
            let dir = dir_or_cwd(a.dir);
            run_deploy(
                "clean-webpi",
                a.json,
                |p| {
                    iiswsgi_deploy::clean::clean_webpi(
                        &dir,
                        &a.packages,
                        a.cache.as_deref(),
                        a.dist_dir.as_deref(),
                        p,
                    )
                },
                |r| {
                    format!(
                        "removed {} cached item(s) from {}",
                        r.removed.len(),
                        r.cache.display()
                    )
                },
            )
        }
    }
}

/// Serves an already loaded application (the `PasteDeploy` server runner).
#[pyfunction]
#[pyo3(signature = (app, bind=None, log=None, log_level=None, script_name=None, restart_regex=None, max_conns=None))]
#[allow(clippy::too_many_arguments)]
fn serve_app(
    py: Python<'_>,
    app: Py<PyAny>,
    bind: Option<String>,
    log: Option<PathBuf>,
    log_level: Option<String>,
    script_name: Option<String>,
    restart_regex: Option<String>,
    max_conns: Option<usize>,
) -> PyResult<i32> {
    let bind = bind
        .map(|b| b.parse::<Bind>())
        .transpose()
        .map_err(pyo3::exceptions::PyValueError::new_err)?;
    let options = ServeOptions {
        bind,
        log,
        log_level,
        script_name,
        restart_regex,
        max_conns,
        ..ServeOptions::default()
    };
    let result = iiswsgi_gateway::serve(py, options, Some(app));
    Ok(exit_code(py, result))
}

#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(main, m)?)?;
    m.add_function(wrap_pyfunction!(serve_app, m)?)?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    m.add(
        "ClientDisconnected",
        m.py().get_type::<iiswsgi_wsgi::ClientDisconnected>(),
    )?;
    m.add_class::<iiswsgi_wsgi::response::FileWrapper>()?;
    Ok(())
}

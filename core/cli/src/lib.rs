//! The `iiswsgi` command line and the Python extension module `iiswsgi._native`
//! that carries it: IIS runs `python.exe -m iiswsgi serve APP`, so the gateway
//! lives inside the application's own interpreter and virtualenv.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};
use iiswsgi_gateway::transport::Bind;
use iiswsgi_gateway::{GatewayError, ServeOptions};
use pyo3::prelude::*;

const SERVE_EXAMPLES: &str = "\
Examples:
  # What IIS runs (web.config handler: scriptProcessor=\"C:\\app\\venv\\Scripts\\python.exe|-m iiswsgi serve myapp:app\"):
  python -m iiswsgi serve myapp:app

  # A wfastcgi site: WSGI_HANDLER, PYTHONPATH, WSGI_LOG and WSGI_RESTART_FILE_REGEX
  # come from <appSettings> in the application's web.config:
  python -m iiswsgi serve

  # Behind nginx (fastcgi_pass unix:/run/app.sock):
  iiswsgi serve myapp:app --bind unix:/run/app.sock

  # A PasteDeploy application:
  iiswsgi serve config:production.ini#main --bind tcp:127.0.0.1:9000";

/// Serve and deploy Python WSGI applications on IIS.
#[derive(Parser, Debug)]
#[command(name = "iiswsgi", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run the FastCGI gateway: IIS's pipe or a FastCGI socket on STDIN, or --bind.
    #[command(after_help = SERVE_EXAMPLES)]
    Serve(ServeArgs),
}

#[derive(Args, Debug)]
struct ServeArgs {
    /// The WSGI application: `module:callable`, wfastcgi's dotted `module.callable`
    /// (a `()` after a name calls it), or `config:PATH.ini[#name]` (PasteDeploy).
    /// Default: WSGI_HANDLER from the environment or from web.config <appSettings>.
    app: Option<String>,
    /// Listen instead of using STDIN: `unix:PATH` or `tcp:HOST:PORT`.
    #[arg(long, value_name = "ADDRESS")]
    bind: Option<Bind>,
    /// Log file (default: WSGI_LOG, else %IIS_USER_HOME%\Logs\..., else the temporary directory).
    #[arg(long, value_name = "PATH")]
    log: Option<PathBuf>,
    /// Log filter, e.g. `info`, `debug`, `iiswsgi_gateway=debug` (default: IISWSGI_LOG_LEVEL or info).
    #[arg(long, value_name = "FILTER")]
    log_level: Option<String>,
    /// The application's mount point; overrides the one derived from IIS's APPL_MD_PATH.
    #[arg(long, value_name = "PATH")]
    script_name: Option<String>,
    /// Restart (exit after the request in flight) when a file under the application
    /// directory matching this regex changes; empty disables. Default as wfastcgi's.
    #[arg(long, value_name = "REGEX")]
    restart_regex: Option<String>,
    /// The application directory (default: IIS's APPL_PHYSICAL_PATH of the first request).
    #[arg(long, visible_alias = "chdir", value_name = "DIR")]
    app_dir: Option<PathBuf>,
    /// Connections served at once when listening (default 64).
    #[arg(long, value_name = "N")]
    max_conns: Option<usize>,
}

impl From<ServeArgs> for ServeOptions {
    fn from(a: ServeArgs) -> Self {
        ServeOptions {
            app: a.app,
            bind: a.bind,
            log: a.log,
            log_level: a.log_level,
            script_name: a.script_name,
            restart_regex: a.restart_regex,
            app_dir: a.app_dir,
            max_conns: a.max_conns,
        }
    }
}

fn exit_code(py: Python<'_>, result: Result<(), GatewayError>) -> i32 {
    match result {
        Ok(()) => 0,
        Err(e) => {
            if let GatewayError::Log { .. } = e {
                // Nowhere else to say it.
                eprintln!("iiswsgi: {e}");
            }
            let _ = py.check_signals();
            1
        }
    }
}

/// Runs the command line; returns the process exit status.
#[pyfunction]
fn main(py: Python<'_>, argv: Vec<String>) -> i32 {
    let cli = match Cli::try_parse_from(argv) {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return e.exit_code();
        }
    };
    match cli.command {
        Command::Serve(args) => {
            let result = iiswsgi_gateway::serve(py, args.into(), None);
            exit_code(py, result)
        }
    }
}

/// Serves an already loaded application (the PasteDeploy server runner).
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
        app: None,
        bind,
        log,
        log_level,
        script_name,
        restart_regex,
        app_dir: None,
        max_conns,
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

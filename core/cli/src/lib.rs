//! The `iiswsgi` command line and the Python extension module `iiswsgi._native`
//! that carries it: IIS runs `python.exe -m iiswsgi serve APP`, so the gateway
//! lives inside the application's own interpreter and virtualenv.

use std::path::PathBuf;
use std::time::Duration;

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

  # Behind nginx (fastcgi_pass unix:/run/app.sock), on 4 cores:
  iiswsgi serve myapp:app --bind unix:/run/app.sock --workers 4

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
    /// Write Manifest.xml.in, Parameters.xml, web.config.in and iis_install.stamp.in for a project.
    #[command(
        after_help = "Example:\n  iiswsgi init myproject        # then adjust the four files and run `iiswsgi package myproject`"
    )]
    Init(InitArgs),
    /// Build Manifest.xml, iis_install.stamp and the Web Deploy package zip (last line of stdout: its path).
    #[command(
        after_help = "Example:\n  iiswsgi package . --dist-dir dist    # prints dist/<name>-<version>.msdeploy.zip"
    )]
    Package(PackageArgs),
    /// Write the WebPI feed for built packages (last line of stdout: its file:// URL, for WebPI's \"add feed\").
    #[command(
        after_help = "Example:\n  iiswsgi feed . --package ../other-app --url-template 'https://downloads.example.org/{msdeploy_file}'\n\nURL template fields: {name} {version} {letter} {msdeploy_file} {msdeploy_package} {msdeploy_package_url}"
    )]
    Feed(FeedArgs),
    /// Delete WebPI's cached copies of these packages and of their feed.
    #[command(
        name = "clean-webpi",
        after_help = "Example:\n  iiswsgi clean-webpi . --cache \"%LOCALAPPDATA%\\Microsoft\\Web Platform Installer\""
    )]
    CleanWebpi(CleanArgs),
}

#[derive(Args, Debug)]
struct InitArgs {
    /// The project folder (with pyproject.toml); default: the current folder.
    dir: Option<PathBuf>,
    /// Overwrite existing templates.
    #[arg(long)]
    force: bool,
    /// Print the result as JSON.
    #[arg(long)]
    json: bool,
}

#[derive(Args, Debug)]
struct PackageArgs {
    /// The project folder (with pyproject.toml); default: the current folder.
    dir: Option<PathBuf>,
    /// Where the zip goes (default: DIR/dist).
    #[arg(long, value_name = "D")]
    dist_dir: Option<PathBuf>,
    /// Print the result as JSON.
    #[arg(long)]
    json: bool,
}

#[derive(Args, Debug)]
struct FeedArgs {
    /// The project whose metadata heads the feed (its package is included); default: the current folder.
    dir: Option<PathBuf>,
    /// Another packaged project to include (repeatable).
    #[arg(long = "package", value_name = "DIR")]
    packages: Vec<PathBuf>,
    /// Where DIR's package is and the feed goes (default: DIR/dist).
    #[arg(long, value_name = "D")]
    dist_dir: Option<PathBuf>,
    /// installerURL template; overrides [tool.iiswsgi] msdeploy_url_template.
    #[arg(long, value_name = "T")]
    url_template: Option<String>,
    /// Print the result as JSON.
    #[arg(long)]
    json: bool,
}

#[derive(Args, Debug)]
struct CleanArgs {
    /// The project folder; default: the current folder.
    dir: Option<PathBuf>,
    /// Another project whose cached package to delete (repeatable).
    #[arg(long = "package", value_name = "DIR")]
    packages: Vec<PathBuf>,
    /// The WebPI cache (default on Windows: %LOCALAPPDATA%\\Microsoft\\Web Platform Installer).
    #[arg(long, value_name = "PATH")]
    cache: Option<PathBuf>,
    /// DIR's dist folder, where its feed was written (default: DIR/dist).
    #[arg(long, value_name = "D")]
    dist_dir: Option<PathBuf>,
    /// Print the result as JSON.
    #[arg(long)]
    json: bool,
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
            eprintln!("iiswsgi {command}: error: {e}");
            if json {
                println!("{}", serde_json::json!({ "error": e.to_string() }));
            }
            1
        }
    }
}

fn dir_or_cwd(dir: Option<PathBuf>) -> PathBuf {
    dir.unwrap_or_else(|| PathBuf::from("."))
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
    /// With --bind: worker processes sharing the socket, so Python runs on N cores (Unix).
    #[arg(long, value_name = "N", requires = "bind")]
    workers: Option<usize>,
    /// When listening: close a connection whose request stops arriving for this
    /// long (default 30; 0 waits forever). Idle keep-alive connections are not affected.
    #[arg(long, value_name = "SECS")]
    read_timeout: Option<u64>,
    /// After SIGTERM/SIGINT or a restart, how long requests in flight get to
    /// finish before the process exits with status 1, naming them in the log (default 30).
    #[arg(long, value_name = "SECS")]
    graceful_timeout: Option<u64>,
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
            workers: a.workers,
            read_timeout: a.read_timeout.map(Duration::from_secs),
            graceful_timeout: a.graceful_timeout.map(Duration::from_secs),
        }
    }
}

fn exit_code(py: Python<'_>, result: Result<(), GatewayError>) -> i32 {
    match result {
        Ok(()) => 0,
        Err(e) => {
            if let GatewayError::Log { .. } = e {
                // Nowhere else to say it (other errors are logged, and mirrored
                // on stderr outside IIS's model).
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
            run_deploy(
                "package",
                a.json,
                |p| iiswsgi_deploy::package::package(&dir, a.dist_dir.as_deref(), p),
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
        workers: None,
        read_timeout: None,
        graceful_timeout: None,
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

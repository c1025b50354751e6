//! The `iiswsgi` command line: its clap argument definitions and `--help`
//! texts, and nothing else. The contract lives here; `native/` (the
//! `iiswsgi._native` extension module) parses with it and dispatches.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};
pub use iiswsgi_gateway::ServeOptions;

pub const SERVE_EXAMPLES: &str = "\
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
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Run the `FastCGI` gateway: IIS's pipe or a `FastCGI` socket on STDIN, or --bind.
    #[command(after_help = SERVE_EXAMPLES)]
    Serve(ServeOptions),
    /// Write Manifest.xml.in, Parameters.xml, web.config.in and `iis_install.stamp.in` for a project.
    #[command(
        after_help = "Example:\n  iiswsgi init myproject        # then adjust the four files and run `iiswsgi package myproject`"
    )]
    Init(InitArgs),
    /// Build Manifest.xml, `iis_install.stamp` and the Web Deploy package zip (last line of stdout: its path).
    #[command(
        after_help = "Example:\n  iiswsgi package . --dist-dir dist    # prints dist/<name>-<version>.msdeploy.zip"
    )]
    Package(PackageArgs),
    /// Write the `WebPI` feed for built packages (last line of stdout: its file:// URL, for `WebPI`'s \"add feed\").
    #[command(
        after_help = "Example:\n  iiswsgi feed . --package ../other-app --url-template 'https://downloads.example.org/{msdeploy_file}'\n\nURL template fields: {name} {version} {letter} {msdeploy_file} {msdeploy_package} {msdeploy_package_url}"
    )]
    Feed(FeedArgs),
    /// Delete `WebPI`'s cached copies of these packages and of their feed.
    #[command(
        name = "clean-webpi",
        after_help = "Example:\n  iiswsgi clean-webpi . --cache \"%LOCALAPPDATA%\\Microsoft\\Web Platform Installer\""
    )]
    CleanWebpi(CleanArgs),
    /// Install the application on this machine's IIS (what the package's runCommand runs).
    #[command(after_help = INSTALL_EXAMPLES)]
    Install(InstallArgs),
    /// Remove the application's `FastCGI` registrations from IIS.
    #[command(after_help = "Example:\n  iiswsgi uninstall C:\\inetpub\\wwwroot\\myapp")]
    Uninstall(UninstallArgs),
    /// The simulated IIS machine: create one, and run IIS's tools on it.
    #[command(subcommand)]
    Sim(SimCommand),
}

const INSTALL_EXAMPLES: &str = "\
Steps: find the application (APPL_PHYSICAL_PATH, else the site folder holding
iis_install.stamp), create its virtualenv, pip-install the project and iiswsgi
(offline from the package's wheels/ folder when it has one), write web.config
from web.config.in, register its <fastCgi> applications with appcmd, run the
[tool.iiswsgi.install] hooks, and send one request through the gateway.

Examples:
  # What the package's runCommand runs after Web Deploy copied the files:
  py -3 -m iiswsgi install --app-name myapp

  # Again, on an application already installed, with details:
  py -3 -m iiswsgi install --app-dir C:\\inetpub\\wwwroot\\myapp --ignore-stamp -v

Exit status: 0 installed; 1 failed (the reason on the last line of stderr);
3 installed without IIS (registration and smoke test skipped).";

const SIM_NEW_EXAMPLES: &str = "\
Examples:
  iiswsgi sim new /tmp/iis                 # full IIS: Default Web Site on *:80:
  iiswsgi sim new /tmp/iisx --iis-express  # IIS Express: WebSite1 on :8080:localhost";

const SIM_APPCMD_EXAMPLES: &str = "\
Examples (arguments as appcmd.exe takes them; quote for your shell):
  iiswsgi sim appcmd --root /tmp/iis list sites
  iiswsgi sim appcmd --root /tmp/iis add app /site.name:\"Default Web Site\" /path:/app /physicalPath:C:\\inetpub\\app
  iiswsgi sim appcmd --root /tmp/iis set config -section:system.webServer/fastCgi \"/+[fullPath='C:\\app\\.venv\\Scripts\\python.exe',arguments='-m iiswsgi serve app:app']\" /commit:apphost
  iiswsgi sim appcmd --root /tmp/iis list config -section:system.applicationHost/sites /xml";

/// Which IIS to talk to.
#[derive(Args, Debug, Clone)]
pub struct BackendArgs {
    /// `windows` (appcmd.exe), `sim` (the simulated IIS at `IISWSGI_SIM_ROOT`), `none`, or `auto`.
    #[arg(long, value_name = "BACKEND")]
    pub backend: Option<String>,
}

#[derive(Args, Debug)]
pub struct InstallArgs {
    /// The application folder (default: `APPL_PHYSICAL_PATH`, else searched through IIS).
    #[arg(long, value_name = "DIR")]
    pub app_dir: Option<PathBuf>,
    /// Only the application whose pyproject.toml has this [project] name.
    #[arg(long, value_name = "NAME")]
    pub app_name: Option<String>,
    /// The virtualenv (default: .venv in the application folder).
    #[arg(long, value_name = "DIR")]
    pub venv: Option<PathBuf>,
    /// Install even without `iis_install.stamp` (re-install).
    #[arg(long)]
    pub ignore_stamp: bool,
    /// The path the smoke test requests, under the application (default /).
    #[arg(long, value_name = "PATH")]
    pub smoke_url: Option<String>,
    /// Do not send the smoke-test request.
    #[arg(long)]
    pub no_smoke_test: bool,
    #[command(flatten)]
    pub backend: BackendArgs,
    /// More detail on stderr (-v: commands and their output).
    #[arg(short, long, action = clap::ArgAction::Count)]
    pub verbose: u8,
    /// Print the result as JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Args, Debug)]
pub struct UninstallArgs {
    /// The application folder (default: the current folder).
    pub dir: Option<PathBuf>,
    #[command(flatten)]
    pub backend: BackendArgs,
    /// Print the result as JSON.
    #[arg(long)]
    pub json: bool,
}
const SIM_MSDEPLOY_EXAMPLES: &str = "\
Arguments as msdeploy.exe takes them (quote for your shell); settings with spaces in
double quotes, no spaces after the commas. Exit code 0, or -1 (255) on an error.

Examples:
  iiswsgi sim msdeploy --root /tmp/iis -verb:sync -source:package=dist/app-1.0.msdeploy.zip -dest:auto
  iiswsgi sim msdeploy --root /tmp/iis -verb:sync -source:package=app.zip -dest:auto \\
      '-setParam:name=\"ApplicationPath\",value=\"Default Web Site/app\"' -setParam:scaffold=zodb
  iiswsgi sim msdeploy --root /tmp/iis -verb:sync -source:package=app.zip -dest:auto \\
      -setParamFile:SetParameters.xml -skip:objectName=dbMySql -whatif -verbose
  iiswsgi sim msdeploy --root /tmp/iis -verb:getParameters -source:package=app.zip";

const SIM_WEBPI_EXAMPLES: &str = "\
Arguments in iiswsgi's spelling or in WebPICmd.exe's. Feeds: a path, file:// or http:// URL.

Examples:
  iiswsgi sim webpi --root /tmp/iis list --feeds dist/PyramidIISApp-0.1.webpi.xml
  iiswsgi sim webpi --root /tmp/iis install --products PyramidIISApp --feeds file:///src/dist/PyramidIISApp-0.1.webpi.xml --accept-eula
  iiswsgi sim webpi --root /tmp/iisx install --products PyramidIISApp --feeds http://localhost:8000/feed.xml \\
      --iis-express --param scaffold=zodb
  iiswsgi sim webpi --root /tmp/iis /Install /Products:PyramidIISApp /Feeds:file:///src/dist/feed.xml /AcceptEULA

Logs: %LOCALAPPDATA%\\Microsoft\\Web Platform Installer\\logs\\webpi\\webpi#.txt (feeds) and
logs\\install\\<time>\\<title>.txt (each install, with Web Deploy's and runCommand's output).";

/// `iiswsgi sim …`.
#[derive(Subcommand, Debug)]
pub enum SimCommand {
    /// Create a simulated Windows machine with IIS (or IIS Express) under ROOT.
    #[command(after_help = SIM_NEW_EXAMPLES)]
    New(SimNewArgs),
    /// Run appcmd.exe's commands on a simulated machine (same syntax, output and exit codes).
    #[command(after_help = SIM_APPCMD_EXAMPLES)]
    Appcmd(SimAppcmdArgs),
    /// Serve the machine's sites over HTTP as IIS does: its bindings, routing, `FastCGI` module, logs.
    #[command(after_help = SIM_SERVE_EXAMPLES)]
    Serve(SimServeArgs),
    /// Deploy a project to a simulated IIS as a Windows user would: package, feed, `WebPI` install, serve.
    #[command(after_help = SIM_DEPLOY_EXAMPLES)]
    Deploy(SimDeployArgs),
    /// Run Web Deploy's msdeploy.exe on a simulated machine (sync a package, list its parameters).
    #[command(after_help = SIM_MSDEPLOY_EXAMPLES)]
    Msdeploy(SimMsdeployArgs),
    /// Run the Web Platform Installer (`WebPICmd`) on a simulated machine: list feeds, install products.
    #[command(after_help = SIM_WEBPI_EXAMPLES)]
    Webpi(SimWebpiArgs),
    /// Show a simulated machine: sites, applications, `FastCGI` pools and their live processes, last requests, logs.
    #[command(after_help = SIM_STATUS_EXAMPLES)]
    Status(SimStatusArgs),
    /// Rebuild an install on a fresh simulated machine, every stage shown: from a scenario file or `WebPI`'s install log folder.
    #[command(after_help = SIM_REPLAY_EXAMPLES)]
    Replay(SimReplayArgs),
}

const SIM_STATUS_EXAMPLES: &str = "\
Live processes and the local URLs come from a running `iiswsgi sim serve` (or
`sim deploy --keep`) on the same machine, which publishes them in ROOT/sim-serve.json;
the last requests come from each site's W3C log. Each log is shown with its
Windows path and its path on this host.

Examples:
  iiswsgi sim status --root /tmp/iis
  IISWSGI_SIM_ROOT=/tmp/iis iiswsgi sim status --json";

#[derive(Args, Debug)]
pub struct SimStatusArgs {
    /// The simulated machine (default: `IISWSGI_SIM_ROOT`).
    #[arg(long, env = "IISWSGI_SIM_ROOT", value_name = "ROOT")]
    pub root: PathBuf,
    /// Print the status as JSON.
    #[arg(long)]
    pub json: bool,
}

const SIM_REPLAY_EXAMPLES: &str = "\
A scenario (.toml): the project copied into the machine and broken as the
scenario says, sim deploy's stages, the requests; exit 0 when everything the
scenario expects was seen (a fault scenario passes when its failure is seen),
1 with each expectation not met, 2 when the scenario cannot be read.

WebPI's install log folder (%LOCALAPPDATA%\\Microsoft\\Web Platform Installer\\logs\\install\\<time>):
the same feeds, products (in order), target (IIS or IIS Express) and parameters
installed on a fresh machine, with WebPI's, Web Deploy's and iiswsgi install's
output; a feed or package the log names that cannot be read here is taken from
the folder when a file of the same name is there. Exit: WebPI's (0 installed,
1 failed).

Examples:
  iiswsgi sim replay harness/scenarios/missing_dependency.toml
  iiswsgi sim replay ./customer-logs/2024-05-01T10.22.31 --root /tmp/replay
  iiswsgi sim replay ./customer-logs/2024-05-01T10.22.31 --feed ./dist/app-1.0.webpi.xml";

#[derive(Args, Debug)]
pub struct SimReplayArgs {
    /// A scenario file (.toml), or `WebPI`'s install log folder (logs\install\<time>).
    #[arg(value_name = "LOG_OR_DIR")]
    pub source: PathBuf,
    /// The fresh machine's folder, absent or empty (default: a new temporary folder, kept for its logs).
    #[arg(long, value_name = "ROOT")]
    pub root: Option<PathBuf>,
    /// A feed to install from instead of the one the log names (repeatable).
    #[arg(long = "feed", value_name = "URL_OR_PATH")]
    pub feeds: Vec<String>,
    /// The local address the scenario's requests are served on.
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1")]
    pub listen: std::net::IpAddr,
}

const SIM_SERVE_EXAMPLES: &str = "\
Each http/https binding of applicationHost.config is served on a local port; the
mapping is printed on stdout, one line per binding:
  Default Web Site  http/*:80:  ->  http://127.0.0.1:41234/
Progress and IIS's errors (with what IIS only shows in an error page) go to stderr.
Ctrl-C or SIGTERM stops it and every FastCGI process it started; so does the
first answered request with --once.

Examples:
  iiswsgi sim serve /tmp/iis                        # free local ports
  iiswsgi sim serve /tmp/iis --port 80=8080         # binding port 80 on local port 8080
  iiswsgi sim serve /tmp/iis --show-process-output  # show what the FastCGI processes print
  iiswsgi sim serve /tmp/iis --port 80=8080 --once & curl -s http://127.0.0.1:8080/; wait
  IISWSGI_SIM_ROOT=/tmp/iis iiswsgi sim serve --listen 0.0.0.0";

#[derive(Args, Debug)]
pub struct SimServeArgs {
    /// The simulated machine (default: `IISWSGI_SIM_ROOT`).
    #[arg(env = "IISWSGI_SIM_ROOT", value_name = "ROOT")]
    pub root: PathBuf,
    /// The local address to listen on.
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1")]
    pub listen: std::net::IpAddr,
    /// Serve a binding's port on a given local port (repeatable): `BINDING_PORT=LOCAL_PORT`.
    #[arg(long = "port", value_name = "BINDING=LOCAL", value_parser = parse_port_map)]
    pub ports: Vec<(u16, u16)>,
    /// Capture the `FastCGI` processes' stdout and stderr into the log (IIS discards them).
    #[arg(long)]
    pub show_process_output: bool,
    /// Stop once the first request has been answered: its connection closes after the
    /// response (`Connection: close`), every `FastCGI` process is shut down as IIS shuts
    /// it down, the W3C log is written, and the exit status is 0.
    #[arg(long)]
    pub once: bool,
    /// Test only: one configured second of the <fastCgi> timeouts lasts MS milliseconds
    /// (IIS's schema forbids timeouts under 10 s; tests shorten them this way).
    #[arg(long, value_name = "MS")]
    pub test_second_ms: Option<u64>,
}

fn parse_port_map(s: &str) -> Result<(u16, u16), String> {
    let (a, b) = s
        .split_once('=')
        .ok_or_else(|| format!("{s:?}: expected BINDING_PORT=LOCAL_PORT, e.g. 80=8080"))?;
    let port = |p: &str| {
        p.trim()
            .parse::<u16>()
            .map_err(|_| format!("{p:?} is not a port number"))
    };
    Ok((port(a)?, port(b)?))
}

const SIM_DEPLOY_EXAMPLES: &str = "\
Stages, each with its time: init (only the templates the project lacks), package,
feed, a simulated machine (new unless ROOT holds one), WebPI install (Web Deploy,
runCommand, iiswsgi install: virtualenv, dependencies, web.config, FastCGI
registration, smoke test), then sim serve. A failed stage stops with its reason
and the log to read. The last line of stdout is the application's URL.

Examples:
  iiswsgi sim deploy fixtures/pyramid_app --once        # deploy, check the page, stop
  iiswsgi sim deploy . --root /tmp/iis --keep          # deploy and serve until Ctrl-C
  iiswsgi sim deploy . --iis-express --param \"Application Path=MySite\" --once";

#[derive(Args, Debug)]
pub struct SimDeployArgs {
    /// The project (with pyproject.toml); default: the current folder.
    pub project: Option<PathBuf>,
    /// The simulated machine (default: a new one in a temporary folder, kept for its logs).
    #[arg(long, value_name = "ROOT")]
    pub root: Option<PathBuf>,
    /// Deploy to IIS Express instead of full IIS.
    #[arg(long)]
    pub iis_express: bool,
    /// A `WebPI` parameter (repeatable): NAME=VALUE.
    #[arg(long = "param", value_name = "NAME=VALUE")]
    pub params: Vec<String>,
    /// Stop after the application's page answered.
    #[arg(long, conflicts_with = "keep")]
    pub once: bool,
    /// Serve until Ctrl-C (the default unless --once).
    #[arg(long)]
    pub keep: bool,
    /// The local address to serve on.
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1")]
    pub listen: std::net::IpAddr,
}

#[derive(Args, Debug)]
pub struct SimMsdeployArgs {
    /// The simulated machine (default: `IISWSGI_SIM_ROOT`).
    #[arg(long, env = "IISWSGI_SIM_ROOT", value_name = "ROOT")]
    pub root: PathBuf,
    /// Give runCommand's process `APPL_PHYSICAL_PATH` (Windows does not: what iiswsgi 0.3's author asked Microsoft for).
    #[arg(long)]
    pub set_appl_physical_path: bool,
    /// msdeploy's arguments: -verb:… -source:… -dest:… [-setParam:…] [-skip:…] [-whatif] [-verbose].
    #[arg(trailing_var_arg = true, allow_hyphen_values = true, num_args = 0.., value_name = "ARGS")]
    pub args: Vec<String>,
}

#[derive(Args, Debug)]
pub struct SimWebpiArgs {
    /// The simulated machine (default: `IISWSGI_SIM_ROOT`).
    #[arg(long, env = "IISWSGI_SIM_ROOT", value_name = "ROOT")]
    pub root: PathBuf,
    /// `WebPI`'s arguments: list --feeds URL… | install --products ID[,ID…] --feeds URL… [--iis-express] [--param NAME=VALUE…] [--accept-eula], or `WebPICmd`'s /List, /Install /Products:… /Feeds:….
    #[arg(trailing_var_arg = true, allow_hyphen_values = true, num_args = 0.., value_name = "ARGS")]
    pub args: Vec<String>,
}

#[derive(Args, Debug)]
pub struct SimNewArgs {
    /// The folder to create the machine in (absent or empty).
    pub root: PathBuf,
    /// IIS Express instead of full IIS (applicationhost.config under Documents\IISExpress).
    #[arg(long)]
    pub iis_express: bool,
    /// The host Python that the machine's `py` and `python.exe` run (default: the one running iiswsgi).
    #[arg(long, value_name = "PATH")]
    pub python: Option<PathBuf>,
}

#[derive(Args, Debug)]
pub struct SimAppcmdArgs {
    /// The simulated machine (default: `IISWSGI_SIM_ROOT`).
    #[arg(long, env = "IISWSGI_SIM_ROOT", value_name = "ROOT")]
    pub root: PathBuf,
    /// appcmd's arguments: VERB OBJECT [ID] [/name:value ...].
    #[arg(trailing_var_arg = true, allow_hyphen_values = true, num_args = 0.., value_name = "ARGS")]
    pub args: Vec<String>,
}

#[derive(Args, Debug)]
pub struct InitArgs {
    /// The project folder (with pyproject.toml); default: the current folder.
    pub dir: Option<PathBuf>,
    /// Overwrite existing templates.
    #[arg(long)]
    pub force: bool,
    /// Print the result as JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Args, Debug)]
pub struct PackageArgs {
    /// The project folder (with pyproject.toml); default: the current folder.
    pub dir: Option<PathBuf>,
    /// Where the zip goes (default: DIR/dist).
    #[arg(long, value_name = "D")]
    pub dist_dir: Option<PathBuf>,
    /// First download the dependencies as Windows wheels into DIR/wheels (packaged with
    /// the application: `iiswsgi install` then installs offline from them).
    #[arg(long)]
    pub wheels: bool,
    /// The target's `CPython` version for --wheels (default: `PythonXY` of webpi-dependencies, else 3.11).
    #[arg(long, value_name = "X.Y", requires = "wheels")]
    pub wheels_python: Option<String>,
    /// Print the result as JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Args, Debug)]
pub struct FeedArgs {
    /// The project whose metadata heads the feed (its package is included); default: the current folder.
    pub dir: Option<PathBuf>,
    /// Another packaged project to include (repeatable).
    #[arg(long = "package", value_name = "DIR")]
    pub packages: Vec<PathBuf>,
    /// Where DIR's package is and the feed goes (default: DIR/dist).
    #[arg(long, value_name = "D")]
    pub dist_dir: Option<PathBuf>,
    /// installerURL template; overrides [tool.iiswsgi] `msdeploy_url_template`.
    #[arg(long, value_name = "T")]
    pub url_template: Option<String>,
    /// Print the result as JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Args, Debug)]
pub struct CleanArgs {
    /// The project folder; default: the current folder.
    pub dir: Option<PathBuf>,
    /// Another project whose cached package to delete (repeatable).
    #[arg(long = "package", value_name = "DIR")]
    pub packages: Vec<PathBuf>,
    /// The `WebPI` cache (default on Windows: %LOCALAPPDATA%\\Microsoft\\Web Platform Installer).
    #[arg(long, value_name = "PATH")]
    pub cache: Option<PathBuf>,
    /// DIR's dist folder, where its feed was written (default: DIR/dist).
    #[arg(long, value_name = "D")]
    pub dist_dir: Option<PathBuf>,
    /// Print the result as JSON.
    #[arg(long)]
    pub json: bool,
}

/// Parses a command line (`argv[0]` is the program name).
pub fn parse(argv: impl IntoIterator<Item = String>) -> Result<Cli, clap::Error> {
    use clap::Parser as _;
    Cli::try_parse_from(argv)
}

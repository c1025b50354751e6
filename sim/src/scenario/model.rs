//! A scenario file: a project, `WebPI`'s parameters, the faults to inject and
//! what must be seen. TOML, every table closed (`deny_unknown_fields`), so a
//! misspelt key is an error naming the file and the key.

use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::ScenarioError;

/// One scenario (`harness/scenarios/*.toml`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    pub name: String,
    #[serde(default)]
    pub description: String,
    /// The project, relative to the scenario file (or absolute).
    pub project: PathBuf,
    /// Install to IIS Express instead of full IIS.
    #[serde(default)]
    pub iis_express: bool,
    /// `WebPI` parameters, `NAME=VALUE`, in order.
    #[serde(default)]
    pub parameters: Vec<String>,
    #[serde(default)]
    pub fault: Fault,
    #[serde(default)]
    pub serve: Serve,
    /// Requests sent through `sim serve` after a successful install.
    #[serde(default, rename = "request")]
    pub requests: Vec<Request>,
    #[serde(default)]
    pub expect: Expect,
}

/// What to break, as a user meets it.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Fault {
    /// A requirement added to the project's `[project] dependencies` that
    /// no index has.
    pub missing_dependency: Option<String>,
    /// The application module starts with `import NAME` of a module that
    /// does not exist.
    pub import_failure: Option<String>,
    /// After a first install, the cached package in `WebPI`'s `installers\`
    /// folder is replaced by other bytes; the second install meets it.
    #[serde(default)]
    pub stale_cache: bool,
    /// The same product installed twice on the same machine.
    #[serde(default)]
    pub install_twice: bool,
    /// A site of this name exists (IIS Express: the name `WebPI` would give the app).
    pub site_collision: Option<String>,
    /// The application calls `os._exit(3)` on every request under `/crash`.
    #[serde(default)]
    pub crash_under_load: bool,
    /// The application sleeps this many seconds on requests under `/slow`.
    pub slow_request: Option<u64>,
    /// `activityTimeout` set with appcmd on the application's `<fastCgi>` entry.
    pub activity_timeout: Option<u32>,
}

impl Fault {
    /// Whether the application module is wrapped (crash or slow paths).
    pub fn wraps_app(&self) -> bool {
        self.crash_under_load || self.slow_request.is_some()
    }
}

/// How `sim serve` runs for the requests.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Serve {
    /// One configured second of `<fastCgi>` timeouts lasts this many
    /// milliseconds (IIS forbids timeouts under 10 s; scenarios shorten time).
    #[serde(default = "default_second_ms")]
    pub second_ms: u64,
}

fn default_second_ms() -> u64 {
    1000
}

impl Default for Serve {
    fn default() -> Self {
        Serve {
            second_ms: default_second_ms(),
        }
    }
}

/// A request, relative to the application's URL.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Request {
    #[serde(default = "default_method")]
    pub method: String,
    /// The path under the application (`/` is its page).
    #[serde(default = "default_path")]
    pub path: String,
    /// A body of this many bytes (`Content-Length` declares it).
    #[serde(default)]
    pub body_bytes: u64,
    /// How many times to send it.
    #[serde(default = "one")]
    pub count: u32,
    /// How many at a time.
    #[serde(default = "one")]
    pub concurrency: u32,
    /// The status every answer must have.
    pub status: Option<u16>,
    /// Texts every answer's body must contain.
    #[serde(default)]
    pub text: Vec<String>,
}

fn default_method() -> String {
    "GET".into()
}

fn default_path() -> String {
    "/".into()
}

fn one() -> u32 {
    1
}

/// What must be seen.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Expect {
    /// 0: installed (and served); 1: a stage failed.
    #[serde(default)]
    pub exit_code: i32,
    /// The stage that fails (`webpi install`, `package`, …).
    pub stage: Option<String>,
    /// Texts the transcript (every stage's output, the logs shown) contains.
    #[serde(default)]
    pub output: Vec<String>,
    /// Texts the transcript must not contain.
    #[serde(default)]
    pub not_output: Vec<String>,
    /// Where the product tells the user to look: each must appear in the
    /// lines that name a log (`Log: …`, `read …`, `the install's log: …`).
    #[serde(default)]
    pub where_to_look: Vec<String>,
    /// Files of the machine (globs relative to the sim root) and their lines.
    #[serde(default)]
    pub files: Vec<FileExpect>,
}

/// Lines a file of the machine must (not) contain.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileExpect {
    /// A glob relative to the sim root (`C/inetpub/logs/LogFiles/W3SVC*/*.log`).
    pub glob: String,
    /// Each text is in at least one matching file.
    #[serde(default)]
    pub contains: Vec<String>,
    /// Each text occurs exactly once across the matching files.
    #[serde(default)]
    pub once: Vec<String>,
    /// No matching file contains these.
    #[serde(default)]
    pub absent: Vec<String>,
}

/// A loaded scenario and the folder its relative paths start from.
#[derive(Debug, Clone)]
pub struct Loaded {
    pub file: PathBuf,
    pub scenario: Scenario,
    /// The project, absolute.
    pub project: PathBuf,
}

/// Reads and checks a scenario file.
pub fn load(file: &Path) -> Result<Loaded, ScenarioError> {
    let text = std::fs::read_to_string(file).map_err(|source| ScenarioError::Read {
        path: file.to_path_buf(),
        source,
    })?;
    parse(file, &text)
}

/// Parses a scenario's text (`file` names it in errors and anchors paths).
pub fn parse(file: &Path, text: &str) -> Result<Loaded, ScenarioError> {
    let scenario: Scenario = toml::from_str(text).map_err(|e| ScenarioError::Toml {
        path: file.to_path_buf(),
        message: e.to_string(),
    })?;
    let bad = |key: &str, why: String| ScenarioError::Invalid {
        path: file.to_path_buf(),
        key: key.to_owned(),
        why,
    };
    for p in &scenario.parameters {
        if !p.contains('=') {
            return Err(bad(
                "parameters",
                format!("{p:?} is not NAME=VALUE (e.g. \"Application Path=Default Web Site/app\")"),
            ));
        }
    }
    for (i, r) in scenario.requests.iter().enumerate() {
        if r.count == 0 || r.concurrency == 0 {
            return Err(bad(
                &format!("request[{i}]"),
                "count and concurrency must be at least 1".into(),
            ));
        }
        if !r.path.starts_with('/') {
            return Err(bad(
                &format!("request[{i}].path"),
                format!("{:?} must start with /", r.path),
            ));
        }
    }
    if scenario.expect.exit_code != 0 && scenario.expect.stage.is_none() {
        return Err(bad(
            "expect.stage",
            "a scenario that fails names the stage that fails (e.g. \"webpi install\")".into(),
        ));
    }
    if scenario.expect.output.is_empty() || scenario.expect.where_to_look.is_empty() {
        return Err(bad(
            "expect",
            "say what the user sees (expect.output) and where the product tells them to look (expect.where_to_look)".into(),
        ));
    }
    if scenario.fault.activity_timeout.is_some_and(|t| t < 10) {
        return Err(bad(
            "fault.activity_timeout",
            "IIS's schema forbids activityTimeout under 10 s; shorten time with [serve] second_ms"
                .into(),
        ));
    }
    let base = file.parent().unwrap_or(Path::new("."));
    let project = std::path::absolute(base.join(&scenario.project))
        .unwrap_or_else(|_| base.join(&scenario.project));
    if !project.join("pyproject.toml").is_file() {
        return Err(bad(
            "project",
            format!(
                "{} has no pyproject.toml (the path is relative to the scenario file)",
                project.display()
            ),
        ));
    }
    Ok(Loaded {
        file: file.to_path_buf(),
        scenario,
        project,
    })
}

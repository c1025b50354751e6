//! Every setting of `iiswsgi serve`, resolved in one place: the command line
//! (`--log`, `APP`, …), then the environment (`WSGI_LOG`, `WSGI_HANDLER`, …),
//! then the `<appSettings>` of the application's `web.config` (wfastcgi's
//! keys), then the default. Each value knows where it came from.
//!
//! The gateway resolves twice: at start-up, before it knows the application's
//! folder (no `web.config` yet), and on the first request, once
//! `APPL_PHYSICAL_PATH` (or `--app-dir`) names the folder whose `web.config`
//! applies.

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use iiswsgi_iisconfig::{AppSetting, ConfigError};

use crate::lifecycle::DEFAULT_GRACEFUL_TIMEOUT;
use crate::{watch, ServeOptions, DEFAULT_MAX_CONNS, DEFAULT_READ_TIMEOUT};

/// The WSGI application (`module:callable`, …).
pub const WSGI_HANDLER: &str = "WSGI_HANDLER";
/// The log file.
pub const WSGI_LOG: &str = "WSGI_LOG";
/// Folders appended to `sys.path` (`;`-separated, `%VAR%` expanded).
pub const PYTHONPATH: &str = "PYTHONPATH";
/// The regex of files whose change restarts the process.
pub const WSGI_RESTART_FILE_REGEX: &str = "WSGI_RESTART_FILE_REGEX";
/// `ignore` turns off the use of URL Rewrite's `X-Original-URL` header.
pub const WSGI_X_ORIGINAL_URL: &str = "WSGI_X_ORIGINAL_URL";
/// The application's mount point.
pub const SCRIPT_NAME: &str = "SCRIPT_NAME";
/// The log filter (environment only).
pub const IISWSGI_LOG_LEVEL: &str = "IISWSGI_LOG_LEVEL";

/// Where a setting's value came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// An `iiswsgi serve` argument.
    CommandLine,
    /// The named environment variable.
    Environment(&'static str),
    /// An `<add>` of `<appSettings>` in this `web.config`, at this line when known.
    WebConfig(PathBuf, Option<usize>),
    /// Nothing set it.
    Default,
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Source::CommandLine => f.write_str("command line"),
            Source::Environment(var) => write!(f, "environment variable {var}"),
            Source::WebConfig(path, Some(line)) => write!(f, "{}:{line}", path.display()),
            Source::WebConfig(path, None) => write!(f, "{}", path.display()),
            Source::Default => f.write_str("default"),
        }
    }
}

/// A value and where it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolved<T> {
    pub value: T,
    pub source: Source,
}

impl<T> Resolved<T> {
    fn new(value: T, source: Source) -> Self {
        Resolved { value, source }
    }

    /// Whether the value came from `web.config`.
    pub fn from_web_config(&self) -> bool {
        matches!(self.source, Source::WebConfig(..))
    }
}

/// The `<appSettings>` of one `web.config`.
#[derive(Debug, Clone, Default)]
pub struct WebSettings {
    pub path: PathBuf,
    pub entries: Vec<AppSetting>,
}

impl WebSettings {
    /// Reads the `<appSettings>` of `path`.
    pub fn load(path: &Path) -> Result<WebSettings, ConfigError> {
        Ok(WebSettings {
            path: path.to_path_buf(),
            entries: iiswsgi_iisconfig::WebConfig::load(path)?.app_setting_entries()?,
        })
    }

    /// The entry for `key` (compared case-insensitively, as .NET does).
    pub fn get(&self, key: &str) -> Option<&AppSetting> {
        self.entries
            .iter()
            .find(|e| e.key.eq_ignore_ascii_case(key))
    }

    fn source(&self, entry: &AppSetting) -> Source {
        Source::WebConfig(self.path.clone(), (entry.line > 0).then_some(entry.line))
    }
}

/// Every setting of the gateway, resolved.
#[derive(Debug, Clone)]
pub struct Settings {
    /// The application to load; `None`: none is configured (yet).
    pub app: Option<Resolved<String>>,
    /// The log file; `None`: the first usable default location.
    pub log: Option<Resolved<PathBuf>>,
    pub log_level: Resolved<String>,
    /// The mount point; `None`: derived from IIS's `APPL_MD_PATH`.
    pub script_name: Option<Resolved<String>>,
    pub use_x_original_url: Resolved<bool>,
    /// Empty: restart on change is off.
    pub restart_regex: Resolved<String>,
    /// Folders for `sys.path` (`web.config` only: the environment's
    /// `PYTHONPATH` is Python's own business).
    pub python_path: Option<Resolved<Vec<String>>>,
    pub max_conns: Resolved<usize>,
    /// `None`: wait for ever.
    pub read_timeout: Resolved<Option<Duration>>,
    pub graceful_timeout: Resolved<Duration>,
}

/// One setting's sources, highest precedence first.
struct Lookup<'a> {
    env: &'a dyn Fn(&str) -> Option<String>,
    web: Option<&'a WebSettings>,
}

impl Lookup<'_> {
    /// The environment's value, then `web.config`'s; `keep` says which values count.
    fn find(&self, var: &'static str, keep: impl Fn(&str) -> bool) -> Option<Resolved<String>> {
        if let Some(v) = (self.env)(var).filter(|v| keep(v)) {
            return Some(Resolved::new(v, Source::Environment(var)));
        }
        let web = self.web?;
        let entry = web.get(var).filter(|e| keep(&e.value))?;
        Some(Resolved::new(entry.value.clone(), web.source(entry)))
    }
}

fn any(_: &str) -> bool {
    true
}

fn non_empty(v: &str) -> bool {
    !v.is_empty()
}

fn cli<T>(value: Option<T>) -> Option<Resolved<T>> {
    value.map(|v| Resolved::new(v, Source::CommandLine))
}

/// `WSGI_X_ORIGINAL_URL=ignore` (any case) turns the header off.
fn use_x_original_url(value: &str) -> bool {
    !value.trim().eq_ignore_ascii_case("ignore")
}

impl Settings {
    /// Resolves every setting: `options` (the command line) over `env` over
    /// `web` (a `web.config`'s `<appSettings>`, once known) over the defaults.
    /// An empty application or log file counts as unset; an empty restart
    /// regex is a value (it turns restarting off).
    pub fn resolve(
        options: &ServeOptions,
        env: &dyn Fn(&str) -> Option<String>,
        web: Option<&WebSettings>,
    ) -> Settings {
        let look = Lookup { env, web };
        let log = cli(options.log.clone()).or_else(|| {
            look.find(WSGI_LOG, non_empty).map(|r| {
                // wfastcgi expands %VAR% in web.config's values.
                let path = match r.source {
                    Source::WebConfig(..) => iiswsgi_iisconfig::expand_percent(&r.value, env),
                    _ => r.value,
                };
                Resolved::new(PathBuf::from(path), r.source)
            })
        });
        let python_path = look
            .web
            .and_then(|w| w.get(PYTHONPATH).map(|e| (w, e)))
            .map(|(w, e)| {
                let parts = iiswsgi_iisconfig::expand_percent(&e.value, env)
                    .split(';')
                    .filter(|p| !p.is_empty())
                    .map(str::to_owned)
                    .collect();
                Resolved::new(parts, w.source(e))
            });
        Settings {
            app: cli(options.app.clone().filter(|a| !a.is_empty()))
                .or_else(|| look.find(WSGI_HANDLER, non_empty)),
            log,
            log_level: cli(options.log_level.clone())
                .or_else(|| {
                    env(IISWSGI_LOG_LEVEL)
                        .map(|v| Resolved::new(v, Source::Environment(IISWSGI_LOG_LEVEL)))
                })
                .unwrap_or_else(|| Resolved::new("info".into(), Source::Default)),
            script_name: cli(options.script_name.clone()).or_else(|| look.find(SCRIPT_NAME, any)),
            use_x_original_url: look
                .find(WSGI_X_ORIGINAL_URL, any)
                .map(|r| Resolved::new(use_x_original_url(&r.value), r.source))
                .unwrap_or_else(|| Resolved::new(true, Source::Default)),
            restart_regex: cli(options.restart_regex.clone())
                .or_else(|| look.find(WSGI_RESTART_FILE_REGEX, any))
                .unwrap_or_else(|| {
                    Resolved::new(watch::DEFAULT_RESTART_REGEX.to_owned(), Source::Default)
                }),
            python_path,
            max_conns: cli(options.max_conns)
                .unwrap_or_else(|| Resolved::new(DEFAULT_MAX_CONNS, Source::Default)),
            read_timeout: cli(options.read_timeout)
                .unwrap_or_else(|| Resolved::new(DEFAULT_READ_TIMEOUT, Source::Default))
                .map(|t| Some(t).filter(|t| !t.is_zero())),
            graceful_timeout: cli(options.graceful_timeout)
                .unwrap_or_else(|| Resolved::new(DEFAULT_GRACEFUL_TIMEOUT, Source::Default)),
        }
    }

    /// Resolves against the process's environment.
    pub fn from_process(options: &ServeOptions, web: Option<&WebSettings>) -> Settings {
        Settings::resolve(options, &|name| std::env::var(name).ok(), web)
    }

    /// One line per setting that is set, with its source (for the log).
    pub fn describe(&self) -> Vec<String> {
        fn line<T: fmt::Debug>(name: &str, r: &Resolved<T>) -> String {
            format!("{name} = {:?} ({})", r.value, r.source)
        }
        let mut out = Vec::new();
        if let Some(a) = &self.app {
            out.push(line("application", a));
        }
        if let Some(l) = &self.log {
            out.push(line("log", l));
        }
        out.push(line("log level", &self.log_level));
        if let Some(s) = &self.script_name {
            out.push(line("SCRIPT_NAME", s));
        }
        out.push(line("use X-Original-URL", &self.use_x_original_url));
        out.push(line("restart regex", &self.restart_regex));
        if let Some(p) = &self.python_path {
            out.push(line("PYTHONPATH", p));
        }
        out.push(line("max conns", &self.max_conns));
        out.push(line("read timeout", &self.read_timeout));
        out.push(line("graceful timeout", &self.graceful_timeout));
        out
    }
}

impl<T> Resolved<T> {
    fn map<U>(self, f: impl FnOnce(T) -> U) -> Resolved<U> {
        Resolved::new(f(self.value), self.source)
    }
}

//! `system.webServer/fastCgi/application`: every attribute of IIS's schema with
//! its default and range (IIS 7.5 to 10, `IIS_schema.xml`), and handlers.

use std::fmt;
use std::path::Path;

use crate::dom::Element;
use crate::error::{ConfigError, ErrorKind};

/// What IIS does with what a `FastCGI` process writes to `FCGI_STDERR`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum StderrMode {
    #[default]
    ReturnStdErrIn500,
    ReturnGeneric500,
    IgnoreAndReturn200,
    TerminateProcess,
}

impl StderrMode {
    pub const ALL: [StderrMode; 4] = [
        StderrMode::ReturnStdErrIn500,
        StderrMode::ReturnGeneric500,
        StderrMode::IgnoreAndReturn200,
        StderrMode::TerminateProcess,
    ];
}

impl fmt::Display for StderrMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            StderrMode::ReturnStdErrIn500 => "ReturnStdErrIn500",
            StderrMode::ReturnGeneric500 => "ReturnGeneric500",
            StderrMode::IgnoreAndReturn200 => "IgnoreAndReturn200",
            StderrMode::TerminateProcess => "TerminateProcess",
        })
    }
}

/// How IIS talks to the process.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Protocol {
    #[default]
    NamedPipe,
    Tcp,
}

impl fmt::Display for Protocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Protocol::NamedPipe => "NamedPipe",
            Protocol::Tcp => "Tcp",
        })
    }
}

/// One `FastCGI` process pool, keyed by `fullPath` + `arguments`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FastCgiApplication {
    pub full_path: String,
    pub arguments: String,
    pub monitor_changes_to: String,
    pub stderr_mode: StderrMode,
    pub max_instances: u32,
    pub idle_timeout: u32,
    pub activity_timeout: u32,
    pub request_timeout: u32,
    pub instance_max_requests: u32,
    pub signal_before_terminate_seconds: u32,
    pub protocol: Protocol,
    pub queue_length: u32,
    pub flush_named_pipe: bool,
    pub rapid_fails_per_minute: u32,
    /// `environmentVariables/environmentVariable` (name, value), in order.
    pub environment_variables: Vec<(String, String)>,
}

/// The numeric attributes: name, default, IIS's range.
const NUMBERS: [(&str, u32, u32, u32); 8] = [
    ("maxInstances", 0, 0, 10_000),
    ("idleTimeout", 300, 10, 2_592_000),
    ("activityTimeout", 70, 10, 2_592_000),
    ("requestTimeout", 90, 10, 2_592_000),
    ("instanceMaxRequests", 200, 1, 10_000_000),
    ("signalBeforeTerminateSeconds", 0, 0, 60),
    ("queueLength", 1000, 1, 100_000_000),
    ("rapidFailsPerMinute", 10, 0, 1000),
];

impl FastCgiApplication {
    /// An application with IIS's defaults.
    pub fn new(full_path: &str, arguments: &str) -> Self {
        FastCgiApplication {
            full_path: full_path.to_owned(),
            arguments: arguments.to_owned(),
            monitor_changes_to: String::new(),
            stderr_mode: StderrMode::default(),
            max_instances: 0,
            idle_timeout: 300,
            activity_timeout: 70,
            request_timeout: 90,
            instance_max_requests: 200,
            signal_before_terminate_seconds: 0,
            protocol: Protocol::default(),
            queue_length: 1000,
            flush_named_pipe: false,
            rapid_fails_per_minute: 10,
            environment_variables: Vec::new(),
        }
    }

    /// The handler `scriptProcessor` that selects this pool: `fullPath|arguments`.
    pub fn script_processor(&self) -> String {
        if self.arguments.is_empty() {
            self.full_path.clone()
        } else {
            format!("{}|{}", self.full_path, self.arguments)
        }
    }

    /// Whether this pool is the one `script_processor` names, as IIS compares
    /// them (case-insensitive; a trailing `|` means no arguments).
    pub fn matches_script_processor(&self, script_processor: &str) -> bool {
        let (full, args) = script_processor
            .split_once('|')
            .unwrap_or((script_processor, ""));
        self.has_key(full, args)
    }

    /// Whether this pool has the key `fullPath`, `arguments` (IIS compares
    /// them case-insensitively).
    pub fn has_key(&self, full_path: &str, arguments: &str) -> bool {
        self.full_path.eq_ignore_ascii_case(full_path)
            && self.arguments.eq_ignore_ascii_case(arguments)
    }

    fn number_mut(&mut self, name: &str) -> Option<&mut u32> {
        Some(match name {
            "maxInstances" => &mut self.max_instances,
            "idleTimeout" => &mut self.idle_timeout,
            "activityTimeout" => &mut self.activity_timeout,
            "requestTimeout" => &mut self.request_timeout,
            "instanceMaxRequests" => &mut self.instance_max_requests,
            "signalBeforeTerminateSeconds" => &mut self.signal_before_terminate_seconds,
            "queueLength" => &mut self.queue_length,
            "rapidFailsPerMinute" => &mut self.rapid_fails_per_minute,
            _ => return None,
        })
    }

    fn number(&self, name: &str) -> u32 {
        match name {
            "maxInstances" => self.max_instances,
            "idleTimeout" => self.idle_timeout,
            "activityTimeout" => self.activity_timeout,
            "requestTimeout" => self.request_timeout,
            "instanceMaxRequests" => self.instance_max_requests,
            "signalBeforeTerminateSeconds" => self.signal_before_terminate_seconds,
            "queueLength" => self.queue_length,
            "rapidFailsPerMinute" => self.rapid_fails_per_minute,
            _ => 0,
        }
    }

    /// The effective value of an attribute by its schema name (defaults
    /// included), as appcmd compares and `/config:*` prints them.
    pub fn attribute(&self, name: &str) -> Option<String> {
        Some(match name {
            "fullPath" => self.full_path.clone(),
            "arguments" => self.arguments.clone(),
            "monitorChangesTo" => self.monitor_changes_to.clone(),
            "stderrMode" => self.stderr_mode.to_string(),
            "protocol" => self.protocol.to_string(),
            "flushNamedPipe" => self.flush_named_pipe.to_string(),
            n if NUMBERS.iter().any(|(k, ..)| *k == n) => self.number(n).to_string(),
            _ => return None,
        })
    }

    /// Every attribute of IIS's schema, in schema order.
    pub const ATTRIBUTES: [&'static str; 14] = [
        "fullPath",
        "arguments",
        "monitorChangesTo",
        "stderrMode",
        "maxInstances",
        "idleTimeout",
        "activityTimeout",
        "requestTimeout",
        "instanceMaxRequests",
        "signalBeforeTerminateSeconds",
        "protocol",
        "queueLength",
        "flushNamedPipe",
        "rapidFailsPerMinute",
    ];

    /// Reads an `<application>` element, checking every value against IIS's
    /// schema; errors name the file, the line and the attribute.
    pub fn from_element(file: &Path, e: &Element) -> Result<Self, ConfigError> {
        let bad = |attr: &str, value: &str, what: String| {
            ConfigError::at(
                ErrorKind::Invalid,
                file,
                e.line(),
                format!("<fastCgi><application> {attr}={value:?}: {what}"),
                "use a value IIS's schema accepts (see the IIS <fastCgi> reference)",
            )
        };
        let full_path = e.attr("fullPath").unwrap_or_default();
        if full_path.is_empty() {
            return Err(bad(
                "fullPath",
                full_path,
                "fullPath is required and may not be empty".into(),
            ));
        }
        let mut app = FastCgiApplication::new(full_path, e.attr("arguments").unwrap_or_default());
        e.attr("monitorChangesTo")
            .unwrap_or_default()
            .clone_into(&mut app.monitor_changes_to);
        for (name, _, min, max) in NUMBERS {
            if let Some(v) = e.attr(name) {
                let n: u32 = v
                    .trim()
                    .parse()
                    .map_err(|_| bad(name, v, "not a whole number".into()))?;
                if !(min..=max).contains(&n) {
                    return Err(bad(name, v, format!("out of IIS's range {min}..{max}")));
                }
                if let Some(slot) = app.number_mut(name) {
                    *slot = n;
                }
            }
        }
        if let Some(v) = e.attr("stderrMode") {
            app.stderr_mode = StderrMode::ALL
                .into_iter()
                .find(|m| m.to_string().eq_ignore_ascii_case(v.trim()))
                .ok_or_else(|| bad("stderrMode", v, "one of ReturnStdErrIn500, ReturnGeneric500, IgnoreAndReturn200, TerminateProcess".into()))?;
        }
        if let Some(v) = e.attr("protocol") {
            app.protocol = match v.trim().to_ascii_lowercase().as_str() {
                "namedpipe" => Protocol::NamedPipe,
                "tcp" => Protocol::Tcp,
                _ => return Err(bad("protocol", v, "NamedPipe or Tcp".into())),
            };
        }
        if let Some(v) = e.attr("flushNamedPipe") {
            app.flush_named_pipe =
                parse_bool(v).ok_or_else(|| bad("flushNamedPipe", v, "true or false".into()))?;
        }
        if let Some(vars) = e.child("environmentVariables") {
            for v in vars.elements() {
                match v.name() {
                    "environmentVariable" | "add" => {
                        let name = v.attr("name").unwrap_or_default().to_owned();
                        app.environment_variables
                            .retain(|(k, _)| !k.eq_ignore_ascii_case(&name));
                        app.environment_variables
                            .push((name, v.attr("value").unwrap_or_default().to_owned()));
                    }
                    "remove" => {
                        let name = v.attr("name").unwrap_or_default();
                        app.environment_variables
                            .retain(|(k, _)| !k.eq_ignore_ascii_case(name));
                    }
                    "clear" => app.environment_variables.clear(),
                    _ => {}
                }
            }
        }
        Ok(app)
    }

    /// The element as appcmd writes it: `fullPath`, `arguments` when set, and
    /// every attribute that differs from IIS's default.
    pub fn to_element(&self) -> Element {
        let mut e = Element::new("application").with_attr("fullPath", &self.full_path);
        if !self.arguments.is_empty() {
            e.set_attr("arguments", &self.arguments);
        }
        if !self.monitor_changes_to.is_empty() {
            e.set_attr("monitorChangesTo", &self.monitor_changes_to);
        }
        if self.stderr_mode != StderrMode::default() {
            e.set_attr("stderrMode", &self.stderr_mode.to_string());
        }
        for (name, default, _, _) in NUMBERS {
            let v = self.number(name);
            if v != default {
                e.set_attr(name, &v.to_string());
            }
        }
        if self.protocol != Protocol::default() {
            e.set_attr("protocol", &self.protocol.to_string());
        }
        if self.flush_named_pipe {
            e.set_attr("flushNamedPipe", "true");
        }
        if !self.environment_variables.is_empty() {
            let mut vars = Element::new("environmentVariables");
            for (k, v) in &self.environment_variables {
                vars.append(
                    Element::new("environmentVariable")
                        .with_attr("name", k)
                        .with_attr("value", v),
                );
            }
            e.append(vars);
        }
        e
    }
}

/// IIS's boolean spelling (case-insensitive `true`/`false`).
pub fn parse_bool(v: &str) -> Option<bool> {
    match v.trim().to_ascii_lowercase().as_str() {
        "true" => Some(true),
        "false" => Some(false),
        _ => None,
    }
}

/// A `<handlers><add>` entry.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Handler {
    pub name: String,
    pub path: String,
    pub verb: String,
    pub modules: String,
    pub script_processor: String,
    pub resource_type: String,
    pub require_access: String,
    /// Bytes of response IIS buffers (default 4 MB; 0 streams).
    pub response_buffer_limit: u64,
    pub allow_path_info: bool,
    pub line: usize,
}

impl Handler {
    /// Reads an `<add>` element of `<handlers>`.
    pub fn from_element(e: &Element) -> Self {
        let get = |k: &str| e.attr(k).unwrap_or_default().to_owned();
        Handler {
            name: get("name"),
            path: get("path"),
            verb: get("verb"),
            modules: e
                .attr("modules")
                .unwrap_or("ManagedPipelineHandler")
                .to_owned(),
            script_processor: get("scriptProcessor"),
            resource_type: e.attr("resourceType").unwrap_or("Unspecified").to_owned(),
            require_access: e.attr("requireAccess").unwrap_or("Script").to_owned(),
            response_buffer_limit: e
                .attr("responseBufferLimit")
                .and_then(|v| v.trim().parse().ok())
                .unwrap_or(4_194_304),
            allow_path_info: e
                .attr("allowPathInfo")
                .and_then(parse_bool)
                .unwrap_or(false),
            line: e.line(),
        }
    }

    /// The handlers a `<handlers>` element leaves in effect (`<add>`,
    /// `<remove>`, `<clear>` applied in order); none without the element.
    pub fn merged(handlers: Option<&Element>) -> Vec<Handler> {
        let Some(coll) = handlers else {
            return Vec::new();
        };
        let mut merged = Vec::new();
        merge_collection(coll, "name", &mut merged);
        merged.into_iter().map(Handler::from_element).collect()
    }

    /// Whether the handler runs through IIS's `FastCgiModule`.
    pub fn is_fastcgi(&self) -> bool {
        self.modules
            .split(',')
            .any(|m| m.trim().eq_ignore_ascii_case("FastCgiModule"))
    }
}

/// Applies `<add>`, `<remove name>` and `<clear>` of a keyed collection in
/// order, as IIS merges collections; `key` gives an entry's key.
pub fn merge_collection<'a>(coll: &'a Element, key_attr: &str, out: &mut Vec<&'a Element>) {
    for e in coll.elements() {
        match e.name() {
            "add" => {
                let key = e.attr(key_attr).unwrap_or_default();
                out.retain(|x| {
                    !x.attr(key_attr)
                        .unwrap_or_default()
                        .eq_ignore_ascii_case(key)
                });
                out.push(e);
            }
            "remove" => {
                let key = e.attr(key_attr).unwrap_or_default();
                out.retain(|x| {
                    !x.attr(key_attr)
                        .unwrap_or_default()
                        .eq_ignore_ascii_case(key)
                });
            }
            "clear" => out.clear(),
            _ => {}
        }
    }
}

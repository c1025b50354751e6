//! Where a simulated machine's logs are, and the last requests of each
//! site's W3C log.

use std::path::{Path, PathBuf};

use iiswsgi_iisconfig::{ApplicationHost, WebConfig};
use serde::Serialize;

use super::{SiteStatus, LAST_REQUESTS};
use crate::machine::SimMachine;

/// A file on the machine: what it is, its Windows path and its host path.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LogRef {
    pub what: String,
    pub windows: String,
    pub host: PathBuf,
}

impl LogRef {
    pub fn new(what: &str, windows: &str, host: &Path) -> LogRef {
        LogRef {
            what: what.to_owned(),
            windows: windows.to_owned(),
            host: host.to_path_buf(),
        }
    }

    fn of(machine: &SimMachine, what: String, host: PathBuf) -> LogRef {
        LogRef {
            what,
            windows: machine.windows_path(&host).unwrap_or_default(),
            host,
        }
    }
}

/// One request of a W3C log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RequestLine {
    pub site_id: u32,
    pub date: String,
    pub time: String,
    pub method: String,
    pub uri: String,
    pub status: String,
    pub substatus: String,
    pub win32_status: String,
    /// Milliseconds.
    pub time_taken: String,
}

pub(super) struct Found {
    pub requests: Vec<RequestLine>,
    pub logs: Vec<LogRef>,
}

/// The folder of the W3C logs: `siteDefaults/logFile@directory` (IIS's
/// default `%SystemDrive%\inetpub\logs\LogFiles`); each site logs into its
/// `W3SVC<id>` folder there.
pub fn w3c_dir(machine: &SimMachine, host: &ApplicationHost) -> PathBuf {
    let dir = host
        .document()
        .root()
        .descendant("system.applicationHost/sites/siteDefaults/logFile")
        .and_then(|e| e.attr("directory"))
        .unwrap_or("%SystemDrive%\\inetpub\\logs\\LogFiles")
        .to_owned();
    machine
        .host_path(&dir)
        .unwrap_or_else(|_| machine.root().join("C/inetpub/logs/LogFiles"))
}

/// The files in `dir` whose name passes `keep`, newest last.
fn by_age(dir: &Path, keep: impl Fn(&str) -> bool) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut files: Vec<(std::time::SystemTime, PathBuf)> = entries
        .filter_map(Result::ok)
        .filter(|e| keep(&e.file_name().to_string_lossy()))
        .filter_map(|e| Some((e.metadata().ok()?.modified().ok()?, e.path())))
        .collect();
    files.sort();
    files.into_iter().map(|(_, p)| p).collect()
}

pub(super) fn find(machine: &SimMachine, host: &ApplicationHost, sites: &[SiteStatus]) -> Found {
    let mut logs = Vec::new();
    let mut requests = Vec::new();
    let w3c = w3c_dir(machine, host);
    for site in sites {
        let dir = w3c.join(format!("W3SVC{}", site.id));
        let what = format!("W3C log of site {} ({})", site.id, site.name);
        match by_age(&dir, |n| n.starts_with("u_ex")).pop() {
            Some(newest) => {
                requests.extend(last_requests(&newest, site.id));
                logs.push(LogRef::of(machine, what, newest));
            }
            None => logs.push(LogRef::of(machine, format!("{what}, none yet"), dir)),
        }
    }
    if let Ok(cache) = crate::webpi::cache_root(machine) {
        let webpi = cache.join("logs");
        if let Some(feeds) = by_age(&webpi.join("webpi"), |n| {
            std::path::Path::new(n)
                .extension()
                .is_some_and(|ext| ext.eq_ignore_ascii_case("txt"))
        })
        .pop()
        {
            logs.push(LogRef::of(machine, "WebPI feed log".into(), feeds));
        }
        if let Some(run) = by_age(&webpi.join("install"), |_| true).pop() {
            for f in by_age(&run, |n| {
                std::path::Path::new(n)
                    .extension()
                    .is_some_and(|ext| ext.eq_ignore_ascii_case("txt"))
            }) {
                logs.push(LogRef::of(
                    machine,
                    "WebPI install log (the latest)".into(),
                    f,
                ));
            }
        }
    }
    for site in sites {
        for app in &site.applications {
            app_logs(
                machine,
                &site.name,
                &app.path,
                &app.physical_path,
                &mut logs,
            );
        }
    }
    Found { requests, logs }
}

/// An application's own logs: the installer's, and the gateway's
/// `WSGI_LOG` from its web.config's appSettings.
fn app_logs(machine: &SimMachine, site: &str, path: &str, physical: &str, logs: &mut Vec<LogRef>) {
    let Ok(dir) = machine.host_path(&machine.expand(physical)) else {
        return;
    };
    let install = dir.join("iiswsgi-install.log");
    if install.is_file() {
        logs.push(LogRef::of(
            machine,
            format!("iiswsgi install log of {site}{path}"),
            install,
        ));
    }
    let Ok(config) = WebConfig::load(&dir.join("web.config")) else {
        return;
    };
    let settings = config.app_settings().unwrap_or_default();
    if let Some((_, value)) = settings.iter().find(|(k, _)| k == "WSGI_LOG") {
        let what = format!("gateway log (WSGI_LOG) of {site}{path}");
        match machine.host_path(&machine.expand(value)) {
            Ok(host) => logs.push(LogRef::new(&what, value, &host)),
            Err(_) => logs.push(LogRef::new(&what, value, Path::new(value))),
        }
    }
}

/// The last requests of a W3C log, read by its `#Fields:` line.
fn last_requests(file: &Path, site_id: u32) -> Vec<RequestLine> {
    let Ok(text) = std::fs::read_to_string(file) else {
        return Vec::new();
    };
    let mut fields: Vec<&str> = crate::model::w3c::FIELDS.split(' ').collect();
    let mut lines = Vec::new();
    for line in text.lines() {
        if let Some(f) = line.strip_prefix("#Fields:") {
            fields = f.split_whitespace().collect();
        } else if !line.starts_with('#') && !line.trim().is_empty() {
            let values: Vec<&str> = line.split(' ').collect();
            let get = |name: &str| {
                fields
                    .iter()
                    .position(|f| *f == name)
                    .and_then(|i| values.get(i))
                    .map_or_else(String::new, |v| (*v).to_owned())
            };
            let query = get("cs-uri-query");
            let stem = get("cs-uri-stem");
            lines.push(RequestLine {
                site_id,
                date: get("date"),
                time: get("time"),
                method: get("cs-method"),
                uri: if query.is_empty() || query == "-" {
                    stem
                } else {
                    format!("{stem}?{query}")
                },
                status: get("sc-status"),
                substatus: get("sc-substatus"),
                win32_status: get("sc-win32-status"),
                time_taken: get("time-taken"),
            });
        }
    }
    let skip = lines.len().saturating_sub(LAST_REQUESTS);
    lines.split_off(skip)
}

//! The front's view of the machine: applicationHost.config (reloaded when it
//! changes), the configuration in effect per URL folder (cached, checked
//! against the files' modification times on every request), and the W3C
//! log files.

use std::collections::HashMap;
use std::fs::File;
use std::io::Write;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime};

/// How often a file's modification time is looked at again (IIS learns of
/// changes from file notifications; the simulator polls, at most this often).
const RECHECK: Duration = Duration::from_millis(250);

use iiswsgi_iisconfig::{
    find_web_config, ApplicationHost, Element, FastCgiApplication, Site, WebConfig,
};

fn fastcgi_of(host: &ApplicationHost) -> Arc<Vec<FastCgiApplication>> {
    Arc::new(host.fastcgi_applications().unwrap_or_else(|e| {
        tracing::warn!("{e}");
        Vec::new()
    }))
}

use crate::machine::SimMachine;
use crate::model::config::{web_config_location_level, Effective, Merger};
use crate::model::routing::{location_applies, physical_path, select_application, url_folders};
use crate::model::w3c;

fn stamp(p: &std::path::Path) -> Option<SystemTime> {
    std::fs::metadata(p).and_then(|m| m.modified()).ok()
}

/// applicationHost.config as last read.
#[derive(Clone)]
pub struct Apphost {
    pub host: Arc<ApplicationHost>,
    pub sites: Arc<Vec<Site>>,
    /// The `<fastCgi><application>` entries (an invalid one is logged at load).
    pub fastcgi: Arc<Vec<FastCgiApplication>>,
    stamp: Option<SystemTime>,
    checked: Instant,
}

struct Cached {
    effective: Arc<Effective>,
    files: Vec<(PathBuf, Option<SystemTime>)>,
    apphost: Option<SystemTime>,
    checked: Instant,
}

/// Configuration, reloaded as files change.
pub struct ConfigCache {
    machine: SimMachine,
    path: PathBuf,
    apphost: Mutex<Apphost>,
    effective: Mutex<HashMap<(u32, String), Cached>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl ConfigCache {
    pub fn open(machine: &SimMachine) -> Result<ConfigCache, super::ServeError> {
        let path = machine.apphost_path()?;
        let host = ApplicationHost::load(&path)?;
        let sites = host.sites()?;
        Ok(ConfigCache {
            machine: machine.clone(),
            apphost: Mutex::new(Apphost {
                fastcgi: fastcgi_of(&host),
                host: Arc::new(host),
                sites: Arc::new(sites),
                stamp: stamp(&path),
                checked: Instant::now(),
            }),
            path,
            effective: Mutex::new(HashMap::new()),
        })
    }

    /// applicationHost.config, reread if it changed since the last request.
    pub fn apphost(&self) -> Apphost {
        let mut cur = lock(&self.apphost);
        if cur.checked.elapsed() < RECHECK {
            return cur.clone();
        }
        let now = stamp(&self.path);
        cur.checked = Instant::now();
        if now != cur.stamp {
            match ApplicationHost::load(&self.path).and_then(|h| h.sites().map(|s| (h, s))) {
                Ok((host, sites)) => {
                    tracing::info!("{}: changed, reloaded", self.path.display());
                    *cur = Apphost {
                        fastcgi: fastcgi_of(&host),
                        host: Arc::new(host),
                        sites: Arc::new(sites),
                        stamp: now,
                        checked: Instant::now(),
                    };
                }
                Err(e) => tracing::warn!("keeping the previous configuration: {e}"),
            }
        }
        cur.clone()
    }

    /// The configuration in effect for `path` of `site`.
    pub fn effective(&self, ah: &Apphost, site: &Site, path: &str) -> Arc<Effective> {
        let folders = url_folders(path, true);
        let last = folders.last().cloned().unwrap_or_default().to_lowercase();
        let key = (site.id, last);
        if let Some(c) = lock(&self.effective).get_mut(&key) {
            if c.apphost == ah.stamp
                && (c.checked.elapsed() < RECHECK || c.files.iter().all(|(p, s)| stamp(p) == *s))
            {
                if c.checked.elapsed() >= RECHECK {
                    c.checked = Instant::now();
                }
                return Arc::clone(&c.effective);
            }
        }
        let mut merger = Merger::new();
        let root = ah.host.document().root();
        if let Some(ws) = root.child("system.webServer") {
            merger.apply(ws, "applicationHost.config", false);
        }
        for loc in ah.host.locations() {
            if location_applies(loc.attr("path").unwrap_or_default(), &site.name, path) {
                if let Some(ws) = loc.child("system.webServer") {
                    merger.apply(ws, "applicationHost.config <location>", false);
                }
            }
        }
        let mut files = Vec::new();
        // `<location path>` sections of web.config files, each merged at
        // the level it names (before that level's own web.config).
        let mut located: Vec<(usize, Element, String)> = Vec::new();
        for (i, folder) in folders.iter().enumerate() {
            for (_, ws, origin) in located.iter().filter(|(l, _, _)| *l == i) {
                merger.apply(ws, origin, true);
            }
            let Some(dir) = select_application(site, folder)
                .and_then(|a| physical_path(a, folder))
                .and_then(|w| self.machine.host_path(&w).ok())
            else {
                continue;
            };
            let candidate = find_web_config(&dir).unwrap_or_else(|| dir.join("web.config"));
            files.push((candidate.clone(), stamp(&candidate)));
            if !candidate.is_file() {
                continue;
            }
            match WebConfig::load(&candidate) {
                Ok(wc) => apply_web_config(&mut merger, &wc, &folders, i, &mut located),
                Err(e) => tracing::warn!("{e}"),
            }
        }
        let effective = Arc::new(merger.finish());
        for w in &effective.warnings {
            tracing::warn!("{w}");
        }
        let mut cache = lock(&self.effective);
        if cache.len() > 10_000 {
            cache.clear();
        }
        cache.insert(
            key,
            Cached {
                effective: Arc::clone(&effective),
                files,
                apphost: ah.stamp,
                checked: Instant::now(),
            },
        );
        effective
    }
}

/// Applies the web.config of `folders[at]`: its own `system.webServer`, and
/// each `<location path>` at the level it names (now, or later through
/// `located`, before that level's own web.config).
fn apply_web_config(
    merger: &mut Merger,
    wc: &WebConfig,
    folders: &[String],
    at: usize,
    located: &mut Vec<(usize, Element, String)>,
) {
    let root = wc.document().root();
    let file = wc.file().display().to_string();
    if let Some(ws) = root.child("system.webServer") {
        merger.apply(ws, &file, true);
    }
    for loc in root.elements().filter(|e| e.name() == "location") {
        let path = loc.attr("path").unwrap_or_default();
        let (Some(level), Some(ws)) = (
            web_config_location_level(folders, at, path),
            loc.child("system.webServer"),
        ) else {
            continue;
        };
        let origin = format!("{file} <location path=\"{path}\">");
        if level == at {
            merger.apply(ws, &origin, true);
        } else {
            located.push((level, ws.clone(), origin));
        }
    }
}

/// The W3C log files, one folder per site: `W3SVC<id>/u_exYYMMDD.log`.
pub struct W3cLogs {
    dir: PathBuf,
    files: Mutex<HashMap<u32, (String, File)>>,
}

impl W3cLogs {
    /// Logs under `siteDefaults/logFile@directory` (IIS's default
    /// `%SystemDrive%\inetpub\logs\LogFiles`).
    pub fn new(machine: &SimMachine, host: &ApplicationHost) -> W3cLogs {
        let dir = host
            .document()
            .root()
            .descendant("system.applicationHost/sites/siteDefaults/logFile")
            .and_then(|e| e.attr("directory"))
            .unwrap_or("%SystemDrive%\\inetpub\\logs\\LogFiles")
            .to_owned();
        let dir = machine
            .host_path(&dir)
            .unwrap_or_else(|_| machine.root().join("C/inetpub/logs/LogFiles"));
        W3cLogs {
            dir,
            files: Mutex::new(HashMap::new()),
        }
    }

    pub fn write(&self, site_id: u32, entry: &w3c::Entry) {
        let name = w3c::file_name(entry.time);
        let mut files = lock(&self.files);
        let fresh = files.get(&site_id).is_none_or(|(n, _)| *n != name);
        if fresh {
            let dir = self.dir.join(format!("W3SVC{site_id}"));
            let path = dir.join(&name);
            let opened = std::fs::create_dir_all(&dir).and_then(|()| {
                let new = !path.exists();
                let mut f = std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(&path)?;
                if new {
                    f.write_all(w3c::header(entry.time).as_bytes())?;
                }
                Ok(f)
            });
            match opened {
                Ok(f) => {
                    files.insert(site_id, (name, f));
                }
                Err(e) => {
                    tracing::warn!("cannot write the W3C log {}: {e}", path.display());
                    return;
                }
            }
        }
        if let Some((_, f)) = files.get_mut(&site_id) {
            let _ = f.write_all(entry.line().as_bytes());
        }
    }
}

/// Host paths of Windows paths, resolved once (each component is matched
/// case-insensitively against the disk, which costs a directory listing).
#[derive(Default)]
pub struct HostPaths {
    map: Mutex<HashMap<String, PathBuf>>,
}

impl HostPaths {
    pub fn get(&self, machine: &SimMachine, windows: &str) -> PathBuf {
        if let Some(p) = lock(&self.map).get(windows) {
            return p.clone();
        }
        let p = machine.host_path(windows).unwrap_or_default();
        let mut map = lock(&self.map);
        if map.len() > 10_000 {
            map.clear();
        }
        map.insert(windows.to_owned(), p.clone());
        p
    }
}

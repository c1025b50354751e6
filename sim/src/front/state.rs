//! The front's view of the machine: applicationHost.config (reloaded when it
//! changes), the configuration in effect per URL folder (cached, checked
//! against the files' modification times on every request), and the W3C
//! log files.

use crate::host::pool::stamp;
use std::borrow::Cow;
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

/// The cache key of `path`'s configuration: its last URL folder (as
/// [`url_folders`] gives it), lower case; borrowed in the common case.
fn folder_key(path: &str) -> Cow<'_, str> {
    let plain =
        path == "/" || (path.starts_with('/') && !path.ends_with('/') && !path.contains("//"));
    let last: Cow<'_, str> = if plain {
        path.into()
    } else {
        url_folders(path, true)
            .pop()
            .unwrap_or_else(|| "/".to_owned())
            .into()
    };
    if last
        .bytes()
        .any(|b| !b.is_ascii() || b.is_ascii_uppercase())
    {
        last.to_lowercase().into()
    } else {
        last
    }
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
    /// Per site, per URL folder (lower case).
    effective: Mutex<HashMap<u32, HashMap<String, Cached>>>,
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
        let key = folder_key(path);
        if let Some(c) = lock(&self.effective)
            .get_mut(&site.id)
            .and_then(|m| m.get_mut(&*key))
        {
            if c.apphost == ah.stamp
                && (c.checked.elapsed() < RECHECK || c.files.iter().all(|(p, s)| stamp(p) == *s))
            {
                if c.checked.elapsed() >= RECHECK {
                    c.checked = Instant::now();
                }
                return Arc::clone(&c.effective);
            }
        }
        let folders = url_folders(path, true);
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
        let cache = cache.entry(site.id).or_default();
        if cache.len() > 10_000 {
            cache.clear();
        }
        cache.insert(
            key.into_owned(),
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

/// How long a W3C log line may wait in memory before it is written (IIS
/// buffers its log too; tests wait for the lines they read).
pub const W3C_FLUSH_EVERY: Duration = Duration::from_millis(250);

/// Lines buffered past this many bytes are written at once.
const W3C_FLUSH_AT: usize = 64 * 1024;

struct SiteLog {
    day: i64,
    path: PathBuf,
    file: File,
    buf: Vec<u8>,
    clock: w3c::LineClock,
}

impl SiteLog {
    fn flush(&mut self) {
        if self.buf.is_empty() {
            return;
        }
        if let Err(e) = self.file.write_all(&self.buf) {
            tracing::warn!("cannot write the W3C log {}: {e}", self.path.display());
        }
        self.buf.clear();
    }
}

/// The W3C log files, one folder per site: `W3SVC<id>/u_exYYMMDD.log`,
/// written in batches ([`W3C_FLUSH_EVERY`], [`W3cLogs::flush`]).
pub struct W3cLogs {
    dir: PathBuf,
    files: Mutex<HashMap<u32, SiteLog>>,
}

impl W3cLogs {
    /// Logs under [`crate::status::logs::w3c_dir`].
    pub fn new(machine: &SimMachine, host: &ApplicationHost) -> W3cLogs {
        let dir = crate::status::logs::w3c_dir(machine, host);
        W3cLogs {
            dir,
            files: Mutex::new(HashMap::new()),
        }
    }

    fn open(&self, site_id: u32, time: SystemTime) -> Option<SiteLog> {
        let dir = self.dir.join(format!("W3SVC{site_id}"));
        let path = dir.join(w3c::file_name(time));
        let opened = std::fs::create_dir_all(&dir).and_then(|()| {
            let new = !path.exists();
            let mut f = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(&path)?;
            if new {
                f.write_all(w3c::header(time).as_bytes())?;
            }
            Ok(f)
        });
        match opened {
            Ok(file) => Some(SiteLog {
                day: w3c::day(time),
                path,
                file,
                buf: Vec::with_capacity(W3C_FLUSH_AT + 512),
                clock: w3c::LineClock::default(),
            }),
            Err(e) => {
                tracing::warn!("cannot write the W3C log {}: {e}", path.display());
                None
            }
        }
    }

    /// Adds the line of `entry` to its site's log (a new file each UTC day).
    pub fn write(&self, site_id: u32, entry: &w3c::Entry<'_>) {
        let mut files = lock(&self.files);
        let day = w3c::day(entry.time);
        if files.get(&site_id).is_none_or(|l| l.day != day) {
            if let Some(mut old) = files.remove(&site_id) {
                old.flush();
            }
            let Some(log) = self.open(site_id, entry.time) else {
                return;
            };
            files.insert(site_id, log);
        }
        if let Some(log) = files.get_mut(&site_id) {
            entry.write_line(&mut log.buf, &mut log.clock);
            if log.buf.len() >= W3C_FLUSH_AT {
                log.flush();
            }
        }
    }

    /// Writes every buffered line.
    pub fn flush(&self) {
        for log in lock(&self.files).values_mut() {
            log.flush();
        }
    }
}

/// Host paths of Windows paths, resolved once (each component is matched
/// case-insensitively against the disk, which costs a directory listing),
/// as text (`""` when the path cannot be mapped).
#[derive(Default)]
pub struct HostPaths {
    map: Mutex<HashMap<String, Arc<str>>>,
}

impl HostPaths {
    pub fn get(&self, machine: &SimMachine, windows: &str) -> Arc<str> {
        if let Some(p) = lock(&self.map).get(windows) {
            return Arc::clone(p);
        }
        let p: Arc<str> = machine
            .host_path(windows)
            .map(|p| p.display().to_string())
            .unwrap_or_default()
            .into();
        let mut map = lock(&self.map);
        if map.len() > 10_000 {
            map.clear();
        }
        map.insert(windows.to_owned(), Arc::clone(&p));
        p
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// The borrowed key is the last URL folder, lower case, for any path.
        #[test]
        fn folder_key_is_the_last_folder(path in "/?([a-zA-Z0-9é%. ]{0,4}/{0,2}){0,4}") {
            let slow = url_folders(&path, true).pop().unwrap_or_default().to_lowercase();
            prop_assert_eq!(folder_key(&path).into_owned(), slow);
        }
    }
}

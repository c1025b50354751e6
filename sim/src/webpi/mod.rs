//! `iiswsgi sim webpi`: the Web Platform Installer (`WebPICmd`) on the
//! simulated machine. Feeds from a path, `file://` or `http://` URL, cached
//! as `WebPI` caches them (the feed's bytes as a top-level `.xml` of
//! `%LOCALAPPDATA%\Microsoft\Web Platform Installer`, so `iiswsgi
//! clean-webpi --cache` finds them); products' dependencies checked against
//! the machine's inventory (`[machine] inventory` in sim.toml) and the feeds;
//! installers downloaded into `installers\<productId>\<SHA1>\` and checked;
//! Web Deploy packages installed through the msdeploy emulation, in process,
//! as `WebPI` uses the Web Deploy API. Logs at `WebPI`'s places:
//! `logs\webpi\webpi#.txt` (feeds) and `logs\install\<time>\<title>.txt`.

pub mod fetch;
pub mod install;
pub mod logs;
mod progress;

use std::path::PathBuf;

use iiswsgi_deploy::format::feed::Feed;
use sha1::Digest as _;

use crate::machine::{MachineError, SimMachine};
use crate::model::webpi_args::{self, Action, WebpiArgError};
use fetch::Location;

/// What can stop `WebPI`.
#[derive(Debug, thiserror::Error)]
pub enum WebpiError {
    #[error(transparent)]
    Args(#[from] WebpiArgError),
    #[error("{location}: {why}")]
    Location { location: String, why: String },
    #[error("cannot download {location}: {why}")]
    Download { location: String, why: String },
    #[error("the feed {feed} is malformed")]
    Feed {
        feed: String,
        source: Box<iiswsgi_deploy::format::FormatError>,
    },
    #[error("the product {id:?} is not in the feeds ({feeds})")]
    NoProduct { id: String, feeds: String },
    #[error("{product} needs {missing}, which the machine does not have and no feed offers; add it to [machine] inventory in {} if the machine has it, or add a feed that offers it", sim_toml.display())]
    MissingDependency {
        product: String,
        missing: String,
        sim_toml: PathBuf,
    },
    #[error("{product}: the dependency idref={idref:?} names no <dependency id> in the feeds")]
    UnknownDependencyRef { product: String, idref: String },
    #[error("{product} has no installer with an installerURL and a sha1 in the feed")]
    NoInstaller { product: String },
    #[error("SHA1 mismatch for {product}: the feed says {expected}, the downloaded file {} has {actual}; nothing was installed (rebuild the feed with `iiswsgi feed`, or clear the cache with `iiswsgi clean-webpi --cache`)", file.display())]
    Sha1Mismatch {
        product: String,
        expected: String,
        actual: String,
        file: PathBuf,
    },
    #[error("the cached copy {} of {url} has SHA1 {actual}, the feed says {expected}: WebPI's cache is stale and nothing was installed; delete {} (or run `iiswsgi clean-webpi --cache`) and install again", file.display(), file.parent().unwrap_or(file).display())]
    StaleCache {
        url: String,
        expected: String,
        actual: String,
        file: PathBuf,
    },
    #[error("cannot write {}", path.display())]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(transparent)]
    Machine(#[from] MachineError),
    #[error(transparent)]
    Config(#[from] iiswsgi_iisconfig::ConfigError),
    #[error("install of {title} failed: {message}")]
    Install { title: String, message: String },
}

/// A loaded feed and where it came from.
#[derive(Debug, Clone)]
pub struct LoadedFeed {
    pub location: Location,
    pub feed: Feed,
}

/// `WebPI`'s folder: `%LOCALAPPDATA%\Microsoft\Web Platform Installer` (host path).
pub fn cache_root(machine: &SimMachine) -> Result<PathBuf, MachineError> {
    let local = machine
        .var("LOCALAPPDATA")
        .unwrap_or_else(|| format!("C:\\Users\\{}\\AppData\\Local", machine.config.machine.user));
    machine.host_path(&format!("{local}\\Microsoft\\Web Platform Installer"))
}

pub use iiswsgi_deploy::package::hex;

fn write(path: &std::path::Path, data: &[u8]) -> Result<(), WebpiError> {
    let err = |source| WebpiError::Write {
        path: path.to_path_buf(),
        source,
    };
    if let Some(d) = path.parent() {
        std::fs::create_dir_all(d).map_err(err)?;
    }
    std::fs::write(path, data).map_err(err)
}

/// A log being written (kept in memory, written when done).
#[derive(Debug, Clone)]
pub struct Log {
    pub path: PathBuf,
    pub lines: Vec<String>,
}

impl Log {
    pub fn line(&mut self, s: &str) {
        self.lines.push(s.to_owned());
    }

    pub fn save(&self) -> Result<(), WebpiError> {
        let mut text = self.lines.join("\r\n");
        text.push_str("\r\n");
        write(&self.path, text.as_bytes())
    }
}

/// `logs\webpi\webpi#.txt`: the first number not taken.
fn webpi_log(cache: &std::path::Path) -> Log {
    let dir = cache.join("logs").join("webpi");
    let n = (0..10_000)
        .find(|n| !dir.join(format!("webpi{n}.txt")).exists())
        .unwrap_or(0);
    Log {
        path: dir.join(format!("webpi{n}.txt")),
        lines: Vec::new(),
    }
}

fn machine_path(machine: &SimMachine) -> impl Fn(&str) -> Option<PathBuf> + '_ {
    move |w: &str| machine.host_path(w).ok()
}

/// The name of a feed's cached copy: its file name and a hash of where it came from.
fn cache_name(label: &str) -> String {
    let digest = hex(&sha1::Sha1::digest(label.as_bytes()));
    let stem: String = label
        .rsplit(['/', '\\'])
        .next()
        .unwrap_or("feed")
        .trim_end_matches(".xml")
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "-_.".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect();
    format!("{stem}-{}.xml", &digest[..8])
}

/// Loads one feed (cached as `WebPI` caches it).
fn load_feed(
    machine: &SimMachine,
    loc: Location,
    cache: &std::path::Path,
    log: &mut Log,
) -> Result<LoadedFeed, WebpiError> {
    let label = fetch::display(&loc);
    log.line(&format!(
        "DownloadManager Information: 0 : Loading product xml from: {label}"
    ));
    let bytes = fetch::get(&loc, &machine_path(machine))?;
    let cached = cache.join(cache_name(&label));
    write(&cached, &bytes)?;
    log.line(&format!(
        "DownloadManager Information: 0 : Product xml cached at {}",
        cached.display()
    ));
    let text = String::from_utf8_lossy(&bytes);
    let feed = Feed::from_xml(
        std::path::Path::new(&label),
        text.trim_start_matches('\u{feff}'),
    )
    .map_err(|e| WebpiError::Feed {
        feed: label.clone(),
        source: Box::new(e),
    })?;
    log.line(&format!(
        "DownloadManager Information: 0 : Loaded {} products from {label}",
        feed.entries.len()
    ));
    Ok(LoadedFeed {
        location: loc,
        feed,
    })
}

/// Loads the feeds and the child feeds they include (`<link
/// rel="enclosure">`, as WebProductList.xml includes WebApplicationList.xml).
pub fn load_feeds(
    machine: &SimMachine,
    urls: &[String],
    cache: &std::path::Path,
    log: &mut Log,
) -> Result<Vec<LoadedFeed>, WebpiError> {
    let mut todo: Vec<Location> = Vec::new();
    for u in urls {
        todo.push(fetch::locate(u, None)?);
    }
    todo.reverse();
    let mut out: Vec<LoadedFeed> = Vec::new();
    while let Some(loc) = todo.pop() {
        if out.iter().any(|f| f.location == loc) {
            continue;
        }
        let loaded = load_feed(machine, loc, cache, log)?;
        for link in loaded.feed.links.iter().rev() {
            if link
                .rel
                .as_deref()
                .is_some_and(|r| r.eq_ignore_ascii_case("enclosure"))
            {
                todo.push(fetch::locate(&link.href, Some(&loaded.location))?);
            }
        }
        out.push(loaded);
    }
    Ok(out)
}

/// `list`: the products of the feeds, as `WebPICmd` lists them.
fn list(feeds: &[LoadedFeed], out: &mut dyn FnMut(&str)) {
    out("");
    out("The software that you can obtain is:");
    out(&format!("{:<40}{}", "ID", "Title"));
    for f in feeds {
        for e in &f.feed.entries {
            let title = e
                .title
                .as_ref()
                .map(|t| t.text.as_str())
                .unwrap_or(&e.product_id);
            out(&format!("{:<40}{}", e.product_id, title));
        }
    }
}

/// Runs `WebPI`'s command line; output lines go to `out`; the exit code. An
/// error is also written to `logs\webpi\webpi#.txt`, which is named after
/// it (an install that failed names its own log before).
pub fn run(machine: &SimMachine, args: &[String], out: &mut dyn FnMut(&str)) -> i32 {
    let mut log_path = None;
    match run_inner(machine, args, out, &mut log_path) {
        Ok(code) => code,
        Err(e) => {
            tracing::debug!(error = %e, "webpi failed");
            out(&format!("Error: {}", iiswsgi_iisconfig::error_chain(&e)));
            if let (Some(p), false) = (log_path, matches!(e, WebpiError::Install { .. })) {
                let shown = machine
                    .windows_path(&p)
                    .unwrap_or_else(|_| p.display().to_string());
                out(&format!("Log: {shown}"));
            }
            1
        }
    }
}

fn run_inner(
    machine: &SimMachine,
    args: &[String],
    out: &mut dyn FnMut(&str),
    log_path: &mut Option<PathBuf>,
) -> Result<i32, WebpiError> {
    let a = webpi_args::parse(args)?;
    let cache = cache_root(machine)?;
    let mut log = webpi_log(&cache);
    *log_path = Some(log.path.clone());
    let result = load_feeds(machine, &a.feeds, &cache, &mut log).and_then(|feeds| match a.action {
        Action::List => {
            list(&feeds, out);
            Ok(0)
        }
        Action::Install => install::install(machine, &a, &feeds, &cache, &mut log, out),
    });
    if let Err(e) = &result {
        log.line(&format!("DownloadManager Error: 0 : {e}"));
    }
    log.save()?;
    result
}

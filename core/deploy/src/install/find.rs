//! Finding the application on the target: `APPL_PHYSICAL_PATH` when set,
//! else every virtual directory of every site (through appcmd, newest site
//! and application first) that holds the stamp file, narrowed by
//! `--app-name`. Web Deploy's runCommand gets no `APPL_PHYSICAL_PATH` (the
//! reason iiswsgi 0.3 searched too).

use std::path::{Path, PathBuf};

use iiswsgi_iisconfig::{Document, Element};

use super::error::InstallError;
use super::platform::Platform;

/// The stamp file Web Deploy copies with the application.
pub const STAMP: &str = "iis_install.stamp";

/// Where the application is served from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Location {
    pub site: String,
    pub site_id: u32,
    /// The site's first binding (`protocol`, `IP:port:host`).
    pub binding: (String, String),
    /// The application path (`/`, `/app`).
    pub app_path: String,
    /// As IIS stores it (may hold `%VAR%`).
    pub physical_path: String,
}

/// The application found: its folder here, and where IIS serves it (unknown
/// when `APPL_PHYSICAL_PATH` names a folder no site serves).
#[derive(Debug, Clone)]
pub struct Found {
    pub dir: PathBuf,
    pub location: Option<Location>,
    pub warnings: Vec<String>,
}

/// PEP 503 normalisation: lower case, runs of `-_.` as one `-`.
pub fn normalize_name(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut sep = false;
    for c in name.chars() {
        if matches!(c, '-' | '_' | '.') {
            sep = true;
        } else {
            if sep && !out.is_empty() {
                out.push('-');
            }
            sep = false;
            out.push(c.to_ascii_lowercase());
        }
    }
    out
}

/// The `[project] name` in `dir/pyproject.toml`, if readable.
fn project_name(dir: &Path) -> Option<String> {
    let text = std::fs::read_to_string(dir.join("pyproject.toml")).ok()?;
    let value: toml::Table = toml::from_str(&text).ok()?;
    value
        .get("project")?
        .get("name")?
        .as_str()
        .map(str::to_owned)
}

/// Every (location) IIS serves, newest site and application first.
pub fn locations(platform: &Platform) -> Result<Vec<Location>, InstallError> {
    let args: Vec<String> = [
        "list",
        "config",
        "/section:system.applicationHost/sites",
        "/xml",
    ]
    .map(String::from)
    .to_vec();
    let out = platform.appcmd(&args)?;
    if !out.success() {
        return Err(InstallError::Appcmd {
            args: args.join(" "),
            code: out.code,
            output: out.stdout,
        });
    }
    let doc = Document::parse(Path::new("appcmd list config /xml"), &out.stdout)?;
    let sites: Vec<&Element> = doc
        .root()
        .descendant("CONFIG/system.applicationHost-sites")
        .into_iter()
        .flat_map(Element::elements)
        .filter(|e| e.name() == "site")
        .collect();
    let mut found = Vec::new();
    for s in sites.into_iter().rev() {
        let binding = s
            .child("bindings")
            .and_then(|b| b.elements().find(|e| e.name() == "binding"))
            .map(|b| {
                (
                    b.attr("protocol").unwrap_or("http").to_owned(),
                    b.attr("bindingInformation").unwrap_or("").to_owned(),
                )
            })
            .unwrap_or_default();
        for a in s
            .elements()
            .filter(|e| e.name() == "application")
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
        {
            if let Some(v) = a
                .elements()
                .find(|v| v.name() == "virtualDirectory" && v.attr("path") == Some("/"))
            {
                found.push(Location {
                    site: s.attr("name").unwrap_or("").to_owned(),
                    site_id: s.attr("id").and_then(|i| i.parse().ok()).unwrap_or(0),
                    binding: binding.clone(),
                    app_path: a.attr("path").unwrap_or("/").to_owned(),
                    physical_path: v.attr("physicalPath").unwrap_or("").to_owned(),
                });
            }
        }
    }
    Ok(found)
}

/// Finds the application to install.
pub fn find(
    platform: &Platform,
    app_name: Option<&str>,
    ignore_stamp: bool,
) -> Result<Found, InstallError> {
    let appl = iiswsgi_iisconfig::env_var("APPL_PHYSICAL_PATH")
        .or_else(|| platform.machine.var("APPL_PHYSICAL_PATH"))
        .filter(|v| !v.trim().is_empty());
    let all = if platform.iis.is_some() {
        locations(platform)?
    } else {
        Vec::new()
    };
    let here = |l: &Location| {
        platform
            .machine
            .host_path(&platform.machine.expand(&l.physical_path))
    };
    if let Some(p) = appl {
        let dir = platform.machine.host_path(&p);
        if !dir.is_dir() {
            return Err(InstallError::NoAppDir { path: p, host: dir });
        }
        let same = |a: &Path| a.canonicalize().ok() == dir.canonicalize().ok();
        let location = all.iter().find(|l| same(&here(l))).cloned();
        return Ok(Found {
            dir,
            location,
            warnings: Vec::new(),
        });
    }
    if platform.iis.is_none() {
        return Err(InstallError::NotFound {
            looked: vec!["(no IIS on this machine and APPL_PHYSICAL_PATH is not set: pass --app-dir or set APPL_PHYSICAL_PATH)".into()],
        });
    }
    let mut looked = Vec::new();
    let mut hits: Vec<(PathBuf, Location)> = Vec::new();
    for l in &all {
        let dir = here(l);
        let label = format!("{}{} -> {}", l.site, l.app_path, l.physical_path);
        if !dir.is_dir() {
            looked.push(format!("{label}: the folder does not exist"));
        } else if !ignore_stamp && !dir.join(STAMP).is_file() {
            looked.push(format!(
                "{label}: no {STAMP} (not a package just deployed; --ignore-stamp re-installs)"
            ));
        } else if let Some(want) = app_name {
            match project_name(&dir) {
                Some(n) if normalize_name(&n) == normalize_name(want) => {
                    hits.push((dir, l.clone()));
                }
                Some(n) => looked.push(format!(
                    "{label}: its pyproject.toml names {n:?}, not {want:?}"
                )),
                None => looked.push(format!(
                    "{label}: no readable pyproject.toml with a [project] name"
                )),
            }
        } else {
            hits.push((dir, l.clone()));
        }
    }
    let mut hits = hits.into_iter();
    let Some((dir, location)) = hits.next() else {
        return Err(InstallError::NotFound { looked });
    };
    let others: Vec<String> = hits
        .map(|(d, l)| format!("{}{} ({})", l.site, l.app_path, d.display()))
        .collect();
    let warnings = if others.is_empty() {
        Vec::new()
    } else {
        vec![format!(
            "several applications are waiting to be installed; installing the newest, {}{}; the others: {}",
            location.site,
            location.app_path,
            others.join(", ")
        )]
    };
    Ok(Found {
        dir,
        location: Some(location),
        warnings,
    })
}

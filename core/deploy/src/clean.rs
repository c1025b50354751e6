//! `iiswsgi clean-webpi`: forget what `WebPI` cached for these packages, so that
//! a rebuilt package and feed are fetched again: `installers\<app>` (the
//! downloaded zips) and the cached feed files whose `<id>` is this feed's.

use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::error::{read_text, DeployError};
use crate::feed::file_url;
use crate::package::{dist_dir, expand_template, MANIFEST, MANIFEST_IN};
use crate::project::Project;

#[derive(Debug, Clone, Serialize)]
pub struct Cleaned {
    pub cache: PathBuf,
    /// False when the cache folder does not exist (nothing to clean).
    pub cache_found: bool,
    pub removed: Vec<PathBuf>,
}

/// `%LOCALAPPDATA%\Microsoft\Web Platform Installer` on Windows.
pub fn default_cache() -> Option<PathBuf> {
    if cfg!(windows) {
        std::env::var_os("LOCALAPPDATA").map(|d| {
            PathBuf::from(d)
                .join("Microsoft")
                .join("Web Platform Installer")
        })
    } else {
        None
    }
}

/// The `<iisApp path>` of a project: from the built Manifest.xml, else the template.
fn app_name(project: &Project) -> Result<String, DeployError> {
    let built = project.dir.join(MANIFEST);
    if built.is_file() {
        return crate::manifest::iis_app_path(&built, &read_text(&built)?);
    }
    let tpl = project.dir.join(MANIFEST_IN);
    let e = expand_template(project, &tpl, &mut Vec::new())?;
    crate::manifest::iis_app_path(&tpl, &e.text)
}

/// The first `<id>` child of a feed file's root, if it parses. A feed with a
/// DOCTYPE is not read further: `Err` says where it is.
fn feed_id(path: &Path) -> Result<Option<String>, DeployError> {
    let Ok(text) = std::fs::read_to_string(path) else {
        return Ok(None);
    };
    match iiswsgi_iisconfig::Document::parse(path, &text) {
        Ok(doc) => Ok(doc.root().child("id").map(|e| e.text().trim().to_owned())),
        Err(e) if e.kind() == Some(iiswsgi_iisconfig::ErrorKind::Doctype) => Err(e.into()),
        Err(_) => Ok(None),
    }
}

pub fn clean_webpi(
    dir: &Path,
    packages: &[PathBuf],
    cache: Option<&Path>,
    dist: Option<&Path>,
    progress: &mut dyn FnMut(&str),
) -> Result<Cleaned, DeployError> {
    // %LOCALAPPDATA% and the like, for shells that do not expand them.
    let lookup = crate::expand::env_lookup();
    let cache =
        cache.map(|c| PathBuf::from(crate::expand::expand(&c.to_string_lossy(), &lookup).text));
    let Some(cache) = cache.or_else(default_cache) else {
        return Err(DeployError::Usage(
                "no WebPI cache location: pass --cache PATH (the default, %LOCALAPPDATA%\\Microsoft\\Web Platform Installer, exists only on Windows)".into(),
            ));
    };
    let main = Project::load(dir)?;
    let mut projects = vec![main.clone()];
    for p in packages {
        projects.push(Project::load(p)?);
    }
    if !cache.is_dir() {
        progress(&format!(
            "no WebPI cache at {}: nothing to clean",
            cache.display()
        ));
        return Ok(Cleaned {
            cache,
            cache_found: false,
            removed: Vec::new(),
        });
    }
    let mut removed = Vec::new();
    for p in &projects {
        let app = app_name(p)?;
        let installers = cache.join("installers").join(&app);
        if installers.is_dir() {
            progress(&format!("removing {}", installers.display()));
            std::fs::remove_dir_all(&installers).map_err(|e| DeployError::write(&installers, e))?;
            removed.push(installers);
        }
    }
    let feed_path = dist_dir(dir, dist).join(main.feed_file_name());
    let id = main.home_url().unwrap_or_else(|| file_url(&feed_path));
    let listing = std::fs::read_dir(&cache).map_err(|e| DeployError::read(&cache, e))?;
    let mut xmls: Vec<PathBuf> = listing
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.is_file() && p.extension().is_some_and(|x| x.eq_ignore_ascii_case("xml")))
        .collect();
    xmls.sort();
    for x in xmls {
        let ours = match feed_id(&x) {
            Ok(found) => found.as_deref() == Some(id.as_str()),
            Err(e) => {
                progress(&format!(
                    "warning: {}; left alone",
                    iiswsgi_iisconfig::error_chain(&e)
                ));
                false
            }
        };
        if ours {
            progress(&format!("removing cached feed {}", x.display()));
            std::fs::remove_file(&x).map_err(|e| DeployError::write(&x, e))?;
            removed.push(x);
        }
    }
    Ok(Cleaned {
        cache,
        cache_found: true,
        removed,
    })
}

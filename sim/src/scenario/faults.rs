//! The faults, injected into a copy of the project or into the machine
//! before (or between) the stages, as a user would meet them.

use std::path::{Path, PathBuf};

use iiswsgi_iisconfig::apphost::Binding;
use iiswsgi_iisconfig::ApplicationHost;

use super::model::Fault;
use super::ScenarioError;
use crate::machine::SimMachine;

/// Folders a project copy leaves out (build output, virtualenvs, caches).
const SKIPPED: [&str; 6] = ["dist", "build", ".venv", "__pycache__", ".git", ".tox"];

/// Copies the project into `dst` (without build output and virtualenvs).
pub fn copy_project(src: &Path, dst: &Path) -> Result<(), ScenarioError> {
    let write_err = |path: &Path, source| ScenarioError::Write {
        path: path.to_path_buf(),
        source,
    };
    std::fs::create_dir_all(dst).map_err(|e| write_err(dst, e))?;
    let entries = std::fs::read_dir(src).map_err(|source| ScenarioError::Read {
        path: src.to_path_buf(),
        source,
    })?;
    for entry in entries.flatten() {
        let name = entry.file_name();
        let n = name.to_string_lossy();
        if SKIPPED.contains(&n.as_ref()) || n.ends_with(".egg-info") {
            continue;
        }
        let from = entry.path();
        let to = dst.join(&name);
        if from.is_dir() {
            copy_project(&from, &to)?;
        } else if from.is_file() {
            std::fs::copy(&from, &to).map_err(|e| write_err(&to, e))?;
        }
    }
    Ok(())
}

/// The application's `MODULE:CALLABLE` from the project's web.config.in
/// (`-m iiswsgi serve MODULE:CALLABLE`).
fn app_spec(project: &Path) -> Result<(String, String), ScenarioError> {
    let path = project.join("web.config.in");
    let text = std::fs::read_to_string(&path).map_err(|source| ScenarioError::Read {
        path: path.clone(),
        source,
    })?;
    let spec = text
        .split("iiswsgi serve ")
        .nth(1)
        .and_then(|rest| rest.split(['"', '\'', ' ', '|']).next())
        .filter(|s| s.contains(':') && !s.starts_with("config:"))
        .ok_or_else(|| ScenarioError::Unsupported {
            what: format!(
                "{}: the fault needs an application given as MODULE:CALLABLE after `iiswsgi serve`",
                path.display()
            ),
        })?;
    let (m, c) = spec.split_once(':').unwrap_or((spec, "app"));
    Ok((m.to_owned(), c.to_owned()))
}

/// The file of a module in the project (`a.b` → `a/b.py` or `a/b/__init__.py`).
fn module_file(project: &Path, module: &str) -> Result<PathBuf, ScenarioError> {
    let rel: PathBuf = module.split('.').collect();
    let candidates = [
        project.join(&rel).with_extension("py"),
        project.join(&rel).join("__init__.py"),
    ];
    candidates
        .iter()
        .find(|p| p.is_file())
        .cloned()
        .ok_or_else(|| ScenarioError::Unsupported {
            what: format!(
                "the module {module} is not in {} (looked for {} and {})",
                project.display(),
                candidates[0].display(),
                candidates[1].display()
            ),
        })
}

fn append(path: &Path, text: &str, prepend: bool) -> Result<(), ScenarioError> {
    let old = std::fs::read_to_string(path).map_err(|source| ScenarioError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    let new = if prepend {
        format!("{text}{old}")
    } else {
        format!("{old}\n{text}")
    };
    std::fs::write(path, new).map_err(|source| ScenarioError::Write {
        path: path.to_path_buf(),
        source,
    })
}

/// The project faults: a dependency no index has, a module that fails to
/// import, an application that crashes or stalls on some paths. Each
/// change is reported through `out`.
pub fn inject_project(
    project: &Path,
    fault: &Fault,
    out: &mut dyn FnMut(&str),
) -> Result<(), ScenarioError> {
    if let Some(dep) = &fault.missing_dependency {
        add_dependency(project, dep)?;
        out(&format!(
            "[fault] pyproject.toml: {dep:?} added to [project] dependencies"
        ));
    }
    if fault.import_failure.is_none() && !fault.wraps_app() {
        return Ok(());
    }
    let (module, callable) = app_spec(project)?;
    let file = module_file(project, &module)?;
    if let Some(missing) = &fault.import_failure {
        append(
            &file,
            &format!("import {missing}  # injected: a module the application needs is missing\n"),
            true,
        )?;
        out(&format!(
            "[fault] {module} imports {missing}, which is not installed"
        ));
    }
    if fault.wraps_app() {
        let slow = fault.slow_request.unwrap_or(0);
        append(
            &file,
            &format!(
                r#"
# injected: crashes under /crash, stalls under /slow
import os as _scenario_os, time as _scenario_time
_scenario_inner = {callable}
def {callable}(environ, start_response):
    path = environ.get("PATH_INFO", "")
    if path.startswith("/crash"):
        _scenario_os._exit(3)
    if path.startswith("/slow"):
        _scenario_time.sleep({slow})
    return _scenario_inner(environ, start_response)
"#
            ),
            false,
        )?;
        if fault.crash_under_load {
            out(&format!(
                "[fault] {module}: os._exit(3) on every request under /crash"
            ));
        }
        if slow > 0 {
            out(&format!(
                "[fault] {module}: sleeps {slow} s on requests under /slow"
            ));
        }
    }
    Ok(())
}

fn add_dependency(project: &Path, dep: &str) -> Result<(), ScenarioError> {
    let path = project.join("pyproject.toml");
    let text = std::fs::read_to_string(&path).map_err(|source| ScenarioError::Read {
        path: path.clone(),
        source,
    })?;
    let mut doc: toml::Table = toml::from_str(&text).map_err(|e| ScenarioError::Toml {
        path: path.clone(),
        message: e.to_string(),
    })?;
    let deps = doc
        .get_mut("project")
        .and_then(toml::Value::as_table_mut)
        .map(|p| {
            p.entry("dependencies")
                .or_insert_with(|| toml::Value::Array(Vec::new()))
        })
        .and_then(toml::Value::as_array_mut)
        .ok_or_else(|| ScenarioError::Unsupported {
            what: format!("{}: no [project] dependencies list", path.display()),
        })?;
    deps.push(toml::Value::String(dep.to_owned()));
    let new = toml::to_string(&doc).map_err(|e| ScenarioError::Toml {
        path: path.clone(),
        message: e.to_string(),
    })?;
    std::fs::write(&path, new).map_err(|source| ScenarioError::Write { path, source })
}

/// IIS Express already has a site named `name` (another project's, in
/// `Documents\My Web Sites\name`, on port 8080).
pub fn add_colliding_site(
    machine: &SimMachine,
    name: &str,
    out: &mut dyn FnMut(&str),
) -> Result<(), ScenarioError> {
    let home = machine.var("IIS_SITES_HOME").unwrap_or_else(|| {
        format!(
            "{}\\Documents\\My Web Sites",
            machine.var("USERPROFILE").unwrap_or_default()
        )
    });
    let windows = machine.expand(&format!("{home}\\{name}"));
    let dir = machine.host_path(&windows)?;
    std::fs::create_dir_all(&dir).map_err(|source| ScenarioError::Write {
        path: dir.clone(),
        source,
    })?;
    let page = dir.join("index.html");
    std::fs::write(&page, "<html><body>another site</body></html>\n").map_err(|source| {
        ScenarioError::Write {
            path: page.clone(),
            source,
        }
    })?;
    let apphost = machine.apphost_path()?;
    ApplicationHost::edit(&apphost, |h| {
        let id = h.sites()?.iter().map(|s| s.id).max().unwrap_or(0) + 1;
        let binding = Binding {
            protocol: "http".into(),
            binding_information: ":8080:localhost".into(),
        };
        h.add_site(name, id, &binding, &windows)
    })?;
    out(&format!(
        "[fault] {}: a site named {name:?} exists ({windows})",
        apphost.display()
    ));
    Ok(())
}

/// Replaces every cached installer of `product` in `WebPI`'s cache by other
/// bytes (a download cut short, a package rebuilt under the same name).
pub fn stale_cache(
    machine: &SimMachine,
    product: &str,
    out: &mut dyn FnMut(&str),
) -> Result<usize, ScenarioError> {
    let dir = crate::webpi::cache_root(machine)?
        .join("installers")
        .join(product);
    let mut n = 0;
    for sha in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
        for file in std::fs::read_dir(sha.path())
            .into_iter()
            .flatten()
            .flatten()
        {
            let p = file.path();
            let mut bytes = std::fs::read(&p).map_err(|source| ScenarioError::Read {
                path: p.clone(),
                source,
            })?;
            bytes.truncate(bytes.len() / 2);
            std::fs::write(&p, &bytes).map_err(|source| ScenarioError::Write {
                path: p.clone(),
                source,
            })?;
            out(&format!(
                "[fault] WebPI's cached copy {} cut to {} bytes",
                p.display(),
                bytes.len()
            ));
            n += 1;
        }
    }
    if n == 0 {
        return Err(ScenarioError::Unsupported {
            what: format!("no cached installer of {product} under {}", dir.display()),
        });
    }
    Ok(n)
}

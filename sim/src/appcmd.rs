//! `iiswsgi sim appcmd`: the appcmd emulator on a simulated machine's files.
//! The model (`model::appcmd`) does the work; this layer finds, locks, reads
//! and writes applicationHost.config (or a web.config), and keeps backups in
//! `inetsrv\backup\NAME\` as IIS does.

use std::path::{Path, PathBuf};

use iiswsgi_iisconfig::io::{write_atomic, FileLock};
use iiswsgi_iisconfig::{ApplicationHost, ConfigError, WebConfig};

use crate::machine::SimMachine;
use crate::model::appcmd::config::{self as cfg, Target};
use crate::model::appcmd::render::xml_document;
use crate::model::appcmd::{self, code, AppcmdError, Invocation, Object, Outcome, Verb};

fn fail(e: &AppcmdError) -> Outcome {
    Outcome {
        code: e.code,
        stdout: e.render(),
        changed: false,
    }
}

/// appcmd's rendering of a configuration file it cannot read.
fn config_error(windows_file: &str, e: &ConfigError) -> AppcmdError {
    let line = e.line().unwrap_or(0);
    let why = match e {
        ConfigError::At { message, .. } | ConfigError::File { message, .. } => message.clone(),
        other => other.to_string(),
    };
    AppcmdError::new(
        code::INVALID_DATA,
        format!("Configuration error \nFilename: \\\\?\\{windows_file}\nLine Number: {line}\nDescription: {why}\n. "),
    )
}

/// The applicationHost.config to use: `/apphostconfig:FILE` or the machine's.
fn apphost_file(machine: &SimMachine, inv: &Invocation) -> Result<(PathBuf, String), AppcmdError> {
    let windows = inv
        .get("apphostconfig")
        .map_or_else(|| machine.config.machine.apphost.clone(), str::to_owned);
    let host = if Path::new(&windows).is_absolute() && Path::new(&windows).exists() {
        PathBuf::from(&windows)
    } else {
        machine
            .host_path(&windows)
            .map_err(|e| AppcmdError::new(code::INVALID_PARAMETER, e.to_string()))?
    };
    Ok((host, windows))
}

/// Runs appcmd with `args` on `machine`.
pub fn run(machine: &SimMachine, args: &[String]) -> Outcome {
    let inv = match appcmd::parse(args) {
        Ok(inv) => inv,
        Err(e) => return fail(&e),
    };
    let (file, windows) = match apphost_file(machine, &inv) {
        Ok(x) => x,
        Err(e) => return fail(&e),
    };
    let result = if inv.object == Object::Backup {
        backup(&file, &inv)
    } else {
        edit(machine, &file, &windows, &inv)
    };
    result.unwrap_or_else(|e| fail(&e))
}

fn edit(
    machine: &SimMachine,
    file: &Path,
    windows: &str,
    inv: &Invocation,
) -> Result<Outcome, AppcmdError> {
    let write_err = |e: ConfigError| AppcmdError::new(code::INVALID_DATA, e.to_string());
    let _lock = if inv.verb == Verb::List {
        None
    } else {
        Some(FileLock::acquire(file).map_err(write_err)?)
    };
    let mut host = ApplicationHost::load(file).map_err(|e| config_error(windows, &e))?;
    if inv.object == Object::Config && inv.verb == Verb::Set {
        if let Target::WebConfig { path } = cfg::target(inv) {
            return set_web_config(machine, &host, &path, inv);
        }
    }
    let out = appcmd::run(inv, &mut host);
    if out.changed && out.code == 0 {
        write_atomic(file, &host.write()).map_err(write_err)?;
    }
    Ok(out)
}

/// `set config PATH` without `/commit:apphost`: the web.config of that path.
fn set_web_config(
    machine: &SimMachine,
    host: &ApplicationHost,
    path: &str,
    inv: &Invocation,
) -> Result<Outcome, AppcmdError> {
    let decl = cfg::section(inv, host)?;
    if decl.allow_definition.eq_ignore_ascii_case("AppHostOnly") {
        return Err(AppcmdError::new(
            code::INVALID_DATA,
            format!("This configuration section cannot be used at this path: \"{}\" is declared allowDefinition=\"AppHostOnly\"; add /commit:apphost", decl.path),
        ));
    }
    let dir = physical_dir(machine, host, path)?;
    let file = iiswsgi_iisconfig::find_web_config(&dir).unwrap_or_else(|| dir.join("web.config"));
    let mut wc = if file.exists() {
        WebConfig::load(&file).map_err(|e| AppcmdError::new(code::INVALID_DATA, e.to_string()))?
    } else {
        WebConfig::new(&file)
    };
    let mut doc = wc.document().clone();
    cfg::apply_set(doc.root_mut(), &decl, None, inv)?;
    wc = WebConfig::parse(&file, &doc.write())
        .map_err(|e| AppcmdError::new(code::INVALID_DATA, e.to_string()))?;
    wc.save()
        .map_err(|e| AppcmdError::new(code::INVALID_DATA, e.to_string()))?;
    let commit = format!("{}/{}", cfg::APPHOST_PATH, path);
    Ok(Outcome {
        code: 0,
        stdout: cfg::applied(&decl, inv, &commit),
        changed: true,
    })
}

/// The host folder of configuration path `Site/app/sub`: the longest
/// application prefix, its root virtual directory, then the rest.
pub fn physical_dir(
    machine: &SimMachine,
    host: &ApplicationHost,
    path: &str,
) -> Result<PathBuf, AppcmdError> {
    let (site_name, rest) = path.split_once('/').unwrap_or((path, ""));
    let rest = format!("/{rest}");
    let sites = host
        .sites()
        .map_err(|e| AppcmdError::new(code::INVALID_DATA, e.to_string()))?;
    let site = sites
        .iter()
        .find(|s| s.name.eq_ignore_ascii_case(site_name))
        .ok_or_else(|| AppcmdError::not_found("SITE", site_name))?;
    let app = site
        .applications
        .iter()
        .filter(|a| {
            let p = a.path.trim_end_matches('/').to_ascii_lowercase();
            let r = rest.to_ascii_lowercase();
            p.is_empty() || r == p || r.starts_with(&format!("{p}/"))
        })
        .max_by_key(|a| a.path.len())
        .ok_or_else(|| AppcmdError::not_found("APP", path))?;
    let vdir = app
        .virtual_directories
        .iter()
        .find(|v| v.path == "/")
        .ok_or_else(|| AppcmdError::not_found("VDIR", path))?;
    let sub = rest[app.path.trim_end_matches('/').len()..]
        .trim_matches('/')
        .replace('/', "\\");
    let windows = if sub.is_empty() {
        vdir.physical_path.clone()
    } else {
        format!("{}\\{sub}", vdir.physical_path)
    };
    machine
        .host_path(&windows)
        .map_err(|e| AppcmdError::new(code::INVALID_PARAMETER, e.to_string()))
}

fn backup_dir(file: &Path) -> PathBuf {
    file.parent()
        .and_then(Path::parent)
        .map_or_else(|| PathBuf::from("backup"), |p| p.join("backup"))
}

fn backup(file: &Path, inv: &Invocation) -> Result<Outcome, AppcmdError> {
    let dir = backup_dir(file);
    let io =
        |e: std::io::Error| AppcmdError::new(code::INVALID_DATA, format!("{}: {e}", dir.display()));
    let ok = |stdout: String| {
        Ok(Outcome {
            code: 0,
            stdout,
            changed: false,
        })
    };
    let name = inv
        .id
        .clone()
        .or_else(|| inv.get("name").map(str::to_owned));
    let file_name = file.file_name().map_or_else(
        || "applicationHost.config".into(),
        std::borrow::ToOwned::to_owned,
    );
    match (inv.verb, name) {
        (Verb::List, id) => {
            let mut names: Vec<String> = std::fs::read_dir(&dir)
                .map(|d| {
                    d.flatten()
                        .filter(|e| e.path().is_dir())
                        .map(|e| e.file_name().to_string_lossy().into_owned())
                        .collect()
                })
                .unwrap_or_default();
            names.sort();
            if let Some(id) = id {
                names.retain(|n| n.eq_ignore_ascii_case(&id));
                if names.is_empty() {
                    return Err(AppcmdError::not_found("BACKUP", &id));
                }
            }
            if names.is_empty() {
                return Ok(Outcome {
                    code: code::NOTHING_FOUND,
                    stdout: String::new(),
                    changed: false,
                });
            }
            if inv.has("xml") {
                return ok(xml_document(
                    &names
                        .iter()
                        .map(|n| format!("    <BACKUP BACKUP.NAME=\"{n}\" />\n"))
                        .collect::<String>(),
                ));
            }
            ok(names.iter().map(|n| format!("BACKUP \"{n}\"\n")).collect())
        }
        (_, None) => Err(AppcmdError::new(
            code::INVALID_PARAMETER,
            "Must specify the BACKUP object identifier.",
        )),
        (Verb::Add, Some(n)) => {
            let target = dir.join(&n);
            if target.exists() {
                return Err(AppcmdError::new(
                    code::ALREADY_EXISTS,
                    format!("Failed to add duplicate collection element \"{n}\"."),
                ));
            }
            std::fs::create_dir_all(&target).map_err(io)?;
            std::fs::copy(file, target.join(&file_name)).map_err(io)?;
            ok(format!("BACKUP object \"{n}\" added\n"))
        }
        (Verb::Restore, Some(n)) => {
            let src = dir.join(&n).join(&file_name);
            if !src.is_file() {
                return Err(AppcmdError::not_found("BACKUP", &n));
            }
            let _lock = FileLock::acquire(file)
                .map_err(|e| AppcmdError::new(code::INVALID_DATA, e.to_string()))?;
            let text = std::fs::read_to_string(&src).map_err(io)?;
            write_atomic(file, &text)
                .map_err(|e| AppcmdError::new(code::INVALID_DATA, e.to_string()))?;
            ok(format!("Restored configuration from backup \"{n}\"\n"))
        }
        (Verb::Delete, Some(n)) => {
            let target = dir.join(&n);
            if !target.is_dir() {
                return Err(AppcmdError::not_found("BACKUP", &n));
            }
            std::fs::remove_dir_all(&target).map_err(io)?;
            ok(format!("BACKUP object \"{n}\" deleted\n"))
        }
        (Verb::Set, Some(_)) => Err(AppcmdError::new(
            code::INVALID_PARAMETER,
            "The verb SET is not supported by BACKUP objects.",
        )),
    }
}

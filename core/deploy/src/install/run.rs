//! `iiswsgi install` and `iiswsgi uninstall`: the steps in order, each
//! reported; the stamp consumed only when everything worked, so the same
//! runCommand can simply be run again after a failure.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use serde::Serialize;

use super::error::InstallError;
use super::find::{self, Location, STAMP};
use super::platform::Platform;
use super::report::Reporter;
use super::steps;

/// What `iiswsgi install` was asked to do.
#[derive(Debug, Clone, Default)]
pub struct InstallOptions {
    /// `--app-dir`: skip the search.
    pub app_dir: Option<PathBuf>,
    pub app_name: Option<String>,
    /// The virtualenv (default: `.venv` in the application folder).
    pub venv: Option<PathBuf>,
    pub ignore_stamp: bool,
    pub smoke_url: Option<String>,
    pub no_smoke_test: bool,
    /// The Python that creates the virtualenv (the one running iiswsgi).
    pub python: PathBuf,
}

/// The result, as `--json` prints it.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Installed {
    pub backend: String,
    pub app_dir: PathBuf,
    pub site: Option<String>,
    pub app_path: Option<String>,
    pub venv: PathBuf,
    pub venv_reused: bool,
    pub web_config: PathBuf,
    pub registered: Vec<String>,
    pub smoke_status: Option<u16>,
    /// Steps skipped (no IIS, `--no-smoke-test`).
    pub skipped: Vec<String>,
    pub warnings: Vec<String>,
    pub log: PathBuf,
}

impl Installed {
    /// Whether steps that need IIS were skipped for want of one.
    pub fn without_iis(&self) -> bool {
        self.skipped.iter().any(|s| s.contains("no IIS"))
    }
}

fn locate(
    platform: &Platform,
    opts: &InstallOptions,
    r: &mut Reporter,
) -> Result<(PathBuf, Option<Location>), InstallError> {
    if let Some(dir) = &opts.app_dir {
        if !dir.is_dir() {
            return Err(InstallError::NoAppDir {
                path: dir.display().to_string(),
                host: dir.clone(),
            });
        }
        let location = if platform.iis.is_some() {
            let canon = dir.canonicalize().ok();
            find::locations(platform)?.into_iter().find(|l| {
                platform
                    .machine
                    .host_path(&platform.machine.expand(&l.physical_path))
                    .canonicalize()
                    .ok()
                    == canon
            })
        } else {
            None
        };
        return Ok((dir.clone(), location));
    }
    let found = find::find(platform, opts.app_name.as_deref(), opts.ignore_stamp)?;
    for w in &found.warnings {
        r.warn(w);
    }
    Ok((found.dir, found.location))
}

/// Installs the application; `r` gets the progress.
pub fn install(
    platform: &Platform,
    opts: &InstallOptions,
    r: &mut Reporter,
) -> Result<Installed, InstallError> {
    let mut out = Installed {
        backend: platform.name.to_owned(),
        ..Installed::default()
    };
    let (dir, location) = locate(platform, opts, r)?;
    r.open_log(&dir.join("iiswsgi-install.log"));
    r.progress(&format!(
        "installing the application in {} (IIS backend: {})",
        dir.display(),
        platform.name
    ));
    if let Some(l) = &location {
        r.progress(&format!(
            "IIS serves it as {}{} on {}/{}",
            l.site, l.app_path, l.binding.0, l.binding.1
        ));
        out.site = Some(l.site.clone());
        out.app_path = Some(l.app_path.clone());
    }
    if !opts.ignore_stamp
        && opts.app_dir.is_none()
        && !dir.join(STAMP).is_file()
        && location.is_some()
    {
        r.warn(&format!(
            "no {STAMP} in {}: installing anyway (APPL_PHYSICAL_PATH names it)",
            dir.display()
        ));
    }
    let project = crate::project::Project::load(&dir)?;
    let venv = opts.venv.clone().map_or_else(
        || dir.join(".venv"),
        |v| if v.is_absolute() { v } else { dir.join(v) },
    );
    out.venv_reused = steps::ensure_venv(platform, r, &opts.python, &venv)?;
    steps::install_dependencies(platform, r, &venv, &dir)?;
    steps::hooks(
        platform,
        r,
        "before",
        &project.tool.install.before,
        &venv,
        &dir,
    )?;
    let apps = steps::write_web_config(platform, r, &dir, &venv, &project.name)?;
    out.web_config = dir.join("web.config");
    if platform.iis.is_some() {
        steps::register(platform, r, &apps)?;
        out.registered = apps
            .iter()
            .map(iiswsgi_iisconfig::FastCgiApplication::script_processor)
            .collect();
    } else {
        r.warn("no IIS on this machine: the FastCGI registration is skipped");
        out.skipped.push("FastCGI registration (no IIS)".into());
    }
    steps::hooks(
        platform,
        r,
        "after",
        &project.tool.install.after,
        &venv,
        &dir,
    )?;
    smoke_step(platform, opts, r, &dir, location.as_ref(), &apps, &mut out)?;
    if dir.join(STAMP).is_file() {
        std::fs::remove_file(dir.join(STAMP)).map_err(|source| InstallError::Write {
            path: dir.join(STAMP),
            source,
        })?;
        r.detail(&format!("removed {STAMP}: the install is complete"));
    }
    out.app_dir = dir;
    out.venv = venv;
    out.log = r.log_path().to_path_buf();
    r.progress("installed");
    Ok(out)
}

/// The smoke test, unless `--no-smoke-test`: one request through the first
/// `FastCGI` application; anything but 2xx/3xx is an error with what to read.
fn smoke_step(
    platform: &Platform,
    opts: &InstallOptions,
    r: &mut Reporter,
    dir: &Path,
    location: Option<&Location>,
    apps: &[iiswsgi_iisconfig::FastCgiApplication],
    out: &mut Installed,
) -> Result<(), InstallError> {
    if opts.no_smoke_test {
        out.skipped.push("smoke test (--no-smoke-test)".into());
    } else if let Some(app) = apps.first() {
        let location = location.cloned().unwrap_or_else(|| Location {
            site: String::new(),
            site_id: 1,
            binding: ("http".into(), "*:80:".into()),
            app_path: "/".into(),
            physical_path: platform.machine.windows_path(dir),
        });
        let url = opts.smoke_url.clone().unwrap_or_else(|| "/".into());
        r.progress(&format!(
            "smoke test: GET {url} through {}",
            app.script_processor()
        ));
        let (target, resp) = steps::smoke(platform, &location, app, &url)?;
        out.smoke_status = Some(resp.status);
        if !(200..400).contains(&resp.status) {
            let log = gateway_log(platform, dir);
            return Err(smoke_failure(&target.url_path, &resp, log.as_deref()));
        }
        r.progress(&format!(
            "smoke test: {} answered {}",
            target.url_path, resp.status
        ));
    }
    Ok(())
}

/// Where the gateway logs: `WSGI_LOG` of the application's web.config, else
/// `%TEMP%\\iiswsgi.log` (the default without `IIS_USER_HOME`).
fn gateway_log(platform: &Platform, dir: &Path) -> Option<PathBuf> {
    let from_config = iiswsgi_iisconfig::find_web_config(dir)
        .and_then(|p| iiswsgi_iisconfig::WebConfig::load(&p).ok())
        .and_then(|w| w.app_settings().ok())
        .and_then(|s| {
            s.into_iter()
                .find(|(k, _)| k.eq_ignore_ascii_case("WSGI_LOG"))
        })
        .map(|(_, v)| platform.machine.host_path(&platform.machine.expand(&v)));
    from_config
        .or_else(|| {
            platform
                .machine
                .var("TEMP")
                .map(|t| platform.machine.host_path(&t).join("iiswsgi.log"))
        })
        .filter(|p| p.is_file())
}

fn smoke_failure(
    url: &str,
    resp: &super::platform::SmokeResponse,
    log: Option<&Path>,
) -> InstallError {
    let body = String::from_utf8_lossy(&resp.body);
    let first: Vec<&str> = body.lines().take(10).collect();
    let stderr = String::from_utf8_lossy(&resp.stderr);
    let tail: Vec<&str> = stderr
        .lines()
        .rev()
        .take(20)
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .collect();
    let mut detail = String::new();
    if !first.is_empty() {
        let _ = write!(detail, "; the body begins:\n    {}", first.join("\n    "));
    }
    if !tail.is_empty() {
        let _ = write!(
            detail,
            "\n  the gateway reported (FCGI_STDERR):\n    {}",
            tail.join("\n    ")
        );
    }
    if let Some(log) = log {
        let text = std::fs::read_to_string(log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        let tail = lines[lines.len().saturating_sub(20)..].join("\n    ");
        let _ = write!(
            detail,
            "\n  the gateway's log {} ends with:\n    {tail}",
            log.display()
        );
    }
    InstallError::Smoke {
        url: url.to_owned(),
        status: resp.status,
        detail,
    }
}

/// Removes this application's `FastCGI` registrations (those its web.config declares).
pub fn uninstall(
    platform: &Platform,
    dir: &Path,
    r: &mut Reporter,
) -> Result<Vec<String>, InstallError> {
    let target = iiswsgi_iisconfig::find_web_config(dir).unwrap_or_else(|| dir.join("web.config"));
    let wc = iiswsgi_iisconfig::WebConfig::load(&target)?;
    let apps = wc.fastcgi_applications()?;
    if platform.iis.is_none() {
        r.warn("no IIS on this machine: nothing to unregister");
        return Ok(Vec::new());
    }
    steps::unregister(platform, r, &apps)?;
    Ok(apps
        .iter()
        .map(iiswsgi_iisconfig::FastCgiApplication::script_processor)
        .collect())
}

//! The installer's steps: the virtualenv and dependencies, web.config from
//! its template, the `FastCGI` registration, hooks, and the smoke test.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use iiswsgi_iisconfig::dom::escape_attr;
use iiswsgi_iisconfig::{Document, Element, FastCgiApplication, WebConfig, Wording};

use super::error::InstallError;
use super::find::Location;
use super::platform::{CommandSpec, Platform, SmokeResponse, SmokeTarget};
use super::report::Reporter;

/// The virtualenv's Python.
pub fn venv_python(venv: &Path) -> PathBuf {
    if cfg!(windows) {
        venv.join("Scripts").join("python.exe")
    } else {
        venv.join("bin").join("python")
    }
}

/// Runs a command through the platform, its output to the log (and to the
/// progress stream when `show` says so); a non-zero exit is an error naming `step`.
pub fn run_step(
    platform: &Platform,
    r: &mut Reporter,
    step: &str,
    cmd: &CommandSpec,
    show: &dyn Fn(&str) -> bool,
) -> Result<(), InstallError> {
    r.detail(&format!("$ {}", cmd.display()));
    let code = platform.runner.run(cmd, &mut |l| {
        if show(l) {
            r.progress(&format!("  {}", l.trim_end()));
        } else {
            r.detail(&format!("  {}", l.trim_end()));
        }
    })?;
    if code != 0 {
        return Err(InstallError::Command {
            step: step.to_owned(),
            command: cmd.display(),
            code,
            log: r.log_path().to_path_buf(),
        });
    }
    Ok(())
}

/// Creates the virtualenv with `python` unless a working one is there;
/// returns whether it was reused.
pub fn ensure_venv(
    platform: &Platform,
    r: &mut Reporter,
    python: &Path,
    venv: &Path,
) -> Result<bool, InstallError> {
    let vpy = venv_python(venv);
    if vpy.is_file() {
        let probe = CommandSpec::new(&vpy).arg("-c").arg("import sys, pip");
        if platform
            .runner
            .run(&probe, &mut |_| {})
            .is_ok_and(|c| c == 0)
        {
            r.progress(&format!("reusing the virtualenv {}", venv.display()));
            return Ok(true);
        }
        r.progress(&format!(
            "the virtualenv {} does not work: creating it again",
            venv.display()
        ));
    } else {
        r.progress(&format!(
            "creating the virtualenv {} with {}",
            venv.display(),
            python.display()
        ));
    }
    let cmd = CommandSpec::new(python)
        .arg("-m")
        .arg("venv")
        .arg("--clear")
        .arg(venv.as_os_str());
    run_step(platform, r, "creating the virtualenv", &cmd, &|_| false)?;
    Ok(false)
}

/// pip-installs the project and iiswsgi into the virtualenv; from the
/// package's `wheels/` folder alone when it has one (offline targets).
pub fn install_dependencies(
    platform: &Platform,
    r: &mut Reporter,
    venv: &Path,
    app_dir: &Path,
) -> Result<(), InstallError> {
    let mut cmd = CommandSpec::new(venv_python(venv))
        .arg("-m")
        .arg("pip")
        .arg("install")
        .arg("--disable-pip-version-check")
        .arg("--upgrade");
    let wheels = app_dir.join("wheels");
    if wheels.is_dir() {
        r.progress(&format!(
            "installing the dependencies offline from {}",
            wheels.display()
        ));
        cmd = cmd
            .arg("--no-index")
            .arg("--find-links")
            .arg(wheels.as_os_str());
    } else {
        r.progress("installing the dependencies with pip (the package has no wheels/ folder)");
    }
    cmd = cmd
        .arg(app_dir.as_os_str())
        .arg(format!("iiswsgi=={}", env!("CARGO_PKG_VERSION")));
    cmd.cwd = Some(app_dir.to_path_buf());
    let show = |l: &str| {
        let l = l.trim_start();
        l.starts_with("Collecting")
            || l.starts_with("Successfully")
            || l.starts_with("ERROR")
            || l.starts_with("Installing collected")
    };
    run_step(platform, r, "installing the dependencies", &cmd, &show)
}

/// The variables `web.config.in` is expanded with: the machine's
/// environment, then `APPL_PHYSICAL_PATH`, `DIST_NAME` and `IISWSGI_VENV`
/// (Windows paths), each XML-escaped as it lands in an attribute.
pub fn write_web_config(
    platform: &Platform,
    r: &mut Reporter,
    app_dir: &Path,
    venv: &Path,
    dist_name: &str,
) -> Result<Vec<FastCgiApplication>, InstallError> {
    let template = app_dir.join(crate::package::WEB_CONFIG_IN);
    let target =
        iiswsgi_iisconfig::find_web_config(app_dir).unwrap_or_else(|| app_dir.join("web.config"));
    if !template.is_file() {
        r.progress(&format!(
            "no {}: using {} as it is",
            crate::package::WEB_CONFIG_IN,
            target.display()
        ));
        let wc = WebConfig::load(&target)?;
        return Ok(wc.validate_handlers()?);
    }
    let text = crate::error::read_text(&template)?;
    let own: Vec<(String, String)> = vec![
        (
            "APPL_PHYSICAL_PATH".into(),
            platform
                .machine
                .windows_path(app_dir)
                .trim_end_matches(['\\', '/'])
                .to_owned(),
        ),
        ("DIST_NAME".into(), dist_name.to_owned()),
        ("IISWSGI_VENV".into(), platform.machine.windows_path(venv)),
    ];
    let machine = platform.machine.clone();
    let lookup = move |name: &str| -> Option<String> {
        own.iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.clone())
            .or_else(|| machine.var(name))
            .map(|v| escape_attr(&v))
    };
    let expanded = crate::expand::expand(&text, &lookup);
    let wc = WebConfig::parse_with(&target, &expanded.text, Wording::AFTER_EXPANSION)?;
    let apps = wc.validate_handlers()?;
    if target.is_file() {
        let old = std::fs::read_to_string(&target).unwrap_or_default();
        if old != expanded.text {
            let bak = target.with_file_name("web.config.bak");
            std::fs::rename(&target, &bak).map_err(|source| InstallError::Write {
                path: bak.clone(),
                source,
            })?;
            r.progress(&format!(
                "kept the previous web.config as {}",
                bak.display()
            ));
        }
    }
    crate::package::write_atomic(&target, expanded.text.as_bytes())?;
    r.progress(&format!(
        "wrote {} ({} FastCGI application(s))",
        target.display(),
        apps.len()
    ));
    Ok(apps)
}

#[allow(
    clippy::needless_pass_by_value,
    reason = "callers build the argument list for this call"
)]
fn appcmd(
    platform: &Platform,
    r: &mut Reporter,
    args: Vec<String>,
) -> Result<String, InstallError> {
    r.detail(&format!("$ appcmd {}", args.join(" ")));
    let out = platform.appcmd(&args)?;
    r.detail(out.stdout.trim_end());
    if !out.success() {
        return Err(InstallError::Appcmd {
            args: args.join(" "),
            code: out.code,
            output: out.stdout,
        });
    }
    Ok(out.stdout)
}

/// The `FastCGI` applications registered in applicationHost.config.
pub fn registered(
    platform: &Platform,
    r: &mut Reporter,
) -> Result<Vec<FastCgiApplication>, InstallError> {
    let xml = appcmd(
        platform,
        r,
        [
            "list",
            "config",
            "-section:system.webServer/fastCgi",
            "/xml",
        ]
        .map(String::from)
        .to_vec(),
    )?;
    let file = Path::new("appcmd list config -section:system.webServer/fastCgi /xml");
    let doc = Document::parse(file, &xml)?;
    doc.root()
        .descendant("CONFIG/system.webServer-fastCgi")
        .into_iter()
        .flat_map(Element::elements)
        .filter(|e| e.name() == "application")
        .map(|e| Ok(FastCgiApplication::from_element(file, e)?))
        .collect()
}

/// `appcmd set config -section:system.webServer/fastCgi EXPR /commit:apphost`.
fn fastcgi_edit(
    platform: &Platform,
    r: &mut Reporter,
    expr: String,
) -> Result<String, InstallError> {
    appcmd(
        platform,
        r,
        vec![
            "set".into(),
            "config".into(),
            "-section:system.webServer/fastCgi".into(),
            expr,
            "/commit:apphost".into(),
        ],
    )
}

fn key(app: &FastCgiApplication) -> String {
    format!("fullPath='{}',arguments='{}'", app.full_path, app.arguments)
}

fn remove(
    platform: &Platform,
    r: &mut Reporter,
    app: &FastCgiApplication,
) -> Result<(), InstallError> {
    fastcgi_edit(platform, r, format!("/-[{}]", key(app)))?;
    Ok(())
}

/// Registers each application (an existing one with the same key, in any
/// letter case, is replaced), with its environment variables.
pub fn register(
    platform: &Platform,
    r: &mut Reporter,
    apps: &[FastCgiApplication],
) -> Result<(), InstallError> {
    let existing = registered(platform, r)?;
    for app in apps {
        if let Some(old) = existing
            .iter()
            .find(|e| e.has_key(&app.full_path, &app.arguments))
        {
            r.progress(&format!(
                "replacing the registration of {}",
                old.script_processor()
            ));
            remove(platform, r, old)?;
        }
        let el = app.to_element();
        let attrs: Vec<String> = el
            .attrs()
            .iter()
            .map(|(k, v)| format!("{k}='{v}'"))
            .collect();
        fastcgi_edit(platform, r, format!("/+[{}]", attrs.join(",")))?;
        for (name, value) in &app.environment_variables {
            fastcgi_edit(
                platform,
                r,
                format!(
                    "/+[{}].environmentVariables.[name='{name}',value='{value}']",
                    key(app)
                ),
            )?;
        }
        r.progress(&format!(
            "registered the FastCGI application {}",
            app.script_processor()
        ));
    }
    Ok(())
}

/// Removes the registrations of `apps` that exist; returns how many.
pub fn unregister(
    platform: &Platform,
    r: &mut Reporter,
    apps: &[FastCgiApplication],
) -> Result<usize, InstallError> {
    let existing = registered(platform, r)?;
    let mut n = 0;
    for app in apps {
        if let Some(old) = existing
            .iter()
            .find(|e| e.has_key(&app.full_path, &app.arguments))
        {
            remove(platform, r, old)?;
            r.progress(&format!(
                "removed the registration of {}",
                old.script_processor()
            ));
            n += 1;
        }
    }
    Ok(n)
}

/// Runs the `[tool.iiswsgi.install]` commands of `phase` in the virtualenv.
pub fn hooks(
    platform: &Platform,
    r: &mut Reporter,
    phase: &str,
    commands: &[String],
    venv: &Path,
    app_dir: &Path,
) -> Result<(), InstallError> {
    let bin = venv_python(venv)
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default();
    let path = std::env::var_os("PATH").unwrap_or_default();
    let mut paths = vec![bin];
    paths.extend(std::env::split_paths(&path));
    let joined = std::env::join_paths(paths).unwrap_or(path);
    for (i, c) in commands.iter().enumerate() {
        r.progress(&format!("running the {phase} hook {}: {c}", i + 1));
        let mut cmd = if cfg!(windows) {
            CommandSpec::new(
                std::env::var_os("ComSpec").map_or_else(|| PathBuf::from("cmd.exe"), PathBuf::from),
            )
            .arg("/C")
            .arg(c)
        } else {
            CommandSpec::new("/bin/sh").arg("-c").arg(c)
        };
        cmd.cwd = Some(app_dir.to_path_buf());
        cmd.env = vec![
            (OsString::from("PATH"), joined.clone()),
            (OsString::from("VIRTUAL_ENV"), venv.as_os_str().to_owned()),
            (
                OsString::from("APPL_PHYSICAL_PATH"),
                app_dir.as_os_str().to_owned(),
            ),
        ];
        run_step(
            platform,
            r,
            &format!("the [tool.iiswsgi.install] {phase} hook {c:?}"),
            &cmd,
            &|_| true,
        )?;
    }
    Ok(())
}

/// One request to the application as IIS will serve it.
pub fn smoke(
    platform: &Platform,
    location: &Location,
    app: &FastCgiApplication,
    url: &str,
) -> Result<(SmokeTarget, SmokeResponse), InstallError> {
    let mount = location.app_path.trim_end_matches('/');
    let target = SmokeTarget {
        site: location.site.clone(),
        binding: location.binding.clone(),
        app_path: location.app_path.clone(),
        url_path: format!("{mount}/{}", url.trim_start_matches('/')),
        physical_path: location.physical_path.clone(),
        full_path: app.full_path.clone(),
        arguments: app.arguments.clone(),
        environment: app.environment_variables.clone(),
    };
    let resp = platform.smoke.request(&target)?;
    Ok((target, resp))
}

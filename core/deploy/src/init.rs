//! `iiswsgi init`: the four templates a package needs, tailored to the project.

use std::path::{Path, PathBuf};

use iiswsgi_iisconfig::{FastCgiApplication, Handler, WebConfig};
use serde::Serialize;

use crate::error::DeployError;
use crate::package::{write_atomic, MANIFEST_IN, PARAMETERS, STAMP_IN, WEB_CONFIG_IN};
use crate::project::Project;

#[derive(Debug, Clone, Serialize)]
pub struct Initialised {
    pub written: Vec<PathBuf>,
    /// The WSGI application the templates name.
    pub app: String,
    /// Whether `app` was found in the project (else it is a placeholder to adjust).
    pub app_found: bool,
}

fn module_of(rel: &str) -> Option<String> {
    let rel = rel.strip_prefix("src/").unwrap_or(rel);
    let stem = rel.strip_suffix(".py")?;
    let stem = stem.strip_suffix("/__init__").unwrap_or(stem);
    let parts: Vec<&str> = stem.split('/').collect();
    parts
        .iter()
        .all(|p| !p.is_empty() && p.chars().all(|c| c.is_alphanumeric() || c == '_'))
        .then(|| parts.join("."))
}

/// Looks for the WSGI application: a `PasteDeploy` ini with `[app:main]`, then a
/// module assigning a Flask app, Django's `get_wsgi_application()`, or
/// `app`/`application`.
pub fn find_app(dir: &Path, files: &[String]) -> Option<String> {
    for ini in ["production.ini", "development.ini"] {
        if std::fs::read_to_string(dir.join(ini))
            .is_ok_and(|t| t.lines().any(|l| l.trim() == "[app:main]"))
        {
            return Some(format!("config:{ini}"));
        }
    }
    let mut best: Option<(u8, String)> = None;
    for rel in files.iter().filter(|f| {
        std::path::Path::new(f)
            .extension()
            .is_some_and(|ext| ext.eq_ignore_ascii_case("py"))
            && f.matches('/').count() <= 2
    }) {
        let Some(module) = module_of(rel) else {
            continue;
        };
        let Ok(text) = std::fs::read_to_string(dir.join(rel)) else {
            continue;
        };
        for line in text.lines() {
            let Some((lhs, rhs)) = line.split_once('=') else {
                continue;
            };
            let var = lhs.trim();
            if line.starts_with(char::is_whitespace)
                || !var.chars().all(|c| c.is_alphanumeric() || c == '_')
                || var.is_empty()
            {
                continue;
            }
            let rhs = rhs.trim();
            let rank = if rhs.starts_with("get_wsgi_application(") {
                0
            } else if rhs.starts_with("Flask(") {
                1
            } else if var == "application" || var == "app" {
                2
            } else {
                continue;
            };
            if best.as_ref().is_none_or(|(r, _)| rank < *r) {
                best = Some((rank, format!("{module}:{var}")));
            }
        }
    }
    best.map(|(_, app)| app)
}

fn xml_attr(s: &str) -> String {
    quick_xml::escape::escape(s).into_owned()
}

/// What `init` does with templates that exist.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Existing {
    /// Refuse, writing nothing (`iiswsgi init`).
    Refuse,
    /// Overwrite them (`--force`).
    Overwrite,
    /// Keep them and write only the missing ones (`iiswsgi sim deploy`).
    Keep,
}

pub fn init(
    dir: &Path,
    force: bool,
    progress: &mut dyn FnMut(&str),
) -> Result<Initialised, DeployError> {
    init_with(
        dir,
        if force {
            Existing::Overwrite
        } else {
            Existing::Refuse
        },
        progress,
    )
}

/// `init` with a choice for templates that exist.
pub fn init_with(
    dir: &Path,
    existing_mode: Existing,
    progress: &mut dyn FnMut(&str),
) -> Result<Initialised, DeployError> {
    let project = Project::load(dir)?;
    let targets = [MANIFEST_IN, PARAMETERS, WEB_CONFIG_IN, STAMP_IN].map(|f| dir.join(f));
    let existing: Vec<&PathBuf> = targets.iter().filter(|p| p.exists()).collect();
    if existing_mode == Existing::Refuse && !existing.is_empty() {
        let list: Vec<String> = existing.iter().map(|p| p.display().to_string()).collect();
        return Err(DeployError::Usage(format!(
            "{} already exist{}; nothing was written. Pass --force to overwrite",
            list.join(", "),
            if list.len() == 1 { "s" } else { "" }
        )));
    }
    let selected = crate::files::select(dir, &[], &[], None)?.files;
    let files: Vec<String> = selected.into_iter().map(|(rel, _)| rel).collect();
    let found = find_app(dir, &files);
    let app_found = found.is_some();
    let app = found.unwrap_or_else(|| {
        format!(
            "{}:app",
            project.name.replace(['-', '.'], "_").to_lowercase()
        )
    });
    // Only worth saying when the web.config.in that names it is written.
    let writes_web_config = existing_mode != Existing::Keep || !targets[2].exists();
    if !app_found && writes_web_config {
        progress(&format!(
            "no WSGI application found: the templates name {app}; adjust web.config.in"
        ));
    }
    let name = &project.name;
    let manifest = r#"<?xml version="1.0" encoding="utf-8"?>
<msDeploy.iisApp>
  <!-- The files of the application, installed as the site or application chosen in WebPI. -->
  <iisApp path="%DIST_NAME%" />
  <!-- Run after the files are copied. Settings other than path (successReturnCodes,
       waitAttempts, waitInterval, ...) are moved into MSDeploy.MSDeployProviderOptions
       by `iiswsgi package`, where Web Deploy reads them. -->
  <runCommand path="py -3 -m iiswsgi install --app-name %DIST_NAME%"
              successReturnCodes="0x0" waitAttempts="60" waitInterval="10000" />
</msDeploy.iisApp>
"#
    .to_string();
    let parameters = format!(
        r#"<?xml version="1.0" encoding="utf-8"?>
<parameters>
  <parameter name="Application Path"
             description="Full site path where you would like to install {n} (for example Default Web Site/{n})"
             defaultValue="Default Web Site/{n}"
             tags="iisApp">
    <parameterEntry kind="ProviderPath" scope="iisApp" match="^{m}$" />
  </parameter>
</parameters>
"#,
        n = xml_attr(name),
        m = xml_attr(&fancy_regex::escape(name)),
    );
    // IISWSGI_VENV: the virtualenv `iiswsgi install` makes (.venv in the app folder).
    let processor = "%IISWSGI_VENV%\\Scripts\\python.exe";
    let arguments = format!("-m iiswsgi serve {app}");
    let web_config = web_config_template(processor, &arguments)?;
    let stamp = format!("This file marks the folder of the iiswsgi application {name}: the installer looks for it after Web Deploy has copied the files.\n");
    let mut written = Vec::new();
    for (path, text) in targets
        .iter()
        .zip([manifest, parameters, web_config, stamp])
    {
        if existing_mode == Existing::Keep && path.exists() {
            continue;
        }
        progress(&format!("writing {}", path.display()));
        write_atomic(path, text.as_bytes())?;
        written.push(path.clone());
    }
    Ok(Initialised {
        written,
        app,
        app_found,
    })
}

/// The skeleton of `web.config.in`; [`web_config_template`] fills it through
/// the IIS XML model, so the handler and the application always agree.
const WEB_CONFIG_SKELETON: &str = r#"<?xml version="1.0" encoding="utf-8"?>
<configuration>
  <system.webServer>
    <!-- IIS runs the gateway in the application's virtualenv. The handler's
         scriptProcessor must equal fullPath|arguments of the <application> below. -->
    <handlers>
    </handlers>
    <!-- IIS reads <fastCgi> only from applicationHost.config: the installer
         registers this application there. -->
    <fastCgi>
    </fastCgi>
  </system.webServer>
</configuration>
"#;

/// `web.config.in`: one `FastCgiModule` handler for every path and the
/// `<fastCgi><application>` it names.
fn web_config_template(full_path: &str, arguments: &str) -> Result<String, DeployError> {
    let mut config = WebConfig::parse(Path::new(WEB_CONFIG_IN), WEB_CONFIG_SKELETON)?;
    let mut app = FastCgiApplication::new(full_path, arguments);
    app.signal_before_terminate_seconds = 30;
    config.add_handler(&Handler {
        name: "iiswsgi".into(),
        path: "*".into(),
        verb: "*".into(),
        modules: "FastCgiModule".into(),
        script_processor: app.script_processor(),
        resource_type: "Unspecified".into(),
        require_access: "Script".into(),
        response_buffer_limit: 0,
        ..Handler::default()
    });
    config.add_fastcgi_application(&app);
    Ok(config.write())
}

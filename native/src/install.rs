//! `iiswsgi install` and `uninstall`: the IIS backend resolved once
//! (`--backend` > `IISWSGI_BACKEND` > auto) and handed to the installer.

use std::path::PathBuf;

use iiswsgi_cli::{BackendArgs, InstallArgs, UninstallArgs};
use iiswsgi_deploy::install::report::Reporter;
use iiswsgi_deploy::install::{self, Backend, Platform};
use pyo3::prelude::*;

/// The platform for the resolved backend, or the reason there is none.
fn platform(b: &BackendArgs) -> Result<Platform, String> {
    let choice = Backend::resolve(b.backend.as_deref(), &iiswsgi_iisconfig::env_var)
        .map_err(crate::report)?;
    match choice.backend {
        Backend::Windows { appcmd } => Ok(install::windows::platform(Some(appcmd))),
        Backend::Sim { root } => iiswsgi_sim::platform::platform(&root).map_err(crate::report),
        Backend::None { reason } => {
            eprintln!("iiswsgi: no IIS: {reason}");
            Ok(install::windows::platform(None))
        }
    }
}

fn fail(json: bool, e: &dyn std::fmt::Display) -> i32 {
    eprintln!("iiswsgi install: error: {e}");
    if json {
        println!("{}", serde_json::json!({ "error": e.to_string() }));
    }
    1
}

pub(crate) fn run_install(py: Python<'_>, a: InstallArgs) -> i32 {
    let p = match platform(&a.backend) {
        Ok(p) => p,
        Err(e) => return fail(a.json, &e),
    };
    let opts = install::InstallOptions {
        app_dir: a.app_dir,
        app_name: a.app_name,
        venv: a.venv,
        ignore_stamp: a.ignore_stamp,
        smoke_url: a.smoke_url,
        no_smoke_test: a.no_smoke_test,
        python: crate::python(py),
    };
    let mut r = Reporter::new(
        a.verbose,
        Box::new(|l: &str| eprintln!("iiswsgi install: {l}")),
    );
    let result = py.detach(|| install::install(&p, &opts, &mut r));
    match result {
        Ok(done) => {
            if a.json {
                println!("{}", serde_json::to_string(&done).unwrap_or_default());
            } else {
                println!("{}", done.app_dir.display());
            }
            if done.without_iis() {
                3
            } else {
                0
            }
        }
        Err(e) => {
            let e = crate::report(e);
            r.progress(&format!("error: {e}"));
            if r.log_path().is_absolute() {
                r.progress(&format!(
                    "every step and its output: {}",
                    r.log_path().display()
                ));
            }
            if a.json {
                println!("{}", serde_json::json!({ "error": e }));
            }
            1
        }
    }
}

pub(crate) fn run_uninstall(a: UninstallArgs) -> i32 {
    let p = match platform(&a.backend) {
        Ok(p) => p,
        Err(e) => return fail(a.json, &e),
    };
    let dir = a.dir.unwrap_or_else(|| PathBuf::from("."));
    let mut r = Reporter::new(0, Box::new(|l: &str| eprintln!("iiswsgi uninstall: {l}")));
    match install::uninstall(&p, &dir, &mut r) {
        Ok(removed) => {
            if a.json {
                println!("{}", serde_json::json!({ "unregistered": removed }));
            } else {
                for s in removed {
                    println!("{s}");
                }
            }
            0
        }
        Err(e) => fail(a.json, &e),
    }
}

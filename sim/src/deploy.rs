//! `iiswsgi sim deploy`: a project from its source tree to serving under the
//! simulated IIS, through every stage a Windows user goes through: `init`
//! (only the templates the project lacks), `package`, `feed`, a simulated
//! machine, `WebPI`'s install of the feed (Web Deploy, runCommand, `iiswsgi
//! install`: virtualenv, dependencies, web.config, `FastCGI` registration,
//! smoke test), then `sim serve` answering the application's page.

use std::path::{Path, PathBuf};
use std::time::Instant;

use iiswsgi_deploy::install::http;

use crate::machine::SimMachine;

/// What to deploy and how.
#[derive(Debug, Clone)]
pub struct DeployOptions {
    pub project: PathBuf,
    /// The machine (made fresh when absent or empty; reused when it holds one).
    pub root: PathBuf,
    pub iis_express: bool,
    /// `WebPI` parameters, `NAME=VALUE`.
    pub params: Vec<String>,
    /// The Python the machine's `py` runs, and the `iiswsgi` command line.
    pub python: PathBuf,
    pub iiswsgi: Vec<String>,
    pub listen: std::net::IpAddr,
}

/// A failed stage: which, why, and the log to read.
#[derive(Debug, thiserror::Error)]
#[error("stage {stage} failed: {reason}{}", log.as_ref().map(|l| format!("; read {}", l.display())).unwrap_or_default())]
pub struct StageError {
    pub stage: &'static str,
    pub reason: String,
    pub log: Option<PathBuf>,
}

/// A stage failed with an error: its message and its sources.
fn stage_fail(stage: &'static str, e: &(dyn std::error::Error + 'static)) -> StageError {
    stage_err(stage, iiswsgi_iisconfig::error_chain(e))
}

fn stage_err(stage: &'static str, e: impl std::fmt::Display) -> StageError {
    StageError {
        stage,
        reason: e.to_string(),
        log: None,
    }
}

/// What the stages before serving produced.
#[derive(Debug, Clone)]
pub struct Deployed {
    pub machine: SimMachine,
    pub product: String,
    /// The application's path in its site (`/PyramidIISApp`).
    pub app_path: String,
    pub site: String,
    /// The feed `WebPI` installed from.
    pub feed_url: String,
}

/// Runs `f` as a stage, reporting its start, end and time.
fn stage<T>(
    name: &'static str,
    progress: &mut dyn FnMut(&str),
    f: impl FnOnce(&mut dyn FnMut(&str)) -> Result<T, StageError>,
) -> Result<T, StageError> {
    progress(&format!("[{name}] ..."));
    let t = Instant::now();
    let out = f(progress)?;
    progress(&format!(
        "[{name}] done in {:.1} s",
        t.elapsed().as_secs_f64()
    ));
    Ok(out)
}

/// Every stage up to (not including) serving.
pub fn prepare(
    opts: &DeployOptions,
    progress: &mut dyn FnMut(&str),
) -> Result<Deployed, StageError> {
    let dir = opts.project.as_path();
    stage("init", progress, |p| {
        let done = iiswsgi_deploy::init::init_with(dir, iiswsgi_deploy::init::Existing::Keep, p)
            .map_err(|e| stage_fail("init", &e))?;
        if done.written.is_empty() {
            p("the project has its four templates");
        }
        Ok(())
    })?;
    let packaged = stage("package", progress, |p| {
        iiswsgi_deploy::package::package(dir, None, p).map_err(|e| stage_fail("package", &e))
    })?;
    progress(&format!("  {}", packaged.zip.display()));
    let feed = stage("feed", progress, |p| {
        iiswsgi_deploy::feed::feed(dir, &[], None, Some("{msdeploy_package_url}"), p)
            .map_err(|e| stage_fail("feed", &e))
    })?;
    progress(&format!("  {}", feed.url));
    let machine = stage("machine", progress, |p| new_or_open(opts, p))?;
    let product = packaged.name.clone();
    stage("webpi install", progress, |p| {
        webpi_install(&machine, &product, &feed.url, opts, p)
    })?;
    let host = iiswsgi_iisconfig::ApplicationHost::load(
        &machine
            .apphost_path()
            .map_err(|e| stage_fail("serve", &e))?,
    )
    .map_err(|e| stage_fail("serve", &e))?;
    let sites = host.sites().map_err(|e| stage_fail("serve", &e))?;
    let (site, app_path) = sites
        .iter()
        .rev()
        .find_map(|s| {
            s.applications
                .iter()
                .rev()
                .find(|a| a.path.trim_matches('/').eq_ignore_ascii_case(&product))
                .map(|a| (s.name.clone(), a.path.clone()))
        })
        .or_else(|| sites.last().map(|s| (s.name.clone(), "/".to_owned())))
        .ok_or_else(|| stage_err("serve", "applicationHost.config has no site"))?;
    Ok(Deployed {
        machine,
        product,
        app_path,
        site,
        feed_url: feed.url,
    })
}

/// `webpi install` of `product` from `feed_url` with the options' target and
/// parameters; `WebPI`'s lines go to `p`. A failure names the log `WebPI`
/// pointed at (its last `Log:` line), else the install logs' folder.
pub fn webpi_install(
    machine: &SimMachine,
    product: &str,
    feed_url: &str,
    opts: &DeployOptions,
    p: &mut dyn FnMut(&str),
) -> Result<(), StageError> {
    let mut args = vec![
        "install".to_owned(),
        "--products".into(),
        product.to_owned(),
        "--feeds".into(),
        feed_url.to_owned(),
        "--accept-eula".into(),
        "--progress".into(),
    ];
    if opts.iis_express {
        args.push("--iis-express".into());
    }
    for kv in &opts.params {
        args.push("--param".into());
        args.push(kv.clone());
    }
    let (mut last_log, mut error) = (None, None);
    let code = crate::webpi::run(machine, &args, &mut |l| {
        if let Some(w) = l.strip_prefix("Log: ") {
            last_log = machine.host_path(w).ok();
        }
        if let Some(e) = l.strip_prefix("Error: ") {
            error = Some(e.to_owned());
        }
        p(&format!("  {l}"));
    });
    if code != 0 {
        let log = last_log.or_else(|| {
            crate::webpi::cache_root(machine)
                .ok()
                .map(|c| c.join("logs").join("install"))
        });
        return Err(StageError {
            stage: "webpi install",
            reason: match error {
                Some(e) => format!("WebPI exited with code {code}: {}", e.trim_end_matches('.')),
                None => format!("WebPI exited with code {code} (Web Deploy, its runCommand or `iiswsgi install` failed: the lines above say which)"),
            },
            log,
        });
    }
    Ok(())
}

fn new_or_open(opts: &DeployOptions, p: &mut dyn FnMut(&str)) -> Result<SimMachine, StageError> {
    if opts.root.join(crate::machine::SIM_TOML).is_file() {
        p(&format!(
            "  reusing the simulated machine {}",
            opts.root.display()
        ));
        return SimMachine::open(&opts.root).map_err(|e| stage_fail("machine", &e));
    }
    let m = crate::create::create(
        &opts.root,
        &crate::create::NewMachine {
            iis_express: opts.iis_express,
            python: opts.python.clone(),
            iiswsgi: opts.iiswsgi.clone(),
        },
    )
    .map_err(|e| stage_fail("machine", &e))?;
    p(&format!(
        "  {} ({})",
        m.root().display(),
        if opts.iis_express {
            "IIS Express"
        } else {
            "IIS"
        }
    ));
    Ok(m)
}

/// The URL of the application among the server's mappings.
pub fn app_url(mappings: &[crate::front::Mapping], d: &Deployed) -> Option<String> {
    let m = mappings
        .iter()
        .find(|m| m.site == d.site && m.binding.starts_with("http/"))?;
    let base = m.url.trim_end_matches('/');
    Some(format!("{base}{}/", d.app_path.trim_end_matches('/')))
}

/// GETs `url` (an `http://host:port/path` on this machine): the status and the first line of the body.
pub fn check(url: &str) -> Result<(u16, String), String> {
    let rest = url.strip_prefix("http://").ok_or("not an http URL")?;
    let (addr, path) = rest
        .split_once('/')
        .map_or((rest, "/".to_owned()), |(a, p)| (a, format!("/{p}")));
    let resp = http::get(url, addr, addr, &path, std::time::Duration::from_mins(2))
        .map_err(|e| iiswsgi_iisconfig::error_chain(&e))?;
    let body = String::from_utf8_lossy(&resp.body);
    let first = body
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .unwrap_or("")
        .chars()
        .take(120)
        .collect();
    Ok((resp.status, first))
}

/// The project's folder, absolute.
pub fn project_dir(p: Option<&Path>) -> PathBuf {
    let d = p.map_or_else(|| PathBuf::from("."), Path::to_path_buf);
    std::path::absolute(&d).unwrap_or(d)
}

/// Serves the machine; with `once`, requests the application's page, reports
/// it and stops; otherwise serves until Ctrl-C/SIGTERM. `out` gets the
/// mapping lines and the application's URL.
pub fn serve(
    d: &Deployed,
    listen: std::net::IpAddr,
    once: bool,
    out: &mut dyn FnMut(&str),
) -> Result<Option<(u16, String)>, StageError> {
    let opts = crate::front::ServeOptions {
        root: d.machine.root().to_path_buf(),
        listen,
        ports: std::collections::BTreeMap::new(),
        show_process_output: false,
        second: std::time::Duration::from_secs(1),
        once: false,
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| stage_fail("serve", &e))?;
    let result = rt.block_on(async {
        let server = crate::front::Server::bind(&opts)
            .await
            .map_err(|e| stage_fail("serve", &e))?;
        for m in &server.mappings {
            out(&m.to_string());
        }
        let url = app_url(&server.mappings, d)
            .ok_or_else(|| stage_err("serve", format!("no http binding of site {:?}", d.site)))?;
        out(&format!("the application answers at {url}"));
        if !once {
            server.run(crate::front::stop_signal()).await;
            return Ok(None);
        }
        let (tx, rx) = tokio::sync::oneshot::channel();
        let u = url.clone();
        std::thread::spawn(move || {
            let _ = tx.send(check(&u));
        });
        let checked = std::sync::Arc::new(std::sync::Mutex::new(None));
        let slot = std::sync::Arc::clone(&checked);
        server
            .run(async move {
                let r = rx
                    .await
                    .unwrap_or_else(|_| Err("the check did not finish".into()));
                *slot
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(r);
            })
            .await;
        let r = checked
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take();
        match r {
            Some(Ok((status, first))) if (200..400).contains(&status) => Ok(Some((status, first))),
            Some(Ok((status, first))) => Err(StageError {
                stage: "serve",
                reason: format!("GET {url} answered {status}: {first}"),
                log: Some(d.machine.root().join("C/inetpub/logs/LogFiles")),
            }),
            Some(Err(e)) => Err(stage_err("serve", format!("GET {url}: {e}"))),
            None => Err(stage_err("serve", "no answer")),
        }
    });
    rt.shutdown_timeout(std::time::Duration::from_secs(2));
    result
}

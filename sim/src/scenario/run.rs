//! Running a scenario: the project copied and broken as the scenario says,
//! then `sim deploy`'s stages on a fresh machine (the faults injected
//! between them), the requests through `sim serve`, every line of output
//! and of the logs `WebPI` wrote kept in a transcript.

use std::path::{Path, PathBuf};
use std::time::Duration;

use super::client::{self, Answer};
use super::model::Loaded;
use super::{faults, ScenarioError};
use crate::deploy::{self, DeployOptions, Deployed, StageError};
use crate::machine::SimMachine;

/// Where and with what a scenario runs.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// The machine's folder (absent or empty); the project is copied into
    /// its `C:\src` as onto a developer's machine.
    pub root: PathBuf,
    /// The Python the machine's `py` runs, and the `iiswsgi` command line.
    pub python: PathBuf,
    pub iiswsgi: Vec<String>,
    pub listen: std::net::IpAddr,
}

/// What a scenario did.
#[derive(Debug, Default)]
pub struct Outcome {
    /// Every line shown, in order.
    pub transcript: Vec<String>,
    /// 0 when every stage worked, 1 when one failed.
    pub exit_code: i32,
    /// The stage that failed, with its reason and log.
    pub failure: Option<StageError>,
    /// For each `[[request]]`, its answers.
    pub answers: Vec<Vec<Result<Answer, String>>>,
    /// The machine.
    pub root: PathBuf,
}

/// Runs a scenario; each line goes to `out` and into the transcript.
pub fn run(
    loaded: &Loaded,
    opts: &RunOptions,
    out: &mut dyn FnMut(&str),
) -> Result<Outcome, ScenarioError> {
    let mut transcript = Vec::new();
    let mut show = |l: &str| {
        out(l);
        transcript.push(l.to_owned());
    };
    let s = &loaded.scenario;
    show(&format!("[scenario] {}: {}", s.name, s.description.trim()));
    let name = loaded
        .project
        .file_name()
        .map_or_else(|| "project".into(), |n| n.to_string_lossy().into_owned());
    let root = opts.root.clone();
    let machine = crate::create::create(
        &root,
        &crate::create::NewMachine {
            iis_express: s.iis_express,
            python: opts.python.clone(),
            iiswsgi: opts.iiswsgi.clone(),
        },
    )?;
    show(&format!(
        "[machine] {} ({})",
        root.display(),
        if s.iis_express { "IIS Express" } else { "IIS" }
    ));
    let project = machine.host_path(&format!("C:\\src\\{name}"))?;
    faults::copy_project(&loaded.project, &project)?;
    show(&format!(
        "[project] {} copied to {}",
        loaded.project.display(),
        project.display()
    ));
    faults::inject_project(&project, &s.fault, &mut show)?;
    if let Some(site) = &s.fault.site_collision {
        faults::add_colliding_site(&machine, site, &mut show)?;
    }
    let dopts = DeployOptions {
        project,
        root: root.clone(),
        iis_express: s.iis_express,
        params: s.parameters.clone(),
        python: opts.python.clone(),
        iiswsgi: opts.iiswsgi.clone(),
        listen: opts.listen,
    };
    let mut outcome = Outcome {
        root: root.clone(),
        ..Outcome::default()
    };
    let mut seen = Vec::new();
    let deployed = deploy::prepare(&dopts, &mut |l| show(l));
    show_new_logs(&root, &mut seen, &mut show);
    let result = deployed.and_then(|d| {
        again(loaded, &dopts, &d, &mut show)?;
        show_new_logs(&root, &mut seen, &mut show);
        if let Some(t) = s.fault.activity_timeout {
            set_activity_timeout(&d.machine, t, &mut show)?;
        }
        if !s.requests.is_empty() {
            outcome.answers = requests(loaded, &d, opts.listen, &mut show)?;
        }
        Ok(d)
    });
    show_new_logs(&root, &mut seen, &mut show);
    if let Err(e) = result {
        show(&format!("error: {e}"));
        outcome.exit_code = 1;
        outcome.failure = Some(e);
    }
    outcome.transcript = transcript;
    Ok(outcome)
}

/// The second install (`install_twice`, `stale_cache` after breaking the cache).
fn again(
    loaded: &Loaded,
    dopts: &DeployOptions,
    d: &Deployed,
    show: &mut dyn FnMut(&str),
) -> Result<(), StageError> {
    let f = &loaded.scenario.fault;
    if !(f.install_twice || f.stale_cache) {
        return Ok(());
    }
    if f.stale_cache {
        faults::stale_cache(&d.machine, &d.product, show).map_err(|e| StageError {
            stage: "fault",
            reason: e.to_string(),
            log: None,
        })?;
    }
    show("[webpi install, again] ...");
    deploy::webpi_install(&d.machine, &d.product, &d.feed_url, dopts, show)?;
    show("[webpi install, again] done");
    Ok(())
}

/// `appcmd set config -section:system.webServer/fastCgi
/// /[fullPath='…',arguments='…'].activityTimeout:N /commit:apphost` for each
/// registered application, shown as it is run.
fn set_activity_timeout(
    machine: &SimMachine,
    seconds: u32,
    show: &mut dyn FnMut(&str),
) -> Result<(), StageError> {
    let fail = |reason: String| StageError {
        stage: "appcmd",
        reason,
        log: None,
    };
    let apphost = machine.apphost_path().map_err(|e| fail(e.to_string()))?;
    let apps = iiswsgi_iisconfig::ApplicationHost::load(&apphost)
        .and_then(|h| h.fastcgi_applications())
        .map_err(|e| fail(e.to_string()))?;
    for a in apps {
        let args = vec![
            "set".to_owned(),
            "config".into(),
            "-section:system.webServer/fastCgi".into(),
            format!(
                "/[fullPath='{}',arguments='{}'].activityTimeout:{seconds}",
                a.full_path, a.arguments
            ),
            "/commit:apphost".into(),
        ];
        show(&format!("[appcmd] appcmd {}", args.join(" ")));
        let o = crate::appcmd::run(machine, &args);
        for l in o.stdout.lines() {
            show(&format!("  {l}"));
        }
        if o.code != 0 {
            return Err(fail(format!("appcmd exited with {}", o.code)));
        }
    }
    Ok(())
}

/// Serves the machine and sends the scenario's requests; each answer shown.
fn requests(
    loaded: &Loaded,
    d: &Deployed,
    listen: std::net::IpAddr,
    show: &mut dyn FnMut(&str),
) -> Result<Vec<Vec<Result<Answer, String>>>, StageError> {
    let s = &loaded.scenario;
    show("[serve] ...");
    let reqs = s.requests.clone();
    let second = Duration::from_millis(s.serve.second_ms);
    let answers = client::serve_with(
        d,
        listen,
        second,
        &mut |m| show(&format!("  {m}")),
        move |url| {
            reqs.iter()
                .map(|r| (r.clone(), url.clone(), client::send_all(&url, r)))
                .collect::<Vec<_>>()
        },
    )?;
    let mut all = Vec::new();
    for (r, url, got) in answers {
        for a in &got {
            match a {
                Ok(a) => show(&format!(
                    "[serve] {} {url}{} ({} bytes): {} {}",
                    r.method,
                    r.path.trim_start_matches('/'),
                    r.body_bytes,
                    a.status,
                    first_line(&a.body)
                )),
                Err(e) => show(&format!("[serve] {} {}: {e}", r.method, r.path)),
            }
        }
        all.push(got);
    }
    for log in logs_under(&d.machine.root().join("C/inetpub/logs/LogFiles")) {
        show(&format!(
            "[serve] IIS's log of these requests: {}",
            log.display()
        ));
    }
    Ok(all)
}

/// An IIS page's `<title>: <h3>`, else the first non-empty line of the
/// body, cut at 200 characters.
fn first_line(body: &str) -> String {
    let tag = |t: &str| {
        body.split_once(&format!("<{t}>"))
            .and_then(|(_, x)| x.split_once(&format!("</{t}>")))
            .map(|(x, _)| x.trim().to_owned())
    };
    let line = match (tag("title"), tag("h3")) {
        (Some(t), Some(h)) => format!("{t}: {h}"),
        (Some(t), None) => t,
        _ => body
            .lines()
            .map(str::trim)
            .find(|l| !l.is_empty())
            .unwrap_or("")
            .to_owned(),
    };
    line.chars().take(200).collect()
}

/// Every file under `dir`, sorted.
pub fn logs_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let p = e.path();
            if p.is_dir() {
                todo.push(p);
            } else {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

/// Shows `WebPI`'s logs (feeds and cache, then installs) written since the
/// last call (full verbosity: Web Deploy's, runCommand's and `iiswsgi
/// install`'s output are in the install logs).
pub fn show_new_logs(root: &Path, seen: &mut Vec<PathBuf>, show: &mut dyn FnMut(&str)) {
    let Ok(m) = SimMachine::open(root) else {
        return;
    };
    let Ok(cache) = crate::webpi::cache_root(&m) else {
        return;
    };
    let logs = cache.join("logs");
    let all = logs_under(&logs.join("webpi"))
        .into_iter()
        .chain(logs_under(&logs.join("install")));
    for log in all {
        if seen.contains(&log) {
            continue;
        }
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        show(&format!("==> {} <==", log.display()));
        for l in text.lines() {
            show(&format!("  | {l}"));
        }
        seen.push(log);
    }
}

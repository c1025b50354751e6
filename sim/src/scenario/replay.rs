//! `iiswsgi sim replay LOG_DIR`: `WebPI`'s install log folder
//! (`%LOCALAPPDATA%\Microsoft\Web Platform Installer\logs\install\<time>`)
//! read back (the feeds, the products asked for, the target, the
//! parameters given, the package's SHA1), and the same install run on a
//! fresh simulated machine with every log shown.

use std::path::{Path, PathBuf};

use super::ScenarioError;
use crate::webpi::fetch::{self, Location};
use crate::webpi::logs;

/// What an install log folder says was installed, and how.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Recorded {
    /// The feeds, products, target and parameters.
    pub install: logs::Recorded,
    /// (installer URL, SHA1) of each package installed.
    pub packages: Vec<(String, String)>,
}

fn between<'a>(s: &'a str, start: &str, end: &str) -> Option<&'a str> {
    let rest = s.split_once(start)?.1;
    Some(rest.split_once(end).map_or(rest, |(a, _)| a))
}

/// Reads one log's lines into `r`.
pub fn read_lines(text: &str, r: &mut Recorded) {
    logs::read_replay_lines(text, &mut r.install);
    let mut url = None;
    for line in text.lines() {
        let l = line.trim();
        if let Some(u) = l.strip_prefix("Installer: ") {
            url = Some(u.to_owned());
        } else if let (Some(sha), true) = (between(l, "(SHA1 ", ","), url.is_some()) {
            if let Some(u) = url.take() {
                r.packages.push((u, sha.to_owned()));
            }
        }
    }
}

/// Reads every `*.txt` of an install log folder.
pub fn read_dir(dir: &Path) -> Result<Recorded, ScenarioError> {
    let bad = |why: String| ScenarioError::Log {
        dir: dir.to_path_buf(),
        why,
    };
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| bad(format!("cannot read the folder: {e}")))?
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x.eq_ignore_ascii_case("txt")))
        .collect();
    files.sort();
    let mut r = Recorded::default();
    for f in &files {
        let bytes = std::fs::read(f).map_err(|source| ScenarioError::Read {
            path: f.clone(),
            source,
        })?;
        read_lines(&String::from_utf8_lossy(&bytes), &mut r);
    }
    if r.install.feeds.is_empty() || r.install.products.is_empty() {
        return Err(bad(format!(
            "no install recorded here ({} log files; expected lines \"Loading product xml from: URL\" and \"Adding product 'TITLE' (ID) to cart\"): give WebPI's logs\\install\\<time> folder, or the feed with --feed",
            files.len()
        )));
    }
    Ok(r)
}

/// The file name at the end of a location.
fn file_name(loc: &str) -> String {
    loc.rsplit(['/', '\\'])
        .find(|s| !s.is_empty())
        .unwrap_or(loc)
        .to_owned()
}

/// Whether a location can be read from here.
fn reachable(loc: &str) -> bool {
    match fetch::locate(loc, None) {
        Ok(Location::File(p)) => p.is_file(),
        Ok(Location::Http(_)) => true,
        Err(_) => false,
    }
}

/// The feed to install from: the logged URL when it can be read here, else
/// a file of the same name in the log folder. A feed taken from the folder
/// whose installers are in the folder too is rewritten (into `work`) to
/// point at them.
pub fn resolve_feed(
    url: &str,
    dir: &Path,
    work: &Path,
    out: &mut dyn FnMut(&str),
) -> Result<String, ScenarioError> {
    if reachable(url) {
        return Ok(url.to_owned());
    }
    let local = dir.join(file_name(url));
    if !local.is_file() {
        return Err(ScenarioError::Log {
            dir: dir.to_path_buf(),
            why: format!(
                "the feed {url} cannot be read from here and {} is not in the folder: copy the feed (and the package) into the folder, or give --feed FILE",
                file_name(url)
            ),
        });
    }
    out(&format!(
        "[replay] the feed {url}: using {}",
        local.display()
    ));
    let text = std::fs::read_to_string(&local).map_err(|source| ScenarioError::Read {
        path: local.clone(),
        source,
    })?;
    let mut rewritten = String::new();
    let mut rest = text.as_str();
    let mut changed = false;
    while let Some((before, after)) = rest.split_once("<installerURL>") {
        let (u, tail) = after.split_once("</installerURL>").unwrap_or((after, ""));
        let here = dir.join(file_name(u.trim()));
        let u = if !reachable(u.trim()) && here.is_file() {
            out(&format!(
                "[replay] the package {}: using {}",
                u.trim(),
                here.display()
            ));
            changed = true;
            url::Url::from_file_path(&here).map_or_else(|()| u.to_owned(), |x| x.to_string())
        } else {
            u.to_owned()
        };
        rewritten.push_str(before);
        rewritten.push_str("<installerURL>");
        rewritten.push_str(&u);
        rewritten.push_str("</installerURL>");
        rest = tail;
    }
    rewritten.push_str(rest);
    if !changed {
        return Ok(local.display().to_string());
    }
    let path = work.join(file_name(url));
    std::fs::create_dir_all(work)
        .and_then(|()| std::fs::write(&path, rewritten))
        .map_err(|source| ScenarioError::Write {
            path: path.clone(),
            source,
        })?;
    Ok(path.display().to_string())
}

/// `WebPI`'s arguments for the recorded install.
pub fn webpi_args(r: &logs::Recorded, feeds: &[String]) -> Vec<String> {
    let ids: Vec<&str> = r.products.iter().map(|(_, id)| id.as_str()).collect();
    let mut args = vec![
        "install".to_owned(),
        "--products".into(),
        ids.join(","),
        "--feeds".into(),
    ];
    args.extend(feeds.iter().cloned());
    args.push("--accept-eula".into());
    if r.iis_express {
        args.push("--iis-express".into());
    }
    for (k, v) in &r.params {
        args.push("--param".into());
        args.push(format!("{k}={v}"));
    }
    args
}

/// Lines comparing the packages installed now with those recorded.
pub fn compare_packages(before: &Recorded, now: &Recorded) -> Vec<String> {
    before
        .packages
        .iter()
        .map(|(u, sha)| {
            let name = file_name(u);
            match now.packages.iter().find(|(u2, _)| file_name(u2) == name) {
                Some((_, s2)) if s2.eq_ignore_ascii_case(sha) => {
                    format!("[replay] same package as recorded: {name} (SHA1 {sha})")
                }
                Some((_, s2)) => format!(
                    "[replay] warning: {name} has SHA1 {s2} here, the log recorded {sha}: this is not the package the customer installed"
                ),
                None => format!("[replay] {name} (SHA1 {sha}) was not installed this time"),
            }
        })
        .collect()
}

/// How to replay an install log folder.
#[derive(Debug, Clone)]
pub struct LogReplay {
    /// The fresh machine's folder (absent or empty).
    pub root: PathBuf,
    /// Feeds to use instead of the logged ones.
    pub feeds: Vec<String>,
    pub python: PathBuf,
    pub iiswsgi: Vec<String>,
}

/// Replays the install recorded in `dir` on a fresh machine: `WebPI`'s exit
/// code (0 installed, 1 failed), every line shown through `out`.
pub fn replay_dir(
    dir: &Path,
    opts: &LogReplay,
    out: &mut dyn FnMut(&str),
) -> Result<i32, ScenarioError> {
    let rec = read_dir(dir)?;
    let i = &rec.install;
    out(&format!("[replay] from {}", dir.display()));
    out(&format!("[replay] feeds: {}", i.feeds.join(", ")));
    for (t, id) in &i.products {
        out(&format!("[replay] product: {id} ({t})"));
    }
    out(&format!(
        "[replay] target: {}",
        if i.iis_express { "IIS Express" } else { "IIS" }
    ));
    for (k, v) in &i.params {
        out(&format!("[replay] parameter: {k}={v}"));
    }
    for (u, sha) in &rec.packages {
        out(&format!("[replay] package: {u} (SHA1 {sha})"));
    }
    let machine = crate::create::create(
        &opts.root,
        &crate::create::NewMachine {
            iis_express: i.iis_express,
            python: opts.python.clone(),
            iiswsgi: opts.iiswsgi.clone(),
        },
    )?;
    out(&format!("[machine] {}", opts.root.display()));
    let work = opts.root.join("replay");
    let feeds = if opts.feeds.is_empty() {
        i.feeds
            .iter()
            .map(|f| resolve_feed(f, dir, &work, out))
            .collect::<Result<Vec<_>, _>>()?
    } else {
        opts.feeds.clone()
    };
    let args = webpi_args(i, &feeds);
    out(&format!("[webpi install] WebpiCmd {}", args.join(" ")));
    let code = crate::webpi::run(&machine, &args, &mut |l| out(&format!("  {l}")));
    let mut seen = Vec::new();
    super::run::show_new_logs(&opts.root, &mut seen, out);
    let mut now = Recorded::default();
    for log in &seen {
        read_lines(&std::fs::read_to_string(log).unwrap_or_default(), &mut now);
    }
    for l in compare_packages(&rec, &now) {
        out(&l);
    }
    out(&format!(
        "[replay] WebPI exited with {code}; the machine and its logs: {}",
        opts.root.display()
    ));
    Ok(code)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_what_the_simulator_writes() {
        let install = logs::Recorded {
            feeds: vec!["/tmp/x/hello-app-1.0.webpi.xml".into()],
            products: vec![("Hello, IIS".into(), "hello-app".into())],
            iis_express: true,
            params: vec![("Application Path".into(), "Default Web Site/h".into())],
            sequence: (1, 1),
        };
        let mut log = vec!["Installing Hello, IIS (hello-app 1.0) on IISSIM".to_owned()];
        log.extend(logs::replay_lines(&install));
        log.push("Installer: file:///tmp/x/hello-app-1.0.msdeploy.zip".into());
        log.push("Cached installer: C:\\Users\\x\\a.zip (SHA1 0123abcd, verified)".into());
        let mut r = Recorded::default();
        read_lines(&log.join("\r\n"), &mut r);
        assert_eq!(r.install, install);
        assert_eq!(
            r.packages,
            [(
                "file:///tmp/x/hello-app-1.0.msdeploy.zip".to_owned(),
                "0123abcd".to_owned()
            )]
        );
        assert_eq!(
            webpi_args(&r.install, &["f.xml".into()]),
            [
                "install",
                "--products",
                "hello-app",
                "--feeds",
                "f.xml",
                "--accept-eula",
                "--iis-express",
                "--param",
                "Application Path=Default Web Site/h"
            ]
        );
    }
}

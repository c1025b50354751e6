//! `python -m iiswsgi sim serve ROOT` as a child process for the tests and
//! the benchmark: a machine made with `sim new` and configured with
//! `sim appcmd` and a web.config; the mapping lines read from stdout; the
//! log collected from stderr; stopped with SIGTERM (then killed) when the
//! guard drops, so no `FastCGI` process outlives a test.

use std::io::{self, BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::python;

/// Runs `python -m iiswsgi ARGS`, failing with its stderr.
pub fn iiswsgi(args: &[&str]) -> io::Result<String> {
    let out = Command::new(python())
        .args(["-m", "iiswsgi"])
        .args(args)
        .env_remove("IISWSGI_SIM_ROOT")
        .env_remove("IISWSGI_BACKEND")
        .output()?;
    if !out.status.success() {
        return Err(io::Error::other(format!(
            "iiswsgi {args:?} failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// `sim new ROOT`.
pub fn new_machine(root: &Path) -> io::Result<()> {
    iiswsgi(&["sim", "new", &root.display().to_string()]).map(|_| ())
}

/// `sim appcmd --root ROOT ARGS`.
pub fn appcmd(root: &Path, args: &[&str]) -> io::Result<String> {
    let r = root.display().to_string();
    let mut all = vec!["sim", "appcmd", "--root", &r];
    all.extend_from_slice(args);
    iiswsgi(&all)
}

/// Registers `fullPath|arguments` with extra attributes (appcmd syntax,
/// each `,name='value'`).
pub fn register_fastcgi(
    root: &Path,
    full_path: &str,
    arguments: &str,
    attrs: &str,
) -> io::Result<String> {
    appcmd(
        root,
        &[
            "set",
            "config",
            "-section:system.webServer/fastCgi",
            &format!("/+[fullPath='{full_path}',arguments='{arguments}'{attrs}]"),
            "/commit:apphost",
        ],
    )
}

/// Writes a web.config with a `path="*"` `FastCgiModule` handler and `<appSettings>`.
pub fn write_web_config(
    dir: &Path,
    script_processor: &str,
    handler_attrs: &str,
    settings: &[(&str, &str)],
) -> io::Result<()> {
    std::fs::create_dir_all(dir)?;
    let settings: String = settings
        .iter()
        .map(|(k, v)| format!("    <add key=\"{k}\" value=\"{v}\" />\n"))
        .collect();
    std::fs::write(
        dir.join("web.config"),
        format!(
            r#"<?xml version="1.0" encoding="utf-8"?>
<configuration>
  <appSettings>
{settings}  </appSettings>
  <system.webServer>
    <handlers>
      <add name="Python FastCGI" path="*" verb="*" modules="FastCgiModule" scriptProcessor="{script_processor}" resourceType="Unspecified" requireAccess="Script" {handler_attrs}/>
    </handlers>
  </system.webServer>
</configuration>
"#
        ),
    )
}

/// A running `sim serve`.
pub struct SimServe {
    child: Child,
    /// `(binding, url)` from the mapping lines.
    pub urls: Vec<(String, String)>,
    log: Arc<Mutex<String>>,
}

impl SimServe {
    /// Starts `sim serve ROOT EXTRA…` and waits for `bindings` mapping lines.
    pub fn start(root: &Path, extra: &[&str], bindings: usize) -> io::Result<SimServe> {
        let mut child = Command::new(python())
            .args(["-m", "iiswsgi", "sim", "serve"])
            .arg(root)
            .args(extra)
            .env_remove("IISWSGI_SIM_ROOT")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()?;
        let log = Arc::new(Mutex::new(String::new()));
        if let Some(err) = child.stderr.take() {
            let log = Arc::clone(&log);
            std::thread::spawn(move || {
                for line in BufReader::new(err).lines().map_while(Result::ok) {
                    let mut l = log
                        .lock()
                        .unwrap_or_else(std::sync::PoisonError::into_inner);
                    l.push_str(&line);
                    l.push('\n');
                }
            });
        }
        let mut urls = Vec::new();
        let mut guard = SimServe {
            child,
            urls: Vec::new(),
            log,
        };
        let out = guard
            .child
            .stdout
            .take()
            .ok_or_else(|| io::Error::other("no stdout"))?;
        let mut lines = BufReader::new(out).lines();
        while urls.len() < bindings {
            let Some(Ok(line)) = lines.next() else {
                return Err(io::Error::other(format!(
                    "sim serve ended early:\n{}",
                    guard.log()
                )));
            };
            if let Some((left, url)) = line.split_once("  ->  ") {
                let binding = left.rsplit("  ").next().unwrap_or_default().to_owned();
                urls.push((binding, url.trim().trim_end_matches('/').to_owned()));
            }
        }
        std::thread::spawn(move || for _ in lines {});
        guard.urls = urls;
        Ok(guard)
    }

    /// The URL of the first binding whose label starts with `prefix` (`http/`, `https/`).
    pub fn url(&self, prefix: &str) -> &str {
        self.urls
            .iter()
            .find(|(b, _)| b.starts_with(prefix))
            .map_or("", |(_, u)| u.as_str())
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// What `sim serve` logged so far.
    pub fn log(&self) -> String {
        self.log
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// Waits up to `limit` for `sim serve` to exit by itself (`--once`); its
    /// exit status, or `None` if it still runs.
    pub fn wait(&mut self, limit: Duration) -> Option<std::process::ExitStatus> {
        let start = Instant::now();
        while start.elapsed() < limit {
            if let Ok(Some(s)) = self.child.try_wait() {
                return Some(s);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }

    /// SIGTERM, then wait up to `limit` (then kill); the exit status.
    pub fn stop(&mut self, limit: Duration) -> Option<std::process::ExitStatus> {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let start = Instant::now();
        while start.elapsed() < limit {
            if let Ok(Some(s)) = self.child.try_wait() {
                return Some(s);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        None
    }
}

impl Drop for SimServe {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            self.stop(Duration::from_secs(15));
        }
    }
}

/// The descendants of `pid` (Linux /proc), children first.
pub fn descendants(pid: u32) -> Vec<u32> {
    let mut out = Vec::new();
    let mut todo = vec![pid];
    while let Some(p) = todo.pop() {
        for c in children(p) {
            out.push(c);
            todo.push(c);
        }
    }
    out
}

/// Reads a file to a string, empty when absent.
pub fn read(path: &Path) -> String {
    let mut s = String::new();
    if let Ok(mut f) = std::fs::File::open(path) {
        let _ = f.read_to_string(&mut s);
    }
    s
}

/// The host folder of a Windows path in a machine made by `sim new`.
pub fn host(root: &Path, windows: &str) -> PathBuf {
    let rel = windows.trim_start_matches("C:\\").replace('\\', "/");
    root.join("C").join(rel)
}

/// The children of `pid`, from every thread (tokio starts processes from
/// its worker threads).
fn children(pid: u32) -> Vec<u32> {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return Vec::new();
    };
    tasks
        .flatten()
        .flat_map(|t| {
            std::fs::read_to_string(t.path().join("children"))
                .unwrap_or_default()
                .split_whitespace()
                .filter_map(|p| p.parse().ok())
                .collect::<Vec<u32>>()
        })
        .collect()
}

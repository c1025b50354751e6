//! One test context and one snapshot macro for every CLI and simulator
//! transcript (uv's `TestContext` and `uv_snapshot!` are the model): the
//! command runs in a fresh temporary folder, and its transcript (status,
//! stdout, stderr) is snapshotted with the machine-specific parts (that
//! folder, the repository, timings) filtered out.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::{python, repo_root};

/// A temporary folder to run commands in, and the filters for their output.
pub struct TestContext {
    pub temp: tempfile::TempDir,
    filters: Vec<(String, String)>,
}

impl TestContext {
    /// A new context; panics if the temporary folder cannot be made (tests only).
    pub fn new() -> Self {
        let temp = tempfile::Builder::new()
            .prefix("iiswsgi-test-")
            .tempdir()
            .unwrap_or_else(|e| panic!("cannot make a temporary folder: {e}"));
        let mut ctx = TestContext {
            temp,
            filters: Vec::new(),
        };
        let dir = ctx.temp.path().to_path_buf();
        ctx.add_path_filter(&dir, "[TEMP]");
        ctx.add_path_filter(&repo_root(), "[REPO]");
        ctx.filters
            .push((r"\b\d+(\.\d+)?\s?(ms|s)\b".into(), "[TIME]".into()));
        ctx.filters
            .push((r"127\.0\.0\.1:\d+".into(), "127.0.0.1:[PORT]".into()));
        // pip's own progress inside `iiswsgi install` names whatever the
        // package index serves today.
        ctx.filters
            .push((r"(?m)^.*iiswsgi install:   .*\n".into(), String::new()));
        ctx.filters.push((
            r"\d{4}-\d\d-\d\dT\d\d\.\d\d\.\d\d".into(),
            "[TIMESTAMP]".into(),
        ));
        ctx
    }

    /// The temporary folder.
    pub fn dir(&self) -> &Path {
        self.temp.path()
    }

    /// A path inside the temporary folder.
    pub fn path(&self, rel: &str) -> PathBuf {
        self.temp.path().join(rel)
    }

    /// Replaces `path` (as written, and canonicalised) by `name` in transcripts.
    pub fn add_path_filter(&mut self, path: &Path, name: &str) {
        let mut forms = vec![path.display().to_string()];
        if let Ok(c) = path.canonicalize() {
            forms.push(c.display().to_string());
        }
        for f in forms {
            if !f.is_empty() {
                self.filters.insert(0, (regex_escape(&f), name.to_owned()));
            }
        }
    }

    /// Adds a regex filter.
    #[must_use]
    pub fn with_filter(mut self, regex: &str, replacement: &str) -> Self {
        self.filters
            .push((regex.to_owned(), replacement.to_owned()));
        self
    }

    /// The filters, in the form `insta::with_settings!` takes.
    pub fn filters(&self) -> Vec<(&str, &str)> {
        self.filters
            .iter()
            .map(|(a, b)| (a.as_str(), b.as_str()))
            .collect()
    }

    /// `python -m iiswsgi ARGS`, run in the temporary folder with a fixed
    /// `SOURCE_DATE_EPOCH`.
    pub fn iiswsgi(&self, args: &[&str]) -> Command {
        let mut c = Command::new(python());
        c.args(["-m", "iiswsgi"])
            .args(args)
            .current_dir(self.dir())
            .env("SOURCE_DATE_EPOCH", "1700000000")
            // iiswsgi's own wheel, for the virtualenvs `iiswsgi install` makes.
            .env("PIP_FIND_LINKS", repo_root().join("target/wheels"))
            .env("PIP_DISABLE_PIP_VERSION_CHECK", "1")
            .env_remove("IISWSGI_BACKEND")
            .env_remove("IISWSGI_SIM_ROOT");
        c
    }
}

impl Default for TestContext {
    fn default() -> Self {
        Self::new()
    }
}

fn regex_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if "\\.+*?()|[]{}^$#&-~".contains(c) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// Runs `cmd` and returns its transcript: success, exit code, stdout, stderr.
pub fn transcript(cmd: &mut Command) -> String {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    format!(
        "success: {}\nexit_code: {}\n----- stdout -----\n{}\n----- stderr -----\n{}",
        out.status.success(),
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).trim_end(),
        String::from_utf8_lossy(&out.stderr).trim_end(),
    )
}

/// Snapshots the transcript of a command with the context's filters:
/// `iiswsgi_snapshot!(ctx.filters(), ctx.iiswsgi(&["package"]), @"…")`.
#[macro_export]
macro_rules! iiswsgi_snapshot {
    ($filters:expr, $cmd:expr, @$snapshot:literal) => {{
        let mut cmd = $cmd;
        let t = $crate::context::transcript(&mut cmd);
        ::insta::with_settings!({ filters => $filters }, {
            ::insta::assert_snapshot!(t, @$snapshot);
        });
    }};
    ($filters:expr, $cmd:expr) => {{
        let mut cmd = $cmd;
        let t = $crate::context::transcript(&mut cmd);
        ::insta::with_settings!({ filters => $filters }, {
            ::insta::assert_snapshot!(t);
        });
    }};
}

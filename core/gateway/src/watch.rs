//! Restart on change, as wfastcgi's `WSGI_RESTART_FILE_REGEX` defines it: a
//! changed file under the application's directory whose relative path matches
//! the pattern (Python `re.match`, so anchored at the start) stops the process
//! after the request in flight; IIS starts a fresh one.

use std::path::{Path, PathBuf};

use notify::{EventKind, RecursiveMode, Watcher};
use regex::Regex;

/// wfastcgi's default pattern.
pub const DEFAULT_RESTART_REGEX: &str = r".*((\.py)|(\.config))$";

#[derive(Debug, thiserror::Error)]
pub enum WatchError {
    #[error("WSGI_RESTART_FILE_REGEX {value:?} is not a valid regular expression: {error}")]
    BadRegex { value: String, error: String },
    #[error("cannot watch {path} for changes: {error}")]
    Watch { path: PathBuf, error: String },
}

/// Compiles a wfastcgi pattern with `re.match` semantics.
pub fn compile(pattern: &str) -> Result<Regex, WatchError> {
    Regex::new(&format!("^(?:{pattern})")).map_err(|e| WatchError::BadRegex {
        value: pattern.into(),
        error: e.to_string(),
    })
}

/// Watches `dir` recursively; `on_change` gets the relative path of the first
/// matching change.
pub fn start(
    dir: &Path,
    pattern: &str,
    on_change: impl Fn(String) + Send + 'static,
) -> Result<notify::RecommendedWatcher, WatchError> {
    let re = compile(pattern)?;
    let root = dir.to_path_buf();
    let mut watcher = notify::recommended_watcher(move |res: notify::Result<notify::Event>| {
        let Ok(event) = res else { return };
        let relevant = match event.kind {
            EventKind::Create(_) | EventKind::Remove(_) => true,
            EventKind::Modify(notify::event::ModifyKind::Metadata(_)) => false,
            EventKind::Modify(_) => true,
            _ => false,
        };
        if !relevant {
            return;
        }
        for path in &event.paths {
            let rel = path.strip_prefix(&root).unwrap_or(path);
            let rel = rel.to_string_lossy();
            if re.is_match(&rel) {
                on_change(rel.into_owned());
                return;
            }
        }
    })
    .map_err(|e| WatchError::Watch {
        path: dir.to_path_buf(),
        error: e.to_string(),
    })?;
    watcher
        .watch(dir, RecursiveMode::Recursive)
        .map_err(|e| WatchError::Watch {
            path: dir.to_path_buf(),
            error: e.to_string(),
        })?;
    Ok(watcher)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_pattern_is_re_match() {
        let re = compile(DEFAULT_RESTART_REGEX).unwrap();
        assert!(re.is_match("app.py"));
        assert!(re.is_match("pkg\\web.config"));
        assert!(!re.is_match("app.pyc"));
        assert!(!re.is_match("static/site.css"));
        let re = compile(r"static").unwrap();
        assert!(re.is_match("static/x.css"));
        assert!(
            !re.is_match("a/static/x.css"),
            "anchored at the start like re.match"
        );
        assert!(compile("(").is_err());
    }
}

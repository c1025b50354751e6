//! The walk over the project's files that the selection starts from.
//!
//! Only what resolves inside the project is walked: a symlink whose target
//! (resolved) lies inside the project is followed, as a file or a folder; one
//! that points outside, into a version-control folder or the dist folder, at a
//! folder that contains it, or nowhere is left out with a warning naming it.
//! The dist folder is recognised by its resolved path, however it was spelled.

use std::path::{Component, Path, PathBuf};

use crate::error::DeployError;

/// Version-control folders: never walked, never reached through a symlink.
pub const VCS: [&str; 5] = [".git", ".hg", ".svn", ".bzr", "_darcs"];

/// A file of the project.
#[derive(Debug, Clone)]
pub struct Found {
    /// `/`-separated path from the project root, names as they are.
    pub rel: String,
    /// Where to read it (a symlink's resolved target).
    pub path: PathBuf,
    /// Under a folder the defaults leave out (`build/`, a virtualenv…).
    pub default_skipped: bool,
    /// False when a name on the way is not UTF-8 (`rel` is then lossy).
    pub utf8: bool,
}

/// The files of the project, sorted by `rel`, and warnings about what was left out.
pub struct Walk {
    pub files: Vec<Found>,
    pub warnings: Vec<String>,
}

pub fn is_venv(dir: &Path) -> bool {
    dir.join("pyvenv.cfg").is_file()
}

/// The resolved form of `path`, which need not exist: its longest existing
/// ancestor resolved, then the rest with `.` and `..` applied.
pub fn resolve_lenient(path: &Path) -> Result<PathBuf, DeployError> {
    let abs = std::path::absolute(path).map_err(|e| DeployError::read(path, e))?;
    let mut base = abs.as_path();
    let mut rest = Vec::new();
    let mut resolved = loop {
        match base.canonicalize() {
            Ok(c) => break c,
            Err(_) => match (base.parent(), base.file_name()) {
                (Some(parent), Some(name)) => {
                    rest.push(name.to_os_string());
                    base = parent;
                }
                // `..` as the last component, or the root: resolve lexically.
                _ => break lexical(base),
            },
        }
    };
    for name in rest.iter().rev() {
        match Path::new(name).components().next() {
            Some(Component::ParentDir) => {
                resolved.pop();
            }
            Some(Component::CurDir) => {}
            _ => resolved.push(name),
        }
    }
    Ok(resolved)
}

fn lexical(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            Component::ParentDir => {
                out.pop();
            }
            Component::CurDir => {}
            other => out.push(other),
        }
    }
    out
}

/// A folder still to walk.
struct Dir {
    rel: String,
    /// Where it is (possibly through a symlink) and what it resolves to.
    path: PathBuf,
    /// The resolved folders from the root down to this one.
    chain: Vec<PathBuf>,
    default_skipped: bool,
    /// Whether every name from the root down to it is UTF-8.
    utf8: bool,
}

/// Where the walk must not go, and what the defaults leave out.
struct Rules<'a> {
    root: &'a Path,
    dist: Option<&'a Path>,
    default_skip: &'a dyn Fn(&str, &Path) -> bool,
}

impl Rules<'_> {
    /// Why a resolved symlink target must not be followed, if it must not.
    fn refuse(&self, target: &Path, chain: &[PathBuf]) -> Option<&'static str> {
        let Ok(inside) = target.strip_prefix(self.root) else {
            return Some("points outside the project");
        };
        if inside
            .components()
            .any(|c| VCS.iter().any(|v| c.as_os_str() == *v))
        {
            return Some("points into a version-control folder");
        }
        if self.dist.is_some_and(|d| target.starts_with(d)) {
            return Some("points into the dist folder");
        }
        if chain.iter().any(|c| c == target) {
            return Some("points at a folder that contains it");
        }
        None
    }

    /// The resolved target of the symlink `link` and whether it is a folder,
    /// or the warning saying why it is left out.
    fn follow(&self, link: &Path, chain: &[PathBuf]) -> Result<(PathBuf, bool), String> {
        let resolved = link.canonicalize().and_then(|t| {
            let meta = std::fs::metadata(&t)?;
            Ok((t, meta.is_dir()))
        });
        let Ok((target, is_dir)) = resolved else {
            return Err(format!("{} is a broken symlink: left out", link.display()));
        };
        match self.refuse(&target, chain) {
            Some(why) => Err(format!(
                "{} is a symlink that {why} ({}): left out",
                link.display(),
                target.display()
            )),
            None => Ok((target, is_dir)),
        }
    }
}

/// Every file under `root` but version-control folders, `__pycache__`,
/// virtualenvs below the root and the dist folder (`dist`, resolved).
/// `default_skip(rel, path)` marks folders whose files only an explicit
/// include adds.
pub fn walk(
    root: &Path,
    dist: Option<&Path>,
    default_skip: &dyn Fn(&str, &Path) -> bool,
) -> Result<Walk, DeployError> {
    let canon_root = root
        .canonicalize()
        .map_err(|e| DeployError::read(root, e))?;
    let rules = Rules {
        root: &canon_root,
        dist,
        default_skip,
    };
    let mut files = Vec::new();
    let mut warnings = Vec::new();
    let mut stack = vec![Dir {
        rel: String::new(),
        path: root.to_path_buf(),
        chain: vec![canon_root.clone()],
        default_skipped: false,
        utf8: true,
    }];
    while let Some(dir) = stack.pop() {
        let entries = std::fs::read_dir(&dir.path).map_err(|e| DeployError::read(&dir.path, e))?;
        for entry in entries {
            let entry = entry.map_err(|e| DeployError::read(&dir.path, e))?;
            let os_name = entry.file_name();
            let name = os_name.to_string_lossy();
            let rel = if dir.rel.is_empty() {
                name.to_string()
            } else {
                format!("{}/{name}", dir.rel)
            };
            let path = entry.path();
            let ft = entry.file_type().map_err(|e| DeployError::read(&path, e))?;
            let (target, is_dir) = if ft.is_symlink() {
                match rules.follow(&path, &dir.chain) {
                    Ok(found) => found,
                    Err(warning) => {
                        warnings.push(warning);
                        continue;
                    }
                }
            } else if ft.is_dir() || ft.is_file() {
                let last = dir.chain.last().cloned().unwrap_or_default();
                (last.join(&os_name), ft.is_dir())
            } else {
                continue;
            };
            let utf8 = dir.utf8 && os_name.to_str().is_some();
            if is_dir {
                if VCS.contains(&name.as_ref())
                    || name == "__pycache__"
                    || is_venv(&path)
                    || dist.is_some_and(|d| d == target)
                {
                    continue;
                }
                let mut chain = dir.chain.clone();
                chain.push(target);
                stack.push(Dir {
                    default_skipped: dir.default_skipped || (rules.default_skip)(&rel, &path),
                    rel,
                    path,
                    chain,
                    utf8,
                });
            } else {
                files.push(Found {
                    rel,
                    path: target,
                    default_skipped: dir.default_skipped,
                    utf8,
                });
            }
        }
    }
    files.sort_by(|a, b| a.rel.cmp(&b.rel));
    warnings.sort();
    Ok(Walk { files, warnings })
}

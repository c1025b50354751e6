//! Which files of the project go into the package.
//!
//! Defaults: every file, except version-control folders, build and dist
//! output, virtualenvs, `__pycache__`, `*.pyc`/`*.pyo`, and the files the build
//! compiles or places at the zip root (`Manifest.xml.in`, `Manifest.xml`,
//! `Parameters.xml`, `iis_install.stamp.in` at the project root). Then
//! `MANIFEST.in` (when present) adds and removes with its usual directives,
//! then `[tool.iiswsgi] include` adds and `exclude` removes. A glob without `/`
//! matches a file name at any depth; with `/`, the path from the project root
//! (`**` crosses folders).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use globset::{Glob, GlobBuilder, GlobMatcher};

use crate::error::{line_of, read_text, DeployError};

const VCS: [&str; 5] = [".git", ".hg", ".svn", ".bzr", "_darcs"];
const ROOT_EXCLUDES: [&str; 5] = [
    "Manifest.xml.in",
    "Manifest.xml",
    "Parameters.xml",
    "iis_install.stamp.in",
    "MANIFEST",
];

fn is_venv(dir: &Path) -> bool {
    dir.join("pyvenv.cfg").is_file()
}

/// Every file under `root` (relative, `/`-separated), skipping VCS folders.
fn walk(root: &Path, skip_dirs: &dyn Fn(&str, &Path) -> bool) -> Result<Vec<String>, DeployError> {
    let mut out = Vec::new();
    let mut stack = vec![PathBuf::new()];
    while let Some(rel) = stack.pop() {
        let dir = root.join(&rel);
        let entries = std::fs::read_dir(&dir).map_err(|e| DeployError::read(&dir, e))?;
        for entry in entries {
            let entry = entry.map_err(|e| DeployError::read(&dir, e))?;
            let name = entry.file_name().to_string_lossy().into_owned();
            let rel_path = rel.join(&name);
            let rel_str = rel_path.to_string_lossy().replace('\\', "/");
            let ft = entry
                .file_type()
                .map_err(|e| DeployError::read(&entry.path(), e))?;
            if ft.is_dir() {
                if VCS.contains(&name.as_str()) || skip_dirs(&rel_str, &entry.path()) {
                    continue;
                }
                stack.push(rel_path);
            } else if ft.is_file() {
                out.push(rel_str);
            }
        }
    }
    out.sort();
    Ok(out)
}

fn default_skip_dir(rel: &str, path: &Path, dist: Option<&str>) -> bool {
    let name = rel.rsplit('/').next().unwrap_or(rel);
    name == "__pycache__"
        || ((rel == "build" || rel == "dist") && !rel.contains('/'))
        || name.ends_with(".egg-info")
        || is_venv(path)
        || dist.is_some_and(|d| d == rel)
}

fn default_keep(rel: &str) -> bool {
    !(rel.ends_with(".pyc") || rel.ends_with(".pyo") || ROOT_EXCLUDES.contains(&rel))
}

/// A glob with this module's rule for patterns without `/`.
struct Pattern {
    matcher: GlobMatcher,
    basename: bool,
}

impl Pattern {
    fn new(p: &str) -> Result<Pattern, globset::Error> {
        let basename = !p.contains('/');
        let matcher = GlobBuilder::new(p)
            .literal_separator(true)
            .build()?
            .compile_matcher();
        Ok(Pattern { matcher, basename })
    }

    fn is_match(&self, rel: &str) -> bool {
        if self.basename {
            self.matcher.is_match(rel.rsplit('/').next().unwrap_or(rel))
        } else {
            self.matcher.is_match(rel)
        }
    }
}

/// The files to package, relative to the project root, sorted.
pub fn select(
    root: &Path,
    include: &[String],
    exclude: &[String],
    dist_dir: Option<&Path>,
) -> Result<Vec<String>, DeployError> {
    let abs_root = std::path::absolute(root).unwrap_or_else(|_| root.to_path_buf());
    let abs_dist = dist_dir.map(|d| std::path::absolute(d).unwrap_or_else(|_| d.to_path_buf()));
    let dist_rel = abs_dist
        .as_deref()
        .and_then(|d| d.strip_prefix(&abs_root).ok())
        .map(|d| d.to_string_lossy().replace('\\', "/"))
        .filter(|d| !d.is_empty());
    let dist = dist_rel.as_deref();
    let all = walk(root, &|rel, path| {
        (is_venv(path) && !rel.is_empty())
            || dist.is_some_and(|d| d == rel)
            || rel.ends_with("__pycache__")
    })?;
    let defaults = walk(root, &|rel, path| default_skip_dir(rel, path, dist))?;
    let mut set: BTreeSet<String> = defaults.into_iter().filter(|r| default_keep(r)).collect();

    let manifest_in = root.join("MANIFEST.in");
    if manifest_in.is_file() {
        apply_manifest_in(&manifest_in, &all, &mut set)?;
    }
    let pyproject = root.join("pyproject.toml");
    for (list, add) in [(include, true), (exclude, false)] {
        for p in list {
            let pat = Pattern::new(p).map_err(|e| {
                DeployError::file(
                    &pyproject,
                    format!(
                        "[tool.iiswsgi] {} glob {p:?} is invalid: {e}",
                        if add { "include" } else { "exclude" }
                    ),
                    "fix the glob",
                )
            })?;
            if add {
                set.extend(all.iter().filter(|r| pat.is_match(r)).cloned());
            } else {
                set.retain(|r| !pat.is_match(r));
            }
        }
    }
    Ok(set.into_iter().collect())
}

fn glob_in(dir: &str, pat: &str) -> Result<GlobMatcher, globset::Error> {
    let full = if dir.is_empty() {
        format!("**/{pat}")
    } else {
        format!("{}/**/{pat}", dir.trim_end_matches('/'))
    };
    Ok(Glob::new(&full)?.compile_matcher())
}

/// The directives of distutils' `MANIFEST.in`.
fn apply_manifest_in(
    file: &Path,
    all: &[String],
    set: &mut BTreeSet<String>,
) -> Result<(), DeployError> {
    let text = read_text(file)?;
    let mut offset = 0;
    for raw in text.split_inclusive('\n') {
        let line_no = line_of(&text, offset);
        offset += raw.len();
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let mut words = line.split_whitespace();
        let directive = words.next().unwrap_or_default();
        let args: Vec<&str> = words.collect();
        let bad = |why: &str| {
            DeployError::at(file, line_no, format!("{directive}: {why}"), "see the MANIFEST.in directives: include, exclude, recursive-include, recursive-exclude, global-include, global-exclude, graft, prune")
        };
        let pats = |list: &[&str]| -> Result<Vec<GlobMatcher>, DeployError> {
            list.iter()
                .map(|p| {
                    GlobBuilder::new(p)
                        .literal_separator(true)
                        .build()
                        .map(|g| g.compile_matcher())
                        .map_err(|e| bad(&e.to_string()))
                })
                .collect()
        };
        match directive {
            "include" | "exclude" => {
                let ms = pats(&args)?;
                let hit = |r: &String| ms.iter().any(|m| m.is_match(r));
                if directive == "include" {
                    set.extend(all.iter().filter(|r| hit(r)).cloned());
                } else {
                    set.retain(|r| !hit(r));
                }
            }
            "recursive-include" | "recursive-exclude" => {
                let [dir, rest @ ..] = args.as_slice() else {
                    return Err(bad("needs a folder and patterns"));
                };
                let ms: Vec<GlobMatcher> = rest
                    .iter()
                    .map(|p| glob_in(dir, p))
                    .collect::<Result<_, _>>()
                    .map_err(|e| bad(&e.to_string()))?;
                let hit = |r: &String| ms.iter().any(|m| m.is_match(r));
                if directive == "recursive-include" {
                    set.extend(all.iter().filter(|r| hit(r)).cloned());
                } else {
                    set.retain(|r| !hit(r));
                }
            }
            "global-include" | "global-exclude" => {
                let ms: Vec<GlobMatcher> = args
                    .iter()
                    .map(|p| glob_in("", p))
                    .collect::<Result<_, _>>()
                    .map_err(|e| bad(&e.to_string()))?;
                let hit = |r: &String| ms.iter().any(|m| m.is_match(r));
                if directive == "global-include" {
                    set.extend(all.iter().filter(|r| hit(r)).cloned());
                } else {
                    set.retain(|r| !hit(r));
                }
            }
            "graft" | "prune" => {
                let [dir] = args.as_slice() else {
                    return Err(bad("needs one folder"));
                };
                let prefix = format!("{}/", dir.trim_end_matches('/'));
                if directive == "graft" {
                    set.extend(all.iter().filter(|r| r.starts_with(&prefix)).cloned());
                } else {
                    set.retain(|r| !r.starts_with(&prefix));
                }
            }
            _ => return Err(bad("unknown directive")),
        }
    }
    Ok(())
}

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
use crate::walk::{is_venv, walk, Found};
use crate::zipname::path_problem;

const ROOT_EXCLUDES: [&str; 5] = [
    "Manifest.xml.in",
    "Manifest.xml",
    "Parameters.xml",
    "iis_install.stamp.in",
    "MANIFEST",
];

fn default_skip_dir(rel: &str, path: &Path) -> bool {
    let name = rel.rsplit('/').next().unwrap_or(rel);
    name == "__pycache__"
        || rel == "build"
        || rel == "dist"
        || name.ends_with(".egg-info")
        || is_venv(path)
}

fn default_keep(rel: &str) -> bool {
    !(std::path::Path::new(rel)
        .extension()
        .is_some_and(|ext| ext.eq_ignore_ascii_case("pyc"))
        || std::path::Path::new(rel)
            .extension()
            .is_some_and(|ext| ext.eq_ignore_ascii_case("pyo"))
        || ROOT_EXCLUDES.contains(&rel))
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

/// The files to package and what to say about the selection.
pub struct Selection {
    /// `/`-separated paths from the project root, sorted, each with the file to read.
    pub files: Vec<(String, PathBuf)>,
    pub warnings: Vec<String>,
}

/// The files to package. `dist_dir` (resolved) is never walked.
pub fn select(
    root: &Path,
    include: &[String],
    exclude: &[String],
    dist_dir: Option<&Path>,
) -> Result<Selection, DeployError> {
    let walked = walk(root, dist_dir, &default_skip_dir)?;
    let mut warnings = walked.warnings;
    let all: Vec<String> = walked.files.iter().map(|f| f.rel.clone()).collect();
    let mut set: BTreeSet<String> = walked
        .files
        .iter()
        .filter(|f| !f.default_skipped && default_keep(&f.rel))
        .map(|f| f.rel.clone())
        .collect();

    let manifest_in = root.join("MANIFEST.in");
    if manifest_in.is_file() {
        apply_manifest_in(&manifest_in, &all, &mut set, &mut warnings)?;
    }
    let pyproject = root.join("pyproject.toml");
    for (list, add) in [(include, true), (exclude, false)] {
        let key = if add { "include" } else { "exclude" };
        for p in list {
            let pat = Pattern::new(p).map_err(|e| {
                DeployError::file(
                    &pyproject,
                    format!("[tool.iiswsgi] {key} glob {p:?} is invalid: {e}"),
                    "fix the glob",
                )
            })?;
            if !all.iter().any(|r| pat.is_match(r)) {
                warnings.push(format!(
                    "{}: [tool.iiswsgi] {key} glob {p:?} matches no file of the project (globs match paths from the project folder: an absolute or `..` glob never does)",
                    pyproject.display()
                ));
            }
            if add {
                set.extend(all.iter().filter(|r| pat.is_match(r)).cloned());
            } else {
                set.retain(|r| !pat.is_match(r));
            }
        }
    }
    let mut files = Vec::with_capacity(set.len());
    for found in walked.files.into_iter().filter(|f| set.contains(&f.rel)) {
        check_name(root, &found)?;
        files.push((found.rel, found.path));
    }
    Ok(Selection { files, warnings })
}

/// A selected file whose name cannot be in a Web Deploy zip is an error.
fn check_name(root: &Path, found: &Found) -> Result<(), DeployError> {
    let hint = "rename it, or leave it out of the package with [tool.iiswsgi] exclude";
    if !found.utf8 {
        return Err(DeployError::file(
            &root.join(&found.rel),
            "cannot be packed: its name is not valid UTF-8",
            hint,
        ));
    }
    match path_problem(&found.rel) {
        Some((name, why)) => Err(DeployError::file(
            &root.join(&found.rel),
            format!("cannot be packed: the name \"{name}\" has {why}"),
            hint,
        )),
        None => Ok(()),
    }
}

fn glob_in(dir: &str, pat: &str) -> Result<GlobMatcher, globset::Error> {
    let full = if dir.is_empty() {
        format!("**/{pat}")
    } else {
        format!("{}/**/{pat}", dir.trim_end_matches('/'))
    };
    Ok(Glob::new(&full)?.compile_matcher())
}

/// One directive's test of a path, and whether it adds (else removes).
type Directive = (Box<dyn Fn(&str) -> bool>, bool);

fn any_of(ms: Vec<GlobMatcher>) -> Box<dyn Fn(&str) -> bool> {
    Box::new(move |r: &str| ms.iter().any(|m| m.is_match(r)))
}

/// Parses one `MANIFEST.in` directive; `bad` words an error about it.
fn directive(
    directive: &str,
    args: &[&str],
    bad: &dyn Fn(&str) -> DeployError,
) -> Result<Directive, DeployError> {
    let globs = |list: &[&str], dir: Option<&str>| -> Result<Vec<GlobMatcher>, DeployError> {
        list.iter()
            .map(|p| match dir {
                Some(d) => glob_in(d, p),
                None => GlobBuilder::new(p)
                    .literal_separator(true)
                    .build()
                    .map(|g| g.compile_matcher()),
            })
            .collect::<Result<_, _>>()
            .map_err(|e| bad(&e.to_string()))
    };
    let add = directive.ends_with("include") || directive == "graft";
    let test = match directive {
        "include" | "exclude" => any_of(globs(args, None)?),
        "recursive-include" | "recursive-exclude" => {
            let [dir, rest @ ..] = args else {
                return Err(bad("needs a folder and patterns"));
            };
            any_of(globs(rest, Some(dir))?)
        }
        "global-include" | "global-exclude" => any_of(globs(args, Some(""))?),
        "graft" | "prune" => {
            let [dir] = args else {
                return Err(bad("needs one folder"));
            };
            let prefix = format!("{}/", dir.trim_end_matches('/'));
            Box::new(move |r: &str| r.starts_with(&prefix))
        }
        _ => return Err(bad("unknown directive")),
    };
    Ok((test, add))
}

/// The directives of distutils' `MANIFEST.in`; like distutils, a directive
/// that matches no file is warned about.
fn apply_manifest_in(
    file: &Path,
    all: &[String],
    set: &mut BTreeSet<String>,
    warnings: &mut Vec<String>,
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
        let name = words.next().unwrap_or_default();
        let args: Vec<&str> = words.collect();
        let bad = |why: &str| {
            DeployError::at(file, line_no, format!("{name}: {why}"), "see the MANIFEST.in directives: include, exclude, recursive-include, recursive-exclude, global-include, global-exclude, graft, prune")
        };
        let (test, add) = directive(name, &args, &bad)?;
        if !all.iter().any(|r| test(r)) {
            warnings.push(format!(
                "{}:{line_no}: {line:?} matches no file of the project",
                file.display()
            ));
        }
        if add {
            set.extend(all.iter().filter(|r| test(r)).cloned());
        } else {
            set.retain(|r| !test(r));
        }
    }
    Ok(())
}

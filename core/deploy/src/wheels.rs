//! `iiswsgi package --wheels`: the project's dependencies (and its build
//! requirements) downloaded as Windows wheels into `wheels/`, which the
//! package then carries, so `iiswsgi install` on an offline IIS server
//! installs with `--no-index --find-links wheels` alone.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::error::{read_text, DeployError};

/// The target's Python version: the first `PythonXY` of `[tool.iiswsgi]
/// webpi-dependencies` (what `WebPI` installs beside the package), else 3.11.
pub fn target_python_version(dir: &Path) -> String {
    let text = std::fs::read_to_string(dir.join("pyproject.toml")).unwrap_or_default();
    let table: toml::Table = toml::from_str(&text).unwrap_or_default();
    table
        .get("tool")
        .and_then(|t| t.get("iiswsgi"))
        .and_then(|t| {
            t.get("webpi-dependencies")
                .or_else(|| t.get("webpi_dependencies"))
        })
        .and_then(|v| v.as_array())
        .into_iter()
        .flatten()
        .filter_map(|v| v.as_str())
        .find_map(|id| {
            let digits = id.strip_prefix("Python")?;
            (digits.len() >= 2 && digits.chars().all(|c| c.is_ascii_digit()))
                .then(|| format!("{}.{}", &digits[..1], &digits[1..]))
        })
        .unwrap_or_else(|| "3.11".to_owned())
}

/// The requirements to download: `[project] dependencies` and `[build-system] requires`.
pub fn requirements(dir: &Path) -> Result<Vec<String>, DeployError> {
    let file = dir.join("pyproject.toml");
    let text = read_text(&file)?;
    let table: toml::Table = toml::from_str(&text)
        .map_err(|e| DeployError::file(&file, e.to_string(), "fix the TOML"))?;
    let list = |v: Option<&toml::Value>| -> Vec<String> {
        v.and_then(|v| v.as_array())
            .into_iter()
            .flatten()
            .filter_map(|x| x.as_str().map(str::to_owned))
            .collect()
    };
    let mut reqs = list(table.get("project").and_then(|p| p.get("dependencies")));
    reqs.extend(list(
        table.get("build-system").and_then(|b| b.get("requires")),
    ));
    Ok(reqs)
}

/// Downloads the wheels into `dir/wheels` with `python -m pip download`
/// for `win_amd64` and `CPython` `version`; pip's output goes to `progress`.
pub fn download(
    dir: &Path,
    python: &Path,
    version: &str,
    progress: &mut dyn FnMut(&str),
) -> Result<PathBuf, DeployError> {
    let reqs = requirements(dir)?;
    let dest = dir.join("wheels");
    std::fs::create_dir_all(&dest).map_err(|e| DeployError::write(&dest, e))?;
    progress(&format!(
        "downloading Windows wheels for CPython {version} into {}: {}",
        dest.display(),
        reqs.join(", ")
    ));
    if reqs.is_empty() {
        return Ok(dest);
    }
    let out = Command::new(python)
        .args([
            "-m",
            "pip",
            "download",
            "--disable-pip-version-check",
            "--only-binary=:all:",
            "--platform",
            "win_amd64",
            "--implementation",
            "cp",
            "--python-version",
            version,
            "--dest",
        ])
        .arg(&dest)
        .args(&reqs)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| {
            DeployError::file(
                python,
                format!("cannot run pip: {e}"),
                "pass a Python with pip",
            )
        })?;
    for l in String::from_utf8_lossy(&out.stdout)
        .lines()
        .chain(String::from_utf8_lossy(&out.stderr).lines())
    {
        if l.starts_with("Saved") || l.starts_with("ERROR") || l.starts_with("Collecting") {
            progress(&format!("  {l}"));
        }
    }
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        return Err(DeployError::file(
            &dir.join("pyproject.toml"),
            format!("pip could not download Windows wheels of the dependencies: {}", err.lines().filter(|l| l.starts_with("ERROR")).collect::<Vec<_>>().join(" ")),
            "each dependency needs a win_amd64 (or pure-Python) wheel for that Python; one that is not on the index (iiswsgi's own Windows wheel, a private package) can be put in a folder named by PIP_FIND_LINKS",
        ));
    }
    Ok(dest)
}

//! Which IIS the installer talks to, resolved in one place:
//! `--backend` > `IISWSGI_BACKEND` > auto. Auto picks the real IIS when
//! appcmd.exe exists, the simulator when `IISWSGI_SIM_ROOT` names a root (the
//! simulator sets it for every process it starts), else no IIS.

use std::fmt;
use std::path::PathBuf;

/// A backend as named on the command line or in `IISWSGI_BACKEND`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BackendKind {
    Auto,
    Windows,
    Sim,
    None,
}

impl std::str::FromStr for BackendKind {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "auto" | "" => Ok(BackendKind::Auto),
            "windows" | "iis" => Ok(BackendKind::Windows),
            "sim" | "simulator" => Ok(BackendKind::Sim),
            "none" => Ok(BackendKind::None),
            other => Err(format!(
                "unknown IIS backend {other:?}: use auto, windows, sim or none"
            )),
        }
    }
}

/// Where the choice came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    CommandLine,
    Environment,
    Auto,
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Source::CommandLine => "--backend",
            Source::Environment => "IISWSGI_BACKEND",
            Source::Auto => "auto-detection",
        })
    }
}

/// The resolved backend.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Backend {
    /// The real IIS, administered with this appcmd.exe.
    Windows { appcmd: PathBuf },
    /// The simulated IIS machine at this root.
    Sim { root: PathBuf },
    /// No IIS: the steps that need one are skipped; `reason` says why.
    None { reason: String },
}

/// A resolved backend and where the choice came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackendChoice {
    pub backend: Backend,
    pub source: Source,
}

/// A backend that was asked for but cannot be had.
#[derive(Debug, thiserror::Error)]
#[error("{source_name} asks for the {kind} IIS backend, but {why}")]
pub struct BackendError {
    pub source_name: Source,
    pub kind: &'static str,
    pub why: String,
}

impl Backend {
    /// Resolves `--backend` (`cli`), `IISWSGI_BACKEND` and auto-detection,
    /// reading the environment through `var`.
    pub fn resolve(
        cli: Option<&str>,
        var: &dyn Fn(&str) -> Option<String>,
    ) -> Result<BackendChoice, BackendError> {
        let env = var("IISWSGI_BACKEND").filter(|v| !v.trim().is_empty());
        let (text, source) = match (cli, env) {
            (Some(c), _) => (c.to_owned(), Source::CommandLine),
            (None, Some(e)) => (e, Source::Environment),
            (None, None) => ("auto".to_owned(), Source::Auto),
        };
        let kind: BackendKind = text.parse().map_err(|why| BackendError {
            source_name: source,
            kind: "unknown",
            why,
        })?;
        let sim_root = var("IISWSGI_SIM_ROOT")
            .filter(|v| !v.trim().is_empty())
            .map(PathBuf::from);
        let appcmd = super::windows::find_appcmd(var);
        let looked = || {
            super::windows::appcmd_candidates(var)
                .iter()
                .map(|p| p.display().to_string())
                .collect::<Vec<_>>()
                .join(", ")
        };
        let backend = match kind {
            BackendKind::Windows => Backend::Windows {
                appcmd: appcmd.ok_or_else(|| BackendError {
                    source_name: source,
                    kind: "windows",
                    why: format!("no appcmd.exe was found (looked at: {}); install IIS's management tools", looked()),
                })?,
            },
            BackendKind::Sim => Backend::Sim {
                root: sim_root.ok_or_else(|| BackendError {
                    source_name: source,
                    kind: "sim",
                    why: "IISWSGI_SIM_ROOT is not set; run the command through `iiswsgi sim`, or set it to a root made by `iiswsgi sim new`".into(),
                })?,
            },
            BackendKind::None => Backend::None {
                reason: format!("{source} says none"),
            },
            BackendKind::Auto => match (appcmd, sim_root) {
                (Some(appcmd), _) => Backend::Windows { appcmd },
                (None, Some(root)) => Backend::Sim { root },
                (None, None) => Backend::None {
                    reason: format!(
                        "no appcmd.exe (looked at: {}) and IISWSGI_SIM_ROOT is not set",
                        looked()
                    ),
                },
            },
        };
        Ok(BackendChoice { backend, source })
    }
}

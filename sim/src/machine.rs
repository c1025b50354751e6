//! The simulated machine: a Windows-like tree under a root folder, and
//! `sim.toml`, which says what the machine is (its user, whether it runs IIS
//! or IIS Express), its environment and its program map (Windows programs to
//! what runs them on this host).
//!
//! Stored data keeps Windows paths (config files, appcmd output); a host path
//! is made only where a host process must open a file. `C:\inetpub\wwwroot`
//! is `ROOT/C/inetpub/wwwroot`, each component matched case-insensitively as
//! NTFS does.

use std::collections::BTreeMap;
use std::path::{Component, Path, PathBuf};

use serde::{Deserialize, Serialize};

/// What can go wrong with a simulated machine.
#[derive(Debug, thiserror::Error)]
pub enum MachineError {
    #[error("{} is not a simulated IIS machine (no sim.toml); create one with `iiswsgi sim new {}`", root.display(), root.display())]
    NotARoot { root: PathBuf },
    #[error("{} already holds a simulated machine; choose an empty folder", root.display())]
    Exists { root: PathBuf },
    #[error("cannot read {}", path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot write {}", path.display())]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{}: {message}; fix the file or make a new machine with `iiswsgi sim new`", path.display())]
    BadToml { path: PathBuf, message: String },
    #[error("the program {program:?} is not in the simulated machine's program map; add a line such as\n    {suggestion}\nto the [programs] table of {}", sim_toml.display())]
    UnmappedProgram {
        program: String,
        suggestion: String,
        sim_toml: PathBuf,
    },
    #[error("{path:?} is not a Windows path the simulated machine can map (expected a drive letter, e.g. C:\\inetpub)")]
    NotWindowsPath { path: String },
    #[error("{} is outside the simulated machine {}", path.display(), root.display())]
    OutsideRoot { path: PathBuf, root: PathBuf },
}

/// The contents of `sim.toml`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SimConfig {
    pub machine: MachineInfo,
    /// The machine's environment (names compared case-insensitively).
    pub environment: BTreeMap<String, String>,
    /// Windows program (path or bare name, `%VAR%` allowed) → host command,
    /// or `builtin:appcmd` / `builtin:cmd`.
    pub programs: BTreeMap<String, String>,
}

/// The machine's identity.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MachineInfo {
    pub name: String,
    pub user: String,
    /// IIS Express instead of full IIS.
    pub iis_express: bool,
    /// The applicationHost.config, as a Windows path.
    pub apphost: String,
    /// Products the machine has, for `WebPI`'s dependency checks.
    #[serde(default)]
    pub inventory: Vec<String>,
}

/// A simulated machine rooted at a host folder.
#[derive(Debug, Clone)]
pub struct SimMachine {
    root: PathBuf,
    pub config: SimConfig,
}

pub const SIM_TOML: &str = "sim.toml";

impl SimMachine {
    /// Opens the machine at `root`.
    pub fn open(root: &Path) -> Result<SimMachine, MachineError> {
        let path = root.join(SIM_TOML);
        if !path.is_file() {
            return Err(MachineError::NotARoot {
                root: root.to_path_buf(),
            });
        }
        let text = std::fs::read_to_string(&path).map_err(|source| MachineError::Read {
            path: path.clone(),
            source,
        })?;
        let config: SimConfig = toml::from_str(&text).map_err(|e| MachineError::BadToml {
            path: path.clone(),
            message: e.to_string().trim_end().replace('\n', " "),
        })?;
        let root = std::path::absolute(root).unwrap_or_else(|_| root.to_path_buf());
        Ok(SimMachine { root, config })
    }

    /// A machine value for `root` with `config` (nothing written).
    pub fn with_config(root: &Path, config: SimConfig) -> SimMachine {
        let root = std::path::absolute(root).unwrap_or_else(|_| root.to_path_buf());
        SimMachine { root, config }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// `sim.toml`'s path.
    pub fn sim_toml(&self) -> PathBuf {
        self.root.join(SIM_TOML)
    }

    /// An environment variable of the machine (case-insensitive name).
    pub fn var(&self, name: &str) -> Option<String> {
        self.config
            .environment
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.clone())
    }

    /// Expands `%VAR%` with the machine's environment; unknown ones are kept.
    pub fn expand(&self, s: &str) -> String {
        iiswsgi_iisconfig::expand_percent(s, &|n| self.var(n))
    }

    /// The applicationHost.config as a host path.
    pub fn apphost_path(&self) -> Result<PathBuf, MachineError> {
        self.host_path(&self.config.machine.apphost)
    }

    /// A Windows path (`%VAR%` expanded) as a host path under the root; each
    /// existing component is matched case-insensitively.
    pub fn host_path(&self, windows: &str) -> Result<PathBuf, MachineError> {
        let expanded = self.expand(windows);
        let p = expanded.replace('/', "\\");
        let bytes = p.as_bytes();
        if bytes.len() < 2 || bytes[1] != b':' || !bytes[0].is_ascii_alphabetic() {
            return Err(MachineError::NotWindowsPath {
                path: windows.to_owned(),
            });
        }
        let drive = (bytes[0] as char).to_ascii_uppercase().to_string();
        let mut out = self.root.join(drive);
        for part in p[2..].split('\\').filter(|s| !s.is_empty() && *s != ".") {
            if part == ".." {
                if out != self.root.join(p[..1].to_ascii_uppercase()) {
                    out.pop();
                }
                continue;
            }
            out = match find_case_insensitive(&out, part) {
                Some(existing) => existing,
                None => out.join(part),
            };
        }
        Ok(out)
    }

    /// A host path under the root as the Windows path IIS would store.
    pub fn windows_path(&self, host: &Path) -> Result<String, MachineError> {
        let abs = std::path::absolute(host).unwrap_or_else(|_| host.to_path_buf());
        let rel = abs
            .strip_prefix(&self.root)
            .map_err(|_| MachineError::OutsideRoot {
                path: host.to_path_buf(),
                root: self.root.clone(),
            })?;
        let mut parts = rel.components().filter_map(|c| match c {
            Component::Normal(s) => Some(s.to_string_lossy().into_owned()),
            _ => None,
        });
        let drive = parts.next().ok_or_else(|| MachineError::OutsideRoot {
            path: host.to_path_buf(),
            root: self.root.clone(),
        })?;
        let rest: Vec<String> = parts.collect();
        Ok(format!("{drive}:\\{}", rest.join("\\")))
    }

    /// What runs `program` (a Windows path or a bare name) on this host.
    pub fn resolve_program(&self, program: &str) -> Result<Program, MachineError> {
        let unquoted = program.trim().trim_matches('"');
        let expanded = self.expand(unquoted);
        for (k, v) in &self.config.programs {
            let key = self.expand(k);
            if key.eq_ignore_ascii_case(&expanded) || key.eq_ignore_ascii_case(unquoted) {
                return Ok(Program::parse(v));
            }
        }
        // A virtualenv's Scripts\python.exe runs the same virtualenv's bin/python.
        let lower = expanded.to_ascii_lowercase().replace('/', "\\");
        for exe in ["\\scripts\\python.exe", "\\scripts\\pythonw.exe"] {
            if let Some(cut) = lower.strip_suffix(exe).map(str::len) {
                if let Ok(venv) = self.host_path(&expanded[..cut]) {
                    let py = venv.join("bin").join("python");
                    if py.exists() {
                        return Ok(Program::Host(py));
                    }
                }
            }
        }
        // A program that exists inside the machine and is executable here.
        if let Ok(host) = self.host_path(&expanded) {
            if is_executable(&host) {
                return Ok(Program::Host(host));
            }
        }
        Err(MachineError::UnmappedProgram {
            program: program.to_owned(),
            suggestion: format!("'{}' = \"/path/on/this/host\"", unquoted.replace('\'', "")),
            sim_toml: self.sim_toml(),
        })
    }

    /// Arguments as a host process needs them: a Windows absolute path
    /// inside an argument (`config:C:\\app\\x.ini`, `C:\\app\\x.py`) becomes
    /// the host path (a documented deviation: on Windows the process opens
    /// the Windows path itself).
    pub fn host_args(&self, args: &[String]) -> Vec<String> {
        args.iter()
            .map(|a| {
                let bytes = a.as_bytes();
                let at = (0..bytes.len().saturating_sub(2)).find(|&i| {
                    bytes[i].is_ascii_alphabetic()
                        && bytes[i + 1] == b':'
                        && matches!(bytes[i + 2], b'\\' | b'/')
                        && (i == 0 || !bytes[i - 1].is_ascii_alphanumeric())
                });
                match at.and_then(|i| Some((i, self.host_path(&a[i..]).ok()?))) {
                    Some((i, host)) => format!("{}{}", &a[..i], host.display()),
                    None => a.clone(),
                }
            })
            .collect()
    }

    /// The Windows `py` launcher's own options (`-3`, `-3.11`, `-3.11-64`)
    /// are dropped when `program` is the launcher: the program map already
    /// chose the Python.
    pub fn launcher_args(program: &str, args: &[String]) -> Vec<String> {
        let name = program
            .trim_matches('"')
            .rsplit(['\\', '/'])
            .next()
            .unwrap_or("")
            .to_ascii_lowercase();
        if name != "py" && name != "py.exe" {
            return args.to_vec();
        }
        let is_version = |a: &str| {
            a.strip_prefix('-').is_some_and(|v| {
                let v = v.trim_end_matches("-64").trim_end_matches("-32");
                !v.is_empty() && v.chars().all(|c| c.is_ascii_digit() || c == '.')
            })
        };
        let skip = args.iter().take_while(|a| is_version(a)).count();
        args[skip..].to_vec()
    }

    /// The machine's environment as a list, for processes it starts.
    pub fn environment(&self) -> Vec<(String, String)> {
        self.config
            .environment
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    }
}

/// What runs a Windows program on this host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Program {
    /// A host executable.
    Host(PathBuf),
    /// The simulator's own appcmd emulator.
    Appcmd,
    /// The simulator's cmd.exe emulation.
    Cmd,
}

impl Program {
    fn parse(v: &str) -> Program {
        match v.trim().to_ascii_lowercase().as_str() {
            "builtin:appcmd" => Program::Appcmd,
            "builtin:cmd" => Program::Cmd,
            _ => Program::Host(PathBuf::from(v.trim())),
        }
    }
}

fn is_executable(p: &Path) -> bool {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        p.metadata()
            .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
    }
    #[cfg(not(unix))]
    {
        p.is_file()
    }
}

/// The entry of `dir` named `name` in any case, with its stored name (on a
/// case-insensitive file system `dir.join(name)` exists in every case, but
/// IIS's paths keep the case the file was created with).
fn find_case_insensitive(dir: &Path, name: &str) -> Option<PathBuf> {
    let exact = dir.join(name);
    let entries = std::fs::read_dir(dir).ok()?.flatten();
    let mut folded = None;
    for e in entries {
        let stored = e.file_name();
        if stored.as_os_str() == std::ffi::OsStr::new(name) {
            return Some(exact);
        }
        if folded.is_none() && stored.to_string_lossy().eq_ignore_ascii_case(name) {
            folded = Some(e.path());
        }
    }
    folded
}

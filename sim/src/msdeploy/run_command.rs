//! The `runCommand` provider as Web Deploy runs it from a package: its
//! settings read only from `MSDeploy.MSDeployProviderOptions` (plain
//! attributes are ignored, as msdeploy ignores them); the command written to
//! a temporary `.cmd` in `%TEMP%` and run as `cmd.exe /c "<tmp>.cmd"`
//! (unless `dontUseCommandExe=true`); the `waitAttempts × waitInterval`
//! budget (5 × 1000 ms by default) with the process killed past it;
//! `successReturnCodes` (`;`-separated, hex or decimal) making any other
//! code an error, and without it a non-zero code a warning. The process
//! gets no `APPL_PHYSICAL_PATH` unless the caller opts in.

use std::time::{Duration, Instant};

use iiswsgi_deploy::format::manifest::RunCommand;

use super::batch::{self, Batch};
use super::{Emit, MsdeployError};
use crate::machine::SimMachine;

/// How the command ended, when it did not fail the sync.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ended {
    Ok,
    /// A non-zero code without `successReturnCodes`: msdeploy's warning.
    Warning(i32),
}

/// The settings that matter, from the provider-options blob.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    pub wait_attempts: u64,
    pub wait_interval_ms: u64,
    pub success_codes: Option<Vec<i64>>,
    pub dont_use_command_exe: bool,
}

/// Parses `0x0;0x2;3`.
pub fn parse_codes(s: &str) -> Result<Vec<i64>, String> {
    s.split(';')
        .map(str::trim)
        .filter(|c| !c.is_empty())
        .map(|c| {
            let parsed = match c.strip_prefix("0x").or_else(|| c.strip_prefix("0X")) {
                Some(h) => i64::from_str_radix(h, 16),
                None => c.parse::<i64>(),
            };
            parsed.map_err(|_| format!("{c:?} is not a return code (hex 0x… or decimal)"))
        })
        .collect()
}

impl Settings {
    pub fn of(rc: &RunCommand) -> Result<Settings, MsdeployError> {
        let mut s = Settings {
            wait_attempts: 5,
            wait_interval_ms: 1000,
            success_codes: None,
            dont_use_command_exe: false,
        };
        let bad = |name: &str, v: &str, why: String| MsdeployError::RunCommandSetting {
            name: name.to_owned(),
            value: v.to_owned(),
            why,
        };
        let settings = rc
            .options
            .as_ref()
            .map(|o| o.settings.as_slice())
            .unwrap_or_default();
        for (k, v) in settings {
            let num = || {
                v.trim()
                    .parse::<u64>()
                    .map_err(|e| bad(k, v, e.to_string()))
            };
            match k.to_ascii_lowercase().as_str() {
                "waitattempts" => s.wait_attempts = num()?,
                "waitinterval" => s.wait_interval_ms = num()?,
                "successreturncodes" => {
                    s.success_codes = Some(parse_codes(v).map_err(|why| bad(k, v, why))?);
                }
                "dontusecommandexe" => {
                    s.dont_use_command_exe = v.trim().eq_ignore_ascii_case("true");
                }
                _ => {}
            }
        }
        Ok(s)
    }

    pub fn budget(&self) -> Duration {
        Duration::from_millis(self.wait_attempts.saturating_mul(self.wait_interval_ms))
    }
}

/// msdeploy's `0x…` rendering of an exit code.
#[allow(
    clippy::cast_sign_loss,
    reason = "Windows prints an exit code's bits as unsigned hex"
)]
pub fn hex_code(code: i32) -> String {
    format!("0x{:X}", code as u32)
}

/// Runs one runCommand on `machine`; its output goes to `emit`.
#[allow(
    clippy::cast_sign_loss,
    reason = "Windows exit codes are 32-bit: the same bits compared as unsigned"
)]
pub fn run(
    machine: &SimMachine,
    rc: &RunCommand,
    appl_physical_path: Option<&str>,
    emit: &mut Emit<'_>,
) -> Result<Ended, MsdeployError> {
    let settings = Settings::of(rc)?;
    if rc.options.is_none() && !rc.settings.is_empty() {
        let names: Vec<&str> = rc.settings.iter().map(|(k, _)| k.as_str()).collect();
        emit.verbose(&format!(
            "runCommand settings written as plain attributes are ignored ({}): Web Deploy reads them only from MSDeploy.MSDeployProviderOptions",
            names.join(", ")
        ));
    }
    let cwd = machine.var("windir").map_or_else(
        || "C:\\Windows\\system32".to_owned(),
        |w| format!("{w}\\system32"),
    );
    // A budget past what an Instant holds is as good as none.
    let now = Instant::now();
    let deadline = now
        .checked_add(settings.budget())
        .unwrap_or_else(|| now + Duration::from_hours(8760));
    let mut session = Batch::new(machine, &cwd, deadline);
    if let Some(p) = appl_physical_path {
        session
            .process_extra
            .push(("APPL_PHYSICAL_PATH".into(), p.to_owned()));
    }
    let (temp_windows, temp_host) = batch::temp_dir(machine).map_err(MsdeployError::Machine)?;
    let (process, command_line, result) = if settings.dont_use_command_exe {
        let r = session.run_direct(&rc.path, &mut |l, err| emit.process_line(l, err));
        let (program, args) = crate::model::cmd::split_command(&rc.path);
        (program, args, r)
    } else {
        let name = batch::temp_cmd_name();
        let host = temp_host.join(&name);
        let windows = format!("{temp_windows}\\{name}");
        std::fs::write(&host, format!("{}\r\n", rc.path)).map_err(|source| {
            MsdeployError::Write {
                path: host.clone(),
                source,
            }
        })?;
        let text = std::fs::read_to_string(&host).map_err(|source| MsdeployError::Read {
            path: host.clone(),
            source,
        })?;
        let r = session.run_file(&text, &mut |l, err| emit.process_line(l, err));
        let _ = std::fs::remove_file(&host);
        let comspec = machine
            .var("ComSpec")
            .unwrap_or_else(|| "C:\\Windows\\system32\\cmd.exe".into());
        (comspec, format!("/c \"{windows}\""), r)
    };
    let what = format!("The process '{process}' (command line '{command_line}')");
    let Ok(code) = result else {
        emit.warning(&format!(
            "{what} is still running. Attempting to terminate it."
        ));
        return Err(MsdeployError::RunCommandTimeout {
            what,
            attempts: settings.wait_attempts,
            interval_ms: settings.wait_interval_ms,
        });
    };
    let exited = format!("{what} exited with code '{}'.", hex_code(code));
    match &settings.success_codes {
        Some(ok) if ok.contains(&i64::from(code)) || ok.contains(&i64::from(code as u32)) => {
            Ok(Ended::Ok)
        }
        Some(_) => Err(MsdeployError::RunCommandFailed { message: exited }),
        None if code == 0 => Ok(Ended::Ok),
        None => {
            emit.warning(&exited);
            Ok(Ended::Warning(code))
        }
    }
}

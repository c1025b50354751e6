//! The simulator's `cmd.exe /c FILE.cmd`: runs a batch file line by line
//! ([`crate::model::cmd`] reads each line), with the builtins a one-line
//! command needs (`echo`, `set`, `exit`, `rem`, `cd`, `call`) and every
//! other program through the machine's program map: host programs with the
//! simulated process environment, appcmd in process, `cmd /c` recursively.
//! Everything stops at the deadline: the running process is killed.

use std::io::BufRead as _;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Instant;

use crate::machine::{Program, SimMachine};
use crate::model::cmd::{expand, split_chain, split_command, Join};
use crate::model::cmdline::split_windows;

/// A line of output: from stdout (`false`) or stderr (`true`).
pub type Sink<'a> = &'a mut dyn FnMut(&str, bool);

/// The deadline passed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimedOut;

/// A cmd.exe session: its environment, folder and deadline.
pub struct Batch<'m> {
    pub machine: &'m SimMachine,
    /// The session's variables (the machine's, then `set` ones).
    pub env: Vec<(String, String)>,
    /// Extra variables for started processes (e.g. `APPL_PHYSICAL_PATH`).
    pub process_extra: Vec<(String, String)>,
    /// The current folder, as a Windows path.
    pub cwd: String,
    pub deadline: Instant,
    echo: bool,
    exit: Option<i32>,
}

fn var<'e>(env: &'e [(String, String)], name: &str) -> Option<&'e str> {
    env.iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

impl<'m> Batch<'m> {
    pub fn new(machine: &'m SimMachine, cwd: &str, deadline: Instant) -> Batch<'m> {
        Batch {
            machine,
            env: machine.environment(),
            process_extra: Vec::new(),
            cwd: cwd.to_owned(),
            deadline,
            echo: true,
            exit: None,
        }
    }

    /// Runs a batch file's text; its exit code.
    pub fn run_file(&mut self, text: &str, out: Sink<'_>) -> Result<i32, TimedOut> {
        let mut code = 0;
        for raw in text.lines() {
            code = self.run_line(raw, out)?;
            if let Some(c) = self.exit.take() {
                return Ok(c);
            }
        }
        Ok(code)
    }

    /// Runs one line (expanded, then its `&&`/`||`/`&` chain).
    pub fn run_line(&mut self, raw: &str, out: Sink<'_>) -> Result<i32, TimedOut> {
        let env = self.env.clone();
        let line = expand(raw, &|n| var(&env, n).map(str::to_owned));
        let trimmed = line.trim();
        if trimmed.is_empty() || trimmed.starts_with("::") {
            return Ok(0);
        }
        if self.echo && !trimmed.starts_with('@') {
            out("", false);
            out(&format!("{}>{}", self.cwd, trimmed), false);
        }
        let chain = match split_chain(trimmed) {
            Ok(c) => c,
            Err(e) => {
                out(&e.to_string(), true);
                return Ok(1);
            }
        };
        let mut code = 0;
        for (join, cmd) in chain {
            let run = match join {
                Join::Always => true,
                Join::IfOk => code == 0,
                Join::IfFailed => code != 0,
            };
            if run {
                code = self.run_simple(&cmd, out)?;
                if self.exit.is_some() {
                    break;
                }
            }
        }
        Ok(code)
    }

    /// Runs a program and its command line as they are (no cmd.exe:
    /// runCommand's `dontUseCommandExe=true`).
    pub fn run_direct(&mut self, line: &str, out: Sink<'_>) -> Result<i32, TimedOut> {
        let (program, rest) = split_command(line);
        self.run_program(&program, &rest, out)
    }

    fn builtin(&mut self, name: &str, rest: &str, out: Sink<'_>) -> Option<i32> {
        match name.to_ascii_lowercase().as_str() {
            "rem" => Some(0),
            "echo" | "echo." => {
                match rest.trim().to_ascii_lowercase().as_str() {
                    "off" => self.echo = false,
                    "on" => self.echo = true,
                    _ => out(rest, false),
                }
                Some(0)
            }
            "set" => {
                let rest = rest.trim().trim_matches('"');
                if let Some((k, v)) = rest.split_once('=') {
                    self.env.retain(|(n, _)| !n.eq_ignore_ascii_case(k));
                    if !v.is_empty() {
                        self.env.push((k.to_owned(), v.to_owned()));
                    }
                }
                Some(0)
            }
            "exit" => {
                let words: Vec<&str> = rest
                    .split_whitespace()
                    .filter(|w| !w.eq_ignore_ascii_case("/b"))
                    .collect();
                let c = words.first().and_then(|w| w.parse().ok()).unwrap_or(0);
                self.exit = Some(c);
                Some(c)
            }
            "cd" | "chdir" => {
                let target = rest
                    .trim()
                    .trim_start_matches("/d")
                    .trim()
                    .trim_matches('"');
                if !target.is_empty() {
                    target.clone_into(&mut self.cwd);
                }
                Some(0)
            }
            _ => None,
        }
    }

    fn run_simple(&mut self, cmd: &str, out: Sink<'_>) -> Result<i32, TimedOut> {
        let (program, rest) = split_command(cmd);
        if let Some(code) = self.builtin(&program, &rest, out) {
            return Ok(code);
        }
        if program.eq_ignore_ascii_case("call") {
            return self.run_line(&format!("@{rest}"), out);
        }
        let lower = program.to_ascii_lowercase();
        if std::path::Path::new(&lower)
            .extension()
            .is_some_and(|ext| ext.eq_ignore_ascii_case("cmd"))
            || std::path::Path::new(&lower)
                .extension()
                .is_some_and(|ext| ext.eq_ignore_ascii_case("bat"))
        {
            if let Some(text) = self
                .machine
                .host_path(&program)
                .ok()
                .and_then(|p| std::fs::read_to_string(p).ok())
            {
                return self.run_file(&text, out);
            }
        }
        self.run_program(&program, &rest, out)
    }

    fn run_program(&mut self, program: &str, rest: &str, out: Sink<'_>) -> Result<i32, TimedOut> {
        match self.machine.resolve_program(program) {
            // The `py` launcher's own version option (`py -3 -m …`, what
            // `iiswsgi init` writes) is consumed by the launcher, not passed on.
            Ok(Program::Host(exe)) => {
                let args = SimMachine::launcher_args(program, &split_windows(rest));
                self.spawn(&exe, &args, out)
            }
            Ok(Program::Appcmd) => {
                let r = crate::appcmd::run(self.machine, &split_windows(rest));
                for l in r.stdout.lines() {
                    out(l, false);
                }
                Ok(r.code)
            }
            Ok(Program::Cmd) => {
                let inner = strip_cmd_switches(rest);
                self.run_line(&format!("@{inner}"), out)
            }
            Err(e) => {
                out(
                    &format!("'{program}' is not recognized as an internal or external command,"),
                    true,
                );
                out("operable program or batch file.", true);
                out(
                    &format!("(iiswsgi sim: {})", iiswsgi_iisconfig::error_chain(&e)),
                    true,
                );
                Ok(9009)
            }
        }
    }

    fn spawn(
        &mut self,
        exe: &std::path::Path,
        args: &[String],
        out: Sink<'_>,
    ) -> Result<i32, TimedOut> {
        let mut cmd = Command::new(exe);
        cmd.args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        if let Ok(dir) = self.machine.host_path(&self.cwd) {
            if dir.is_dir() {
                cmd.current_dir(dir);
            }
        }
        // As on Windows: nothing tells the process which application it is for.
        cmd.env_remove("APPL_PHYSICAL_PATH");
        let machine_env = crate::platform::process_env(self.machine);
        let session = self
            .env
            .iter()
            .filter(|(k, _)| !k.eq_ignore_ascii_case("PATH"));
        for (k, v) in machine_env
            .iter()
            .chain(session)
            .chain(self.process_extra.iter())
        {
            cmd.env(k, v);
        }
        #[cfg(unix)]
        {
            use std::os::unix::process::CommandExt as _;
            cmd.process_group(0);
        }
        tracing::debug!(program = %exe.display(), args = ?args, "runCommand: starting");
        let mut child = match cmd.spawn() {
            Ok(c) => c,
            Err(e) => {
                out(&format!("cannot start {}: {e}", exe.display()), true);
                return Ok(9009);
            }
        };
        let (tx, rx) = mpsc::channel::<(String, bool)>();
        let mut readers = Vec::new();
        if let Some(s) = child.stdout.take() {
            readers.push(reader(s, false, tx.clone()));
        }
        if let Some(s) = child.stderr.take() {
            readers.push(reader(s, true, tx.clone()));
        }
        drop(tx);
        loop {
            let now = Instant::now();
            if now >= self.deadline {
                kill(&mut child);
                return Err(TimedOut);
            }
            match rx.recv_timeout(self.deadline - now) {
                Ok((line, err)) => out(&line, err),
                Err(mpsc::RecvTimeoutError::Disconnected) => break,
                Err(mpsc::RecvTimeoutError::Timeout) => {}
            }
        }
        loop {
            match child.try_wait() {
                Ok(Some(status)) => {
                    for r in readers {
                        let _ = r.join();
                    }
                    return Ok(status.code().unwrap_or(-1));
                }
                Ok(None) if Instant::now() < self.deadline => {
                    std::thread::sleep(std::time::Duration::from_millis(10));
                }
                _ => {
                    kill(&mut child);
                    return Err(TimedOut);
                }
            }
        }
    }
}

fn reader(
    s: impl std::io::Read + Send + 'static,
    err: bool,
    tx: mpsc::Sender<(String, bool)>,
) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(s).lines() {
            let Ok(line) = line else { break };
            if tx
                .send((line.trim_end_matches('\r').to_owned(), err))
                .is_err()
            {
                break;
            }
        }
    })
}

/// Kills the process and, on Unix, its process group (what it started).
fn kill(child: &mut std::process::Child) {
    #[cfg(unix)]
    {
        let _ = Command::new("kill")
            .args(["-KILL", "--", &format!("-{}", child.id())])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
    let _ = child.kill();
    let _ = child.wait();
}

/// `/c "…"`, `/s /c …` → the command (outer quotes removed as cmd does).
fn strip_cmd_switches(rest: &str) -> String {
    let mut s = rest.trim();
    while let Some(r) = s.strip_prefix('/') {
        let end = r.find(char::is_whitespace).unwrap_or(r.len());
        let sw = r[..end].to_ascii_lowercase();
        s = r[end..].trim_start();
        if sw == "c" || sw == "k" {
            break;
        }
    }
    let unq = s.strip_prefix('"').and_then(|x| x.strip_suffix('"'));
    unq.unwrap_or(s).to_owned()
}

/// A fresh temporary `.cmd` name as msdeploy makes them (`giz2t0kb.0ay.cmd`).
pub fn temp_cmd_name() -> String {
    use std::hash::{BuildHasher as _, Hasher as _};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0),
    );
    h.write_u32(std::process::id());
    let mut n = h.finish();
    let alphabet = b"abcdefghijklmnopqrstuvwxyz0123456789";
    let mut s = String::new();
    for i in 0..11 {
        if i == 8 {
            s.push('.');
        }
        s.push(alphabet[(n % 36) as usize] as char);
        n /= 36;
    }
    s.push_str(".cmd");
    s
}

/// The host folder for `%TEMP%`, created when missing.
pub fn temp_dir(machine: &SimMachine) -> Result<(String, PathBuf), crate::machine::MachineError> {
    let windows = machine.var("TEMP").unwrap_or_else(|| {
        format!(
            "C:\\Users\\{}\\AppData\\Local\\Temp",
            machine.config.machine.user
        )
    });
    let host = machine.host_path(&windows)?;
    std::fs::create_dir_all(&host).map_err(|source| crate::machine::MachineError::Write {
        path: host.clone(),
        source,
    })?;
    Ok((windows, host))
}

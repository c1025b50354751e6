//! `--bind ADDRESS --workers N` (Unix): one listening socket shared by N
//! worker processes, so that Python runs on several cores behind nginx.
//!
//! The parent binds the socket, then starts N `python -m iiswsgi serve APP`
//! children with the socket as their STDIN (the listening-socket mode, as a
//! FastCGI spawner would), restarts a worker that dies, and on SIGTERM/SIGINT
//! passes SIGTERM on and waits for every worker to finish its requests.
//! Workers stop (finishing their requests in flight) when the supervisor dies,
//! even by SIGKILL: Linux sends them SIGTERM (`PR_SET_PDEATHSIG`), and every
//! worker also checks that its parent is still the supervisor.
#![allow(unsafe_code)]

use std::os::fd::OwnedFd;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::lifecycle::DEFAULT_GRACEFUL_TIMEOUT;
use crate::serve::SUPERVISOR_PID;
use crate::transport::{Bind, Listener};
use crate::{GatewayError, ServeOptions};

/// How long a worker must live for its exit not to count as a failure to start.
const STARTUP: Duration = Duration::from_secs(2);
/// Workers that fail to start, in a row, before the parent gives up.
const MAX_STARTUP_FAILURES: u32 = 5;
/// Time given to stopping workers beyond their own graceful timeout, after
/// which they are killed.
const STOP_MARGIN: Duration = Duration::from_secs(5);

fn worker_args(options: &ServeOptions, app: &str) -> Vec<String> {
    let mut args = vec!["-m".into(), "iiswsgi".into(), "serve".into(), app.into()];
    let mut opt = |name: &str, value: Option<String>| {
        if let Some(v) = value {
            args.push(name.into());
            args.push(v);
        }
    };
    opt(
        "--log",
        options.log.as_ref().map(|p| p.display().to_string()),
    );
    opt("--log-level", options.log_level.clone());
    opt("--script-name", options.script_name.clone());
    opt("--restart-regex", options.restart_regex.clone());
    opt(
        "--app-dir",
        options.app_dir.as_ref().map(|p| p.display().to_string()),
    );
    opt("--max-conns", options.max_conns.map(|n| n.to_string()));
    opt(
        "--read-timeout",
        options.read_timeout.map(|d| d.as_secs().to_string()),
    );
    opt(
        "--graceful-timeout",
        options.graceful_timeout.map(|d| d.as_secs().to_string()),
    );
    args
}

/// A worker's command: the listening socket as STDIN, the supervisor's pid in
/// the environment, and (Linux) SIGTERM when the supervisor dies.
fn worker_command(python: &str, args: &[String], stdin: OwnedFd) -> Command {
    let mut cmd = Command::new(python);
    cmd.args(args)
        .stdin(Stdio::from(stdin))
        .env(SUPERVISOR_PID, std::process::id().to_string());
    #[cfg(target_os = "linux")]
    {
        use std::os::unix::process::CommandExt;
        let supervisor = libc::pid_t::try_from(std::process::id()).unwrap_or(0);
        // SAFETY: FFI edge. The closure runs in the child between fork and exec,
        // where only async-signal-safe calls are allowed: prctl(2), getppid(2)
        // and _exit(2) are, and it touches no memory shared with the parent.
        unsafe {
            cmd.pre_exec(move || {
                if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                // The supervisor died before the prctl: no signal will come.
                if libc::getppid() != supervisor {
                    libc::_exit(0);
                }
                Ok(())
            });
        }
    }
    cmd
}

fn signal(child: &Child, sig: i32) {
    let Ok(pid) = libc::pid_t::try_from(child.id()) else {
        return;
    };
    // SAFETY: FFI edge; kill(2) on the pid of a child this process started and
    // has not reaped yet, so the pid cannot have been reused.
    unsafe {
        libc::kill(pid, sig);
    }
}

/// Runs the workers until a stop signal; `python` is the interpreter to run them with.
pub fn supervise(
    options: &ServeOptions,
    bind: &Bind,
    workers: usize,
    python: &str,
) -> Result<(), GatewayError> {
    let app = options.app.clone().ok_or_else(|| {
        GatewayError::Fatal("--workers needs the application on the command line (APP)".into())
    })?;
    let listener = Listener::bind(bind).map_err(GatewayError::Listen)?;
    let fd: OwnedFd = match listener {
        Listener::Tcp(l) => l.into(),
        Listener::Unix(l) => l.into(),
    };
    let stop = Arc::new(AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGTERM, signal_hook::consts::SIGINT] {
        signal_hook::flag::register(sig, Arc::clone(&stop)).map_err(|source| GatewayError::Io {
            context: "cannot install signal handlers".into(),
            source,
        })?;
    }
    let args = worker_args(options, &app);
    let spawn = || -> Result<Child, GatewayError> {
        let stdin = fd.try_clone().map_err(|source| GatewayError::Io {
            context: "cannot share the listening socket".into(),
            source,
        })?;
        worker_command(python, &args, stdin)
            .spawn()
            .map_err(|source| GatewayError::Io {
                context: format!("cannot start a worker ({python})"),
                source,
            })
    };
    tracing::info!("listening on {bind} with {workers} worker processes");
    let mut pool: Vec<(Child, Instant)> = Vec::with_capacity(workers);
    for _ in 0..workers {
        pool.push((spawn()?, Instant::now()));
    }
    let mut failures = 0u32;
    while !stop.load(Ordering::Relaxed) {
        for slot in pool.iter_mut() {
            let Ok(Some(status)) = slot.0.try_wait() else {
                continue;
            };
            if slot.1.elapsed() < STARTUP {
                failures += 1;
            } else {
                failures = 0;
            }
            if failures >= MAX_STARTUP_FAILURES {
                tracing::error!(
                    "workers keep exiting at start-up (last: {status}); see the log above"
                );
                stop.store(true, Ordering::Relaxed);
                for (c, _) in pool.iter_mut() {
                    signal(c, libc::SIGTERM);
                    let _ = c.wait();
                }
                return Err(GatewayError::Fatal(
                    "workers keep exiting at start-up".into(),
                ));
            }
            tracing::warn!("worker {} exited ({status}); starting another", slot.0.id());
            *slot = (spawn()?, Instant::now());
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    tracing::info!(
        "stopping {} workers after their requests in flight",
        pool.len()
    );
    for (c, _) in &pool {
        signal(c, libc::SIGTERM);
    }
    let deadline =
        Instant::now() + options.graceful_timeout.unwrap_or(DEFAULT_GRACEFUL_TIMEOUT) + STOP_MARGIN;
    for (c, _) in pool.iter_mut() {
        while matches!(c.try_wait(), Ok(None)) {
            if Instant::now() > deadline {
                let _ = c.kill();
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = c.wait();
    }
    if let Bind::Unix(path) = bind {
        let _ = std::fs::remove_file(path);
    }
    Ok(())
}

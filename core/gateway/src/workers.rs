//! `--bind ADDRESS --workers N` (Unix): one listening socket shared by N
//! worker processes, so that Python runs on several cores behind nginx.
//!
//! The parent binds the socket, then starts N `python -m iiswsgi serve APP`
//! children with the socket as their STDIN (the listening-socket mode, as a
//! `FastCGI` spawner would), restarts a worker that dies, and on SIGTERM/SIGINT
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

use crate::serve::SUPERVISOR_PID;
use crate::settings::Settings;
use crate::transport::{Bind, Listener};
use crate::{GatewayError, ServeOptions};

/// How long a worker must live for its exit not to count as a failure to start.
const STARTUP: Duration = Duration::from_secs(2);
/// Workers that fail to start, in a row, before the parent gives up.
const MAX_STARTUP_FAILURES: u32 = 5;
/// Time given to stopping workers beyond their own graceful timeout, after
/// which they are killed.
const STOP_MARGIN: Duration = Duration::from_secs(5);

/// Options of the supervisor that its workers must not get: the workers
/// accept on the supervisor's socket (their STDIN) and serve themselves.
const SUPERVISOR_ONLY: [&str; 2] = ["--bind", "--workers"];

/// A worker's arguments: `-m iiswsgi` and the supervisor's own command line
/// (`argv`, as given: `iiswsgi serve …`) without its program name and without
/// `--bind`/`--workers` and their values, so that every other option reaches
/// the workers exactly as the user wrote it.
pub fn worker_args(argv: &[String]) -> Vec<String> {
    let mut args = vec!["-m".to_owned(), "iiswsgi".to_owned()];
    let mut rest = argv.iter().skip(1);
    while let Some(a) = rest.next() {
        if a == "--" {
            args.push(a.clone());
            args.extend(rest.by_ref().cloned());
            break;
        }
        if SUPERVISOR_ONLY.contains(&a.as_str()) {
            rest.next();
            continue;
        }
        let joined = a
            .split_once('=')
            .is_some_and(|(name, _)| SUPERVISOR_ONLY.contains(&name));
        if !joined {
            args.push(a.clone());
        }
    }
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
    settings: &Settings,
    bind: &Bind,
    workers: usize,
    python: &str,
) -> Result<(), GatewayError> {
    if options.app.is_none() {
        return Err(GatewayError::Fatal(
            "--workers needs the application on the command line (APP)".into(),
        ));
    }
    if options.argv.is_empty() {
        return Err(GatewayError::Fatal(
            "--workers needs the command line it was given (ServeOptions::argv) to start the \
             workers with"
                .into(),
        ));
    }
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
    let args = worker_args(&options.argv);
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
        for slot in &mut pool {
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
                for (c, _) in &mut pool {
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
    stop_workers(&mut pool, settings.graceful_timeout.value + STOP_MARGIN);
    if let Bind::Unix(path) = bind {
        let _ = std::fs::remove_file(path);
    }
    Ok(())
}

/// SIGTERM to every worker, then waits for them, killing those still
/// running after `patience`.
fn stop_workers(pool: &mut [(Child, Instant)], patience: Duration) {
    tracing::info!(
        "stopping {} workers after their requests in flight",
        pool.len()
    );
    for (c, _) in pool.iter() {
        signal(c, libc::SIGTERM);
    }
    let deadline = Instant::now() + patience;
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
}

#[cfg(test)]
mod tests {
    use super::worker_args;

    fn argv(s: &str) -> Vec<String> {
        s.split(' ').map(str::to_owned).collect()
    }

    #[test]
    fn workers_get_the_original_arguments_without_bind_and_workers() {
        let cases = [
            (
                "iiswsgi serve app:x --bind unix:/s --workers 4",
                "-m iiswsgi serve app:x",
            ),
            (
                "iiswsgi serve --read-timeout 5 app:x --workers=2 --log-level debug --bind=tcp:h:1",
                "-m iiswsgi serve --read-timeout 5 app:x --log-level debug",
            ),
            (
                "iiswsgi serve --chdir /srv/app --bind unix:/s --workers 2 config:a.ini#main",
                "-m iiswsgi serve --chdir /srv/app config:a.ini#main",
            ),
            (
                "iiswsgi serve --workers 2 --bind unix:/s -- --odd-app-name",
                "-m iiswsgi serve -- --odd-app-name",
            ),
        ];
        for (given, want) in cases {
            assert_eq!(worker_args(&argv(given)), argv(want), "{given}");
        }
    }
}

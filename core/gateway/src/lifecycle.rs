//! Shutdown and restart: a stop request (signal, IIS's shutdown event, a changed
//! file, the `--workers` supervisor gone) lets the requests in flight finish,
//! then the process exits 0. A request still running after the graceful
//! timeout ends the process with status 1 and a log line naming it.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use pyo3::prelude::*;

/// Default of `--graceful-timeout`.
pub const DEFAULT_GRACEFUL_TIMEOUT: Duration = Duration::from_secs(30);

#[derive(Default)]
struct State {
    /// Requests in flight: token, `METHOD /path`, start.
    running: Vec<(u64, String, Instant)>,
    next_token: u64,
    stop: Option<String>,
}

/// Tracks requests in flight and pending stop requests.
pub struct Lifecycle {
    state: Mutex<State>,
    graceful: Duration,
}

impl Lifecycle {
    pub fn new(graceful: Duration) -> Self {
        Lifecycle {
            state: Mutex::new(State::default()),
            graceful,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Request `what` is about to run: its token, or `None` when the process
    /// is stopping instead.
    pub fn begin(&self, what: String) -> Option<u64> {
        let mut s = self.lock();
        if s.stop.is_some() {
            return None;
        }
        s.next_token += 1;
        let token = s.next_token;
        s.running.push((token, what, Instant::now()));
        Some(token)
    }

    /// A request has finished; exits the process if a stop is pending and
    /// nothing else is in flight.
    pub fn end(&self, token: u64) {
        let mut s = self.lock();
        s.running.retain(|(t, _, _)| *t != token);
        if s.running.is_empty() {
            if let Some(why) = s.stop.clone() {
                drop(s);
                exit_now(&why);
            }
        }
    }

    /// Asks the process to stop; it exits at once when idle, else after the
    /// requests in flight, or with status 1 after the graceful timeout.
    #[allow(
        clippy::needless_pass_by_value,
        reason = "callers format the reason for this call"
    )]
    pub fn request_stop(&'static self, why: String) {
        let mut s = self.lock();
        if s.stop.is_none() {
            tracing::info!("stopping after the requests in flight: {why}");
            s.stop = Some(why.clone());
            if !s.running.is_empty() {
                let spawned = std::thread::Builder::new()
                    .name("iiswsgi-graceful".into())
                    .spawn(move || self.expire_after_grace());
                if let Err(e) = spawned {
                    tracing::warn!("cannot start the graceful-timeout timer: {e}");
                }
            }
        }
        if s.running.is_empty() {
            drop(s);
            exit_now(&why);
        }
    }

    fn expire_after_grace(&self) {
        std::thread::sleep(self.graceful);
        let s = self.lock();
        if s.running.is_empty() {
            return;
        }
        let list: Vec<String> = s
            .running
            .iter()
            .map(|(_, what, t)| format!("{what} (running for {:.1} s)", t.elapsed().as_secs_f64()))
            .collect();
        tracing::error!(
            "the graceful timeout ({} s, --graceful-timeout) passed with {} request(s) still \
             running: {}; exiting with status 1",
            self.graceful.as_secs_f64(),
            list.len(),
            list.join("; ")
        );
        std::process::exit(1)
    }

    pub fn stopping(&self) -> bool {
        self.lock().stop.is_some()
    }
}

/// Runs Python's `atexit` handlers and exits 0. Only called when no request is
/// in flight, so no thread is inside the application.
fn exit_now(why: &str) -> ! {
    tracing::info!("exiting: {why}");
    Python::attach(|py| {
        if let Ok(atexit) = py.import("atexit") {
            if let Err(e) = atexit.call_method0("_run_exitfuncs") {
                tracing::warn!("atexit handlers failed: {e}");
            }
        }
    });
    std::process::exit(0)
}

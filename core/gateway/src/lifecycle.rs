//! Shutdown and restart: a stop request (signal, IIS's shutdown event, a changed
//! file) lets the request in flight finish, then the process exits 0.

use std::sync::Mutex;

use pyo3::prelude::*;

#[derive(Default)]
struct State {
    busy: usize,
    stop: Option<String>,
}

/// Tracks requests in flight and pending stop requests.
#[derive(Default)]
pub struct Lifecycle {
    state: Mutex<State>,
}

impl Lifecycle {
    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A request is about to run; false when the process is stopping instead.
    pub fn begin(&self) -> bool {
        let mut s = self.lock();
        if s.stop.is_some() {
            return false;
        }
        s.busy += 1;
        true
    }

    /// A request has finished; exits the process if a stop is pending and
    /// nothing else is in flight.
    pub fn end(&self) {
        let mut s = self.lock();
        s.busy = s.busy.saturating_sub(1);
        if s.busy == 0 {
            if let Some(why) = s.stop.clone() {
                drop(s);
                exit_now(&why);
            }
        }
    }

    /// Asks the process to stop; it exits at once when idle.
    pub fn request_stop(&self, why: String) {
        let mut s = self.lock();
        if s.stop.is_none() {
            tracing::info!("stopping after the requests in flight: {why}");
            s.stop = Some(why.clone());
        }
        if s.busy == 0 {
            drop(s);
            exit_now(&why);
        }
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

//! One process pool per `fullPath|arguments`, managed as IIS's `FastCgiModule`
//! manages it (reference §1.6, §2.1): at most `maxInstances` processes (0:
//! dynamic, bounded here by the machine's `NUMBER_OF_PROCESSORS`), one
//! request at a time each; up to `queueLength` requests wait, more get 503;
//! a process is recycled after `instanceMaxRequests`, after `idleTimeout`
//! idle, when `monitorChangesTo` changes or the `<fastCgi>` entry changes;
//! `activityTimeout` and `requestTimeout` kill it; `rapidFailsPerMinute`
//! failures within a minute fail every request until they age out.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime};

use iiswsgi_iisconfig::FastCgiApplication;
use tokio::sync::Notify;

use super::exchange::{exchange, Event, Failure, Job, Limits};
use super::process::Process;
use super::relay::Sender;
use super::Shared;
use crate::model::errors::IisError;

pub(super) struct State {
    pub app: FastCgiApplication,
    pub generation: u64,
    /// Boxed: a process moves in and out of the pool on every request.
    #[allow(
        clippy::vec_box,
        reason = "a request moves its process out and back: a pointer, not the struct"
    )]
    pub idle: Vec<Box<Process>>,
    /// Live processes, idle or busy.
    pub running: usize,
    pub queued: usize,
    pub failures: VecDeque<Instant>,
    pub monitor_stamp: Option<SystemTime>,
    pub closing: bool,
}

/// A process pool.
pub struct Pool {
    pub(super) shared: Arc<Shared>,
    pub(super) state: Mutex<State>,
    notify: Notify,
    pub key: String,
}

/// A file's modification time, if it has one.
pub(crate) fn stamp(path: &std::path::Path) -> Option<SystemTime> {
    std::fs::metadata(path).and_then(|m| m.modified()).ok()
}

impl Pool {
    pub(super) fn new(shared: Arc<Shared>, app: FastCgiApplication) -> Pool {
        let key = app.script_processor();
        let monitor_stamp = shared.monitor_path(&app).and_then(|p| stamp(&p));
        Pool {
            shared,
            state: Mutex::new(State {
                app,
                generation: 1,
                idle: Vec::new(),
                running: 0,
                queued: 0,
                failures: VecDeque::new(),
                monitor_stamp,
                closing: false,
            }),
            notify: Notify::new(),
            key,
        }
    }

    pub(super) fn lock(&self) -> MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn max_instances(&self, app: &FastCgiApplication) -> usize {
        if app.max_instances > 0 {
            return app.max_instances as usize;
        }
        self.shared
            .machine
            .var("NUMBER_OF_PROCESSORS")
            .and_then(|v| v.trim().parse().ok())
            .filter(|&n: &usize| n > 0)
            .unwrap_or(1)
    }

    fn rapid_failing(&self, st: &mut State) -> bool {
        let window = self.shared.scaled(60);
        while st.failures.front().is_some_and(|t| t.elapsed() > window) {
            st.failures.pop_front();
        }
        let limit = st.app.rapid_fails_per_minute as usize;
        limit > 0 && st.failures.len() >= limit
    }

    fn record_failure(&self) {
        self.lock().failures.push_back(Instant::now());
    }

    /// Retires the processes of older generations that are idle.
    pub(super) fn recycle(&self, st: &mut State, why: &str) {
        st.generation += 1;
        let old: Vec<Box<Process>> = st.idle.drain(..).collect();
        st.running -= old.len();
        if !old.is_empty() {
            tracing::info!("{}: recycling {} process(es): {why}", self.key, old.len());
        }
        let wait = self
            .shared
            .scaled(st.app.signal_before_terminate_seconds.into());
        for p in old {
            tokio::spawn((*p).shutdown(wait));
        }
        self.notify.notify_waiters();
    }

    /// A process for one request: an idle one, a new one, or a wait in the queue.
    async fn acquire(&self, handler: &str) -> Result<Box<Process>, IisError> {
        let mut queued = false;
        loop {
            let start = {
                let mut st = self.lock();
                if queued {
                    st.queued -= 1;
                    queued = false;
                }
                if self.rapid_failing(&mut st) {
                    return Err(IisError::rapid_fail(handler, &st.app.full_path));
                }
                while let Some(mut p) = st.idle.pop() {
                    if !p.may_have_exited() || p.exited().is_none() {
                        return Ok(p);
                    }
                    st.running -= 1;
                    tracing::info!("{}: idle process pid {} had exited", self.key, p.pid);
                }
                if st.running < self.max_instances(&st.app) {
                    st.running += 1;
                    Some((self.shared.launch_spec(&st.app), st.generation))
                } else if st.queued >= st.app.queue_length as usize {
                    return Err(IisError::queue_full(handler, &st.app.full_path));
                } else {
                    st.queued += 1;
                    queued = true;
                    None
                }
            };
            match start {
                Some((spec, generation)) => {
                    let spec = match spec {
                        Ok(s) => s,
                        Err(why) => return Err(self.start_failed(handler, &why)),
                    };
                    return match Process::start(&spec, generation).await {
                        Ok(p) => {
                            let mut p = Box::new(p);
                            tracing::info!("{}: started process pid {}", self.key, p.pid);
                            p.live = Some(self.shared.live.add(&self.key, p.pid));
                            Ok(p)
                        }
                        Err(e) => Err(self.start_failed(handler, &e.to_string())),
                    };
                }
                None => self.notify.notified().await,
            }
        }
    }

    fn start_failed(&self, handler: &str, why: &str) -> IisError {
        let full_path = {
            let mut st = self.lock();
            st.running -= 1;
            st.failures.push_back(Instant::now());
            st.app.full_path.clone()
        };
        self.notify.notify_one();
        IisError::start_failed(handler, &full_path, why)
    }

    /// Gives a process back after a request it completed.
    fn release(&self, mut p: Box<Process>) {
        p.served += 1;
        p.last_used = Instant::now();
        p.report(false);
        let mut st = self.lock();
        let retire =
            st.closing || p.generation != st.generation || p.served >= st.app.instance_max_requests;
        if retire {
            st.running -= 1;
            let wait = self
                .shared
                .scaled(st.app.signal_before_terminate_seconds.into());
            tracing::info!(
                "{}: retiring process pid {} after {} request(s)",
                self.key,
                p.pid,
                p.served
            );
            tokio::spawn((*p).shutdown(wait));
        } else {
            st.idle.push(p);
        }
        drop(st);
        self.notify.notify_one();
    }

    /// Kills a process that failed a request.
    fn discard(&self, p: Box<Process>) {
        self.lock().running -= 1;
        tokio::spawn((*p).kill());
        self.notify.notify_one();
    }

    /// Serves one request; the response goes to `tx` (a failure after the
    /// head was sent ends the body early).
    #[allow(
        clippy::cast_sign_loss,
        reason = "an exit code is shown as Windows shows it: its bits as unsigned"
    )]
    pub async fn serve(&self, handler: &str, job: Job, tx: &Sender<Event>) -> Result<(), IisError> {
        let (request_timeout, activity) = {
            let st = self.lock();
            (
                self.shared.scaled(st.app.request_timeout.into()),
                self.shared.scaled(st.app.activity_timeout.into()),
            )
        };
        let mut p = self.acquire(handler).await?;
        p.report(true);
        let max_body = job.max_body;
        let limits = Limits {
            activity,
            deadline: tokio::time::Instant::now() + request_timeout,
        };
        let failure = match exchange(&mut p, job, limits, tx).await {
            Ok(()) => {
                self.release(p);
                return Ok(());
            }
            Err(Failure::Stderr(text)) => {
                self.release(p);
                let mode = self.lock().app.stderr_mode;
                return Err(match mode {
                    iiswsgi_iisconfig::StderrMode::ReturnStdErrIn500 => {
                        IisError::stderr(handler, &text)
                    }
                    _ => IisError::generic_500(handler),
                });
            }
            Err(f) => f,
        };
        let full_path = self.lock().app.full_path.clone();
        let err = match &failure {
            Failure::Exited => {
                let code = p.wait_exit(Duration::from_millis(500)).await.unwrap_or(-1);
                tracing::warn!(
                    "{}: process pid {} exited with code {code}",
                    self.key,
                    p.pid
                );
                IisError::exited_unexpectedly(handler, &full_path, code as u32)
            }
            Failure::ActivityTimeout => IisError::activity_timeout(handler, &full_path),
            Failure::RequestTimeout => IisError::request_timeout(handler, &full_path),
            Failure::InvalidData(what) => IisError::invalid_data(handler, &full_path, what),
            Failure::StderrTerminate => IisError::generic_500(handler),
            Failure::BodyTooLarge => IisError::entity_too_large(handler, max_body),
            Failure::ClientGone | Failure::Stderr(_) => IisError::generic_500(handler),
        };
        if matches!(
            failure,
            Failure::Exited
                | Failure::ActivityTimeout
                | Failure::RequestTimeout
                | Failure::InvalidData(_)
        ) {
            self.record_failure();
        }
        self.discard(p);
        Err(err)
    }

    /// Retires idle processes past `idleTimeout`, and everything when the
    /// monitored file changed; called about once a (scaled) second.
    pub(super) fn tick(&self) {
        let mut st = self.lock();
        if let Some(path) = self.shared.monitor_path(&st.app) {
            let now = stamp(&path);
            if now != st.monitor_stamp {
                st.monitor_stamp = now;
                self.recycle(
                    &mut st,
                    &format!("{} changed (monitorChangesTo)", path.display()),
                );
            }
        }
        let idle_limit = self.shared.scaled(st.app.idle_timeout.into());
        let wait = self
            .shared
            .scaled(st.app.signal_before_terminate_seconds.into());
        let (old, keep): (Vec<Box<Process>>, Vec<Box<Process>>) = st
            .idle
            .drain(..)
            .partition(|p| p.last_used.elapsed() > idle_limit);
        st.idle = keep;
        st.running -= old.len();
        for p in old {
            tracing::info!(
                "{}: process pid {} idle past idleTimeout, shut down",
                self.key,
                p.pid
            );
            tokio::spawn((*p).shutdown(wait));
        }
    }

    /// Shuts every idle process down and marks the pool closing (busy ones
    /// are shut down when their request ends). Returns the live count.
    pub(super) async fn close(&self) -> usize {
        let (idle, wait, running) = {
            let mut st = self.lock();
            st.closing = true;
            let idle: Vec<Box<Process>> = st.idle.drain(..).collect();
            st.running -= idle.len();
            let wait = self
                .shared
                .scaled(st.app.signal_before_terminate_seconds.into());
            (idle, wait, st.running)
        };
        let handles: Vec<_> = idle
            .into_iter()
            .map(|p| {
                let key = self.key.clone();
                tokio::spawn(async move {
                    let pid = p.pid;
                    (*p).shutdown(wait).await;
                    tracing::info!("{key}: process pid {pid} shut down");
                })
            })
            .collect();
        for h in handles {
            let _ = h.await;
        }
        running
    }
}

//! The live `FastCGI` processes of every pool, for `iiswsgi sim status`: a
//! process is registered when it starts and leaves when its [`Guard`]
//! drops with it (killed, shut down or recycled). A request updates its
//! process's entry through the guard (two atomic stores, no lock).

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use crate::status::runfile::{now_unix, LiveProcess};

/// One live process.
struct Entry {
    pool: String,
    pid: u32,
    started: u64,
    requests: AtomicU32,
    busy: AtomicBool,
}

/// The registry, shared by the pools.
#[derive(Clone, Default)]
pub struct Registry(Arc<Mutex<BTreeMap<u32, Arc<Entry>>>>);

/// A registered process; dropping it unregisters the process.
pub struct Guard {
    registry: Registry,
    entry: Arc<Entry>,
}

impl Drop for Guard {
    fn drop(&mut self) {
        self.registry.lock().remove(&self.entry.pid);
    }
}

impl Guard {
    /// Records the process taking a request (`busy`) or finishing one.
    pub fn update(&self, requests: u32, busy: bool) {
        self.entry.requests.store(requests, Ordering::Relaxed);
        self.entry.busy.store(busy, Ordering::Relaxed);
    }
}

impl Registry {
    fn lock(&self) -> MutexGuard<'_, BTreeMap<u32, Arc<Entry>>> {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Registers a process of `pool` that has just started.
    pub fn add(&self, pool: &str, pid: u32) -> Guard {
        let entry = Arc::new(Entry {
            pool: pool.to_owned(),
            pid,
            started: now_unix(),
            requests: AtomicU32::new(0),
            busy: AtomicBool::new(false),
        });
        self.lock().insert(pid, Arc::clone(&entry));
        Guard {
            registry: self.clone(),
            entry,
        }
    }

    /// Every live process, by pid.
    pub fn snapshot(&self) -> Vec<LiveProcess> {
        self.lock()
            .values()
            .map(|e| LiveProcess {
                pool: e.pool.clone(),
                pid: e.pid,
                requests: e.requests.load(Ordering::Relaxed),
                busy: e.busy.load(Ordering::Relaxed),
                started: e.started,
            })
            .collect()
    }
}

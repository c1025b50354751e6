//! The live `FastCGI` processes of every pool, for `iiswsgi sim status`: a
//! process is registered when it starts and leaves when its [`Guard`]
//! drops with it (killed, shut down or recycled).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};

use crate::status::runfile::{now_unix, LiveProcess};

/// The registry, shared by the pools.
#[derive(Clone, Default)]
pub struct Registry(Arc<Mutex<BTreeMap<u32, LiveProcess>>>);

/// A registered process; dropping it unregisters the process.
pub struct Guard {
    registry: Registry,
    pid: u32,
}

impl Drop for Guard {
    fn drop(&mut self) {
        self.registry.lock().remove(&self.pid);
    }
}

impl Registry {
    fn lock(&self) -> MutexGuard<'_, BTreeMap<u32, LiveProcess>> {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Registers a process of `pool` that has just started.
    pub fn add(&self, pool: &str, pid: u32) -> Guard {
        self.lock().insert(
            pid,
            LiveProcess {
                pool: pool.to_owned(),
                pid,
                requests: 0,
                busy: false,
                started: now_unix(),
            },
        );
        Guard {
            registry: self.clone(),
            pid,
        }
    }

    /// Records a process taking a request (`busy`) or finishing one.
    pub fn update(&self, pid: u32, requests: u32, busy: bool) {
        if let Some(p) = self.lock().get_mut(&pid) {
            p.requests = requests;
            p.busy = busy;
        }
    }

    /// Every live process, by pid.
    pub fn snapshot(&self) -> Vec<LiveProcess> {
        self.lock().values().cloned().collect()
    }
}

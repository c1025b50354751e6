//! Serving slots of the listening modes: `--max-conns` bounds the requests
//! running at once, not the connections open. A keep-alive connection parked
//! between requests holds no slot, so idle connections (nginx keeps
//! `keepalive N` of them per worker) never keep a new client waiting.

use std::sync::{Arc, Condvar, Mutex};

/// A counting semaphore.
pub struct Slots {
    max: usize,
    used: Mutex<usize>,
    freed: Condvar,
}

/// A held slot, given back when dropped.
pub struct Slot(Arc<Slots>);

impl Slots {
    pub fn new(max: usize) -> Self {
        Slots {
            max: max.max(1),
            used: Mutex::new(0),
            freed: Condvar::new(),
        }
    }

    /// Waits for a free slot.
    pub fn acquire(self: &Arc<Self>) -> Slot {
        let mut n = self
            .used
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        while *n >= self.max {
            n = self
                .freed
                .wait(n)
                .unwrap_or_else(std::sync::PoisonError::into_inner);
        }
        *n += 1;
        Slot(Arc::clone(self))
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut n = self
            .0
            .used
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        *n = n.saturating_sub(1);
        self.0.freed.notify_one();
    }
}

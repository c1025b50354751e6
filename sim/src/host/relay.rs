//! The hand-off from a `FastCGI` exchange to the HTTP response it feeds: a
//! bounded single-producer, single-consumer queue (of the exchange's events).
//!
//! Written here rather than taken from tokio because one is made per
//! request: `tokio::sync::mpsc::channel` allocates a 32-slot block (through
//! `posix_memalign`) and a semaphore per channel, which callgrind measured
//! at about 2,700 instructions a request, 7 % of the simulator's whole
//! per-request cost for a small response. This queue is one allocation
//! (the shared state, with its slots inline) and an uncontended lock per
//! operation. Both ends are usually polled by the same task (hyper's
//! connection task polls the exchange, then the queue), but the wakers make
//! it correct for any two tasks.

use std::future::poll_fn;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};

/// Events buffered before the sender waits: the response's backpressure
/// on the process (each event is at most one read's worth of body).
const SLOTS: usize = 4;

struct Inner<T> {
    slots: [Option<T>; SLOTS],
    /// Index of the oldest event.
    first: usize,
    len: usize,
    sender_gone: bool,
    receiver_gone: bool,
    /// Who waits: the receiver for an event, the sender for a free slot.
    receiver_waker: Option<Waker>,
    sender_waker: Option<Waker>,
}

fn lock<T>(inner: &Mutex<Inner<T>>) -> MutexGuard<'_, Inner<T>> {
    inner
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// The exchange's end.
pub struct Sender<T>(Arc<Mutex<Inner<T>>>);

/// The response's end.
pub struct Receiver<T>(Arc<Mutex<Inner<T>>>);

/// A new queue.
pub fn relay<T>() -> (Sender<T>, Receiver<T>) {
    let inner = Arc::new(Mutex::new(Inner {
        slots: Default::default(),
        first: 0,
        len: 0,
        sender_gone: false,
        receiver_gone: false,
        receiver_waker: None,
        sender_waker: None,
    }));
    (Sender(Arc::clone(&inner)), Receiver(inner))
}

impl<T> Sender<T> {
    /// Queues `event`, waiting while the queue is full; dropped if the
    /// receiver is gone (the client left: the exchange still finishes).
    pub async fn send(&self, event: T) {
        let mut event = Some(event);
        poll_fn(|cx| {
            let mut g = lock(&self.0);
            if g.receiver_gone {
                return Poll::Ready(());
            }
            if g.len == SLOTS {
                g.sender_waker = Some(cx.waker().clone());
                return Poll::Pending;
            }
            let at = (g.first + g.len) % SLOTS;
            g.slots[at] = event.take();
            g.len += 1;
            if let Some(w) = g.receiver_waker.take() {
                w.wake();
            }
            Poll::Ready(())
        })
        .await;
    }
}

impl<T> Drop for Sender<T> {
    fn drop(&mut self) {
        let mut g = lock(&self.0);
        g.sender_gone = true;
        if let Some(w) = g.receiver_waker.take() {
            w.wake();
        }
    }
}

impl<T> Receiver<T> {
    /// The next event; `None` once the sender is gone and the queue empty.
    pub fn poll_recv(&mut self, cx: &mut Context<'_>) -> Poll<Option<T>> {
        let mut g = lock(&self.0);
        if g.len == 0 {
            if g.sender_gone {
                return Poll::Ready(None);
            }
            g.receiver_waker = Some(cx.waker().clone());
            return Poll::Pending;
        }
        let at = g.first;
        let event = g.slots[at].take();
        g.first = (at + 1) % SLOTS;
        g.len -= 1;
        if let Some(w) = g.sender_waker.take() {
            w.wake();
        }
        Poll::Ready(event)
    }
}

impl<T> Drop for Receiver<T> {
    fn drop(&mut self) {
        let mut g = lock(&self.0);
        g.receiver_gone = true;
        g.slots = Default::default();
        g.len = 0;
        if let Some(w) = g.sender_waker.take() {
            w.wake();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::future::Future;

    #[tokio::test]
    async fn in_order_with_backpressure_then_end() {
        let (tx, mut rx) = relay::<u8>();
        let producer = tokio::spawn(async move {
            for n in 0..20 {
                tx.send(n).await;
            }
        });
        let mut got = Vec::new();
        while let Some(e) = poll_fn(|cx| rx.poll_recv(cx)).await {
            got.push(e);
        }
        producer.await.unwrap();
        assert_eq!(got, (0..20).collect::<Vec<u8>>());
    }

    #[tokio::test]
    async fn a_full_queue_holds_the_sender_until_a_slot_frees() {
        let (tx, mut rx) = relay::<u8>();
        for n in 0..4 {
            tx.send(n).await;
        }
        let fifth = tx.send(4);
        tokio::pin!(fifth);
        let mut cx = Context::from_waker(Waker::noop());
        assert!(fifth.as_mut().poll(&mut cx).is_pending());
        assert_eq!(poll_fn(|cx| rx.poll_recv(cx)).await, Some(0));
        assert!(fifth.as_mut().poll(&mut cx).is_ready());
    }

    #[tokio::test]
    async fn a_gone_receiver_lets_the_sender_finish() {
        let (tx, rx) = relay::<u8>();
        drop(rx);
        for n in 0..10 {
            tx.send(n).await;
        }
    }
}

//! A watched value (one writer, many readers that wait for changes) whose waiters wake in
//! the order they began to wait.
//!
//! `tokio::sync::watch` spreads its waiters over eight `Notify`s and picks one at random per
//! wait (tokio's thread-local generator, seeded afresh for every runtime; the seed can be
//! set only on unstable tokio). When several tasks wait on one sender, which of them runs
//! first then differs from run to run — and the simulation, which must replay a seed
//! exactly, diverged on it (two managers woken by one session expiry raced for the lead in
//! either order). This channel has one `Notify`, whose waiters wake in a fixed order.

use std::ops::Deref;
use std::sync::{Arc, Mutex, MutexGuard};
use tokio::sync::Notify;

/// The sender is gone: no change will come.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the watched value's sender is gone")]
pub struct Closed;

struct State<T> {
    value: T,
    version: u64,
    closed: bool,
}

struct Shared<T> {
    state: Mutex<State<T>>,
    notify: Notify,
}

impl<T> Shared<T> {
    fn lock(&self) -> MutexGuard<'_, State<T>> {
        // a panic while holding the lock leaves the value whole (every write is one store)
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// The writing end.
pub struct Sender<T> {
    shared: Arc<Shared<T>>,
}

/// A reading end: sees the value, and waits for the next change it has not seen.
pub struct Receiver<T> {
    shared: Arc<Shared<T>>,
    seen: u64,
}

/// A borrowed view of the value; holds the lock, so keep it short.
pub struct Ref<'a, T>(MutexGuard<'a, State<T>>);

impl<T> Deref for Ref<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.0.value
    }
}

/// A sender holding `init`, and a receiver that has seen it.
pub fn channel<T>(init: T) -> (Sender<T>, Receiver<T>) {
    let tx = Sender::new(init);
    let rx = tx.subscribe();
    (tx, rx)
}

impl<T> Sender<T> {
    /// A sender holding `init`, with no receiver yet.
    pub fn new(init: T) -> Self {
        Sender {
            shared: Arc::new(Shared {
                state: Mutex::new(State {
                    value: init,
                    version: 0,
                    closed: false,
                }),
                notify: Notify::new(),
            }),
        }
    }

    /// A receiver that has seen the current value.
    pub fn subscribe(&self) -> Receiver<T> {
        let seen = self.shared.lock().version;
        Receiver {
            shared: self.shared.clone(),
            seen,
        }
    }

    /// The current value.
    pub fn borrow(&self) -> Ref<'_, T> {
        Ref(self.shared.lock())
    }

    /// Change the value with `f`; the receivers are told only when `f` says it changed.
    pub fn send_if_modified(&self, f: impl FnOnce(&mut T) -> bool) -> bool {
        let changed = {
            let mut s = self.shared.lock();
            let changed = f(&mut s.value);
            if changed {
                s.version += 1;
            }
            changed
        };
        if changed {
            self.shared.notify.notify_waiters();
        }
        changed
    }

    /// Change the value with `f` and tell the receivers.
    pub fn send_modify(&self, f: impl FnOnce(&mut T)) {
        self.send_if_modified(|v| {
            f(v);
            true
        });
    }

    /// Replace the value (telling the receivers even when it is equal) and return the old one.
    pub fn send_replace(&self, value: T) -> T {
        let old = {
            let mut s = self.shared.lock();
            s.version += 1;
            std::mem::replace(&mut s.value, value)
        };
        self.shared.notify.notify_waiters();
        old
    }
}

impl<T> Drop for Sender<T> {
    fn drop(&mut self) {
        self.shared.lock().closed = true;
        self.shared.notify.notify_waiters();
    }
}

impl<T> Clone for Receiver<T> {
    fn clone(&self) -> Self {
        Receiver {
            shared: self.shared.clone(),
            seen: self.seen,
        }
    }
}

impl<T> Receiver<T> {
    /// The current value.
    pub fn borrow(&self) -> Ref<'_, T> {
        Ref(self.shared.lock())
    }

    /// The current value, now seen.
    pub fn borrow_and_update(&mut self) -> Ref<'_, T> {
        let s = self.shared.lock();
        self.seen = s.version;
        Ref(s)
    }

    /// Wait for a change this receiver has not seen (and mark it seen); `Closed` once the
    /// sender is gone and every change was seen.
    pub async fn changed(&mut self) -> Result<(), Closed> {
        loop {
            let notified = self.shared.notify.notified();
            tokio::pin!(notified);
            // registered before the check, so a send between the check and the await
            // still wakes this waiter
            notified.as_mut().enable();
            {
                let s = self.shared.lock();
                if s.version != self.seen {
                    self.seen = s.version;
                    return Ok(());
                }
                if s.closed {
                    return Err(Closed);
                }
            }
            notified.await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::RefCell;
    use std::rc::Rc;

    #[tokio::test(start_paused = true)]
    async fn a_change_wakes_every_waiter_once_and_is_then_seen() {
        let (tx, mut rx) = channel(1);
        let mut other = tx.subscribe();
        let waiting = tokio::spawn(async move { other.changed().await.map(|()| *other.borrow()) });
        tokio::task::yield_now().await;
        tx.send_replace(2);
        assert_eq!(rx.changed().await, Ok(()));
        assert_eq!(*rx.borrow(), 2);
        assert_eq!(waiting.await.ok(), Some(Ok(2)));
        // seen: the next wait blocks until the next change
        let blocked = tokio::time::timeout(std::time::Duration::from_secs(1), rx.changed()).await;
        assert!(blocked.is_err(), "a seen change must not wake again");
        assert!(!tx.send_if_modified(|_| false));
        drop(tx);
        assert_eq!(rx.changed().await, Err(Closed));
    }

    /// The property the simulation rests on: waiters wake in the order they began to wait,
    /// on every run (tokio's watch draws that order at random).
    #[test]
    fn waiters_wake_in_the_order_they_began_to_wait_on_every_run() {
        for _ in 0..50 {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_time()
                .start_paused(true)
                .build()
                .expect("a runtime");
            let order = rt.block_on(async {
                let (tx, _rx) = channel(0u32);
                let woke = Rc::new(RefCell::new(Vec::new()));
                let local = tokio::task::LocalSet::new();
                for i in 0..8 {
                    let mut rx = tx.subscribe();
                    let woke = woke.clone();
                    local.spawn_local(async move {
                        if rx.changed().await.is_ok() {
                            woke.borrow_mut().push(i);
                        }
                    });
                }
                local
                    .run_until(async {
                        tokio::task::yield_now().await;
                        tx.send_replace(1);
                        tokio::time::sleep(std::time::Duration::from_millis(1)).await;
                    })
                    .await;
                let order = woke.borrow().clone();
                order
            });
            assert_eq!(order, (0..8).collect::<Vec<_>>());
        }
    }
}

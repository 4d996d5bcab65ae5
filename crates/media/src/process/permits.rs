//! The process-wide cap on concurrently running programs.
//!
//! The cap bounds independent pipelines, not the programs inside one. A program started by a
//! thread that already holds a permit belongs to that thread's pipeline (the compositor's encoder
//! and the clip decoders that feed it, started one after the other on the render thread): they
//! can only make progress together. Making the decoder wait for a permit while its encoder holds
//! one is hold-and-wait, and two renders that each held half the capacity would wait for each
//! other forever (the hang seen when provider tests with two clips ran side by side). So a nested
//! program rides on its thread's permit and never waits.
//!
//! Locks are taken poison-tolerant: the state is a few counters that no panic can leave
//! half-updated, and one panicking caller must not make every later ffmpeg start panic too.

use std::sync::{Condvar, Mutex, MutexGuard, PoisonError};
use std::thread::ThreadId;

pub(super) const DEFAULT_CONCURRENCY: usize = 4;

pub(super) struct Permits {
    state: Mutex<State>,
    freed: Condvar,
}

struct State {
    capacity: usize,
    in_use: usize,
    /// Threads holding at least one permit, with how many programs each runs.
    holders: Vec<(ThreadId, usize)>,
}

/// One running program's share of the cap; returned when dropped.
pub(super) struct Permit<'a> {
    permits: &'a Permits,
    holder: ThreadId,
    /// False for a nested program, which did not take a unit of the cap.
    counted: bool,
}

pub(super) static PERMITS: Permits = Permits::new(DEFAULT_CONCURRENCY);

impl Permits {
    pub(super) const fn new(capacity: usize) -> Permits {
        Permits {
            state: Mutex::new(State {
                capacity,
                in_use: 0,
                holders: Vec::new(),
            }),
            freed: Condvar::new(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Changes the cap; programs already running keep their permits and the new cap applies
    /// to the next starts.
    pub(super) fn set_capacity(&self, capacity: usize) {
        self.lock().capacity = capacity.max(1);
        self.freed.notify_all();
    }

    /// Waits for a unit of the cap, unless this thread already holds one.
    pub(super) fn acquire(&self) -> Permit<'_> {
        let holder = std::thread::current().id();
        let mut state = self.lock();
        if let Some(entry) = state.holders.iter_mut().find(|(id, _)| *id == holder) {
            entry.1 += 1;
            return Permit {
                permits: self,
                holder,
                counted: false,
            };
        }
        while state.in_use >= state.capacity {
            state = self
                .freed
                .wait(state)
                .unwrap_or_else(PoisonError::into_inner);
        }
        state.in_use += 1;
        state.holders.push((holder, 1));
        Permit {
            permits: self,
            holder,
            counted: true,
        }
    }
}

impl Drop for Permit<'_> {
    fn drop(&mut self) {
        let mut state = self.permits.lock();
        if let Some(at) = state.holders.iter().position(|(id, _)| *id == self.holder) {
            state.holders[at].1 -= 1;
            if state.holders[at].1 == 0 {
                state.holders.swap_remove(at);
            }
        }
        if self.counted {
            state.in_use -= 1;
            drop(state);
            self.permits.freed.notify_one();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::mpsc;
    use std::sync::{Arc, Barrier};
    use std::time::Duration;

    fn leak(capacity: usize) -> &'static Permits {
        Box::leak(Box::new(Permits::new(capacity)))
    }

    #[test]
    fn two_pipelines_that_each_hold_half_the_cap_both_start_their_second_program() {
        let permits = leak(2);
        let both_hold = Arc::new(Barrier::new(2));
        let (done, finished) = mpsc::channel();
        for _ in 0..2 {
            let both_hold = Arc::clone(&both_hold);
            let done = done.clone();
            std::thread::spawn(move || {
                let encoder = permits.acquire();
                both_hold.wait();
                // Before the fix this waited for the other pipeline, which waited for this one.
                let decoder = permits.acquire();
                drop((decoder, encoder));
                done.send(()).unwrap();
            });
        }
        for _ in 0..2 {
            finished
                .recv_timeout(Duration::from_secs(10))
                .expect("neither pipeline waits for the other");
        }
        assert_eq!(permits.lock().in_use, 0);
        assert!(permits.lock().holders.is_empty());
    }

    #[test]
    fn an_independent_start_waits_while_the_cap_is_used_and_goes_when_it_is_returned() {
        let permits = leak(1);
        let held = permits.acquire();
        let (started, got) = mpsc::channel();
        let other = std::thread::spawn(move || {
            let _permit = permits.acquire();
            started.send(()).unwrap();
        });
        assert!(
            got.recv_timeout(Duration::from_millis(300)).is_err(),
            "a second pipeline does not start beyond the cap"
        );
        drop(held);
        got.recv_timeout(Duration::from_secs(10))
            .expect("it starts once the permit is back");
        other.join().unwrap();
    }

    #[test]
    fn a_raised_cap_lets_a_waiting_start_go_at_once() {
        let permits = leak(1);
        let _held = permits.acquire();
        let (started, got) = mpsc::channel();
        std::thread::spawn(move || {
            let _permit = permits.acquire();
            started.send(()).unwrap();
        });
        assert!(got.recv_timeout(Duration::from_millis(200)).is_err());
        permits.set_capacity(2);
        got.recv_timeout(Duration::from_secs(10))
            .expect("the raised cap wakes the waiter");
    }

    #[test]
    fn a_panic_while_the_lock_is_held_does_not_break_later_starts() {
        let permits = leak(1);
        let _ = std::thread::spawn(move || {
            let _guard = permits.state.lock().unwrap();
            panic!("poison the lock");
        })
        .join();
        assert!(permits.state.is_poisoned());
        drop(permits.acquire());
        assert_eq!(permits.lock().in_use, 0);
    }
}

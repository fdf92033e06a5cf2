//! The right to change a node, as each mutating call carries it: the leadership term the
//! guard confirmed, and until when this manager knows the lead is still its own.
//!
//! A guard's check and the call it allows are two steps; a process paused between them
//! (GC, SIGSTOP, a frozen VM) resumes with a check that is stale. So the guard hands its
//! answer to the call as a [`Lease`] in a task-local, and the edge looks at it at the last
//! moment before the change leaves the process: after its lease ended, nothing is sent. The
//! term goes to the node too, which refuses a term older than one it has seen (a fencing
//! token: what a delayed packet of a deposed leader meets).

use std::future::Future;
use tokio::time::Instant;

/// A confirmed lead: its term and how long it is known to hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Lease {
    /// The leadership term (the coordinator's; 0 for a manager alone).
    pub term: i64,
    /// The lead is this manager's at least until then: the coordinator cannot have let
    /// another manager lead before the session timeout, counted from before the check.
    pub until: Instant,
}

tokio::task_local! {
    static LEASE: Lease;
}

/// Run `f` under `lease`: the mutating calls it makes carry it.
pub async fn under<F: Future>(lease: Lease, f: F) -> F::Output {
    LEASE.scope(lease, f).await
}

/// The lease the current call runs under, if any.
pub fn current() -> Option<Lease> {
    LEASE.try_with(|l| *l).ok()
}

impl Lease {
    /// Has it run out?
    pub fn ended(&self) -> bool {
        Instant::now() >= self.until
    }
}

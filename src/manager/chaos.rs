//! A drill hook, off unless `MYHA_CHAOS_PAUSE_BEFORE` is set: the manager stops for a while
//! before the named guarded step of its first failover ("promote" or "move VIP"), so the
//! `kill-leader-mid-failover` drill can kill it at a known point. Never set it in production.

use crate::failover::{Guard, GuardError};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use tracing::warn;

/// The environment variable naming the step to pause before.
pub const PAUSE_BEFORE: &str = "MYHA_CHAOS_PAUSE_BEFORE";

/// How long the pause lasts (the drill kills the manager long before it ends).
const PAUSE: Duration = Duration::from_secs(60);

static PAUSED_ONCE: AtomicBool = AtomicBool::new(false);

/// The step to pause before, if the hook is set.
pub fn pause_step() -> Option<String> {
    std::env::var(PAUSE_BEFORE).ok().filter(|s| !s.is_empty())
}

/// A guard that pauses once before `step`, then asks `inner`.
pub struct Pausing<'a, G> {
    /// The real guard.
    pub inner: &'a G,
    /// The step to pause before.
    pub step: Option<&'a str>,
}

impl<G: Guard> Guard for Pausing<'_, G> {
    async fn may_act(&self, step: &str) -> Result<crate::model::Lease, GuardError> {
        if self.step == Some(step) && !PAUSED_ONCE.swap(true, Ordering::SeqCst) {
            warn!("chaos: pausing {PAUSE:?} before {step} ({PAUSE_BEFORE} is set)");
            tokio::time::sleep(PAUSE).await;
        }
        self.inner.may_act(step).await
    }
}

//! A drill hook, off unless `MYHA_CHAOS_PAUSE_BEFORE` is set: the manager stops for a while
//! before the named guarded step of its first failover ("promote" or "move VIP"), so the
//! `kill-leader-mid-failover` drill can kill it at a known point (`candidate-dies` kills the
//! candidate there instead, with `MYHA_CHAOS_PAUSE_MS` shortening the pause). Never set it
//! in production.

use crate::failover::{Guard, GuardError};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use tracing::warn;

/// The environment variable naming the step to pause before.
pub const PAUSE_BEFORE: &str = "MYHA_CHAOS_PAUSE_BEFORE";

/// The environment variable setting the pause in milliseconds (default [`PAUSE`]).
pub const PAUSE_MS: &str = "MYHA_CHAOS_PAUSE_MS";

/// How long the pause lasts by default (the drill kills the manager long before it ends).
const PAUSE: Duration = Duration::from_secs(60);

/// The pause: `MYHA_CHAOS_PAUSE_MS` when it is a number, else [`PAUSE`].
fn pause() -> Duration {
    std::env::var(PAUSE_MS)
        .ok()
        .and_then(|v| v.parse::<u64>().ok())
        .map_or(PAUSE, Duration::from_millis)
}

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
            let pause = pause();
            warn!("chaos: pausing {pause:?} before {step} ({PAUSE_BEFORE} is set)");
            tokio::time::sleep(pause).await;
        }
        self.inner.may_act(step).await
    }
}

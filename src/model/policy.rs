//! The lossless policy's semi-sync settings, and how a master's settings fall short of them.

use crate::topology::SemiSync;
use std::time::Duration;

/// How a master's semi-sync must be set so that it never acknowledges a commit no replica
/// has (the lossless policy): `AFTER_SYNC`, waiting even with no replica connected, and a
/// long timeout before it gives up and acknowledges alone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SemiSyncPolicy {
    /// `rpl_semi_sync_master_timeout`.
    pub timeout: Duration,
}

impl SemiSyncPolicy {
    /// What in `s` (a master's semi-sync state) falls short of the policy, one phrase each.
    pub fn shortfalls(&self, s: &SemiSync) -> Vec<String> {
        let mut out = Vec::new();
        let want = self.timeout.as_millis() as u64;
        match s.master_timeout_ms {
            Some(t) if t >= want => {}
            Some(t) => out.push(format!("timeout {t} ms (policy {want} ms)")),
            None => out.push("timeout unknown".into()),
        }
        if s.master_wait_point.as_deref() != Some("AFTER_SYNC") {
            out.push(format!(
                "wait point {} (policy AFTER_SYNC)",
                s.master_wait_point.as_deref().unwrap_or("unknown")
            ));
        }
        if s.master_wait_no_replica != Some(true) {
            out.push("does not wait without a connected replica".into());
        }
        if !s.master_enabled {
            out.push("master side disabled".into());
        }
        out
    }
}

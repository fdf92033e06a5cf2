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

/// The semi-sync master side a promotion gives the new master.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PromotedSemiSync {
    /// The lossless policy: every commit waits for a replica's acknowledgement.
    Lossless(SemiSyncPolicy),
    /// On, with the server's own settings (the lossless policy is off).
    ServerSettings,
    /// Off: no replica is left to follow the new master and `failover.alone = "async"`
    /// chose writes over waiting. Semi-sync on, its commits would wait for a replica that is
    /// not there (for `semi_sync_timeout` under the lossless policy); off, they are
    /// acknowledged by the master alone — what it acknowledges counts as unprotected, so a
    /// later failover that would lose it is refused — and the round sets the policy again
    /// once a semi-sync replica replicates from it.
    Off,
}

impl PromotedSemiSync {
    /// How a promoted node's semi-sync was left, for the record.
    pub fn describe(&self) -> String {
        match self {
            PromotedSemiSync::Lossless(p) => {
                format!("semi-sync master on (AFTER_SYNC, timeout {} ms)", p.timeout.as_millis())
            }
            PromotedSemiSync::ServerSettings => "semi-sync master on".into(),
            PromotedSemiSync::Off => {
                "semi-sync master OFF: no replica is left to follow it (failover.alone = \"async\"): it acknowledges writes alone until a replica replicates from it".into()
            }
        }
    }
}

//! The lossless policy's check, pure: would promoting this candidate (after it caught up from
//! its donor) lose a transaction that clients may have been told is committed?
//!
//! An automatic failover that would is not run (MaxScale's `auto_failover=safe`): the manager
//! waits for a node that has those transactions — an unreachable replica coming back, the
//! master itself — and records the refusal; a DBA can force it through a manual failover,
//! accepting the loss by name.

use crate::detect::Acknowledged;
use crate::gtid::Gtids;
use crate::model::Candidates;
use crate::topology::Snapshot;
use serde::Serialize;
use std::fmt;

/// What a failover would lose, and where it was seen.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Loss {
    /// The candidate.
    pub candidate: String,
    /// What it would reach after catching up.
    pub reach: String,
    /// The transactions it would not have.
    pub missing: String,
    /// Where each was seen (a master acknowledging alone, a replica that received them).
    pub sources: Vec<String>,
}

impl fmt::Display for Loss {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "promoting {} (it reaches {}) would lose {}, which clients may have been told is committed: {}",
            self.candidate,
            if self.reach.is_empty() { "nothing" } else { &self.reach },
            self.missing,
            self.sources.join("; ")
        )
    }
}

fn received(snapshot: &Snapshot, node: &str) -> Option<Gtids> {
    snapshot.node(node).and_then(|n| n.ok()).map(|s| s.received())
}

/// `Err` when promoting `c.chosen` — after it applied what it and its donor received — would
/// lose something `acked` says may have been acknowledged. `Ok` when nothing is chosen.
pub fn check(acked: &Acknowledged, snapshot: &Snapshot, c: &Candidates) -> Result<(), Loss> {
    let Some(chosen) = c.chosen.as_deref() else {
        return Ok(());
    };
    let Some(known) = acked.all() else { return Ok(()) };
    let Some(mut reach) = received(snapshot, chosen) else {
        return Ok(());
    };
    if let Some(d) = c.catch_up_from.as_deref().and_then(|d| received(snapshot, d)) {
        reach = reach.union(&d).unwrap_or(reach);
    }
    if reach.contains(&known) != Some(false) {
        return Ok(());
    }
    let missing = known.missing_from(&reach).map(|m| m.to_string()).unwrap_or_default();
    Err(Loss {
        candidate: chosen.to_string(),
        reach: reach.to_string(),
        missing,
        sources: acked.sources_beyond(&reach),
    })
}

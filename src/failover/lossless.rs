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
use crate::topology::{ProbeFailure, Snapshot};
use serde::Serialize;
use std::fmt;

/// What a failover would lose, and where it was seen.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Loss {
    /// The candidate.
    pub candidate: String,
    /// What it would reach after catching up.
    pub reach: String,
    /// The transactions it would not have (empty when what it would lose is not known yet:
    /// see `unrevoked`).
    pub missing: String,
    /// Where each was seen (a master acknowledging alone, a replica that received them).
    pub sources: Vec<String>,
    /// Replicas the failover cannot reach while the old master may be alive: they could
    /// acknowledge its waiting commits after the promotion.
    pub unrevoked: Vec<String>,
}

impl fmt::Display for Loss {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if !self.unrevoked.is_empty() || self.missing.is_empty() {
            return write!(
                f,
                "promoting {} could lose writes acknowledged after it: {}",
                self.candidate,
                self.sources.join("; ")
            );
        }
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

impl Loss {
    /// A loss no probe can name: `source` says why promoting `chosen` could lose writes.
    fn unnamed(snapshot: &Snapshot, chosen: &str, source: String, unrevoked: Vec<String>) -> Self {
        Loss {
            candidate: chosen.to_string(),
            reach: received(snapshot, chosen).map(|g| g.to_string()).unwrap_or_default(),
            missing: String::new(),
            sources: vec![source],
            unrevoked,
        }
    }
}

fn received(snapshot: &Snapshot, node: &str) -> Option<Gtids> {
    snapshot.node(node).and_then(|n| n.ok()).map(|s| s.received())
}

/// `Err` when promoting `c.chosen` — after it applied what it and its donor received — would
/// lose something `acked` says may have been acknowledged, or could lose what the old master
/// acknowledges later ([`unrevoked`]) or acknowledged alone since its last probe ([`alone`]).
/// `Ok` when nothing is chosen.
pub fn check(acked: &Acknowledged, snapshot: &Snapshot, c: &Candidates) -> Result<(), Loss> {
    let Some(chosen) = c.chosen.as_deref() else {
        return Ok(());
    };
    let loss = unrevoked(snapshot, c, chosen)
        .or_else(|| known_loss(acked, snapshot, c, chosen))
        .or_else(|| alone(acked, snapshot, chosen));
    loss.map_or(Ok(()), Err)
}

/// The master's last probe showed it acknowledging commits without a replica: what it
/// acknowledged after that probe is on no node the failover can reach, and nothing says how
/// much there is. Only the master itself has it.
fn alone(acked: &Acknowledged, snapshot: &Snapshot, chosen: &str) -> Option<Loss> {
    let at = acked.alone_when_last_seen?;
    let source = format!(
        "{} was last seen ({}) acknowledging commits without a replica (semi-sync off): what it acknowledged after that is on no other node",
        acked.master,
        humantime::format_rfc3339_millis(at)
    );
    Some(Loss::unnamed(snapshot, chosen, source, Vec::new()))
}

/// What `chosen` would lack — after catching up from its donor — of what `acked` says may
/// have been acknowledged.
fn known_loss(acked: &Acknowledged, snapshot: &Snapshot, c: &Candidates, chosen: &str) -> Option<Loss> {
    let known = acked.all()?;
    let mut reach = received(snapshot, chosen)?;
    if let Some(d) = c.catch_up_from.as_deref().and_then(|d| received(snapshot, d)) {
        reach = reach.union(&d).unwrap_or(reach);
    }
    if reach.contains(&known) != Some(false) {
        return None;
    }
    let missing = known.missing_from(&reach).map(|m| m.to_string()).unwrap_or_default();
    Some(Loss {
        candidate: chosen.to_string(),
        reach: reach.to_string(),
        missing,
        sources: acked.sources_beyond(&reach),
        unrevoked: Vec::new(),
    })
}

/// An old master that did not refuse connections but timed out may be alive — frozen, or
/// cut off from the managers — holding commits that wait for a semi-sync acknowledgement,
/// with clients waiting for them. Any of its replicas that the failover cannot stop
/// receiving can send that acknowledgement later (when the old master thaws, when a
/// partition heals), and every write so acknowledged is lost to the new master: with one
/// acknowledgement needed, a failover is lossless only when it stops *every* replica — the
/// rule Vitess's emergency reparent follows. A replica that does not answer the probe is
/// one the failover cannot stop. An old master that refused the connection is not running:
/// it lost its client sessions and comes back read-only.
fn unrevoked(snapshot: &Snapshot, c: &Candidates, chosen: &str) -> Option<Loss> {
    let old = snapshot.node(&c.old_master)?;
    let down = matches!(&old.state, Err(ProbeFailure::Refused(_)));
    if down {
        return None;
    }
    let unreachable: Vec<&str> = snapshot
        .nodes
        .iter()
        .filter(|n| n.name != c.old_master && n.ok().is_none())
        .map(|n| n.name.as_str())
        .collect();
    if unreachable.is_empty() {
        return None;
    }
    let why = match &old.state {
        Err(f) => f.to_string(),
        Ok(_) => "it answers".into(),
    };
    let source = format!(
        "{} may be alive ({why}) and {} cannot be reached to stop receiving from it: it could still acknowledge {}'s waiting commits",
        c.old_master,
        unreachable.join(", "),
        c.old_master
    );
    let unrevoked = unreachable.into_iter().map(String::from).collect();
    Some(Loss::unnamed(snapshot, chosen, source, unrevoked))
}

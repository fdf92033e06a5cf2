//! What every manager of a cluster agrees on, kept by the coordinator with compare-and-set:
//! the master of record and its epoch, the anti-flap block, pause, nodes to rebuild, a DBA's
//! request on its way to the leader, a scheduled backup, a refused failover.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;

/// An automatic failover of the cluster is blocked until `until_ms` (anti-flapping) — once
/// the master that failover promoted has served. A failover whose master died before it
/// served, or that the VIP never reached, did not succeed: blocking the next one would leave
/// the cluster without a master (Orchestrator #1296). Flapping is a master that served and
/// died again; a second failover in a row whose master never served arms its block at once,
/// so an unserved master gets one retry, not a cascade.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Block {
    /// Unix milliseconds.
    pub until_ms: u64,
    /// RFC 3339, for people.
    pub until: String,
    /// The failover that set the block.
    pub failover: String,
    /// The master it promoted (absent in blocks written before the field: they hold at once).
    #[serde(default)]
    pub master: Option<String>,
    /// Whether the block holds: that master was seen writable, the VIP on it, at or after
    /// `arms_at_ms`.
    #[serde(default = "holds")]
    pub armed: bool,
    /// Unix milliseconds: the failover plus `failover.served_before_block`.
    #[serde(default)]
    pub arms_at_ms: u64,
}

fn holds() -> bool {
    true
}

/// What every manager of a cluster agrees on.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SharedState {
    /// The current master, as last set by a failover or observed.
    pub master: Option<String>,
    /// Grows with every change of master.
    pub epoch: u64,
    /// The node the VIP's routes were last pointed at (verified in every route table).
    #[serde(default)]
    pub vip: Option<String>,
    /// Anti-flapping block after an automatic failover.
    pub block: Option<Block>,
    /// Automation paused by a DBA: detection goes on, nothing is acted on.
    pub paused: bool,
    /// Nodes that must be rebuilt before they can replicate again, with why.
    pub needs_rebuild: BTreeMap<String, String>,
    /// Id of the last failover.
    pub last_failover: Option<String>,
    /// A DBA's switchover or failover for the leader to run.
    #[serde(default)]
    pub request: Option<Request>,
    /// A scheduled backup the leader asked a replica's backup agent for (its own slot: a
    /// backup takes long and must not hold up a switchover).
    #[serde(default)]
    pub backup: Option<BackupRequest>,
    /// The leader refuses the automatic failover of a dead master because it would lose
    /// transactions that may have been acknowledged (lossless policy): any manager's API then
    /// accepts a manual failover with force, whatever that manager saw itself.
    #[serde(default)]
    pub refused: Option<Refused>,
}

/// An automatic failover the leader refuses (lossless policy).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Refused {
    /// The dead master.
    pub master: String,
    /// The transactions a failover would lose.
    pub missing: String,
    /// The leader's sentence: what would be lost, and where it was seen.
    pub detail: String,
    /// Since when (RFC 3339).
    pub since: String,
}

impl SharedState {
    /// The block, if it is in force at `now_ms`: armed, and its period not over.
    pub fn active_block(&self, now_ms: u64) -> Option<&Block> {
        self.block_in_period(now_ms).filter(|b| b.armed)
    }

    /// The block, armed or waiting for its master to serve, if its period is not over.
    pub fn block_in_period(&self, now_ms: u64) -> Option<&Block> {
        self.block.as_ref().filter(|b| now_ms < b.until_ms)
    }
}

/// State plus the version it was read at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Versioned<T> {
    /// The value.
    pub value: T,
    /// Pass back to `save`.
    pub version: u64,
}

/// What was asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    /// Move a healthy master to a replica, losing nothing.
    Switchover,
    /// Replace a dead master while automation is paused or blocked.
    Failover,
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Action::Switchover => "switchover",
            Action::Failover => "failover",
        })
    }
}

/// One request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Request {
    /// Also the id of the failover record it produces.
    pub id: String,
    /// Switchover or failover.
    pub action: Action,
    /// The node to promote; `None`: the best candidate.
    pub to: Option<String>,
    /// The manager whose API accepted it.
    pub via: String,
    /// Who asked: the name of the API token (`[[api.token]] name`).
    #[serde(default)]
    pub by: String,
    /// When (RFC 3339).
    pub requested_at: String,
    /// Unix milliseconds after which a request nobody started is void: the DBA who asked
    /// has long stopped waiting, and the cluster may look different by then.
    pub expires_ms: u64,
    /// The leader began it.
    #[serde(default)]
    pub started: bool,
    /// A manual failover that would lose acknowledged transactions runs anyway: the DBA
    /// accepted the loss.
    #[serde(default)]
    pub force: bool,
}

impl Request {
    /// Does it still claim the cluster (waiting to start, or started)?
    pub fn is_live(&self, now_ms: u64) -> bool {
        self.started || now_ms < self.expires_ms
    }
}

impl fmt::Display for Request {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.action, self.id)?;
        if let Some(to) = &self.to {
            write!(f, " to {to}")?;
        }
        match self.by.as_str() {
            "" => write!(f, " (via {}, {})", self.via, self.requested_at),
            by => write!(f, " (by {by} via {}, {})", self.via, self.requested_at),
        }
    }
}

/// A scheduled backup the leader asks of the backup agent on `node`'s host.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BackupRequest {
    /// For logs.
    pub id: String,
    /// The source node.
    pub node: String,
    /// The leader that asked.
    pub via: String,
    /// When (RFC 3339).
    pub requested_at: String,
    /// Unix milliseconds until which it claims the slot: until the agent must start it, then
    /// (once started) until the backup's longest allowed time.
    pub expires_ms: u64,
    /// The agent began it.
    #[serde(default)]
    pub started: bool,
}

impl fmt::Display for BackupRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "backup {} on {} (asked by {}, {})",
            self.id, self.node, self.via, self.requested_at
        )
    }
}

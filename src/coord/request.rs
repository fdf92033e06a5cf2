//! A DBA's action (planned switchover, manual failover) on its way from whichever manager's
//! API accepted it to the cluster's leader, the only manager that acts. It travels in the
//! shared state, so it is written with the same compare-and-set as everything else there:
//! two requests racing for one cluster cannot both be accepted, and a request is started at
//! most once (the leader marks it started, with compare-and-set, before its first step).

use serde::{Deserialize, Serialize};
use std::fmt;

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
        write!(f, " (via {}, {})", self.via, self.requested_at)
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

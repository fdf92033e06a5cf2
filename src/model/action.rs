//! What the leader did outside failovers — fence a stale master, rejoin a returning one,
//! adopt a moved master, mark a node for rebuild, set a master's semi-sync, repair the VIP —
//! one entry each, kept beside the failover records so the history says why a node changed.

use super::record::Status;
use serde::{Deserialize, Serialize};
use std::fmt;

/// Which action.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ActionKind {
    /// A writable node that is not the master made read-only, its sessions ended.
    Fence,
    /// A returning node made a replica of the master.
    Rejoin,
    /// The observed master recorded as the master of record.
    Adopt,
    /// A node marked for rebuild (it diverged).
    MarkRebuild,
    /// A rebuilt node unmarked.
    Unmark,
    /// The master's semi-sync set to the lossless policy.
    SemiSync,
    /// The VIP pointed at the master again.
    VipRepair,
    /// The master of record made writable again (it was read-only, no node took writes).
    Reopen,
    /// The anti-flap block armed: the master its failover promoted served.
    ArmBlock,
}

impl fmt::Display for ActionKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ActionKind::Fence => "fence",
            ActionKind::Rejoin => "rejoin",
            ActionKind::Adopt => "adopt",
            ActionKind::MarkRebuild => "mark_rebuild",
            ActionKind::Unmark => "unmark",
            ActionKind::SemiSync => "semi_sync",
            ActionKind::VipRepair => "vip_repair",
            ActionKind::Reopen => "reopen",
            ActionKind::ArmBlock => "arm_block",
        })
    }
}

/// One action, once done (or refused).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ActionEntry {
    /// `<cluster>-<UTC time, ms>-<kind>-<node>`: sorts by time.
    pub id: String,
    /// Cluster name.
    pub cluster: String,
    /// Which action.
    pub kind: ActionKind,
    /// The node acted on.
    pub node: String,
    /// The decision's sentence: why.
    pub decision: String,
    /// The manager that acted, and the term it led in.
    pub manager: String,
    /// The leadership term.
    pub term: i64,
    /// The epoch of the master of record the decision was made on.
    pub epoch: u64,
    /// When it started (RFC 3339).
    pub at: String,
    /// How long it took.
    pub duration_ms: u64,
    /// Ok, failed, or skipped (the guard refused: nothing was changed).
    pub status: Status,
    /// What happened, or why not.
    pub detail: String,
}

impl fmt::Display for ActionEntry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}: {:?}: {}", self.kind, self.node, self.status, self.detail)
    }
}

//! The outcome of candidate selection, as decisions, records and the API carry it: the
//! ranking of the old master's replicas, the node chosen, its donor, and every node rejected
//! with its reason. Chosen by `failover::candidate`.

use serde::{Deserialize, Serialize};
use std::fmt;

/// One replica in the ranking.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ranked {
    /// Node name.
    pub node: String,
    /// What it received, as GTID text.
    pub received: String,
    /// Its configured priority.
    pub priority: i32,
}

/// A node that cannot be promoted, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rejected {
    /// Node name.
    pub node: String,
    /// Why not.
    pub reason: String,
}

/// The outcome of candidate selection.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Candidates {
    /// The master being replaced.
    pub old_master: String,
    /// Replicas of the old master, most advanced first.
    pub ranking: Vec<Ranked>,
    /// The node to promote, if any can be.
    pub chosen: Option<String>,
    /// The replica that received the most (may be the chosen one).
    pub most_advanced: Option<String>,
    /// When the chosen node is behind: the replica to catch up from before promotion.
    pub catch_up_from: Option<String>,
    /// The replicas that may serve the chosen node what it lacks, most advanced first: never
    /// one with errant transactions or marked for rebuild (it would pass its own
    /// transactions on), nor one whose applier is broken (a donor serves from its binlog).
    #[serde(default)]
    pub donors: Vec<String>,
    /// Nodes that cannot be promoted.
    pub rejected: Vec<Rejected>,
}

impl fmt::Display for Candidates {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.chosen {
            Some(c) => {
                let r = self.ranking.iter().find(|r| &r.node == c);
                write!(f, "promoting {c}")?;
                if let Some(r) = r {
                    write!(f, " (received {}, priority {})", r.received, r.priority)?;
                }
                if let Some(d) = &self.catch_up_from {
                    write!(f, " after catching up from {d}, which received more")?;
                }
            }
            None => write!(f, "no node can be promoted")?,
        }
        if !self.rejected.is_empty() {
            write!(
                f,
                "; not eligible: {}",
                self.rejected
                    .iter()
                    .map(|r| format!("{} ({})", r.node, r.reason))
                    .collect::<Vec<_>>()
                    .join(", ")
            )?;
        }
        Ok(())
    }
}

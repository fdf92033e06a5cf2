//! One probe round of one cluster, frozen.

use super::NodeState;
use serde::Serialize;
use std::time::{Duration, SystemTime};
use tokio::time::Instant;

/// Why a node could not be probed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", content = "detail", rename_all = "snake_case")]
pub enum ProbeFailure {
    /// Connecting or a query took longer than the probe timeout (a hung or cut-off node).
    Timeout,
    /// The host answered that nothing listens on the port (`ECONNREFUSED`): the server
    /// process is not running — it holds no client session, and comes back read-only.
    Refused(String),
    /// The connection failed otherwise or broke.
    Connect(String),
    /// The server answered with an error or something the flavor could not parse.
    Query(String),
}

impl std::fmt::Display for ProbeFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ProbeFailure::Timeout => f.write_str("timed out"),
            ProbeFailure::Refused(e) | ProbeFailure::Connect(e) => write!(f, "cannot connect: {e}"),
            ProbeFailure::Query(e) => write!(f, "query failed: {e}"),
        }
    }
}

/// One node in one round.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NodeObservation {
    /// Node name from the config.
    pub name: String,
    /// Host or IP the node is probed at; replicas name their master the same way.
    pub address: String,
    /// Port.
    pub port: u16,
    /// The node's state, or why there is none.
    pub state: Result<NodeState, ProbeFailure>,
    /// How long the probe took (capped by the probe timeout).
    #[serde(with = "humantime_serde")]
    pub latency: Duration,
}

impl NodeObservation {
    /// The state when the node answered.
    pub fn ok(&self) -> Option<&NodeState> {
        self.state.as_ref().ok()
    }
}

/// A cluster as one probe round saw it. Immutable: decisions are made on it as a whole.
#[derive(Debug, Clone, Serialize)]
pub struct Snapshot {
    /// Cluster name.
    pub cluster: String,
    /// Round number, from 1.
    pub round: u64,
    /// When the round started (monotonic, for timing decisions).
    #[serde(skip)]
    pub at: Instant,
    /// When the round started (wall clock, for people).
    #[serde(with = "humantime_serde")]
    pub wall: SystemTime,
    /// How long the round took.
    #[serde(with = "humantime_serde")]
    pub duration: Duration,
    /// Every configured node, in config order.
    pub nodes: Vec<NodeObservation>,
}

impl Snapshot {
    /// The observation of node `name`.
    pub fn node(&self, name: &str) -> Option<&NodeObservation> {
        self.nodes.iter().find(|n| n.name == name)
    }

    /// What each reachable node but `node` and those `skip` names received that `executed`
    /// lacks, one "db3 has 0-2-5" per node. Each node's own writes do not count: a deposed
    /// master's past its failover, a replica's errant ones, are not the cluster's.
    pub fn ahead_of(&self, node: &str, executed: &crate::gtid::Gtids, skip: impl Fn(&str) -> bool) -> Vec<String> {
        self.nodes
            .iter()
            .filter(|n| n.name != node && !skip(&n.name))
            .filter_map(|n| {
                let st = n.ok()?;
                let missing = st.received().without_server(st.server_id).missing_from(executed)?;
                (!missing.is_empty()).then(|| format!("{} has {missing}", n.name))
            })
            .collect()
    }

    /// The node a replica's `Master_Host:Master_Port` names, matched on the configured
    /// address (replicas are pointed at configured addresses, never at the VIP).
    pub fn node_at(&self, host: &str, port: u16) -> Option<&NodeObservation> {
        self.nodes.iter().find(|n| n.address == host && n.port == port)
    }
}

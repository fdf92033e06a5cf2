//! What the detector concluded, as data and as a sentence. Logs, `myha status` and tests all
//! read the same `Display` text.

use crate::topology::IoThread;
use serde::Serialize;
use std::fmt;
use std::time::Duration;

/// The detector's verdict on one cluster: the master's state plus per-node issues.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Diagnosis {
    /// Cluster name.
    pub cluster: String,
    /// The master's state: decides whether a failover is warranted.
    pub state: ClusterState,
    /// Problems with individual nodes that do not by themselves call for a failover.
    pub issues: Vec<NodeIssue>,
}

/// Why a replica counts as having lost its master.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Lost {
    /// The IO thread is not connected (`Connecting` or `No`).
    IoThread {
        /// its state
        io: IoThread,
    },
    /// Connected, but nothing — no event, no heartbeat — arrived for this long.
    Silent {
        /// how long
        #[serde(with = "humantime_serde")]
        for_: Duration,
    },
}

/// The state of a cluster's master, Orchestrator-style: a master is dead only when the
/// manager cannot reach it *and* its replicas have lost it too.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ClusterState {
    /// One writable master, reachable.
    Healthy {
        /// the master
        master: String,
        /// replicas replicating from it
        replicating: Vec<String>,
        /// configured replicas
        replicas: usize,
    },
    /// The master failed the last probes, fewer than `failures_before_suspect`.
    MasterSuspect {
        /// the master
        master: String,
        /// consecutive failed probes
        failures: u32,
        /// failed probes needed to act
        needed: u32,
    },
    /// The manager cannot reach the master but replicas still hear from it: a partition
    /// between the manager and the master. Not actionable.
    UnreachableMaster {
        /// the master
        master: String,
        /// consecutive failed probes
        failures: u32,
        /// replicas that still receive events or heartbeats from it
        still_replicating: Vec<String>,
    },
    /// The manager cannot reach the master and every reachable replica lost it. Actionable.
    DeadMaster {
        /// the master
        master: String,
        /// consecutive failed probes
        failures: u32,
        /// each reachable replica and why it counts as having lost the master
        replicas: Vec<(String, Lost)>,
    },
    /// Like `DeadMaster`, and some replicas are unreachable as well. Actionable.
    DeadMasterAndSomeReplicas {
        /// the master
        master: String,
        /// consecutive failed probes
        failures: u32,
        /// reachable replicas that lost the master
        replicas: Vec<(String, Lost)>,
        /// replicas the manager cannot reach either
        dead_replicas: Vec<String>,
    },
    /// The master is unreachable and no reachable node replicates from it: nothing could
    /// confirm its death and nothing is there to promote. Not actionable.
    DeadMasterWithoutReplicas {
        /// the master
        master: String,
        /// consecutive failed probes
        failures: u32,
    },
    /// No node answers: a dead cluster and a partitioned manager look the same. Not actionable.
    AllUnreachable {
        /// the last known master, if any
        master: Option<String>,
    },
    /// The master of record answers read-only, and another node — the only writable one — has
    /// everything it ever wrote, for `rounds` consecutive rounds: the master was moved (by a
    /// DBA, or by a failover whose last write did not reach the coordinator). Adopted after
    /// `needed` rounds; a writable node that lacks some of the record's writes is a stale
    /// master instead ([`NodeIssue::StaleWritable`]).
    MasterMoved {
        /// the master of record
        record: String,
        /// the writable node
        to: String,
        /// consecutive rounds seen so
        rounds: u32,
        /// rounds needed to adopt it
        needed: u32,
    },
    /// The node replicas follow is reachable but read-only, and no node is writable.
    MasterReadOnly {
        /// the master
        master: String,
        /// consecutive newest rounds seen so
        rounds: u32,
        /// rounds before the master of record is made writable again
        needed: u32,
    },
    /// More than one node is writable.
    SplitBrain {
        /// the writable nodes
        writable: Vec<String>,
    },
    /// No node is writable and no replica names a master.
    NoMaster,
}

impl ClusterState {
    /// Does this state call for an automatic failover?
    pub fn is_actionable(&self) -> bool {
        matches!(
            self,
            ClusterState::DeadMaster { .. } | ClusterState::DeadMasterAndSomeReplicas { .. }
        )
    }

    /// Is the master suspect, unreachable or dead — a failover possibly on its way?
    pub fn master_in_doubt(&self) -> bool {
        matches!(
            self,
            ClusterState::MasterSuspect { .. }
                | ClusterState::UnreachableMaster { .. }
                | ClusterState::DeadMaster { .. }
                | ClusterState::DeadMasterAndSomeReplicas { .. }
                | ClusterState::DeadMasterWithoutReplicas { .. }
                | ClusterState::AllUnreachable { .. }
        )
    }

    /// The master the state is about, if any.
    pub fn master(&self) -> Option<&str> {
        match self {
            ClusterState::Healthy { master, .. }
            | ClusterState::MasterSuspect { master, .. }
            | ClusterState::UnreachableMaster { master, .. }
            | ClusterState::DeadMaster { master, .. }
            | ClusterState::DeadMasterAndSomeReplicas { master, .. }
            | ClusterState::DeadMasterWithoutReplicas { master, .. }
            | ClusterState::MasterReadOnly { master, .. }
            | ClusterState::MasterMoved { record: master, .. } => Some(master),
            ClusterState::AllUnreachable { master } => master.as_deref(),
            ClusterState::SplitBrain { .. } | ClusterState::NoMaster => None,
        }
    }

    /// A short machine name (`dead_master`, …), as serialized.
    pub fn kind(&self) -> &'static str {
        match self {
            ClusterState::Healthy { .. } => "healthy",
            ClusterState::MasterSuspect { .. } => "master_suspect",
            ClusterState::UnreachableMaster { .. } => "unreachable_master",
            ClusterState::DeadMaster { .. } => "dead_master",
            ClusterState::DeadMasterAndSomeReplicas { .. } => "dead_master_and_some_replicas",
            ClusterState::DeadMasterWithoutReplicas { .. } => "dead_master_without_replicas",
            ClusterState::AllUnreachable { .. } => "all_unreachable",
            ClusterState::MasterReadOnly { .. } => "master_read_only",
            ClusterState::MasterMoved { .. } => "master_moved",
            ClusterState::SplitBrain { .. } => "split_brain",
            ClusterState::NoMaster => "no_master",
        }
    }
}

/// A problem with one node.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum NodeIssue {
    /// The manager cannot reach a replica.
    Unreachable {
        /// the node
        node: String,
        /// why
        reason: String,
    },
    /// A replica's replication is stopped or failing while its master is fine.
    ReplicaBroken {
        /// the node
        node: String,
        /// IO thread state
        io: IoThread,
        /// SQL thread running?
        sql_running: bool,
        /// the last IO or SQL error
        error: Option<String>,
    },
    /// A replica is further behind than `max_replica_lag`.
    ReplicaLagging {
        /// the node
        node: String,
        /// `Seconds_Behind_Master`
        seconds: u64,
    },
    /// A replica executed transactions the master does not have.
    ErrantTransactions {
        /// the node
        node: String,
        /// the errant GTIDs
        gtids: String,
    },
    /// A reachable, read-only node that does not replicate at all.
    NotReplicating {
        /// the node
        node: String,
    },
    /// A node other than the master (of record) is writable: a returning old master, or one a
    /// failover could not fence. Whatever it commits is not the cluster's.
    StaleWritable {
        /// the node
        node: String,
        /// the master
        master: String,
    },
    /// A replica replicates from something other than the master.
    WrongMaster {
        /// the node
        node: String,
        /// `Master_Host:Master_Port`
        from: String,
    },
    /// Semi-sync is enabled on the master but not active: commits are acknowledged
    /// without a replica having them.
    SemiSyncInactive {
        /// the master
        node: String,
        /// semi-sync replicas connected
        clients: u32,
    },
}

fn list(names: &[String]) -> String {
    names.join(", ")
}

fn lost_list(replicas: &[(String, Lost)]) -> String {
    replicas
        .iter()
        .map(|(n, l)| match l {
            Lost::IoThread { io } => format!("{n}: IO thread {io:?}"),
            Lost::Silent { for_ } => {
                format!("{n}: nothing received for {:.1}s", for_.as_secs_f64())
            }
        })
        .collect::<Vec<_>>()
        .join("; ")
}

impl fmt::Display for ClusterState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ClusterState::Healthy { master, replicating, replicas } => {
                write!(f, "healthy: master {master} writable, {}/{replicas} replicas replicating", replicating.len())
            }
            ClusterState::MasterSuspect { master, failures, needed } => {
                write!(f, "master {master} failed {failures}/{needed} probes: suspect, watching")
            }
            ClusterState::UnreachableMaster { master, failures, still_replicating } => write!(
                f,
                "master {master} unreachable from this manager ({failures} failed probes) but {} still replicate from it: not dead, not failing over",
                list(still_replicating)
            ),
            ClusterState::DeadMaster { master, failures, replicas } => write!(
                f,
                "master {master} dead: {failures} failed probes and {n}/{n} replicas lost it ({})",
                lost_list(replicas),
                n = replicas.len()
            ),
            ClusterState::DeadMasterAndSomeReplicas { master, failures, replicas, dead_replicas } => write!(
                f,
                "master {master} and replicas {} dead: {failures} failed probes, the reachable replicas lost it ({})",
                list(dead_replicas),
                lost_list(replicas)
            ),
            ClusterState::DeadMasterWithoutReplicas { master, failures } => write!(
                f,
                "master {master} unreachable ({failures} failed probes) and no reachable replica replicates from it: cannot confirm, nothing to promote"
            ),
            ClusterState::AllUnreachable { master } => write!(
                f,
                "no node reachable from this manager{}: a dead cluster and a cut-off manager look the same; not acting",
                master.as_ref().map(|m| format!(" (last master {m})")).unwrap_or_default()
            ),
            ClusterState::MasterMoved { record, to, rounds, needed } => write!(
                f,
                "master of record {record} is read-only and {to}, the only writable node, has everything {record} wrote ({rounds}/{needed} rounds): the master was moved to {to}"
            ),
            ClusterState::MasterReadOnly { master, .. } => {
                write!(f, "master {master} is read-only: replicas follow it but no node takes writes")
            }
            ClusterState::SplitBrain { writable } => write!(f, "split brain: {} are all writable", list(writable)),
            ClusterState::NoMaster => f.write_str("no master: no node is writable and no replica names a master"),
        }
    }
}

impl fmt::Display for NodeIssue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NodeIssue::Unreachable { node, reason } => write!(f, "{node} unreachable ({reason})"),
            NodeIssue::ReplicaBroken { node, io, sql_running, error } => write!(
                f,
                "{node} replication broken (IO {io:?}, SQL {}){}",
                if *sql_running { "running" } else { "stopped" },
                error.as_ref().map(|e| format!(": {e}")).unwrap_or_default()
            ),
            NodeIssue::ReplicaLagging { node, seconds } => write!(f, "{node} lagging {seconds}s behind"),
            NodeIssue::ErrantTransactions { node, gtids } => write!(f, "{node} has errant transactions {gtids}"),
            NodeIssue::NotReplicating { node } => write!(f, "{node} is read-only but not replicating"),
            NodeIssue::WrongMaster { node, from } => write!(f, "{node} replicates from {from}, not from the master"),
            NodeIssue::StaleWritable { node, master } => {
                write!(f, "{node} is writable but {master} is the master: a stale master, its writes are not the cluster's")
            }
            NodeIssue::SemiSyncInactive { node, clients } => write!(
                f,
                "semi-sync inactive on master {node} ({clients} semi-sync replicas): commits are not waiting for a replica"
            ),
        }
    }
}

impl fmt::Display for Diagnosis {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.state)?;
        for i in &self.issues {
            write!(f, "; {i}")?;
        }
        Ok(())
    }
}

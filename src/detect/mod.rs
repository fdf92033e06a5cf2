//! The detector: a pure function from recent snapshots to a [`Diagnosis`].
//!
//! A master is *dead* only when (Orchestrator's DeadMaster, MaxScale's
//! `verify_master_failure`): the manager failed to reach it for `failures_before_suspect`
//! consecutive rounds, **and** every reachable replica of it has lost it — its IO thread is
//! no longer connected, or nothing (no event, no heartbeat) arrived for longer than
//! `max(replica_agreement_window, 1.5 × the replica's heartbeat period)`. A master the manager
//! cannot reach while some replica still hears from it is only *unreachable*: the manager is
//! the one cut off, and failing over would split the brain.

mod acked;
mod diagnosis;
#[cfg(test)]
mod tests;

pub use acked::{Acknowledged, Unprotected};
pub use diagnosis::{ClusterState, Diagnosis, Lost, NodeIssue};

use crate::config::Timing;
use crate::gtid::Gtids;
use crate::topology::{IoThread, NodeObservation, Snapshot};
use std::collections::{BTreeSet, VecDeque};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

/// The most rounds a history keeps.
const MAX_ROUNDS: usize = 512;

/// The recent snapshots of one cluster, oldest first, bounded — and what the detector keeps
/// for longer than that window, so that a round can be replayed from data: what the master
/// may have acknowledged, the nodes seen with errant transactions, since when the master
/// has been dead.
#[derive(Debug, Clone)]
pub struct History {
    snapshots: VecDeque<Arc<Snapshot>>,
    /// Rounds kept: [`History::base`], or more while a replica's heartbeat period asks for
    /// a longer silence than that covers.
    capacity: usize,
    /// The rounds the timing alone needs (agreement window, failure count, margin).
    base: usize,
    /// The probe interval, to turn a silence into rounds.
    interval: std::time::Duration,
    acked: Option<Acknowledged>,
    /// Nodes with errant transactions, as last judged while the master was healthy (they
    /// cannot be judged without a master).
    errant: BTreeSet<String>,
    /// The master's binlog state when it was last reachable (for the errant check that
    /// needs no master: see [`History::observe`]).
    master_binlog: Option<(String, Gtids)>,
    /// When the current actionable state (a dead master) was first seen.
    actionable_since: Option<SystemTime>,
}

impl History {
    /// Keep enough rounds to cover the agreement window and the failure count, with margin.
    pub fn new(timing: &Timing) -> Self {
        let per_window = timing.replica_agreement_window.as_millis() / timing.probe_interval.as_millis().max(1);
        let capacity = (per_window as usize * 3)
            .max(timing.failures_before_suspect as usize * 2)
            .clamp(8, MAX_ROUNDS);
        History {
            snapshots: VecDeque::with_capacity(capacity),
            capacity,
            base: capacity,
            interval: timing.probe_interval.max(Duration::from_millis(1)),
            acked: None,
            errant: BTreeSet::new(),
            master_binlog: None,
            actionable_since: None,
        }
    }

    /// Take in one round and diagnose it (the master of record is `record`): the usual way
    /// in, which keeps the detector's memory up to date. `None` without snapshots.
    pub fn observe(&mut self, s: Arc<Snapshot>, timing: &Timing, record: Option<&str>) -> Option<Diagnosis> {
        let wall = s.wall;
        self.push(s, record);
        let d = self.diagnose(timing, record)?;
        if d.state.is_actionable() {
            self.actionable_since.get_or_insert(wall);
        } else {
            self.actionable_since = None;
        }
        if matches!(d.state, ClusterState::Healthy { .. }) {
            self.errant = d
                .issues
                .iter()
                .filter_map(|i| match i {
                    NodeIssue::ErrantTransactions { node, .. } => Some(node.clone()),
                    _ => None,
                })
                .collect();
        }
        self.errant.extend(self.own_writes_beyond_master());
        Some(d)
    }

    /// Replicas holding transactions of their own server that the master's binlog did not
    /// have when it was last reachable. A master gets a server's GTIDs only by replicating
    /// from that server, so these were written on the replica: errant, even when the master
    /// died in the same instant and no round ever saw both (the usual check needs a master).
    fn own_writes_beyond_master(&self) -> Vec<String> {
        let (Some(latest), Some((master, binlog))) = (self.snapshots.back(), &self.master_binlog) else {
            return Vec::new();
        };
        latest
            .nodes
            .iter()
            .filter(|n| n.name != *master)
            .filter_map(|n| {
                let st = n.ok().filter(|st| st.replica.is_some())?;
                let own = st.binlog_state.of_server(st.server_id).errant_vs(binlog)?;
                (!own.is_empty()).then(|| n.name.clone())
            })
            .collect()
    }

    /// Nodes seen with errant transactions while the master was up.
    pub fn errant(&self) -> &BTreeSet<String> {
        &self.errant
    }

    /// When the master was first seen dead, while it still is.
    pub fn actionable_since(&self) -> Option<SystemTime> {
        self.actionable_since
    }

    /// Add the newest snapshot, dropping the oldest beyond capacity; `record` is the master
    /// of record. What the master may have acknowledged is kept per master: a new master
    /// starts afresh (it was promoted holding everything of the old one that counted).
    pub fn push(&mut self, s: Arc<Snapshot>, record: Option<&str>) {
        self.capacity = self.needed(&s);
        while self.snapshots.len() >= self.capacity {
            self.snapshots.pop_front();
        }
        self.snapshots.push_back(s.clone());
        let v: Vec<&Snapshot> = self.snapshots.iter().map(Arc::as_ref).collect();
        let master = record.filter(|r| s.node(r).is_some()).or_else(|| find_master(&v));
        if let Some((m, st)) = master.and_then(|m| Some((m, s.node(m)?.ok()?))) {
            self.master_binlog = Some((m.to_string(), st.binlog_state.clone()));
        }
        if let Some(m) = master {
            if self.acked.as_ref().is_none_or(|a| a.master != m) {
                self.acked = Some(Acknowledged::new(m));
            }
        }
        if let Some(a) = &mut self.acked {
            a.observe(&s);
        }
    }

    /// Rounds to keep so that [`lost`] can see a replica silent for 1.5 × its heartbeat
    /// period (plus two rounds of margin): with a 30 s period that is 45 s of rounds, which
    /// the timing alone does not cover.
    fn needed(&self, s: &Snapshot) -> usize {
        let longest = s
            .nodes
            .iter()
            .filter_map(|n| n.ok()?.replica.as_ref().map(|r| r.heartbeat_period_ms))
            .max()
            .unwrap_or(0);
        let silence = Duration::from_millis(longest * 3 / 2);
        let rounds = (silence.as_millis() / self.interval.as_millis()) as usize + 3;
        rounds.max(self.base).min(MAX_ROUNDS)
    }

    /// What the master (of record) may have acknowledged, as far as this manager saw.
    pub fn acknowledged(&self) -> Option<&Acknowledged> {
        self.acked.as_ref()
    }

    /// The newest snapshot.
    pub fn latest(&self) -> Option<&Arc<Snapshot>> {
        self.snapshots.back()
    }

    /// Diagnose the cluster from these snapshots; `record` is the master of record (the
    /// shared state's), when there is one.
    pub fn diagnose(&self, timing: &Timing, record: Option<&str>) -> Option<Diagnosis> {
        let v: Vec<&Snapshot> = self.snapshots.iter().map(Arc::as_ref).collect();
        diagnose(&v, timing, record)
    }
}

/// Consecutive newest snapshots in which `node` could not be probed.
fn failures(history: &[&Snapshot], node: &str) -> u32 {
    history
        .iter()
        .rev()
        .take_while(|s| s.node(node).is_some_and(|n| n.state.is_err()))
        .count() as u32
}

/// Which node the reachable replicas in `s` replicate from, by votes (config order on ties).
fn voted_master(s: &Snapshot) -> Option<&NodeObservation> {
    let mut best: Option<(&NodeObservation, usize)> = None;
    for candidate in &s.nodes {
        let votes = s
            .nodes
            .iter()
            .filter_map(|n| n.ok()?.replica.as_ref())
            .filter(|r| r.master_host == candidate.address && r.master_port == candidate.port)
            .count();
        if votes > 0 && best.is_none_or(|(_, b)| votes > b) {
            best = Some((candidate, votes));
        }
    }
    best.map(|(n, _)| n)
}

fn writable(s: &Snapshot) -> Vec<&NodeObservation> {
    s.nodes
        .iter()
        .filter(|n| n.ok().is_some_and(|st| !st.read_only))
        .collect()
}

/// Test-only switches that put a fixed defect back, to show the simulator finds it.
#[cfg(any(test, feature = "testkit"))]
pub mod planted {
    use std::sync::atomic::AtomicBool;

    /// Defect 1 as it was: one writable node in one snapshot is the master, whatever the
    /// master of record (a stale old master that returns while the new one misses a probe
    /// is adopted).
    pub static DEFECT_1: AtomicBool = AtomicBool::new(false);

    pub(super) fn defect_1() -> bool {
        DEFECT_1.load(std::sync::atomic::Ordering::Relaxed)
    }
}

/// Without a master of record: the one writable node, else the node replicas follow, else the
/// last master an earlier snapshot saw.
fn find_master<'a>(history: &[&'a Snapshot]) -> Option<&'a str> {
    for s in history.iter().rev() {
        let w = writable(s);
        if w.len() == 1 {
            return Some(&w[0].name);
        }
        if let Some(m) = voted_master(s) {
            return Some(&m.name);
        }
    }
    None
}

/// Has `replica` lost `master`? `None` = it still hears from it.
fn lost(history: &[&Snapshot], replica: &str, timing: &Timing) -> Option<Lost> {
    let latest = history.last()?;
    let r = latest.node(replica)?.ok()?.replica.as_ref()?;
    if r.io != IoThread::Yes {
        return Some(Lost::IoThread { io: r.io });
    }
    if r.heartbeat_period_ms == 0 {
        // Without heartbeats an idle master is indistinguishable from a silent one.
        return None;
    }
    let token = r.progress();
    let since = history
        .iter()
        .rev()
        .take_while(|s| {
            s.node(replica)
                .and_then(|n| n.ok())
                .and_then(|st| st.replica.as_ref())
                .is_some_and(|rr| rr.progress() == token && rr.io == IoThread::Yes)
        })
        .last()?;
    let silent = latest.at.saturating_duration_since(since.at);
    let threshold = timing
        .replica_agreement_window
        .max(Duration::from_millis(r.heartbeat_period_ms * 3 / 2));
    (silent >= threshold).then_some(Lost::Silent { for_: silent })
}

/// Consecutive newest snapshots in which `record` answered read-only while `to` was the only
/// writable node and had everything `record` ever wrote: the master moved to `to`.
fn moved_rounds(history: &[&Snapshot], record: &str, to: &str) -> u32 {
    history
        .iter()
        .rev()
        .take_while(|s| {
            let (Some(r), Some(t)) = (s.node(record).and_then(|n| n.ok()), s.node(to).and_then(|n| n.ok())) else {
                return false;
            };
            let only_writer = writable(s).iter().map(|n| n.name.as_str()).eq([to]);
            r.read_only
                && only_writer
                && r.binlog_state
                    .errant_vs(&t.binlog_state)
                    .is_some_and(|missing| missing.is_empty())
        })
        .count() as u32
}

/// Consecutive newest snapshots in which `master` answered read-only and no node was
/// writable.
fn read_only_rounds(history: &[&Snapshot], master: &str) -> u32 {
    history
        .iter()
        .rev()
        .take_while(|s| s.node(master).and_then(|n| n.ok()).is_some_and(|m| m.read_only) && writable(s).is_empty())
        .count() as u32
}

/// Diagnose a cluster from its recent snapshots (oldest first). `None` without snapshots.
///
/// `record` is the master of record. With one, the master *is* that node: another node seen
/// writable is never taken for the master on one snapshot's word — every write acknowledged
/// since the last failover is on the master of record, and a returning old master (thawed,
/// healed) is writable too. The only way to another master is [`ClusterState::MasterMoved`]:
/// the master of record answers read-only, round after round, and the one writable node has
/// everything it wrote.
pub fn diagnose(history: &[&Snapshot], timing: &Timing, record: Option<&str>) -> Option<Diagnosis> {
    let latest = *history.last()?;
    let record = record.filter(|r| latest.node(r).is_some());
    let state = cluster_state(history, timing, record);
    let issues = node_issues(history, &state, timing);
    Some(Diagnosis {
        cluster: latest.cluster.clone(),
        state,
        issues,
    })
}

fn cluster_state(history: &[&Snapshot], timing: &Timing, record: Option<&str>) -> ClusterState {
    let Some(latest) = history.last() else {
        return ClusterState::NoMaster;
    };
    let w = writable(latest);
    if w.len() > 1 {
        return ClusterState::SplitBrain {
            writable: w.iter().map(|n| n.name.clone()).collect(),
        };
    }
    let all_unreachable = latest.nodes.iter().all(|n| n.state.is_err());
    #[cfg(any(test, feature = "testkit"))]
    let record = record.filter(|_| !planted::defect_1() || w.is_empty());
    let Some(master) = record.or_else(|| find_master(history)) else {
        return if all_unreachable {
            ClusterState::AllUnreachable { master: None }
        } else {
            ClusterState::NoMaster
        };
    };
    let master = master.to_string();
    let Some(m) = latest.node(&master) else {
        return ClusterState::NoMaster;
    };
    let replicas_of_master: Vec<&NodeObservation> = latest
        .nodes
        .iter()
        .filter(|n| n.name != master)
        .filter(|n| {
            n.ok()
                .and_then(|s| s.replica.as_ref())
                .is_some_and(|r| r.master_host == m.address && r.master_port == m.port)
        })
        .collect();
    match m.ok() {
        Some(s) if s.read_only => {
            if let (Some(_), [to]) = (record, w.as_slice()) {
                let rounds = moved_rounds(history, &master, &to.name);
                if rounds > 0 {
                    return ClusterState::MasterMoved {
                        record: master,
                        to: to.name.clone(),
                        rounds,
                        needed: timing.failures_before_suspect.max(2),
                    };
                }
            }
            ClusterState::MasterReadOnly {
                rounds: read_only_rounds(history, &master),
                master,
                needed: timing.failures_before_suspect.max(2),
            }
        }
        Some(_) => {
            let replicating = replicas_of_master
                .iter()
                .filter(|n| n.ok().and_then(|s| s.replica.as_ref()).is_some_and(|r| r.replicating()))
                .map(|n| n.name.clone())
                .collect();
            ClusterState::Healthy {
                master,
                replicating,
                replicas: latest.nodes.len() - 1,
            }
        }
        None => {
            if all_unreachable {
                return ClusterState::AllUnreachable { master: Some(master) };
            }
            let failures = failures(history, &master);
            if failures < timing.failures_before_suspect {
                return ClusterState::MasterSuspect {
                    master,
                    failures,
                    needed: timing.failures_before_suspect,
                };
            }
            if replicas_of_master.is_empty() {
                return ClusterState::DeadMasterWithoutReplicas { master, failures };
            }
            let verdicts: Vec<(String, Option<Lost>)> = replicas_of_master
                .iter()
                .map(|n| (n.name.clone(), lost(history, &n.name, timing)))
                .collect();
            let still: Vec<String> = verdicts
                .iter()
                .filter(|(_, l)| l.is_none())
                .map(|(n, _)| n.clone())
                .collect();
            if !still.is_empty() {
                return ClusterState::UnreachableMaster {
                    master,
                    failures,
                    still_replicating: still,
                };
            }
            let replicas: Vec<(String, Lost)> = verdicts.into_iter().filter_map(|(n, l)| l.map(|l| (n, l))).collect();
            let dead_replicas: Vec<String> = latest
                .nodes
                .iter()
                .filter(|n| n.name != master && n.state.is_err())
                .map(|n| n.name.clone())
                .collect();
            if dead_replicas.is_empty() {
                ClusterState::DeadMaster {
                    master,
                    failures,
                    replicas,
                }
            } else {
                ClusterState::DeadMasterAndSomeReplicas {
                    master,
                    failures,
                    replicas,
                    dead_replicas,
                }
            }
        }
    }
}

fn node_issues(history: &[&Snapshot], state: &ClusterState, timing: &Timing) -> Vec<NodeIssue> {
    let Some(latest) = history.last() else {
        return Vec::new();
    };
    let previous = history.len().checked_sub(2).map(|i| history[i]);
    let master_name = state.master();
    let master = master_name.and_then(|m| latest.node(m));
    let master_state = master.and_then(|m| m.ok());
    let master_up = master_state.is_some();
    let already_in_state = |n: &str| match state {
        ClusterState::DeadMasterAndSomeReplicas { dead_replicas, .. } => dead_replicas.iter().any(|d| d == n),
        ClusterState::AllUnreachable { .. } => true,
        _ => false,
    };
    let mut issues = Vec::new();
    for n in &latest.nodes {
        if Some(n.name.as_str()) == master_name {
            continue;
        }
        let s = match &n.state {
            Err(e) => {
                if !already_in_state(&n.name) {
                    issues.push(NodeIssue::Unreachable {
                        node: n.name.clone(),
                        reason: e.to_string(),
                    });
                }
                continue;
            }
            Ok(s) => s,
        };
        if !s.read_only {
            // A writable node that is not the master (of record): a returning old master, or
            // one a failover could not fence. Its writes are not the cluster's. (The node a
            // master moved to is the state itself, not an issue.)
            let moved_to = matches!(state, ClusterState::MasterMoved { to, .. } if *to == n.name);
            if let (Some(m), false) = (master_name, moved_to) {
                issues.push(NodeIssue::StaleWritable {
                    node: n.name.clone(),
                    master: m.to_string(),
                });
                continue;
            }
        }
        let Some(r) = &s.replica else {
            if s.read_only {
                issues.push(NodeIssue::NotReplicating { node: n.name.clone() });
            }
            continue;
        };
        if let Some(m) = master {
            if r.master_host != m.address || r.master_port != m.port {
                issues.push(NodeIssue::WrongMaster {
                    node: n.name.clone(),
                    from: format!("{}:{}", r.master_host, r.master_port),
                });
                continue;
            }
        }
        // With the master down, a reconnecting IO thread is expected; a stopped or failed
        // applier is not (it decides whether the node can be promoted).
        let broken = if master_up {
            r.io != IoThread::Yes || !r.sql_running
        } else {
            !r.sql_running
        };
        if broken {
            issues.push(NodeIssue::ReplicaBroken {
                node: n.name.clone(),
                io: r.io,
                sql_running: r.sql_running,
                error: r.last_sql_error.clone().or_else(|| r.last_io_error.clone()),
            });
        }
        if let Some(lag) = r.seconds_behind {
            if lag > timing.max_replica_lag.as_secs() {
                issues.push(NodeIssue::ReplicaLagging {
                    node: n.name.clone(),
                    seconds: lag,
                });
            }
        }
        // Errant: what the replica had one round ago that the master does not have now. The
        // one-round shift keeps a transaction that committed on the master between the two
        // probes of the same round from looking errant.
        if let (Some(ms), Some(prev)) = (
            master_state,
            previous.and_then(|p| p.node(&n.name)).and_then(|p| p.ok()),
        ) {
            if let Some(errant) = prev.binlog_state.errant_vs(&ms.binlog_state) {
                if !errant.is_empty() {
                    issues.push(NodeIssue::ErrantTransactions {
                        node: n.name.clone(),
                        gtids: errant.to_string(),
                    });
                }
            }
        }
    }
    if let (Some(m), Some(ms)) = (master, master_state) {
        if !ms.read_only && ms.semi_sync.master_enabled && !ms.semi_sync.master_active {
            issues.push(NodeIssue::SemiSyncInactive {
                node: m.name.clone(),
                clients: ms.semi_sync.master_clients,
            });
        }
    }
    issues
}

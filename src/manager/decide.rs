//! The decision: a pure function of one observed situation (snapshot, diagnosis, shared
//! state, route tables) to one action, with a sentence saying why. Patroni-style: every
//! branch returns a sentence; logs and tests read the same text.

use crate::config::ClusterConfig;
use crate::detect::{Acknowledged, ClusterState, Diagnosis, NodeIssue};
use crate::failover::lossless::{self, Loss};
use crate::failover::{choose, excluded};
use crate::flavor::StartFrom;
use crate::model::{Candidates, SemiSyncPolicy, SharedState, VipState};
use crate::topology::{IoThread, Snapshot};
use std::collections::BTreeSet;
use std::fmt;

/// Everything one decision is made from.
pub struct Situation<'a> {
    /// The cluster's configuration.
    pub cluster: &'a ClusterConfig,
    /// The latest snapshot.
    pub snapshot: &'a Snapshot,
    /// The detector's verdict on the recent snapshots.
    pub diagnosis: &'a Diagnosis,
    /// The shared state (current master, block, pause, rebuilds).
    pub shared: &'a SharedState,
    /// Now, in Unix milliseconds.
    pub now_ms: u64,
    /// Where the VIP leads, when known.
    pub vip: Option<&'a VipState>,
    /// Nodes seen with errant transactions while the master was up.
    pub errant: &'a BTreeSet<String>,
    /// What the master may have acknowledged, as this manager saw it.
    pub acked: Option<&'a Acknowledged>,
    /// The lossless policy's semi-sync settings (`None`: the policy is off).
    pub policy: Option<SemiSyncPolicy>,
}

/// One action (or none), and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Nothing to do.
    Nothing {
        /// why (the diagnosis)
        why: String,
    },
    /// Fail over from the dead master.
    Failover {
        /// the diagnosis sentence
        why: String,
        /// who gets promoted, and who not
        candidates: Candidates,
    },
    /// The master is dead but an automatic failover happened recently.
    Blocked {
        /// the diagnosis sentence
        why: String,
        /// until when (RFC 3339)
        until: String,
        /// the failover that set the block
        failover: String,
    },
    /// The master is dead but a DBA paused automation.
    Paused {
        /// the diagnosis sentence
        why: String,
    },
    /// The master is dead, but promoting the best candidate would lose transactions that
    /// may have been acknowledged (lossless policy): wait for a node that has them.
    WouldLose {
        /// the diagnosis sentence
        why: String,
        /// who would be promoted
        candidates: Candidates,
        /// what would be lost, and where it was seen
        loss: Loss,
    },
    /// The master is dead and no node can be promoted.
    NoCandidate {
        /// the diagnosis sentence
        why: String,
        /// why each node was rejected
        candidates: Candidates,
    },
    /// Make a writable node that is not the master read-only and end its sessions.
    Fence {
        /// the node
        node: String,
        /// the master of record
        master: String,
    },
    /// Make a returning node a replica of the master.
    Rejoin {
        /// the node
        node: String,
        /// the master
        master: String,
        /// where it resumes from
        from: StartFrom,
    },
    /// A node has transactions the master has not: it must be rebuilt, never rejoined.
    NeedsRebuild {
        /// the node
        node: String,
        /// its errant GTIDs
        errant: String,
    },
    /// A replica's replication stopped on an error (diverged: `1236`; an applier error): it
    /// must be rebuilt or fixed by hand, and is not promoted meanwhile.
    Broken {
        /// the node
        node: String,
        /// the error
        error: String,
    },
    /// A node marked for rebuild replicates healthily again (it was rebuilt).
    Rebuilt {
        /// the node
        node: String,
    },
    /// Point the VIP at the master: some part of it leads elsewhere.
    MoveVip {
        /// the master
        master: String,
        /// the parts (route tables, …) that do not lead to it
        wrong: Vec<String>,
    },
    /// Set the master's semi-sync to the lossless policy.
    SemiSync {
        /// the master
        master: String,
        /// what falls short
        shortfalls: Vec<String>,
        /// the settings it gets
        policy: SemiSyncPolicy,
    },
    /// Make the master of record writable again: it answers read-only (restarted, or left
    /// fenced by a failover that did not finish), no node takes writes, and no node has
    /// anything it lacks.
    Reopen {
        /// the master of record
        master: String,
        /// the lossless policy's semi-sync, set before it takes writes
        policy: Option<SemiSyncPolicy>,
    },
    /// Arm the anti-flap block: the master its failover promoted has served.
    Served {
        /// the master
        master: String,
        /// the failover that set the block
        failover: String,
    },
    /// Record the observed writable master as the master of record.
    Adopt {
        /// the master
        master: String,
        /// the previous master of record
        previous: Option<String>,
    },
}

impl Decision {
    /// Does the decision change anything?
    pub fn acts(&self) -> bool {
        !matches!(
            self,
            Decision::Nothing { .. }
                | Decision::Blocked { .. }
                | Decision::Paused { .. }
                | Decision::NoCandidate { .. }
                | Decision::WouldLose { .. }
        )
    }
}

impl fmt::Display for Decision {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Decision::Nothing { why } => write!(f, "nothing to do: {why}"),
            Decision::Failover { why, candidates } => write!(f, "{why}; failing over: {candidates}"),
            Decision::Blocked { why, until, failover } => write!(
                f,
                "{why}; automatic failover blocked until {until} after failover {failover} (anti-flapping): clear with `myha ack`, or fail over by hand"
            ),
            Decision::Paused { why } => write!(f, "{why}; automation is paused: not acting (`myha resume` to resume)"),
            Decision::NoCandidate { why, candidates } => write!(f, "{why}; cannot fail over: {candidates}"),
            Decision::WouldLose { why, loss, .. } => write!(
                f,
                "{why}; not failing over (lossless policy): {loss}; waiting for a node that has them (`myha failover --force` accepts the loss)"
            ),
            Decision::SemiSync { master, shortfalls, policy } => write!(
                f,
                "master {master}'s semi-sync could acknowledge a commit no replica has ({}): setting AFTER_SYNC, timeout {} ms, waiting without replicas",
                shortfalls.join(", "),
                policy.timeout.as_millis()
            ),
            Decision::Fence { node, master } => {
                write!(f, "fencing {node}: it is writable but {master} is the master (read_only=ON, sessions ended)")
            }
            Decision::Rejoin { node, master, from } => write!(
                f,
                "rejoining {node} as a replica of {master}: its transactions are a subset of {master}'s ({})",
                match from {
                    StartFrom::OwnPosition => "resuming from its own binlog position",
                    StartFrom::ReplicaPosition => "resuming from its replica position",
                }
            ),
            Decision::NeedsRebuild { node, errant } => write!(
                f,
                "{node} needs a rebuild: it has transactions the master has not ({errant}); it will not be rejoined (`myha bootstrap --rebuild --node {node}`)"
            ),
            Decision::Broken { node, error } => write!(
                f,
                "{node}'s replication stopped on an error ({error}): marking it for rebuild, not promoted until it replicates again (`myha bootstrap --rebuild --node {node}`, or fix it by hand)"
            ),
            Decision::Rebuilt { node } => write!(f, "{node} replicates from the master again: no longer marked for rebuild"),
            Decision::MoveVip { master, wrong } => {
                write!(f, "the VIP does not lead to master {master} ({}): pointing it at {master}", wrong.join(", "))
            }
            Decision::Reopen { master, .. } => write!(
                f,
                "master of record {master} is read-only, no node takes writes and none has a transaction {master} lacks: making it writable"
            ),
            Decision::Served { master, failover } => write!(
                f,
                "{master}, promoted by failover {failover}, served: the anti-flap block holds from now"
            ),
            Decision::Adopt { master, previous } => match previous {
                Some(p) => write!(f, "{master} is the writable master now (was {p}): recording it"),
                None => write!(f, "{master} is the writable master: recording it"),
            },
        }
    }
}

/// Decide what to do about one cluster. While a DBA paused automation nothing acts — no
/// failover, rejoin, reopen, VIP repair or change of the shared state: the DBA may be doing
/// any of it by hand — and the sentence says what would have been done. Except the fence of
/// a writable node that is not the master of record: every write it takes is lost (a DBA
/// moving the master by hand makes the old one read-only first, and that is adopted, not
/// fenced, once automation resumes).
pub fn decide(s: &Situation) -> Decision {
    let d = unpaused(s);
    if s.shared.paused && d.acts() && !matches!(d, Decision::Fence { .. }) {
        return Decision::Paused { why: d.to_string() };
    }
    d
}

fn unpaused(s: &Situation) -> Decision {
    let why = s.diagnosis.to_string();
    match &s.diagnosis.state {
        state if state.is_actionable() => {
            let Some(dead) = state.master() else {
                return Decision::Nothing { why };
            };
            if s.shared.paused {
                return Decision::Paused { why };
            }
            if let Some(b) = s.shared.active_block(s.now_ms) {
                return Decision::Blocked {
                    why,
                    until: b.until.clone(),
                    failover: b.failover.clone(),
                };
            }
            let candidates = choose(
                s.snapshot,
                s.cluster,
                dead,
                &excluded(s.errant, &s.shared.needs_rebuild),
            );
            if candidates.chosen.is_none() {
                return Decision::NoCandidate { why, candidates };
            }
            if let (Some(_), Some(acked)) = (s.policy, s.acked) {
                if let Err(loss) = lossless::check(acked, s.snapshot, &candidates) {
                    return Decision::WouldLose { why, candidates, loss };
                }
            }
            Decision::Failover { why, candidates }
        }
        ClusterState::SplitBrain { writable } => match &s.shared.master {
            Some(m) if writable.contains(m) => {
                let other = writable.iter().find(|w| *w != m).cloned().unwrap_or_default();
                Decision::Fence {
                    node: other,
                    master: m.clone(),
                }
            }
            _ => Decision::Nothing {
                why: format!("{why}; no master of record among them: resolve by hand"),
            },
        },
        ClusterState::Healthy { master, .. } => healthy(s, master, why),
        ClusterState::MasterReadOnly { master, rounds, needed }
            if rounds >= needed && stale_writable(s.diagnosis).is_none() =>
        {
            reopen(s, master, why)
        }
        ClusterState::MasterMoved {
            to,
            rounds,
            needed,
            record,
        } if rounds >= needed => Decision::Adopt {
            master: to.clone(),
            previous: Some(record.clone()),
        },
        _ => match stale_writable(s.diagnosis) {
            // A stale master is fenced whatever else is wrong: every write it takes now is lost.
            Some((node, master)) => Decision::Fence {
                node: node.to_string(),
                master: master.to_string(),
            },
            None => Decision::Nothing { why },
        },
    }
}

/// The master's semi-sync set to the policy, where it falls short — unless turning it on
/// would stall every commit (no semi-sync replica is connected to acknowledge them).
fn semi_sync(s: &Situation, master: &str, m: &crate::topology::NodeState) -> Option<Decision> {
    let policy = s.policy?;
    let shortfalls = policy.shortfalls(&m.semi_sync);
    if shortfalls.is_empty() {
        return None;
    }
    let master_cfg = s.cluster.node(master)?;
    let acking_replica = s.snapshot.nodes.iter().any(|n| {
        n.ok().is_some_and(|st| {
            st.semi_sync.replica_enabled
                && st.replica.as_ref().is_some_and(|r| {
                    r.master_host == master_cfg.address && r.master_port == master_cfg.port && r.io == IoThread::Yes
                })
        })
    });
    (m.semi_sync.master_enabled || acking_replica).then(|| Decision::SemiSync {
        master: master.to_string(),
        shortfalls,
        policy,
    })
}

/// A writable node that is not the master of record, and the master.
fn stale_writable(d: &Diagnosis) -> Option<(&str, &str)> {
    d.issues.iter().find_map(|i| match i {
        NodeIssue::StaleWritable { node, master } => Some((node.as_str(), master.as_str())),
        _ => None,
    })
}

/// The node an issue says should replicate from the master again, if any.
fn to_rejoin(issue: &NodeIssue) -> Option<&String> {
    match issue {
        NodeIssue::NotReplicating { node } | NodeIssue::WrongMaster { node, .. } => Some(node),
        // stopped without an error: restarted with skip_slave_start, or a failover that
        // stopped it did not get to repoint it — started again from where it is
        NodeIssue::ReplicaBroken {
            node,
            io: IoThread::No,
            error: None,
            ..
        } => Some(node),
        _ => None,
    }
}

fn healthy(s: &Situation, master: &str, why: String) -> Decision {
    if s.shared.master.as_deref() != Some(master) {
        return Decision::Adopt {
            master: master.to_string(),
            previous: s.shared.master.clone(),
        };
    }
    let Some(m) = s.snapshot.node(master).and_then(|n| n.ok()) else {
        return Decision::Nothing { why };
    };
    if let Some(d) = semi_sync(s, master, m) {
        return d;
    }
    // clients first: a rejoin that fails round after round must not keep the VIP away
    if let Some(vip) = s.vip {
        let wrong = vip.not_at(master);
        if !wrong.is_empty() {
            return Decision::MoveVip {
                master: master.to_string(),
                wrong,
            };
        }
        if let Some(b) = s.shared.block_in_period(s.now_ms) {
            if !b.armed && b.master.as_deref() == Some(master) && s.now_ms >= b.arms_at_ms {
                return Decision::Served {
                    master: master.to_string(),
                    failover: b.failover.clone(),
                };
            }
        }
    }
    if let Some(d) = rejoin(s, master, m) {
        return d;
    }
    if let Some(d) = diverged(s) {
        return d;
    }
    rebuilt(s).unwrap_or(Decision::Nothing { why })
}

/// A node that should replicate from the master again: rejoined when its transactions are a
/// subset of the master's, marked for rebuild when not.
fn rejoin(s: &Situation, master: &str, m: &crate::topology::NodeState) -> Option<Decision> {
    for node in s.diagnosis.issues.iter().filter_map(to_rejoin) {
        if s.shared.needs_rebuild.contains_key(node) {
            continue;
        }
        let Some(st) = s.snapshot.node(node).and_then(|n| n.ok()) else {
            continue;
        };
        match st.binlog_state.errant_vs(&m.binlog_state) {
            Some(errant) if errant.is_empty() => {
                // A node with no replication configured was a master: its last transactions
                // are in its own binlog, not in its replica position.
                let from = if st.replica.is_none() {
                    StartFrom::OwnPosition
                } else {
                    StartFrom::ReplicaPosition
                };
                return Some(Decision::Rejoin {
                    node: node.clone(),
                    master: master.to_string(),
                    from,
                });
            }
            Some(errant) => {
                return Some(Decision::NeedsRebuild {
                    node: node.clone(),
                    errant: errant.to_string(),
                })
            }
            None => continue,
        }
    }
    None
}

/// A node marked for rebuild that replicates healthily again (it was rebuilt, or fixed).
fn rebuilt(s: &Situation) -> Option<Decision> {
    for node in s.shared.needs_rebuild.keys() {
        let replicating = s
            .snapshot
            .node(node)
            .and_then(|n| n.ok())
            .and_then(|st| st.replica.as_ref())
            .is_some_and(|r| r.replicating());
        let has_issue = s.diagnosis.issues.iter().any(|i| match i {
            NodeIssue::WrongMaster { node: n, .. }
            | NodeIssue::NotReplicating { node: n }
            | NodeIssue::ErrantTransactions { node: n, .. } => n == node,
            _ => false,
        });
        if replicating && !has_issue {
            return Some(Decision::Rebuilt { node: node.clone() });
        }
    }
    None
}

/// A replica not marked yet whose transactions the master lacks (seen while the master is
/// up), or whose replication stopped for good on an error: marked for rebuild. A receiver
/// that keeps reconnecting with an error is not stopped for good (a network blip).
fn diverged(s: &Situation) -> Option<Decision> {
    s.diagnosis.issues.iter().find_map(|i| match i {
        NodeIssue::ErrantTransactions { node, gtids } if !s.shared.needs_rebuild.contains_key(node) => {
            Some(Decision::NeedsRebuild {
                node: node.clone(),
                errant: gtids.clone(),
            })
        }
        NodeIssue::ReplicaBroken { node, .. } if !s.shared.needs_rebuild.contains_key(node) => {
            let r = s.snapshot.node(node)?.ok()?.replica.as_ref()?;
            let error = match (&r.last_sql_error, &r.last_io_error) {
                (Some(e), _) if !r.sql_running => e,
                (_, Some(e)) if r.io == IoThread::No => e,
                _ => return None,
            };
            Some(Decision::Broken {
                node: node.clone(),
                error: error.clone(),
            })
        }
        _ => None,
    })
}

/// The master of record, read-only with no node writable, made writable again — unless a
/// node has a transaction it lacks (it lost its binlog's tail in a crash: that node should
/// be the master, and only a DBA can say so) or it lacks what may have been acknowledged.
/// Nodes marked for rebuild or seen errant do not count, nor what a node wrote itself (a
/// deposed master's writes past its failover, a replica's errant ones): not the cluster's.
/// A node that is not acting as a master (replication configured) is never made writable.
fn reopen(s: &Situation, master: &str, why: String) -> Decision {
    if s.shared.master.as_deref() != Some(master) {
        return Decision::Nothing { why };
    }
    // one that replicates from another node is that node's replica, not a master to reopen
    let Some(m) = s
        .snapshot
        .node(master)
        .and_then(|n| n.ok())
        .filter(|m| m.replica.is_none())
    else {
        return Decision::Nothing { why };
    };
    let ex = excluded(s.errant, &s.shared.needs_rebuild);
    let mut ahead = s.snapshot.ahead_of(master, &m.executed, |n| ex.contains_key(n));
    if let (Some(_), Some(known)) = (s.policy, s.acked.and_then(|a| a.all())) {
        if let Some(missing) = known.missing_from(&m.executed).filter(|g| !g.is_empty()) {
            ahead.push(format!("{missing} may have been acknowledged"));
        }
    }
    if !ahead.is_empty() {
        return Decision::Nothing {
            why: format!(
                "{why}; not making {master} writable, it lacks transactions ({}): fail over by hand to the node that has them",
                ahead.join("; ")
            ),
        };
    }
    Decision::Reopen {
        master: master.to_string(),
        policy: s.policy,
    }
}

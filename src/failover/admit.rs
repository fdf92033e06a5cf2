//! Whether a DBA's switchover or manual failover may run now, and on which nodes. Pure, so
//! the API refuses with the reasons the leader would give; the leader checks again on its
//! own latest probe round before the first step.

use super::candidate::{choose, excluded};
use super::lossless::{self, Loss};
use crate::config::{ClusterConfig, NodeConfig};
use crate::detect::Acknowledged;
use crate::detect::{ClusterState, Diagnosis};
use crate::model::{Candidates, FailoverRecord, SharedState, Status};
use crate::topology::{IoThread, Snapshot};
use std::collections::BTreeSet;
use std::fmt;
use std::time::Duration;

/// Why a request cannot run.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// The named node is not in the cluster's configuration (HTTP 404).
    #[error("{0}")]
    UnknownNode(String),
    /// The target (or every possible target) cannot be promoted (HTTP 422).
    #[error("{0}")]
    NotEligible(String),
    /// The cluster's state does not allow it now (HTTP 409).
    #[error("{0}")]
    Conflict(String),
}

/// What a request is judged on.
pub struct Admission<'a> {
    /// The cluster.
    pub cluster: &'a ClusterConfig,
    /// The latest probe round.
    pub snapshot: &'a Snapshot,
    /// The detector's verdict.
    pub diagnosis: &'a Diagnosis,
    /// The shared state.
    pub shared: &'a SharedState,
    /// Nodes seen with errant transactions while the master was up.
    pub errant: &'a BTreeSet<String>,
    /// Now, in Unix milliseconds.
    pub now_ms: u64,
    /// How far behind a switchover's target may be (`[failover] switchover_max_lag`).
    pub max_lag: Duration,
    /// What the master may have acknowledged, as the judging manager saw it.
    pub acked: Option<&'a Acknowledged>,
    /// Is the lossless policy on?
    pub lossless: bool,
}

/// A manual failover that may run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FailoverPlan {
    /// Who is promoted, and who not.
    pub candidates: Candidates,
    /// What it loses, accepted by the DBA (`force`).
    pub accepted_loss: Option<String>,
}

/// A switchover that may run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SwitchoverPlan {
    /// The healthy master that steps down.
    pub old_master: String,
    /// The replica promoted.
    pub new_master: String,
    /// Why this replica (and why not the others, when it was chosen).
    pub choice: String,
}

impl fmt::Display for SwitchoverPlan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "switchover {} → {}: {}",
            self.old_master, self.new_master, self.choice
        )
    }
}

fn known<'a>(cluster: &'a ClusterConfig, node: &str) -> Result<&'a NodeConfig, Refusal> {
    cluster.node(node).ok_or_else(|| {
        Refusal::UnknownNode(format!(
            "no node {node:?} in cluster {} (nodes: {})",
            cluster.name,
            cluster
                .nodes
                .iter()
                .map(|n| n.name.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ))
    })
}

/// Can `n` take over from the healthy `master` right now?
fn ready(a: &Admission, master: &NodeConfig, n: &NodeConfig) -> Result<(), String> {
    if n.no_promote {
        return Err("configured no_promote".into());
    }
    if let Some(why) = a.shared.needs_rebuild.get(&n.name) {
        return Err(format!("marked for rebuild ({why})"));
    }
    if a.errant.contains(&n.name) {
        return Err("has errant transactions".into());
    }
    let st = match a.snapshot.node(&n.name).map(|o| &o.state) {
        None => return Err("not in the latest probe round".into()),
        Some(Err(e)) => return Err(format!("unreachable: {e}")),
        Some(Ok(st)) => st,
    };
    let Some(r) = &st.replica else {
        return Err("not a replica".into());
    };
    if r.master_host != master.address || r.master_port != master.port {
        return Err(format!(
            "replicates from {}:{}, not from {}",
            r.master_host, r.master_port, master.name
        ));
    }
    if r.io != IoThread::Yes {
        return Err(format!("not connected to {} (IO thread {:?})", master.name, r.io));
    }
    if !r.sql_running {
        return Err(format!(
            "SQL thread not running: {}",
            r.last_sql_error.as_deref().unwrap_or("stopped")
        ));
    }
    match r.seconds_behind {
        None => Err("replication lag unknown".into()),
        Some(lag) if Duration::from_secs(lag) > a.max_lag => {
            Err(format!("{lag} s behind (limit {} s)", a.max_lag.as_secs()))
        }
        Some(_) => Ok(()),
    }
}

/// A planned switchover to `to` (or to the best ready replica).
pub fn switchover(a: &Admission, to: Option<&str>) -> Result<SwitchoverPlan, Refusal> {
    let target = to.map(|t| known(a.cluster, t)).transpose()?;
    let ClusterState::Healthy { master, .. } = &a.diagnosis.state else {
        return Err(Refusal::Conflict(format!(
            "a switchover needs a healthy master, and the cluster is not healthy: {} (a dead master is replaced with `myha failover`)",
            a.diagnosis
        )));
    };
    let master_cfg = known(a.cluster, master)?;
    if let Some(t) = target {
        if t.name == *master {
            return Err(Refusal::NotEligible(format!("{} is already the master", t.name)));
        }
        return match ready(a, master_cfg, t) {
            Ok(()) => Ok(SwitchoverPlan {
                old_master: master.clone(),
                new_master: t.name.clone(),
                choice: format!("{} requested", t.name),
            }),
            Err(why) => Err(Refusal::NotEligible(format!("{} cannot take over: {why}", t.name))),
        };
    }
    // The master is alive and everyone catches up before the promotion, so history barely
    // matters: priority first, then what was received, then configuration order.
    let ranking = choose(
        a.snapshot,
        a.cluster,
        master,
        &excluded(a.errant, &a.shared.needs_rebuild),
    )
    .ranking;
    let mut pool: Vec<(usize, &NodeConfig)> = a
        .cluster
        .nodes
        .iter()
        .filter(|n| n.name != *master)
        .map(|n| (ranking.iter().position(|r| r.node == n.name).unwrap_or(usize::MAX), n))
        .collect();
    pool.sort_by(|x, y| y.1.priority.cmp(&x.1.priority).then(x.0.cmp(&y.0)));
    let mut not = Vec::new();
    for (_, n) in pool {
        match ready(a, master_cfg, n) {
            Ok(()) => {
                let choice = if not.is_empty() {
                    format!("{} (priority {}) is the best ready replica", n.name, n.priority)
                } else {
                    format!(
                        "{} (priority {}) is the best ready replica; not ready: {}",
                        n.name,
                        n.priority,
                        not.join(", ")
                    )
                };
                return Ok(SwitchoverPlan {
                    old_master: master.clone(),
                    new_master: n.name.clone(),
                    choice,
                });
            }
            Err(why) => not.push(format!("{} ({why})", n.name)),
        }
    }
    Err(Refusal::NotEligible(format!(
        "no replica can take over from {master}: {}",
        if not.is_empty() {
            "the cluster has no other node".to_string()
        } else {
            not.join(", ")
        }
    )))
}

/// A manual failover of the dead master to `to` (or to the best candidate): while automation
/// is paused or blocked — otherwise the leader does it by itself — or while the automatic
/// failover is refused because it would lose acknowledged transactions. A failover that would
/// lose them runs only with `force`, and the loss is named in its record.
pub fn failover(a: &Admission, to: Option<&str>, force: bool) -> Result<FailoverPlan, Refusal> {
    if let Some(t) = to {
        known(a.cluster, t)?;
    }
    let state = &a.diagnosis.state;
    let dead = match state.master() {
        Some(m) if state.is_actionable() => m,
        _ => {
            return Err(Refusal::Conflict(format!(
                "a manual failover replaces a dead master, and the cluster says: {} (a healthy master is moved with `myha switchover`)",
                a.diagnosis
            )))
        }
    };
    let c = choose(
        a.snapshot,
        a.cluster,
        dead,
        &excluded(a.errant, &a.shared.needs_rebuild),
    );
    // the leader's refusal counts even where this manager saw nothing to lose itself
    let refused = a.shared.refused.as_ref().filter(|r| r.master == dead);
    let best_loses = lossy(a, &c);
    if !a.shared.paused && a.shared.active_block(a.now_ms).is_none() && best_loses.is_none() && refused.is_none() {
        return Err(Refusal::Conflict(format!(
            "automation is armed: the leader fails {dead} over by itself (pause the cluster first to choose the node)"
        )));
    }
    let c = match to {
        Some(t) if t == dead => return Err(Refusal::NotEligible(format!("{t} is the dead master"))),
        Some(t) => c.prefer(t, a.snapshot).map_err(Refusal::NotEligible)?,
        None => c,
    };
    if c.chosen.is_none() {
        return Err(Refusal::NotEligible(format!("cannot fail {dead} over: {c}")));
    }
    let loss = lossy(a, &c)
        .map(|l| l.to_string())
        .or_else(|| refused.map(|r| format!("the leader refuses the automatic failover: {}", r.detail)));
    if let (Some(l), false) = (&loss, force) {
        return Err(Refusal::Conflict(format!(
            "{l}: nothing changed; to fail over anyway and accept that loss, ask again with force"
        )));
    }
    Ok(FailoverPlan {
        candidates: c,
        accepted_loss: loss,
    })
}

fn lossy(a: &Admission, c: &Candidates) -> Option<Loss> {
    let acked = a.acked.filter(|_| a.lossless)?;
    lossless::check(acked, a.snapshot, c).err()
}

/// Whether a DBA may end the running record `rec` by hand (`myha abort`), judged on the
/// latest probe round. A leader settles a record left running on its own — finishes it when
/// the planned node is writable, closes it when it is read-only — and waits only while that
/// node cannot be probed: it cannot tell whether the promotion happened. Aborting accepts
/// that: what the planned node may have acknowledged if it was promoted is given up, and if it
/// returns writable it is fenced like any stale master. A record whose planned node is
/// writable is never aborted: it was promoted, and the leader finishes it.
pub fn abort(rec: &FailoverRecord, snapshot: &Snapshot) -> Result<(), Refusal> {
    if rec.status != Status::Running {
        return Err(Refusal::Conflict(format!(
            "failover {} is not running (its status is {}): nothing to abort",
            rec.id,
            format!("{:?}", rec.status).to_lowercase()
        )));
    }
    if let Some(planned) = rec.new_master.as_deref() {
        if snapshot
            .node(planned)
            .and_then(|n| n.ok())
            .is_some_and(|s| !s.read_only)
        {
            return Err(Refusal::Conflict(format!(
                "{planned} is writable: failover {} promoted it, and the leader finishes it; nothing changed",
                rec.id
            )));
        }
    }
    Ok(())
}

//! One executor per kind of decision, outside the loop. Each is guarded the same way — the
//! guard (leadership in this term, the epoch the decision saw) is asked immediately before
//! every mutating call, so a leader that was paused or cut off past its lease changes
//! nothing — and each leaves an audit entry: a failover record for a failover, an
//! [`ActionEntry`] for the rest.

mod commit;
mod failover;
mod node;
mod state;
#[cfg(test)]
mod tests;
mod vip;

pub use commit::Concluded;

use crate::config::{ClusterConfig, FailoverConfig, NodeConfig};
use crate::coord::{self, Store, StoreError};
use crate::failover::{Guard, StepError};
use crate::metrics::Metrics;
use crate::model::{id_time, timestamp, ActionEntry, ActionKind, SharedState, Status, Versioned};
use crate::mysql::MysqlAdmin;
use crate::vip::Vip;
use std::fmt;
use std::time::SystemTime;
use tokio::time::Instant;
use tracing::{info, warn};

/// Everything an executor acts on, for one decision of one term.
pub struct Act<'a, A, V, S, G> {
    /// The cluster.
    pub cluster: &'a ClusterConfig,
    /// Step limits and the policy.
    pub failover: &'a FailoverConfig,
    /// The MySQL admin edge.
    pub admin: &'a A,
    /// The floating IP.
    pub vip: &'a V,
    /// The coordinator.
    pub store: &'a S,
    /// Leadership in `term` and the master of record at `epoch`, asked before every call.
    pub guard: &'a G,
    /// This manager, for records.
    pub manager: &'a str,
    /// The term the decision was made in.
    pub term: i64,
    /// The epoch of the master of record the decision was made on.
    pub epoch: u64,
    /// Failover counters, when exported.
    pub metrics: Option<&'a Metrics>,
}

/// How an action ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Done {
    /// It did what it should.
    Ok(String),
    /// The guard refused: nothing was changed.
    Refused(String),
    /// It failed part-way or entirely (the next round decides again).
    Failed(String),
}

impl Done {
    /// Did it work?
    pub fn ok(&self) -> bool {
        matches!(self, Done::Ok(_))
    }
}

impl fmt::Display for Done {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Done::Ok(d) => write!(f, "done: {d}"),
            Done::Refused(d) => write!(f, "refused, nothing changed: {d}"),
            Done::Failed(d) => write!(f, "failed: {d}"),
        }
    }
}

impl<A: MysqlAdmin, V: Vip, S: Store, G: Guard> Act<'_, A, V, S, G> {
    fn node(&self, name: &str) -> Result<&NodeConfig, StepError> {
        self.cluster
            .node(name)
            .ok_or_else(|| StepError::Plan(format!("{name} is not a node of cluster {}", self.cluster.name)))
    }

    /// Change the shared state under the guard, compare-and-set on the epoch the decision
    /// saw: refused when the master of record changed meanwhile.
    async fn update_shared(
        &self,
        what: &str,
        f: impl Fn(&mut SharedState) + Send + Sync,
    ) -> Result<Versioned<SharedState>, StepError> {
        self.guard.may_act(what).await?;
        let epoch = self.epoch;
        let r = coord::try_update(self.store, &self.cluster.name, |st| {
            if st.epoch != epoch {
                return Err(StoreError::Refused(format!(
                    "the master of record changed meanwhile (epoch {epoch} → {})",
                    st.epoch
                )));
            }
            f(st);
            Ok(())
        })
        .await;
        r.map_err(|e| StepError::Plan(e.to_string()))
    }

    /// Keep the action's entry and say how it went.
    async fn audit(
        &self,
        kind: ActionKind,
        node: &str,
        decision: &str,
        started: (SystemTime, Instant),
        result: Result<String, StepError>,
    ) -> Done {
        let (status, done) = match result {
            Ok(d) => (Status::Ok, Done::Ok(d)),
            Err(StepError::Guard(g)) => (Status::Skipped, Done::Refused(g.to_string())),
            Err(e) => (Status::Failed, Done::Failed(e.to_string())),
        };
        let detail = match &done {
            Done::Ok(d) | Done::Refused(d) | Done::Failed(d) => d.clone(),
        };
        let entry = ActionEntry {
            id: format!("{}-{}-{kind}-{node}", self.cluster.name, id_time(started.0, true)),
            cluster: self.cluster.name.clone(),
            kind,
            node: node.to_string(),
            decision: decision.to_string(),
            manager: self.manager.to_string(),
            term: self.term,
            epoch: self.epoch,
            at: timestamp(started.0),
            duration_ms: started.1.elapsed().as_millis() as u64,
            status,
            detail,
        };
        match &done {
            Done::Ok(_) => info!(cluster = %self.cluster.name, "{kind} {node}: {done}"),
            _ => warn!(cluster = %self.cluster.name, "{kind} {node}: {done}"),
        }
        if let Err(e) = self.store.save_action(&entry).await {
            warn!(cluster = %self.cluster.name, error = %e, "cannot keep the entry of {kind} {node}");
        }
        done
    }
}

/// Now, on both clocks: the wall clock for records, the monotonic one for durations.
fn now() -> (SystemTime, Instant) {
    (crate::model::time::now(), Instant::now())
}

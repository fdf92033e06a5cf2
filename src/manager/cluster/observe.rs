//! The top of a round: everything a decision is made from, as one value, read once — and
//! where it is published (the API's view, the metrics) and logged.

use super::{ClusterLoop, Outcome, Outputs};
use crate::api::view::ClusterView;
use crate::config::ClusterConfig;
use crate::coord::elector::Leadership;
use crate::coord::Store;
use crate::detect::{Acknowledged, Diagnosis};
use crate::manager::decide::{Decision, Situation};
use crate::model::{unix_ms, SemiSyncPolicy, SharedState, Standing, VipState};
use crate::mysql::MysqlAdmin;
use crate::topology::Snapshot;
use crate::vip::Vip;
use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::SystemTime;
use tokio::time::Instant;
use tracing::{info, warn};

/// One round's view of the cluster: what the decision is made from. Nothing in it is read
/// again while the round decides.
#[derive(Debug, Clone)]
pub struct Observed {
    /// The probe round.
    pub snapshot: Arc<Snapshot>,
    /// The detector's verdict on the recent rounds.
    pub diagnosis: Diagnosis,
    /// The shared state, as read this round (or last read, when the coordinator cannot be).
    pub shared: SharedState,
    /// When the shared state was read.
    pub shared_at: Option<Instant>,
    /// This manager's standing.
    pub standing: Standing,
    /// Where the VIP leads, when known.
    pub vip: Option<VipState>,
    /// Nodes seen with errant transactions while the master was up.
    pub errant: BTreeSet<String>,
    /// What the master may have acknowledged.
    pub acked: Option<Acknowledged>,
    /// Since when the master has been dead (while it is).
    pub actionable_since: Option<SystemTime>,
    /// Now, in Unix milliseconds.
    pub now_ms: u64,
}

impl Observed {
    /// The leadership term, when this manager leads.
    pub fn term(&self) -> Option<i64> {
        match self.standing {
            Standing::Leader { term } => Some(term),
            _ => None,
        }
    }

    /// The situation [`crate::manager::decide::decide`] judges.
    pub fn situation<'a>(&'a self, cluster: &'a ClusterConfig, policy: Option<SemiSyncPolicy>) -> Situation<'a> {
        Situation {
            cluster,
            snapshot: &self.snapshot,
            diagnosis: &self.diagnosis,
            shared: &self.shared,
            now_ms: self.now_ms,
            vip: self.vip.as_ref(),
            errant: &self.errant,
            acked: self.acked.as_ref(),
            policy,
        }
    }
}

impl<A: MysqlAdmin, V: Vip, S: Store, L: Leadership> ClusterLoop<A, V, S, L> {
    /// Probe, read the shared state and the VIP, diagnose. `Err`: no decision this round.
    pub(super) async fn observe(&mut self) -> Result<Observed, Outcome> {
        self.refresh_members().await;
        let snapshot = Arc::new(self.prober.round().await);
        if let Some(o) = &self.outputs {
            o.metrics.observe_round(&snapshot);
        }
        let standing = self.lead.standing(self.name());
        let leads = matches!(standing, Standing::Leader { .. });
        // Degraded: the coordinator cannot be read; decide (for the log) on the last state seen.
        if !matches!(standing, Standing::Degraded { .. }) {
            match self.store.load(self.name()).await {
                Ok(s) => {
                    self.shared = s.value;
                    self.shared_at = Some(Instant::now());
                }
                Err(e) if leads => {
                    warn!(cluster = %self.name(), error = %e, "cannot read the cluster state: not acting this round");
                    return Err(Outcome::NotActing(format!("cannot read the cluster state: {e}")));
                }
                Err(_) => {}
            }
        }
        // the detector judges the master of record, never a node one snapshot shows writable
        let record = self.shared.master.clone();
        let Some(diagnosis) = self.history.observe(snapshot.clone(), &self.timing, record.as_deref()) else {
            return Err(Outcome::Nothing("no node to probe".into()));
        };
        // While the master is suspect, unreachable or dead, no decision needs a new look at
        // the route tables (a failover moves and verifies them itself, after the promotion):
        // calls already in flight, and preparing the VIP, go on.
        self.refresh_vip(leads, !diagnosis.state.master_in_doubt()).await;
        Ok(Observed {
            snapshot,
            diagnosis,
            shared: self.shared.clone(),
            shared_at: self.shared_at,
            standing,
            vip: self.memory.vip.as_ref().map(|(_, v)| v.clone()),
            errant: self.history.errant().clone(),
            acked: self.history.acknowledged().cloned(),
            actionable_since: self.history.actionable_since(),
            now_ms: unix_ms(crate::model::time::now()),
        })
    }

    /// The round, for the API and the metrics.
    pub(super) fn publish(&self, obs: &Observed, decision: &Decision) {
        let Some(Outputs { view, metrics }) = &self.outputs else {
            return;
        };
        metrics.set_leader(self.name(), obs.term().is_some());
        view.send_replace(Some(Arc::new(ClusterView {
            config: self.cluster.clone(),
            snapshot: obs.snapshot.clone(),
            diagnosis: obs.diagnosis.clone(),
            decision: decision.to_string(),
            shared: obs.shared.clone(),
            shared_at: obs.shared_at,
            // a round and a half, and the probe timeout: older, the loop is stuck
            valid_for: self.timing.probe_interval * 3 / 2 + self.timing.probe_timeout,
            standing: obs.standing.clone(),
            vip: obs.vip.clone(),
            errant: obs.errant.clone(),
            acked: obs.acked.clone(),
        })));
    }

    /// Log the decision when the verdict, the kind of decision or the standing changed.
    pub(super) fn log(&mut self, obs: &Observed, decision: &Decision) {
        let d = &obs.diagnosis;
        let text = format!(
            "{} {:?} {}",
            d.state.kind(),
            d.state.master(),
            d.issues.iter().map(ToString::to_string).collect::<Vec<_>>().join("; ")
        );
        let logged = Some((
            text,
            std::mem::discriminant(decision),
            std::mem::discriminant(&obs.standing),
        ));
        if logged == self.memory.last_logged {
            return;
        }
        match obs.term() {
            Some(_) => info!(cluster = %self.name(), "{decision}"),
            None if decision.acts() => {
                info!(cluster = %self.name(), role = %obs.standing, "{decision} — left to the leader")
            }
            None => info!(cluster = %self.name(), role = %obs.standing, "{decision}"),
        }
        self.memory.last_logged = logged;
    }
}

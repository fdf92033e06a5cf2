//! One cluster's control loop. A round is **observe → decide → act → outcome**:
//!
//! 1. [`observe`](ClusterLoop::observe) builds one [`Observed`] value — the probe round's
//!    snapshot, the detector's diagnosis (its memory lives in the history), the shared state
//!    as read this round, where the VIP leads, this manager's standing;
//! 2. [`decide`] is a pure function of it;
//! 3. the leader runs the decision's executor (`manager::act`), guarded and audited;
//! 4. [`round`](ClusterLoop::round) returns an [`Outcome`] whose sentence is what is logged
//!    and what tests assert.
//!
//! Every manager runs the loop; only the cluster's leader acts. A manager that becomes leader
//! first settles what its predecessor left unfinished (`takeover.rs`).

mod backup;
mod dispatch;
mod members;
mod observe;
mod outcome;
mod refusal;
mod request;
mod takeover;
mod vip;

pub use observe::Observed;
pub use outcome::Outcome;

use super::act::Act;
use super::chaos::{self};
use super::decide::{decide, Decision};
use super::guard::TermGuard;
use crate::api::view::ViewTx;
use crate::config::{BackupConfig, ClusterConfig, FailoverConfig, Timing};
use crate::coord::elector::Leadership;
use crate::coord::Store;
use crate::detect::History;
use crate::failover::Guard;
use crate::metrics::Metrics;
use crate::model::{SharedState, Standing, VipState};
use crate::mysql::MysqlAdmin;
use crate::probe::Prober;
use crate::vip::Vip;
use std::mem::Discriminant;
use std::sync::Arc;
use std::time::Duration;
use tokio::time::{Instant, MissedTickBehavior};

/// How long a failed action is not repeated: a broken node is not hammered four times a
/// second.
const ACTION_BACKOFF: Duration = Duration::from_secs(5);

/// What a loop is built from: the cluster, its limits, and its edges.
pub struct LoopParts<A, V, S, L> {
    /// The cluster.
    pub cluster: Arc<ClusterConfig>,
    /// Probe and detection timing.
    pub timing: Timing,
    /// Failover limits and the lossless policy.
    pub failover: FailoverConfig,
    /// This manager's id.
    pub manager_id: String,
    /// The MySQL admin edge for this cluster's nodes.
    pub admin: A,
    /// This cluster's floating IP.
    pub vip: V,
    /// The coordinator's store.
    pub store: Arc<S>,
    /// Leadership.
    pub lead: L,
}

/// What the loop remembers from one round to the next, beyond the detector's memory.
#[derive(Default)]
struct Memory {
    /// Where the VIP led when last observed, and when.
    vip: Option<(Instant, VipState)>,
    /// [`Vip::prepare`] succeeded for the current set of nodes.
    vip_ready: bool,
    /// A call to the VIP's API in flight (a `Mutex` only so that the loop stays `Sync`:
    /// the round has it to itself).
    vip_call: std::sync::Mutex<Option<vip::InFlight>>,
    /// The term whose take-over (unfinished records) is done, and when it last looked.
    settled_term: Option<(i64, Instant)>,
    /// A failover the lossless policy refuses, since when.
    refusing: Option<refusal::Refusing>,
    /// The diagnosis text, decision kind and standing last logged: a sentence is logged when
    /// one of them changes, not for every growing count.
    last_logged: Option<(String, Discriminant<Decision>, Discriminant<Standing>)>,
    /// The last action that failed, and when.
    last_failed: Option<(String, Instant)>,
    /// When the backup catalogue was last looked at.
    last_backup_check: Option<Instant>,
    /// When the registered nodes were last read.
    last_members_check: Option<Instant>,
}

/// Where each round is published.
struct Outputs {
    view: ViewTx,
    metrics: Arc<Metrics>,
}

/// The loop's state for one cluster.
pub struct ClusterLoop<A, V, S, L> {
    /// The cluster: its configuration plus the nodes registered at run time.
    cluster: Arc<ClusterConfig>,
    /// Probe and detection timing.
    timing: Timing,
    /// Failover limits and the lossless policy.
    failover: FailoverConfig,
    /// This manager's id, for records.
    manager_id: String,
    /// Probes the nodes; owns the MySQL admin edge.
    prober: Prober<A>,
    /// The floating IP (shared with its calls in flight).
    vip: Arc<V>,
    /// The coordinator's store.
    store: Arc<S>,
    /// Whether this manager may act.
    lead: L,
    /// The recent snapshots and the detector's memory.
    history: History,
    /// The shared state as last read: while the coordinator cannot be read, decisions (for
    /// the log) are made on it.
    shared: SharedState,
    /// When it was read.
    shared_at: Option<Instant>,
    /// Between rounds.
    memory: Memory,
    /// The API's view and the metrics, when published.
    outputs: Option<Outputs>,
    /// `[backup] every` and `allow_master`, when backups are scheduled.
    backup_every: Option<(Duration, bool)>,
    /// The drill hook's step (`MYHA_CHAOS_PAUSE_BEFORE`).
    chaos_pause: Option<String>,
    /// Where each round's outcome is sent, when someone listens (tests).
    outcomes: Option<tokio::sync::mpsc::UnboundedSender<String>>,
}

impl<A: MysqlAdmin, V: Vip, S: Store, L: Leadership> ClusterLoop<A, V, S, L> {
    /// A loop for one cluster.
    pub fn new(p: LoopParts<A, V, S, L>) -> Self {
        ClusterLoop {
            history: History::new(&p.timing),
            prober: Prober::new(p.cluster.clone(), p.admin, p.timing.clone()),
            cluster: p.cluster,
            timing: p.timing,
            failover: p.failover,
            manager_id: p.manager_id,
            vip: Arc::new(p.vip),
            store: p.store,
            lead: p.lead,
            shared: SharedState::default(),
            shared_at: None,
            memory: Memory::default(),
            outputs: None,
            backup_every: None,
            chaos_pause: chaos::pause_step(),
            outcomes: None,
        }
    }

    /// Ask for a backup whenever the newest is older than `[backup] every`.
    pub fn with_backup_schedule(mut self, backup: Option<&BackupConfig>) -> Self {
        self.backup_every = backup.and_then(|b| b.every.map(|e| (e, b.allow_master)));
        self
    }

    /// Publish every round's view (for the API) and metrics.
    pub fn with_outputs(mut self, view: ViewTx, metrics: Arc<Metrics>) -> Self {
        self.outputs = Some(Outputs { view, metrics });
        self
    }

    /// Send every round's outcome to `tx`, as `<manager>: <cluster>: <sentence>`.
    pub fn with_outcomes(mut self, tx: tokio::sync::mpsc::UnboundedSender<String>) -> Self {
        self.outcomes = Some(tx);
        self
    }

    fn name(&self) -> &str {
        &self.cluster.name
    }

    /// Run until the task is dropped, one round per probe interval.
    pub async fn run(mut self) {
        let mut tick = tokio::time::interval(self.timing.probe_interval);
        tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            let outcome = self.round().await;
            if let Some(tx) = &self.outcomes {
                let _ = tx.send(format!("{}: {}: {outcome}", self.manager_id, self.cluster.name));
            }
        }
    }

    /// One round: observe, decide, act. The outcome says what happened.
    pub async fn round(&mut self) -> Outcome {
        let obs = match self.observe().await {
            Ok(o) => o,
            Err(o) => return o,
        };
        let decision = decide(&obs.situation(&self.cluster, self.failover.semi_sync_policy()));
        self.publish(&obs, &decision);
        self.log(&obs, &decision);
        let refusal = match &decision {
            Decision::WouldLose { why, candidates, loss } => Some((why.as_str(), candidates, loss)),
            _ => None,
        };
        self.refused(refusal, obs.term(), obs.shared.epoch).await;
        let Some(term) = obs.term() else {
            return Outcome::Standby {
                standing: obs.standing.to_string(),
                decision: decision.to_string(),
            };
        };
        if let Some(o) = self.take_over_once(term, &obs).await {
            return o;
        }
        if let Some(req) = obs.shared.request.clone() {
            if let Some(o) = self.serve(req, &obs, term).await {
                self.forget_vip();
                return o;
            }
        }
        self.schedule_backup(&obs.snapshot, term, obs.shared.epoch).await;
        if !decision.acts() {
            return Outcome::Idle(decision.to_string());
        }
        let key = format!("{decision:?}");
        if let Some((k, at)) = &self.memory.last_failed {
            if *k == key && at.elapsed() < ACTION_BACKOFF {
                return Outcome::Backoff(decision.to_string());
            }
        }
        let outcome = self.act(decision, &obs, term).await;
        self.memory.last_failed = (!outcome.succeeded()).then(|| (key, Instant::now()));
        // whatever was done may have changed where the VIP leads: observe it afresh
        self.forget_vip();
        outcome
    }

    /// The executors' context for `term`, guarded by `guard`.
    fn act_with<'a, G: Guard>(&'a self, guard: &'a G, term: i64, epoch: u64) -> Act<'a, A, V, S, G> {
        Act {
            cluster: &self.cluster,
            failover: &self.failover,
            admin: self.prober.admin(),
            vip: self.vip.as_ref(),
            store: self.store.as_ref(),
            guard,
            manager: &self.manager_id,
            term,
            epoch,
            metrics: self.outputs.as_ref().map(|o| o.metrics.as_ref()),
        }
    }

    /// This term's guard, at `epoch`.
    fn guard(&self, term: i64, epoch: u64) -> TermGuard<'_, L, S> {
        TermGuard {
            lead: &self.lead,
            store: self.store.as_ref(),
            cluster: &self.cluster.name,
            term,
            epoch,
        }
    }
}

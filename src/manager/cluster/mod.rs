//! One cluster's control loop: probe → diagnose → decide → act, once per probe interval.
//! Decisions are logged as sentences when they change; actions that fail are not retried
//! for a short while, so a broken node does not get hammered four times a second.
//!
//! Every manager runs the loop; only the cluster's leader acts. A manager that becomes
//! leader first settles any failover its predecessor left unfinished ([`recover`]).

mod backup;
mod commit;
mod refusal;

use commit::Concluded;
mod request;

use super::chaos::{self, Pausing};
use super::decide::{decide, Decision, Situation};
use super::recover::{recover, Recovery};
use crate::api::view::{ClusterView, ViewTx};
use crate::config::{ClusterConfig, FailoverConfig, Timing};
use crate::coord::elector::Leadership;
use crate::coord::{self, Store};
use crate::detect::{ClusterState, History, NodeIssue};
use crate::failover::{Edges, Guard, Recorder};
use crate::manager::guard::TermGuard;
use crate::metrics::Metrics;
use crate::model::{
    id_time, timestamp, unix_ms, FailoverRecord, Kind, SharedState, Standing, Status, StepKind, VipView,
};
use crate::mysql::MysqlAdmin;
use crate::probe::Prober;
use crate::vip::{self, move_vip, RouteTables};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::{Duration, SystemTime};
use tokio::time::{Instant, MissedTickBehavior};
use tracing::{error, info, warn};

/// How often the leader reads the route tables back outside of failovers.
const VIP_REFRESH: Duration = Duration::from_secs(2);
/// How often a standby does: it only reports them, and every read counts against the
/// account's EC2 API rate limit, shared by every manager and cluster.
const VIP_REFRESH_STANDBY: Duration = Duration::from_secs(30);
/// How often the nodes registered at run time are read.
const MEMBERS_REFRESH: Duration = Duration::from_secs(5);
/// How long a failed action is not repeated.
const ACTION_BACKOFF: Duration = Duration::from_secs(5);

/// What settling unfinished records did.
struct TakeOver {
    /// Every running record was settled (or none was left).
    settled: bool,
    /// Something was changed or recorded: this round's decision is stale.
    acted: bool,
}

/// The loop's state for one cluster.
pub struct ClusterLoop<A, R, S, L> {
    /// The cluster.
    pub cluster: Arc<ClusterConfig>,
    /// Probe and detection timing.
    pub timing: Timing,
    /// Failover limits.
    pub failover: FailoverConfig,
    /// This manager's id, for records.
    pub manager_id: String,
    /// Probes the nodes (and owns the MySQL admin client).
    pub prober: Prober<A>,
    /// Route tables.
    pub routes: R,
    /// Shared state and records.
    pub store: Arc<S>,
    /// Whether this manager may act, and the check before irreversible steps.
    pub lead: L,
    history: History,
    /// The term whose take-over (unfinished failovers) is done.
    settled_term: Option<i64>,
    /// The shared state as last read (used while the coordinator cannot be read).
    shared: SharedState,
    chaos_pause: Option<String>,
    view_tx: Option<ViewTx>,
    metrics: Option<Arc<Metrics>>,
    tables: Vec<String>,
    enis: BTreeMap<String, String>,
    vip_view: Option<(Instant, VipView)>,
    vip_resolved: bool,
    errant: BTreeSet<String>,
    actionable_since: Option<SystemTime>,
    /// A failover the lossless policy refuses, since when.
    refusing: Option<refusal::Refusing>,
    /// The diagnosis text, decision kind and standing last logged.
    last_logged: Option<(
        String,
        std::mem::Discriminant<Decision>,
        std::mem::Discriminant<Standing>,
    )>,
    last_failed: Option<(String, Instant)>,
    /// `[backup] every` and `allow_master`, when backups are scheduled.
    backup_every: Option<(Duration, bool)>,
    last_backup_check: Option<Instant>,
    last_members_check: Option<Instant>,
}

impl<A: MysqlAdmin, R: RouteTables, S: Store, L: Leadership> ClusterLoop<A, R, S, L> {
    /// A loop for one cluster.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        cluster: Arc<ClusterConfig>,
        timing: Timing,
        failover: FailoverConfig,
        manager_id: String,
        prober: Prober<A>,
        routes: R,
        store: Arc<S>,
        lead: L,
    ) -> Self {
        ClusterLoop {
            history: History::new(&timing),
            cluster,
            timing,
            failover,
            manager_id,
            prober,
            routes,
            store,
            lead,
            settled_term: None,
            shared: SharedState::default(),
            chaos_pause: chaos::pause_step(),
            view_tx: None,
            metrics: None,
            tables: Vec::new(),
            enis: BTreeMap::new(),
            vip_view: None,
            vip_resolved: false,
            errant: BTreeSet::new(),
            actionable_since: None,
            refusing: None,
            last_logged: None,
            last_failed: None,
            backup_every: None,
            last_backup_check: None,
            last_members_check: None,
        }
    }

    /// Ask for a backup whenever the newest is older than `[backup] every`.
    pub fn with_backup_schedule(mut self, backup: Option<&crate::config::BackupConfig>) -> Self {
        self.backup_every = backup.and_then(|b| b.every.map(|e| (e, b.allow_master)));
        self
    }

    /// Publish every round's view (for the API) and metrics.
    pub fn with_outputs(mut self, view: ViewTx, metrics: Arc<Metrics>) -> Self {
        self.view_tx = Some(view);
        self.metrics = Some(metrics);
        self
    }

    fn name(&self) -> &str {
        &self.cluster.name
    }

    /// Find the route tables and ENIs and report what is wrong with them. Retried on every
    /// round until it works: the manager probes and detects without the EC2 API.
    async fn resolve_vip(&mut self) {
        let vip_cfg = &self.cluster.vip;
        let tables = match self
            .routes
            .discover(&vip_cfg.route_tables, vip_cfg.route_table_tag.as_deref())
            .await
        {
            Ok(t) => t,
            Err(e) => {
                warn!(cluster = %self.name(), error = %e, "cannot list the VIP's route tables yet");
                return;
            }
        };
        let nodes: Vec<(String, String, Option<String>)> = self
            .cluster
            .nodes
            .iter()
            .map(|n| (n.name.clone(), n.address.clone(), n.eni.clone()))
            .collect();
        let interfaces = match self.routes.interfaces(&nodes).await {
            Ok(i) => i,
            Err(e) => {
                warn!(cluster = %self.name(), error = %e, "cannot resolve the nodes' ENIs yet");
                return;
            }
        };
        match vip::check(&self.routes, &tables, vip_cfg.address, &interfaces).await {
            Ok(problems) if problems.is_empty() => info!(
                cluster = %self.name(),
                "VIP {}: {} route tables ({}), ENIs {}",
                vip_cfg.address,
                tables.len(),
                tables.join(", "),
                interfaces.iter().map(|i| format!("{}={}", i.node, i.eni)).collect::<Vec<_>>().join(", ")
            ),
            Ok(problems) => {
                for p in problems {
                    error!(cluster = %self.name(), "VIP misconfiguration: {p}");
                }
            }
            Err(e) => warn!(cluster = %self.name(), error = %e, "cannot check the VIP's route tables"),
        }
        self.tables = tables;
        self.enis = interfaces.into_iter().map(|i| (i.node, i.eni)).collect();
        self.vip_resolved = true;
    }

    async fn refresh_vip(&mut self, force: bool) {
        if !self.vip_resolved {
            self.resolve_vip().await;
            if !self.vip_resolved {
                return;
            }
        }
        let every = if matches!(self.lead.standing(self.name()), Standing::Leader { .. }) {
            VIP_REFRESH
        } else {
            VIP_REFRESH_STANDBY
        };
        if !force && self.vip_view.as_ref().is_some_and(|(at, _)| at.elapsed() < every) {
            return;
        }
        match self.routes.targets(&self.tables, self.cluster.vip.address).await {
            Ok(targets) => {
                self.vip_view = Some((
                    Instant::now(),
                    VipView {
                        targets,
                        enis: self.enis.clone(),
                    },
                ))
            }
            Err(e) => {
                warn!(cluster = %self.name(), error = %e, "cannot read the VIP's route tables");
                self.vip_view = None;
            }
        }
    }

    /// Run forever.
    pub async fn run(mut self) {
        self.resolve_vip().await;
        let mut tick = tokio::time::interval(self.timing.probe_interval);
        tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            self.round().await;
        }
    }

    /// One round: probe, diagnose, decide, act.
    pub async fn round(&mut self) {
        let acted = self.round_inner().await;
        if acted {
            // whatever was done changed the route tables or the topology: read them afresh
            self.vip_view = None;
        }
    }

    async fn round_inner(&mut self) -> bool {
        self.refresh_members().await;
        let snap = Arc::new(self.prober.round().await);
        if let Some(m) = &self.metrics {
            m.observe_round(&snap);
        }
        let standing = self.lead.standing(self.name());
        let leader_term = match &standing {
            Standing::Leader { term } => Some(*term),
            _ => None,
        };
        // Degraded: the coordinator cannot be read; decide (for the log) on the last state seen.
        if !matches!(standing, Standing::Degraded { .. }) {
            match self.store.load(self.name()).await {
                Ok(s) => self.shared = s.value,
                Err(e) if leader_term.is_some() => {
                    warn!(cluster = %self.name(), error = %e, "cannot read the cluster state: not acting this round");
                    return false;
                }
                Err(_) => {}
            }
        }
        self.history.push(snap.clone(), self.shared.master.as_deref());
        // the detector judges the master of record, never a node one snapshot shows writable
        let Some(diag) = self.history.diagnose(&self.timing, self.shared.master.as_deref()) else {
            return false;
        };
        if diag.state.is_actionable() {
            self.actionable_since.get_or_insert(snap.wall);
        } else {
            self.actionable_since = None;
        }
        if matches!(diag.state, ClusterState::Healthy { .. }) {
            self.errant = diag
                .issues
                .iter()
                .filter_map(|i| match i {
                    NodeIssue::ErrantTransactions { node, .. } => Some(node.clone()),
                    _ => None,
                })
                .collect();
        }
        self.refresh_vip(false).await;
        let shared = self.shared.clone();
        let decision = decide(&Situation {
            cluster: &self.cluster,
            snapshot: &snap,
            diagnosis: &diag,
            shared: &shared,
            now_ms: unix_ms(SystemTime::now()),
            vip: self.vip_view.as_ref().map(|(_, v)| v),
            errant: &self.errant,
            acked: self.history.acknowledged(),
            policy: self.failover.semi_sync_policy(),
        });
        let sentence = decision.to_string();
        if let Some(m) = &self.metrics {
            m.set_leader(self.name(), leader_term.is_some());
        }
        if let Some(tx) = &self.view_tx {
            tx.send_replace(Some(Arc::new(ClusterView {
                config: self.cluster.clone(),
                snapshot: snap.clone(),
                diagnosis: diag.clone(),
                decision: sentence.clone(),
                shared: shared.clone(),
                standing: standing.clone(),
                vip: self.vip_view.as_ref().map(|(_, v)| v.clone()),
                errant: self.errant.clone(),
                acked: self.history.acknowledged().cloned(),
            })));
        }
        let signature = format!("{} {:?}", diag.state.kind(), diag.state.master());
        let diag_text = format!(
            "{signature} {}",
            diag.issues
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join("; ")
        );
        // log when the verdict, the kind of decision or the standing changes, not every
        // growing count
        let logged = Some((
            diag_text,
            std::mem::discriminant(&decision),
            std::mem::discriminant(&standing),
        ));
        if logged != self.last_logged {
            match leader_term {
                Some(_) => info!(cluster = %self.name(), "{sentence}"),
                None if decision.acts() => {
                    info!(cluster = %self.name(), role = %standing, "{sentence} — left to the leader")
                }
                None => info!(cluster = %self.name(), role = %standing, "{sentence}"),
            }
            self.last_logged = logged;
        }
        let refusal = match &decision {
            Decision::WouldLose { why, candidates, loss } => Some((why.as_str(), candidates, loss)),
            _ => None,
        };
        self.refused(refusal, leader_term).await;
        let Some(term) = leader_term else {
            return false;
        };
        if self.settled_term != Some(term) {
            let t = self.take_over(&snap, term).await;
            if t.settled {
                self.settled_term = Some(term);
            }
            // this round's decision was made before the take-over changed things
            if t.acted || !t.settled {
                return t.acted;
            }
        }
        if let Some(req) = shared.request.clone() {
            if self.serve(req, &snap, &diag, term).await {
                return true;
            }
        }
        self.schedule_backup(&snap).await;
        if !decision.acts() {
            return false;
        }
        let action_key = format!("{decision:?}");
        if let Some((k, at)) = &self.last_failed {
            if *k == action_key && at.elapsed() < ACTION_BACKOFF {
                return false;
            }
        }
        let ok = self.act(decision, &snap, &diag.to_string(), term).await;
        self.last_failed = if ok { None } else { Some((action_key, Instant::now())) };
        true
    }

    /// Watch the nodes a bootstrap registered (not in the configuration) from now on.
    async fn refresh_members(&mut self) {
        if self.last_members_check.is_some_and(|t| t.elapsed() < MEMBERS_REFRESH) {
            return;
        }
        self.last_members_check = Some(Instant::now());
        let Ok(registered) = self.store.registered_nodes(self.name()).await else {
            return;
        };
        let mut cluster = (*self.cluster).clone();
        let mut added = Vec::new();
        for n in registered {
            if cluster.node(&n.name).is_some() {
                continue;
            }
            if cluster.nodes.iter().any(|m| m.address == n.address && m.port == n.port) {
                warn!(cluster = %self.name(), "registered node {} uses {}:{} like a configured node: ignored", n.name, n.address, n.port);
                continue;
            }
            added.push(n.name.clone());
            cluster.nodes.push(n);
        }
        if added.is_empty() {
            return;
        }
        info!(cluster = %self.name(), "watching {} from now on (registered by `myha bootstrap`)", added.join(", "));
        self.cluster = Arc::new(cluster);
        self.prober.set_cluster(self.cluster.clone());
        // detection starts over on the new set of nodes; its ENI is looked up afresh
        self.history = History::new(&self.timing);
        self.vip_resolved = false;
    }

    /// The guard of this term's irreversible steps, from the shared state's current epoch.
    fn guard(&self, term: i64) -> TermGuard<'_, L, S> {
        TermGuard {
            lead: &self.lead,
            store: self.store.as_ref(),
            cluster: &self.cluster.name,
            term,
            epoch: self.shared.epoch,
        }
    }

    /// The edges a failover acts on, checked by `guard`.
    fn edges<'a, G: Guard>(&'a self, guard: &'a G) -> Edges<'a, A, R, G> {
        Edges {
            cluster: &self.cluster,
            timeouts: &self.failover,
            admin: self.prober.admin(),
            routes: &self.routes,
            tables: &self.tables,
            enis: &self.enis,
            guard,
        }
    }

    /// A new, running record (the caller fills in what it knows).
    fn new_record(&self, id: String, kind: Kind, trigger: &str, old_master: &str, now: SystemTime) -> FailoverRecord {
        FailoverRecord {
            id,
            cluster: self.name().to_string(),
            kind,
            trigger: trigger.to_string(),
            manager: self.manager_id.clone(),
            old_master: old_master.to_string(),
            new_master: None,
            gtids: BTreeMap::new(),
            candidates: None,
            epoch: self.shared.epoch,
            detected_at: timestamp(now),
            started_at: timestamp(now),
            finished_at: None,
            total_ms: None,
            write_pause_ms: None,
            steps: Vec::new(),
            errors: Vec::new(),
            status: Status::Running,
        }
    }

    /// Settle the failovers a previous leader (or this one, whose commit failed) left
    /// running.
    async fn take_over(&mut self, snap: &crate::topology::Snapshot, term: i64) -> TakeOver {
        let records = match self.store.records(self.name(), 20).await {
            Ok(r) => r,
            Err(e) => {
                warn!(cluster = %self.name(), error = %e, "new leader cannot read the failover records yet: not acting");
                return TakeOver {
                    settled: false,
                    acted: false,
                };
            }
        };
        let mut out = TakeOver {
            settled: true,
            acted: false,
        };
        for rec in records.into_iter().filter(|r| r.status == Status::Running) {
            let plan = recover(&rec, snap);
            let now = SystemTime::now();
            let age = humantime::parse_rfc3339_weak(&rec.started_at)
                .ok()
                .and_then(|t| now.duration_since(t).ok())
                .unwrap_or_default();
            let clock = Instant::now().checked_sub(age).unwrap_or_else(Instant::now);
            let started_wall = now.checked_sub(age).unwrap_or(now);
            let previous = rec.manager.clone();
            let store = self.store.clone();
            let mut recorder = Recorder::new(rec, clock, store.as_ref());
            for s in recorder.rec.steps.iter_mut().filter(|s| s.status == Status::Running) {
                s.status = Status::Skipped;
                s.detail = format!("interrupted: {previous} stopped during this step");
            }
            let taken_over = format!("taken over by {}", self.manager_id);
            if !matches!(plan, Recovery::Wait { .. }) {
                out.acted = true;
            }
            match plan {
                Recovery::Wait { why } => {
                    warn!(cluster = %self.name(), failover = %recorder.rec.id, "unfinished failover by {previous}: {why}");
                    out.settled = false;
                }
                Recovery::Abandon { why } => {
                    warn!(cluster = %self.name(), failover = %recorder.rec.id, "unfinished failover by {previous} abandoned: {why}");
                    let step = recorder.start(StepKind::TakenOver, taken_over).await;
                    let detail = format!("{previous} stopped before promoting: {why}");
                    recorder.audit(step, Status::Failed, detail).await;
                    recorder.finish(Status::Failed).await;
                }
                Recovery::Undo { old_master, why } => {
                    warn!(cluster = %self.name(), failover = %recorder.rec.id, "unfinished switchover by {previous}: {why}; making {old_master} writable again");
                    let cluster = self.cluster.clone();
                    let Some(old) = cluster.node(&old_master) else { continue };
                    let step = recorder.start(StepKind::TakenOver, taken_over).await;
                    let r = self
                        .prober
                        .admin()
                        .set_read_only(old, false, self.failover.promote_timeout)
                        .await;
                    match r {
                        Ok(()) => {
                            let detail =
                                format!("{previous} stopped before promoting: {why}; {old_master} takes writes again");
                            recorder.audit(step, Status::Failed, detail).await;
                            recorder.finish(Status::Failed).await;
                        }
                        Err(e) => {
                            // stays running: the next term's take-over tries again
                            recorder
                                .audit(step, Status::Failed, format!("cannot make {old_master} writable: {e}"))
                                .await;
                            out.settled = false;
                        }
                    }
                }
                Recovery::Complete { new_master } => {
                    let cluster = self.cluster.clone();
                    let Some(new) = cluster.node(&new_master) else { continue };
                    warn!(cluster = %self.name(), failover = %recorder.rec.id, "unfinished failover by {previous}: {new_master} was promoted; finishing it");
                    self.refresh_vip(true).await;
                    let step = recorder.start(StepKind::TakenOver, taken_over).await;
                    let detail = format!("{new_master} is writable: {previous} promoted it; finishing the failover");
                    recorder.audit(step, Status::Ok, detail).await;
                    let guard = self.guard(term);
                    let status = self.edges(&guard).complete(&mut recorder, snap, new).await;
                    if self.conclude(&mut recorder, status, started_wall).await == Concluded::CommitPending {
                        out.settled = false;
                    }
                    self.vip_view = None;
                }
                Recovery::Commit { new_master } => {
                    warn!(cluster = %self.name(), failover = %recorder.rec.id, "unfinished failover by {previous}: {new_master} was promoted and set up, but not recorded; recording it");
                    let step = recorder.start(StepKind::TakenOver, taken_over).await;
                    let detail = format!("{new_master} is writable and every step but the commit is done");
                    recorder.audit(step, Status::Ok, detail).await;
                    let status = recorder.rec.outcome();
                    if self.conclude(&mut recorder, status, started_wall).await == Concluded::CommitPending {
                        out.settled = false;
                    }
                }
            }
        }
        out
    }

    async fn act(&mut self, decision: Decision, snap: &crate::topology::Snapshot, why: &str, term: i64) -> bool {
        if matches!(decision, Decision::Failover { .. }) {
            self.refresh_vip(true).await;
        }
        // Every action is guarded like a failover's steps: this manager still leads in this
        // term, and the master of record is still the one the decision was made on.
        if !matches!(decision, Decision::Failover { .. }) {
            if let Err(why) = self.guard(term).may_act(&decision.to_string()).await {
                warn!(cluster = %self.name(), "not acting: {why}");
                return false;
            }
        }
        let admin = self.prober.admin();
        let limit = self.failover.repoint_timeout;
        match decision {
            Decision::Failover { candidates, .. } => {
                let shared = match self.store.load(self.name()).await {
                    Ok(s) => s,
                    Err(e) => {
                        error!(cluster = %self.name(), error = %e, "cannot read the cluster state: not failing over");
                        return false;
                    }
                };
                let started = Instant::now();
                let now = SystemTime::now();
                let id = format!("{}-{}-{}", self.name(), id_time(now, false), candidates.old_master);
                let mut rec = self.new_record(id.clone(), Kind::Automatic, why, &candidates.old_master, now);
                rec.new_master = candidates.chosen.clone();
                rec.gtids = candidates
                    .ranking
                    .iter()
                    .map(|r| (r.node.clone(), r.received.clone()))
                    .collect();
                rec.candidates = Some(candidates.clone());
                rec.epoch = shared.value.epoch;
                rec.detected_at = timestamp(self.actionable_since.unwrap_or(now));
                let store = self.store.clone();
                let mut recorder = Recorder::new(rec, started, store.as_ref());
                // intent before action: the record exists before the first step
                recorder.persist().await;
                let guard = TermGuard {
                    epoch: shared.value.epoch,
                    ..self.guard(term)
                };
                let pausing = Pausing {
                    inner: &guard,
                    step: self.chaos_pause.as_deref(),
                };
                let status = self.edges(&pausing).failover(&mut recorder, snap, &candidates).await;
                let concluded = self.conclude(&mut recorder, status, now).await;
                drop(recorder);
                if concluded == Concluded::CommitPending {
                    // the next round settles it like a predecessor's
                    self.settled_term = None;
                }
                concluded == Concluded::Committed
            }
            Decision::Fence { node, .. } => match self.cluster.node(&node) {
                Some(n) => match admin
                    .fence(n, self.failover.fence_timeout.max(Duration::from_secs(2)))
                    .await
                {
                    Ok(f) => {
                        info!(cluster = %self.name(), "fenced {node}: read_only=ON, {} sessions ended", f.sessions_killed);
                        true
                    }
                    Err(e) => {
                        warn!(cluster = %self.name(), error = %e, "cannot fence {node}");
                        false
                    }
                },
                None => false,
            },
            Decision::Rejoin { node, master, from } => {
                let (Some(n), Some(m)) = (self.cluster.node(&node), self.cluster.node(&master)) else {
                    return false;
                };
                let r = async {
                    admin.set_read_only(n, true, limit).await?;
                    admin.replicate_from(n, m, from, limit).await
                }
                .await;
                match r {
                    Ok(()) => {
                        info!(cluster = %self.name(), "{node} replicates from {master} again");
                        true
                    }
                    Err(e) => {
                        warn!(cluster = %self.name(), error = %e, "cannot rejoin {node}");
                        false
                    }
                }
            }
            Decision::NeedsRebuild { node, errant } => {
                error!(cluster = %self.name(), "{node} diverged from the master ({errant}): marked for rebuild");
                let r = coord::update(self.store.as_ref(), self.name(), |st| {
                    st.needs_rebuild
                        .insert(node.clone(), format!("errant transactions {errant}"));
                })
                .await;
                r.is_ok()
            }
            Decision::Rebuilt { node } => coord::update(self.store.as_ref(), self.name(), |st| {
                st.needs_rebuild.remove(&node);
            })
            .await
            .is_ok(),
            Decision::MoveVip { eni, master, .. } => {
                let r = move_vip(
                    &self.routes,
                    &self.tables,
                    self.cluster.vip.address,
                    &eni,
                    self.failover.vip_rounds,
                    self.failover.vip_retry_pause,
                )
                .await;
                if r.verified {
                    info!(cluster = %self.name(), "VIP now points at {eni} in every route table");
                    let _ = coord::update(self.store.as_ref(), self.name(), |st| st.vip = Some(master.clone())).await;
                } else {
                    warn!(cluster = %self.name(), "VIP not moved in {}", r.wrong.join(", "));
                }
                r.verified
            }
            Decision::Adopt { master, previous } => {
                // compare-and-set on the master of record the decision saw
                let seen = self.shared.epoch;
                let r = coord::try_update(self.store.as_ref(), self.name(), |st| {
                    if st.epoch != seen || st.master != previous {
                        return Err(coord::StoreError::Refused(format!(
                            "the master of record changed meanwhile (epoch {} → {}): not adopting {master}",
                            seen, st.epoch
                        )));
                    }
                    st.master = Some(master.clone());
                    st.epoch += 1;
                    Ok(())
                })
                .await;
                match r {
                    Ok(v) => {
                        info!(cluster = %self.name(), "{master} is the master of record now (epoch {})", v.value.epoch);
                        true
                    }
                    Err(e) => {
                        warn!(cluster = %self.name(), error = %e, "cannot adopt {master}");
                        false
                    }
                }
            }
            Decision::SemiSync { master, policy, .. } => {
                let Some(n) = self.cluster.node(&master) else {
                    return false;
                };
                match admin.set_semi_sync(n, policy, limit).await {
                    Ok(()) => {
                        info!(cluster = %self.name(), "master {master}: semi-sync AFTER_SYNC, timeout {} ms, waits without replicas", policy.timeout.as_millis());
                        true
                    }
                    Err(e) => {
                        warn!(cluster = %self.name(), error = %e, "cannot set semi-sync on {master}");
                        false
                    }
                }
            }
            Decision::Nothing { .. }
            | Decision::Blocked { .. }
            | Decision::Paused { .. }
            | Decision::NoCandidate { .. }
            | Decision::WouldLose { .. } => true,
        }
    }
}

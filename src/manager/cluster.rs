//! One cluster's control loop: probe → diagnose → decide → act, once per probe interval.
//! Decisions are logged as sentences when they change; actions that fail are not retried
//! for a short while, so a broken node does not get hammered four times a second.

use super::decide::{decide, Decision, Situation, VipView};
use crate::config::{ClusterConfig, FailoverConfig, Timing};
use crate::coord::{self, unix_ms, Block, SharedState, Store};
use crate::detect::{ClusterState, History, NodeIssue};
use crate::failover::record::timestamp;
use crate::failover::{Edges, FailoverRecord, Guard, Kind, Recorder, Status};
use crate::mysql::MysqlAdmin;
use crate::probe::Prober;
use crate::vip::{self, move_vip, RouteTables};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::{Duration, SystemTime};
use tokio::time::{Instant, MissedTickBehavior};
use tracing::{error, info, warn};

/// How often the route tables are read back outside of failovers.
const VIP_REFRESH: Duration = Duration::from_secs(2);
/// How long a failed action is not repeated.
const ACTION_BACKOFF: Duration = Duration::from_secs(5);

/// The loop's state for one cluster.
pub struct ClusterLoop<A, R, S, G> {
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
    /// Leadership check before irreversible steps.
    pub guard: G,
    history: History,
    tables: Vec<String>,
    enis: BTreeMap<String, String>,
    vip_view: Option<(Instant, VipView)>,
    vip_resolved: bool,
    errant: BTreeSet<String>,
    actionable_since: Option<SystemTime>,
    /// The diagnosis text and decision kind last logged.
    last_logged: Option<(String, std::mem::Discriminant<Decision>)>,
    last_failed: Option<(String, Instant)>,
}

impl<A: MysqlAdmin, R: RouteTables, S: Store, G: Guard> ClusterLoop<A, R, S, G> {
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
        guard: G,
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
            guard,
            tables: Vec::new(),
            enis: BTreeMap::new(),
            vip_view: None,
            vip_resolved: false,
            errant: BTreeSet::new(),
            actionable_since: None,
            last_logged: None,
            last_failed: None,
        }
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
        if !force && self.vip_view.as_ref().is_some_and(|(at, _)| at.elapsed() < VIP_REFRESH) {
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
        let snap = Arc::new(self.prober.round().await);
        self.history.push(snap.clone());
        let Some(diag) = self.history.diagnose(&self.timing) else {
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
        let shared = match self.store.load(self.name()).await {
            Ok(s) => s.value,
            Err(e) => {
                warn!(cluster = %self.name(), error = %e, "cannot read the cluster state: not acting this round");
                return false;
            }
        };
        let decision = decide(&Situation {
            cluster: &self.cluster,
            snapshot: &snap,
            diagnosis: &diag,
            shared: &shared,
            now_ms: unix_ms(SystemTime::now()),
            vip: self.vip_view.as_ref().map(|(_, v)| v),
            errant: &self.errant,
        });
        let sentence = decision.to_string();
        let signature = format!("{} {:?}", diag.state.kind(), diag.state.master());
        let diag_text = format!(
            "{signature} {}",
            diag.issues
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join("; ")
        );
        // log when the verdict or the kind of decision changes, not every growing count
        let logged = Some((diag_text, std::mem::discriminant(&decision)));
        if logged != self.last_logged {
            info!(cluster = %self.name(), "{sentence}");
            self.last_logged = logged;
        }
        if !decision.acts() {
            return false;
        }
        let action_key = format!("{decision:?}");
        if let Some((k, at)) = &self.last_failed {
            if *k == action_key && at.elapsed() < ACTION_BACKOFF {
                return false;
            }
        }
        let ok = self.act(decision, &snap, &diag.to_string()).await;
        self.last_failed = if ok { None } else { Some((action_key, Instant::now())) };
        true
    }

    async fn act(&mut self, decision: Decision, snap: &crate::topology::Snapshot, why: &str) -> bool {
        if matches!(decision, Decision::Failover { .. }) {
            self.refresh_vip(true).await;
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
                let id = format!(
                    "{}-{}-{}",
                    self.name(),
                    humantime::format_rfc3339_seconds(now)
                        .to_string()
                        .replace([':', '-'], ""),
                    candidates.old_master
                );
                let rec = FailoverRecord {
                    id: id.clone(),
                    cluster: self.name().to_string(),
                    kind: Kind::Automatic,
                    trigger: why.to_string(),
                    manager: self.manager_id.clone(),
                    old_master: candidates.old_master.clone(),
                    new_master: candidates.chosen.clone(),
                    gtids: candidates
                        .ranking
                        .iter()
                        .map(|r| (r.node.clone(), r.received.clone()))
                        .collect(),
                    candidates: Some(candidates.clone()),
                    epoch: shared.value.epoch,
                    detected_at: timestamp(self.actionable_since.unwrap_or(now)),
                    started_at: timestamp(now),
                    finished_at: None,
                    total_ms: None,
                    steps: Vec::new(),
                    errors: Vec::new(),
                    status: Status::Running,
                };
                let mut recorder = Recorder::new(rec, started, self.store.as_ref());
                // intent before action: the record exists before the first step
                recorder.persist().await;
                let edges = Edges {
                    cluster: &self.cluster,
                    timeouts: &self.failover,
                    admin,
                    routes: &self.routes,
                    tables: &self.tables,
                    enis: &self.enis,
                    guard: &self.guard,
                };
                let status = edges.failover(&mut recorder, snap, &candidates).await;
                let promoted = recorder.rec.new_master.clone().filter(|_| status != Status::Failed);
                if let Some(new_master) = promoted {
                    let block_until = now + self.failover.block_period;
                    let r = coord::update(self.store.as_ref(), self.name(), |st: &mut SharedState| {
                        st.master = Some(new_master.clone());
                        st.epoch += 1;
                        st.last_failover = Some(id.clone());
                        st.block = Some(Block {
                            until_ms: unix_ms(block_until),
                            until: timestamp(block_until),
                            failover: id.clone(),
                        });
                    })
                    .await;
                    if let Err(e) = r {
                        error!(cluster = %self.name(), error = %e, "failover done but the cluster state could not be saved");
                    }
                    true
                } else {
                    false
                }
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
            Decision::MoveVip { eni, .. } => {
                if let Err(why) = self.guard.may_act("move VIP").await {
                    warn!(cluster = %self.name(), "not moving the VIP: {why}");
                    return false;
                }
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
                } else {
                    warn!(cluster = %self.name(), "VIP not moved in {}", r.wrong.join(", "));
                }
                r.verified
            }
            Decision::Adopt { master, .. } => coord::update(self.store.as_ref(), self.name(), |st| {
                if st.master.as_deref() != Some(master.as_str()) {
                    st.master = Some(master.clone());
                    st.epoch += 1;
                }
            })
            .await
            .is_ok(),
            Decision::Nothing { .. }
            | Decision::Blocked { .. }
            | Decision::Paused { .. }
            | Decision::NoCandidate { .. } => true,
        }
    }
}

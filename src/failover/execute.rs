//! Running a failover plan against the real edges (MySQL admin, route tables), step by step,
//! each audited. Concurrent where the steps are independent:
//!
//! ```text
//! fence old master ─┐
//!                   ├─► guard ─► promote ─┬─► move VIP (all route tables, verified)
//! catch up cand.  ──┘                     └─► repoint every other replica (in parallel)
//! ```
//!
//! A failed catch-up or promotion stops the failover (nothing irreversible happened before
//! the promotion; the manager tries again on its next round). A best-effort fence that fails,
//! a route table that would not move or a replica that could not be repointed make the
//! failover *degraded*: recorded, and repaired by the manager's later rounds.

use super::catch_up;
use super::record::Recorder;
use crate::config::{ClusterConfig, FailoverConfig, NodeConfig};
use crate::coord::elector::LeadError;
use crate::coord::{RecordStore, StoreError};
use crate::flavor::StartFrom;
use crate::model::{lease, Candidates, Lease, PromotedSemiSync, Status, StepKind};
use crate::mysql::{MysqlAdmin, OpError};
use crate::topology::{IoThread, NodeState, ReplicaStatus, Snapshot};
use crate::vip::{Vip, VipError};
use futures_util::future::join_all;
use std::collections::BTreeMap;
use std::future::Future;
use std::time::Duration;

/// How long a repointed replica has to be seen replicating before its step is degraded.
const REPOINT_SEEN_WITHIN: Duration = Duration::from_secs(1);
/// Between the probes of that check.
const REPOINT_POLL: Duration = Duration::from_millis(50);

/// Why a guarded step may not run.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GuardError {
    /// This manager does not lead the cluster in the term the action started in.
    #[error("leadership lost before {step}: {source}")]
    Lead {
        /// the step
        step: String,
        /// why
        source: LeadError,
    },
    /// The master of record changed since the action started (another manager acted).
    #[error("the cluster's epoch is {found} but this started at {started}: the master changed meanwhile")]
    EpochMoved {
        /// the epoch found
        found: u64,
        /// the epoch the action started from
        started: u64,
    },
    /// The shared state could not be read to check the epoch. Retryable.
    #[error("cannot re-read the cluster state before {step}: {source}")]
    Store {
        /// the step
        step: String,
        /// why
        source: StoreError,
    },
}

/// Why a step of a failover did not do what it should.
#[derive(Debug, thiserror::Error)]
pub enum StepError {
    /// The guard refused: this manager may not act (any more).
    #[error("not acting: {0}")]
    Guard(#[from] GuardError),
    /// A database node refused or did not answer.
    #[error(transparent)]
    Mysql(#[from] OpError),
    /// The VIP did not move (or not verifiably).
    #[error(transparent)]
    Vip(#[from] VipError),
    /// The plan cannot be carried out as it is (a node missing from the snapshot, a wait
    /// that ran out).
    #[error("{0}")]
    Plan(String),
}

/// Checked immediately before every mutating step: does this manager still hold the right
/// to act, at the epoch it started from?
pub trait Guard: Send + Sync {
    /// `Err` stops before the step.
    fn may_act(&self, step: &str) -> impl Future<Output = Result<Lease, GuardError>> + Send;
}

/// A guard that always allows (tests of the executor itself).
#[cfg(test)]
pub struct Alone;

#[cfg(test)]
impl Guard for Alone {
    async fn may_act(&self, _step: &str) -> Result<Lease, GuardError> {
        Ok(Lease {
            term: 0,
            until: tokio::time::Instant::now() + std::time::Duration::from_secs(3600),
        })
    }
}

/// Why a promotion did not happen.
pub(super) enum NotPromoted {
    /// The guard refused: this manager may not act any more.
    Refused,
    /// The server refused or timed out (the promotion may have half run).
    Failed,
}

/// Who a failover moves: the old master, the candidate, the replicas that could still
/// acknowledge the old master (the candidate among them), and those to repoint.
pub(super) struct Plan<'c> {
    pub(super) old: &'c NodeConfig,
    pub(super) new: &'c NodeConfig,
    /// Every reachable replica of the old master: each stops receiving before anything is
    /// promoted, so none acknowledges the old master's waiting commits afterwards.
    pub(super) replicas: Vec<&'c NodeConfig>,
    /// The replicas to repoint to the new master.
    pub(super) others: Vec<&'c NodeConfig>,
    /// The candidate and its donor when they have a backlog to apply: their appliers get
    /// parallel workers before their receivers stop.
    pub(super) speed_up: Vec<String>,
}

/// Everything a failover acts on.
pub struct Edges<'a, A, V, G> {
    /// The cluster.
    pub cluster: &'a ClusterConfig,
    /// Step timeouts.
    pub timeouts: &'a FailoverConfig,
    /// MySQL admin.
    pub admin: &'a A,
    /// The floating IP.
    pub vip: &'a V,
    /// Leadership / epoch check.
    pub guard: &'a G,
}

/// Does replica status `r` name `master` as its source?
fn replicates_from(r: &ReplicaStatus, master: &NodeConfig) -> bool {
    r.master_host == master.address && r.master_port == master.port
}

impl<A: MysqlAdmin, V: Vip, G: Guard> Edges<'_, A, V, G> {
    pub(super) fn node(&self, name: &str) -> Option<&NodeConfig> {
        self.cluster.node(name)
    }

    /// `call` on a node, guarded immediately before it: a manager that lost the lead (paused
    /// past its session, cut off) changes nothing.
    pub(super) async fn guarded<T>(
        &self,
        what: &str,
        call: impl Future<Output = Result<T, OpError>>,
    ) -> Result<T, StepError> {
        let lease = self.guard.may_act(what).await?;
        Ok(lease::under(lease, call).await?)
    }

    /// The VIP's address, for step names.
    pub(super) fn vip_address(&self) -> String {
        self.cluster.vip.address()
    }

    /// Run the failover of `cand.old_master` to `cand.chosen`. Returns how it went; the caller
    /// commits the new master and closes the record.
    pub async fn failover<S: RecordStore>(
        &self,
        rec: &mut Recorder<'_, S>,
        snapshot: &Snapshot,
        cand: &Candidates,
    ) -> Status {
        let (Some(new_name), Some(old)) = (cand.chosen.as_deref(), self.node(&cand.old_master)) else {
            let s = rec.start(StepKind::Check, "choose candidate").await;
            rec.audit(s, Status::Failed, cand.to_string()).await;
            return Status::Failed;
        };
        let Some(new) = self.node(new_name) else {
            return Status::Failed;
        };
        let replicas: Vec<&NodeConfig> = snapshot
            .nodes
            .iter()
            .filter(|n| n.name != old.name)
            .filter(|n| {
                n.ok()
                    .and_then(|s| s.replica.as_ref())
                    .is_some_and(|r| replicates_from(r, old))
            })
            .filter_map(|n| self.node(&n.name))
            .collect();
        let others = replicas.iter().copied().filter(|n| n.name != new.name).collect();
        let speed_up = [Some(new_name), cand.catch_up_from.as_deref()]
            .into_iter()
            .flatten()
            .filter(|_| self.timeouts.catch_up_threads > 0)
            .filter(|n| {
                snapshot
                    .node(n)
                    .and_then(|o| o.ok())
                    .is_some_and(|s| catch_up::backlog(s) >= catch_up::SPEED_UP_FROM)
            })
            .map(str::to_string)
            .collect();
        let plan = Plan {
            old,
            new,
            replicas,
            others,
            speed_up,
        };
        // Steps are registered up front so the record shows the whole plan; their ends are
        // measured where they happen and audited after.
        let fence_step = rec.start(StepKind::Fence, format!("fence {}", old.name)).await;
        let mut stop_steps = Vec::new();
        for o in &plan.replicas {
            let name = format!("stop {} receiving from {}", o.name, old.name);
            stop_steps.push(rec.start(StepKind::StopReceiving, name).await);
        }
        let catch_step = rec.start(StepKind::CatchUp, format!("catch up {}", new.name)).await;
        let Some(after) = self.fence_and_revoke(rec, &plan, fence_step, stop_steps).await else {
            return Status::Failed;
        };
        rec.begins_now(catch_step);
        let via_donor = std::sync::atomic::AtomicBool::new(false);
        let caught = match self.catch_up(cand, &plan, &after, &via_donor).await {
            Ok(detail) => {
                rec.audit(catch_step, Status::Ok, detail).await;
                true
            }
            Err(e) => {
                rec.audit(catch_step, Status::Failed, e.to_string()).await;
                false
            }
        };
        // no other replica to repoint: the new master is alone (`failover.alone`)
        let alone = plan.others.is_empty();
        if !caught || self.promote(rec, new, alone, "").await.is_err() {
            if via_donor.load(std::sync::atomic::Ordering::Relaxed) {
                self.give_back(rec, &plan).await;
            }
            self.resume(&plan.replicas).await;
            return Status::Failed;
        }
        let repoint: Vec<(&NodeConfig, StartFrom)> =
            plan.others.iter().map(|o| (*o, StartFrom::ReplicaPosition)).collect();
        self.after_promotion(rec, new, &repoint).await.0
    }

    /// Fence the old master (best effort) while every replica of it stops receiving (all
    /// audited). `None` when a replica could not be stopped: it could still acknowledge the
    /// old master, so nothing is promoted (the stopped ones receive again).
    async fn fence_and_revoke<S: RecordStore>(
        &self,
        rec: &mut Recorder<'_, S>,
        plan: &Plan<'_>,
        fence_step: usize,
        stop_steps: Vec<usize>,
    ) -> Option<BTreeMap<String, NodeState>> {
        let clock = rec.clock();
        let at = || clock.elapsed().as_millis() as u64;
        let fence = async {
            let f = self.admin.fence(plan.old, self.timeouts.fence_timeout);
            (self.guarded("fence the old master", f).await, at())
        };
        let revoke = join_all(plan.replicas.iter().map(|o| async move {
            let note = match plan.speed_up.contains(&o.name) {
                true => self.speed_up(o).await,
                false => String::new(),
            };
            let stop = self.admin.stop_receiving(o, self.timeouts.repoint_timeout);
            (self.guarded("stop a replica receiving", stop).await, at(), note)
        }));
        let ((fenced, fence_end), stopped) = tokio::join!(fence, revoke);
        match fenced {
            Ok(f) => {
                let detail = format!("read_only=ON, {} client sessions ended", f.sessions_killed);
                rec.audit_at(fence_step, fence_end, Status::Ok, detail).await;
            }
            // Expected for a dead or unreachable master: stopping its replicas is what keeps
            // it from acknowledging anything, and its configuration makes it restart read-only.
            Err(e) => {
                let detail = format!("best effort, not fenced: {e}");
                rec.audit_at(fence_step, fence_end, Status::Degraded, detail).await
            }
        }
        let mut after = BTreeMap::new();
        let mut all = true;
        for ((step, (r, end, note)), o) in stop_steps.into_iter().zip(stopped).zip(&plan.replicas) {
            match r {
                Ok(state) => {
                    let detail = format!("receiver stopped; received {}{note}", state.received());
                    rec.audit_at(step, end, Status::Ok, detail).await;
                    after.insert(o.name.clone(), state);
                }
                Err(e) => {
                    all = false;
                    rec.audit_at(step, end, Status::Failed, e.to_string()).await;
                }
            }
        }
        if all {
            return Some(after);
        }
        self.resume(&plan.replicas).await;
        None
    }

    /// A failover that stopped after the candidate was repointed to its donor: the candidate
    /// replicates from the old master again. Left on the donor it would be a replica of a
    /// replica, which no later failover may promote — the cluster would have no candidate.
    async fn give_back<S: RecordStore>(&self, rec: &mut Recorder<'_, S>, plan: &Plan<'_>) {
        let step = rec
            .start(
                StepKind::Repoint,
                format!("repoint {} back to {}", plan.new.name, plan.old.name),
            )
            .await;
        let call = self.admin.replicate_from(
            plan.new,
            plan.old,
            StartFrom::ReplicaPosition,
            self.timeouts.repoint_timeout,
        );
        match self.guarded("repoint the candidate back", call).await {
            Ok(()) => {
                let detail = format!(
                    "{} replicates from {} again (the catch-up failed)",
                    plan.new.name, plan.old.name
                );
                rec.audit(step, Status::Ok, detail).await;
            }
            Err(e) => rec.audit(step, Status::Failed, e.to_string()).await,
        }
    }

    /// A failover that stopped before its promotion: the replicas receive again (if the old
    /// master is alive they follow it, as before).
    async fn resume(&self, replicas: &[&NodeConfig]) {
        for o in replicas {
            let start = self.admin.start_replication(o, self.timeouts.repoint_timeout);
            let _ = self.guarded("let a replica receive again", start).await;
        }
    }

    /// The promotion step: the guard, then `new` writable. On success the record names the
    /// new master; `refused_note` is added to the record when the guard refuses.
    pub(super) async fn promote<S: RecordStore>(
        &self,
        rec: &mut Recorder<'_, S>,
        new: &NodeConfig,
        alone: bool,
        refused_note: &str,
    ) -> Result<(), NotPromoted> {
        let step = rec.start(StepKind::Promote, format!("promote {}", new.name)).await;
        let lease = match self.guard.may_act("promote").await {
            Ok(lease) => lease,
            Err(why) => {
                rec.audit(step, Status::Failed, format!("not promoting: {why}{refused_note}"))
                    .await;
                return Err(NotPromoted::Refused);
            }
        };
        let semi = self.timeouts.promoted_semi_sync(alone);
        let promote = self.admin.promote(new, semi, self.timeouts.promote_timeout);
        if let Err(e) = lease::under(lease, promote).await {
            rec.audit(step, Status::Failed, e.to_string()).await;
            return Err(NotPromoted::Failed);
        }
        let mut detail = format!("{} is writable, {}", new.name, semi.describe());
        if alone && matches!(semi, PromotedSemiSync::Lossless(_)) {
            detail.push_str(
                "; no replica is left to follow it (failover.alone = \"wait\"): every commit waits for one to replicate",
            );
        }
        rec.audit(step, Status::Ok, detail).await;
        rec.rec.new_master = Some(new.name.clone());
        Ok(())
    }

    /// Finish a failover another manager promoted `new` in but did not finish: move the
    /// VIP, reset `new`'s replication and repoint every other reachable replica, all at
    /// once (each step is idempotent: some may have been done already).
    pub async fn complete<S: RecordStore>(
        &self,
        rec: &mut Recorder<'_, S>,
        snapshot: &Snapshot,
        new: &NodeConfig,
    ) -> Status {
        let others = self.to_repoint(&rec.rec.old_master, snapshot, new);
        self.after_promotion(rec, new, &others).await.0
    }

    /// [`Self::complete`] for a promoted `new` found read-only again (it restarted): the
    /// promotion step once more (guarded, semi-sync as the first time), then the rest.
    /// `None` when it could not be made writable: nothing after it was done.
    pub async fn reopen<S: RecordStore>(
        &self,
        rec: &mut Recorder<'_, S>,
        snapshot: &Snapshot,
        new: &NodeConfig,
    ) -> Option<Status> {
        let others = self.to_repoint(&rec.rec.old_master, snapshot, new);
        self.promote(rec, new, others.is_empty(), "").await.ok()?;
        Some(self.after_promotion(rec, new, &others).await.0)
    }

    /// The replicas a take-over repoints to `new`: every reachable one but the old master.
    fn to_repoint(&self, old: &str, snapshot: &Snapshot, new: &NodeConfig) -> Vec<(&NodeConfig, StartFrom)> {
        snapshot
            .nodes
            .iter()
            .filter(|n| n.name != new.name && n.name != old)
            .filter(|n| n.ok().and_then(|s| s.replica.as_ref()).is_some())
            .filter_map(|n| self.node(&n.name))
            .map(|n| (n, StartFrom::ReplicaPosition))
            .collect()
    }

    /// Everything after a promotion, at once: the VIP to `new`, `new`'s replication reset,
    /// each of `repoint` replicating from `new`. Returns the status and, if the route move
    /// was verified, when (ms on the record's clock).
    pub(super) async fn after_promotion<S: RecordStore>(
        &self,
        rec: &mut Recorder<'_, S>,
        new: &NodeConfig,
        repoint: &[(&NodeConfig, StartFrom)],
    ) -> (Status, Option<u64>) {
        let clock = rec.clock();
        let at = || clock.elapsed().as_millis() as u64;
        let vip_step = rec
            .start(
                StepKind::MoveVip,
                format!("move VIP {} to {}", self.vip_address(), new.name),
            )
            .await;
        let detach_step = rec
            .start(StepKind::Reset, format!("reset replication on {}", new.name))
            .await;
        let mut repoint_steps = Vec::new();
        for (o, _) in repoint {
            repoint_steps.push(
                rec.start(StepKind::Repoint, format!("repoint {} to {}", o.name, new.name))
                    .await,
            );
        }
        let vip = async { (self.move_vip_to(new).await.map_err(|e| e.to_string()), at()) };
        let detach = async {
            let d = self.admin.detach(new, self.timeouts.promote_timeout);
            let r = self.guarded("reset replication on the new master", d).await;
            (
                r.map(|()| "replication stopped and reset".to_string())
                    .map_err(|e| e.to_string()),
                at(),
            )
        };
        let repointed = join_all(repoint.iter().map(|(o, from)| async move {
            let call = self.admin.replicate_from(o, new, *from, self.timeouts.repoint_timeout);
            let r = match self.guarded("repoint a replica", call).await {
                Ok(()) => self.replicating(o, new).await,
                Err(e) => Err(e.to_string()),
            };
            (r, at())
        }));
        let (v, d, r) = tokio::join!(vip, detach, repointed);
        let vip_at = v.0.is_ok().then_some(v.1);
        let mut status = Status::Ok;
        let results = std::iter::once((vip_step, v))
            .chain(std::iter::once((detach_step, d)))
            .chain(repoint_steps.into_iter().zip(r));
        for (step, (result, end)) in results {
            match result {
                Ok(detail) => rec.audit_at(step, end, Status::Ok, detail).await,
                Err(e) => {
                    status = Status::Degraded;
                    rec.audit_at(step, end, Status::Degraded, e).await;
                }
            }
        }
        (status, vip_at)
    }

    /// A repoint is done only when `o` is seen replicating from `new` (receiver connected,
    /// applier running): a diverged replica takes the CHANGE MASTER and then stops on an
    /// error, and a record saying "ok" would hide it. Bounded by [`REPOINT_SEEN_WITHIN`], which
    /// runs beside the VIP move: a replica that connects at once costs the failover nothing.
    async fn replicating(&self, o: &NodeConfig, new: &NodeConfig) -> Result<String, String> {
        let deadline = tokio::time::Instant::now() + REPOINT_SEEN_WITHIN;
        let last = loop {
            let seen = match self.admin.probe(o).await {
                Ok(st) => match st.replica {
                    Some(r) if replicates_from(&r, new) && r.replicating() => {
                        return Ok(format!("{} replicates from {} (GTID)", o.name, new.name));
                    }
                    Some(ReplicaStatus {
                        sql_running: false,
                        last_sql_error: Some(e),
                        ..
                    }) => {
                        return Err(format!(
                            "{} was repointed to {}, but its applier stopped: {e}",
                            o.name, new.name
                        ))
                    }
                    Some(ReplicaStatus {
                        io: IoThread::No,
                        last_io_error: Some(e),
                        ..
                    }) => {
                        return Err(format!(
                            "{} was repointed to {}, but its receiver stopped: {e}",
                            o.name, new.name
                        ))
                    }
                    Some(r) => format!(
                        "IO {:?}, SQL {}",
                        r.io,
                        if r.sql_running { "running" } else { "stopped" }
                    ),
                    None => "no replication configured".to_string(),
                },
                Err(e) => e.to_string(),
            };
            if tokio::time::Instant::now() >= deadline {
                break seen;
            }
            tokio::time::sleep(REPOINT_POLL).await;
        };
        Err(format!(
            "{} was repointed to {}, not seen replicating within {REPOINT_SEEN_WITHIN:?} ({last})",
            o.name, new.name
        ))
    }

    /// Point the VIP at `new`, verified.
    async fn move_vip_to(&self, new: &NodeConfig) -> Result<String, StepError> {
        let lease = self.guard.may_act("move VIP").await?;
        Ok(lease::under(lease, self.vip.point_at(&new.name)).await?.detail)
    }
}

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

use super::record::Recorder;
use crate::config::{ClusterConfig, FailoverConfig, NodeConfig};
use crate::coord::elector::LeadError;
use crate::coord::{RecordStore, StoreError};
use crate::flavor::StartFrom;
use crate::gtid::Gtids;
use crate::model::{Candidates, Status, StepKind};
use crate::mysql::{MysqlAdmin, OpError};
use crate::topology::Snapshot;
use crate::vip::{Vip, VipError};
use futures_util::future::join_all;
use std::future::Future;
use tokio::time::Instant;

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
    fn may_act(&self, step: &str) -> impl Future<Output = Result<(), GuardError>> + Send;
}

/// A guard that always allows (tests of the executor itself).
#[cfg(test)]
pub struct Alone;

#[cfg(test)]
impl Guard for Alone {
    async fn may_act(&self, _step: &str) -> Result<(), GuardError> {
        Ok(())
    }
}

/// Why a promotion did not happen.
pub(super) enum NotPromoted {
    /// The guard refused: this manager may not act any more.
    Refused,
    /// The server refused or timed out (the promotion may have half run).
    Failed,
}

/// Who a failover moves: the old master, the candidate, its donor, the other replicas.
struct Plan<'c> {
    old: &'c NodeConfig,
    new: &'c NodeConfig,
    donor: Option<&'c NodeConfig>,
    others: Vec<&'c NodeConfig>,
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

fn received(snapshot: &Snapshot, node: &str) -> Option<Gtids> {
    snapshot.node(node).and_then(|n| n.ok()).map(|s| s.received())
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
        self.guard.may_act(what).await?;
        Ok(call.await?)
    }

    /// The VIP's address, for step names.
    pub(super) fn vip_address(&self) -> String {
        self.cluster.vip.address()
    }

    /// Let `cand` apply everything it received — first from `donor` if that one received more.
    async fn catch_up(
        &self,
        snapshot: &Snapshot,
        cand: &NodeConfig,
        donor: Option<&NodeConfig>,
    ) -> Result<String, StepError> {
        let limit = self.timeouts.catch_up_timeout;
        let missing = |n: &str| StepError::Plan(format!("{n} is not in the snapshot"));
        let mut target = received(snapshot, &cand.name).ok_or_else(|| missing(&cand.name))?;
        if let Some(d) = donor {
            let donor_received = received(snapshot, &d.name).ok_or_else(|| missing(&d.name))?;
            // the donor serves from its binlog: it must first apply its own relay log
            if !self.admin.wait_applied(d, &donor_received, limit).await? {
                return Err(StepError::Plan(format!(
                    "donor {} did not apply {donor_received} within {limit:?}",
                    d.name
                )));
            }
            self.guard.may_act("repoint the candidate to its donor").await?;
            self.admin
                .replicate_from(cand, d, StartFrom::ReplicaPosition, limit)
                .await?;
            target = donor_received;
        }
        if target.is_empty() {
            return Ok(format!("{} has nothing to apply", cand.name));
        }
        if !self.admin.wait_applied(cand, &target, limit).await? {
            return Err(StepError::Plan(format!(
                "{} did not apply {target} within {limit:?}",
                cand.name
            )));
        }
        Ok(format!(
            "{} applied everything up to {target}{}",
            cand.name,
            donor
                .map(|d| format!(" (caught up from {})", d.name))
                .unwrap_or_default()
        ))
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
        let plan = Plan {
            old,
            new,
            donor: cand.catch_up_from.as_deref().and_then(|d| self.node(d)),
            // the other replicas of the old master: repointed once the new master is up
            others: snapshot
                .nodes
                .iter()
                .filter(|n| n.name != new.name && n.name != old.name)
                .filter(|n| n.ok().and_then(|s| s.replica.as_ref()).is_some())
                .filter_map(|n| self.node(&n.name))
                .collect(),
        };
        // Steps are registered up front so the record shows the whole plan; their ends are
        // measured where they happen and audited after.
        let fence_step = rec.start(StepKind::Fence, format!("fence {}", old.name)).await;
        let catch_step = rec.start(StepKind::CatchUp, format!("catch up {}", new.name)).await;
        let mut stop_steps = Vec::new();
        for o in &plan.others {
            let name = format!("stop {} receiving from {}", o.name, old.name);
            stop_steps.push(rec.start(StepKind::StopReceiving, name).await);
        }
        let clock = rec.clock();
        let (promoted_tx, promoted_rx) = tokio::sync::oneshot::channel::<()>();
        let main = async {
            if !self
                .fence_and_catch_up(rec, snapshot, &plan, (fence_step, catch_step))
                .await
            {
                return None;
            }
            if self.promote(rec, new, "").await.is_err() {
                return None;
            }
            let _ = promoted_tx.send(());
            Some(self.vip_and_reset(rec, new).await)
        };
        let side = self.side_sequence(&plan, clock, promoted_rx);
        let (outcome, (stopped, repointed)) = tokio::join!(main, side);
        let mut degraded = outcome.unwrap_or(false);
        for (step, (r, end)) in stop_steps.into_iter().zip(stopped) {
            match r {
                Ok(()) => rec.audit_at(step, end, Status::Ok, "receiver stopped").await,
                Err(e) => rec.audit_at(step, end, Status::Degraded, e.to_string()).await,
            }
        }
        for (o, (r, began, end)) in plan.others.iter().zip(repointed.unwrap_or_default()) {
            // ran concurrently with the main sequence: recorded now, with its real start
            let name = format!("repoint {} to {}", o.name, new.name);
            let step = rec.start_at(StepKind::Repoint, name, began).await;
            match r {
                Ok(()) => {
                    let detail = format!("{} replicates from {} (GTID)", o.name, new.name);
                    rec.audit_at(step, end, Status::Ok, detail).await
                }
                Err(e) => {
                    degraded = true;
                    rec.audit_at(step, end, Status::Degraded, e.to_string()).await;
                }
            }
        }
        match outcome {
            None => Status::Failed,
            Some(_) if degraded => Status::Degraded,
            Some(_) => Status::Ok,
        }
    }

    /// Fence the old master while the candidate catches up (both audited). `false`: the
    /// candidate could not catch up — nothing irreversible happened.
    async fn fence_and_catch_up<S: RecordStore>(
        &self,
        rec: &mut Recorder<'_, S>,
        snapshot: &Snapshot,
        plan: &Plan<'_>,
        (fence_step, catch_step): (usize, usize),
    ) -> bool {
        let clock = rec.clock();
        let at = || clock.elapsed().as_millis() as u64;
        let fence = async {
            let f = self.admin.fence(plan.old, self.timeouts.fence_timeout);
            (self.guarded("fence the old master", f).await, at())
        };
        let catch = async { (self.catch_up(snapshot, plan.new, plan.donor).await, at()) };
        let ((fenced, fence_end), (caught, catch_end)) = tokio::join!(fence, catch);
        match fenced {
            Ok(f) => {
                let detail = format!("read_only=ON, {} client sessions ended", f.sessions_killed);
                rec.audit_at(fence_step, fence_end, Status::Ok, detail).await;
            }
            // Expected for a dead master: the route move below is what cuts clients off,
            // and the node's configuration makes it come back read-only.
            Err(e) => {
                let detail = format!("best effort, not fenced: {e}");
                rec.audit_at(fence_step, fence_end, Status::Degraded, detail).await
            }
        }
        match caught {
            Ok(detail) => {
                rec.audit_at(catch_step, catch_end, Status::Ok, detail).await;
                true
            }
            Err(e) => {
                rec.audit_at(catch_step, catch_end, Status::Failed, e.to_string()).await;
                false
            }
        }
    }

    /// After the promotion: the VIP to `new` while its replication is reset. `true` when
    /// either did not work (degraded).
    async fn vip_and_reset<S: RecordStore>(&self, rec: &mut Recorder<'_, S>, new: &NodeConfig) -> bool {
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
        let vip = async { (self.move_vip_to(new).await, at()) };
        let detach = async {
            let d = self.admin.detach(new, self.timeouts.promote_timeout);
            (self.guarded("reset replication on the new master", d).await, at())
        };
        let ((vip_result, vip_end), (detached, detach_end)) = tokio::join!(vip, detach);
        let mut degraded = false;
        match vip_result {
            Ok(d) => rec.audit_at(vip_step, vip_end, Status::Ok, d).await,
            Err(e) => {
                degraded = true;
                rec.audit_at(vip_step, vip_end, Status::Degraded, e.to_string()).await;
            }
        }
        match detached {
            Ok(()) => {
                let detail = "replication stopped and reset";
                rec.audit_at(detach_step, detach_end, Status::Ok, detail).await
            }
            Err(e) => {
                degraded = true;
                rec.audit_at(detach_step, detach_end, Status::Degraded, e.to_string())
                    .await;
            }
        }
        degraded
    }

    /// The other replicas: detach their receivers from the dead master at once — with a
    /// stuck master that takes a second or two and must not be on the critical path — then,
    /// once the new master is up (`promoted`), repoint them; if the failover stops before
    /// the promotion, let them receive again. Each result with when it ended (and, for the
    /// repoints, began), on `clock`.
    async fn side_sequence(
        &self,
        plan: &Plan<'_>,
        clock: Instant,
        promoted: tokio::sync::oneshot::Receiver<()>,
    ) -> (
        Vec<(Result<(), StepError>, u64)>,
        Option<Vec<(Result<(), StepError>, u64, u64)>>,
    ) {
        let at = || clock.elapsed().as_millis() as u64;
        let stopped = join_all(plan.others.iter().map(|o| async move {
            let stop = self.admin.stop_receiving(o, self.timeouts.repoint_timeout);
            (self.guarded("stop a replica receiving", stop).await, at())
        }))
        .await;
        if promoted.await.is_err() {
            for o in &plan.others {
                let start = self.admin.start_replication(o, self.timeouts.repoint_timeout);
                let _ = self.guarded("let a replica receive again", start).await;
            }
            return (stopped, None);
        }
        let repointed = join_all(plan.others.iter().map(|o| async move {
            let began = at();
            let repoint =
                self.admin
                    .replicate_from(o, plan.new, StartFrom::ReplicaPosition, self.timeouts.repoint_timeout);
            (self.guarded("repoint a replica", repoint).await, began, at())
        }))
        .await;
        (stopped, Some(repointed))
    }

    /// The promotion step: the guard, then `new` writable. On success the record names the
    /// new master; `refused_note` is added to the record when the guard refuses.
    pub(super) async fn promote<S: RecordStore>(
        &self,
        rec: &mut Recorder<'_, S>,
        new: &NodeConfig,
        refused_note: &str,
    ) -> Result<(), NotPromoted> {
        let step = rec.start(StepKind::Promote, format!("promote {}", new.name)).await;
        if let Err(why) = self.guard.may_act("promote").await {
            rec.audit(step, Status::Failed, format!("not promoting: {why}{refused_note}"))
                .await;
            return Err(NotPromoted::Refused);
        }
        let policy = self.timeouts.semi_sync_policy();
        if let Err(e) = self.admin.promote(new, policy, self.timeouts.promote_timeout).await {
            rec.audit(step, Status::Failed, e.to_string()).await;
            return Err(NotPromoted::Failed);
        }
        let detail = match policy {
            Some(p) => format!(
                "{} is writable, semi-sync master on (AFTER_SYNC, timeout {} ms)",
                new.name,
                p.timeout.as_millis()
            ),
            None => format!("{} is writable, semi-sync master on", new.name),
        };
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
        let old = rec.rec.old_master.clone();
        let others: Vec<(&NodeConfig, StartFrom)> = snapshot
            .nodes
            .iter()
            .filter(|n| n.name != new.name && n.name != old)
            .filter(|n| n.ok().and_then(|s| s.replica.as_ref()).is_some())
            .filter_map(|n| self.node(&n.name))
            .map(|n| (n, StartFrom::ReplicaPosition))
            .collect();
        self.after_promotion(rec, new, &others).await.0
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
            let r = self.guarded("repoint a replica", call).await;
            let detail = format!("{} replicates from {} (GTID)", o.name, new.name);
            (r.map(|()| detail).map_err(|e| e.to_string()), at())
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

    /// Point the VIP at `new`, verified.
    async fn move_vip_to(&self, new: &NodeConfig) -> Result<String, StepError> {
        self.guard.may_act("move VIP").await?;
        Ok(self.vip.point_at(&new.name).await?.detail)
    }
}

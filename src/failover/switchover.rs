//! A planned switchover of a healthy master (MHA's online switch, Orchestrator's
//! graceful-master-takeover), every step audited like a failover:
//!
//! ```text
//! no long write transaction on old (waits a bound, else refused)
//!   ─► fence old (read_only, end sessions, read what it wrote) ─► target applies all of it
//!   ─► guard ─► promote target ─┬─► move VIP (verified)
//!                               ├─► reset the target's replication
//!                               ├─► old master replicates from the target (own binlog position)
//!                               └─► every other replica replicates from the target
//! ```
//!
//! Writes pause from the fence until the VIP points at the target. Nothing acknowledged is
//! lost: once read-only, the old master commits nothing more, and the target is promoted
//! only after it applied everything the old master wrote. Until the promotion nothing is
//! irreversible: if the fence or the catch-up fails, the old master is made writable again
//! and the switchover is recorded as failed. A manager that lost the lead stops without
//! undoing anything: the new leader settles the record (see `manager::recover`).

use super::admit::SwitchoverPlan;
use super::execute::{Edges, Guard, NotPromoted, StepError};
use super::record::Recorder;
use crate::config::NodeConfig;
use crate::coord::RecordStore;
use crate::flavor::StartFrom;
use crate::model::{Status, StepKind};
use crate::mysql::{Fenced, MysqlAdmin};
use crate::topology::Snapshot;
use crate::vip::Vip;
use std::time::Duration;
use tokio::time::{sleep, Instant};

/// Between two looks for long transactions on the old master.
const LOOK_EVERY: Duration = Duration::from_millis(200);
/// One look's bound (at least: a fence_timeout above it is used).
const LOOK_LIMIT: Duration = Duration::from_secs(2);

/// Why a switchover stopped before its promotion.
enum Stop {
    /// The guard refused: this manager may not act, not even to roll back.
    Refused,
    /// A step failed: the old master gets its writes back.
    Failed,
}

impl Stop {
    fn of(e: &StepError) -> Stop {
        match e {
            StepError::Guard(_) => Stop::Refused,
            _ => Stop::Failed,
        }
    }
}

impl<A: MysqlAdmin, V: Vip, G: Guard> Edges<'_, A, V, G> {
    /// Run `plan`. Returns how it went (the caller commits the new master and closes the
    /// record); the record carries the write pause.
    pub async fn switchover<S: RecordStore>(
        &self,
        rec: &mut Recorder<'_, S>,
        snapshot: &Snapshot,
        plan: &SwitchoverPlan,
    ) -> Status {
        let (Some(old), Some(new)) = (self.node(&plan.old_master), self.node(&plan.new_master)) else {
            let s = rec.start(StepKind::Check, "check the plan").await;
            rec.audit(s, Status::Failed, format!("{plan}: a node is not configured"))
                .await;
            return Status::Failed;
        };
        if !self.no_long_writes(rec, old).await {
            return Status::Failed;
        }
        let paused_at = rec.elapsed_ms();
        match self.fence_and_apply(rec, old, new).await {
            Ok(()) => {}
            // this manager may not act: what it fenced is the leader's to undo (take-over)
            Err(Stop::Refused) => return Status::Failed,
            Err(Stop::Failed) => return self.roll_back(rec, old, None).await,
        }

        // Another manager that leads (or changed the master) now undoes the fence: its
        // take-over of this record makes the old master writable again.
        let note = format!("; {} stays read-only for the leader to undo", old.name);
        match self.promote(rec, new, false, &note).await {
            Ok(()) => {}
            Err(NotPromoted::Refused) => {
                return Status::Failed;
            }
            Err(NotPromoted::Failed) => return self.roll_back(rec, old, Some(new)).await,
        }

        // The old master's last transactions are in its own binlog, not in a replica
        // position; the other replicas continue from what they applied.
        let mut repoint: Vec<(&NodeConfig, StartFrom)> = vec![(old, StartFrom::OwnPosition)];
        repoint.extend(
            snapshot
                .nodes
                .iter()
                .filter(|n| n.name != new.name && n.name != old.name)
                .filter(|n| n.ok().and_then(|s| s.replica.as_ref()).is_some())
                .filter_map(|n| self.node(&n.name))
                .map(|n| (n, StartFrom::ReplicaPosition)),
        );
        let (status, vip_at) = self.after_promotion(rec, new, &repoint).await;
        rec.rec.write_pause_ms = vip_at.map(|t| t.saturating_sub(paused_at));
        status
    }

    /// Before the fence: wait up to `switchover_wait_trx` until no write transaction has
    /// been open on `old` for `switchover_long_trx` (replication-manager's
    /// `switchover-wait-trx`). The fence would end such a transaction, and every write would
    /// then wait for its rollback. `false`: refused (audited, nothing changed). A check that
    /// cannot be made is noted and the switchover goes on, as it did before the check.
    async fn no_long_writes<S: RecordStore>(&self, rec: &mut Recorder<'_, S>, old: &NodeConfig) -> bool {
        let (long, wait) = (self.timeouts.switchover_long_trx, self.timeouts.switchover_wait_trx);
        let step = rec
            .start(StepKind::Check, format!("look for long transactions on {}", old.name))
            .await;
        let began = Instant::now();
        loop {
            let look = self
                .admin
                .open_writes(old, long, self.timeouts.fence_timeout.max(LOOK_LIMIT));
            // guarded though it only reads: a manager without the lead has no switchover to run
            let (status, detail) = match self.guarded("look for long transactions", look).await {
                Ok(open) if open.is_empty() => {
                    let waited = match began.elapsed() {
                        d if d < LOOK_EVERY => String::new(),
                        d => format!(" (after waiting {:.1} s)", d.as_secs_f64()),
                    };
                    (
                        Status::Ok,
                        format!("no write transaction open for {long:?} or more{waited}"),
                    )
                }
                Ok(open) if began.elapsed() >= wait => {
                    let named: Vec<String> = open.iter().map(ToString::to_string).collect();
                    let detail = format!(
                        "not switching over: {}; the fence would end it and every write would wait for its rollback. Nothing changed: let it finish or end it, then ask again (waited {wait:?}, failover.switchover_wait_trx)",
                        named.join("; ")
                    );
                    (Status::Failed, detail)
                }
                Ok(_) => {
                    sleep(LOOK_EVERY).await;
                    continue;
                }
                Err(e @ StepError::Guard(_)) => (Status::Failed, e.to_string()),
                Err(e) => (Status::Degraded, format!("could not look, going on: {e}")),
            };
            let ok = status != Status::Failed;
            rec.audit(step, status, detail).await;
            return ok;
        }
    }

    /// Fence `old` and let `new` apply everything it wrote, within the switchover's limit.
    /// `Err`: it stopped (audited), the guard refusing or a step failing.
    async fn fence_and_apply<S: RecordStore>(
        &self,
        rec: &mut Recorder<'_, S>,
        old: &NodeConfig,
        new: &NodeConfig,
    ) -> Result<(), Stop> {
        let limit = self.timeouts.switchover_timeout;
        let clock = rec.clock();
        let step = rec.start(StepKind::Fence, format!("fence {}", old.name)).await;
        let written = match self.guarded("fence the old master", self.admin.fence(old, limit)).await {
            Ok(Fenced {
                written: Some(w),
                sessions_killed,
                ..
            }) => {
                let detail = format!("read_only=ON, {sessions_killed} client sessions ended, it wrote {w}");
                rec.rec.gtids.insert(format!("{} (written)", old.name), w.to_string());
                rec.audit(step, Status::Ok, detail).await;
                w
            }
            Ok(_) => {
                rec.audit(step, Status::Failed, "fenced, but what it wrote is unknown")
                    .await;
                return Err(Stop::Failed);
            }
            Err(e) => {
                let stop = Stop::of(&e);
                rec.audit(step, Status::Failed, e.to_string()).await;
                return Err(stop);
            }
        };
        let step = rec.start(StepKind::CatchUp, format!("catch up {}", new.name)).await;
        let left = limit.saturating_sub(clock.elapsed());
        let applied = self.guarded("let the target apply", self.admin.wait_applied(new, &written, left));
        let (result, detail) = match applied.await.map(|a| a.done) {
            Ok(true) => (
                Ok(()),
                format!("{} applied everything {} wrote ({written})", new.name, old.name),
            ),
            Ok(false) => (
                Err(Stop::Failed),
                format!("{} did not apply {written} within {limit:?}", new.name),
            ),
            Err(e) => (Err(Stop::of(&e)), e.to_string()),
        };
        let status = if result.is_ok() { Status::Ok } else { Status::Failed };
        rec.audit(step, status, detail).await;
        result
    }

    /// Undo a switchover that stopped before its target was writable: the old master takes
    /// writes again (and a target whose promotion half-ran resumes replicating).
    async fn roll_back<S: RecordStore>(
        &self,
        rec: &mut Recorder<'_, S>,
        old: &NodeConfig,
        half_promoted: Option<&NodeConfig>,
    ) -> Status {
        let step = rec
            .start(StepKind::RollBack, format!("roll back: {} writable again", old.name))
            .await;
        let limit = self.timeouts.promote_timeout;
        let mut problems = Vec::new();
        if let Some(n) = half_promoted {
            let ro = self.guarded(
                "set the half-promoted target read-only",
                self.admin.set_read_only(n, true, limit),
            );
            if let Err(e) = ro.await {
                problems.push(e.to_string());
            }
            let start = self.guarded("let the target replicate again", self.admin.start_replication(n, limit));
            if let Err(e) = start.await {
                problems.push(e.to_string());
            }
        }
        let writable = self
            .guarded(
                "give the old master its writes back",
                self.admin.set_read_only(old, false, limit),
            )
            .await;
        // what the servers say now, not what the statements answered: a statement of the
        // switchover that timed out could still have landed
        let mut writable = writable.map_err(|e| e.to_string());
        if writable.is_ok() {
            let (old_state, others) = self.verify_rolled_back(old, half_promoted).await;
            problems.extend(others);
            writable = old_state;
        }
        match writable {
            Ok(()) if problems.is_empty() => {
                rec.audit(
                    step,
                    Status::Ok,
                    format!("{} takes writes again; nothing moved", old.name),
                )
                .await
            }
            Ok(()) => {
                let detail = format!("{} takes writes again, but: {}", old.name, problems.join("; "));
                rec.audit(step, Status::Degraded, detail).await
            }
            Err(e) => {
                // the cluster has no writable master now: say so loudly, the DBA must act
                tracing::error!(node = %old.name, error = %e, "switchover rolled back but the old master is still read-only: no node takes writes");
                problems.push(e);
                let detail = format!(
                    "{} is still read-only (no node takes writes): {}",
                    old.name,
                    problems.join("; ")
                );
                rec.audit(step, Status::Failed, detail).await
            }
        }
        Status::Failed
    }

    /// Read back a rollback's result: `old` writable (`Err`: it is not, or cannot be read),
    /// `half_promoted` read-only (else the problems).
    async fn verify_rolled_back(
        &self,
        old: &NodeConfig,
        half_promoted: Option<&NodeConfig>,
    ) -> (Result<(), String>, Vec<String>) {
        let old_state = match self.admin.probe(old).await {
            Ok(st) if st.read_only => Err(format!("{} reads back read-only", old.name)),
            Ok(_) => Ok(()),
            Err(e) => Err(format!("cannot read {} back: {e}", old.name)),
        };
        let mut problems = Vec::new();
        if let Some(n) = half_promoted {
            match self.admin.probe(n).await {
                Ok(st) if !st.read_only => problems.push(format!("{} reads back writable: two writable nodes", n.name)),
                Ok(_) => {}
                Err(e) => problems.push(format!("cannot read {} back: {e}", n.name)),
            }
        }
        (old_state, problems)
    }
}

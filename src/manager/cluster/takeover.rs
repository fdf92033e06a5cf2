//! A new term's first duty: settle the records a predecessor (or this manager, whose commit
//! failed) left running, before anything else is decided. What to do with each is
//! `manager::recover`'s pure judgement of the live topology; this file carries it out.

use super::{ClusterLoop, Observed, Outcome};
use crate::coord::elector::Leadership;
use crate::coord::Store;
use crate::failover::{Guard, Recorder};
use crate::manager::act::Concluded;
use crate::manager::recover::{recover, Recovery};
use crate::model::{FailoverRecord, Status, StepKind};
use crate::mysql::MysqlAdmin;
use crate::vip::Vip;
use tokio::time::Instant;
use tracing::warn;

/// How many of the newest records a new leader looks through for unfinished ones.
const RECORDS_SCANNED: usize = 20;

/// How often a leader looks again for records left running within its term: a record whose
/// last write was lost (the coordinator failed just then) stays running in the store — every
/// switchover would be answered 409 — until a take-over settles it.
const RESCAN: std::time::Duration = std::time::Duration::from_secs(10);

/// What settling one record did.
enum Settled {
    /// It cannot be settled yet (its planned node cannot be probed, the commit is pending).
    NotYet(String),
    /// Closed, finished or undone.
    Done(String),
}

impl<A: MysqlAdmin, V: Vip, S: Store, L: Leadership> ClusterLoop<A, V, S, L> {
    /// Once per term: settle every running record. `Some` when this round must not go on to
    /// act on its decision — it was made before the take-over changed things, or a record
    /// cannot be settled yet.
    pub(super) async fn take_over_once(&mut self, term: i64, obs: &Observed) -> Option<Outcome> {
        if self
            .memory
            .settled_term
            .is_some_and(|(t, at)| t == term && at.elapsed() < RESCAN)
        {
            return None;
        }
        let records = match self.store.records(self.name(), RECORDS_SCANNED).await {
            Ok(r) => r,
            Err(e) => {
                warn!(cluster = %self.name(), error = %e, "new leader cannot read the failover records yet: not acting");
                return Some(Outcome::NotActing(format!("cannot read the failover records: {e}")));
            }
        };
        let (mut done, mut waiting) = (Vec::new(), Vec::new());
        for rec in records.into_iter().filter(|r| r.status == Status::Running) {
            match self.settle(rec, term, obs).await {
                Settled::Done(what) => done.push(what),
                Settled::NotYet(why) => waiting.push(why),
            }
        }
        if waiting.is_empty() {
            self.memory.settled_term = Some((term, Instant::now()));
        }
        if !done.is_empty() {
            self.forget_vip();
            return Some(Outcome::TakenOver(done.join("; ")));
        }
        (!waiting.is_empty()).then(|| Outcome::NotActing(format!("unfinished records: {}", waiting.join("; "))))
    }

    /// Settle one running record as [`recover`] judges it.
    async fn settle(&mut self, rec: FailoverRecord, term: i64, obs: &Observed) -> Settled {
        let plan = recover(&rec, &obs.snapshot);
        let now = crate::model::time::now();
        let age = humantime::parse_rfc3339_weak(&rec.started_at)
            .ok()
            .and_then(|t| now.duration_since(t).ok())
            .unwrap_or_default();
        let clock = Instant::now().checked_sub(age).unwrap_or_else(Instant::now);
        let started_wall = now.checked_sub(age).unwrap_or(now);
        let (previous, id, epoch) = (rec.manager.clone(), rec.id.clone(), rec.epoch);
        let store = self.store.clone();
        let mut recorder = Recorder::new(rec, clock, store.as_ref());
        for s in recorder.rec.steps.iter_mut().filter(|s| s.status == Status::Running) {
            s.status = Status::Skipped;
            s.detail = format!("interrupted: {previous} stopped during this step");
        }
        let taken_over = format!("taken over by {}", self.manager_id);
        // the record's own epoch: its commit is a compare-and-set on it
        let guard = self.guard(term, obs.shared.epoch);
        let act = self.act_with(&guard, term, epoch);
        let concluded = match plan {
            Recovery::Wait { why } => {
                warn!(cluster = %self.name(), failover = %id, "unfinished failover by {previous}: {why}");
                return Settled::NotYet(why);
            }
            Recovery::Abandon { why } => {
                warn!(cluster = %self.name(), failover = %id, "unfinished failover by {previous} abandoned: {why}");
                let step = recorder.start(StepKind::TakenOver, taken_over).await;
                let detail = format!("{previous} stopped before promoting: {why}");
                recorder.audit(step, Status::Failed, detail).await;
                recorder.finish(Status::Failed).await;
                return Settled::Done(format!("{id} abandoned: {why}"));
            }
            Recovery::Undo { old_master, why } => {
                warn!(cluster = %self.name(), failover = %id, "unfinished switchover by {previous}: {why}; making {old_master} writable again");
                let step = recorder.start(StepKind::TakenOver, taken_over).await;
                return match undo(&act, &old_master, self.failover.promote_timeout).await {
                    Ok(()) => {
                        let detail =
                            format!("{previous} stopped before promoting: {why}; {old_master} takes writes again");
                        recorder.audit(step, Status::Failed, detail).await;
                        recorder.finish(Status::Failed).await;
                        Settled::Done(format!("{id} undone: {old_master} takes writes again"))
                    }
                    Err(e) => {
                        // stays running: the next round's take-over tries again
                        let detail = format!("cannot make {old_master} writable: {e}");
                        recorder.audit(step, Status::Failed, detail.clone()).await;
                        Settled::NotYet(detail)
                    }
                };
            }
            Recovery::Complete { new_master } => {
                let Some(new) = act.cluster.node(&new_master) else {
                    return Settled::NotYet(format!("{new_master} is not a configured node"));
                };
                warn!(cluster = %self.name(), failover = %id, "unfinished failover by {previous}: {new_master} was promoted; finishing it");
                let step = recorder.start(StepKind::TakenOver, taken_over).await;
                let detail = format!("{new_master} is writable: {previous} promoted it; finishing the failover");
                recorder.audit(step, Status::Ok, detail).await;
                let status = act.edges().complete(&mut recorder, &obs.snapshot, new).await;
                act.conclude(&mut recorder, status, started_wall).await
            }
            Recovery::Reopen { new_master } => {
                let Some(new) = act.cluster.node(&new_master) else {
                    return Settled::NotYet(format!("{new_master} is not a configured node"));
                };
                warn!(cluster = %self.name(), failover = %id, "unfinished failover by {previous}: {new_master} was promoted and is read-only again; making it writable and finishing it");
                let step = recorder.start(StepKind::TakenOver, taken_over).await;
                let detail = format!(
                    "{previous} promoted {new_master}, which is read-only again (it restarted) and lacks nothing another node has: promoting it again, then finishing the failover"
                );
                recorder.audit(step, Status::Ok, detail).await;
                match act.edges().reopen(&mut recorder, &obs.snapshot, new).await {
                    Some(status) => act.conclude(&mut recorder, status, started_wall).await,
                    // stays running: the next round's take-over judges it again
                    None => return Settled::NotYet(format!("{id}: cannot make {new_master} writable again")),
                }
            }
            Recovery::Commit { new_master } => {
                warn!(cluster = %self.name(), failover = %id, "unfinished failover by {previous}: {new_master} was promoted and set up, but not recorded; recording it");
                let step = recorder.start(StepKind::TakenOver, taken_over).await;
                let detail = format!("{new_master} is writable and every step but the commit is done");
                recorder.audit(step, Status::Ok, detail).await;
                let status = recorder.rec.outcome();
                act.conclude(&mut recorder, status, started_wall).await
            }
        };
        match concluded {
            Concluded::CommitPending => Settled::NotYet(format!("{id}: the commit is pending")),
            c => Settled::Done(format!("{id}: {c}")),
        }
    }
}

/// Give a switchover's old master its writes back (a predecessor fenced it, then stopped).
async fn undo<A: MysqlAdmin, V: Vip, S: Store, G: Guard>(
    act: &crate::manager::act::Act<'_, A, V, S, G>,
    old_master: &str,
    limit: std::time::Duration,
) -> Result<(), String> {
    let n = act.cluster.node(old_master).ok_or("not a configured node")?;
    let lease = act
        .guard
        .may_act("give the old master its writes back")
        .await
        .map_err(|e| e.to_string())?;
    crate::model::lease::under(lease, act.admin.set_read_only(n, false, limit))
        .await
        .map_err(|e| e.to_string())
}

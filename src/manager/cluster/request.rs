//! The leader's side of a DBA's request (switchover, manual failover): claim it, judge it
//! again on this round's topology, run it as a recorded failover, and clear it. The API
//! waits for the record, whose id is the request's.

use super::commit::Concluded;
use super::ClusterLoop;
use crate::coord::elector::Leadership;
use crate::coord::{self, Store, StoreError};
use crate::detect::Diagnosis;
use crate::failover::admit::{self, Admission, FailoverPlan, SwitchoverPlan};
use crate::failover::Recorder;
use crate::manager::chaos::Pausing;
use crate::model::{unix_ms, Action, Kind, Request, Status, StepKind};
use crate::mysql::MysqlAdmin;
use crate::topology::Snapshot;
use crate::vip::RouteTables;
use std::time::SystemTime;
use tokio::time::Instant;
use tracing::{info, warn};

/// What a request turned into, once judged.
enum Plan {
    Switchover(SwitchoverPlan),
    Failover(FailoverPlan),
}

impl<A: MysqlAdmin, R: RouteTables, S: Store, L: Leadership> ClusterLoop<A, R, S, L> {
    /// Handle the pending request, if it can run. `true`: something was done this round.
    pub(super) async fn serve(&mut self, req: Request, snap: &Snapshot, diag: &Diagnosis, term: i64) -> bool {
        let now = SystemTime::now();
        if req.started {
            // Only the leader starts requests and it clears them when done, so a started one
            // it did not just run was interrupted with an earlier leader; take-over settled
            // its record.
            warn!(cluster = %self.name(), "request {req} was interrupted (its record says how far it got): clearing it");
            self.clear_request(&req.id).await;
            return false;
        }
        if !req.is_live(unix_ms(now)) {
            warn!(cluster = %self.name(), "request {req} expired before a leader could start it: dropped");
            self.clear_request(&req.id).await;
            return false;
        }
        // Started at most once: the mark is a compare-and-set on the request we read.
        let claimed = coord::try_update(self.store.as_ref(), self.name(), |st| match &mut st.request {
            Some(r) if r.id == req.id && !r.started => {
                r.started = true;
                Ok(())
            }
            _ => Err(StoreError::Refused("the request changed meanwhile".into())),
        })
        .await;
        match claimed {
            Ok(v) => self.shared = v.value,
            Err(e) => {
                warn!(cluster = %self.name(), error = %e, "cannot start request {req}; next round");
                return false;
            }
        }
        info!(cluster = %self.name(), "running request {req}");
        let started = Instant::now();
        let shared = self.shared.clone();
        let admission = Admission {
            cluster: &self.cluster,
            snapshot: snap,
            diagnosis: diag,
            shared: &shared,
            errant: &self.errant,
            now_ms: unix_ms(now),
            max_lag: self.failover.switchover_max_lag,
            acked: self.history.acknowledged(),
            lossless: self.failover.lossless,
        };
        let trigger = format!("{req}");
        let old_master = diag.state.master().unwrap_or("?").to_string();
        let guard = self.guard(term);
        let pausing = Pausing {
            inner: &guard,
            step: self.chaos_pause.as_deref(),
        };
        let kind = match req.action {
            Action::Switchover => Kind::Switchover,
            Action::Failover => Kind::Manual,
        };
        let mut rec = self.new_record(req.id.clone(), kind, &trigger, &old_master, now);
        rec.detected_at = req.requested_at.clone();
        rec.gtids = snap
            .nodes
            .iter()
            .filter_map(|n| n.ok().map(|s| (n.name.clone(), s.received().to_string())))
            .collect();
        let plan = match req.action {
            Action::Switchover => admit::switchover(&admission, req.to.as_deref()).map(Plan::Switchover),
            Action::Failover => admit::failover(&admission, req.to.as_deref(), req.force).map(Plan::Failover),
        };
        match &plan {
            Ok(Plan::Switchover(p)) => {
                rec.old_master = p.old_master.clone();
                rec.new_master = Some(p.new_master.clone());
            }
            Ok(Plan::Failover(p)) => {
                let c = &p.candidates;
                rec.old_master = c.old_master.clone();
                rec.new_master = c.chosen.clone();
                rec.candidates = Some(c.clone());
            }
            Err(_) => {}
        }
        let store = self.store.clone();
        let mut recorder = Recorder::new(rec, started, store.as_ref());
        // intent before action: the record exists before the first step
        recorder.persist().await;
        let step = recorder.start(StepKind::Check, "check the request").await;
        let mut pending = false;
        match plan {
            Err(refusal) => {
                recorder.audit(step, Status::Failed, refusal.to_string()).await;
                recorder.finish(Status::Failed).await;
            }
            Ok(Plan::Switchover(p)) => {
                recorder.audit(step, Status::Ok, p.to_string()).await;
                let status = self.edges(&pausing).switchover(&mut recorder, snap, &p).await;
                pending = self.conclude(&mut recorder, status, now).await == Concluded::CommitPending;
            }
            Ok(Plan::Failover(p)) => {
                let detail = match &p.accepted_loss {
                    Some(loss) => format!("{}; FORCED by the DBA: {loss}", p.candidates),
                    None => p.candidates.to_string(),
                };
                recorder.audit(step, Status::Ok, detail).await;
                let status = self.edges(&pausing).failover(&mut recorder, snap, &p.candidates).await;
                pending = self.conclude(&mut recorder, status, now).await == Concluded::CommitPending;
            }
        }
        drop(recorder);
        if pending {
            // the next round settles it like a predecessor's
            self.settled_term = None;
        }
        self.clear_request(&req.id).await;
        true
    }

    /// Remove request `id` from the shared state (not a newer one).
    async fn clear_request(&mut self, id: &str) {
        let r = coord::update(self.store.as_ref(), self.name(), |st| {
            if st.request.as_ref().is_some_and(|r| r.id == id) {
                st.request = None;
            }
        })
        .await;
        match r {
            Ok(v) => self.shared = v.value,
            Err(e) => warn!(cluster = %self.name(), error = %e, "cannot clear request {id}; the next round retries"),
        }
    }
}

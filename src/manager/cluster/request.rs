//! The leader's side of a DBA's request (switchover, manual failover): claim it, judge it
//! again on this round's topology, run it as a recorded failover, and clear it. The API
//! waits for the record, whose id is the request's.

use super::{ClusterLoop, Observed, Outcome};
use crate::coord::elector::Leadership;
use crate::coord::{self, Store, StoreError};
use crate::failover::admit::{self, Admission, FailoverPlan, SwitchoverPlan};
use crate::failover::{Guard, Recorder};
use crate::manager::act::Concluded;
use crate::manager::chaos::Pausing;
use crate::model::{unix_ms, Action, FailoverRecord, Kind, Request, Status, StepKind};
use crate::mysql::MysqlAdmin;
use crate::vip::Vip;
use std::time::SystemTime;
use tokio::time::Instant;
use tracing::{info, warn};

/// What a request turned into, once judged.
enum Plan {
    Switchover(SwitchoverPlan),
    Failover(FailoverPlan),
}

impl<A: MysqlAdmin, V: Vip, S: Store, L: Leadership> ClusterLoop<A, V, S, L> {
    /// Handle the pending request, if it can run. `Some`: something was done this round.
    pub(super) async fn serve(&mut self, req: Request, obs: &Observed, term: i64) -> Option<Outcome> {
        let now = crate::model::time::now();
        if req.started {
            // Only the leader starts requests and it clears them when done, so a started one
            // it did not just run was interrupted with an earlier leader; take-over settled
            // its record.
            warn!(cluster = %self.name(), "request {req} was interrupted (its record says how far it got): clearing it");
            self.clear_request(&req.id, term, obs.shared.epoch).await;
            return None;
        }
        if !req.is_live(unix_ms(now)) {
            warn!(cluster = %self.name(), "request {req} expired before a leader could start it: dropped");
            self.clear_request(&req.id, term, obs.shared.epoch).await;
            return None;
        }
        if let Err(e) = self.claim(&req, term, obs.shared.epoch).await {
            warn!(cluster = %self.name(), error = %e, "cannot start request {req}; next round");
            return None;
        }
        info!(cluster = %self.name(), "running request {req}");
        let concluded = self.run_request(&req, obs, term, now).await;
        if concluded == Concluded::CommitPending {
            // the next round settles it like a predecessor's
            self.memory.settled_term = None;
        }
        self.clear_request(&req.id, term, self.shared.epoch).await;
        Some(Outcome::Request {
            request: req.to_string(),
            concluded,
        })
    }

    /// Mark the request started: compare-and-set on the request read, so it starts at most
    /// once.
    async fn claim(&mut self, req: &Request, term: i64, epoch: u64) -> Result<(), String> {
        self.guard(term, epoch)
            .may_act("start the request")
            .await
            .map_err(|e| e.to_string())?;
        let claimed = coord::try_update(self.store.as_ref(), self.name(), |st| match &mut st.request {
            Some(r) if r.id == req.id && !r.started => {
                r.started = true;
                Ok(())
            }
            _ => Err(StoreError::Refused("the request changed meanwhile".into())),
        })
        .await
        .map_err(|e| e.to_string())?;
        self.shared = claimed.value;
        Ok(())
    }

    /// Judge the request on this round and run it as a record.
    async fn run_request(&self, req: &Request, obs: &Observed, term: i64, now: SystemTime) -> Concluded {
        let admission = Admission {
            cluster: &self.cluster,
            snapshot: &obs.snapshot,
            diagnosis: &obs.diagnosis,
            shared: &self.shared,
            errant: &obs.errant,
            now_ms: unix_ms(now),
            max_lag: self.failover.switchover_max_lag,
            acked: obs.acked.as_ref(),
            lossless: self.failover.lossless,
        };
        let plan = match req.action {
            Action::Switchover => admit::switchover(&admission, req.to.as_deref()).map(Plan::Switchover),
            Action::Failover => admit::failover(&admission, req.to.as_deref(), req.force).map(Plan::Failover),
        };
        let guard = self.guard(term, self.shared.epoch);
        let pausing = Pausing {
            inner: &guard,
            step: self.chaos_pause.as_deref(),
        };
        let act = self.act_with(&pausing, term, self.shared.epoch);
        let kind = match req.action {
            Action::Switchover => Kind::Switchover,
            Action::Failover => Kind::Manual,
        };
        let old_master = obs.diagnosis.state.master().unwrap_or("?");
        let mut rec = act.new_record(req.id.clone(), kind, &req.to_string(), old_master, now);
        describe(&mut rec, req, obs, &plan);
        let store = self.store.clone();
        let mut recorder = Recorder::new(rec, Instant::now(), store.as_ref());
        // intent before action: the record exists before the first step
        recorder.persist().await;
        let step = recorder.start(StepKind::Check, "check the request").await;
        let status = match plan {
            Err(refusal) => {
                recorder.audit(step, Status::Failed, refusal.to_string()).await;
                Status::Failed
            }
            Ok(Plan::Switchover(p)) => {
                recorder.audit(step, Status::Ok, p.to_string()).await;
                act.edges().switchover(&mut recorder, &obs.snapshot, &p).await
            }
            Ok(Plan::Failover(p)) => {
                let detail = match &p.accepted_loss {
                    Some(loss) => format!("{}; FORCED by the DBA: {loss}", p.candidates),
                    None => p.candidates.to_string(),
                };
                recorder.audit(step, Status::Ok, detail).await;
                act.edges().failover(&mut recorder, &obs.snapshot, &p.candidates).await
            }
        };
        act.conclude(&mut recorder, status, now).await
    }

    /// Remove request `id` from the shared state (not a newer one).
    async fn clear_request(&mut self, id: &str, term: i64, epoch: u64) {
        if let Err(e) = self.guard(term, epoch).may_act("clear the request").await {
            warn!(cluster = %self.name(), "not clearing request {id}: {e}");
            return;
        }
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

/// What the record says before the first step: the plan's nodes and everyone's GTIDs.
fn describe(rec: &mut FailoverRecord, req: &Request, obs: &Observed, plan: &Result<Plan, admit::Refusal>) {
    rec.detected_at = req.requested_at.clone();
    rec.gtids = obs
        .snapshot
        .nodes
        .iter()
        .filter_map(|n| n.ok().map(|s| (n.name.clone(), s.received().to_string())))
        .collect();
    match plan {
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
}

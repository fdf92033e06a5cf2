//! A failover the lossless policy refuses: the leader waits for a node that has what would be
//! lost, says so in the shared state (so any manager's API admits a forced manual failover),
//! and once `[failover] lossless_wait` has passed records the refusal — a failed record
//! naming the missing transactions — so the outage has a reason in the history; it raises
//! `myha_failover_refused`. It keeps deciding every round: as soon as a failover loses
//! nothing (a replica that has them returns), it runs.

use super::ClusterLoop;
use crate::coord::elector::Leadership;
use crate::coord::{self, Store};
use crate::failover::lossless::Loss;
use crate::failover::{Guard, Recorder};
use crate::model::{id_time, timestamp, Candidates, Kind, Refused, Status, StepKind};
use crate::mysql::MysqlAdmin;
use crate::vip::Vip;
use tokio::time::Instant;
use tracing::{error, warn};

/// A refusal in progress.
#[derive(Debug, Clone, Copy)]
pub(super) struct Refusing {
    /// When the failover was first refused.
    since: Instant,
    /// The refusal's record is written.
    recorded: bool,
}

impl<A: MysqlAdmin, V: Vip, S: Store, L: Leadership> ClusterLoop<A, V, S, L> {
    /// This round's failover is refused (`Some`) or not: keep count, mark it in the shared
    /// state, and record it once — the leader, in `term`, on the state at `epoch`.
    pub(super) async fn refused(&mut self, refusal: Option<(&str, &Candidates, &Loss)>, term: Option<i64>, epoch: u64) {
        if let Some(o) = &self.outputs {
            o.metrics.set_refused(self.name(), refusal.is_some());
        }
        if let Some(term) = term {
            self.mark_refused(refusal.map(|(_, c, l)| (c.old_master.as_str(), l)), term, epoch)
                .await;
        }
        let Some((why, candidates, loss)) = refusal else {
            self.memory.refusing = None;
            return;
        };
        let r = *self.memory.refusing.get_or_insert(Refusing {
            since: Instant::now(),
            recorded: false,
        });
        let Some(term) = term.filter(|_| !r.recorded && r.since.elapsed() >= self.failover.lossless_wait) else {
            return;
        };
        let now = crate::model::time::now();
        let id = format!("{}-{}-{}", self.name(), id_time(now, true), candidates.old_master);
        let guard = self.guard(term, epoch);
        let act = self.act_with(&guard, term, epoch);
        let mut rec = act.new_record(id, Kind::Automatic, why, &candidates.old_master, now);
        rec.candidates = Some(candidates.clone());
        rec.detected_at = timestamp(self.history.actionable_since().unwrap_or(now));
        let store = self.store.clone();
        let mut recorder = Recorder::new(rec, r.since, store.as_ref());
        let step = recorder.start(StepKind::Check, "lossless check").await;
        let detail = format!(
            "{loss}; waited {} s for a node that has them: not failing over (it runs as soon as it loses nothing; `myha failover --force` accepts the loss)",
            r.since.elapsed().as_secs()
        );
        error!(cluster = %self.name(), "failover refused: {detail}");
        recorder.audit(step, Status::Failed, detail).await;
        recorder.finish(Status::Failed).await;
        self.memory.refusing = Some(Refusing { recorded: true, ..r });
    }

    /// Set (or clear) the refusal in the shared state when it differs from what is there.
    async fn mark_refused(&mut self, refusal: Option<(&str, &Loss)>, term: i64, epoch: u64) {
        let want = refusal.map(|(master, loss)| Refused {
            master: master.to_string(),
            missing: loss.missing.clone(),
            detail: loss.to_string(),
            since: timestamp(crate::model::time::now()),
        });
        let same = match (&self.shared.refused, &want) {
            (Some(a), Some(b)) => a.master == b.master && a.missing == b.missing,
            (None, None) => true,
            _ => false,
        };
        if same {
            return;
        }
        if let Err(why) = self.guard(term, epoch).may_act("record the refusal").await {
            warn!(cluster = %self.name(), "not recording the refusal in the shared state: {why}");
            return;
        }
        match coord::update(self.store.as_ref(), self.name(), |st| st.refused = want.clone()).await {
            Ok(v) => self.shared = v.value,
            Err(e) => warn!(cluster = %self.name(), error = %e, "cannot record the refusal in the shared state"),
        }
    }
}

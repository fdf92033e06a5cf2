//! A decision that acts, run through its executor (`manager::act`).

use super::{ClusterLoop, Observed, Outcome};
use crate::coord::elector::Leadership;
use crate::coord::Store;
use crate::manager::act::{Concluded, Done};
use crate::manager::chaos::Pausing;
use crate::manager::decide::Decision;
use crate::mysql::MysqlAdmin;
use crate::vip::Vip;

impl<A: MysqlAdmin, V: Vip, S: Store, L: Leadership> ClusterLoop<A, V, S, L> {
    /// Run `decision` (which acts) through its executor.
    pub(super) async fn act(&mut self, decision: Decision, obs: &Observed, term: i64) -> Outcome {
        let sentence = decision.to_string();
        let guard = self.guard(term, obs.shared.epoch);
        if let Decision::Failover { why, candidates } = &decision {
            let pausing = Pausing {
                inner: &guard,
                step: self.chaos_pause.as_deref(),
            };
            let act = self.act_with(&pausing, term, obs.shared.epoch);
            let detected = obs.actionable_since.unwrap_or_else(crate::model::now);
            let concluded = act.failover(candidates, why, detected, &obs.snapshot).await;
            if concluded == Concluded::CommitPending {
                // the next round settles it like a predecessor's
                self.memory.settled_term = None;
            }
            return Outcome::Failover {
                decision: sentence,
                concluded,
            };
        }
        let act = self.act_with(&guard, term, obs.shared.epoch);
        let done = match &decision {
            Decision::Fence { node, .. } => act.fence(node, &sentence).await,
            Decision::Rejoin { node, master, from } => act.rejoin(node, master, *from, &sentence).await,
            Decision::NeedsRebuild { node, errant } => {
                act.mark_rebuild(node, &format!("errant transactions {errant}"), &sentence)
                    .await
            }
            Decision::Broken { node, error } => {
                act.mark_rebuild(node, &format!("replication stopped: {error}"), &sentence)
                    .await
            }
            Decision::Rebuilt { node } => act.unmark(node, &sentence).await,
            Decision::MoveVip { master, .. } => act.repair_vip(master, &sentence).await,
            Decision::SemiSync { master, policy, .. } => act.semi_sync(master, *policy, &sentence).await,
            Decision::Adopt { master, previous } => act.adopt(master, previous.as_deref(), &sentence).await,
            Decision::Reopen { master, policy } => act.reopen(master, *policy, &sentence).await,
            Decision::Served { master, failover } => act.arm_block(master, failover, &sentence).await,
            Decision::Failover { .. }
            | Decision::Nothing { .. }
            | Decision::Blocked { .. }
            | Decision::Paused { .. }
            | Decision::NoCandidate { .. }
            | Decision::WouldLose { .. } => Done::Ok("nothing to run".into()),
        };
        Outcome::Acted {
            decision: sentence,
            done,
        }
    }
}

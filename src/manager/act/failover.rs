//! The automatic failover of a dead master: its record is written before the first step
//! (intent), the steps run (`failover::execute`), and the commit of the new master closes it.

use super::{Act, Concluded};
use crate::coord::Store;
use crate::failover::{Edges, Guard, Recorder};
use crate::model::{id_time, timestamp, Candidates, Kind};
use crate::mysql::MysqlAdmin;
use crate::topology::Snapshot;
use crate::vip::Vip;
use std::time::SystemTime;
use tokio::time::Instant;

impl<A: MysqlAdmin, V: Vip, S: Store, G: Guard> Act<'_, A, V, S, G> {
    /// The executor's edges, checked by this action's guard.
    pub fn edges(&self) -> Edges<'_, A, V, G> {
        Edges {
            cluster: self.cluster,
            timeouts: self.failover,
            admin: self.admin,
            vip: self.vip,
            guard: self.guard,
        }
    }

    /// Fail `candidates.old_master` over to `candidates.chosen`, because `why`; the master
    /// was first seen dead at `detected`.
    pub async fn failover(
        &self,
        candidates: &Candidates,
        why: &str,
        detected: SystemTime,
        snap: &Snapshot,
    ) -> Concluded {
        let started = Instant::now();
        let now = crate::model::time::now();
        // to the millisecond: a second attempt within the same second is a record of its own
        let id = format!("{}-{}-{}", self.cluster.name, id_time(now, true), candidates.old_master);
        let mut rec = self.new_record(id, Kind::Automatic, why, &candidates.old_master, now);
        rec.new_master = candidates.chosen.clone();
        rec.gtids = candidates
            .ranking
            .iter()
            .map(|r| (r.node.clone(), r.received.clone()))
            .collect();
        rec.candidates = Some(candidates.clone());
        rec.detected_at = timestamp(detected);
        let mut recorder = Recorder::new(rec, started, self.store);
        // intent before action: the record exists before the first step
        recorder.persist().await;
        let status = self.edges().failover(&mut recorder, snap, candidates).await;
        self.conclude(&mut recorder, status, now).await
    }
}

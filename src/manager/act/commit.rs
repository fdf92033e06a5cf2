//! The last step of every failover, switchover and take-over: record the new master in the
//! shared state, compare-and-set on the epoch the record started from. Until that succeeds
//! the record stays running and the leader tries again (a take-over of its own record): a
//! master of record that lags behind the promotion would let the detector take the new
//! master for a stale one, or a returning old master for the master.

use super::Act;
use crate::coord::{self, Store, StoreError};
use crate::failover::{Guard, GuardError, Recorder};
use crate::model::{timestamp, unix_ms, Block, FailoverRecord, Kind, SharedState, Status, StepKind};
use crate::mysql::MysqlAdmin;
use crate::vip::Vip;
use std::collections::BTreeMap;
use std::time::SystemTime;
use tracing::error;

/// How a record ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Concluded {
    /// Nothing was promoted: the record is closed as it ran.
    NotPromoted,
    /// The new master is the master of record; the record is closed.
    Committed,
    /// The promotion happened but the shared state could not be written: the record stays
    /// running and is committed again on the next round.
    CommitPending,
    /// Someone changed the master of record since the record started: ours lost. The node
    /// it promoted is not the master, and the detector treats it as a stale one.
    Superseded,
}

impl std::fmt::Display for Concluded {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Concluded::NotPromoted => "nothing promoted (the record says why)",
            Concluded::Committed => "the new master is the master of record",
            Concluded::CommitPending => "promoted, not recorded yet: the record stays running and is committed again",
            Concluded::Superseded => "promoted, but the master of record changed meanwhile: not recorded",
        })
    }
}

/// Why the commit did not happen.
#[derive(Debug, thiserror::Error)]
enum CommitError {
    /// The master of record changed since the record started.
    #[error("the cluster's epoch is {found} (master {master}) but this record started at epoch {started}: the master changed meanwhile")]
    StaleEpoch {
        /// the epoch found
        found: u64,
        /// the master found
        master: String,
        /// the record's epoch
        started: u64,
    },
    /// An earlier attempt of this record already committed (its last write was lost).
    #[error("already recorded")]
    AlreadyDone,
    /// The store refused or could not be reached.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// This manager may not act any more: the record is left running for the leader.
    #[error(transparent)]
    Guard(#[from] GuardError),
}

impl<A: MysqlAdmin, V: Vip, S: Store, G: Guard> Act<'_, A, V, S, G> {
    /// Commit (when something was promoted) and close `rec`, which ran to `status` and
    /// started at `started`.
    pub async fn conclude<K: Store>(
        &self,
        rec: &mut Recorder<'_, K>,
        status: Status,
        started: SystemTime,
    ) -> Concluded {
        let Some(new_master) = rec.rec.promoted().map(str::to_string) else {
            rec.finish(Status::Failed).await;
            self.count(rec);
            return Concluded::NotPromoted;
        };
        let epoch = rec.rec.epoch;
        let step = rec
            .start(
                StepKind::Commit,
                format!("record {new_master} as master (epoch {epoch} → {})", epoch + 1),
            )
            .await;
        let outcome = match self.commit(&rec.rec, &new_master, started).await {
            Ok(()) | Err(CommitError::AlreadyDone) => {
                rec.audit(step, Status::Ok, format!("{new_master} is the master of record"))
                    .await;
                rec.finish(status).await;
                Concluded::Committed
            }
            Err(e @ CommitError::StaleEpoch { .. }) => {
                error!(cluster = %&self.cluster.name, failover = %rec.rec.id, "{new_master} was promoted but not recorded: {e}");
                rec.audit(step, Status::Failed, e.to_string()).await;
                rec.finish(Status::Failed).await;
                Concluded::Superseded
            }
            Err(CommitError::Guard(e)) => {
                let detail = format!("{e}: the record stays running for the leader to settle");
                rec.audit(step, Status::Skipped, detail).await;
                return Concluded::CommitPending;
            }
            Err(CommitError::Store(e)) => {
                error!(cluster = %&self.cluster.name, failover = %rec.rec.id, error = %e, "{new_master} was promoted but the coordinator cannot record it yet: retrying next round");
                let detail = format!("cannot record the new master yet ({e}): the record stays running and the leader commits it next round");
                rec.audit(step, Status::Failed, detail).await;
                return Concluded::CommitPending;
            }
        };
        self.count(rec);
        outcome
    }

    fn count<K: Store>(&self, rec: &Recorder<'_, K>) {
        if let Some(m) = self.metrics {
            let r = &rec.rec;
            let kind = format!("{:?}", r.kind).to_lowercase();
            let status = format!("{:?}", r.status).to_lowercase();
            m.observe_failover(&self.cluster.name, &kind, &status, r.total_ms.unwrap_or_default());
        }
    }

    /// The compare-and-set itself: new master, next epoch, the VIP target if its move was
    /// verified, and — after an automatic failover — the anti-flap block.
    async fn commit(&self, rec: &FailoverRecord, new_master: &str, started: SystemTime) -> Result<(), CommitError> {
        let vip_moved = rec.step_ok(StepKind::MoveVip);
        let block_until = started + self.failover.block_period;
        let committed = crate::model::time::now();
        // a manager that lost the lead leaves the record running: its successor settles it
        self.guard.may_act("record the new master").await?;
        coord::try_update(self.store, &self.cluster.name, |st: &mut SharedState| {
            if st.last_failover.as_deref() == Some(rec.id.as_str()) && st.master.as_deref() == Some(new_master) {
                return Err(CommitError::AlreadyDone);
            }
            if st.epoch != rec.epoch {
                return Err(CommitError::StaleEpoch {
                    found: st.epoch,
                    master: st.master.clone().unwrap_or_else(|| "none".into()),
                    started: rec.epoch,
                });
            }
            st.master = Some(new_master.to_string());
            st.epoch += 1;
            if vip_moved {
                st.vip = Some(new_master.to_string());
            }
            st.last_failover = Some(rec.id.clone());
            st.refused = None;
            if rec.kind == Kind::Automatic {
                // the previous failover's master never served: this is its one retry
                let retry = st.block_in_period(unix_ms(committed)).is_some_and(|b| !b.armed);
                st.block = Some(Block {
                    until_ms: unix_ms(block_until),
                    until: timestamp(block_until),
                    failover: rec.id.clone(),
                    master: Some(new_master.to_string()),
                    armed: retry,
                    arms_at_ms: unix_ms(committed + self.failover.served_before_block),
                });
            }
            Ok(())
        })
        .await
        .map(|_| ())
    }

    /// A new, running record of this cluster, started now (the caller fills in the rest).
    pub fn new_record(
        &self,
        id: String,
        kind: Kind,
        trigger: &str,
        old_master: &str,
        now: SystemTime,
    ) -> FailoverRecord {
        FailoverRecord {
            id,
            cluster: self.cluster.name.clone(),
            kind,
            trigger: trigger.to_string(),
            manager: self.manager.to_string(),
            old_master: old_master.to_string(),
            new_master: None,
            gtids: BTreeMap::new(),
            candidates: None,
            epoch: self.epoch,
            detected_at: timestamp(now),
            started_at: timestamp(now),
            finished_at: None,
            total_ms: None,
            write_pause_ms: None,
            steps: Vec::new(),
            errors: Vec::new(),
            status: Status::Running,
        }
    }
}

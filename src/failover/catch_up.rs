//! A failover's catch-up: before it may take writes, the candidate applies everything any
//! stopped replica received — from a donor first if it lacks some (lossless: any of it may
//! have been acknowledged). Bounded by progress rather than by a fixed time: a slow applier
//! is waited for up to `failover.max_catch_up`, a stalled one (nothing applied for
//! `failover.catch_up_timeout`) is given up on. A candidate with a backlog gets parallel
//! applier workers first.

use super::execute::{Edges, Guard, Plan, StepError};
use crate::config::NodeConfig;
use crate::flavor::StartFrom;
use crate::gtid::Gtids;
use crate::model::Candidates;
use crate::mysql::MysqlAdmin;
use crate::topology::NodeState;
use crate::vip::Vip;
use std::collections::BTreeMap;
use std::time::Duration;
use tokio::time::Instant;

/// A candidate (or donor) with fewer transactions than this to apply keeps its applier as it
/// is: restarting it costs more than parallel workers save (the lab's serial applier does
/// ~1,600 transactions a second).
pub(super) const SPEED_UP_FROM: u128 = 1000;
/// The shortest wait worth a round trip.
const MIN_SLICE: Duration = Duration::from_millis(100);

/// Transactions `s` received but has not applied.
pub(super) fn backlog(s: &NodeState) -> u128 {
    s.received().weight().saturating_sub(s.executed.weight())
}

/// What a stopped replica holds that others may need: what it received from its master and
/// what its binlog has of other servers — not its own transactions (errant on a replica).
fn clean(s: &NodeState) -> Gtids {
    let binlog = s.binlog_state.without_server(s.server_id);
    let received = s.replica.as_ref().map(|r| r.received.clone());
    received.and_then(|r| r.union(&binlog)).unwrap_or(binlog)
}

/// Everything a stopped replica has, per server: received (relay included) and in its binlog.
fn holds(s: &NodeState) -> Gtids {
    let received = s.replica.as_ref().map(|r| r.received.clone());
    received
        .and_then(|r| r.union(&s.binlog_state))
        .unwrap_or_else(|| s.binlog_state.clone())
}

/// Everything any stopped replica holds that others may need (see [`clean`]): with
/// `AFTER_SYNC` semi-sync, a transaction one replica received may have been acknowledged.
fn needed(after: &BTreeMap<String, NodeState>) -> Option<Gtids> {
    let mut all = after.values().map(clean);
    let first = all.next()?;
    Some(all.fold(first, |acc, g| acc.union(&g).unwrap_or(acc)))
}

impl<A: MysqlAdmin, V: Vip, G: Guard> Edges<'_, A, V, G> {
    /// Let `plan.new` apply everything any stopped replica received (`after`, read once they
    /// stopped: nothing more arrives) — from a donor if it lacks some. Each replica's own
    /// transactions are left out: on a replica they are errant, and no donor passes them on.
    pub(super) async fn catch_up(
        &self,
        cand: &Candidates,
        plan: &Plan<'_>,
        after: &BTreeMap<String, NodeState>,
        via_donor: &std::sync::atomic::AtomicBool,
    ) -> Result<String, StepError> {
        let new = &plan.new.name;
        let mine = after
            .get(new)
            .ok_or_else(|| StepError::Plan(format!("{new} did not stop receiving")))?;
        let need = needed(after).unwrap_or_else(|| mine.received());
        let mut via = String::new();
        if holds(mine).contains_each(&need) != Some(true) {
            // the preferred donor first, then any other that may serve
            let donor = cand
                .catch_up_from
                .iter()
                .chain(cand.donors.iter())
                .filter(|d| *d != new)
                .find(|d| {
                    after
                        .get(*d)
                        .is_some_and(|s| holds(s).contains_each(&need) == Some(true))
                })
                .and_then(|d| self.node(d));
            let Some(d) = donor else {
                let missing = need
                    .missing_from(&holds(mine))
                    .map(|m| m.to_string())
                    .unwrap_or_default();
                return Err(StepError::Plan(format!(
                    "after every replica stopped, {new} lacks {missing} and no replica that may serve it has it all"
                )));
            };
            // the donor serves from its binlog: it first applies what it received (without
            // its own transactions, which its replica position never reaches)
            let own = after.get(&d.name).map(clean).unwrap_or_else(|| need.clone());
            let from = after.get(&d.name).map(|s| s.binlog_state.clone());
            self.apply_all(d, &own, from, "let the donor apply what it received")
                .await?;
            let repoint =
                self.admin
                    .replicate_from(plan.new, d, StartFrom::ReplicaPosition, self.timeouts.repoint_timeout);
            via_donor.store(true, std::sync::atomic::Ordering::Relaxed);
            self.guarded("repoint the candidate to its donor", repoint).await?;
            via = format!(" (caught up from {})", d.name);
        }
        if need.is_empty() {
            return Ok(format!("{new} has nothing to apply"));
        }
        let from = Some(mine.binlog_state.clone());
        let took = self
            .apply_all(plan.new, &need, from, "let the candidate apply everything")
            .await?;
        Ok(format!(
            "{new} applied everything up to {need}{via} in {:.1} s",
            took.as_secs_f64()
        ))
    }

    /// Wait until `node` has applied `need`, in slices of `catch_up_timeout`, each of which
    /// must apply something (compared with `from`, what it had applied before), for at most
    /// `max_catch_up`. How long it took.
    async fn apply_all(
        &self,
        node: &NodeConfig,
        need: &Gtids,
        from: Option<Gtids>,
        what: &str,
    ) -> Result<Duration, StepError> {
        let (stall, max) = (self.timeouts.catch_up_timeout, self.timeouts.max_catch_up);
        let began = Instant::now();
        let start = from.as_ref().map_or(0, Gtids::weight);
        let mut seen = start;
        loop {
            let slice = stall.min(max.saturating_sub(began.elapsed()));
            let wait = self.admin.wait_applied(node, need, slice.max(MIN_SLICE));
            let got = self.guarded(what, wait).await?;
            if got.done {
                return Ok(began.elapsed());
            }
            let now = got.applied.as_ref().map_or(seen, Gtids::weight);
            let left = need.weight().saturating_sub(now);
            // the bound first: its last slice may be too short to show progress
            if began.elapsed() >= max {
                let rate = now.saturating_sub(start) as f64 / began.elapsed().as_secs_f64();
                return Err(StepError::Plan(format!(
                    "{} did not apply everything within failover.max_catch_up ({max:?}): {left} transactions left, applying {rate:.0} a second; its applier goes on, and the next attempt waits again",
                    node.name
                )));
            }
            if now <= seen {
                return Err(StepError::Plan(format!(
                    "{} applied nothing in {slice:?} ({left} transactions left): its applier is stalled or stopped on an error",
                    node.name
                )));
            }
            seen = now;
        }
    }

    /// Before `node`'s receiver stops: give its applier `catch_up_threads` parallel workers
    /// (MariaDB takes the change only with the applier stopped, and stopping it once the
    /// receiver has stopped would discard the relay log). A note for the record: a failure
    /// costs speed, not the failover.
    pub(super) async fn speed_up(&self, node: &NodeConfig) -> String {
        let threads = self.timeouts.catch_up_threads;
        let call = self
            .admin
            .raise_applier_threads(node, threads, self.timeouts.repoint_timeout);
        match self.guarded("give the applier parallel workers", call).await {
            Ok(had) if had >= threads => String::new(),
            Ok(had) => format!("; applier given {threads} parallel workers (had {had}) for the catch-up"),
            Err(e) => format!("; applier left as it was: {e}"),
        }
    }
}

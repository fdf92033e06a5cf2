//! Admission of DBA requests: which refusal (404 / 422 / 409) for which situation, and which
//! target when none is named.

use crate::config::{ClusterConfig, Timing};
use crate::detect::{Diagnosis, History};
use crate::failover::admit::{self, Admission, Refusal};
use crate::model::{Block, SharedState};
use crate::testkit::*;
use crate::topology::{IoThread, Snapshot};
use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

struct Case {
    cluster: ClusterConfig,
    rounds: Vec<Snapshot>,
    shared: SharedState,
}

impl Case {
    fn new(rounds: Vec<Vec<N>>) -> Self {
        Case {
            cluster: cluster(&["db1", "db2", "db3"]),
            rounds: history(rounds),
            shared: SharedState {
                master: Some("db1".into()),
                epoch: 1,
                ..SharedState::default()
            },
        }
    }

    fn healthy() -> Self {
        let r = || {
            vec![
                master("db1"),
                replica("db2", replica_of("db1")),
                replica("db3", replica_of("db1")),
            ]
        };
        Case::new(vec![r(), r(), r()])
    }

    fn dead() -> Self {
        let lost = |n: &str| replica(n, replica_of("db1")).io(IoThread::Connecting);
        Case::new(vec![
            vec![
                master("db1"),
                replica("db2", replica_of("db1")),
                replica("db3", replica_of("db1")),
            ],
            vec![down("db1"), lost("db2"), lost("db3")],
            vec![down("db1"), lost("db2"), lost("db3")],
        ])
    }

    fn with(&self, f: impl FnOnce(&Admission) -> Result<String, Refusal>) -> Result<String, Refusal> {
        let timing = Timing::default();
        let record = self.shared.master.as_deref();
        let mut h = History::new(&timing);
        for s in &self.rounds {
            h.push(Arc::new(s.clone()), record);
        }
        let d: Diagnosis = h.diagnose(&timing, record).unwrap();
        f(&Admission {
            cluster: &self.cluster,
            snapshot: self.rounds.last().unwrap(),
            diagnosis: &d,
            shared: &self.shared,
            errant: &BTreeSet::new(),
            now_ms: 1_000_000,
            max_lag: Duration::from_secs(2),
            acked: h.acknowledged(),
            lossless: true,
        })
    }

    fn switchover(&self, to: Option<&str>) -> Result<String, Refusal> {
        self.with(|a| admit::switchover(a, to).map(|p| p.new_master))
    }

    fn failover(&self, to: Option<&str>) -> Result<String, Refusal> {
        self.forced(to, false)
    }

    fn forced(&self, to: Option<&str>, force: bool) -> Result<String, Refusal> {
        self.with(|a| admit::failover(a, to, force).map(|p| p.candidates.chosen.unwrap_or_default()))
    }
}

#[test]
fn a_switchover_goes_to_the_named_replica_or_the_highest_priority_ready_one() {
    let mut c = Case::healthy();
    assert_eq!(c.switchover(Some("db3")), Ok("db3".into()));
    assert_eq!(c.switchover(None), Ok("db2".into()));
    c.cluster.nodes[2].priority = 10;
    assert_eq!(c.switchover(None), Ok("db3".into()));
}

#[test]
fn a_switchover_to_an_unknown_node_is_not_found() {
    assert!(
        matches!(Case::healthy().switchover(Some("db9")), Err(Refusal::UnknownNode(m)) if m.contains("db1, db2, db3"))
    );
}

#[test]
fn a_switchover_to_a_node_that_cannot_take_over_is_unprocessable() {
    let mut c = Case::healthy();
    c.cluster.nodes[1].no_promote = true;
    assert!(matches!(c.switchover(Some("db2")), Err(Refusal::NotEligible(m)) if m.contains("no_promote")));
    assert!(matches!(c.switchover(Some("db1")), Err(Refusal::NotEligible(m)) if m.contains("already the master")));
    // the best ready one instead, saying why not db2
    assert_eq!(c.switchover(None), Ok("db3".into()));

    let lagging =
        |n: &str| replica(n, replica_of("db1")).with(|s| s.replica.as_mut().unwrap().seconds_behind = Some(30));
    let r = || {
        vec![
            master("db1"),
            lagging("db2"),
            replica("db3", replica_of("db1")).io(IoThread::Connecting),
        ]
    };
    let c = Case::new(vec![r(), r(), r()]);
    assert!(matches!(c.switchover(Some("db2")), Err(Refusal::NotEligible(m)) if m.contains("30 s behind (limit 2 s)")));
    let none = c.switchover(None);
    assert!(
        matches!(&none, Err(Refusal::NotEligible(m)) if m.contains("db2 (30 s behind") && m.contains("db3 (not connected")),
        "{none:?}"
    );
}

#[test]
fn a_switchover_needs_a_healthy_master() {
    assert!(matches!(Case::dead().switchover(Some("db2")), Err(Refusal::Conflict(m)) if m.contains("myha failover")));
}

#[test]
fn a_manual_failover_needs_a_dead_master_and_automation_paused_or_blocked() {
    assert!(matches!(Case::healthy().failover(None), Err(Refusal::Conflict(m)) if m.contains("switchover")));
    let mut c = Case::dead();
    assert!(matches!(c.failover(None), Err(Refusal::Conflict(m)) if m.contains("armed")));
    c.shared.paused = true;
    assert_eq!(c.failover(None), Ok("db2".into()));
    assert_eq!(c.failover(Some("db3")), Ok("db3".into()));
    assert!(matches!(c.failover(Some("db1")), Err(Refusal::NotEligible(m)) if m.contains("dead master")));
    assert!(matches!(c.failover(Some("db7")), Err(Refusal::UnknownNode(_))));
    c.cluster.nodes[2].no_promote = true;
    assert!(matches!(c.failover(Some("db3")), Err(Refusal::NotEligible(m)) if m.contains("no_promote")));
    c.shared.paused = false;
    c.shared.block = Some(Block {
        until_ms: 2_000_000,
        until: "later".into(),
        failover: "f1".into(),
        master: None,
        armed: true,
        arms_at_ms: 0,
    });
    assert_eq!(c.failover(None), Ok("db2".into()));
}

/// A master that acknowledged writes alone, then died: the automatic failover is refused
/// (lossless policy), so a DBA may fail over by hand while automation is armed — but only by
/// accepting the loss, which the plan names.
#[test]
fn a_lossy_failover_needs_force_and_names_the_loss() {
    let lost = |n: &str| replica(n, replica_of("db1")).io(IoThread::Connecting);
    let alone = master("db1").with(|s| {
        s.executed = gtids("0-1-900");
        s.semi_sync.master_active = false;
    });
    let c = Case::new(vec![
        vec![alone, lost("db2"), lost("db3")],
        vec![down("db1"), lost("db2"), lost("db3")],
        vec![down("db1"), lost("db2"), lost("db3")],
    ]);
    let refused = c.failover(Some("db3"));
    assert!(
        matches!(&refused, Err(Refusal::Conflict(m)) if m.contains("would lose 0-1-900") && m.contains("with force")),
        "{refused:?}"
    );
    assert_eq!(c.forced(Some("db3"), true), Ok("db3".into()));
    let plan = c.with(|a| admit::failover(a, None, true).map(|p| p.accepted_loss.unwrap_or_default()));
    assert!(matches!(&plan, Ok(l) if l.contains("would lose 0-1-900")), "{plan:?}");
}

/// A standby may have seen nothing acknowledged alone (it did not probe in that moment); the
/// leader's refusal, in the shared state, is what counts: a forced manual failover is
/// accepted, an unforced one is refused with the leader's reason.
#[test]
fn the_leaders_refusal_admits_a_forced_failover_on_any_manager() {
    let mut c = Case::dead();
    c.shared.refused = Some(crate::model::Refused {
        master: "db1".into(),
        missing: "0-1-900".into(),
        detail: "promoting db2 would lose 0-1-900".into(),
        since: "now".into(),
    });
    let r = c.failover(None);
    assert!(
        matches!(&r, Err(Refusal::Conflict(m)) if m.contains("the leader refuses the automatic failover: promoting db2 would lose 0-1-900")),
        "{r:?}"
    );
    assert_eq!(c.forced(None, true), Ok("db2".into()));
}

/// A record left running may be aborted by a DBA unless its planned node is writable (then it
/// was promoted and the leader finishes it); a finished record is not aborted.
#[test]
fn a_running_record_is_aborted_only_while_its_promotion_is_unknown() {
    let rec = failover_record(Some("db2"));
    let unknown = snapshot(vec![down("db1"), hung("db2"), replica("db3", replica_of("db1"))]);
    assert_eq!(admit::abort(&rec, &unknown), Ok(()));
    let promoted = snapshot(vec![down("db1"), master("db2"), replica("db3", replica_of("db1"))]);
    assert!(
        matches!(admit::abort(&rec, &promoted), Err(Refusal::Conflict(m)) if m.contains("db2 is writable")),
        "{:?}",
        admit::abort(&rec, &promoted)
    );
    let mut done = rec.clone();
    done.status = crate::model::Status::Failed;
    assert!(matches!(admit::abort(&done, &unknown), Err(Refusal::Conflict(m)) if m.contains("not running")));
}

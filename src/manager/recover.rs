//! A failover another manager left unfinished (it died, or lost the lead, between two
//! steps): what the new leader does about it. Never a second promotion for the same
//! failure — the live topology, not the record, says whether the promotion happened,
//! because the record's last write may have been lost with its manager.

use crate::model::{FailoverRecord, Kind, StepKind};
use crate::topology::Snapshot;

/// What to do with an unfinished failover record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Recovery {
    /// The planned node is writable: the promotion happened. Finish the steps after it
    /// (route move, repointing) and record the new master.
    Complete {
        /// the promoted node
        new_master: String,
    },
    /// The planned node is writable and every step after its promotion ran, but the new
    /// master was not recorded (the coordinator could not be written): record it.
    Commit {
        /// the promoted node
        new_master: String,
    },
    /// The promotion never happened: nothing irreversible was done. Close the record as
    /// failed; the normal decision runs a fresh failover if the master is still dead.
    Abandon {
        /// why
        why: String,
    },
    /// A switchover stopped before its promotion, leaving the old master fenced while no
    /// node takes writes: make the old master writable again, then close the record.
    Undo {
        /// the old master
        old_master: String,
        /// why
        why: String,
    },
    /// The planned node cannot be probed right now: neither finishing nor starting over is
    /// safe. Look again next round.
    Wait {
        /// why
        why: String,
    },
}

/// Decide from the record and the latest snapshot.
pub fn recover(rec: &FailoverRecord, snapshot: &Snapshot) -> Recovery {
    let Some(planned) = rec.new_master.as_deref() else {
        return Recovery::Abandon {
            why: "no candidate had been chosen".into(),
        };
    };
    match snapshot.node(planned).map(|n| n.state.as_ref()) {
        Some(Ok(st)) if !st.read_only && rec.steps.iter().any(|s| s.kind == StepKind::Commit) => Recovery::Commit {
            new_master: planned.to_string(),
        },
        Some(Ok(st)) if !st.read_only => Recovery::Complete {
            new_master: planned.to_string(),
        },
        Some(Ok(_)) => {
            let why = format!("{planned} is still read-only: the failover stopped before its promotion");
            let old = snapshot.node(&rec.old_master).and_then(|n| n.ok());
            let nobody_writable = snapshot.nodes.iter().all(|n| n.ok().is_none_or(|s| s.read_only));
            if rec.kind == Kind::Switchover && old.is_some_and(|o| o.read_only) && nobody_writable {
                Recovery::Undo {
                    old_master: rec.old_master.clone(),
                    why,
                }
            } else {
                Recovery::Abandon { why }
            }
        }
        Some(Err(e)) => Recovery::Wait {
            why: format!("{planned} cannot be probed ({e}): cannot tell whether it was promoted"),
        },
        None => Recovery::Abandon {
            why: format!("{planned} is no longer in the cluster's configuration"),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testkit::*;

    #[test]
    fn a_promoted_candidate_is_completed_never_promoted_again() {
        let s = snapshot(vec![down("db1"), master("db2"), replica("db3", replica_of("db1"))]);
        assert_eq!(
            recover(&failover_record(Some("db2")), &s),
            Recovery::Complete {
                new_master: "db2".into()
            }
        );
    }

    #[test]
    fn a_candidate_still_read_only_means_the_attempt_is_abandoned() {
        let s = snapshot(vec![
            down("db1"),
            replica("db2", replica_of("db1")),
            replica("db3", replica_of("db1")),
        ]);
        assert!(
            matches!(recover(&failover_record(Some("db2")), &s), Recovery::Abandon { why } if why.contains("read-only"))
        );
        assert!(matches!(recover(&failover_record(None), &s), Recovery::Abandon { .. }));
        assert!(matches!(
            recover(&failover_record(Some("db9")), &s),
            Recovery::Abandon { .. }
        ));
    }

    #[test]
    fn an_unreachable_candidate_is_waited_for() {
        let s = snapshot(vec![down("db1"), down("db2"), replica("db3", replica_of("db1"))]);
        assert!(matches!(
            recover(&failover_record(Some("db2")), &s),
            Recovery::Wait { .. }
        ));
    }

    #[test]
    fn a_switchover_stopped_before_its_promotion_gives_the_old_master_its_writes_back() {
        let mut rec = failover_record(Some("db2"));
        rec.kind = Kind::Switchover;
        let fenced = |s: &mut crate::topology::NodeState| s.read_only = true;
        let s = snapshot(vec![
            master("db1").with(fenced),
            replica("db2", replica_of("db1")),
            replica("db3", replica_of("db1")),
        ]);
        assert!(matches!(recover(&rec, &s), Recovery::Undo { old_master, .. } if old_master == "db1"));
        // the old master still takes writes: nothing to undo
        let s = snapshot(vec![master("db1"), replica("db2", replica_of("db1"))]);
        assert!(matches!(recover(&rec, &s), Recovery::Abandon { .. }));
        // an automatic failover is never undone: its old master is dead or fenced for good
        rec.kind = Kind::Automatic;
        let s = snapshot(vec![master("db1").with(fenced), replica("db2", replica_of("db1"))]);
        assert!(matches!(recover(&rec, &s), Recovery::Abandon { .. }));
    }
}

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
    /// The planned node is read-only, but it was promoted (the record says so, or a replica
    /// already follows it) and lacks nothing another node has: it restarted, and MariaDB
    /// starts read-only, while its acknowledged writes are on it and its replicas. Make it
    /// writable again, then finish as [`Recovery::Complete`]. Abandoning it instead would
    /// leave the old master of record behind the writes the new one acknowledged.
    Reopen {
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
        Some(Ok(st)) if promoted(rec, snapshot, planned) => reopen(planned, st, snapshot),
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

/// Did `planned` become writable, although it is read-only now? The record's promotion step
/// says so when its write landed; a replica pointed at `planned` says so when it did not,
/// because replicas are repointed only after the promotion.
fn promoted(rec: &FailoverRecord, snapshot: &Snapshot, planned: &str) -> bool {
    rec.step_ok(StepKind::Promote)
        || snapshot.nodes.iter().filter(|n| n.name != planned).any(|n| {
            n.ok()
                .and_then(|s| s.replica.as_ref())
                .and_then(|r| snapshot.node_at(&r.master_host, r.master_port))
                .is_some_and(|m| m.name == planned)
        })
}

/// A promoted node found read-only again: reopen it, unless that would lose or split —
/// another node takes writes, or has transactions it lacks (it lost its binlog's tail in
/// the restart). Each node's own writes do not count: a deposed master's past its failover
/// are not the cluster's. Refused, the record is closed and the normal decision, which
/// sees the same nodes, says what a DBA must do.
fn reopen(planned: &str, st: &crate::topology::NodeState, snapshot: &Snapshot) -> Recovery {
    let mut others = snapshot.nodes.iter().filter(|n| n.name != planned);
    if let Some(w) = others.find(|n| n.ok().is_some_and(|s| !s.read_only)) {
        return Recovery::Abandon {
            why: format!(
                "{planned} was promoted and is read-only again, but {} takes writes: not making a second node writable",
                w.name
            ),
        };
    }
    let ahead = snapshot.ahead_of(planned, &st.executed, |_| false);
    if !ahead.is_empty() {
        return Recovery::Abandon {
            why: format!(
                "{planned} was promoted and is read-only again, but lacks transactions ({}): not making it writable",
                ahead.join("; ")
            ),
        };
    }
    Recovery::Reopen {
        new_master: planned.to_string(),
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

    fn promoted_record() -> FailoverRecord {
        let mut rec = failover_record(Some("db2"));
        rec.steps.push(crate::model::Step {
            kind: StepKind::Promote,
            name: "promote db2".into(),
            offset_ms: 400,
            duration_ms: Some(5),
            status: crate::model::Status::Ok,
            detail: "db2 is writable".into(),
        });
        rec
    }

    /// db2, promoted, acknowledged writes and restarted read-only (simulation seed 25004):
    /// abandoning the record left db1 master of record behind db2's writes, for ever.
    #[test]
    fn a_promoted_candidate_found_read_only_again_is_reopened_not_abandoned() {
        let restarted = |s: &mut crate::topology::NodeState| {
            s.replica = None;
            s.executed = gtids("0-2-101");
        };
        let db1 = || master("db1").with(|s| s.read_only = true);
        let db3 = || {
            replica("db3", replica_of("db2"))
                .received("0-2-101")
                .with(|s| s.server_id = 3)
        };
        let s = snapshot(vec![db1(), replica("db2", replica_of("db1")).with(restarted), db3()]);
        let reopen = Recovery::Reopen {
            new_master: "db2".into(),
        };
        // the record says so
        assert_eq!(recover(&promoted_record(), &s), reopen);
        // its last write was lost, but db3 follows db2: only a promotion repoints
        assert_eq!(recover(&failover_record(Some("db2")), &s), reopen);
        // a switchover is finished, never undone: db2's writes are not on db1
        let mut switch = promoted_record();
        switch.kind = Kind::Switchover;
        assert_eq!(recover(&switch, &s), reopen);
    }

    #[test]
    fn a_promoted_candidate_is_not_reopened_beside_a_writable_node_or_behind_one() {
        let restarted = |s: &mut crate::topology::NodeState| {
            s.replica = None;
            s.executed = gtids("0-2-101");
        };
        let db3 = |got: &str| {
            replica("db3", replica_of("db1"))
                .received(got)
                .with(|s| s.server_id = 3)
        };
        // db1 takes writes: a second writable node would split the cluster
        let s = snapshot(vec![
            master("db1"),
            replica("db2", replica_of("db1")).with(restarted),
            db3("0-2-101"),
        ]);
        assert!(
            matches!(recover(&promoted_record(), &s), Recovery::Abandon { why } if why.contains("db1 takes writes"))
        );
        // db2 lost its binlog's tail in the restart: db3 has a transaction it lacks
        let s = snapshot(vec![
            master("db1").with(|s| s.read_only = true),
            replica("db2", replica_of("db1")).with(restarted),
            db3("0-2-102"),
        ]);
        assert!(
            matches!(recover(&promoted_record(), &s), Recovery::Abandon { why } if why.contains("db3 has 0-2-102"))
        );
        // the old master's own writes past the failover are not the cluster's
        let s = snapshot(vec![
            master("db1").with(|s| {
                s.read_only = true;
                s.executed = gtids("0-1-150");
            }),
            replica("db2", replica_of("db1")).with(restarted),
            db3("0-2-101"),
        ]);
        assert!(matches!(recover(&promoted_record(), &s), Recovery::Reopen { .. }));
    }
}

//! A failover another manager left unfinished (it died, or lost the lead, between two
//! steps): what the new leader does about it. Never a second promotion for the same
//! failure — the live topology, not the record, says whether the promotion happened,
//! because the record's last write may have been lost with its manager.

use crate::failover::FailoverRecord;
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
    /// The promotion never happened: nothing irreversible was done. Close the record as
    /// failed; the normal decision runs a fresh failover if the master is still dead.
    Abandon {
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
        Some(Ok(st)) if !st.read_only => Recovery::Complete {
            new_master: planned.to_string(),
        },
        Some(Ok(_)) => Recovery::Abandon {
            why: format!("{planned} is still read-only: the failover stopped before its promotion"),
        },
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
}

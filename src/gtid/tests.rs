//! Property tests of the GTID algebra against brute-force models, plus recorded server text.

use super::*;
use proptest::prelude::*;
use std::collections::{BTreeMap, BTreeSet};

const UUIDS: [&str; 3] = [
    "3e11fa47-71ca-11e1-9e33-c80aa9429562",
    "8a94f357-aab4-11df-86ab-c80aa9429562",
    "b9ff8b1a-04ab-11ef-9d55-0242ac110002",
];
const TAGS: [&str; 3] = ["", "domain_1", "batch"];

fn mariadb() -> impl Strategy<Value = MariaDbGtids> {
    prop::collection::vec((0u32..3, 1u32..4, 1u64..60), 0..6).prop_map(|v| {
        let mut g = MariaDbGtids::default();
        for (d, s, q) in v {
            g.insert(d, s, q);
        }
        g
    })
}

fn mysql() -> impl Strategy<Value = MySqlGtidSet> {
    prop::collection::vec((0usize..3, 0usize..3, 1u64..80, 0u64..15), 0..6).prop_map(|v| {
        let mut g = MySqlGtidSet::default();
        for (u, t, a, len) in v {
            g.add_interval(UUIDS[u], TAGS[t], a, a + len);
        }
        g
    })
}

/// Brute-force model of a MySQL set: every (uuid, tag, n).
fn model(g: &MySqlGtidSet) -> BTreeSet<(String, String, u64)> {
    // Re-parse the text form so the model is built independently of the interval code.
    let mut out = BTreeSet::new();
    for group in g.to_string().split(',').filter(|s| !s.is_empty()) {
        let mut parts = group.split(':');
        let uuid = parts.next().unwrap_or_default().to_string();
        let mut tag = String::new();
        for p in parts {
            if p.chars().next().is_some_and(|c| c.is_ascii_digit()) {
                let (a, b) = p.split_once('-').unwrap_or((p, p));
                for n in a.parse::<u64>().unwrap_or(0)..=b.parse::<u64>().unwrap_or(0) {
                    out.insert((uuid.clone(), tag.clone(), n));
                }
            } else {
                tag = p.to_string();
            }
        }
    }
    out
}

/// Brute-force model of a MariaDB list's reach: domain -> highest seq.
fn reach(g: &MariaDbGtids) -> BTreeMap<u32, u64> {
    let mut out = BTreeMap::new();
    for (d, _, q) in g.iter() {
        let e = out.entry(d).or_insert(q);
        *e = (*e).max(q);
    }
    out
}

proptest! {
    #[test]
    fn mariadb_text_round_trips(a in mariadb()) {
        prop_assert_eq!(MariaDbGtids::parse(&a.to_string()).unwrap(), a);
    }

    #[test]
    fn mysql_text_round_trips(a in mysql()) {
        prop_assert_eq!(MySqlGtidSet::parse(&a.to_string()).unwrap(), a);
    }

    #[test]
    fn mariadb_union_is_a_join(a in mariadb(), b in mariadb(), c in mariadb()) {
        prop_assert_eq!(a.union(&b), b.union(&a));
        prop_assert_eq!(a.union(&b).union(&c), a.union(&b.union(&c)));
        prop_assert_eq!(a.union(&a), a.clone());
        prop_assert!(a.union(&b).contains(&a) && a.union(&b).contains(&b));
    }

    #[test]
    fn mariadb_contains_matches_model(a in mariadb(), b in mariadb()) {
        let (ra, rb) = (reach(&a), reach(&b));
        let model = rb.iter().all(|(d, q)| ra.get(d).is_some_and(|x| x >= q));
        prop_assert_eq!(a.contains(&b), model);
    }

    #[test]
    fn mariadb_contains_is_a_preorder(a in mariadb(), b in mariadb(), c in mariadb()) {
        prop_assert!(a.contains(&a));
        if a.contains(&b) && b.contains(&c) {
            prop_assert!(a.contains(&c));
        }
    }

    #[test]
    fn mariadb_errant(a in mariadb(), b in mariadb()) {
        // nothing is errant against a state that includes it
        prop_assert!(a.errant_vs(&a.union(&b)).is_empty());
        // every errant entry is one the master has not reached for that server
        for (d, s, q) in a.errant_vs(&b).iter() {
            prop_assert!(!b.iter().any(|(bd, bs, bq)| bd == d && bs == s && bq >= q));
        }
        // and every entry not reported is covered
        let errant = a.errant_vs(&b);
        for (d, s, q) in a.iter() {
            if !errant.iter().any(|(ed, es, _)| ed == d && es == s) {
                prop_assert!(b.iter().any(|(bd, bs, bq)| bd == d && bs == s && bq >= q));
            }
        }
    }

    #[test]
    fn mariadb_beyond_is_what_a_node_at_the_other_position_lacks(a in mariadb(), b in mariadb()) {
        let missing = a.beyond(&b);
        // empty exactly when b reaches everything a does
        prop_assert_eq!(missing.is_empty(), b.contains(&a));
        // b plus what it lacks reaches a
        prop_assert!(b.union(&missing).contains(&a));
        // every entry named is one b has not reached in its domain
        let rb = reach(&b);
        for (d, _, q) in missing.iter() {
            prop_assert!(rb.get(&d).is_none_or(|&x| x < q));
        }
    }

    #[test]
    fn mysql_ops_match_model(a in mysql(), b in mysql()) {
        let (ma, mb) = (model(&a), model(&b));
        prop_assert_eq!(model(&a.union(&b)), ma.union(&mb).cloned().collect::<BTreeSet<_>>());
        prop_assert_eq!(model(&a.subtract(&b)), ma.difference(&mb).cloned().collect::<BTreeSet<_>>());
        prop_assert_eq!(a.contains(&b), mb.is_subset(&ma));
        prop_assert_eq!(a.count(), ma.len() as u128);
    }

    #[test]
    fn mysql_errant_is_what_the_master_lacks(replica in mysql(), master in mysql()) {
        let errant = replica.errant_vs(&master);
        prop_assert!(replica.contains(&errant));
        prop_assert!(master.subtract(&errant) == master);
        prop_assert!(replica.errant_vs(&master.union(&replica)).is_empty());
        prop_assert_eq!(master.union(&errant), master.union(&replica));
    }

    #[test]
    fn compare_is_antisymmetric(a in mysql(), b in mysql()) {
        let (a, b) = (Gtids::MySql(a), Gtids::MySql(b));
        prop_assert_eq!(a.compare(&b).map(std::cmp::Ordering::reverse), b.compare(&a));
        if a.is_ahead_of(&b) {
            prop_assert!(!b.is_ahead_of(&a) && a.weight() > b.weight());
        }
    }

    #[test]
    fn mariadb_ahead_means_heavier(a in mariadb(), b in mariadb()) {
        let (a, b) = (Gtids::MariaDb(a), Gtids::MariaDb(b));
        if a.is_ahead_of(&b) {
            prop_assert!(a.weight() > b.weight());
        }
    }
}

#[test]
fn mysql_reference_manual_examples() {
    // MySQL 8.0 reference manual, "GTID Format and Storage"
    let s = MySqlGtidSet::parse("3E11FA47-71CA-11E1-9E33-C80AA9429562:1-3:11:47-49").unwrap();
    assert_eq!(s.to_string(), "3e11fa47-71ca-11e1-9e33-c80aa9429562:1-3:11:47-49");
    assert_eq!(s.count(), 7);
    // gtid_executed as SELECT prints it: groups separated by ",\n"
    let two =
        MySqlGtidSet::parse("2174b383-5441-11e8-b90a-c80aa9429562:1-3,\n24da1677-0c0c-11e8-8442-00059a3c7b00:1-19")
            .unwrap();
    assert_eq!(two.count(), 22);
    // MySQL 8.4 tagged GTIDs
    let tagged = MySqlGtidSet::parse("3E11FA47-71CA-11E1-9E33-C80AA9429562:1-5:Domain_1:1-3:11").unwrap();
    assert_eq!(
        tagged.to_string(),
        "3e11fa47-71ca-11e1-9e33-c80aa9429562:1-5:domain_1:1-3:11"
    );
    assert_eq!(tagged.count(), 9);
    assert!(MySqlGtidSet::parse("").unwrap().is_empty());
}

#[test]
fn bad_gtid_text_is_rejected_with_the_offending_part() {
    for bad in [
        "3e11fa47:1-5",
        "3e11fa47-71ca-11e1-9e33-c80aa9429562",
        "3e11fa47-71ca-11e1-9e33-c80aa9429562:5-2",
        "3e11fa47-71ca-11e1-9e33-c80aa9429562:0",
        "3e11fa47-71ca-11e1-9e33-c80aa9429562:1-x",
        "3e11fa47-71ca-11e1-9e33-c80aa9429562:9tag:1",
    ] {
        let e = MySqlGtidSet::parse(bad).unwrap_err();
        assert!(e.to_string().contains("invalid MySQL GTID set"), "{bad}: {e}");
    }
    for bad in ["0-1", "0-1-2-3", "a-1-2", "0-1--2", "0-1-2,x"] {
        let e = MariaDbGtids::parse(bad).unwrap_err();
        assert!(e.to_string().contains("invalid MariaDB GTID"), "{bad}: {e}");
    }
}

#[test]
fn mariadb_positions_of_a_failed_over_cluster() {
    // db1 was master (server 1) up to 0-1-100; db2 took over and wrote 0-2-101..0-2-120.
    let db2_state = MariaDbGtids::parse("0-1-100,0-2-120").unwrap();
    let old_master_state = MariaDbGtids::parse("0-1-100").unwrap();
    assert!(db2_state.contains(&old_master_state));
    assert!(old_master_state.errant_vs(&db2_state).is_empty());
    // the old master took one more write while isolated: 0-1-101 is errant (diverged)
    let diverged = MariaDbGtids::parse("0-1-101").unwrap();
    assert_eq!(diverged.errant_vs(&db2_state).to_string(), "0-1-101");
    // as positions (one entry per domain) db2's 0-2-120 reaches past 0-1-101
    let db2_pos = MariaDbGtids::parse("0-2-120").unwrap();
    assert!(db2_pos.contains(&diverged));
}

//! decide(): each branch, with the sentence it says.

use super::decide::*;
use crate::config::{ClusterConfig, Timing};
use crate::detect::History;
use crate::flavor::StartFrom;
use crate::model::{Block, SemiSyncPolicy, SharedState, VipState};
use crate::testkit::*;
use crate::topology::{IoThread, Snapshot};
use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

struct World {
    cluster: ClusterConfig,
    history: Vec<Snapshot>,
    shared: SharedState,
    vip: Option<VipState>,
    now_ms: u64,
    policy: Option<SemiSyncPolicy>,
}

impl World {
    fn new(rounds: Vec<Vec<N>>) -> Self {
        World {
            cluster: cluster(&["db1", "db2", "db3"]),
            history: history(rounds),
            shared: SharedState {
                master: Some("db1".into()),
                epoch: 1,
                ..SharedState::default()
            },
            vip: None,
            now_ms: 1_000_000,
            policy: Some(SemiSyncPolicy {
                timeout: Duration::from_secs(3600),
            }),
        }
    }

    fn decide(&self) -> Decision {
        let timing = Timing::default();
        let record = self.shared.master.as_deref();
        let mut h = History::new(&timing);
        for s in &self.history {
            h.push(Arc::new(s.clone()), record);
        }
        let d = h.diagnose(&timing, record).unwrap();
        decide(&Situation {
            cluster: &self.cluster,
            snapshot: self.history.last().unwrap(),
            diagnosis: &d,
            shared: &self.shared,
            now_ms: self.now_ms,
            vip: self.vip.as_ref(),
            errant: &BTreeSet::new(),
            acked: h.acknowledged(),
            policy: self.policy,
        })
    }
}

/// A replica of db1 whose receiver keeps reconnecting: it lost db1.
fn connecting(n: &str) -> N {
    replica(n, replica_of("db1")).io(IoThread::Connecting)
}

fn dead_master() -> World {
    World::new(vec![
        vec![
            master("db1"),
            replica("db2", replica_of("db1")),
            replica("db3", replica_of("db1")),
        ],
        vec![down("db1"), connecting("db2"), connecting("db3")],
        vec![down("db1"), connecting("db2"), connecting("db3")],
    ])
}

fn healthy(db2: N, db3: N) -> World {
    World::new(vec![
        vec![master("db1"), db2.clone(), db3.clone()],
        vec![master("db1"), db2, db3],
    ])
}

#[test]
fn a_dead_master_is_failed_over() {
    let d = dead_master().decide();
    assert!(
        matches!(&d, Decision::Failover { candidates, .. } if candidates.chosen.as_deref() == Some("db2")),
        "{d}"
    );
    assert!(d.acts());
    assert!(
        d.to_string()
            .ends_with("; failing over: promoting db2 (received 0-1-100, priority 0)"),
        "{d}"
    );
}

#[test]
fn the_anti_flap_block_stops_a_second_automatic_failover() {
    let mut w = dead_master();
    w.shared.block = Some(Block {
        until_ms: w.now_ms + 60_000,
        until: "2026-11-22T09:00:00Z".into(),
        failover: "c1-f1".into(),
        master: Some("db1".into()),
        armed: true,
        arms_at_ms: 0,
    });
    let d = w.decide();
    assert!(!d.acts());
    assert!(
        d.to_string().ends_with(
            "; automatic failover blocked until 2026-11-22T09:00:00Z after failover c1-f1 (anti-flapping): clear with `myha ack`, or fail over by hand"
        ),
        "{d}"
    );
    // an expired block does not
    w.now_ms += 120_000;
    assert!(matches!(w.decide(), Decision::Failover { .. }));
}

#[test]
fn paused_automation_does_not_act() {
    let mut w = dead_master();
    w.shared.paused = true;
    let d = w.decide();
    assert!(matches!(d, Decision::Paused { .. }) && !d.acts(), "{d}");
}

#[test]
fn no_candidate_is_said_not_hidden() {
    let mut w = dead_master();
    w.cluster.nodes[1].no_promote = true;
    w.cluster.nodes[2].no_promote = true;
    let d = w.decide();
    assert!(matches!(d, Decision::NoCandidate { .. }) && !d.acts(), "{d}");
    assert!(
        d.to_string()
            .contains("cannot fail over: no node can be promoted; not eligible: db2 (no_promote), db3 (no_promote)"),
        "{d}"
    );
}

#[test]
fn a_returning_writable_old_master_is_fenced() {
    let mut w = World::new(vec![vec![
        master("db1"),
        master("db2"),
        replica("db3", replica_of("db2")),
    ]]);
    w.shared.master = Some("db2".into());
    assert_eq!(
        w.decide(),
        Decision::Fence {
            node: "db1".into(),
            master: "db2".into()
        }
    );
    // without a master of record nobody can tell which one to fence
    w.shared.master = None;
    assert!(w
        .decide()
        .to_string()
        .contains("no master of record among them: resolve by hand"));
}

#[test]
fn a_returning_old_master_with_a_subset_rejoins_from_its_own_position() {
    let old = master("db1").with(|s| {
        s.read_only = true;
        s.binlog_state = gtids("0-1-100");
    });
    let new = master("db2").with(|s| s.binlog_state = gtids("0-1-100,0-2-120"));
    let mut w = World::new(vec![
        vec![old.clone(), new.clone(), replica("db3", replica_of("db2"))];
        2
    ]);
    w.shared.master = Some("db2".into());
    let d = w.decide();
    assert_eq!(
        d,
        Decision::Rejoin {
            node: "db1".into(),
            master: "db2".into(),
            from: StartFrom::OwnPosition
        }
    );
    assert_eq!(
        d.to_string(),
        "rejoining db1 as a replica of db2: its transactions are a subset of db2's (resuming from its own binlog position)"
    );
}

#[test]
fn a_diverged_old_master_needs_a_rebuild_and_is_never_rejoined() {
    let old = master("db1").with(|s| {
        s.read_only = true;
        s.binlog_state = gtids("0-1-101");
    });
    let new = master("db2").with(|s| s.binlog_state = gtids("0-1-100,0-2-120"));
    let mut w = World::new(vec![vec![old, new, replica("db3", replica_of("db2"))]; 2]);
    w.shared.master = Some("db2".into());
    let d = w.decide();
    assert_eq!(
        d,
        Decision::NeedsRebuild {
            node: "db1".into(),
            errant: "0-1-101".into()
        }
    );
    // once marked, it is left alone
    w.shared
        .needs_rebuild
        .insert("db1".into(), "errant transactions 0-1-101".into());
    assert!(matches!(w.decide(), Decision::Nothing { .. }));
}

#[test]
fn a_rebuilt_node_is_unmarked() {
    let mut w = healthy(replica("db2", replica_of("db1")), replica("db3", replica_of("db1")));
    w.shared.needs_rebuild.insert("db3".into(), "errant".into());
    assert_eq!(w.decide(), Decision::Rebuilt { node: "db3".into() });
}

#[test]
fn a_vip_route_elsewhere_is_moved_to_the_master() {
    let mut w = healthy(replica("db2", replica_of("db1")), replica("db3", replica_of("db1")));
    let parts = |b: &str| {
        [("rtb-a", Some("db1")), ("rtb-b", Some(b))]
            .map(|(t, n)| (t.to_string(), n.map(str::to_string)))
            .into()
    };
    w.vip = Some(VipState::from_parts(parts("db2"), serde_json::Value::Null));
    let d = w.decide();
    assert_eq!(
        d,
        Decision::MoveVip {
            master: "db1".into(),
            wrong: vec!["rtb-b".into()]
        }
    );
    assert_eq!(
        d.to_string(),
        "the VIP does not lead to master db1 (rtb-b): pointing it at db1"
    );
    w.vip = Some(VipState::from_parts(parts("db1"), serde_json::Value::Null));
    assert_eq!(
        w.decide(),
        Decision::Nothing {
            why: "healthy: master db1 writable, 2/2 replicas replicating".into()
        }
    );
}

#[test]
fn an_observed_new_master_is_adopted() {
    let mut w = healthy(replica("db2", replica_of("db1")), replica("db3", replica_of("db1")));
    w.shared.master = Some("db3".into());
    assert_eq!(
        w.decide(),
        Decision::Adopt {
            master: "db1".into(),
            previous: Some("db3".into())
        }
    );
}

#[test]
fn a_cut_off_manager_does_nothing() {
    let rounds = (0..12)
        .map(|i| {
            vec![
                if i == 0 { master("db1") } else { hung("db1") },
                replica("db2", replica_of("db1")).heartbeats(10 + i / 4),
                replica("db3", replica_of("db1")).heartbeats(10 + i / 4),
            ]
        })
        .collect();
    let d = World::new(rounds).decide();
    assert!(
        !d.acts()
            && d.to_string()
                .starts_with("nothing to do: master db1 unreachable from this manager"),
        "{d}"
    );
}

/// Defect 1 (simulation issue): after a failover db1 → db2, db1 comes back writable (thawed,
/// healed) in a round where db2's probe fails once. One snapshot shows one writable node —
/// db1 — but db2 is the master of record and every write acknowledged since the failover is
/// on it: db1 must be fenced, never adopted.
#[test]
fn a_stale_writable_old_master_is_never_adopted_on_one_snapshot() {
    let after_failover = |db1: N, db2: N| {
        vec![
            db1,
            db2,
            replica("db3", replica_of("db2")).with(|s| s.executed = gtids("0-1-100,0-2-150")),
        ]
    };
    let new_master = || master("db2").with(|s| s.executed = gtids("0-1-100,0-2-150"));
    let thawed = || master("db1").with(|s| s.binlog_state = gtids("0-1-101"));
    let mut w = World::new(vec![
        after_failover(hung("db1"), new_master()),
        after_failover(hung("db1"), new_master()),
        after_failover(thawed(), hung("db2")),
    ]);
    w.shared.master = Some("db2".into());
    w.shared.epoch = 2;
    let d = w.decide();
    assert_eq!(
        d,
        Decision::Fence {
            node: "db1".into(),
            master: "db2".into()
        },
        "{d}"
    );
}

/// The master of record db1 answers read-only while db2 — the only writable node — has
/// everything db1 wrote (a DBA moved the master): adopted, but only after several rounds.
#[test]
fn a_moved_master_is_adopted_only_after_several_rounds() {
    let moved = || {
        vec![
            master("db1").with(|s| s.read_only = true),
            master("db2").with(|s| s.binlog_state = gtids("0-1-100,0-2-5")),
            replica("db3", replica_of("db2")),
        ]
    };
    let before = vec![
        master("db1"),
        replica("db2", replica_of("db1")),
        replica("db3", replica_of("db1")),
    ];
    let w = World::new(vec![before.clone(), moved()]);
    let d = w.decide();
    assert!(matches!(d, Decision::Nothing { .. }), "{d}");
    assert!(
        d.to_string().contains("(1/2 rounds): the master was moved to db2"),
        "{d}"
    );
    let w = World::new(vec![before, moved(), moved()]);
    assert_eq!(
        w.decide(),
        Decision::Adopt {
            master: "db2".into(),
            previous: Some("db1".into())
        }
    );
}

/// A writable node that lacks writes of the (read-only) master of record is a stale master,
/// never the new one: it is fenced, however long it stays so.
#[test]
fn a_writable_node_missing_the_records_writes_is_fenced_not_adopted() {
    let round = || {
        vec![
            master("db1").with(|s| {
                s.read_only = true;
                s.binlog_state = gtids("0-1-120");
            }),
            master("db2").with(|s| s.binlog_state = gtids("0-1-100,0-2-5")),
            replica("db3", replica_of("db1")),
        ]
    };
    let w = World::new(vec![round(), round(), round(), round()]);
    assert_eq!(
        w.decide(),
        Decision::Fence {
            node: "db2".into(),
            master: "db1".into()
        }
    );
}

/// Only the leader's view of the master of record is cut off (it is unreachable from this
/// manager, db3 still replicates from it) while the old master returns writable: fence the
/// old master; do not fail over, do not adopt.
#[test]
fn a_returning_old_master_is_fenced_while_the_record_is_only_unreachable() {
    let rounds = (0..12)
        .map(|i| {
            vec![
                master("db1").with(|s| s.binlog_state = gtids("0-1-101")),
                hung("db2"),
                replica("db3", replica_of("db2")).heartbeats(10 + i / 4),
            ]
        })
        .collect();
    let mut w = World::new(rounds);
    w.shared.master = Some("db2".into());
    let d = w.decide();
    assert_eq!(
        d,
        Decision::Fence {
            node: "db1".into(),
            master: "db2".into()
        },
        "{d}"
    );
}

/// Defect 3 (simulation issue): the master is cut off from both replicas while the managers
/// still reach it; once its semi-sync gives up it acknowledges writes alone — the managers
/// see it executing far beyond what any replica received, with semi-sync off. Then it dies.
/// Promoting a replica now would lose every write it acknowledged alone: refused, with the
/// missing transactions named, instead of failed over at once.
#[test]
fn a_failover_that_loses_acknowledged_writes_is_refused() {
    let lost = |n: &str| replica(n, replica_of("db1")).io(IoThread::Connecting);
    let alone = |seq: u64| {
        master("db1").with(move |s| {
            s.executed = gtids(&format!("0-1-{seq}"));
            s.semi_sync.master_active = false;
            s.semi_sync.master_clients = 0;
        })
    };
    let w = World::new(vec![
        vec![
            master("db1"),
            replica("db2", replica_of("db1")),
            replica("db3", replica_of("db1")),
        ],
        vec![alone(4000), lost("db2"), lost("db3")],
        vec![alone(12758), lost("db2"), lost("db3")],
        vec![down("db1"), lost("db2"), lost("db3")],
        vec![down("db1"), lost("db2"), lost("db3")],
    ]);
    let d = w.decide();
    assert!(!matches!(d, Decision::Failover { .. }), "{d}");
    assert!(matches!(d, Decision::WouldLose { .. }) && !d.acts(), "{d}");
    assert!(
        d.to_string().contains("would lose 0-1-12758")
            && d.to_string().contains("db1 acknowledged 0-1-12758 without a replica"),
        "{d}"
    );
    // with the policy off it fails over as before
    let mut w = w;
    w.policy = None;
    assert!(matches!(w.decide(), Decision::Failover { .. }));
}

/// A master promoted alone (`failover.alone = "async"`) acknowledges commits without a
/// replica; a replica rejoined it but had not received everything when it died — what it
/// acknowledged after its last probe is on no other node, and no probe says how much
/// (schedule 5600 lost 8 such writes). The failover waits for it; once the policy is back
/// on it (a replica acknowledges), the master is failed over as usual.
#[test]
fn a_master_last_seen_acknowledging_alone_is_not_failed_over() {
    let alone = |s: &mut crate::topology::NodeState| {
        s.semi_sync.master_enabled = false;
        s.semi_sync.master_active = false;
    };
    let lost = |n: &str| replica(n, replica_of("db1")).io(IoThread::Connecting);
    let dead = vec![down("db1"), lost("db2"), down("db3")];
    let w = World::new(vec![
        vec![
            master("db1").with(alone),
            replica("db2", replica_of("db1")),
            down("db3"),
        ],
        dead.clone(),
        dead.clone(),
    ]);
    let d = w.decide();
    assert!(matches!(d, Decision::WouldLose { .. }) && !d.acts(), "{d}");
    assert!(
        d.to_string().contains("db1 was last seen")
            && d.to_string().contains("acknowledging commits without a replica"),
        "{d}"
    );
    // protected at its last sighting: nothing it acknowledged is beyond db2's reach
    let w = World::new(vec![
        vec![
            master("db1").with(alone),
            replica("db2", replica_of("db1")),
            down("db3"),
        ],
        vec![master("db1"), replica("db2", replica_of("db1")), down("db3")],
        dead.clone(),
        dead,
    ]);
    assert!(matches!(w.decide(), Decision::Failover { .. }), "{}", w.decide());
}

/// What a replica received may have been acknowledged (semi-sync acknowledges once one
/// replica has it): with that replica unreachable when the master dies, promoting the other
/// loses it — unless it can catch up from a donor that has it.
#[test]
fn a_failover_waits_for_an_unreachable_replica_that_received_more() {
    let lost = |n: &str, g: &str| replica(n, replica_of("db1")).io(IoThread::Connecting).received(g);
    let w = World::new(vec![
        vec![
            master("db1"),
            replica("db2", replica_of("db1")).received("0-1-100"),
            replica("db3", replica_of("db1")).received("0-1-120"),
        ],
        vec![down("db1"), lost("db2", "0-1-100"), hung("db3")],
        vec![down("db1"), lost("db2", "0-1-100"), hung("db3")],
    ]);
    let d = w.decide();
    assert!(
        matches!(&d, Decision::WouldLose { loss, .. } if loss.missing == "0-1-120" && loss.sources == ["db3 received 0-1-120"]),
        "{d}"
    );
}

/// Under the lossless policy a master whose semi-sync could acknowledge alone is set right —
/// but semi-sync is never switched on where no replica could acknowledge (every commit would
/// stall).
#[test]
fn a_masters_semi_sync_is_set_to_the_policy() {
    let short = |s: &mut crate::topology::NodeState| s.semi_sync.master_timeout_ms = Some(10_000);
    let round = vec![
        master("db1").with(short),
        replica("db2", replica_of("db1")),
        replica("db3", replica_of("db1")),
    ];
    let mut w = World::new(vec![round.clone(), round]);
    let d = w.decide();
    assert!(
        matches!(&d, Decision::SemiSync { master, shortfalls, .. } if master == "db1" && shortfalls == &["timeout 10000 ms (policy 3600000 ms)"]),
        "{d}"
    );
    // semi-sync off and no replica to acknowledge: left alone
    let off = |s: &mut crate::topology::NodeState| {
        s.semi_sync.master_enabled = false;
        s.semi_sync.master_active = false;
    };
    let lost = |n: &str| replica(n, replica_of("db1")).io(IoThread::Connecting);
    w.history = history(vec![vec![master("db1").with(off), lost("db2"), lost("db3")]; 2]);
    assert!(matches!(w.decide(), Decision::Nothing { .. }));
    // a master promoted alone with semi-sync off (`failover.alone = "async"`): the policy
    // is set again as soon as a semi-sync replica replicates from it
    w.history = history(vec![
        vec![
            master("db1").with(off),
            replica("db2", replica_of("db1")),
            lost("db3")
        ];
        2
    ]);
    assert!(
        matches!(&w.decide(), Decision::SemiSync { master, shortfalls, .. } if master == "db1" && shortfalls.iter().any(|s| s == "master side disabled")),
        "{}",
        w.decide()
    );
}

fn block(armed: bool, arms_at_ms: u64) -> Block {
    Block {
        until_ms: 2_000_000,
        until: "2026-11-22T09:00:00Z".into(),
        failover: "c1-f1".into(),
        master: Some("db1".into()),
        armed,
        arms_at_ms,
    }
}

fn vip_at(node: &str) -> VipState {
    let parts = [("rtb-a".to_string(), Some(node.to_string()))].into();
    VipState::from_parts(parts, serde_json::Value::Null)
}

#[test]
fn a_failover_whose_master_never_served_blocks_nothing() {
    // db1 was promoted by c1-f1 and died before it served
    let mut w = dead_master();
    w.shared.block = Some(block(false, w.now_ms - 1));
    assert!(matches!(w.decide(), Decision::Failover { .. }), "{}", w.decide());
}

#[test]
fn the_block_is_armed_once_its_master_served() {
    let mut w = healthy(replica("db2", replica_of("db1")), replica("db3", replica_of("db1")));
    w.shared.block = Some(block(false, w.now_ms + 1));
    w.vip = Some(vip_at("db1"));
    // too early: not yet served
    assert!(matches!(w.decide(), Decision::Nothing { .. }), "{}", w.decide());
    w.now_ms += 1;
    // the VIP elsewhere: moved first, not served yet
    w.vip = Some(vip_at("db2"));
    assert!(matches!(w.decide(), Decision::MoveVip { .. }), "{}", w.decide());
    // the VIP not known: not served
    w.vip = None;
    assert!(matches!(w.decide(), Decision::Nothing { .. }), "{}", w.decide());
    w.vip = Some(vip_at("db1"));
    let d = w.decide();
    assert_eq!(
        d,
        Decision::Served {
            master: "db1".into(),
            failover: "c1-f1".into()
        }
    );
    assert_eq!(
        d.to_string(),
        "db1, promoted by failover c1-f1, served: the anti-flap block holds from now"
    );
    w.shared.block = Some(block(true, w.now_ms));
    assert!(matches!(w.decide(), Decision::Nothing { .. }), "{}", w.decide());
}

#[test]
fn the_vip_is_repaired_before_a_replica_is_rejoined() {
    let stopped = replica("db2", replica_of("db1")).io(IoThread::No);
    let mut w = healthy(stopped, replica("db3", replica_of("db1")));
    assert!(matches!(w.decide(), Decision::Rejoin { .. }), "{}", w.decide());
    w.vip = Some(vip_at("db3"));
    assert!(matches!(w.decide(), Decision::MoveVip { .. }), "{}", w.decide());
}

fn read_only_master(db1: N, rounds: usize) -> World {
    World::new(vec![vec![db1, connecting("db2"), connecting("db3")]; rounds])
}

fn restarted(name: &str) -> N {
    master(name).with(|s| s.read_only = true)
}

#[test]
fn a_read_only_master_of_record_is_made_writable_again() {
    let w = read_only_master(restarted("db1"), 1);
    assert!(
        matches!(w.decide(), Decision::Nothing { .. }),
        "one round is not enough: {}",
        w.decide()
    );
    let w = read_only_master(restarted("db1"), 2);
    let d = w.decide();
    assert_eq!(
        d,
        Decision::Reopen {
            master: "db1".into(),
            policy: w.policy
        }
    );
    assert_eq!(
        d.to_string(),
        "master of record db1 is read-only, no node takes writes and none has a transaction db1 lacks: making it writable"
    );
    let mut paused = read_only_master(restarted("db1"), 2);
    paused.shared.paused = true;
    assert!(
        matches!(paused.decide(), Decision::Paused { .. }),
        "{}",
        paused.decide()
    );
    // not the master of record: nothing to reopen
    let mut other = read_only_master(restarted("db1"), 2);
    other.shared.master = Some("db2".into());
    assert!(!other.decide().acts(), "{}", other.decide());
}

#[test]
fn a_read_only_master_that_lacks_a_replicas_transactions_stays_read_only() {
    // it lost its binlog's tail in a crash that db2 had received
    let ahead = connecting("db2").received("0-1-103");
    let mut w = World::new(vec![vec![restarted("db1"), ahead, connecting("db3")]; 2]);
    let d = w.decide();
    assert!(!d.acts(), "{d}");
    assert!(
        d.to_string().ends_with(
            "; not making db1 writable, it lacks transactions (db2 has 0-1-103; 0-1-103 may have been acknowledged): fail over by hand to the node that has them"
        ),
        "{d}"
    );
    // a node marked for rebuild does not count (the lossless policy off: under it, what db2
    // received may have been acknowledged whatever db2 is)
    w.shared.needs_rebuild.insert("db2".into(), "errant".into());
    assert!(!w.decide().acts(), "{}", w.decide());
    w.policy = None;
    assert!(matches!(w.decide(), Decision::Reopen { .. }), "{}", w.decide());
}

#[test]
fn a_diverged_replica_whose_receiver_stopped_is_marked_for_rebuild() {
    let diverged = replica("db3", replica_of("db1")).io(IoThread::No).with(|s| {
        s.replica.as_mut().unwrap().last_io_error =
            Some("Got fatal error 1236 from master: the replica's position is not in its binlog".into())
    });
    let mut w = healthy(replica("db2", replica_of("db1")), diverged);
    let d = w.decide();
    assert_eq!(
        d,
        Decision::Broken {
            node: "db3".into(),
            error: "Got fatal error 1236 from master: the replica's position is not in its binlog".into()
        }
    );
    assert!(d.acts());
    // once marked, it is left alone
    w.shared
        .needs_rebuild
        .insert("db3".into(), "replication stopped".into());
    assert!(!w.decide().acts(), "{}", w.decide());
}

#[test]
fn a_replica_whose_applier_stopped_on_an_error_is_marked_but_a_reconnecting_one_is_not() {
    let applier = replica("db3", replica_of("db1")).with(|s| {
        let r = s.replica.as_mut().unwrap();
        r.sql_running = false;
        r.last_sql_error = Some("Duplicate entry '7' for key 'PRIMARY'".into());
    });
    let w = healthy(replica("db2", replica_of("db1")), applier);
    assert!(matches!(w.decide(), Decision::Broken { .. }), "{}", w.decide());
    let reconnecting = replica("db3", replica_of("db1"))
        .io(IoThread::Connecting)
        .with(|s| s.replica.as_mut().unwrap().last_io_error = Some("error reconnecting to master".into()));
    let w = healthy(replica("db2", replica_of("db1")), reconnecting);
    assert!(!w.decide().acts(), "{}", w.decide());
}

#[test]
fn a_replica_with_errant_transactions_is_marked_for_rebuild() {
    // its own write, seen while the master is up; its receiver still runs
    let errant = replica("db3", replica_of("db1")).with(|s| s.binlog_state = gtids("0-1-100,0-3-7"));
    let w = healthy(replica("db2", replica_of("db1")), errant);
    assert_eq!(
        w.decide(),
        Decision::NeedsRebuild {
            node: "db3".into(),
            errant: "0-3-7".into()
        }
    );
}

#[test]
fn paused_automation_fences_rejoins_and_repairs_nothing() {
    let stopped = replica("db2", replica_of("db1")).io(IoThread::No);
    let mut w = healthy(stopped, replica("db3", replica_of("db1")));
    w.vip = Some(vip_at("db3"));
    w.shared.paused = true;
    let d = w.decide();
    assert!(!d.acts(), "{d}");
    assert!(
        d.to_string().starts_with(
            "the VIP does not lead to master db1 (rtb-a): pointing it at db1; automation is paused: not acting"
        ),
        "{d}"
    );
    let w = read_only_master(restarted("db1"), 2);
    let mut w = w;
    w.shared.paused = true;
    assert!(!w.decide().acts(), "{}", w.decide());
}

#[test]
fn paused_automation_still_fences_a_stale_writable_node() {
    let mut w = World::new(vec![
        vec![
            master("db1"),
            master("db2").with(|s| s.binlog_state = gtids("0-1-90")),
            replica("db3", replica_of("db1"))
        ];
        2
    ]);
    w.shared.paused = true;
    assert!(matches!(w.decide(), Decision::Fence { .. }), "{}", w.decide());
}

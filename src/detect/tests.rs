//! Table-driven detector tests: each scenario is a short history of snapshots built with the
//! fixture builders below, and the expected state plus sentence.

use super::*;
use crate::testkit::*;

fn run(rounds: Vec<Vec<N>>) -> Diagnosis {
    let h = history(rounds);
    let refs: Vec<&Snapshot> = h.iter().collect();
    diagnose(&refs, &Timing::default(), None).unwrap()
}

fn healthy_round(hb: u64) -> Vec<N> {
    vec![
        master("db1"),
        replica("db2", replica_of("db1")).heartbeats(hb),
        replica("db3", replica_of("db1")).heartbeats(hb),
    ]
}

struct Case {
    name: &'static str,
    rounds: Vec<Vec<N>>,
    kind: &'static str,
    sentence: &'static str,
    actionable: bool,
}

#[test]
fn scenarios() {
    let connecting = |n: &str| replica(n, replica_of("db1")).io(IoThread::Connecting);
    let silent = |n: &str| replica(n, replica_of("db1")).heartbeats(10);
    let mut cases = vec![
        Case {
            name: "healthy",
            rounds: vec![healthy_round(10), healthy_round(11)],
            kind: "healthy",
            sentence: "healthy: master db1 writable, 2/2 replicas replicating",
            actionable: false,
        },
        Case {
            name: "killed master, one failed probe: only suspect",
            rounds: vec![healthy_round(10), vec![down("db1"), connecting("db2"), connecting("db3")]],
            kind: "master_suspect",
            sentence: "master db1 failed 1/2 probes: suspect, watching",
            actionable: false,
        },
        Case {
            name: "killed master: replicas' IO threads reconnecting",
            rounds: vec![
                healthy_round(10),
                vec![down("db1"), connecting("db2"), connecting("db3")],
                vec![down("db1"), connecting("db2"), connecting("db3")],
            ],
            kind: "dead_master",
            sentence: "master db1 dead: 2 failed probes and 2/2 replicas lost it (db2: IO thread Connecting; db3: IO thread Connecting)",
            actionable: true,
        },
        Case {
            // Orchestrator's UnreachableMaster: the manager is cut off from the master only
            name: "manager cut from master, replicas still receive heartbeats",
            rounds: (0..12)
                .map(|i| {
                    let m = if i == 0 { master("db1") } else { hung("db1") };
                    vec![m, replica("db2", replica_of("db1")).heartbeats(10 + i / 4), replica("db3", replica_of("db1")).heartbeats(10 + i / 4)]
                })
                .collect(),
            kind: "unreachable_master",
            sentence: "master db1 unreachable from this manager (11 failed probes) but db2, db3 still replicate from it: not dead, not failing over",
            actionable: false,
        },
        Case {
            name: "frozen master: connected replicas hear nothing for 2 s",
            rounds: (0..9)
                .map(|i| if i == 0 { healthy_round(10) } else { vec![hung("db1"), silent("db2"), silent("db3")] })
                .collect(),
            kind: "dead_master",
            sentence: "master db1 dead: 8 failed probes and 2/2 replicas lost it (db2: nothing received for 2.0s; db3: nothing received for 2.0s)",
            actionable: true,
        },
        Case {
            name: "frozen master, replicas silent for only 1 s: not yet",
            rounds: (0..5)
                .map(|i| if i == 0 { healthy_round(10) } else { vec![hung("db1"), silent("db2"), silent("db3")] })
                .collect(),
            kind: "unreachable_master",
            sentence: "master db1 unreachable from this manager (4 failed probes) but db2, db3 still replicate from it",
            actionable: false,
        },
        Case {
            // Orchestrator: DeadMaster with lagging replicas is still a dead master
            name: "dead master with lagging replicas",
            rounds: vec![
                healthy_round(10),
                vec![
                    down("db1"),
                    connecting("db2").with(|s| s.replica.as_mut().unwrap().seconds_behind = None),
                    connecting("db3").with(|s| {
                        let r = s.replica.as_mut().unwrap();
                        r.seconds_behind = Some(300);
                        r.received = gtids("0-1-180");
                    }),
                ],
                vec![
                    down("db1"),
                    connecting("db2").with(|s| s.replica.as_mut().unwrap().seconds_behind = None),
                    connecting("db3").with(|s| s.replica.as_mut().unwrap().seconds_behind = Some(300)),
                ],
            ],
            kind: "dead_master",
            sentence: "master db1 dead: 2 failed probes and 2/2 replicas lost it (db2: IO thread Connecting; db3: IO thread Connecting); db3 lagging 300s behind",
            actionable: true,
        },
        Case {
            name: "one replica still hears the master: unreachable, not dead",
            rounds: vec![
                healthy_round(10),
                vec![down("db1"), connecting("db2"), replica("db3", replica_of("db1")).heartbeats(11)],
                vec![down("db1"), connecting("db2"), replica("db3", replica_of("db1")).heartbeats(12)],
            ],
            kind: "unreachable_master",
            sentence: "master db1 unreachable from this manager (2 failed probes) but db3 still replicate from it",
            actionable: false,
        },
        Case {
            name: "master and one replica dead",
            rounds: vec![healthy_round(10), vec![down("db1"), connecting("db2"), down("db3")], vec![down("db1"), connecting("db2"), down("db3")]],
            kind: "dead_master_and_some_replicas",
            sentence: "master db1 and replicas db3 dead: 2 failed probes, the reachable replicas lost it (db2: IO thread Connecting)",
            actionable: true,
        },
        Case {
            name: "nothing reachable: the manager may be the one cut off",
            rounds: vec![healthy_round(10), vec![hung("db1"), hung("db2"), hung("db3")], vec![hung("db1"), hung("db2"), hung("db3")]],
            kind: "all_unreachable",
            sentence: "no node reachable from this manager (last master db1): a dead cluster and a cut-off manager look the same; not acting",
            actionable: false,
        },
        Case {
            name: "master unreachable, no replica replicates from it",
            rounds: vec![
                healthy_round(10),
                vec![down("db1"), replica("db2", replica_of("db1")).with(|s| s.replica = None), down("db3")],
                vec![down("db1"), replica("db2", replica_of("db1")).with(|s| s.replica = None), down("db3")],
            ],
            kind: "dead_master_without_replicas",
            sentence: "master db1 unreachable (2 failed probes) and no reachable replica replicates from it: cannot confirm, nothing to promote",
            actionable: false,
        },
        Case {
            name: "two writable nodes",
            rounds: vec![vec![master("db1"), master("db2"), replica("db3", replica_of("db1"))]],
            kind: "split_brain",
            sentence: "split brain: db1, db2 are all writable",
            actionable: false,
        },
        Case {
            name: "master read-only",
            rounds: vec![vec![master("db1").with(|s| s.read_only = true), replica("db2", replica_of("db1")), replica("db3", replica_of("db1"))]],
            kind: "master_read_only",
            sentence: "master db1 is read-only: replicas follow it but no node takes writes",
            actionable: false,
        },
        Case {
            name: "no master at all",
            rounds: vec![vec![
                master("db1").with(|s| s.read_only = true),
                replica("db2", replica_of("db1")).with(|s| s.replica = None),
            ]],
            kind: "no_master",
            sentence: "no master: no node is writable and no replica names a master",
            actionable: false,
        },
        Case {
            name: "broken replica under a healthy master",
            rounds: vec![vec![
                master("db1"),
                replica("db2", replica_of("db1")).with(|s| {
                    let r = s.replica.as_mut().unwrap();
                    r.sql_running = false;
                    r.last_sql_error = Some("Error 'Duplicate entry '7' for key 'PRIMARY'' on query".into());
                }),
                replica("db3", replica_of("db1")),
            ]],
            kind: "healthy",
            sentence: "healthy: master db1 writable, 1/2 replicas replicating; db2 replication broken (IO Yes, SQL stopped): Error 'Duplicate entry '7' for key 'PRIMARY'' on query",
            actionable: false,
        },
        Case {
            name: "errant transaction on a replica",
            rounds: vec![
                vec![master("db1"), replica("db2", replica_of("db1")).with(|s| s.binlog_state = gtids("0-1-100,0-2-1")), replica("db3", replica_of("db1"))],
                vec![master("db1"), replica("db2", replica_of("db1")).with(|s| s.binlog_state = gtids("0-1-100,0-2-1")), replica("db3", replica_of("db1"))],
            ],
            kind: "healthy",
            sentence: "healthy: master db1 writable, 2/2 replicas replicating; db2 has errant transactions 0-2-1",
            actionable: false,
        },
        Case {
            name: "a replica that got a transaction between the master's and its own probe is not errant",
            rounds: vec![
                healthy_round(10),
                vec![master("db1"), replica("db2", replica_of("db1")).with(|s| s.binlog_state = gtids("0-1-101")), replica("db3", replica_of("db1"))],
            ],
            kind: "healthy",
            sentence: "healthy: master db1 writable, 2/2 replicas replicating",
            actionable: false,
        },
        Case {
            name: "lagging replica and semi-sync fallen back to async",
            rounds: vec![vec![
                master("db1").with(|s| {
                    s.semi_sync.master_active = false;
                    s.semi_sync.master_clients = 0;
                }),
                replica("db2", replica_of("db1")).with(|s| s.replica.as_mut().unwrap().seconds_behind = Some(42)),
                replica("db3", replica_of("db1")),
            ]],
            kind: "healthy",
            sentence: "healthy: master db1 writable, 2/2 replicas replicating; db2 lagging 42s behind; semi-sync inactive on master db1 (0 semi-sync replicas): commits are not waiting for a replica",
            actionable: false,
        },
        Case {
            name: "after a failover: new master healthy, old one down",
            rounds: vec![vec![down("db1"), master("db2"), replica("db3", replica_of("db2"))]],
            kind: "healthy",
            sentence: "healthy: master db2 writable, 1/2 replicas replicating; db1 unreachable (cannot connect: Connection refused (os error 111))",
            actionable: false,
        },
        Case {
            name: "replica without heartbeats cannot vouch for silence",
            rounds: (0..12)
                .map(|i| {
                    let m = if i == 0 { master("db1") } else { hung("db1") };
                    let r = |n: &str| replica(n, replica_of("db1")).with(|s| s.replica.as_mut().unwrap().heartbeat_period_ms = 0);
                    vec![m, r("db2"), r("db3")]
                })
                .collect(),
            kind: "unreachable_master",
            sentence: "but db2, db3 still replicate from it",
            actionable: false,
        },
        Case {
            name: "replica pointed at another node",
            rounds: vec![vec![master("db1"), replica("db2", replica_of("db1")), replica("db3", replica_of("db2"))]],
            kind: "healthy",
            sentence: "db3 replicates from db2:3306, not from the master",
            actionable: false,
        },
    ];
    for c in cases.drain(..) {
        let d = run(c.rounds);
        assert_eq!(d.state.kind(), c.kind, "{}: {d}", c.name);
        assert!(
            d.to_string().contains(c.sentence),
            "{}:\n  got:  {d}\n  want: {}",
            c.name,
            c.sentence
        );
        assert_eq!(d.state.is_actionable(), c.actionable, "{}", c.name);
    }
}

#[test]
fn history_is_bounded() {
    let timing = Timing::default();
    let mut h = History::new(&timing);
    for s in history((0..1000).map(healthy_round).collect()) {
        h.push(Arc::new(s), None);
    }
    assert!(h.snapshots.len() <= 512);
    assert_eq!(h.latest().unwrap().round, 1000);
    assert_eq!(h.diagnose(&timing, None).unwrap().state.kind(), "healthy");
}

/// A frozen master behind replicas with long heartbeat periods (MySQL's default is
/// `slave_net_timeout / 2`, 30 s): silence counts only beyond 1.5 × the period, so the history
/// must span that long — it held ~4.25 s, and with periods of 3 s and more a frozen master
/// was never found dead.
#[test]
fn long_heartbeat_periods_still_find_a_frozen_master() {
    let timing = Timing::default();
    let mut h = History::new(&timing);
    let slow = |r: N| r.with(|s| s.replica.as_mut().expect("a replica").heartbeat_period_ms = 4000);
    let silent = |n: &str| slow(replica(n, replica_of("db1")).heartbeats(10));
    let mut rounds = vec![vec![master("db1"), silent("db2"), silent("db3")]];
    // 8 s of rounds: the master hung, no replica hears a thing (6 s needed: 1.5 × 4 s)
    rounds.extend((0..32).map(|_| vec![hung("db1"), silent("db2"), silent("db3")]));
    let mut last = None;
    for s in history(rounds) {
        last = h.observe(Arc::new(s), &timing, Some("db1"));
    }
    let d = last.expect("a diagnosis");
    assert_eq!(d.state.kind(), "dead_master", "{d}");
    assert!(d.to_string().contains("nothing received for"), "{d}");
}

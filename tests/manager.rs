//! Whole managers in-process: three real managers (loop, elector, detector, decide,
//! executor) against the simulated edges of `myha::sim`, on tokio's paused clock —
//! no root, no network, seconds of simulated time in milliseconds. Each test is a fault the
//! lab drills also make, asserted on the outcome sentences the managers return and on the
//! records they write.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use myha::model::{Kind, Status};
use myha::sim::mysql::Process;
use myha::sim::Sim;
use std::time::Duration;

const NODES: [&str; 3] = ["db1", "db2", "db3"];
const MANAGERS: [&str; 3] = ["mgr1", "mgr2", "mgr3"];

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

/// A healthy cluster with three managers and a writer, settled.
async fn cluster(seed: u64) -> Sim {
    let mut sim = Sim::new(seed, &NODES);
    sim.add_client(false, Duration::from_millis(20));
    for m in MANAGERS {
        sim.start_manager(m);
    }
    sim.run_for(secs(3)).await;
    assert!(sim.leader().is_some(), "no leader after 3 s: {:?}", sim.outcomes);
    assert_eq!(sim.shared().master.as_deref(), Some("db1"), "{:?}", sim.outcomes);
    sim
}

/// What the managers did (not what standbys left to the leader) whose sentence has `text`.
fn acted<'a>(sim: &'a Sim, text: &str) -> Vec<&'a String> {
    sim.outcomes_with(text)
        .into_iter()
        .filter(|o| !o.ends_with("left to the leader"))
        .collect()
}

/// Every write acknowledged to a client is on `master`.
fn nothing_lost(sim: &Sim, master: &str) {
    let w = sim.w();
    let m = &w.nodes[master];
    let lost: Vec<u64> = w
        .acks
        .iter()
        .filter(|a| !m.has_write(a.write))
        .map(|a| a.write)
        .collect();
    assert!(
        lost.is_empty(),
        "{} acknowledged writes missing on {master}: {:?}",
        lost.len(),
        &lost[..lost.len().min(10)]
    );
    assert!(
        w.acks.len() > 50,
        "the writer wrote only {} acknowledged writes",
        w.acks.len()
    );
}

#[tokio::test(start_paused = true)]
async fn a_killed_master_is_replaced_once_and_nothing_is_lost() {
    let mut sim = cluster(1).await;
    sim.set_process("db1", Process::Stopped);
    sim.run_for(secs(5)).await;
    let shared = sim.shared();
    let new = shared.master.clone().expect("a master of record");
    assert_ne!(new, "db1", "{:?}", sim.outcomes);
    let records = sim.records();
    assert_eq!(records.len(), 1, "{records:#?}");
    let r = &records[0];
    assert_eq!(
        (r.kind, r.status, r.new_master.as_deref()),
        (Kind::Automatic, Status::Ok, Some(new.as_str()))
    );
    assert!(sim.w().vip.parts.values().all(|n| n.as_deref() == Some(new.as_str())));
    let failover = acted(&sim, "failing over: promoting");
    assert_eq!(failover.len(), 1, "exactly one manager failed over: {failover:?}");
    assert!(
        failover[0].contains("master db1 dead") && failover[0].ends_with("the new master is the master of record"),
        "{failover:?}"
    );
    // the old master comes back: it rejoins as a replica of the new one — or, when the
    // commit it was waiting on at the kill survived its restart (it has a transaction
    // nobody else has), it is marked for rebuild; never anything else
    sim.set_process("db1", Process::Running);
    sim.run_for(secs(5)).await;
    let rejoined = acted(&sim, &format!("done: db1 replicates from {new}"));
    let marked = acted(&sim, "done: db1 is marked for rebuild");
    assert!(
        rejoined.len() + marked.len() == 1,
        "{:#?}",
        &sim.outcomes[sim.outcomes.len().saturating_sub(12)..]
    );
    nothing_lost(&sim, &new);
}

#[tokio::test(start_paused = true)]
async fn a_frozen_master_is_replaced_and_fenced_when_it_thaws() {
    let mut sim = cluster(2).await;
    // a client that waits for every answer: a deposed master must never acknowledge to it
    sim.add_client(true, Duration::from_millis(15));
    sim.run_for(secs(1)).await;
    sim.set_process("db1", Process::Frozen);
    sim.run_for(secs(6)).await;
    let new = sim.shared().master.expect("a master of record");
    assert_ne!(new, "db1");
    let failover = acted(&sim, "failing over: promoting");
    assert_eq!(failover.len(), 1, "{failover:?}");
    assert!(
        failover[0].contains("nothing received for"),
        "frozen: the replicas' silence decides: {failover:?}"
    );
    // thawed, it is writable — and stale: fenced at once, its waiting commits never acknowledged
    sim.set_process("db1", Process::Running);
    sim.run_for(secs(3)).await;
    let fenced = acted(&sim, "fencing db1");
    assert!(
        fenced.iter().any(|o| o.contains("done: read_only=ON")),
        "{:#?}",
        sim.outcomes
    );
    assert!(!sim.w().nodes["db1"].accepts_writes());
    nothing_lost(&sim, &new);
}

#[tokio::test(start_paused = true)]
async fn a_leader_cut_off_from_everything_gives_way_and_nothing_fails_over() {
    let mut sim = cluster(3).await;
    let old = sim.leader().expect("a leader");
    sim.w().net.isolate(&old);
    sim.run_for(secs(8)).await;
    let new = sim.leader().expect("another leader");
    assert_ne!(new, old, "{:#?}", sim.outcomes);
    assert!(sim.records().is_empty(), "no failover: {:#?}", sim.records());
    assert_eq!(sim.shared().master.as_deref(), Some("db1"));
    // it said it stopped acting
    assert!(
        sim.outcomes_with(&format!("{old}: sim: degraded")).len()
            + sim.outcomes_with(&format!("{old}: sim: not acting")).len()
            > 0,
        "{:#?}",
        sim.outcomes
    );
    sim.w().net.heal(&old);
    sim.run_for(secs(5)).await;
    assert_eq!(
        sim.leader().as_deref(),
        Some(new.as_str()),
        "healed, it follows the new leader"
    );
    assert!(!sim
        .outcomes_with(&format!("{old}: sim: standby (leader: {new})"))
        .is_empty());
    nothing_lost(&sim, "db1");
}

#[tokio::test(start_paused = true)]
async fn a_leader_paused_mid_failover_changes_nothing_when_it_resumes() {
    let mut sim = cluster(4).await;
    let paused = sim.leader().expect("a leader");
    // the VIP's API hangs: the failover stays in its "move VIP" step for seconds
    sim.w().vip.hung = true;
    sim.set_process("db1", Process::Stopped);
    sim.run_for(Duration::from_millis(1200)).await;
    let new_master = {
        let w = sim.w();
        w.nodes.values().find(|n| n.accepts_writes()).map(|n| n.name.clone())
    };
    assert!(
        new_master.is_some(),
        "promoted while the VIP hangs: {:#?}",
        sim.outcomes
    );
    sim.pause_manager(&paused, true);
    sim.w().vip.hung = false;
    // its session expires; another manager leads and finishes the failover
    sim.run_for(secs(8)).await;
    let leader = sim.leader().expect("a new leader");
    assert_ne!(leader, paused);
    let records = sim.records();
    assert_eq!(records.len(), 1, "one failover, taken over: {records:#?}");
    let r = &records[0];
    assert!(
        r.status == Status::Ok && r.steps.iter().any(|s| s.name == format!("taken over by {leader}")),
        "{r:#?}"
    );
    assert_eq!(sim.shared().master, new_master);
    let mutations_before = sim.w().mutations.iter().filter(|m| m.host == paused).count();
    // it resumes where it was: every call it makes now is refused by its guard
    sim.pause_manager(&paused, false);
    sim.run_for(secs(5)).await;
    let after: Vec<_> = sim.w().mutations.iter().filter(|m| m.host == paused).cloned().collect();
    assert_eq!(
        after.len(),
        mutations_before,
        "the resumed manager changed {:?}",
        &after[mutations_before..]
    );
    assert_eq!(sim.records().len(), 1);
    assert_eq!(sim.records()[0].status, Status::Ok);
    nothing_lost(&sim, new_master.as_deref().unwrap());
}

/// The VIP's API hangs (every call takes its whole timeout) when the master dies, with the
/// leader's periodic look at the route tables in flight: promoting the database needs
/// nothing from that API, so a node is writable as soon as without the hang (the round does
/// not wait for the VIP's calls); the VIP follows once the API answers again.
#[tokio::test(start_paused = true)]
async fn a_hanging_vip_api_does_not_delay_the_promotion() {
    let promoted_after = |hang: bool| async move {
        let mut sim = cluster(1).await;
        sim.w().vip.hung = hang;
        // longer than the leader's 2 s between looks: one is in flight, hanging
        sim.run_for(Duration::from_millis(2500)).await;
        sim.set_process("db1", Process::Stopped);
        let killed = tokio::time::Instant::now();
        let writable = |sim: &Sim| {
            let w = sim.w();
            ["db2", "db3"]
                .into_iter()
                .find(|n| w.nodes.get(*n).is_some_and(|x| !x.read_only))
                .map(str::to_string)
        };
        while writable(&sim).is_none() {
            assert!(
                killed.elapsed() < secs(10),
                "no node writable 10 s after the kill: {:?}",
                sim.outcomes
            );
            sim.run_for(Duration::from_millis(10)).await;
        }
        let took = killed.elapsed();
        sim.w().vip.hung = false;
        sim.run_for(secs(8)).await;
        let new = writable(&sim).expect("a writable node");
        assert!(
            sim.w().vip.parts.values().all(|n| n.as_deref() == Some(new.as_str())),
            "the VIP follows once its API answers: {:?}",
            sim.w().vip.parts
        );
        took
    };
    let normal = promoted_after(false).await;
    let hung = promoted_after(true).await;
    assert!(
        hung <= normal + Duration::from_millis(100),
        "promoted {hung:?} after the kill with the VIP's API hanging, {normal:?} without"
    );
}

/// A record left `running` within the leader's own term (its final write failed, say): the
/// leader looks for such records again every 10 s and settles it — a failover whose planned
/// node was never promoted is closed — instead of leaving it for the next change of leader
/// (meanwhile every switchover would be answered 409).
#[tokio::test(start_paused = true)]
async fn a_record_left_running_in_the_leaders_term_is_settled_within_seconds() {
    let mut sim = cluster(1).await;
    let leader = sim.leader().expect("a leader");
    let now = myha::model::time::now();
    let mut rec = myha::testkit::failover_record(Some("db2"));
    rec.id = format!("{}-left-running", myha::sim::CLUSTER);
    rec.cluster = myha::sim::CLUSTER.into();
    rec.manager = leader;
    rec.epoch = sim.shared().epoch;
    rec.started_at = myha::model::time::timestamp(now);
    rec.detected_at = rec.started_at.clone();
    sim.zk.put_record(rec.clone());
    sim.run_for(secs(12)).await;
    let settled = sim.records().into_iter().find(|r| r.id == rec.id).expect("the record");
    assert_ne!(settled.status, Status::Running, "{settled:#?}");
    assert_eq!(
        sim.shared().master.as_deref(),
        Some("db1"),
        "nothing moved: {:?}",
        sim.outcomes
    );
}

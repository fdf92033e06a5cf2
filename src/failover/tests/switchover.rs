//! The switchover executor against scripted MySQL calls: the order that loses nothing, the
//! write pause recorded, and the roll-back when the target does not catch up.

use super::*;
use crate::failover::admit::SwitchoverPlan;
use crate::testkit::vip::FakeVip;

fn healthy() -> Snapshot {
    snapshot(vec![
        master("db1"),
        replica("db2", replica_of("db1")),
        replica("db3", replica_of("db1")),
    ])
}

async fn run<G: Guard>(admin: &Script, routes: &FakeVip, guard: &G) -> FailoverRecord {
    let c = cluster(&["db1", "db2", "db3"]);
    let rig = Rig::new(&c);
    let edges = rig.edges(admin, routes, guard);
    let plan = SwitchoverPlan {
        old_master: "db1".into(),
        new_master: "db2".into(),
        choice: "db2 requested".into(),
    };
    let sink = Sink::default();
    let mut rec = Recorder::new(failover_record(Some("db2")), Instant::now(), &sink);
    rec.rec.status = edges.switchover(&mut rec, &healthy(), &plan).await;
    rec.rec
}

/// The MySQL calls of a switchover db1 → db2 that goes through.
fn switchover_script() -> Script {
    Script::default()
        .expect("fence db1", Ok(true))
        .expect("wait db2 0-1-200", Ok(true))
        .expect("promote db2", Ok(true))
        .expect("detach db2", Ok(true))
        .expect("repoint db1->db2 OwnPosition", Ok(true))
        .expect("repoint db3->db2 ReplicaPosition", Ok(true))
}

#[tokio::test(start_paused = true)]
async fn the_target_is_promoted_only_after_applying_what_the_fenced_master_wrote() {
    let admin = switchover_script();
    let routes = FakeVip::at(None);
    let r = run(&admin, &routes, &Alone).await;
    assert_eq!(r.status, Status::Ok, "{r:#?}");
    assert!(admin.index("fence db1") < admin.index("wait db2 0-1-200"));
    assert!(admin.index("wait db2 0-1-200") < admin.index("promote db2"));
    assert!(admin.index("promote db2") < admin.index("repoint db1->db2 OwnPosition"));
    assert_eq!(
        step(&r, "fence db1").detail,
        "read_only=ON, 3 client sessions ended, it wrote 0-1-200"
    );
    assert_eq!(r.gtids["db1 (written)"], "0-1-200");
    assert_eq!(step(&r, "repoint db1 to db2").status, Status::Ok);
    assert!(r.write_pause_ms.is_some(), "{r:#?}");
    assert!(routes.all_at("db2"));
}

#[tokio::test(start_paused = true)]
async fn a_target_that_does_not_catch_up_gives_the_old_master_its_writes_back() {
    let admin = Script::default()
        .expect("fence db1", Ok(true))
        .expect("wait db2 0-1-200", Ok(false))
        .expect("read_only db1 false", Ok(true))
        .expect("read back db1", Ok(false));
    let routes = FakeVip::at(None);
    let r = run(&admin, &routes, &Alone).await;
    assert_eq!(r.status, Status::Failed);
    assert_eq!(step(&r, "roll back: db1 writable again").status, Status::Ok);
    assert!(!admin.calls().iter().any(|c| c.starts_with("promote")));
    assert!(routes.untouched(), "the VIP must not move");
    assert_eq!(r.write_pause_ms, None);
}

/// A switchover whose promotion of db2 times out, rolled back; db1 and db2 then read back
/// with these read_only values.
fn half_promoted(db1_read_only: bool, db2_read_only: bool) -> Script {
    Script::default()
        .expect("fence db1", Ok(true))
        .expect("wait db2 0-1-200", Ok(true))
        .expect(
            "promote db2",
            Err(OpError::Timeout {
                node: "db2".into(),
                op: "promote",
                limit: Duration::from_secs(10),
            }),
        )
        .expect("read_only db2 true", Ok(true))
        .expect("start db2", Ok(true))
        .expect("read_only db1 false", Ok(true))
        .expect("read back db1", Ok(db1_read_only))
        .expect("read back db2", Ok(db2_read_only))
}

#[tokio::test(start_paused = true)]
async fn a_half_done_promotion_is_undone_on_both_sides() {
    let admin = half_promoted(false, true);
    let r = run(&admin, &FakeVip::at(None), &Alone).await;
    assert_eq!(r.status, Status::Failed);
    assert!(admin.index("read_only db2 true") < admin.index("read_only db1 false"));
    assert_eq!(step(&r, "roll back: db1 writable again").status, Status::Ok);
}

// Defect 7, the rollback's half: a statement that timed out can still land on the server, so
// the rollback believes what the servers say afterwards, not what its statements answered.
#[tokio::test(start_paused = true)]
async fn a_rollback_reads_the_nodes_back() {
    // the fence's read_only=ON landed after all; the promotion's read_only=OFF too
    let admin = half_promoted(true, false);
    let r = run(&admin, &FakeVip::at(None), &Alone).await;
    let rollback = step(&r, "roll back: db1 writable again");
    assert_eq!(rollback.status, Status::Failed, "{r:#?}");
    assert!(
        rollback.detail.contains("db1 reads back read-only"),
        "{}",
        rollback.detail
    );
    assert!(
        rollback.detail.contains("db2 reads back writable"),
        "{}",
        rollback.detail
    );
}

#[tokio::test(start_paused = true)]
async fn a_manager_that_lost_the_lead_leaves_the_fence_to_the_new_leader() {
    let admin = Script::default()
        .expect("fence db1", Ok(true))
        .expect("wait db2 0-1-200", Ok(true));
    let r = run(&admin, &FakeVip::at(None), &RefuseFrom::new("promote")).await;
    assert_eq!(r.status, Status::Failed);
    assert!(
        step(&r, "promote db2")
            .detail
            .contains("stays read-only for the leader"),
        "{r:#?}"
    );
    assert_eq!(admin.calls(), ["open-writes db1", "fence db1", "wait db2 0-1-200"]);
}

#[tokio::test(start_paused = true)]
async fn a_manager_without_the_lead_fences_nothing() {
    // any call would be unexpected
    let admin = Script::default();
    let r = run(&admin, &FakeVip::at(None), &Refuse).await;
    assert_eq!(r.status, Status::Failed);
    assert!(
        step(&r, "look for long transactions on db1")
            .detail
            .contains("leadership lost before look for long transactions"),
        "{r:#?}"
    );
    assert!(admin.calls().is_empty(), "{:?}", admin.calls());
    assert!(
        !r.steps.iter().any(|s| s.name.starts_with("roll back")),
        "nothing to roll back: {r:#?}"
    );
}

fn open_write(connection: u64) -> OpenWrite {
    OpenWrite {
        connection,
        client: "app@10.88.9.5".into(),
        open_s: 12,
        rows: 48213,
        running: Some("UPDATE".into()),
    }
}

#[tokio::test(start_paused = true)]
async fn a_long_write_transaction_on_the_old_master_refuses_the_switchover_before_its_fence() {
    // still open after the 5 s wait: refused, nothing touched
    let admin = Script::default();
    admin
        .open
        .lock()
        .unwrap()
        .extend((0..100).map(|_| vec![open_write(42)]));
    let routes = FakeVip::at(None);
    let began = Instant::now();
    let r = run(&admin, &routes, &Alone).await;
    assert_eq!(r.status, Status::Failed, "{r:#?}");
    assert!(
        began.elapsed() >= Duration::from_secs(5),
        "it waited switchover_wait_trx first"
    );
    assert_eq!(
        step(&r, "look for long transactions on db1").detail,
        "not switching over: connection 42 (app@10.88.9.5) has a transaction open for 12 s that modified 48213 rows, \
         running UPDATE …; the fence would end it and every write would wait for its rollback. Nothing changed: \
         let it finish or end it, then ask again (waited 5s, failover.switchover_wait_trx)"
    );
    assert!(
        admin.calls().iter().all(|c| c == "open-writes db1"),
        "{:?}",
        admin.calls()
    );
    assert!(routes.untouched());
}

#[tokio::test(start_paused = true)]
async fn a_long_write_transaction_that_ends_within_the_wait_lets_the_switchover_go_on() {
    let admin = switchover_script();
    admin
        .open
        .lock()
        .unwrap()
        .extend([vec![open_write(42)], vec![open_write(42)]]);
    let r = run(&admin, &FakeVip::at(None), &Alone).await;
    assert_eq!(r.status, Status::Ok, "{r:#?}");
    assert_eq!(
        step(&r, "look for long transactions on db1").detail,
        "no write transaction open for 1s or more (after waiting 0.4 s)"
    );
    assert!(admin.index("open-writes db1") < admin.index("fence db1"));
    // the write pause starts at the fence, not while waiting for the transaction
    assert!(r.write_pause_ms.is_some_and(|ms| ms < 400), "{r:#?}");
}

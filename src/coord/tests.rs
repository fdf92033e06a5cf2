//! Leadership, session discipline, the failover guard and compare-and-set, against the
//! in-memory coordinator (the same logic runs against the lab's ZooKeeper in
//! tests/zookeeper.rs).

use super::elector::Leadership;
use super::fake::{elector as manager, info, step, World, GRACE};
use super::lead::{claim_delay, preference, Coordinator};
use super::{update, StoreError};
use crate::coord::StateStore as _;
use crate::model::{SessionState, SharedState, Standing};
use std::time::Duration;

fn leader_of(s: &Standing) -> Option<String> {
    match s {
        Standing::Standby { leader } => leader.as_ref().map(|l| l.id.clone()),
        _ => None,
    }
}

#[test]
fn preference_is_deterministic_and_spreads_clusters() {
    let managers: Vec<String> = ["mgr1", "mgr2", "mgr3"].iter().map(|s| s.to_string()).collect();
    let reversed: Vec<String> = managers.iter().rev().cloned().collect();
    let mut first = std::collections::BTreeMap::<String, usize>::new();
    for i in 0..30 {
        let c = format!("cluster{i}");
        let p = preference(&c, &managers);
        assert_eq!(p, preference(&c, &reversed), "order of registration must not matter");
        assert_eq!(p.len(), 3);
        *first.entry(p[0].to_string()).or_default() += 1;
        assert_eq!(claim_delay(&c, p[0], &managers, GRACE), Duration::ZERO);
        assert_eq!(claim_delay(&c, p[1], &managers, GRACE), GRACE);
        assert_eq!(claim_delay(&c, "unregistered", &managers, GRACE), GRACE);
    }
    assert_eq!(first.len(), 3, "every manager is preferred for some cluster: {first:?}");
}

#[tokio::test(start_paused = true)]
async fn one_leader_and_the_others_follow_it() {
    let world = World::default();
    let (mut a, ha, ca) = manager(&world, "mgr1", &["c1"]);
    let (mut b, hb, cb) = manager(&world, "mgr2", &["c1"]);
    // before anything is settled nobody acts
    assert!(matches!(ha.standing("c1"), Standing::Degraded { .. }));
    // connect, then register both before anyone looks at the lead
    step(&mut a).await;
    step(&mut b).await;
    ca.register(&info("mgr1")).await.expect("register");
    cb.register(&info("mgr2")).await.expect("register");
    let live = vec!["mgr1".to_string(), "mgr2".to_string()];
    let preferred = preference("c1", &live)[0].to_string();
    let (first, hfirst, second, hsecond) = if preferred == "mgr1" {
        (&mut a, &ha, &mut b, &hb)
    } else {
        (&mut b, &hb, &mut a, &ha)
    };
    // the non-preferred manager leaves a vacant lead to the preferred one for a while …
    step(second).await;
    step(first).await;
    assert!(matches!(hfirst.standing("c1"), Standing::Leader { .. }));
    step(second).await;
    assert_eq!(leader_of(&hsecond.standing("c1")), Some(preferred.clone()));
    // … and stays a standby: exactly one leader
    tokio::time::advance(GRACE * 3).await;
    step(second).await;
    assert_eq!(leader_of(&hsecond.standing("c1")), Some(preferred));
}

#[tokio::test(start_paused = true)]
async fn a_vacant_lead_is_taken_after_the_grace_when_the_preferred_manager_cannot() {
    let world = World::default();
    let (mut a, ha, ca) = manager(&world, "mgr1", &["c1"]);
    let (mut b, hb, cb) = manager(&world, "mgr2", &["c1"]);
    step(&mut a).await;
    step(&mut b).await;
    let live = vec!["mgr1".to_string(), "mgr2".to_string()];
    let (late, hlate, stuck) = if preference("c1", &live)[0] == "mgr1" {
        (&mut b, &hb, &ca)
    } else {
        (&mut a, &ha, &cb)
    };
    // the preferred manager registered, then its connection dropped before it claimed
    stuck
        .register(&info(preference("c1", &live)[0]))
        .await
        .expect("register");
    world.disconnect(stuck.session().0);
    step(late).await;
    step(late).await;
    assert_eq!(hlate.standing("c1"), Standing::Standby { leader: None });
    tokio::time::advance(GRACE).await;
    step(late).await;
    assert!(matches!(hlate.standing("c1"), Standing::Leader { .. }));
}

#[tokio::test(start_paused = true)]
async fn session_loss_stops_acting_at_once_and_expiry_hands_over_the_lead() {
    let world = World::default();
    let (mut a, ha, ca) = manager(&world, "mgr1", &["c1"]);
    step(&mut a).await;
    step(&mut a).await;
    let Standing::Leader { term } = ha.standing("c1") else {
        panic!("a alone must lead: {}", ha.standing("c1"))
    };
    let (mut b, hb, _) = manager(&world, "mgr2", &["c1"]);
    step(&mut b).await;
    step(&mut b).await;
    assert_eq!(leader_of(&hb.standing("c1")), Some("mgr1".into()));

    // disconnected: degraded before the elector even runs; the lead itself still exists
    let old_session = ca.session().0;
    world.disconnect(old_session);
    assert!(matches!(ha.standing("c1"), Standing::Degraded { .. }));
    assert!(ha.confirm("c1", term).await.is_err());
    world.reconnect(old_session);
    step(&mut a).await;
    assert_eq!(ha.standing("c1"), Standing::Leader { term });
    assert!(ha.confirm("c1", term).await.is_ok());

    // expired: the lead goes with the session; the standby takes it at once (it is the
    // only live manager left, so nobody is preferred over it)
    world.disconnect(old_session);
    world.expire(old_session);
    step(&mut b).await;
    let Standing::Leader { term: new_term } = hb.standing("c1") else {
        panic!("b must lead now: {}", hb.standing("c1"))
    };
    assert_ne!(new_term, term);
    // the old leader makes a new session and follows; its old term is refused
    step(&mut a).await;
    assert_eq!(ca.session().1, SessionState::Connected);
    step(&mut a).await;
    assert_eq!(leader_of(&ha.standing("c1")), Some("mgr2".into()));
    let e = ha.confirm("c1", term).await.unwrap_err();
    assert_eq!(e, super::elector::LeadError::OtherLeader("mgr2".into()));
}

#[tokio::test(start_paused = true)]
async fn no_quorum_means_nobody_leads() {
    let world = World::default();
    world.with(|d| d.down = true);
    let (mut a, ha, _) = manager(&world, "mgr1", &["c1", "c2"]);
    for _ in 0..3 {
        step(&mut a).await;
    }
    assert!(matches!(ha.standing("c1"), Standing::Degraded { .. }));
    assert!(matches!(ha.standing("c2"), Standing::Degraded { .. }));
    world.with(|d| d.down = false);
    step(&mut a).await;
    step(&mut a).await;
    assert!(matches!(ha.standing("c1"), Standing::Leader { .. }));
    assert!(matches!(ha.standing("c2"), Standing::Leader { .. }));
}

#[tokio::test(start_paused = true)]
async fn the_running_elector_reacts_to_a_lost_leader_through_its_watch() {
    let world = World::default();
    let (a, ha, ca) = manager(&world, "mgr1", &["c1"]);
    let (b, hb, cb) = manager(&world, "mgr2", &["c1"]);
    let ta = tokio::spawn(a.run());
    let tb = tokio::spawn(b.run());
    tokio::time::sleep(Duration::from_secs(3)).await;
    let leaders = [&ha, &hb]
        .iter()
        .filter(|h| matches!(h.standing("c1"), Standing::Leader { .. }))
        .count();
    assert_eq!(leaders, 1);
    let (lost, other) = if matches!(ha.standing("c1"), Standing::Leader { .. }) {
        (ca.session().0, &hb)
    } else {
        (cb.session().0, &ha)
    };
    world.expire(lost);
    // well within one tick: the watch on the leader node fired
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(
        matches!(other.standing("c1"), Standing::Leader { .. }),
        "{}",
        other.standing("c1")
    );
    ta.abort();
    tb.abort();
}

#[tokio::test]
async fn compare_and_set_retries_a_few_conflicts_and_then_gives_up() {
    let world = World::default();
    let c = world.client();
    c.connect().await.expect("connect");
    let v = update(&c, "c1", |s| s.epoch = 1).await.expect("first write");
    assert_eq!(v.version, 1);

    // two writers got in between: re-read and retried, applied to the newest state
    world.with(|d| d.inject_conflicts = 2);
    let v = update(&c, "c1", |s| s.epoch += 1).await.expect("retried");
    assert_eq!(v.value.epoch, 2);
    assert_eq!(c.load("c1").await.expect("load").value.epoch, 2);

    // a writer that always wins: the update fails as a conflict, nothing of ours is written
    world.with(|d| d.inject_conflicts = 100);
    let e = update(&c, "c1", |s| s.epoch = 99).await.unwrap_err();
    assert!(matches!(e, StoreError::Conflict { .. }), "{e}");
    world.with(|d| d.inject_conflicts = 0);
    assert_eq!(c.load("c1").await.expect("load").value.epoch, 2);

    // a stale version is refused outright
    let e = c.save("c1", &SharedState::default(), 1).await.unwrap_err();
    assert!(matches!(e, StoreError::Conflict { expected: 1, .. }), "{e}");
}

//! The ZooKeeper coordinator against the lab's real three-server ensemble, from a manager
//! host: two managers (two sessions) racing on the shared state's compare-and-set, failover
//! records written by one and read by the other, and the leadership moving when the
//! leader's session ends. Each test uses its own root and removes it.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::lab::Lab;
use myha::config::ZookeeperConfig;
use myha::coord::elector::{Elected, Elector, ElectorTiming, Leadership};
use myha::coord::zk::ZkStore;
use myha::coord::{update, RecordStore, StateStore, StoreError};
use myha::failover::Guard;
use myha::manager::guard::TermGuard;
use myha::model::{FailoverRecord, Kind, ManagerInfo, SharedState, Standing, Status};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;
use tokio::time::Instant;

fn record(id: &str, started_at: &str) -> FailoverRecord {
    FailoverRecord {
        id: id.into(),
        cluster: "c1".into(),
        kind: Kind::Automatic,
        trigger: "test".into(),
        manager: "mgr1".into(),
        old_master: "db1".into(),
        new_master: Some("db2".into()),
        candidates: None,
        gtids: BTreeMap::new(),
        epoch: 1,
        detected_at: started_at.into(),
        started_at: started_at.into(),
        finished_at: None,
        total_ms: None,
        write_pause_ms: None,
        steps: Vec::new(),
        errors: Vec::new(),
        status: Status::Running,
    }
}

async fn delete_tree(client: &zookeeper_client::Client, path: &str) {
    let children = client.list_children(path).await.unwrap_or_default();
    for c in children {
        Box::pin(delete_tree(client, &format!("{path}/{c}"))).await;
    }
    let _ = client.delete(path, None).await;
}

#[test]
#[ignore = "lab: needs root and the lab (tests/run runs it)"]
fn shared_state_compare_and_set_between_two_managers() {
    let lab = Lab::up();
    let cfg = zk_cfg(&lab, "cas");
    let ns = lab.status.namespace("mgr1").to_string();
    common::netns::run_in(&ns, move || async move {
        let a = ZkStore::connect(&cfg).await.expect("manager a connects");
        let b = ZkStore::connect(&cfg).await.expect("manager b connects");

        // nothing yet: default state, version 0; the first save creates
        let v = a.load("c1").await.unwrap();
        assert_eq!((v.version, v.value.clone()), (0, SharedState::default()));
        let mut st = SharedState {
            master: Some("db1".into()),
            epoch: 1,
            ..SharedState::default()
        };
        let v1 = a.save("c1", &st, 0).await.unwrap();

        // b read nothing and tries to create too: conflict, naming the version it found
        let e = b.save("c1", &SharedState::default(), 0).await.unwrap_err();
        assert!(
            matches!(e, StoreError::Conflict { expected: 0, found, .. } if found == v1),
            "{e}"
        );

        // both read v1; a writes; b's write with the stale version loses
        let seen_by_b = b.load("c1").await.unwrap();
        assert_eq!(seen_by_b.version, v1);
        st.master = Some("db2".into());
        st.epoch = 2;
        let v2 = a.save("c1", &st, v1).await.unwrap();
        assert_eq!(v2, v1 + 1);
        let e = b.save("c1", &seen_by_b.value, seen_by_b.version).await.unwrap_err();
        assert!(matches!(e, StoreError::Conflict { .. }), "{e}");
        assert_eq!(b.load("c1").await.unwrap().value.master.as_deref(), Some("db2"));

        // read-modify-write retries on conflicts and keeps both changes
        let (x, y) = tokio::join!(
            update(&a, "c1", |s| {
                s.paused = true;
            }),
            update(&b, "c1", |s| {
                s.needs_rebuild.insert("db1".into(), "errant".into());
            })
        );
        x.unwrap();
        y.unwrap();
        let end = a.load("c1").await.unwrap().value;
        assert!(
            end.paused && end.needs_rebuild.contains_key("db1") && end.epoch == 2,
            "{end:?}"
        );

        // records: written by one manager (create, then overwrite), read by the other, newest first
        a.save_record(&record("c1-f1", "2026-11-22T08:00:00.000Z"))
            .await
            .unwrap();
        let mut r2 = record("c1-f2", "2026-11-22T09:00:00.000Z");
        a.save_record(&r2).await.unwrap();
        r2.status = Status::Ok;
        a.save_record(&r2).await.unwrap();
        let got = b.records("c1", 10).await.unwrap();
        assert_eq!(
            got.iter().map(|r| r.id.as_str()).collect::<Vec<_>>(),
            ["c1-f2", "c1-f1"]
        );
        assert_eq!(got[0].status, Status::Ok);
        // a finished record is final: a stale writer's "running" copy is refused
        r2.finished_at = Some("2026-11-22T09:00:01.000Z".into());
        a.save_record(&r2).await.unwrap();
        let mut stale = r2.clone();
        stale.finished_at = None;
        stale.status = Status::Running;
        let e = b.save_record(&stale).await.unwrap_err();
        assert!(
            matches!(&e, StoreError::Refused(m) if m.contains("not overwriting")),
            "{e}"
        );
        // …also from the manager that finished it (its next write reads first)
        let e = a.save_record(&stale).await.unwrap_err();
        assert!(
            matches!(&e, StoreError::Refused(m) if m.contains("not overwriting")),
            "{e}"
        );
        assert_eq!(b.records("c1", 1).await.unwrap()[0].status, Status::Ok);
        assert_eq!(b.records("c1", 1).await.unwrap().len(), 1);

        delete_tree(&a.client().unwrap(), &cfg.root).await;
    });
    drop(lab);
}

/// The same contract the file store and the in-memory coordinator keep (unit tests).
#[test]
#[ignore = "lab: needs root and the lab (tests/run runs it)"]
fn zookeeper_keeps_the_store_contract() {
    let lab = Lab::up();
    let cfg = zk_cfg(&lab, "contract");
    let ns = lab.status.namespace("mgr1").to_string();
    common::netns::run_in(&ns, move || async move {
        let s = ZkStore::connect(&cfg).await.expect("connect");
        myha::coord::contract::check(&s, "c1").await;
        delete_tree(&s.client().unwrap(), &cfg.root).await;
    });
    drop(lab);
}

fn zk_cfg(lab: &Lab, name: &str) -> ZookeeperConfig {
    ZookeeperConfig {
        connect: lab.status.zookeeper.connect.clone(),
        root: format!("/myha-test-{name}-{}", std::process::id()),
        session_timeout: Duration::from_secs(4),
        reconnect_pause: Duration::from_millis(500),
        claim_grace: None,
    }
}

fn elect(cfg: &ZookeeperConfig, id: &str) -> (Arc<ZkStore>, Elected<ZkStore>, tokio::task::JoinHandle<()>) {
    let store = Arc::new(ZkStore::new(cfg));
    let me = ManagerInfo {
        id: id.into(),
        address: format!("{id}:8080"),
        since: String::new(),
    };
    let (elector, elected) = Elector::new(store.clone(), me, vec!["c1".into()], ElectorTiming::from_config(cfg));
    (store, elected, tokio::spawn(elector.run()))
}

async fn until<T>(what: &str, limit: Duration, mut f: impl FnMut() -> Option<T>) -> (T, Duration) {
    let t0 = Instant::now();
    loop {
        if let Some(v) = f() {
            return (v, t0.elapsed());
        }
        assert!(t0.elapsed() < limit, "{what}: not within {limit:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[test]
#[ignore = "lab: needs root and the lab (tests/run runs it)"]
fn leadership_is_exclusive_and_moves_when_the_leaders_session_ends() {
    let lab = Lab::up();
    let cfg = zk_cfg(&lab, "lead");
    let ns = lab.status.namespace("mgr1").to_string();
    common::netns::run_in(&ns, move || async move {
        let (sa, ha, ta) = elect(&cfg, "mgr-a");
        let (sb, hb, tb) = elect(&cfg, "mgr-b");
        let (leader, took) = until("a leader", Duration::from_secs(10), || {
            let l: Vec<_> = [("mgr-a", &ha), ("mgr-b", &hb)]
                .into_iter()
                .filter(|(_, h)| matches!(h.standing("c1"), Standing::Leader { .. }))
                .map(|(id, _)| id)
                .collect();
            (l.len() == 1).then(|| l[0])
        })
        .await;
        println!("first leader {leader} after {took:?}");
        let (lead_h, lead_s, lead_t, follow_h, follow_s) = if leader == "mgr-a" {
            (ha, sa, ta, hb, sb)
        } else {
            (hb, sb, tb, ha, sa)
        };
        // the other follows it, and stays a follower
        until("the standby names the leader", Duration::from_secs(5), || {
            matches!(follow_h.standing("c1"), Standing::Standby { leader: Some(ref l) } if l.id == leader).then_some(())
        })
        .await;
        let Standing::Leader { term } = lead_h.standing("c1") else {
            panic!("leader lost the lead")
        };
        lead_h.confirm("c1", term).await.unwrap();
        update(lead_s.as_ref(), "c1", |s| s.epoch = 7).await.unwrap();
        let guard = TermGuard {
            lead: &lead_h,
            store: lead_s.as_ref(),
            cluster: "c1",
            term,
            epoch: 7,
        };
        guard.may_act("promote").await.unwrap();
        // the follower's guard, with the leader's term, is refused: it does not lead
        let wrong = TermGuard {
            lead: &follow_h,
            store: follow_s.as_ref(),
            cluster: "c1",
            term,
            epoch: 7,
        };
        let e = wrong.may_act("promote").await.unwrap_err();
        assert!(e.to_string().contains(leader), "{e}");

        // the leader's process ends: its session closes, its node goes, the follower leads
        lead_t.abort();
        let _ = lead_t.await;

        drop(lead_h);
        drop(lead_s);
        let (new_term, took) = until("takeover", Duration::from_secs(6), || match follow_h.standing("c1") {
            Standing::Leader { term } => Some(term),
            _ => None,
        })
        .await;
        println!("takeover after {took:?}");
        assert_ne!(new_term, term);
        // a failover started in the old term would be stopped by its guard now
        let old = TermGuard {
            lead: &follow_h,
            store: follow_s.as_ref(),
            cluster: "c1",
            term,
            epoch: 7,
        };
        assert!(old.may_act("move VIP").await.is_err());
        follow_h.resign_all().await;
        delete_tree(&follow_s.client().unwrap(), &cfg.root).await;
    });
    drop(lab);
}

//! The ZooKeeper store against the lab's real three-server ensemble, from manager hosts:
//! two managers (two sessions) racing on the shared state's compare-and-set, and failover
//! records written by one and read by the other. Uses its own root and removes it.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::lab::Lab;
use myha::config::ZookeeperConfig;
use myha::coord::zk::ZkStore;
use myha::coord::{update, SharedState, Store, StoreError};
use myha::failover::{FailoverRecord, Kind, RecordSink, Status};
use std::collections::BTreeMap;
use std::time::Duration;

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
fn shared_state_compare_and_set_between_two_managers() {
    let lab = Lab::up();
    let cfg = ZookeeperConfig {
        connect: lab.status.zookeeper.connect.clone(),
        root: format!("/myha-test-{}", std::process::id()),
        session_timeout: Duration::from_secs(4),
    };
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
        assert_eq!(b.records("c1", 1).await.unwrap().len(), 1);

        delete_tree(a.client(), &cfg.root).await;
    });
    drop(lab);
}

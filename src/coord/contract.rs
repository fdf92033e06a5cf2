//! The [`Store`] contract as one test, run against every implementation: the file store and
//! the in-memory coordinator in unit tests, ZooKeeper in the lab (`tests/zookeeper.rs`). A new
//! coordinator plugs in by passing it.

use super::{Store, StoreError};
use crate::config::NodeConfig;
use crate::model::{ActionEntry, ActionKind, BackupMeta, FailoverRecord, Kind, SharedState, Status};
use std::collections::BTreeMap;

fn record(cluster: &str, id: &str, started_at: &str) -> FailoverRecord {
    FailoverRecord {
        id: id.into(),
        cluster: cluster.into(),
        kind: Kind::Automatic,
        trigger: "contract".into(),
        manager: "m1".into(),
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

fn backup(cluster: &str, id: &str, started_at: &str) -> BackupMeta {
    BackupMeta {
        id: id.into(),
        cluster: cluster.into(),
        source: "db2".into(),
        source_was_master: false,
        tool: "mariabackup".into(),
        started_at: started_at.into(),
        finished_at: started_at.into(),
        size_bytes: 1,
        binlog_file: "mysql-bin.000001".into(),
        binlog_pos: 4,
        gtid: "0-1-1".into(),
        store: "/backups".into(),
    }
}

/// Every promise of [`Store`], on a cluster the store has never seen. Panics with what broke.
pub async fn check<S: Store>(s: &S, cluster: &str) {
    state(s, cluster).await;
    records(s, cluster).await;
    records_bounded(s, &format!("{cluster}-many")).await;
    actions(s, cluster).await;
    catalogue(s, cluster).await;
    registry(s, cluster).await;
}

/// Shared state: compare-and-set on the version read.
async fn state<S: Store>(s: &S, cluster: &str) {
    let v0 = s.load(cluster).await.expect("load a cluster never written");
    assert_eq!(
        (v0.version, &v0.value),
        (0, &SharedState::default()),
        "a new cluster's state"
    );
    let st = SharedState {
        master: Some("db1".into()),
        epoch: 1,
        ..SharedState::default()
    };
    let v1 = s.save(cluster, &st, 0).await.expect("first save");
    let read = s.load(cluster).await.expect("load");
    assert_eq!((read.version, &read.value), (v1, &st), "saved state reads back");
    match s.save(cluster, &SharedState::default(), 0).await {
        Err(StoreError::Conflict { .. }) => {}
        other => panic!("a save on a stale version must be a conflict: {other:?}"),
    }
    let st2 = SharedState { epoch: 2, ..st.clone() };
    let v2 = s.save(cluster, &st2, v1).await.expect("save on the current version");
    assert_ne!(v2, v1, "a save makes a new version");
    assert_eq!(s.load(cluster).await.expect("load").value.epoch, 2);
}

/// Records: newest first, bounded; an unfinished one may be overwritten, a finished one not.
async fn records<S: Store>(s: &S, cluster: &str) {
    let mut r1 = record(
        cluster,
        &format!("{cluster}-20261201T100000Z-db1"),
        "2026-12-01T10:00:00.000Z",
    );
    let r2 = record(
        cluster,
        &format!("{cluster}-20261201T110000Z-db1"),
        "2026-12-01T11:00:00.000Z",
    );
    s.save_record(&r1).await.expect("save a record");
    s.save_record(&r2).await.expect("save a second record");
    let ids = |v: Vec<FailoverRecord>| v.into_iter().map(|r| r.id).collect::<Vec<_>>();
    assert_eq!(
        ids(s.records(cluster, 10).await.expect("records")),
        [r2.id.clone(), r1.id.clone()],
        "records newest first"
    );
    assert_eq!(
        ids(s.records(cluster, 1).await.expect("records")),
        std::slice::from_ref(&r2.id),
        "limit"
    );
    r1.status = Status::Ok;
    r1.finished_at = Some("2026-12-01T10:00:01.000Z".into());
    s.save_record(&r1).await.expect("finish an unfinished record");
    assert_eq!(
        s.record(cluster, &r1.id).await.expect("record").map(|r| r.status),
        Some(Status::Ok)
    );
    let mut stale = r1.clone();
    stale.finished_at = None;
    stale.status = Status::Running;
    match s.save_record(&stale).await {
        Err(StoreError::Refused(_)) => {}
        other => panic!("overwriting a finished record must be refused: {other:?}"),
    }
    assert_eq!(s.record(cluster, "no-such-record").await.expect("record"), None);
}

/// Only the newest [`super::MAX_RECORDS`] records are kept.
async fn records_bounded<S: Store>(s: &S, cluster: &str) {
    let n = super::MAX_RECORDS + 2;
    for i in 0..n {
        let at = format!("2026-12-01T{:02}:{:02}:{:02}.000Z", i / 3600, i / 60 % 60, i % 60);
        let mut r = record(cluster, &format!("{cluster}-{}-db1", at.replace([':', '-'], "")), &at);
        r.status = Status::Ok;
        r.finished_at = Some(at.clone());
        s.save_record(&r).await.expect("save a record");
    }
    let got = s.records(cluster, n).await.expect("records");
    assert_eq!(got.len(), super::MAX_RECORDS, "only the newest records are kept");
    assert!(got[0].id.contains("T001641"), "newest first: {}", got[0].id);
    assert!(
        got.last().is_some_and(|r| r.id.contains("T000002")),
        "the two oldest were dropped"
    );
}

/// Action entries: newest first, and only the newest [`super::MAX_ACTIONS`] kept.
async fn actions<S: Store>(s: &S, cluster: &str) {
    let entry = |i: usize| ActionEntry {
        id: format!("{cluster}-20261201T10{:04}.000Z-fence-db1", i),
        cluster: cluster.into(),
        kind: ActionKind::Fence,
        node: "db1".into(),
        decision: "fencing db1".into(),
        manager: "m1".into(),
        term: 1,
        epoch: 1,
        at: "2026-12-01T10:00:00.000Z".into(),
        duration_ms: 1,
        status: Status::Ok,
        detail: "read_only=ON".into(),
    };
    let n = super::MAX_ACTIONS + 2;
    for i in 0..n {
        s.save_action(&entry(i)).await.expect("save an action");
    }
    let got = s.actions(cluster, n).await.expect("actions");
    assert_eq!(got.len(), super::MAX_ACTIONS, "only the newest are kept");
    assert_eq!(got[0].id, entry(n - 1).id, "newest first");
    assert_eq!(s.actions(cluster, 3).await.expect("actions").len(), 3, "limit");
}

/// The backup catalogue: newest first, deletable.
async fn catalogue<S: Store>(s: &S, cluster: &str) {
    let (b1, b2) = (
        backup(cluster, &format!("{cluster}-b1"), "2026-12-01T10:00:00.000Z"),
        backup(cluster, &format!("{cluster}-b2"), "2026-12-01T11:00:00.000Z"),
    );
    s.save_backup(&b1).await.expect("catalogue a backup");
    s.save_backup(&b2).await.expect("catalogue another");
    let bids = |v: Vec<BackupMeta>| v.into_iter().map(|b| b.id).collect::<Vec<_>>();
    assert_eq!(
        bids(s.backups(cluster).await.expect("backups")),
        [b2.id.clone(), b1.id.clone()]
    );
    s.delete_backup(cluster, &b1.id).await.expect("delete");
    assert_eq!(
        bids(s.backups(cluster).await.expect("backups")),
        std::slice::from_ref(&b2.id)
    );
}

/// The node registry: a registration replaces an earlier one of the same node.
async fn registry<S: Store>(s: &S, cluster: &str) {
    let mut n = NodeConfig::new("db9", "10.0.0.9", "a");
    s.register_node(cluster, &n).await.expect("register");
    n.priority = 5;
    s.register_node(cluster, &n).await.expect("register again");
    let nodes = s.registered_nodes(cluster).await.expect("registered nodes");
    assert_eq!(nodes.len(), 1, "one registration per node");
    assert_eq!(nodes[0].priority, 5);
}

#[cfg(test)]
mod tests {
    use super::check;
    use crate::coord::fake::World;
    use crate::coord::file::FileStore;
    use crate::coord::lead::Coordinator;

    #[tokio::test]
    async fn the_file_store_keeps_the_contract() {
        let dir = tempfile::tempdir().expect("temp dir");
        check(&FileStore::new(dir.path()), "c1").await;
    }

    #[tokio::test]
    async fn the_in_memory_coordinator_keeps_the_contract() {
        let world = World::default();
        let c = world.client();
        c.connect().await.expect("connect");
        check(&c, "c1").await;
    }
}

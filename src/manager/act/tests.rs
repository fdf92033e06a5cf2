//! Every executor under a guard that refuses: nothing on any node, the VIP or the shared
//! state changes, and the action's entry says it was refused.

use super::{Act, Done};
use crate::config::{FailoverConfig, NodeConfig};
use crate::coord::elector::LeadError;
use crate::coord::fake::World;
use crate::coord::lead::Coordinator;
use crate::coord::{RecordStore, StateStore};
use crate::failover::{Guard, GuardError};
use crate::flavor::StartFrom;
use crate::gtid::Gtids;
use crate::model::{ActionKind, PromotedSemiSync, SemiSyncPolicy, SharedState, Status};
use crate::mysql::{Applied, Fenced, MysqlAdmin, OpError, OpenWrite};
use crate::testkit::cluster;
use crate::testkit::vip::FakeVip;
use crate::topology::{NodeState, ProbeFailure};
use std::time::Duration;

/// A MySQL edge no executor may touch.
struct Untouchable;

fn touched<T>(what: &str, node: &NodeConfig) -> T {
    panic!("{what} on {} although the guard refused", node.name)
}

impl MysqlAdmin for Untouchable {
    async fn probe(&self, n: &NodeConfig) -> Result<NodeState, ProbeFailure> {
        touched("probe", n)
    }
    async fn fence(&self, n: &NodeConfig, _: Duration) -> Result<Fenced, OpError> {
        touched("fence", n)
    }
    async fn wait_applied(&self, n: &NodeConfig, _: &Gtids, _: Duration) -> Result<Applied, OpError> {
        touched("wait_applied", n)
    }
    async fn raise_applier_threads(&self, n: &NodeConfig, _: u32, _: Duration) -> Result<u32, OpError> {
        touched("raise_applier_threads", n)
    }
    async fn stop_receiving(&self, n: &NodeConfig, _: Duration) -> Result<NodeState, OpError> {
        touched("stop_receiving", n)
    }
    async fn open_writes(&self, n: &NodeConfig, _: Duration, _: Duration) -> Result<Vec<OpenWrite>, OpError> {
        touched("open_writes", n)
    }
    async fn start_replication(&self, n: &NodeConfig, _: Duration) -> Result<(), OpError> {
        touched("start_replication", n)
    }
    async fn detach(&self, n: &NodeConfig, _: Duration) -> Result<(), OpError> {
        touched("detach", n)
    }
    async fn promote(&self, n: &NodeConfig, _: PromotedSemiSync, _: Duration) -> Result<(), OpError> {
        touched("promote", n)
    }
    async fn set_semi_sync(&self, n: &NodeConfig, _: SemiSyncPolicy, _: Duration) -> Result<(), OpError> {
        touched("set_semi_sync", n)
    }
    async fn replicate_from(&self, n: &NodeConfig, _: &NodeConfig, _: StartFrom, _: Duration) -> Result<(), OpError> {
        touched("replicate_from", n)
    }
    async fn set_start_position(&self, n: &NodeConfig, _: &Gtids, _: Duration) -> Result<(), OpError> {
        touched("set_start_position", n)
    }
    async fn set_read_only(&self, n: &NodeConfig, _: bool, _: Duration) -> Result<(), OpError> {
        touched("set_read_only", n)
    }
}

/// A manager that lost the lead.
struct Deposed;

impl Guard for Deposed {
    async fn may_act(&self, step: &str) -> Result<crate::model::Lease, GuardError> {
        Err(GuardError::Lead {
            step: step.to_string(),
            source: LeadError::OtherLeader("mgr2".into()),
        })
    }
}

/// Run `f` on an executor context whose guard refuses; check nothing changed and the entry.
async fn refused<F>(kind: ActionKind, node: &str, f: F)
where
    F: AsyncFnOnce(&Act<'_, Untouchable, FakeVip, crate::coord::fake::FakeCoord, Deposed>) -> Done,
{
    let world = World::default();
    let store = world.client();
    store.connect().await.expect("connect");
    let before = SharedState {
        master: Some("db1".into()),
        epoch: 3,
        ..SharedState::default()
    };
    store.save("c1", &before, 0).await.expect("seed the state");
    let c = cluster(&["db1", "db2", "db3"]);
    let failover = FailoverConfig::default();
    let vip = FakeVip::at(Some("db1"));
    let act = Act {
        cluster: &c,
        failover: &failover,
        admin: &Untouchable,
        vip: &vip,
        store: &store,
        guard: &Deposed,
        manager: "mgr1",
        term: 7,
        epoch: 3,
        metrics: None,
    };
    let done = f(&act).await;
    assert!(
        matches!(&done, Done::Refused(why) if why.contains("manager mgr2 leads the cluster now")),
        "{kind}: {done}"
    );
    assert_eq!(
        store.load("c1").await.expect("load").value,
        before,
        "{kind}: the shared state changed"
    );
    assert!(vip.untouched() && vip.all_at("db1"), "{kind}: the VIP moved");
    let entries = store.actions("c1", 10).await.expect("actions");
    assert_eq!(entries.len(), 1, "{kind}: one entry");
    let e = &entries[0];
    assert_eq!((e.kind, e.node.as_str(), e.status), (kind, node, Status::Skipped));
    assert_eq!((e.term, e.epoch, e.manager.as_str()), (7, 3, "mgr1"));
}

#[tokio::test]
async fn a_refused_fence_changes_nothing() {
    refused(ActionKind::Fence, "db2", async |a| a.fence("db2", "fencing db2").await).await;
}

#[tokio::test]
async fn a_refused_rejoin_changes_nothing() {
    refused(ActionKind::Rejoin, "db2", async |a| {
        a.rejoin("db2", "db1", StartFrom::OwnPosition, "rejoining db2").await
    })
    .await;
}

#[tokio::test]
async fn a_refused_semi_sync_change_changes_nothing() {
    let policy = SemiSyncPolicy {
        timeout: Duration::from_secs(3600),
    };
    refused(ActionKind::SemiSync, "db1", async |a| {
        a.semi_sync("db1", policy, "semi-sync on db1").await
    })
    .await;
}

#[tokio::test]
async fn a_refused_adoption_changes_nothing() {
    refused(ActionKind::Adopt, "db2", async |a| {
        a.adopt("db2", Some("db1"), "adopting db2").await
    })
    .await;
}

#[tokio::test]
async fn a_refused_rebuild_mark_changes_nothing() {
    refused(ActionKind::MarkRebuild, "db3", async |a| {
        a.mark_rebuild("db3", "0-3-1", "marking db3").await
    })
    .await;
}

#[tokio::test]
async fn a_refused_unmark_changes_nothing() {
    refused(ActionKind::Unmark, "db3", async |a| {
        a.unmark("db3", "unmarking db3").await
    })
    .await;
}

#[tokio::test]
async fn a_refused_vip_repair_changes_nothing() {
    refused(ActionKind::VipRepair, "db1", async |a| {
        a.repair_vip("db1", "repairing the VIP").await
    })
    .await;
}

#[tokio::test]
async fn a_refused_reopen_changes_nothing() {
    let policy = SemiSyncPolicy {
        timeout: Duration::from_secs(3600),
    };
    refused(ActionKind::Reopen, "db1", async |a| {
        a.reopen("db1", Some(policy), "reopening db1").await
    })
    .await;
}

#[tokio::test]
async fn a_refused_arming_of_the_block_changes_nothing() {
    refused(ActionKind::ArmBlock, "db2", async |a| {
        a.arm_block("db2", "c1-f1", "arming the block").await
    })
    .await;
}

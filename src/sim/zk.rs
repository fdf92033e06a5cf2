//! A manager's ZooKeeper client in the simulation: the in-memory ensemble's client
//! (`coord::fake`), reached over the simulated network with latency, and stopped while its
//! manager is paused — a SIGSTOPped process makes no call, and its session expires on the
//! servers (`Sim::sessions`).

use super::World;
use crate::config::NodeConfig;
use crate::coord::fake::FakeCoord;
use crate::coord::lead::{Coordinator, Lease, Watch};
use crate::coord::{BackupCatalogue, NodeRegistry, RecordStore, StateStore, StoreError};
use crate::model::{ActionEntry, BackupMeta, FailoverRecord, ManagerInfo, SessionState, SharedState, Versioned};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::time::sleep;

/// One manager's coordinator client.
#[derive(Clone)]
pub struct SimCoord {
    inner: FakeCoord,
    world: Arc<Mutex<World>>,
    host: String,
}

impl SimCoord {
    /// `inner` used from `host`.
    pub fn new(inner: FakeCoord, world: Arc<Mutex<World>>, host: &str) -> Self {
        SimCoord {
            inner,
            world,
            host: host.to_string(),
        }
    }

    /// The current session's id.
    pub fn session_id(&self) -> i64 {
        self.inner.session().0
    }

    /// Wait while paused, then pay the network's latency.
    async fn call(&self) {
        let (mut rx, latency) = {
            let mut w = self.world.lock().unwrap_or_else(|e| e.into_inner());
            (w.pause_rx(&self.host), w.latency())
        };
        while *rx.borrow_and_update() {
            if rx.changed().await.is_err() {
                break;
            }
        }
        sleep(latency).await;
    }
}

impl StateStore for SimCoord {
    async fn load(&self, cluster: &str) -> Result<Versioned<SharedState>, StoreError> {
        self.call().await;
        self.inner.load(cluster).await
    }

    async fn save(&self, cluster: &str, state: &SharedState, expected: u64) -> Result<u64, StoreError> {
        self.call().await;
        self.inner.save(cluster, state, expected).await
    }
}

impl RecordStore for SimCoord {
    async fn save_record(&self, rec: &FailoverRecord) -> Result<(), StoreError> {
        self.call().await;
        self.inner.save_record(rec).await
    }

    async fn records(&self, cluster: &str, limit: usize) -> Result<Vec<FailoverRecord>, StoreError> {
        self.call().await;
        self.inner.records(cluster, limit).await
    }

    async fn record(&self, cluster: &str, id: &str) -> Result<Option<FailoverRecord>, StoreError> {
        self.call().await;
        self.inner.record(cluster, id).await
    }

    async fn save_action(&self, entry: &ActionEntry) -> Result<(), StoreError> {
        self.call().await;
        self.inner.save_action(entry).await
    }

    async fn actions(&self, cluster: &str, limit: usize) -> Result<Vec<ActionEntry>, StoreError> {
        self.call().await;
        self.inner.actions(cluster, limit).await
    }
}

impl BackupCatalogue for SimCoord {
    async fn save_backup(&self, meta: &BackupMeta) -> Result<(), StoreError> {
        self.call().await;
        self.inner.save_backup(meta).await
    }

    async fn backups(&self, cluster: &str) -> Result<Vec<BackupMeta>, StoreError> {
        self.call().await;
        self.inner.backups(cluster).await
    }

    async fn delete_backup(&self, cluster: &str, id: &str) -> Result<(), StoreError> {
        self.call().await;
        self.inner.delete_backup(cluster, id).await
    }
}

impl NodeRegistry for SimCoord {
    async fn register_node(&self, cluster: &str, node: &NodeConfig) -> Result<(), StoreError> {
        self.call().await;
        self.inner.register_node(cluster, node).await
    }

    async fn registered_nodes(&self, cluster: &str) -> Result<Vec<NodeConfig>, StoreError> {
        self.call().await;
        self.inner.registered_nodes(cluster).await
    }
}

impl Coordinator for SimCoord {
    fn session(&self) -> (i64, SessionState) {
        self.inner.session()
    }

    async fn session_changed(&self, max: Duration) {
        self.inner.session_changed(max).await
    }

    async fn connect(&self) -> Result<(), StoreError> {
        self.call().await;
        self.inner.connect().await
    }

    async fn register(&self, me: &ManagerInfo) -> Result<(), StoreError> {
        self.call().await;
        self.inner.register(me).await
    }

    async fn managers(&self) -> Result<Vec<ManagerInfo>, StoreError> {
        self.call().await;
        self.inner.managers().await
    }

    async fn leader(&self, cluster: &str) -> Result<Option<Lease>, StoreError> {
        self.call().await;
        self.inner.leader(cluster).await
    }

    async fn watch_leader(&self, cluster: &str) -> Result<(Option<Lease>, Watch), StoreError> {
        self.call().await;
        self.inner.watch_leader(cluster).await
    }

    async fn claim(&self, cluster: &str, me: &ManagerInfo) -> Result<Option<Lease>, StoreError> {
        self.call().await;
        self.inner.claim(cluster, me).await
    }

    async fn resign(&self, cluster: &str, lease: &Lease) -> Result<(), StoreError> {
        self.call().await;
        self.inner.resign(cluster, lease).await
    }
}

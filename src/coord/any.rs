//! The store a configuration names, for the CLI: ZooKeeper when `[zookeeper]` is set, the
//! manager's local state directory otherwise.

use super::file::FileStore;
use super::lead::Coordinator;
use super::zk::ZkStore;

use super::{BackupCatalogue, NodeRegistry, RecordStore, StateStore, StoreError};
use crate::config::{Config, NodeConfig};
use crate::model::{ActionEntry, BackupMeta, FailoverRecord, ManagerInfo, SharedState, Versioned};
use serde::Serialize;

/// One of the stores.
pub enum AnyStore {
    /// A single manager's local state.
    File(FileStore),
    /// The managers' shared coordinator.
    Zk(ZkStore),
}

/// Who coordinates a cluster, for `myha status`.
#[derive(Debug, Clone, Serialize)]
pub struct Coordination {
    /// "zookeeper" or "local".
    pub backend: &'static str,
    /// Whether the coordinator answered.
    pub reachable: bool,
    /// The manager that leads the cluster, if any.
    pub leader: Option<ManagerInfo>,
    /// The live managers.
    pub managers: Vec<String>,
    /// What went wrong reaching it.
    pub error: Option<String>,
}

impl AnyStore {
    /// Open the configured store (connects to ZooKeeper when configured).
    pub async fn open(cfg: &Config) -> Result<Self, StoreError> {
        match &cfg.zookeeper {
            Some(zk) => Ok(AnyStore::Zk(ZkStore::connect(zk).await?)),
            None => Ok(AnyStore::File(FileStore::new(cfg.manager.state_dir.clone()))),
        }
    }

    /// The cluster's leader and the live managers.
    pub async fn coordination(&self, cluster: &str) -> Coordination {
        match self {
            AnyStore::File(_) => Coordination {
                backend: "local",
                reachable: true,
                leader: None,
                managers: Vec::new(),
                error: None,
            },
            AnyStore::Zk(z) => {
                let leader = z.leader(cluster).await;
                let managers = z.managers().await;
                let error = leader
                    .as_ref()
                    .err()
                    .or(managers.as_ref().err())
                    .map(ToString::to_string);
                Coordination {
                    backend: "zookeeper",
                    reachable: error.is_none(),
                    leader: leader.ok().flatten().map(|l| l.info),
                    managers: managers.unwrap_or_default().into_iter().map(|m| m.id).collect(),
                    error,
                }
            }
        }
    }
}

impl StateStore for AnyStore {
    async fn load(&self, cluster: &str) -> Result<Versioned<SharedState>, StoreError> {
        match self {
            AnyStore::File(s) => s.load(cluster).await,
            AnyStore::Zk(s) => s.load(cluster).await,
        }
    }

    async fn save(&self, cluster: &str, state: &SharedState, expected: u64) -> Result<u64, StoreError> {
        match self {
            AnyStore::File(s) => s.save(cluster, state, expected).await,
            AnyStore::Zk(s) => s.save(cluster, state, expected).await,
        }
    }
}

impl RecordStore for AnyStore {
    async fn save_record(&self, rec: &FailoverRecord) -> Result<(), StoreError> {
        match self {
            AnyStore::File(s) => s.save_record(rec).await,
            AnyStore::Zk(s) => s.save_record(rec).await,
        }
    }

    async fn records(&self, cluster: &str, limit: usize) -> Result<Vec<FailoverRecord>, StoreError> {
        match self {
            AnyStore::File(s) => s.records(cluster, limit).await,
            AnyStore::Zk(s) => s.records(cluster, limit).await,
        }
    }

    async fn record(&self, cluster: &str, id: &str) -> Result<Option<FailoverRecord>, StoreError> {
        match self {
            AnyStore::File(s) => s.record(cluster, id).await,
            AnyStore::Zk(s) => s.record(cluster, id).await,
        }
    }

    async fn save_action(&self, entry: &ActionEntry) -> Result<(), StoreError> {
        match self {
            AnyStore::File(s) => s.save_action(entry).await,
            AnyStore::Zk(s) => s.save_action(entry).await,
        }
    }

    async fn actions(&self, cluster: &str, limit: usize) -> Result<Vec<ActionEntry>, StoreError> {
        match self {
            AnyStore::File(s) => s.actions(cluster, limit).await,
            AnyStore::Zk(s) => s.actions(cluster, limit).await,
        }
    }
}

impl BackupCatalogue for AnyStore {
    async fn save_backup(&self, meta: &BackupMeta) -> Result<(), StoreError> {
        match self {
            AnyStore::File(s) => s.save_backup(meta).await,
            AnyStore::Zk(s) => s.save_backup(meta).await,
        }
    }

    async fn backups(&self, cluster: &str) -> Result<Vec<BackupMeta>, StoreError> {
        match self {
            AnyStore::File(s) => s.backups(cluster).await,
            AnyStore::Zk(s) => s.backups(cluster).await,
        }
    }

    async fn delete_backup(&self, cluster: &str, id: &str) -> Result<(), StoreError> {
        match self {
            AnyStore::File(s) => s.delete_backup(cluster, id).await,
            AnyStore::Zk(s) => s.delete_backup(cluster, id).await,
        }
    }
}

impl NodeRegistry for AnyStore {
    async fn register_node(&self, cluster: &str, node: &NodeConfig) -> Result<(), StoreError> {
        match self {
            AnyStore::File(s) => s.register_node(cluster, node).await,
            AnyStore::Zk(s) => s.register_node(cluster, node).await,
        }
    }

    async fn registered_nodes(&self, cluster: &str) -> Result<Vec<NodeConfig>, StoreError> {
        match self {
            AnyStore::File(s) => s.registered_nodes(cluster).await,
            AnyStore::Zk(s) => s.registered_nodes(cluster).await,
        }
    }
}

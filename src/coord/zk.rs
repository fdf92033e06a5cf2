//! [`Store`] on ZooKeeper, shared by every manager:
//!
//! ```text
//! <root>/<cluster>/state              JSON SharedState; compare-and-set on the znode version
//! <root>/<cluster>/failovers/<id>     one JSON failover record per znode
//! ```
//!
//! Our versions are the znode's version + 1, so that 0 means "no state yet" (the first save
//! is a create, which fails when another manager created it first). Every call has a
//! timeout: while the client is disconnected the library queues requests until it
//! reconnects or the session expires, and a manager must not hang on that.

use super::{SharedState, Store, StoreError, Versioned};
use crate::config::ZookeeperConfig;
use crate::failover::{FailoverRecord, RecordSink};
use std::future::Future;
use std::time::Duration;
use tokio::time::timeout;
use zookeeper_client as zk;

/// A ZooKeeper-backed store.
#[derive(Clone, Debug)]
pub struct ZkStore {
    client: zk::Client,
    root: String,
    op_timeout: Duration,
}

fn zk_err(what: &str, path: &str, e: zk::Error) -> StoreError {
    StoreError::Io(format!("ZooKeeper {what} {path}: {e}"))
}

impl ZkStore {
    /// Connect to the ensemble with the configured session timeout.
    pub async fn connect(cfg: &ZookeeperConfig) -> Result<Self, StoreError> {
        let op_timeout = cfg.session_timeout;
        let connecting = zk::Client::connector()
            .with_session_timeout(cfg.session_timeout)
            .with_connection_timeout(cfg.session_timeout / 2)
            .connect(&cfg.connect);
        let client = match timeout(cfg.session_timeout * 2, connecting).await {
            Ok(Ok(c)) => c,
            Ok(Err(e)) => {
                return Err(StoreError::Io(format!(
                    "cannot connect to ZooKeeper {}: {e}",
                    cfg.connect
                )))
            }
            Err(_) => {
                return Err(StoreError::Io(format!(
                    "cannot connect to ZooKeeper {}: timed out",
                    cfg.connect
                )))
            }
        };
        Ok(Self::with_client(client, &cfg.root, op_timeout))
    }

    /// A store over an existing session (leadership shares it).
    pub fn with_client(client: zk::Client, root: &str, op_timeout: Duration) -> Self {
        ZkStore {
            client,
            root: root.trim_end_matches('/').to_string(),
            op_timeout,
        }
    }

    /// The session.
    pub fn client(&self) -> &zk::Client {
        &self.client
    }

    /// `<root>/<cluster>`.
    pub fn cluster_path(&self, cluster: &str) -> String {
        format!("{}/{cluster}", self.root)
    }

    /// Run one request under the operation timeout; the ZooKeeper result is the caller's
    /// to match (`NoNode`, `NodeExists`, `BadVersion` mean different things per call).
    async fn timed<T>(
        &self,
        what: &str,
        path: &str,
        f: impl Future<Output = Result<T, zk::Error>>,
    ) -> Result<Result<T, zk::Error>, StoreError> {
        timeout(self.op_timeout, f).await.map_err(|_| {
            StoreError::Io(format!(
                "ZooKeeper {what} {path}: no answer within {:?}",
                self.op_timeout
            ))
        })
    }

    /// [`ZkStore::timed`] where every ZooKeeper error is a failure.
    async fn call<T>(
        &self,
        what: &str,
        path: &str,
        f: impl Future<Output = Result<T, zk::Error>>,
    ) -> Result<T, StoreError> {
        self.timed(what, path, f).await?.map_err(|e| zk_err(what, path, e))
    }

    /// Create `path` and its parents when missing (persistent nodes).
    pub async fn ensure(&self, path: &str) -> Result<(), StoreError> {
        let opts = zk::CreateMode::Persistent.with_acls(zk::Acls::anyone_all());
        match self.timed("mkdir", path, self.client.mkdir(path, &opts)).await? {
            Ok(()) | Err(zk::Error::NodeExists) => Ok(()),
            Err(e) => Err(zk_err("mkdir", path, e)),
        }
    }

    async fn version_of(&self, path: &str) -> u64 {
        match timeout(self.op_timeout, self.client.check_stat(path)).await {
            Ok(Ok(Some(stat))) => stat.version as u64 + 1,
            _ => 0,
        }
    }
}

impl RecordSink for ZkStore {
    async fn save_record(&self, rec: &FailoverRecord) -> Result<(), String> {
        let dir = format!("{}/failovers", self.cluster_path(&rec.cluster));
        let path = format!("{dir}/{}", rec.id);
        let bytes = serde_json::to_vec(rec).map_err(|e| e.to_string())?;
        match self
            .timed("set", &path, self.client.set_data(&path, &bytes, None))
            .await
            .map_err(|e| e.to_string())?
        {
            Ok(_) => return Ok(()),
            Err(zk::Error::NoNode) => {}
            Err(e) => return Err(zk_err("set", &path, e).to_string()),
        }
        self.ensure(&dir).await.map_err(|e| e.to_string())?;
        let opts = zk::CreateMode::Persistent.with_acls(zk::Acls::anyone_all());
        self.call("create", &path, self.client.create(&path, &bytes, &opts))
            .await
            .map(|_| ())
            .map_err(|e| e.to_string())
    }
}

impl Store for ZkStore {
    async fn load(&self, cluster: &str) -> Result<Versioned<SharedState>, StoreError> {
        let path = format!("{}/state", self.cluster_path(cluster));
        match self.timed("get", &path, self.client.get_data(&path)).await? {
            Ok((data, stat)) => {
                let value =
                    serde_json::from_slice(&data).map_err(|e| StoreError::Io(format!("corrupt {path}: {e}")))?;
                Ok(Versioned {
                    value,
                    version: stat.version as u64 + 1,
                })
            }
            Err(zk::Error::NoNode) => Ok(Versioned {
                value: SharedState::default(),
                version: 0,
            }),
            Err(e) => Err(zk_err("get", &path, e)),
        }
    }

    async fn save(&self, cluster: &str, state: &SharedState, expected: u64) -> Result<u64, StoreError> {
        let path = format!("{}/state", self.cluster_path(cluster));
        let bytes = serde_json::to_vec(state).map_err(|e| StoreError::Io(e.to_string()))?;
        let conflict = |found| StoreError::Conflict {
            cluster: cluster.to_string(),
            expected,
            found,
        };
        if expected == 0 {
            self.ensure(&self.cluster_path(cluster)).await?;
            let opts = zk::CreateMode::Persistent.with_acls(zk::Acls::anyone_all());
            return match self
                .timed("create", &path, self.client.create(&path, &bytes, &opts))
                .await?
            {
                Ok((stat, _)) => Ok(stat.version as u64 + 1),
                Err(zk::Error::NodeExists) => Err(conflict(self.version_of(&path).await)),
                Err(e) => Err(zk_err("create", &path, e)),
            };
        }
        let zk_version =
            i32::try_from(expected - 1).map_err(|_| StoreError::Io(format!("version {expected} out of range")))?;
        match self
            .timed("set", &path, self.client.set_data(&path, &bytes, Some(zk_version)))
            .await?
        {
            Ok(stat) => Ok(stat.version as u64 + 1),
            Err(zk::Error::BadVersion) | Err(zk::Error::NoNode) => Err(conflict(self.version_of(&path).await)),
            Err(e) => Err(zk_err("set", &path, e)),
        }
    }

    async fn records(&self, cluster: &str, limit: usize) -> Result<Vec<FailoverRecord>, StoreError> {
        let dir = format!("{}/failovers", self.cluster_path(cluster));
        let names = match self.timed("list", &dir, self.client.list_children(&dir)).await? {
            Ok(n) => n,
            Err(zk::Error::NoNode) => return Ok(Vec::new()),
            Err(e) => return Err(zk_err("list", &dir, e)),
        };
        let mut out = Vec::new();
        for n in names {
            let path = format!("{dir}/{n}");
            let (data, _) = self.call("get", &path, self.client.get_data(&path)).await?;
            match serde_json::from_slice::<FailoverRecord>(&data) {
                Ok(r) => out.push(r),
                Err(e) => tracing::warn!(path = %path, error = %e, "skipping unreadable failover record"),
            }
        }
        out.sort_by(|a, b| b.started_at.cmp(&a.started_at));
        out.truncate(limit);
        Ok(out)
    }
}

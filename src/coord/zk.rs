//! The coordinator on ZooKeeper ([`Store`] and [`Coordinator`]), shared by every manager:
//!
//! ```text
//! <root>/managers/<id>                ephemeral: a live manager
//! <root>/<cluster>/leader             ephemeral: the manager that acts on the cluster
//! <root>/<cluster>/state              JSON SharedState; compare-and-set on the znode version
//! <root>/<cluster>/failovers/<id>     one JSON failover record per znode
//! ```
//!
//! Our versions are the znode's version + 1, so that 0 means "no state yet" (the first save
//! is a create, which fails when another manager created it first). Every call has a
//! timeout: while the client is disconnected the library queues requests until it
//! reconnects or the session expires, and a manager must not hang on that.
//!
//! The session is replaceable: after it expires the elector makes a new one
//! ([`Coordinator::connect`]) and every clone of the store uses it from then on.

use super::lead::{Coordinator, Lease, Watch};

use super::{BackupCatalogue, NodeRegistry, RecordStore, StateStore, StoreError};
use crate::config::{NodeConfig, ZookeeperConfig};
use crate::model::{ActionEntry, BackupMeta, FailoverRecord, ManagerInfo, SessionState, SharedState, Versioned};
use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;
use tokio::time::{sleep, timeout};
use zookeeper_client as zk;

/// A ZooKeeper-backed coordinator.
#[derive(Clone, Debug)]
pub struct ZkStore {
    client: Arc<RwLock<Option<zk::Client>>>,
    /// The znode version of each record this store last wrote: the next write of the same
    /// record is one compare-and-set, not a read and a write (records are written on the
    /// failover's critical path, once per step).
    record_versions: Arc<Mutex<HashMap<String, i32>>>,
    cfg: ZookeeperConfig,
    root: String,
    op_timeout: Duration,
}

fn zk_err(what: &str, path: &str, e: zk::Error) -> StoreError {
    StoreError::Unavailable(format!("ZooKeeper {what} {path}: {e}"))
}

fn session_state(s: zk::SessionState) -> SessionState {
    match s {
        zk::SessionState::SyncConnected => SessionState::Connected,
        // a read-only server cannot take our writes: as good as disconnected
        zk::SessionState::Disconnected | zk::SessionState::ConnectedReadOnly => SessionState::Disconnected,
        zk::SessionState::Expired | zk::SessionState::AuthFailed | zk::SessionState::Closed => SessionState::Expired,
    }
}

impl ZkStore {
    /// A store with no session yet: [`Coordinator::connect`] makes one.
    pub fn new(cfg: &ZookeeperConfig) -> Self {
        ZkStore {
            client: Arc::new(RwLock::new(None)),
            record_versions: Arc::default(),
            cfg: cfg.clone(),
            root: cfg.root.trim_end_matches('/').to_string(),
            op_timeout: cfg.session_timeout,
        }
    }

    /// A store with a session, or the reason there is none.
    pub async fn connect(cfg: &ZookeeperConfig) -> Result<Self, StoreError> {
        let s = Self::new(cfg);
        Coordinator::connect(&s).await?;
        Ok(s)
    }

    /// The current session's client.
    pub fn client(&self) -> Result<zk::Client, StoreError> {
        self.client
            .read()
            .ok()
            .and_then(|c| c.clone())
            .ok_or_else(|| StoreError::Unavailable(format!("no ZooKeeper session with {}", self.cfg.connect)))
    }

    /// The current session's client if it is connected: requests made while disconnected
    /// would be queued by the library and could land much later.
    fn connected(&self) -> Result<zk::Client, StoreError> {
        let c = self.client()?;
        match session_state(c.state()) {
            SessionState::Connected => Ok(c),
            state => Err(StoreError::Unavailable(format!("ZooKeeper session {state}"))),
        }
    }

    /// `<root>/<cluster>`.
    pub fn cluster_path(&self, cluster: &str) -> String {
        format!("{}/{cluster}", self.root)
    }

    fn leader_path(&self, cluster: &str) -> String {
        format!("{}/leader", self.cluster_path(cluster))
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
            StoreError::Unavailable(format!(
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
        let c = self.connected()?;
        let opts = zk::CreateMode::Persistent.with_acls(zk::Acls::anyone_all());
        match self.timed("mkdir", path, c.mkdir(path, &opts)).await? {
            Ok(()) | Err(zk::Error::NodeExists) => Ok(()),
            Err(e) => Err(zk_err("mkdir", path, e)),
        }
    }

    async fn version_of(&self, path: &str) -> u64 {
        let Ok(c) = self.client() else { return 0 };
        match timeout(self.op_timeout, c.check_stat(path)).await {
            Ok(Ok(Some(stat))) => stat.version as u64 + 1,
            _ => 0,
        }
    }

    /// Create an ephemeral node owned by this session; `Ok(None)` when it exists.
    async fn create_ephemeral(&self, path: &str, data: &[u8]) -> Result<Option<zk::Stat>, StoreError> {
        let c = self.connected()?;
        let opts = zk::CreateMode::Ephemeral.with_acls(zk::Acls::anyone_all());
        match self.timed("create", path, c.create(path, data, &opts)).await? {
            Ok((stat, _)) => Ok(Some(stat)),
            Err(zk::Error::NodeExists) => Ok(None),
            Err(e) => Err(zk_err("create", path, e)),
        }
    }

    /// Every child of `dir` as JSON (none when `dir` does not exist). A child deleted
    /// meanwhile is skipped; an unreadable one is logged and skipped.
    /// The children of `dir`, parsed; with `newest`, only that many of the last by name.
    async fn read_children<T: serde::de::DeserializeOwned>(
        &self,
        dir: &str,
        newest: Option<usize>,
    ) -> Result<Vec<T>, StoreError> {
        let c = self.connected()?;
        let mut names = match self.timed("list", dir, c.list_children(dir)).await? {
            Ok(n) => n,
            Err(zk::Error::NoNode) => return Ok(Vec::new()),
            Err(e) => return Err(zk_err("list", dir, e)),
        };
        if let Some(n) = newest {
            names.sort();
            names.drain(..names.len().saturating_sub(n));
        }
        let mut out = Vec::new();
        for n in names {
            let path = format!("{dir}/{n}");
            let data = match self.timed("get", &path, c.get_data(&path)).await? {
                Ok((data, _)) => data,
                Err(zk::Error::NoNode) => continue,
                Err(e) => return Err(zk_err("get", &path, e)),
            };
            match serde_json::from_slice(&data) {
                Ok(v) => out.push(v),
                Err(e) => tracing::warn!(path = %path, error = %e, "skipping unreadable node"),
            }
        }
        Ok(out)
    }

    async fn read_lease(&self, c: &zk::Client, path: &str) -> Result<Option<Lease>, StoreError> {
        match self.timed("get", path, c.get_data(path)).await? {
            Ok((data, stat)) => {
                let info: ManagerInfo =
                    serde_json::from_slice(&data).map_err(|e| StoreError::Refused(format!("corrupt {path}: {e}")))?;
                Ok(Some(Lease {
                    info,
                    owner: stat.ephemeral_owner,
                    term: stat.czxid,
                }))
            }
            Err(zk::Error::NoNode) => Ok(None),
            Err(e) => Err(zk_err("get", path, e)),
        }
    }
}

impl Coordinator for ZkStore {
    fn session(&self) -> (i64, SessionState) {
        match self.client() {
            Ok(c) => (c.session_id().0, session_state(c.state())),
            Err(_) => (0, SessionState::Connecting),
        }
    }

    async fn session_changed(&self, max: Duration) {
        match self.client() {
            Ok(c) => {
                let mut w = c.state_watcher();
                let _ = timeout(max, w.changed()).await;
            }
            Err(_) => sleep(max).await,
        }
    }

    async fn connect(&self) -> Result<(), StoreError> {
        let cfg = &self.cfg;
        let connecting = zk::Client::connector()
            .with_session_timeout(cfg.session_timeout)
            .with_connection_timeout(cfg.session_timeout / 2)
            .connect(&cfg.connect);
        let client = match timeout(cfg.session_timeout * 2, connecting).await {
            Ok(Ok(c)) => c,
            Ok(Err(e)) => {
                return Err(StoreError::Unavailable(format!(
                    "cannot connect to ZooKeeper {}: {e}",
                    cfg.connect
                )))
            }
            Err(_) => {
                return Err(StoreError::Unavailable(format!(
                    "cannot connect to ZooKeeper {}: timed out",
                    cfg.connect
                )))
            }
        };
        if let Ok(mut slot) = self.client.write() {
            *slot = Some(client);
        }
        Ok(())
    }

    async fn register(&self, me: &ManagerInfo) -> Result<(), StoreError> {
        let dir = format!("{}/managers", self.root);
        self.ensure(&dir).await?;
        let path = format!("{dir}/{}", me.id);
        let data = serde_json::to_vec(me).map_err(|e| StoreError::Refused(e.to_string()))?;
        if self.create_ephemeral(&path, &data).await?.is_some() {
            return Ok(());
        }
        let c = self.connected()?;
        match self.call("stat", &path, c.check_stat(&path)).await? {
            Some(stat) if stat.ephemeral_owner == c.session_id().0 => Ok(()),
            // Usually this manager's previous process, whose session has not expired yet;
            // otherwise two managers were given the same id.
            Some(stat) => Err(StoreError::Refused(format!(
                "manager id {} is registered by another session ({:#x}): a previous process whose session has not expired yet, or two managers with the same id",
                me.id, stat.ephemeral_owner
            ))),
            None => Err(StoreError::Unavailable(format!("{path} vanished while registering"))),
        }
    }

    async fn managers(&self) -> Result<Vec<ManagerInfo>, StoreError> {
        self.read_children(&format!("{}/managers", self.root), None).await
    }

    async fn leader(&self, cluster: &str) -> Result<Option<Lease>, StoreError> {
        let c = self.connected()?;
        self.read_lease(&c, &self.leader_path(cluster)).await
    }

    async fn watch_leader(&self, cluster: &str) -> Result<(Option<Lease>, Watch), StoreError> {
        let c = self.connected()?;
        let path = self.leader_path(cluster);
        let (stat, watcher) = self.call("watch", &path, c.check_and_watch_stat(&path)).await?;
        let watch: Watch = Box::pin(async move {
            watcher.changed().await;
        });
        let lease = match stat {
            Some(_) => self.read_lease(&c, &path).await?,
            None => None,
        };
        Ok((lease, watch))
    }

    async fn claim(&self, cluster: &str, me: &ManagerInfo) -> Result<Option<Lease>, StoreError> {
        self.ensure(&self.cluster_path(cluster)).await?;
        let mut info = me.clone();
        info.since = crate::model::timestamp(crate::model::time::now());
        let data = serde_json::to_vec(&info).map_err(|e| StoreError::Refused(e.to_string()))?;
        let c = self.connected()?;
        Ok(self
            .create_ephemeral(&self.leader_path(cluster), &data)
            .await?
            .map(|stat| Lease {
                info,
                owner: c.session_id().0,
                term: stat.czxid,
            }))
    }

    async fn resign(&self, cluster: &str, lease: &Lease) -> Result<(), StoreError> {
        let c = self.connected()?;
        let path = self.leader_path(cluster);
        match self.call("stat", &path, c.check_stat(&path)).await? {
            Some(stat) if stat.czxid == lease.term => {
                match self.timed("delete", &path, c.delete(&path, Some(stat.version))).await? {
                    Ok(()) | Err(zk::Error::NoNode) => Ok(()),
                    Err(e) => Err(zk_err("delete", &path, e)),
                }
            }
            _ => Ok(()),
        }
    }
}

impl ZkStore {
    /// Remember the version written, unless the record is finished: a write after that
    /// must always read and be refused.
    fn remember_version(&self, path: &str, version: i32, rec: &FailoverRecord) {
        if let Ok(mut v) = self.record_versions.lock() {
            if rec.finished_at.is_none() {
                v.insert(path.to_string(), version);
            } else {
                v.remove(path);
            }
        }
    }

    fn known_version(&self, path: &str) -> Option<i32> {
        self.record_versions.lock().ok().and_then(|v| v.get(path).copied())
    }

    /// Drop the oldest children of `dir` (ids sort by time) beyond `keep`. Best effort: a
    /// delete that fails is retried by the next prune.
    async fn prune(&self, c: &zk::Client, dir: &str, keep: usize) -> Result<(), StoreError> {
        let mut names = match self.timed("list", dir, c.list_children(dir)).await? {
            Ok(n) => n,
            Err(e) => return Err(zk_err("list", dir, e)),
        };
        names.sort();
        for old in names.iter().take(names.len().saturating_sub(keep)) {
            let p = format!("{dir}/{old}");
            let _ = self.timed("delete", &p, c.delete(&p, None)).await;
        }
        Ok(())
    }

    /// Overwrite the record at `path` unless it is finished, compare-and-set on the version
    /// read, so the check and the write are one.
    async fn overwrite_unfinished(
        &self,
        c: &zk::Client,
        path: &str,
        rec: &FailoverRecord,
        bytes: &[u8],
    ) -> Result<Option<()>, StoreError> {
        let (data, stat) = match self.timed("get", path, c.get_data(path)).await? {
            Ok(found) => found,
            Err(zk::Error::NoNode) => return Ok(None),
            Err(e) => return Err(zk_err("get", path, e)),
        };
        if let Ok(stored) = serde_json::from_slice::<FailoverRecord>(&data) {
            if stored.finished_at.is_some() {
                return Err(StoreError::Refused(format!(
                    "{path} is finished ({:?}): not overwriting it",
                    stored.status
                )));
            }
        }
        match self
            .timed("set", path, c.set_data(path, bytes, Some(stat.version)))
            .await?
        {
            Ok(st) => {
                self.remember_version(path, st.version, rec);
                Ok(Some(()))
            }
            Err(zk::Error::BadVersion) => Err(StoreError::Refused(format!(
                "{path} changed concurrently: not overwriting it"
            ))),
            Err(e) => Err(zk_err("set", path, e)),
        }
    }
}

impl StateStore for ZkStore {
    async fn load(&self, cluster: &str) -> Result<Versioned<SharedState>, StoreError> {
        let path = format!("{}/state", self.cluster_path(cluster));
        let c = self.connected()?;
        match self.timed("get", &path, c.get_data(&path)).await? {
            Ok((data, stat)) => {
                let value =
                    serde_json::from_slice(&data).map_err(|e| StoreError::Refused(format!("corrupt {path}: {e}")))?;
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
        let bytes = serde_json::to_vec(state).map_err(|e| StoreError::Refused(e.to_string()))?;
        let c = self.connected()?;
        let conflict = |found| StoreError::Conflict {
            cluster: cluster.to_string(),
            expected,
            found,
        };
        if expected == 0 {
            self.ensure(&self.cluster_path(cluster)).await?;
            let opts = zk::CreateMode::Persistent.with_acls(zk::Acls::anyone_all());
            return match self.timed("create", &path, c.create(&path, &bytes, &opts)).await? {
                Ok((stat, _)) => Ok(stat.version as u64 + 1),
                Err(zk::Error::NodeExists) => Err(conflict(self.version_of(&path).await)),
                Err(e) => Err(zk_err("create", &path, e)),
            };
        }
        let zk_version =
            i32::try_from(expected - 1).map_err(|_| StoreError::Refused(format!("version {expected} out of range")))?;
        match self
            .timed("set", &path, c.set_data(&path, &bytes, Some(zk_version)))
            .await?
        {
            Ok(stat) => Ok(stat.version as u64 + 1),
            Err(zk::Error::BadVersion) | Err(zk::Error::NoNode) => Err(conflict(self.version_of(&path).await)),
            Err(e) => Err(zk_err("set", &path, e)),
        }
    }
}

impl RecordStore for ZkStore {
    async fn save_record(&self, rec: &FailoverRecord) -> Result<(), StoreError> {
        let dir = format!("{}/failovers", self.cluster_path(&rec.cluster));
        let path = format!("{dir}/{}", rec.id);
        let bytes = serde_json::to_vec(rec).map_err(|e| StoreError::Refused(e.to_string()))?;
        let c = self.connected()?;
        // A finished record is final: a manager that lost the lead mid-failover (paused past
        // its session, then reconnected) must not overwrite the record its successor finished.
        // Our own next write is a compare-and-set on the version we wrote last; anything else
        // (first write here, or someone else wrote meanwhile) reads and checks first.
        if let Some(v) = self.known_version(&path) {
            match self.timed("set", &path, c.set_data(&path, &bytes, Some(v))).await? {
                Ok(st) => {
                    self.remember_version(&path, st.version, rec);
                    return Ok(());
                }
                Err(zk::Error::BadVersion) | Err(zk::Error::NoNode) => {}
                Err(e) => return Err(zk_err("set", &path, e)),
            }
        }
        if self.overwrite_unfinished(&c, &path, rec, &bytes).await?.is_some() {
            return Ok(());
        }
        self.ensure(&dir).await?;
        let opts = zk::CreateMode::Persistent.with_acls(zk::Acls::anyone_all());
        let (stat, _) = self.call("create", &path, c.create(&path, &bytes, &opts)).await?;
        self.remember_version(&path, stat.version, rec);
        self.prune(&c, &dir, super::MAX_RECORDS).await
    }

    async fn records(&self, cluster: &str, limit: usize) -> Result<Vec<FailoverRecord>, StoreError> {
        let dir = format!("{}/failovers", self.cluster_path(cluster));
        // Record ids start with `<cluster>-<UTC time>`, so the newest are the last names:
        // read only those (and a few more: within one second the id's form may differ from
        // the start order), not every record ever written.
        let mut out: Vec<FailoverRecord> = self.read_children(&dir, Some(limit.saturating_add(4))).await?;
        out.sort_by(|a, b| b.started_at.cmp(&a.started_at));
        out.truncate(limit);
        Ok(out)
    }

    async fn record(&self, cluster: &str, id: &str) -> Result<Option<FailoverRecord>, StoreError> {
        let path = format!("{}/failovers/{id}", self.cluster_path(cluster));
        let c = self.connected()?;
        match self.timed("get", &path, c.get_data(&path)).await? {
            Ok((data, _)) => serde_json::from_slice(&data)
                .map(Some)
                .map_err(|e| StoreError::Refused(format!("corrupt {path}: {e}"))),
            Err(zk::Error::NoNode) => Ok(None),
            Err(e) => Err(zk_err("get", &path, e)),
        }
    }

    async fn save_action(&self, entry: &ActionEntry) -> Result<(), StoreError> {
        let dir = format!("{}/actions", self.cluster_path(&entry.cluster));
        let path = format!("{dir}/{}", entry.id);
        let bytes = serde_json::to_vec(entry).map_err(|e| StoreError::Refused(e.to_string()))?;
        self.ensure(&dir).await?;
        let c = self.connected()?;
        let opts = zk::CreateMode::Persistent.with_acls(zk::Acls::anyone_all());
        match self.timed("create", &path, c.create(&path, &bytes, &opts)).await? {
            Ok(_) | Err(zk::Error::NodeExists) => {}
            Err(e) => return Err(zk_err("create", &path, e)),
        }
        self.prune(&c, &dir, super::MAX_ACTIONS).await
    }

    async fn actions(&self, cluster: &str, limit: usize) -> Result<Vec<ActionEntry>, StoreError> {
        let dir = format!("{}/actions", self.cluster_path(cluster));
        let mut out: Vec<ActionEntry> = self.read_children(&dir, Some(limit)).await?;
        out.sort_by(|a, b| b.id.cmp(&a.id));
        Ok(out)
    }
}

impl BackupCatalogue for ZkStore {
    async fn save_backup(&self, meta: &BackupMeta) -> Result<(), StoreError> {
        let dir = format!("{}/backups", self.cluster_path(&meta.cluster));
        let path = format!("{dir}/{}", meta.id);
        let bytes = serde_json::to_vec(meta).map_err(|e| StoreError::Refused(e.to_string()))?;
        self.ensure(&dir).await?;
        let c = self.connected()?;
        let opts = zk::CreateMode::Persistent.with_acls(zk::Acls::anyone_all());
        match self.timed("create", &path, c.create(&path, &bytes, &opts)).await? {
            Ok(_) => Ok(()),
            // an entry is written once, when its backup is complete: the same id again is
            // the same backup
            Err(zk::Error::NodeExists) => Ok(()),
            Err(e) => Err(zk_err("create", &path, e)),
        }
    }

    async fn backups(&self, cluster: &str) -> Result<Vec<BackupMeta>, StoreError> {
        let dir = format!("{}/backups", self.cluster_path(cluster));
        let mut out: Vec<BackupMeta> = self.read_children(&dir, None).await?;
        out.sort_by(|a, b| b.started_at.cmp(&a.started_at));
        Ok(out)
    }

    async fn delete_backup(&self, cluster: &str, id: &str) -> Result<(), StoreError> {
        let path = format!("{}/backups/{id}", self.cluster_path(cluster));
        let c = self.connected()?;
        match self.timed("delete", &path, c.delete(&path, None)).await? {
            Ok(()) | Err(zk::Error::NoNode) => Ok(()),
            Err(e) => Err(zk_err("delete", &path, e)),
        }
    }
}

impl NodeRegistry for ZkStore {
    async fn register_node(&self, cluster: &str, node: &NodeConfig) -> Result<(), StoreError> {
        let dir = format!("{}/nodes", self.cluster_path(cluster));
        let path = format!("{dir}/{}", node.name);
        let bytes = serde_json::to_vec(node).map_err(|e| StoreError::Refused(e.to_string()))?;
        self.ensure(&dir).await?;
        let c = self.connected()?;
        let opts = zk::CreateMode::Persistent.with_acls(zk::Acls::anyone_all());
        match self.timed("create", &path, c.create(&path, &bytes, &opts)).await? {
            Ok(_) => Ok(()),
            // registered again (a re-bootstrap): the newest address wins
            Err(zk::Error::NodeExists) => match self.timed("set", &path, c.set_data(&path, &bytes, None)).await? {
                Ok(_) => Ok(()),
                Err(e) => Err(zk_err("set", &path, e)),
            },
            Err(e) => Err(zk_err("create", &path, e)),
        }
    }

    async fn registered_nodes(&self, cluster: &str) -> Result<Vec<NodeConfig>, StoreError> {
        self.read_children(&format!("{}/nodes", self.cluster_path(cluster)), None)
            .await
    }
}

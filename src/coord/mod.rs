//! The coordinator edge: cluster state shared by managers (current master, epoch, anti-flap
//! block, pause, nodes needing a rebuild) and the failover records.
//!
//! Contract of [`Store`]: `save` is a compare-and-set on the version returned by `load` —
//! it fails with [`StoreError::Conflict`] when someone else wrote in between, and the caller
//! must re-read before acting. Records are written whole (create or overwrite) and listed
//! newest first. [`file::FileStore`] implements it on a local directory for a manager that
//! acts alone; [`zk::ZkStore`] on ZooKeeper, where it is also the [`lead::Coordinator`] that
//! decides which manager leads each cluster ([`elector`]) and guards failovers ([`guard`]).

pub mod any;
#[cfg(any(test, feature = "testkit"))]
pub mod contract;
pub mod elector;
#[cfg(any(test, feature = "testkit"))]
pub mod fake;
pub mod file;
pub mod lead;
#[cfg(test)]
mod tests;
pub mod zk;

use crate::config::NodeConfig;
use crate::model::{ActionEntry, BackupMeta, FailoverRecord, SharedState, Versioned};
use std::future::Future;

/// Why the store could not do what was asked.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StoreError {
    /// Someone else changed the state since it was read.
    #[error("cluster {cluster}: state changed concurrently (expected version {expected}, found {found})")]
    Conflict {
        /// cluster
        cluster: String,
        /// the version the caller read
        expected: u64,
        /// the version found
        found: u64,
    },
    /// The coordinator cannot be reached or did not answer in time (no session, no quorum,
    /// a timeout, a disk that fails). Retryable: the same call may succeed later; for a
    /// write, whether it took effect is unknown — re-read before acting on it.
    #[error("{0}")]
    Unavailable(String),
    /// Refused for what was asked: data that does not encode or decode, a node owned by
    /// another session, a record that is final, or the caller's own refusal inside
    /// [`try_update`]. Not retryable as it is.
    #[error("{0}")]
    Refused(String),
}

impl StoreError {
    /// Might the same call succeed if tried again (after re-reading, for a conflict)?
    pub fn is_retryable(&self) -> bool {
        !matches!(self, StoreError::Refused(_))
    }
}

/// A cluster's shared state, compare-and-set. Timing-critical: read at the top of every
/// round and by the guard immediately before every mutating step, so an implementation
/// answers within its operation timeout or fails with [`StoreError::Unavailable`].
pub trait StateStore: Send + Sync {
    /// Read a cluster's state (default state, version 0, when there is none yet).
    fn load(&self, cluster: &str) -> impl Future<Output = Result<Versioned<SharedState>, StoreError>> + Send;

    /// Compare-and-set: write `state` if the stored version is still `expected`; returns the
    /// new version. [`StoreError::Conflict`] when someone else wrote in between.
    fn save(
        &self,
        cluster: &str,
        state: &SharedState,
        expected: u64,
    ) -> impl Future<Output = Result<u64, StoreError>> + Send;
}

/// Failover records: written before a failover's first step and after each (on its critical
/// path: a write that fails is logged, never allowed to stop the failover), read by a new
/// leader's take-over, the API and the CLI. A finished record is final: writing over it is
/// [`StoreError::Refused`] (a deposed leader must not undo its successor's record).
pub trait RecordStore: Send + Sync {
    /// Persist the record as it is now (create, or overwrite an unfinished one). Creating one
    /// drops the cluster's oldest beyond [`MAX_RECORDS`].
    fn save_record(&self, rec: &FailoverRecord) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// The newest `limit` failover records of a cluster, newest first.
    fn records(
        &self,
        cluster: &str,
        limit: usize,
    ) -> impl Future<Output = Result<Vec<FailoverRecord>, StoreError>> + Send;

    /// One failover record by id (`None` when there is none yet).
    fn record(
        &self,
        cluster: &str,
        id: &str,
    ) -> impl Future<Output = Result<Option<FailoverRecord>, StoreError>> + Send;

    /// Keep an action entry; only the newest [`MAX_ACTIONS`] of a cluster are kept.
    fn save_action(&self, entry: &ActionEntry) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// The newest `limit` action entries of a cluster, newest first.
    fn actions(&self, cluster: &str, limit: usize)
        -> impl Future<Output = Result<Vec<ActionEntry>, StoreError>> + Send;
}

/// Failover records kept per cluster: a listing that grows without bound would at last
/// exceed ZooKeeper's `jute.maxbuffer` (1 MB) and stop every leader reading it. Ids sort by
/// time, so the oldest go; a running record is always among the newest.
pub const MAX_RECORDS: usize = 1000;

/// Action entries kept per cluster: older ones are dropped when a new one is saved (a fence
/// that keeps failing writes one every few seconds).
pub const MAX_ACTIONS: usize = 200;

/// The backup catalogue: only usable (complete) backups are ever catalogued.
pub trait BackupCatalogue: Send + Sync {
    /// Catalogue a finished backup.
    fn save_backup(&self, meta: &BackupMeta) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// A cluster's catalogued backups, newest first.
    fn backups(&self, cluster: &str) -> impl Future<Output = Result<Vec<BackupMeta>, StoreError>> + Send;

    /// Remove a backup from the catalogue.
    fn delete_backup(&self, cluster: &str, id: &str) -> impl Future<Output = Result<(), StoreError>> + Send;
}

/// Nodes that are not in the managers' configuration (bootstrapped hosts): every manager adds
/// them to the cluster it watches.
pub trait NodeRegistry: Send + Sync {
    /// Register a node (create or replace its registration).
    fn register_node(&self, cluster: &str, node: &NodeConfig) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// The nodes registered at run time.
    fn registered_nodes(&self, cluster: &str) -> impl Future<Output = Result<Vec<NodeConfig>, StoreError>> + Send;
}

/// Everything a manager keeps in its coordinator, by concern.
pub trait Store: StateStore + RecordStore + BackupCatalogue + NodeRegistry {}

impl<T: StateStore + RecordStore + BackupCatalogue + NodeRegistry> Store for T {}

/// Like [`update`], for a change that may be refused on what it finds: `f` returning `Err`
/// writes nothing and passes the refusal on.
pub async fn try_update<S: StateStore, E: From<StoreError>>(
    store: &S,
    cluster: &str,
    f: impl Fn(&mut SharedState) -> Result<(), E>,
) -> Result<Versioned<SharedState>, E> {
    let mut last = None;
    for _ in 0..5 {
        let cur = store.load(cluster).await?;
        let mut next = cur.value.clone();
        f(&mut next)?;
        match store.save(cluster, &next, cur.version).await {
            Ok(version) => return Ok(Versioned { value: next, version }),
            Err(e @ StoreError::Conflict { .. }) => last = Some(e),
            Err(e) => return Err(e.into()),
        }
    }
    Err(last
        .unwrap_or_else(|| StoreError::Unavailable("update failed".into()))
        .into())
}

/// Read-modify-write with compare-and-set, retried on conflicts (a few times: conflicts are
/// rare and mean another writer just acted).
pub async fn update<S: StateStore>(
    store: &S,
    cluster: &str,
    f: impl Fn(&mut SharedState),
) -> Result<Versioned<SharedState>, StoreError> {
    try_update(store, cluster, |st| {
        f(st);
        Ok::<(), StoreError>(())
    })
    .await
}

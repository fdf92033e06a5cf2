//! [`Store`] on a local directory, for a manager that acts alone:
//!
//! ```text
//! <state_dir>/<cluster>/state.json              {"version": N, "state": {...}}
//! <state_dir>/<cluster>/failovers/<id>.json     one record per failover
//! ```
//!
//! Writes go to a temporary file renamed into place; compare-and-set holds an exclusive
//! `flock` on `<cluster>/.lock`, so `myha ack` and the manager never interleave.

use super::{BackupCatalogue, NodeRegistry, RecordStore, StateStore, StoreError};
use crate::config::NodeConfig;
use crate::model::{ActionEntry, BackupMeta, FailoverRecord, SharedState, Versioned};
use nix::fcntl::{Flock, FlockArg};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// A directory-backed store.
#[derive(Debug, Clone)]
pub struct FileStore {
    dir: PathBuf,
}

#[derive(Serialize, Deserialize)]
struct OnDisk {
    version: u64,
    state: SharedState,
}

fn io(what: &str, path: &Path, e: impl std::fmt::Display) -> StoreError {
    StoreError::Unavailable(format!("{what} {}: {e}", path.display()))
}

fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), StoreError> {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, bytes).map_err(|e| io("cannot write", &tmp, e))?;
    std::fs::rename(&tmp, path).map_err(|e| io("cannot rename into", path, e))
}

impl FileStore {
    /// A store under `dir` (created when needed).
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        FileStore { dir: dir.into() }
    }

    fn cluster_dir(&self, cluster: &str) -> Result<PathBuf, StoreError> {
        let d = self.dir.join(cluster);
        std::fs::create_dir_all(d.join("failovers")).map_err(|e| io("cannot create", &d, e))?;
        Ok(d)
    }

    fn read(&self, cluster: &str) -> Result<Versioned<SharedState>, StoreError> {
        let p = self.cluster_dir(cluster)?.join("state.json");
        match std::fs::read(&p) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Versioned {
                value: SharedState::default(),
                version: 0,
            }),
            Err(e) => Err(io("cannot read", &p, e)),
            Ok(bytes) => {
                let d: OnDisk = serde_json::from_slice(&bytes).map_err(|e| io("corrupt", &p, e))?;
                Ok(Versioned {
                    value: d.state,
                    version: d.version,
                })
            }
        }
    }

    /// Write `value` as `<cluster>/<kind>/<name>.json`, atomically.
    fn write_one<T: Serialize>(&self, cluster: &str, kind: &str, name: &str, value: &T) -> Result<(), StoreError> {
        let d = self.cluster_dir(cluster)?.join(kind);
        std::fs::create_dir_all(&d).map_err(|e| io("cannot create", &d, e))?;
        let bytes = serde_json::to_vec_pretty(value).map_err(|e| StoreError::Refused(e.to_string()))?;
        write_atomic(&d.join(format!("{name}.json")), &bytes)
    }

    /// Every `<cluster>/<kind>/*.json`; an unreadable file is skipped with a warning.
    fn read_all<T: serde::de::DeserializeOwned>(&self, cluster: &str, kind: &str) -> Result<Vec<T>, StoreError> {
        let d = self.cluster_dir(cluster)?.join(kind);
        let entries = match std::fs::read_dir(&d) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            r => r.map_err(|e| io("cannot list", &d, e))?,
        };
        let mut out = Vec::new();
        for entry in entries {
            let p = entry.map_err(|e| io("cannot list", &d, e))?.path();
            if p.extension().and_then(|e| e.to_str()) != Some("json") {
                continue;
            }
            match std::fs::read(&p)
                .map_err(|e| e.to_string())
                .and_then(|b| serde_json::from_slice(&b).map_err(|e| e.to_string()))
            {
                Ok(v) => out.push(v),
                Err(e) => tracing::warn!(file = %p.display(), error = %e, "skipping an unreadable file"),
            }
        }
        Ok(out)
    }

    fn lock(&self, cluster: &str) -> Result<Flock<std::fs::File>, StoreError> {
        let p = self.cluster_dir(cluster)?.join(".lock");
        let f = std::fs::File::create(&p).map_err(|e| io("cannot open", &p, e))?;
        Flock::lock(f, FlockArg::LockExclusive).map_err(|(_, e)| io("cannot lock", &p, e))
    }
}

impl StateStore for FileStore {
    async fn load(&self, cluster: &str) -> Result<Versioned<SharedState>, StoreError> {
        self.read(cluster)
    }

    async fn save(&self, cluster: &str, state: &SharedState, expected: u64) -> Result<u64, StoreError> {
        let _lock = self.lock(cluster)?;
        let found = self.read(cluster)?.version;
        if found != expected {
            return Err(StoreError::Conflict {
                cluster: cluster.to_string(),
                expected,
                found,
            });
        }
        let version = expected + 1;
        let bytes = serde_json::to_vec_pretty(&OnDisk {
            version,
            state: state.clone(),
        })
        .map_err(|e| StoreError::Refused(e.to_string()))?;
        write_atomic(&self.cluster_dir(cluster)?.join("state.json"), &bytes)?;
        Ok(version)
    }
}

impl RecordStore for FileStore {
    async fn save_record(&self, rec: &FailoverRecord) -> Result<(), StoreError> {
        let d = self.cluster_dir(&rec.cluster)?;
        let bytes = serde_json::to_vec_pretty(rec).map_err(|e| StoreError::Refused(e.to_string()))?;
        // the check and the write under the cluster's lock: a finished record is final
        let _lock = self.lock(&rec.cluster)?;
        if let Some(stored) = self.record(&rec.cluster, &rec.id).await? {
            if stored.finished_at.is_some() {
                return Err(StoreError::Refused(format!(
                    "record {} is finished ({:?}): not overwriting it",
                    rec.id, stored.status
                )));
            }
        }
        write_atomic(&d.join("failovers").join(format!("{}.json", rec.id)), &bytes)?;
        prune(&d.join("failovers"), super::MAX_RECORDS)
    }

    async fn records(&self, cluster: &str, limit: usize) -> Result<Vec<FailoverRecord>, StoreError> {
        let mut out: Vec<FailoverRecord> = self.read_all(cluster, "failovers")?;
        out.sort_by(|a, b| b.started_at.cmp(&a.started_at));
        out.truncate(limit);
        Ok(out)
    }

    async fn record(&self, cluster: &str, id: &str) -> Result<Option<FailoverRecord>, StoreError> {
        let p = self.cluster_dir(cluster)?.join("failovers").join(format!("{id}.json"));
        match std::fs::read(&p) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(io("cannot read", &p, e)),
            Ok(b) => serde_json::from_slice(&b).map(Some).map_err(|e| io("corrupt", &p, e)),
        }
    }

    async fn save_action(&self, entry: &ActionEntry) -> Result<(), StoreError> {
        self.write_one(&entry.cluster, "actions", &entry.id, entry)?;
        prune(&self.cluster_dir(&entry.cluster)?.join("actions"), super::MAX_ACTIONS)
    }

    async fn actions(&self, cluster: &str, limit: usize) -> Result<Vec<ActionEntry>, StoreError> {
        let mut out: Vec<ActionEntry> = self.read_all(cluster, "actions")?;
        out.sort_by(|a, b| b.id.cmp(&a.id));
        out.truncate(limit);
        Ok(out)
    }
}

impl BackupCatalogue for FileStore {
    async fn save_backup(&self, meta: &BackupMeta) -> Result<(), StoreError> {
        self.write_one(&meta.cluster, "backups", &meta.id, meta)
    }

    async fn backups(&self, cluster: &str) -> Result<Vec<BackupMeta>, StoreError> {
        let mut out: Vec<BackupMeta> = self.read_all(cluster, "backups")?;
        out.sort_by(|a, b| b.started_at.cmp(&a.started_at));
        Ok(out)
    }

    async fn delete_backup(&self, cluster: &str, id: &str) -> Result<(), StoreError> {
        let p = self.cluster_dir(cluster)?.join("backups").join(format!("{id}.json"));
        match std::fs::remove_file(&p) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(io("cannot remove", &p, e)),
            _ => Ok(()),
        }
    }
}

impl NodeRegistry for FileStore {
    async fn register_node(&self, cluster: &str, node: &NodeConfig) -> Result<(), StoreError> {
        self.write_one(cluster, "nodes", &node.name, node)
    }

    async fn registered_nodes(&self, cluster: &str) -> Result<Vec<NodeConfig>, StoreError> {
        self.read_all(cluster, "nodes")
    }
}

/// Drop the oldest `.json` files of `d` (ids sort by time) beyond `keep`.
fn prune(d: &Path, keep: usize) -> Result<(), StoreError> {
    let mut names: Vec<_> = std::fs::read_dir(d)
        .map_err(|e| io("cannot list", d, e))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().and_then(|x| x.to_str()) == Some("json"))
        .collect();
    names.sort();
    for old in names.iter().take(names.len().saturating_sub(keep)) {
        let _ = std::fs::remove_file(old);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::coord::update;

    #[tokio::test]
    async fn compare_and_set() {
        let dir = tempfile::tempdir().unwrap();
        let s = FileStore::new(dir.path());
        let v0 = s.load("c1").await.unwrap();
        assert_eq!((v0.version, v0.value.clone()), (0, SharedState::default()));
        let mut st = v0.value.clone();
        st.master = Some("db1".into());
        let v1 = s.save("c1", &st, 0).await.unwrap();
        assert_eq!(v1, 1);
        // a writer that read version 0 loses
        let e = s.save("c1", &SharedState::default(), 0).await.unwrap_err();
        assert!(
            matches!(
                e,
                StoreError::Conflict {
                    expected: 0,
                    found: 1,
                    ..
                }
            ),
            "{e}"
        );
        assert_eq!(s.load("c1").await.unwrap().value.master.as_deref(), Some("db1"));
        let v = update(&s, "c1", |st| st.epoch += 1).await.unwrap();
        assert_eq!((v.version, v.value.epoch), (2, 1));
    }
}

//! A catalogued backup, as the coordinator keeps it.

use serde::{Deserialize, Serialize};

/// A catalogued backup.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BackupMeta {
    /// `<cluster>-<UTC time>-<source>`; also its key in the store.
    pub id: String,
    /// The cluster.
    pub cluster: String,
    /// The node it was taken from.
    pub source: String,
    /// Was the source the master (`[backup] allow_master`)?
    pub source_was_master: bool,
    /// mariabackup or xtrabackup.
    pub tool: String,
    /// When it started (RFC 3339).
    pub started_at: String,
    /// When it was stored and catalogued (RFC 3339).
    pub finished_at: String,
    /// Size in the store, in bytes.
    pub size_bytes: u64,
    /// The source's binlog file at the consistent point.
    pub binlog_file: String,
    /// Offset in it.
    pub binlog_pos: u64,
    /// The GTID position a replica restored from it starts replicating from.
    pub gtid: String,
    /// Where it is kept.
    pub store: String,
}

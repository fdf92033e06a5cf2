//! Physical backups (`myha backup`): taken with the flavor's tool ([`tool`]) on a healthy
//! replica's host ([`source`]), prepared, kept in a [`store`] (a directory or [`s3`]), and
//! catalogued in the
//! coordinator with the GTID position a restored replica starts from ([`position`]). Only a
//! complete, prepared, stored backup is ever catalogued: every entry is restorable.

pub mod bootstrap;
pub mod position;
pub mod s3;
pub mod source;
pub mod store;
pub mod tool;

use crate::config::{BackupConfig, ClusterConfig, NodeConfig};
use crate::coord::Store;
use crate::model::{id_time, timestamp, BackupMeta};
use std::os::unix::fs::PermissionsExt;
use std::time::SystemTime;
use store::BackupStore;
use tool::{client_options, Tool};
use tracing::{info, warn};

/// Why a backup was not taken. Nothing is catalogued on any of them.
#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    /// The store cannot take it.
    #[error(transparent)]
    Store(#[from] store::ArchiveError),
    /// The tool failed.
    #[error(transparent)]
    Tool(#[from] tool::ToolError),
    /// The backup has no usable position.
    #[error(transparent)]
    Position(#[from] position::PositionError),
    /// The catalogue cannot be written.
    #[error("the backup is stored but cannot be catalogued: {0}")]
    Catalogue(crate::coord::StoreError),
    /// Local files.
    #[error("{0}")]
    Io(String),
}

/// What a backup is taken of, and how.
pub struct Job<'a> {
    /// The cluster.
    pub cluster: &'a ClusterConfig,
    /// The source node (on this host).
    pub node: &'a NodeConfig,
    /// Is it the master?
    pub source_is_master: bool,
    /// `[backup]`.
    pub config: &'a BackupConfig,
}

impl Job<'_> {
    fn datadir(&self) -> &std::path::Path {
        self.node.datadir.as_deref().unwrap_or(&self.config.datadir)
    }

    /// Take, prepare, store and catalogue a backup, then apply retention.
    pub async fn run<B: BackupStore, C: Store>(&self, store: &B, catalogue: &C) -> Result<BackupMeta, BackupError> {
        let tool = Tool::for_flavor(self.cluster.flavor);
        // an unreachable store fails now, not after the copy
        store.check().await?;
        let started = SystemTime::now();
        let stamp = id_time(started, false);
        let id = format!("{}-{stamp}-{}", self.cluster.name, self.node.name);
        let io = |what: &str, e: std::io::Error| BackupError::Io(format!("{what}: {e}"));
        std::fs::create_dir_all(&self.config.work_dir).map_err(|e| io("cannot create [backup] work_dir", e))?;
        // private (0700) and removed on every way out
        let work = tempfile::Builder::new()
            .prefix("myha-backup-")
            .tempdir_in(&self.config.work_dir)
            .map_err(|e| io("cannot create a staging directory in [backup] work_dir", e))?;
        let defaults = work.path().join("login.cnf");
        let options = client_options(
            &self.cluster.admin.user,
            self.cluster.admin.password.expose(),
            &self.node.address,
            self.node.port,
        );
        std::fs::write(&defaults, options).map_err(|e| io("cannot write the tool's login file", e))?;
        std::fs::set_permissions(&defaults, std::fs::Permissions::from_mode(0o600))
            .map_err(|e| io("cannot protect the tool's login file", e))?;
        let target = work.path().join("backup");
        let limit = self.config.timeout;
        info!(cluster = %self.cluster.name, node = %self.node.name, "backup {id}: {} --backup of {}", tool.program(), self.datadir().display());
        tool.run("backup", &tool.backup_args(&defaults, self.datadir(), &target), limit)
            .await?;
        // the login is not needed any more and must not travel with the backup
        let _ = std::fs::remove_file(&defaults);
        tool.run("prepare", &tool.prepare_args(&target), limit).await?;
        let info = std::fs::read_to_string(target.join("xtrabackup_binlog_info"))
            .map_err(|e| io("the backup has no xtrabackup_binlog_info", e))?;
        let pos = position::parse(self.cluster.flavor, &info)?;
        info!(cluster = %self.cluster.name, "backup {id}: prepared at {} ({}:{}); storing in {}", pos.gtid, pos.binlog_file, pos.binlog_pos, store.location());
        let size_bytes = store.put_dir(&id, &target).await?;
        let meta = BackupMeta {
            id: id.clone(),
            cluster: self.cluster.name.clone(),
            source: self.node.name.clone(),
            source_was_master: self.source_is_master,
            tool: tool.program().to_string(),
            started_at: timestamp(started),
            finished_at: timestamp(SystemTime::now()),
            size_bytes,
            binlog_file: pos.binlog_file,
            binlog_pos: pos.binlog_pos,
            gtid: pos.gtid.to_string(),
            store: store.location(),
        };
        if let Err(e) = catalogue.save_backup(&meta).await {
            // not catalogued = not a backup: do not leave an archive nobody knows of
            let _ = store.delete(&id).await;
            return Err(BackupError::Catalogue(e));
        }
        self.retain(store, catalogue).await;
        Ok(meta)
    }

    /// Keep the newest `keep` backups: older archives are deleted first, then their entries
    /// (an entry without its archive would promise a restore that cannot happen).
    async fn retain<B: BackupStore, C: Store>(&self, store: &B, catalogue: &C) {
        let all = match catalogue.backups(&self.cluster.name).await {
            Ok(a) => a,
            Err(e) => {
                warn!(cluster = %self.cluster.name, error = %e, "cannot list backups for retention; next backup retries");
                return;
            }
        };
        for old in all.iter().skip(self.config.keep) {
            match store.delete(&old.id).await {
                Ok(()) => match catalogue.delete_backup(&self.cluster.name, &old.id).await {
                    Ok(()) => {
                        info!(cluster = %self.cluster.name, "backup {} removed (keeping the newest {})", old.id, self.config.keep)
                    }
                    Err(e) => {
                        warn!(cluster = %self.cluster.name, error = %e, "backup {}: archive deleted, catalogue entry not", old.id)
                    }
                },
                Err(e) => warn!(cluster = %self.cluster.name, error = %e, "cannot delete old backup {}", old.id),
            }
        }
    }
}

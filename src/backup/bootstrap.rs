//! `myha bootstrap`: make this host's node a replica of the current master from the latest
//! backup — every bootstrap is also a restore test. Steps, each logged:
//!
//! ```text
//! master of record (coordinator) ─► newest catalogued backup ─► datadir empty? (--rebuild wipes)
//!   ─► marked "bootstrapping" (shared state, and a marker file) ─► stop server (rebuild)
//!   ─► fetch + move-back + chown ─► start server (read-only) ─► start position = backup GTID
//!   ─► replicate from the master (semi-sync replica) ─► caught up ─► unmarked
//! ```
//!
//! Resumable: the marker file says a bootstrap of this node started and did not finish, so a
//! re-run may wipe what it left. Until the end the node is marked for rebuild in the shared
//! state, so a half-finished bootstrap never looks like a healthy replica.

use super::store::BackupStore;
use super::tool::{Tool, ToolError};
use crate::config::{BackupConfig, ClusterConfig, NodeConfig};
use crate::coord::{self, Store};
use crate::flavor::StartFrom;
use crate::model::BackupMeta;
use crate::mysql::MysqlAdmin;
use std::path::{Path, PathBuf};
use std::time::Duration;
use tokio::time::Instant;
use tracing::{info, warn};

/// Why a bootstrap did not (yet) make a replica. Nothing is changed by the first four.
#[derive(Debug, thiserror::Error)]
pub enum BootstrapError {
    /// The coordinator names no master to replicate from.
    #[error(
        "the master of cluster {0} is unknown (no master of record in the coordinator): nothing to replicate from"
    )]
    NoMaster(String),
    /// This node is the master of record.
    #[error("{0} is the master of record: a bootstrap would destroy the master")]
    IsMaster(String),
    /// No backup to restore.
    #[error("no usable backup of cluster {0} in the catalogue: take one with `myha backup` on a replica's host")]
    NoBackup(String),
    /// The datadir has data and neither --rebuild nor an unfinished bootstrap allow wiping it.
    #[error("{0} is not empty: refusing to overwrite it (`--rebuild` wipes it)")]
    NotEmpty(PathBuf),
    /// The backup store.
    #[error(transparent)]
    Store(#[from] super::store::ArchiveError),
    /// The restore tool.
    #[error(transparent)]
    Tool(#[from] ToolError),
    /// The coordinator.
    #[error("coordinator: {0}")]
    Coordinator(#[from] coord::StoreError),
    /// Starting, stopping or talking to the server, or replication.
    #[error("{0}")]
    Server(String),
    /// Local files.
    #[error("{0}")]
    Io(String),
}

/// What a finished bootstrap did.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Report {
    /// The node.
    pub node: String,
    /// The backup restored.
    pub backup: String,
    /// The position replication started from.
    pub start_gtid: String,
    /// The master it replicates from.
    pub master: String,
    /// Milliseconds: fetch + move-back (restore), server start, catch-up, total.
    pub restore_ms: u64,
    /// Server start.
    pub start_ms: u64,
    /// Catch-up.
    pub catch_up_ms: u64,
    /// All of it.
    pub total_ms: u64,
}

/// A bootstrap of `node`, on its host.
pub struct Bootstrap<'a> {
    /// The cluster.
    pub cluster: &'a ClusterConfig,
    /// The node (this host).
    pub node: &'a NodeConfig,
    /// `[backup]`.
    pub config: &'a BackupConfig,
    /// Wipe a non-empty datadir.
    pub rebuild: bool,
    /// How long replication may take to catch up.
    pub catch_up_timeout: Duration,
}

fn io(what: impl std::fmt::Display, e: impl std::fmt::Display) -> BootstrapError {
    BootstrapError::Io(format!("{what}: {e}"))
}

impl Bootstrap<'_> {
    fn datadir(&self) -> &Path {
        self.node.datadir.as_deref().unwrap_or(&self.config.datadir)
    }

    fn marker(&self) -> PathBuf {
        self.config
            .work_dir
            .join(format!("myha-bootstrap-{}-{}.json", self.cluster.name, self.node.name))
    }

    /// Run it.
    pub async fn run<B: BackupStore, C: Store, A: MysqlAdmin>(
        &self,
        store: &B,
        coordinator: &C,
        admin: &A,
    ) -> Result<Report, BootstrapError> {
        let t0 = Instant::now();
        let name = &self.cluster.name;
        let state = coordinator.load(name).await?.value;
        let master_name = state
            .master
            .clone()
            .ok_or_else(|| BootstrapError::NoMaster(name.clone()))?;
        if master_name == self.node.name {
            return Err(BootstrapError::IsMaster(self.node.name.clone()));
        }
        let master = self
            .cluster
            .node(&master_name)
            .ok_or_else(|| BootstrapError::Server(format!("the master of record {master_name} is not configured")))?;
        let marker = self.marker();
        let resuming = marker.exists();
        let datadir = self.datadir().to_path_buf();
        let empty = match std::fs::read_dir(&datadir) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => true,
            Err(e) => return Err(io(format!("cannot read {}", datadir.display()), e)),
            Ok(mut d) => d.next().is_none(),
        };
        if !empty && !self.rebuild && !resuming {
            return Err(BootstrapError::NotEmpty(datadir));
        }
        let tool = Tool::for_flavor(self.cluster.flavor);
        let backup: BackupMeta = coordinator
            .backups(name)
            .await?
            .into_iter()
            .find(|b| b.tool == tool.program())
            .ok_or_else(|| BootstrapError::NoBackup(name.clone()))?;
        let gtid = self
            .cluster
            .flavor
            .parse_gtids(&backup.gtid)
            .map_err(|e| BootstrapError::Server(format!("backup {}: {e}", backup.id)))?;
        store.check().await?;
        // From here on the node is being replaced: say so, where managers and a re-run look.
        std::fs::create_dir_all(&self.config.work_dir).map_err(|e| io("cannot create [backup] work_dir", e))?;
        let note = serde_json::json!({"backup": backup.id, "master": master_name}).to_string();
        std::fs::write(&marker, note).map_err(|e| io(format!("cannot write {}", marker.display()), e))?;
        let why = format!("bootstrap from backup {} in progress", backup.id);
        coord::update(coordinator, name, |st| {
            st.needs_rebuild.insert(self.node.name.clone(), why.clone());
        })
        .await?;
        info!(cluster = %name, node = %self.node.name, "bootstrap from backup {} ({}, GTID {}), master {master_name}{}", backup.id, backup.finished_at, backup.gtid, if resuming { ", resuming an unfinished bootstrap" } else { "" });

        if admin.probe(self.node).await.is_ok() {
            info!(node = %self.node.name, "stopping the server: {:?}", self.config.stop_command);
            self.command(&self.config.stop_command, "stop").await?;
            self.wait_for(admin, false, Duration::from_secs(60)).await?;
        }
        if !empty {
            wipe(&datadir).map_err(|e| io(format!("cannot empty {}", datadir.display()), e))?;
        }
        let restore_t = Instant::now();
        let work = tempfile::Builder::new()
            .prefix("myha-restore-")
            .tempdir_in(&self.config.work_dir)
            .map_err(|e| io("cannot create a staging directory", e))?;
        let staged = work.path().join("backup");
        std::fs::create_dir_all(&staged).map_err(|e| io("cannot create a staging directory", e))?;
        store.get_dir(&backup.id, &staged).await?;
        std::fs::create_dir_all(&datadir).map_err(|e| io(format!("cannot create {}", datadir.display()), e))?;
        tool.run(
            "move-back",
            &tool.move_back_args(&staged, &datadir),
            self.config.timeout,
        )
        .await?;
        drop(work);
        give_to(&datadir, &self.config.os_user)?;
        let restore_ms = restore_t.elapsed().as_millis() as u64;

        let start_t = Instant::now();
        info!(node = %self.node.name, "starting the server: {:?}", self.config.start_command);
        self.command(&self.config.start_command, "start").await?;
        self.wait_for(admin, true, Duration::from_secs(120)).await?;
        let start_ms = start_t.elapsed().as_millis() as u64;

        let limit = Duration::from_secs(30);
        let server = |e: crate::mysql::OpError| BootstrapError::Server(e.to_string());
        admin.set_read_only(self.node, true, limit).await.map_err(server)?;
        admin
            .set_start_position(self.node, &gtid, limit)
            .await
            .map_err(server)?;
        admin
            .replicate_from(self.node, master, StartFrom::ReplicaPosition, limit)
            .await
            .map_err(server)?;
        let catch_t = Instant::now();
        let target = admin
            .probe(master)
            .await
            .map_err(|e| BootstrapError::Server(format!("cannot read the master {master_name}'s position: {e}")))?
            .executed;
        info!(node = %self.node.name, "replicating from {master_name} from {gtid}; catching up to {target}");
        match admin.wait_applied(self.node, &target, self.catch_up_timeout).await {
            Ok(a) if a.done => {}
            Ok(_) => {
                return Err(BootstrapError::Server(format!(
                    "replication from {master_name} did not reach {target} within {:?}: re-run to resume",
                    self.catch_up_timeout
                )))
            }
            Err(e) => return Err(server(e)),
        }
        let catch_up_ms = catch_t.elapsed().as_millis() as u64;
        coord::update(coordinator, name, |st| {
            st.needs_rebuild.remove(&self.node.name);
        })
        .await?;
        if let Err(e) = std::fs::remove_file(&marker) {
            warn!(file = %marker.display(), error = %e, "cannot remove the bootstrap marker");
        }
        let report = Report {
            node: self.node.name.clone(),
            backup: backup.id,
            start_gtid: gtid.to_string(),
            master: master_name,
            restore_ms,
            start_ms,
            catch_up_ms,
            total_ms: t0.elapsed().as_millis() as u64,
        };
        info!(node = %self.node.name, "bootstrap done: {report:?}");
        Ok(report)
    }

    /// Run a start/stop command, `{node}` replaced, within the configured timeout.
    async fn command(&self, argv: &[String], what: &str) -> Result<(), BootstrapError> {
        let argv: Vec<String> = argv.iter().map(|a| a.replace("{node}", &self.node.name)).collect();
        let Some((program, args)) = argv.split_first() else {
            return Err(BootstrapError::Server(format!("no {what} command configured")));
        };
        let run = tokio::process::Command::new(program)
            .args(args)
            .stdin(std::process::Stdio::null())
            .kill_on_drop(true)
            .output();
        match tokio::time::timeout(Duration::from_secs(300), run).await {
            Err(_) => Err(BootstrapError::Server(format!(
                "{what} command {argv:?} took over 300 s"
            ))),
            Ok(Err(e)) => Err(BootstrapError::Server(format!("{what} command {argv:?}: {e}"))),
            Ok(Ok(o)) if o.status.success() => Ok(()),
            Ok(Ok(o)) => Err(BootstrapError::Server(format!(
                "{what} command {argv:?} failed ({}): {}",
                o.status,
                String::from_utf8_lossy(&o.stderr).trim()
            ))),
        }
    }

    /// Until the server answers (`up`) or stops answering.
    async fn wait_for<A: MysqlAdmin>(&self, admin: &A, up: bool, limit: Duration) -> Result<(), BootstrapError> {
        let deadline = Instant::now() + limit;
        loop {
            if admin.probe(self.node).await.is_ok() == up {
                return Ok(());
            }
            if Instant::now() >= deadline {
                return Err(BootstrapError::Server(format!(
                    "{} did not {} within {limit:?}",
                    self.node.name,
                    if up { "answer" } else { "stop" }
                )));
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }
}

/// Remove everything inside `dir` (not `dir` itself: it may be a mount point).
fn wipe(dir: &Path) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let p = entry?.path();
        if p.is_dir() && !p.is_symlink() {
            std::fs::remove_dir_all(&p)?;
        } else {
            std::fs::remove_file(&p)?;
        }
    }
    Ok(())
}

/// Give `dir` and everything in it to `user` (the server's OS user).
fn give_to(dir: &Path, user: &str) -> Result<(), BootstrapError> {
    let u = nix::unistd::User::from_name(user)
        .map_err(|e| io(format!("cannot look up OS user {user}"), e))?
        .ok_or_else(|| BootstrapError::Io(format!("no OS user {user} ([backup] os_user)")))?;
    fn walk(p: &Path, uid: nix::unistd::Uid, gid: nix::unistd::Gid) -> std::io::Result<()> {
        std::os::unix::fs::lchown(p, Some(uid.as_raw()), Some(gid.as_raw()))?;
        if p.is_dir() && !p.is_symlink() {
            for e in std::fs::read_dir(p)? {
                walk(&e?.path(), uid, gid)?;
            }
        }
        Ok(())
    }
    walk(dir, u.uid, u.gid).map_err(|e| io(format!("cannot give {} to {user}", dir.display()), e))
}

//! What a probe round saw: immutable per-node states and the cluster [`Snapshot`] that the
//! detector and (later) the decision function read. Built by [`crate::probe`].

mod snapshot;

pub use snapshot::{NodeObservation, ProbeFailure, Snapshot};

use crate::gtid::Gtids;
use serde::Serialize;

/// The state of one reachable node, as its flavor reports it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NodeState {
    /// `@@server_id`: nodes are identified by it, never by `@@hostname` (the same in every
    /// network namespace and often across cloned images).
    pub server_id: u32,
    /// `@@version`.
    pub version: String,
    /// `@@read_only` (or `super_read_only` on MySQL, which also stops SUPER users).
    pub read_only: bool,
    /// Everything applied: MariaDB `@@gtid_current_pos`, MySQL `@@gtid_executed`.
    pub executed: Gtids,
    /// For errant-transaction checks: MariaDB `@@gtid_binlog_state` (one entry per server),
    /// MySQL `@@gtid_executed`.
    pub binlog_state: Gtids,
    /// The replication connection, when the node is configured as a replica.
    pub replica: Option<ReplicaStatus>,
    /// Semi-synchronous replication, both sides.
    pub semi_sync: SemiSync,
}

impl NodeState {
    /// What this node has received: its relay log plus what it applied. Decides "most up to
    /// date" among replicas (MariaDB `Gtid_IO_Pos`, MySQL `Retrieved_Gtid_Set ∪ executed`).
    pub fn received(&self) -> Gtids {
        match &self.replica {
            Some(r) => r
                .received
                .union(&self.executed)
                .unwrap_or_else(|| self.executed.clone()),
            None => self.executed.clone(),
        }
    }
}

/// State of the replication IO (receiver) thread.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum IoThread {
    /// Connected to the master.
    Yes,
    /// Trying to (re)connect: the master is gone from this replica's point of view.
    Connecting,
    /// Stopped.
    No,
}

impl IoThread {
    /// Parse `Slave_IO_Running` / `Replica_IO_Running`.
    pub fn parse(s: &str) -> Option<IoThread> {
        match s {
            "Yes" => Some(IoThread::Yes),
            "Connecting" | "Preparing" => Some(IoThread::Connecting),
            "No" => Some(IoThread::No),
            _ => None,
        }
    }
}

/// One replication connection (`SHOW ALL SLAVES STATUS` / `SHOW REPLICA STATUS`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ReplicaStatus {
    /// `Master_Host` / `Source_Host`, as given to CHANGE MASTER.
    pub master_host: String,
    /// `Master_Port` / `Source_Port`.
    pub master_port: u16,
    /// `Master_Server_Id` (0 until the IO thread first connected).
    pub master_server_id: u32,
    /// IO thread state.
    pub io: IoThread,
    /// Is the SQL (applier) thread running?
    pub sql_running: bool,
    /// `Last_IO_Error`, when not empty.
    pub last_io_error: Option<String>,
    /// `Last_SQL_Error`, when not empty.
    pub last_sql_error: Option<String>,
    /// `Seconds_Behind_Master` (NULL while the IO or SQL thread is not running).
    pub seconds_behind: Option<u64>,
    /// What was received into the relay log (MariaDB `Gtid_IO_Pos`, MySQL `Retrieved_Gtid_Set`).
    pub received: Gtids,
    /// Heartbeats received from the master on this connection (a counter).
    pub heartbeats: u64,
    /// The master heartbeat period this connection asked for, in milliseconds.
    pub heartbeat_period_ms: u64,
    /// Where the IO thread is in the master's binlog (`file:pos`): advances with every event.
    pub read_position: String,
}

impl ReplicaStatus {
    /// Replicating: the receiver connected and the applier running.
    pub fn replicating(&self) -> bool {
        self.io == IoThread::Yes && self.sql_running
    }

    /// A token that changes whenever the replica hears anything from its master: an event
    /// (position) or a heartbeat. Unchanged for long = the master went silent.
    pub fn progress(&self) -> (u64, &str) {
        (self.heartbeats, &self.read_position)
    }
}

/// Semi-synchronous replication state (plugin variables may be absent: then all false / 0).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct SemiSync {
    /// `rpl_semi_sync_master_enabled` (MySQL 8.0.26+: `…_source_enabled`).
    pub master_enabled: bool,
    /// `Rpl_semi_sync_master_status`: ON while the master really waits for acks.
    pub master_active: bool,
    /// `Rpl_semi_sync_master_clients`: semi-sync replicas connected.
    pub master_clients: u32,
    /// `rpl_semi_sync_slave_enabled` (`…_replica_enabled`).
    pub replica_enabled: bool,
    /// `Rpl_semi_sync_slave_status`.
    pub replica_active: bool,
    /// `rpl_semi_sync_master_timeout` (`…_source_timeout`), milliseconds: how long a commit
    /// waits for a replica's acknowledgement before the master acknowledges it alone.
    pub master_timeout_ms: Option<u64>,
    /// `rpl_semi_sync_master_wait_point`: `AFTER_SYNC` for lossless semi-sync.
    pub master_wait_point: Option<String>,
    /// `rpl_semi_sync_master_wait_no_slave` (`…_source_wait_no_replica`): keep waiting when no
    /// semi-sync replica is connected (off: fall back to async at once).
    pub master_wait_no_replica: Option<bool>,
}

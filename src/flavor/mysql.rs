//! MySQL 8.0 / 8.4. Column names changed in 8.0.22 (`Source_*` / `Replica_*`); both spellings
//! are read so that 8.0 servers before and after the rename work.

use super::{col, first, flag, non_empty, num, semi_sync, text, FlavorError, ProbeRows, Row};
use crate::gtid::{Gtids, MySqlGtidSet};
use crate::topology::{IoThread, NodeState, ReplicaStatus};

// super_read_only also stops SUPER users: it is what "read-only" means on MySQL.
pub const GLOBALS: &str = "SELECT @@server_id AS server_id, @@read_only AS read_only, \
     @@super_read_only AS super_read_only, @@version AS version, @@gtid_executed AS gtid_executed";
pub const REPLICA_STATUS: &str = "SHOW REPLICA STATUS";
// Heartbeats are not in SHOW REPLICA STATUS on MySQL.
// HEARTBEAT_INTERVAL matters: the default is slave_net_timeout / 2 (30 s), and a replica's
// silence only means something when measured against it.
pub const HEARTBEAT: &str = "SELECT s.CHANNEL_NAME, s.COUNT_RECEIVED_HEARTBEATS, \
     s.LAST_HEARTBEAT_TIMESTAMP, c.HEARTBEAT_INTERVAL \
     FROM performance_schema.replication_connection_status s \
     JOIN performance_schema.replication_connection_configuration c USING (CHANNEL_NAME)";

fn gtid_set(v: &str, query: &'static str, column: &str) -> Result<Gtids, FlavorError> {
    MySqlGtidSet::parse(v)
        .map(Gtids::MySql)
        .map_err(|e| FlavorError::bad_value(query, column, v, e))
}

fn replica(row: &Row, heartbeat: Option<&Row>) -> Result<ReplicaStatus, FlavorError> {
    let q = REPLICA_STATUS;
    let io_text = text(row, q, &["Replica_IO_Running", "Slave_IO_Running"])?;
    let io = IoThread::parse(io_text)
        .ok_or_else(|| FlavorError::bad_value(q, "Replica_IO_Running", io_text, "expected Yes, No or Connecting"))?;
    let (heartbeats, period_s) = match heartbeat {
        Some(h) => (
            num(h, HEARTBEAT, &["COUNT_RECEIVED_HEARTBEATS"])?.unwrap_or(0),
            num::<f64>(h, HEARTBEAT, &["HEARTBEAT_INTERVAL"])?.unwrap_or(0.0),
        ),
        None => (0, 0.0),
    };
    Ok(ReplicaStatus {
        master_host: text(row, q, &["Source_Host", "Master_Host"])?.to_string(),
        master_port: num(row, q, &["Source_Port", "Master_Port"])?.unwrap_or(3306),
        master_server_id: num(row, q, &["Source_Server_Id", "Master_Server_Id"])?.unwrap_or(0),
        io,
        sql_running: flag(row, q, &["Replica_SQL_Running", "Slave_SQL_Running"])?,
        last_io_error: non_empty(text(row, q, &["Last_IO_Error"])?),
        last_sql_error: non_empty(text(row, q, &["Last_SQL_Error"])?),
        seconds_behind: num(row, q, &["Seconds_Behind_Source", "Seconds_Behind_Master"])?,
        received: gtid_set(text(row, q, &["Retrieved_Gtid_Set"])?, q, "Retrieved_Gtid_Set")?,
        heartbeats,
        heartbeat_period_ms: (period_s * 1000.0).round() as u64,
        read_position: format!(
            "{}:{}",
            text(row, q, &["Source_Log_File", "Master_Log_File"])?,
            text(row, q, &["Read_Source_Log_Pos", "Read_Master_Log_Pos"])?
        ),
    })
}

pub fn parse(rows: &ProbeRows) -> Result<NodeState, FlavorError> {
    let g = first(&rows.globals, GLOBALS)?;
    let executed = gtid_set(text(g, GLOBALS, &["gtid_executed"])?, GLOBALS, "gtid_executed")?;
    // the default channel is named ""
    let default_channel = rows
        .replica
        .iter()
        .find(|r| {
            col(r, REPLICA_STATUS, &["Channel_Name"])
                .ok()
                .flatten()
                .unwrap_or("")
                .is_empty()
        })
        .or_else(|| rows.replica.first());
    let channel = default_channel
        .and_then(|r| r.get("Channel_Name").cloned().flatten())
        .unwrap_or_default();
    let heartbeat = rows
        .heartbeat
        .iter()
        .find(|h| h.get("CHANNEL_NAME").cloned().flatten().unwrap_or_default() == channel);
    Ok(NodeState {
        server_id: num(g, GLOBALS, &["server_id"])?.unwrap_or(0),
        version: text(g, GLOBALS, &["version"])?.to_string(),
        read_only: flag(g, GLOBALS, &["read_only"])? || flag(g, GLOBALS, &["super_read_only"])?,
        binlog_state: executed.clone(),
        executed,
        replica: default_channel.map(|r| replica(r, heartbeat)).transpose()?,
        semi_sync: semi_sync(rows),
    })
}

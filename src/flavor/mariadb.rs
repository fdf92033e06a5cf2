//! MariaDB 10.6+.

use super::{first, flag, non_empty, num, semi_sync, text, FlavorError, ProbeRows, Row};
use crate::gtid::{Gtids, MariaDbGtids};
use crate::topology::{IoThread, NodeState, ReplicaStatus};

pub const GLOBALS: &str = "SELECT @@server_id AS server_id, @@read_only AS read_only, @@version AS version, \
     @@gtid_current_pos AS gtid_current_pos, @@gtid_binlog_state AS gtid_binlog_state";
// ALL: multi-source replication has one row per named connection; the default is "".
pub const REPLICA_STATUS: &str = "SHOW ALL SLAVES STATUS";

fn gtids(row: &Row, query: &'static str, column: &str) -> Result<Gtids, FlavorError> {
    let v = text(row, query, &[column])?;
    MariaDbGtids::parse(v)
        .map(Gtids::MariaDb)
        .map_err(|e| FlavorError::bad_value(query, column, v, e))
}

fn replica(row: &Row) -> Result<ReplicaStatus, FlavorError> {
    let q = REPLICA_STATUS;
    let io_text = text(row, q, &["Slave_IO_Running"])?;
    let io = IoThread::parse(io_text).ok_or_else(|| {
        FlavorError::bad_value(
            q,
            "Slave_IO_Running",
            io_text,
            "expected Yes, No, Connecting or Preparing",
        )
    })?;
    let period: f64 = num(row, q, &["Slave_heartbeat_period"])?.unwrap_or(0.0);
    Ok(ReplicaStatus {
        master_host: text(row, q, &["Master_Host"])?.to_string(),
        master_port: num(row, q, &["Master_Port"])?.unwrap_or(3306),
        master_server_id: num(row, q, &["Master_Server_Id"])?.unwrap_or(0),
        io,
        sql_running: flag(row, q, &["Slave_SQL_Running"])?,
        last_io_error: non_empty(text(row, q, &["Last_IO_Error"])?),
        last_sql_error: non_empty(text(row, q, &["Last_SQL_Error"])?),
        seconds_behind: num(row, q, &["Seconds_Behind_Master"])?,
        received: gtids(row, q, "Gtid_IO_Pos")?,
        heartbeats: num(row, q, &["Slave_received_heartbeats"])?.unwrap_or(0),
        heartbeat_period_ms: (period * 1000.0).round() as u64,
        read_position: format!(
            "{}:{}",
            text(row, q, &["Master_Log_File"])?,
            text(row, q, &["Read_Master_Log_Pos"])?
        ),
    })
}

pub fn parse(rows: &ProbeRows) -> Result<NodeState, FlavorError> {
    let g = first(&rows.globals, GLOBALS)?;
    let default_connection = rows
        .replica
        .iter()
        .find(|r| r.get("Connection_name").and_then(|v| v.as_deref()) == Some(""))
        .or_else(|| rows.replica.first());
    Ok(NodeState {
        server_id: num(g, GLOBALS, &["server_id"])?.unwrap_or(0),
        version: text(g, GLOBALS, &["version"])?.to_string(),
        read_only: flag(g, GLOBALS, &["read_only"])?,
        executed: gtids(g, GLOBALS, "gtid_current_pos")?,
        binlog_state: gtids(g, GLOBALS, "gtid_binlog_state")?,
        replica: default_connection.map(replica).transpose()?,
        semi_sync: semi_sync(rows),
    })
}

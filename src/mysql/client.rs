//! [`MysqlAdmin`] over mysql_async.
//!
//! mysql_async has no connect or read timeouts of its own, so every connect and statement is
//! wrapped in `tokio::time::timeout`. After a timeout the connection is dropped: a held `Conn`
//! whose query future was cancelled returns the *previous* statement's rows to the next one.

use super::MysqlAdmin;
use crate::config::{ClusterConfig, NodeConfig, Secret};
use crate::flavor::{Flavor, ProbeRows, Row, SEMI_SYNC_STATUS, SEMI_SYNC_VARIABLES};
use crate::topology::{NodeState, ProbeFailure};
use mysql_async::prelude::Queryable;
use mysql_async::{Conn, OptsBuilder, Value};
use std::collections::HashMap;
use std::time::Duration;
use tokio::sync::Mutex;
use tokio::time::timeout;

/// Real MySQL / MariaDB access for one cluster.
pub struct MysqlClient {
    flavor: Flavor,
    user: String,
    password: Secret,
    /// Hard limit for connecting and for each statement.
    op_timeout: Duration,
    /// One probe connection per node, reused across rounds; `None` after a failure.
    probe_conns: HashMap<String, Mutex<Option<Conn>>>,
}

impl MysqlClient {
    /// A client for `cluster`'s nodes, logging in as its admin user.
    pub fn new(cluster: &ClusterConfig, op_timeout: Duration) -> Self {
        MysqlClient {
            flavor: cluster.flavor,
            user: cluster.admin.user.clone(),
            password: cluster.admin.password.clone(),
            op_timeout,
            probe_conns: cluster
                .nodes
                .iter()
                .map(|n| (n.name.clone(), Mutex::new(None)))
                .collect(),
        }
    }

    fn opts(&self, node: &NodeConfig) -> OptsBuilder {
        OptsBuilder::default()
            .ip_or_hostname(node.address.clone())
            .tcp_port(node.port)
            .user(Some(self.user.clone()))
            .pass(Some(self.password.expose().to_string()))
            // Never switch to a unix socket: sockets cross network namespaces and partitions.
            .prefer_socket(false)
            .stmt_cache_size(0)
    }

    async fn connect(&self, node: &NodeConfig) -> Result<Conn, ProbeFailure> {
        match timeout(self.op_timeout, Conn::new(self.opts(node))).await {
            Err(_) => Err(ProbeFailure::Timeout),
            Ok(Err(e)) => Err(ProbeFailure::Connect(e.to_string())),
            Ok(Ok(c)) => Ok(c),
        }
    }

    async fn rows(&self, conn: &mut Conn, sql: &'static str) -> Result<Vec<Row>, ProbeFailure> {
        match timeout(self.op_timeout, conn.query::<mysql_async::Row, _>(sql)).await {
            Err(_) => Err(ProbeFailure::Timeout),
            Ok(Err(mysql_async::Error::Server(e))) => {
                Err(ProbeFailure::Query(format!("{sql}: {e}")))
            }
            Ok(Err(e)) => Err(ProbeFailure::Connect(format!("connection lost: {e}"))),
            Ok(Ok(rows)) => Ok(rows.into_iter().map(to_row).collect()),
        }
    }

    async fn probe_on(&self, conn: &mut Conn) -> Result<NodeState, ProbeFailure> {
        let f = self.flavor;
        let rows = ProbeRows {
            globals: self.rows(conn, f.globals_query()).await?,
            replica: self.rows(conn, f.replica_status_query()).await?,
            semi_sync_variables: self.rows(conn, SEMI_SYNC_VARIABLES).await?,
            semi_sync_status: self.rows(conn, SEMI_SYNC_STATUS).await?,
            heartbeat: match f.heartbeat_query() {
                Some(q) => self.rows(conn, q).await?,
                None => Vec::new(),
            },
        };
        f.parse(&rows)
            .map_err(|e| ProbeFailure::Query(e.to_string()))
    }
}

/// A row as text: what the flavor parsers read. Text-protocol results arrive as bytes.
fn to_row(row: mysql_async::Row) -> Row {
    let columns = row.columns();
    let values = row.unwrap_raw();
    columns
        .iter()
        .zip(values)
        .map(|(c, v)| {
            let v = match v.unwrap_or(Value::NULL) {
                Value::NULL => None,
                Value::Bytes(b) => Some(String::from_utf8_lossy(&b).into_owned()),
                Value::Int(i) => Some(i.to_string()),
                Value::UInt(u) => Some(u.to_string()),
                Value::Float(f) => Some(f.to_string()),
                Value::Double(d) => Some(d.to_string()),
                other => Some(other.as_sql(true).trim_matches('\'').to_string()),
            };
            (c.name_str().into_owned(), v)
        })
        .collect()
}

impl MysqlAdmin for MysqlClient {
    async fn probe(&self, node: &NodeConfig) -> Result<NodeState, ProbeFailure> {
        let Some(slot) = self.probe_conns.get(&node.name) else {
            return Err(ProbeFailure::Query(format!(
                "node {} is not in this cluster",
                node.name
            )));
        };
        let mut slot = slot.lock().await;
        let mut conn = match slot.take() {
            Some(c) => c,
            None => self.connect(node).await?,
        };
        let result = self.probe_on(&mut conn).await;
        if result.is_ok() {
            *slot = Some(conn);
        }
        result
    }
}

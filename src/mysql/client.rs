//! [`MysqlAdmin`] over mysql_async.
//!
//! mysql_async has no connect or read timeouts of its own, so every connect and statement is
//! wrapped in `tokio::time::timeout`. After a timeout the connection is dropped: a held `Conn`
//! whose query future was cancelled returns the *previous* statement's rows to the next one.

use super::{Applied, Fenced, MysqlAdmin, OpError, OpenWrite};
use crate::config::{ClusterConfig, NodeConfig, Secret};
use crate::flavor::{fencing, is_unknown_variable, ProbeRows, Row, StartFrom, SEMI_SYNC_STATUS, SEMI_SYNC_VARIABLES};
use crate::gtid::Gtids;
use crate::model::{Flavor, PromotedSemiSync, SemiSyncPolicy};
use crate::topology::{IoThread, NodeState, ProbeFailure};
use mysql_async::prelude::Queryable;
use mysql_async::{Conn, OptsBuilder, Value};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Mutex;
use tokio::time::{timeout, timeout_at, Instant};

/// Real MySQL / MariaDB access for one cluster.
pub struct MysqlClient {
    flavor: Flavor,
    user: String,
    password: Secret,
    repl_user: String,
    repl_password: Secret,
    /// Budget of one probe (connect and all statements); operations get their own limits.
    op_timeout: Duration,
    /// One probe connection per node, reused across rounds; `None` after a failure. Nodes
    /// registered at run time get theirs on first use.
    probe_conns: std::sync::Mutex<HashMap<String, Arc<Mutex<Option<Conn>>>>>,
}

impl MysqlClient {
    /// A client for `cluster`'s nodes, logging in as its admin user.
    pub fn new(cluster: &ClusterConfig, op_timeout: Duration) -> Self {
        MysqlClient {
            flavor: cluster.flavor,
            user: cluster.admin.user.clone(),
            password: cluster.admin.password.clone(),
            repl_user: cluster.replication.user.clone(),
            repl_password: cluster.replication.password.clone(),
            op_timeout,
            probe_conns: std::sync::Mutex::new(
                cluster
                    .nodes
                    .iter()
                    .map(|n| (n.name.clone(), Arc::new(Mutex::new(None))))
                    .collect(),
            ),
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

    async fn connect(&self, node: &NodeConfig, deadline: Instant) -> Result<Conn, ProbeFailure> {
        match timeout_at(deadline, Conn::new(self.opts(node))).await {
            Err(_) => Err(ProbeFailure::Timeout),
            Ok(Err(e)) if refused(&e) => Err(ProbeFailure::Refused(e.to_string())),
            Ok(Err(e)) => Err(ProbeFailure::Connect(e.to_string())),
            Ok(Ok(c)) => Ok(c),
        }
    }

    async fn rows(&self, conn: &mut Conn, sql: &'static str, deadline: Instant) -> Result<Vec<Row>, ProbeFailure> {
        match timeout_at(deadline, conn.query::<mysql_async::Row, _>(sql)).await {
            Err(_) => Err(ProbeFailure::Timeout),
            Ok(Err(mysql_async::Error::Server(e))) => Err(ProbeFailure::Query(format!("{sql}: {e}"))),
            Ok(Err(e)) => Err(ProbeFailure::Connect(format!("connection lost: {e}"))),
            Ok(Ok(rows)) => Ok(rows.into_iter().map(to_row).collect()),
        }
    }

    async fn probe_on(&self, conn: &mut Conn, deadline: Instant) -> Result<NodeState, ProbeFailure> {
        let f = self.flavor;
        let rows = ProbeRows {
            globals: self.rows(conn, f.globals_query(), deadline).await?,
            replica: self.rows(conn, f.replica_status_query(), deadline).await?,
            semi_sync_variables: self.rows(conn, SEMI_SYNC_VARIABLES, deadline).await?,
            semi_sync_status: self.rows(conn, SEMI_SYNC_STATUS, deadline).await?,
            heartbeat: match f.heartbeat_query() {
                Some(q) => self.rows(conn, q, deadline).await?,
                None => Vec::new(),
            },
        };
        f.parse(&rows).map_err(|e| ProbeFailure::Query(e.to_string()))
    }
}

/// Did the host refuse the connection (nothing listens: the server is not running)? A
/// firewall that rejects rather than drops looks the same — see runbooks/server-settings.md.
fn refused(e: &mysql_async::Error) -> bool {
    matches!(e, mysql_async::Error::Io(mysql_async::IoError::Io(io)) if io.kind() == std::io::ErrorKind::ConnectionRefused)
}

/// A connection for one operation, separate from the probe connection, with its own limit.
struct OpConn<'a> {
    conn: Conn,
    /// The server's id of this connection (`CONNECTION_ID()`), to kill its statement.
    id: u32,
    client: &'a MysqlClient,
    config: &'a NodeConfig,
    /// This connection raised the node's fencing term to its lease's already.
    recorded: bool,
    node: &'a str,
    op: &'static str,
    deadline: Instant,
}

impl OpConn<'_> {
    fn remaining(&self) -> Duration {
        self.deadline.saturating_duration_since(Instant::now())
    }

    fn timeout_err(&self, limit: Duration) -> OpError {
        OpError::Timeout {
            node: self.node.to_string(),
            op: self.op,
            limit,
        }
    }

    fn map_err(&self, e: mysql_async::Error) -> OpError {
        match e {
            mysql_async::Error::Server(se) => OpError::Server {
                node: self.node.to_string(),
                op: self.op,
                code: se.code,
                message: se.message,
            },
            other => OpError::Connect {
                node: self.node.to_string(),
                op: self.op,
                message: format!("connection lost: {other}"),
            },
        }
    }

    /// Run one statement within what is left of the operation's time.
    async fn exec(&mut self, sql: &str, limit: Duration) -> Result<(), OpError> {
        self.exec_within(sql, self.remaining(), limit).await
    }

    /// Run one statement within `bound` (and what is left of the operation's time).
    async fn exec_within(&mut self, sql: &str, bound: Duration, limit: Duration) -> Result<(), OpError> {
        let term = super::lease_check(self.node, self.op)?.filter(|t| *t > 0);
        let Some(term) = term else {
            return self.send(sql, bound, limit).await;
        };
        let Some(fenced) = self.client.flavor.under_term(sql, term, !self.recorded) else {
            return self.send(sql, bound, limit).await;
        };
        let mut r = self.send(&fenced, bound, limit).await;
        if matches!(&r, Err(OpError::Server { code, .. }) if fencing::is_missing_table(*code)) {
            // first change by any manager on this node: the statement failed at its first
            // read, before it changed anything — create the table and send it again
            for ddl in fencing::FENCE_TABLE {
                self.send(ddl, bound, limit).await?;
            }
            r = self.send(&fenced, bound, limit).await;
        }
        match r {
            Err(OpError::Server { code, message, .. }) => Err(match fencing::refused_by(code, &message) {
                Some(seen) => OpError::Fenced {
                    node: self.node.to_string(),
                    op: self.op,
                    term,
                    seen,
                },
                None => OpError::Server {
                    node: self.node.to_string(),
                    op: self.op,
                    code,
                    message,
                },
            }),
            Ok(()) => {
                self.recorded = true;
                Ok(())
            }
            other => other,
        }
    }

    /// Send one statement as it is.
    async fn send(&mut self, sql: &str, bound: Duration, limit: Duration) -> Result<(), OpError> {
        match timeout(bound.min(self.remaining()), self.conn.query_drop(sql)).await {
            Err(_) => {
                // A client-side timeout leaves the statement running on the server (the
                // connection stays open: mysql_async drains it), where it could land later —
                // a `read_only=ON` after a rollback made the node writable again, measured on
                // MariaDB 10.11 (tests/fence.rs). Cancel it before saying it failed.
                if let Err(e) = self.client.kill_statement(self.config, self.id).await {
                    tracing::error!(node = %self.node, op = self.op, error = %e,
                        "a timed-out statement could not be cancelled: it may still take effect");
                }
                Err(self.timeout_err(limit))
            }
            Ok(r) => r.map_err(|e| self.map_err(e)),
        }
    }

    async fn first_i64(&mut self, sql: &str, limit: Duration) -> Result<Option<i64>, OpError> {
        match timeout(self.remaining(), self.conn.query_first::<Option<i64>, _>(sql)).await {
            Err(_) => Err(self.timeout_err(limit)),
            Ok(r) => r.map(Option::flatten).map_err(|e| self.map_err(e)),
        }
    }

    async fn first_text(&mut self, sql: &str, limit: Duration) -> Result<Option<String>, OpError> {
        match timeout(self.remaining(), self.conn.query_first::<Option<String>, _>(sql)).await {
            Err(_) => Err(self.timeout_err(limit)),
            Ok(r) => r.map(Option::flatten).map_err(|e| self.map_err(e)),
        }
    }

    async fn open_writes(&mut self, sql: &str, limit: Duration) -> Result<Vec<OpenWrite>, OpError> {
        let rows = timeout(
            self.remaining(),
            self.conn.query::<(u64, String, u64, u64, String), _>(sql),
        );
        match rows.await {
            Err(_) => Err(self.timeout_err(limit)),
            Ok(r) => r.map_err(|e| self.map_err(e)).map(|rows| {
                rows.into_iter()
                    .map(|(connection, client, open_s, rows, verb)| OpenWrite {
                        connection,
                        client,
                        open_s,
                        rows,
                        // a verb is letters; anything else (a comment, a quote) is not shown
                        running: match verb {
                            v if v.is_empty() => None,
                            v if v.len() <= 16 && v.chars().all(|c| c.is_ascii_alphabetic()) => Some(v),
                            _ => Some("a statement".into()),
                        },
                    })
                    .collect()
            }),
        }
    }

    async fn ids(&mut self, sql: &str, limit: Duration) -> Result<Vec<u64>, OpError> {
        match timeout(self.remaining(), self.conn.query::<u64, _>(sql)).await {
            Err(_) => Err(self.timeout_err(limit)),
            Ok(r) => r.map_err(|e| self.map_err(e)),
        }
    }
}

impl MysqlClient {
    async fn op_conn<'a>(
        &'a self,
        node: &'a NodeConfig,
        op: &'static str,
        limit: Duration,
    ) -> Result<OpConn<'a>, OpError> {
        let deadline = Instant::now() + limit;
        match timeout(limit, Conn::new(self.opts(node))).await {
            Err(_) => Err(OpError::Timeout {
                node: node.name.clone(),
                op,
                limit,
            }),
            Ok(Err(e)) => Err(OpError::Connect {
                node: node.name.clone(),
                op,
                message: e.to_string(),
            }),
            Ok(Ok(conn)) => Ok(OpConn {
                id: conn.id(),
                conn,
                client: self,
                config: node,
                recorded: false,
                node: &node.name,
                op,
                deadline,
            }),
        }
    }
}

impl MysqlClient {
    /// End every client session (`KILL CONNECTION`): replication threads, system threads
    /// and the manager's own connections stay. Returns how many were ended.
    async fn end_client_sessions(&self, c: &mut OpConn<'_>, limit: Duration) -> Result<u32, OpError> {
        let ids = c.ids(&self.flavor.client_sessions_query(&self.user), limit).await?;
        for sql in self.flavor.end_sessions(&ids) {
            match c.exec(&sql, limit).await {
                // the session ended by itself in between (MySQL: one KILL per statement)
                Ok(()) | Err(OpError::Server { code: 1094, .. }) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(ids.len() as u32)
    }

    /// Kill the statement running on connection `id` of `node` (ours, after a client-side
    /// timeout) from a fresh connection, and wait until it has stopped. Its own bound: it
    /// runs when the operation's time is already used up. No lease check: cancelling a
    /// manager's own change is never a change of its own.
    async fn kill_statement(&self, node: &NodeConfig, id: u32) -> Result<(), OpError> {
        const KILL_LIMIT: Duration = Duration::from_secs(2);
        let op = "cancel a timed-out statement";
        let deadline = Instant::now() + KILL_LIMIT;
        let fail = |message: String| OpError::Connect {
            node: node.name.clone(),
            op,
            message,
        };
        let mut k = match timeout(KILL_LIMIT, Conn::new(self.opts(node))).await {
            Err(_) => return Err(fail("cannot connect within 2s".into())),
            Ok(r) => r.map_err(|e| fail(e.to_string()))?,
        };
        let left = || deadline.saturating_duration_since(Instant::now());
        match timeout(left(), k.query_drop(format!("KILL QUERY {id}"))).await {
            Err(_) => return Err(fail("KILL QUERY timed out".into())),
            // 1094: no such thread — the statement's connection is already gone
            Ok(Err(mysql_async::Error::Server(e))) if e.code == 1094 => return Ok(()),
            Ok(r) => r.map_err(|e| fail(e.to_string()))?,
        }
        // KILL QUERY only flags the statement; it stops at its next check
        let running =
            format!("SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE ID = {id} AND COMMAND = 'Query'");
        loop {
            match timeout(left(), k.query_first::<u64, _>(running.as_str())).await {
                Ok(Ok(Some(0))) | Ok(Ok(None)) => return Ok(()),
                Ok(Ok(Some(_))) if !left().is_zero() => tokio::time::sleep(Duration::from_millis(20)).await,
                Ok(Ok(Some(_))) | Err(_) => return Err(fail("killed, but still running after 2s".into())),
                Ok(Err(e)) => return Err(fail(e.to_string())),
            }
        }
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
        let slot = {
            // a poisoned map only means another probe panicked mid-insert: the map is intact
            let mut conns = self.probe_conns.lock().unwrap_or_else(|e| e.into_inner());
            conns.entry(node.name.clone()).or_default().clone()
        };
        let mut slot = slot.lock().await;
        // One budget for the whole probe — connecting and every statement — so that a node
        // that hangs at any point costs at most one probe timeout per round.
        let deadline = Instant::now() + self.op_timeout;
        let mut conn = match slot.take() {
            Some(c) => c,
            None => self.connect(node, deadline).await?,
        };
        let result = self.probe_on(&mut conn, deadline).await;
        if result.is_ok() {
            *slot = Some(conn);
        }
        result
    }

    async fn fence(&self, node: &NodeConfig, limit: Duration) -> Result<Fenced, OpError> {
        let deadline = Instant::now() + limit;
        let mut fenced = Fenced::default();
        // A statement bound per attempt: `read_only=ON` that blocks behind a commit is killed
        // and tried again after the sessions are ended once more.
        let attempt = (limit / 4).max(Duration::from_millis(100));
        let mut c = self.op_conn(node, "fence", limit).await?;
        loop {
            // Sessions first. A commit waiting for a semi-sync acknowledgement (the thawed
            // master of a freeze, a master cut off from its replicas) blocks `read_only=ON`
            // until the semi-sync timeout releases it — *acknowledged*, though no replica has
            // it. `KILL CONNECTION` shuts the client's socket before the commit finishes, so
            // its client never hears "committed" (MariaDB 10.11, measured; `KILL QUERY` and
            // turning semi-sync off would answer OK instead).
            fenced.sessions_killed += self.end_client_sessions(&mut c, limit).await?;
            let mut blocked = false;
            for sql in self.flavor.set_read_only(true) {
                match c.exec_within(&sql, attempt, limit).await {
                    Ok(()) => {}
                    Err(OpError::Timeout { .. }) => {
                        blocked = true;
                        break;
                    }
                    Err(e) => return Err(e),
                }
            }
            if !blocked {
                break;
            }
            // the blocked statement was cancelled on the server (exec_within); the
            // connection is unusable after a timeout
            drop(c);
            if Instant::now() >= deadline {
                return Err(OpError::Timeout {
                    node: node.name.clone(),
                    op: "fence",
                    limit,
                });
            }
            c = self
                .op_conn(node, "fence", deadline.saturating_duration_since(Instant::now()))
                .await?;
            c.deadline = deadline;
        }
        // Sessions that connected while read_only was being set; they cannot commit now.
        fenced.sessions_killed += self.end_client_sessions(&mut c, limit).await?;
        let ro = c.first_i64(self.flavor.read_only_query(), limit).await?;
        if ro != Some(1) {
            return Err(OpError::Server {
                node: node.name.clone(),
                op: "fence",
                code: 0,
                message: "read_only is still OFF after setting it".into(),
            });
        }
        fenced.read_only = true;
        // read after the sessions ended: a commit in flight when read_only was set is in the
        // binlog by now
        let written = c
            .first_text(self.flavor.written_query(), limit)
            .await?
            .unwrap_or_default();
        fenced.written = Some(self.flavor.parse_gtids(&written).map_err(|e| OpError::Server {
            node: node.name.clone(),
            op: "fence",
            code: 0,
            message: format!("cannot parse what it wrote: {e}"),
        })?);
        Ok(fenced)
    }

    async fn wait_applied(&self, node: &NodeConfig, gtids: &Gtids, limit: Duration) -> Result<Applied, OpError> {
        let mut c = self.op_conn(node, "wait for relay log", limit).await?;
        let applied = |text: Option<String>| self.flavor.parse_gtids(&text.unwrap_or_default()).ok();
        let now = applied(c.first_text(self.flavor.applied_query(), limit).await?);
        if now.as_ref().and_then(|a| a.contains_each(gtids)) == Some(true) {
            return Ok(Applied {
                done: true,
                applied: now,
            });
        }
        c.exec(self.flavor.start_applier(), limit).await?;
        // ask the server to wait a little less than we do, so it answers (and we can read
        // how far it got) before we give up
        let server_wait = c.remaining().saturating_sub(Duration::from_millis(300));
        let r = c
            .first_i64(&self.flavor.wait_applied(gtids, server_wait), limit)
            .await?;
        let now = applied(c.first_text(self.flavor.applied_query(), limit).await?);
        Ok(Applied {
            done: r == Some(0),
            applied: now,
        })
    }

    async fn raise_applier_threads(&self, node: &NodeConfig, threads: u32, limit: Duration) -> Result<u32, OpError> {
        let op = "set the applier's threads";
        let mut c = self.op_conn(node, op, limit).await?;
        let had = c.first_i64(self.flavor.applier_threads_query(), limit).await?;
        let had = had.and_then(|n| u32::try_from(n).ok()).unwrap_or(0);
        if had >= threads {
            return Ok(had);
        }
        let state = self.probe(node).await.map_err(|e| OpError::Connect {
            node: node.name.clone(),
            op,
            message: e.to_string(),
        })?;
        let running = state.replica.as_ref().is_some_and(|r| r.sql_running);
        if running && state.replica.as_ref().is_some_and(|r| r.io == IoThread::No) {
            return Err(OpError::Unsafe {
                node: node.name.clone(),
                op,
                why: "its receiver is stopped: stopping the applier too would discard the relay log at the next start"
                    .into(),
            });
        }
        if running {
            c.exec(self.flavor.stop_applier(), limit).await?;
        }
        let set = c.exec(&self.flavor.set_applier_threads(threads), limit).await;
        if running {
            // started again even when the change was refused: it was running before
            c.exec(self.flavor.start_applier(), limit).await?;
        }
        set.map(|()| had)
    }

    async fn open_writes(
        &self,
        node: &NodeConfig,
        older_than: Duration,
        limit: Duration,
    ) -> Result<Vec<OpenWrite>, OpError> {
        let mut c = self.op_conn(node, "look for open write transactions", limit).await?;
        let secs = older_than.as_secs_f64().ceil() as u64;
        c.open_writes(&self.flavor.open_writes_query(secs), limit).await
    }

    async fn stop_receiving(&self, node: &NodeConfig, limit: Duration) -> Result<NodeState, OpError> {
        let mut c = self.op_conn(node, "stop receiving", limit).await?;
        for sql in self.flavor.stop_receiver() {
            c.exec(sql, limit).await?;
        }
        let state = self.probe(node).await.map_err(|e| OpError::Connect {
            node: node.name.clone(),
            op: "read what it received",
            message: e.to_string(),
        })?;
        Ok(state)
    }

    async fn start_replication(&self, node: &NodeConfig, limit: Duration) -> Result<(), OpError> {
        let mut c = self.op_conn(node, "start replication", limit).await?;
        c.exec(self.flavor.start_replication(), limit).await
    }

    async fn detach(&self, node: &NodeConfig, limit: Duration) -> Result<(), OpError> {
        let mut c = self.op_conn(node, "reset replication", limit).await?;
        for sql in self.flavor.detach() {
            c.exec(&sql, limit).await?;
        }
        Ok(())
    }

    async fn promote(&self, node: &NodeConfig, semi: PromotedSemiSync, limit: Duration) -> Result<(), OpError> {
        let mut c = self.op_conn(node, "promote", limit).await?;
        for sql in self.flavor.promote(semi) {
            match c.exec(&sql, limit).await {
                Err(OpError::Server { code, .. }) if is_unknown_variable(code) => {
                    tracing::warn!(node = %node.name, "semi-sync is not available on this server; promoting without it");
                }
                r => r?,
            }
        }
        Ok(())
    }

    async fn set_semi_sync(&self, node: &NodeConfig, policy: SemiSyncPolicy, limit: Duration) -> Result<(), OpError> {
        let mut c = self.op_conn(node, "set semi-sync", limit).await?;
        for sql in self.flavor.semi_sync_master(policy.timeout) {
            c.exec(&sql, limit).await?;
        }
        Ok(())
    }

    async fn replicate_from(
        &self,
        node: &NodeConfig,
        master: &NodeConfig,
        from: StartFrom,
        limit: Duration,
    ) -> Result<(), OpError> {
        let mut c = self.op_conn(node, "replicate from new master", limit).await?;
        let statements = self.flavor.replicate_from(
            &master.address,
            master.port,
            &self.repl_user,
            self.repl_password.expose(),
            from,
        );
        for sql in statements {
            match c.exec(&sql, limit).await {
                Err(OpError::Server { code, .. }) if is_unknown_variable(code) => {}
                r => r?,
            }
        }
        Ok(())
    }

    async fn set_start_position(&self, node: &NodeConfig, gtids: &Gtids, limit: Duration) -> Result<(), OpError> {
        let mut c = self.op_conn(node, "set the start position", limit).await?;
        for sql in self.flavor.start_position(gtids) {
            c.exec(&sql, limit).await?;
        }
        Ok(())
    }

    async fn set_read_only(&self, node: &NodeConfig, on: bool, limit: Duration) -> Result<(), OpError> {
        let mut c = self
            .op_conn(node, if on { "set read-only" } else { "set writable" }, limit)
            .await?;
        for sql in self.flavor.set_read_only(on) {
            c.exec(&sql, limit).await?;
        }
        Ok(())
    }
}

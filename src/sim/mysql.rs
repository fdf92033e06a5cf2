//! MariaDB nodes as a model, and the [`MysqlAdmin`] edge a simulated manager reaches them
//! through.
//!
//! What is modelled is what failover safety hinges on (one replication domain, GTID strict
//! mode):
//! - every node's binlog — the transactions it executed, in order — and a replica's relay
//!   log (received, not applied); a replica receives from its master only while its received
//!   history is a prefix of the master's binlog (otherwise: error 1236, diverged);
//! - semi-sync `AFTER_SYNC`: a commit is in the master's binlog before it is acknowledged,
//!   and acknowledged to its client only once a semi-sync replica received it — or, after the
//!   master's timeout (an absolute deadline from the commit), alone, with semi-sync fallen
//!   back to async; switching the master side off releases waiting commits acknowledged;
//! - `read_only=ON` waits for the commits in flight; `KILL CONNECTION` of a waiting session
//!   ends it unacknowledged (its transaction stays committed on that node only);
//! - a killed server keeps its binlog (`sync_binlog=1`) and restarts read-only; a frozen one
//!   answers nothing, serves nothing, and its waiting commits keep their deadlines;
//! - replicas notice a killed master at once, a frozen or cut-off one only after
//!   `slave_net_timeout` without heartbeats (one a second).

use super::net::Net;
use super::World;
use crate::config::NodeConfig;
use crate::flavor::StartFrom;
use crate::gtid::{Gtids, MariaDbGtids};
use crate::model::{lease, PromotedSemiSync, SemiSyncPolicy};
use crate::mysql::{Applied, Fenced, MysqlAdmin, OpError, OpenWrite};
use crate::topology::{IoThread, NodeState, ProbeFailure, ReplicaStatus, SemiSync};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::time::{sleep, Instant};

/// `slave_net_timeout`: a replica that heard nothing for this long reconnects.
pub const NET_TIMEOUT: Duration = Duration::from_secs(4);
/// `MASTER_HEARTBEAT_PERIOD`.
pub const HEARTBEAT: Duration = Duration::from_secs(1);

/// One transaction: the server that wrote it and its sequence number in domain 0, and the
/// client write it carries (0 for none).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Trx {
    /// `server_id` of the master that wrote it.
    pub server: u32,
    /// Sequence number (domain 0).
    pub seq: u64,
    /// The client write it carries.
    pub write: u64,
}

/// A server's process.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Process {
    /// Serving.
    Running,
    /// Killed (or not started).
    Stopped,
    /// SIGSTOPped.
    Frozen,
}

/// A replication connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Repl {
    /// The master's node name.
    pub master: String,
    /// The receiver.
    pub io: IoThread,
    /// The applier.
    pub sql: bool,
    /// Why the receiver stopped (1236: diverged).
    pub io_error: Option<String>,
    /// Why the applier stopped (gtid strict mode: a sequence number out of order).
    pub sql_error: Option<String>,
    /// When it last heard from the master.
    pub last_heard: Instant,
    /// Heartbeats received.
    pub heartbeats: u64,
}

/// A commit waiting for a semi-sync acknowledgement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pending {
    /// The transaction (in the binlog already).
    pub trx: Trx,
    /// The client session waiting.
    pub session: u64,
    /// When the master gives up waiting and acknowledges alone.
    pub deadline: Instant,
}

/// One simulated MariaDB server.
#[derive(Debug, Clone)]
pub struct Node {
    /// Name and address.
    pub name: String,
    /// `server_id`.
    pub server_id: u32,
    /// The process.
    pub process: Process,
    /// `read_only`.
    pub read_only: bool,
    /// Executed transactions, in order (the binlog, with `log_slave_updates`); append with
    /// [`Node::append`].
    pub log: Vec<Trx>,
    /// `gtid_binlog_state`: the last sequence number of each server in the binlog.
    pub state: BTreeMap<u32, u64>,
    /// Received, not yet applied.
    pub relay: Vec<Trx>,
    /// Replication, when configured.
    pub repl: Option<Repl>,
    /// `rpl_semi_sync_master_enabled`.
    pub semi_master: bool,
    /// `Rpl_semi_sync_master_status`: off after a timeout until a replica catches up.
    pub semi_active: bool,
    /// `rpl_semi_sync_master_timeout`.
    pub semi_timeout: Duration,
    /// `…_wait_point = AFTER_SYNC` and `…_wait_no_slave = ON`.
    pub semi_lossless: bool,
    /// Commits waiting for an acknowledgement.
    pub pending: Vec<Pending>,
    /// Client sessions (their ids).
    pub sessions: Vec<u64>,
    /// Commits that were waiting for an acknowledgement when the server was killed: in the
    /// binlog, not committed in the engine. MariaDB's semi-sync crash recovery may truncate
    /// them at the restart (seen in the lab, not always: [`Node::truncates`]).
    pub unacked_at_kill: Vec<Trx>,
    /// Whether this server's next restart truncates them.
    pub truncates: bool,
    /// The newest leadership term a change came with (`myha.fence`, survives restarts).
    pub fence_term: i64,
    /// `slave_parallel_threads` (apply here is instant whatever the count).
    pub applier_threads: u32,
}

impl Node {
    /// A fresh server, read-only, empty.
    pub fn new(name: &str, server_id: u32) -> Self {
        Node {
            name: name.to_string(),
            server_id,
            process: Process::Running,
            read_only: true,
            log: Vec::new(),
            state: BTreeMap::new(),
            relay: Vec::new(),
            repl: None,
            semi_master: false,
            semi_active: false,
            semi_timeout: Duration::from_secs(3600),
            semi_lossless: true,
            pending: Vec::new(),
            sessions: Vec::new(),
            unacked_at_kill: Vec::new(),
            truncates: true,
            fence_term: 0,
            applier_threads: 0,
        }
    }

    /// Execute `t` (into the binlog).
    pub fn append(&mut self, t: Trx) {
        self.log.push(t);
        let e = self.state.entry(t.server).or_insert(t.seq);
        *e = (*e).max(t.seq);
    }

    /// Apply the relay log. With `gtid_strict_mode`, a transaction whose sequence number is
    /// not above everything in the binlog stops the applier (an errant write on this replica
    /// took that number first).
    fn apply_relay(&mut self) {
        let relay = std::mem::take(&mut self.relay);
        let mut rest = relay.into_iter();
        for t in rest.by_ref() {
            let top = self.state.values().copied().max().unwrap_or(0);
            if t.seq <= top && !self.log.contains(&t) {
                if let Some(r) = self.repl.as_mut() {
                    r.sql = false;
                    r.sql_error = Some(format!(
                        "An attempt was made to binlog GTID 0-{}-{} which would create an out-of-order sequence number with existing GTID 0-x-{top}, and gtid strict mode is enabled",
                        t.server, t.seq
                    ));
                }
                self.relay.push(t);
                break;
            }
            self.append(t);
        }
        self.relay.extend(rest);
    }

    /// Drop `cut` from the binlog's tail (crash recovery).
    pub fn truncate(&mut self, cut: &[Trx]) {
        self.log.retain(|t| !cut.contains(t));
        self.state.clear();
        for t in &self.log {
            let e = self.state.entry(t.server).or_insert(t.seq);
            *e = (*e).max(t.seq);
        }
    }

    /// The last transaction received (relayed, else applied).
    pub fn last_received(&self) -> Option<&Trx> {
        self.relay.last().or(self.log.last())
    }

    /// The last transaction received from a master (not written here).
    pub fn last_from_master(&self) -> Option<&Trx> {
        self.relay
            .last()
            .or_else(|| self.log.iter().rev().find(|t| t.server != self.server_id))
    }

    /// Everything received: applied, then relayed.
    pub fn received(&self) -> impl Iterator<Item = &Trx> {
        self.log.iter().chain(self.relay.iter())
    }

    /// The next sequence number this server writes (strict mode: above all it has; sequence
    /// numbers grow along every binlog).
    fn next_seq(&self) -> u64 {
        self.last_received().map(|t| t.seq).unwrap_or(0) + 1
    }

    /// Is a write of `id` in the binlog?
    pub fn has_write(&self, id: u64) -> bool {
        self.log.iter().any(|t| t.write == id)
    }

    /// Does it accept client writes now?
    pub fn accepts_writes(&self) -> bool {
        self.process == Process::Running && !self.read_only
    }

    /// A GTID position: the last transaction (domain 0).
    fn position(last: Option<&Trx>) -> Gtids {
        let mut g = MariaDbGtids::default();
        if let Some(t) = last {
            g.insert(0, t.server, t.seq);
        }
        Gtids::MariaDb(g)
    }

    /// `@@gtid_current_pos` (what it executed).
    pub fn executed(&self) -> Gtids {
        Node::position(self.log.last())
    }

    /// `@@gtid_binlog_state`.
    pub fn binlog_state(&self) -> Gtids {
        let mut g = MariaDbGtids::default();
        for (s, q) in &self.state {
            g.insert(0, *s, *q);
        }
        Gtids::MariaDb(g)
    }

    /// What a probe reads.
    fn observe(&self, address_of: &dyn Fn(&str) -> String) -> NodeState {
        let received = self.log.len() + self.relay.len();
        NodeState {
            server_id: self.server_id,
            version: "10.11.6-MariaDB-sim".into(),
            read_only: self.read_only,
            executed: self.executed(),
            binlog_state: self.binlog_state(),
            replica: self.repl.as_ref().map(|r| ReplicaStatus {
                master_host: address_of(&r.master),
                master_port: 3306,
                master_server_id: 0,
                io: r.io,
                sql_running: r.sql,
                last_io_error: r.io_error.clone(),
                last_sql_error: r.sql_error.clone(),
                seconds_behind: (r.io == IoThread::Yes && r.sql).then_some(0),
                received: Node::position(self.last_from_master()),
                heartbeats: r.heartbeats,
                heartbeat_period_ms: HEARTBEAT.as_millis() as u64,
                read_position: format!("mysql-bin.000001:{received}"),
            }),
            semi_sync: SemiSync {
                master_enabled: self.semi_master,
                master_active: self.semi_master && self.semi_active,
                master_clients: 0,
                replica_enabled: true,
                replica_active: self.repl.as_ref().is_some_and(|r| r.io == IoThread::Yes),
                master_timeout_ms: Some(self.semi_timeout.as_millis() as u64),
                master_wait_point: Some(
                    if self.semi_lossless {
                        "AFTER_SYNC"
                    } else {
                        "AFTER_COMMIT"
                    }
                    .into(),
                ),
                master_wait_no_replica: Some(self.semi_lossless),
            },
        }
    }
}

/// What happened to a client's commit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Commit {
    /// Acknowledged at once (no semi-sync).
    Acked,
    /// In the binlog, waiting for an acknowledgement.
    Waiting,
    /// Refused (read-only, not running).
    Refused,
}

impl World {
    /// A client's commit of write `id` on `node`, in session `session`.
    pub fn commit(&mut self, node: &str, session: u64, id: u64) -> Commit {
        let now = Instant::now();
        let Some(n) = self.nodes.get_mut(node) else {
            return Commit::Refused;
        };
        if !n.accepts_writes() {
            return Commit::Refused;
        }
        let trx = Trx {
            server: n.server_id,
            seq: n.next_seq(),
            write: id,
        };
        n.append(trx);
        if n.semi_master && n.semi_active {
            n.pending.push(Pending {
                trx,
                session,
                deadline: now + n.semi_timeout,
            });
            Commit::Waiting
        } else {
            Commit::Acked
        }
    }

    /// One step of replication and semi-sync, every node, at the current instant; the
    /// acknowledgements it releases are returned as (session, write).
    pub fn replicate(&mut self, net: &Net) -> Vec<(u64, u64)> {
        let now = Instant::now();
        let names: Vec<String> = self.nodes.keys().cloned().collect();
        for r in &names {
            self.receive(r, net, now);
            if let Some(n) = self.nodes.get_mut(r) {
                if n.process == Process::Running && n.repl.as_ref().is_some_and(|x| x.sql) {
                    n.apply_relay();
                }
            }
        }
        let mut released = Vec::new();
        for m in &names {
            released.extend(self.acknowledge(m, net, now));
        }
        released
    }

    /// Replica `r` receives from its master, or loses it. As MariaDB does: the replica asks
    /// for what follows its last received GTID; a master whose binlog does not have it
    /// answers error 1236.
    fn receive(&mut self, r: &str, net: &Net, now: Instant) {
        let Some(node) = self.nodes.get(r) else { return };
        if node.process != Process::Running {
            return;
        }
        let Some(repl) = node.repl.clone() else { return };
        if repl.io == IoThread::No {
            return;
        }
        let reachable = net.reachable(r, &repl.master);
        let master = self.nodes.get(&repl.master);
        let process = master.map(|m| m.process);
        let last = node.last_received().copied();
        let (start, missing) = match (master, last) {
            (Some(m), Some(t)) => {
                let at = node.log.len() + node.relay.len() - 1;
                let found = if m.log.get(at) == Some(&t) {
                    Some(at)
                } else {
                    m.log.iter().rposition(|x| *x == t)
                };
                (found.map(|i| i + 1).unwrap_or(0), found.is_none())
            }
            _ => (0, false),
        };
        let new: Vec<Trx> = match master {
            Some(m) if reachable && process == Some(Process::Running) && !missing => {
                m.log[start.min(m.log.len())..].to_vec()
            }
            _ => Vec::new(),
        };
        let Some(n) = self.nodes.get_mut(r) else { return };
        let Some(x) = n.repl.as_mut() else { return };
        match process {
            // a dead master refuses connections: the receiver knows at once
            Some(Process::Stopped) | None if reachable => x.io = IoThread::Connecting,
            Some(Process::Running) if reachable => {
                if missing {
                    x.io = IoThread::No;
                    x.io_error = Some(
                        "Got fatal error 1236 from master: the replica's position is not in its binlog (diverged)"
                            .into(),
                    );
                    return;
                }
                x.io = IoThread::Yes;
                x.io_error = None;
                if now.saturating_duration_since(x.last_heard) >= HEARTBEAT {
                    x.heartbeats += 1;
                    x.last_heard = now;
                } else if !new.is_empty() {
                    x.last_heard = now;
                }
                n.relay.extend(new);
            }
            // frozen or cut off: silence, until the replica gives up on it
            _ => {
                if now.saturating_duration_since(x.last_heard) >= NET_TIMEOUT {
                    x.io = IoThread::Connecting;
                }
            }
        }
    }

    /// Master `m`'s waiting commits that a semi-sync replica received (or whose deadline
    /// passed: then acknowledged alone, and semi-sync falls back to async).
    fn acknowledge(&mut self, m: &str, net: &Net, now: Instant) -> Vec<(u64, u64)> {
        let Some(master) = self.nodes.get(m) else {
            return Vec::new();
        };
        if master.process != Process::Running || (master.pending.is_empty() && master.semi_active) {
            return Vec::new();
        }
        // what each connected replica received: its history is a prefix of the master's
        // binlog, and sequence numbers grow along it
        // (its own transactions — errant writes — are not something it received, and an
        // acknowledgement needs the network between them)
        let received: Vec<u64> = self
            .nodes
            .values()
            .filter(|n| n.process == Process::Running && net.reachable(&n.name, m))
            .filter(|n| n.repl.as_ref().is_some_and(|r| r.master == m && r.io == IoThread::Yes))
            .map(|n| n.last_from_master().map(|t| t.seq).unwrap_or(0))
            .collect();
        let Some(master) = self.nodes.get_mut(m) else {
            return Vec::new();
        };
        let mut released = Vec::new();
        let mut kept = Vec::new();
        for p in std::mem::take(&mut master.pending) {
            if received.iter().any(|&q| q >= p.trx.seq) {
                released.push((p.session, p.trx.write));
            } else if now >= p.deadline {
                master.semi_active = false;
                released.push((p.session, p.trx.write));
            } else {
                kept.push(p);
            }
        }
        master.pending = kept;
        let top = master.log.last().map(|t| t.seq).unwrap_or(0);
        if master.semi_master && !master.semi_active && received.iter().any(|&q| q >= top) {
            // a replica caught up: semi-sync is on again
            master.semi_active = true;
        }
        released
    }
}

/// The MySQL edge of one simulated manager: every call crosses the network from `host`.
#[derive(Clone)]
pub struct SimAdmin {
    /// The world.
    pub world: Arc<Mutex<World>>,
    /// The manager's host.
    pub host: String,
}

impl SimAdmin {
    fn lock(&self) -> std::sync::MutexGuard<'_, World> {
        self.world.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Reach `node` from the manager's host, paying the network's latency: `Err` after the
    /// limit when it does not answer (cut off, frozen), at once when it refuses (stopped).
    async fn reach(&self, node: &str, op: &'static str, limit: Duration) -> Result<(), OpError> {
        let (latency, reachable, process) = {
            let mut w = self.lock();
            let latency = w.latency();
            let reachable = w.net.reachable(&self.host, node) && !w.paused(&self.host);
            (latency, reachable, w.nodes.get(node).map(|n| n.process))
        };
        self.gate().await;
        sleep(latency.min(limit)).await;
        match (reachable, process) {
            (true, Some(Process::Running)) => Ok(()),
            (true, Some(Process::Stopped)) | (true, None) => Err(OpError::Connect {
                node: node.into(),
                op,
                message: "Connection refused (os error 111)".into(),
            }),
            _ => {
                sleep(limit.saturating_sub(latency)).await;
                Err(OpError::Timeout {
                    node: node.into(),
                    op,
                    limit,
                })
            }
        }
    }

    /// A paused manager (SIGSTOP) makes no call until it is resumed.
    async fn gate(&self) {
        let mut rx = self.lock().pause_rx(&self.host);
        while *rx.borrow_and_update() {
            if rx.changed().await.is_err() {
                return;
            }
        }
    }

    /// Run `f` on `node`, as a mutation by this manager (recorded for the invariants).
    async fn mutate<T>(
        &self,
        node: &str,
        op: &'static str,
        limit: Duration,
        f: impl FnOnce(&mut World, &str) -> T,
    ) -> Result<T, OpError> {
        self.reach(node, op, limit).await?;
        let mut w = self.lock();
        // it may have died or frozen while the request travelled
        if w.nodes.get(node).map(|n| n.process) != Some(Process::Running) {
            return Err(OpError::Timeout {
                node: node.into(),
                op,
                limit,
            });
        }
        // as MysqlClient: the lease is looked at before the change leaves the process, and
        // the node checks the term in the same batch as the change
        let Some(lease) = lease::current() else {
            w.violations
                .push(format!("(c) {} changed {node} ({op}) without a lease", self.host));
            return Err(OpError::LeaseEnded {
                node: node.into(),
                op,
                term: -1,
            });
        };
        if lease.ended() {
            return Err(OpError::LeaseEnded {
                node: node.into(),
                op,
                term: lease.term,
            });
        }
        if let Some(n) = w.nodes.get_mut(node) {
            if n.fence_term > lease.term {
                return Err(OpError::Fenced {
                    node: node.into(),
                    op,
                    term: lease.term,
                    seen: n.fence_term,
                });
            }
            n.fence_term = lease.term;
        }
        w.record_mutation(&self.host, node, op);
        Ok(f(&mut w, node))
    }
}

impl MysqlAdmin for SimAdmin {
    async fn probe(&self, node: &NodeConfig) -> Result<NodeState, ProbeFailure> {
        let limit = self.lock().probe_timeout;
        match self.reach(&node.name, "probe", limit).await {
            Ok(()) => {}
            Err(OpError::Timeout { .. }) => return Err(ProbeFailure::Timeout),
            Err(e @ OpError::Connect { .. }) => return Err(ProbeFailure::Refused(e.to_string())),
            Err(e) => return Err(ProbeFailure::Connect(e.to_string())),
        }
        let w = self.lock();
        let address_of = |n: &str| n.to_string();
        match w.nodes.get(&node.name) {
            Some(n) if n.process == Process::Running => Ok(n.observe(&address_of)),
            _ => Err(ProbeFailure::Timeout),
        }
    }

    async fn fence(&self, node: &NodeConfig, limit: Duration) -> Result<Fenced, OpError> {
        // as MysqlClient::fence: client sessions end first (their waiting commits end
        // unacknowledged), then read_only, then what it wrote
        self.mutate(&node.name, "fence", limit, |w, n| {
            let killed = w.kill_sessions(n);
            let node = w.nodes.get_mut(n).expect("reached");
            node.read_only = true;
            Fenced {
                read_only: true,
                sessions_killed: killed,
                written: Some(node.executed()),
            }
        })
        .await
    }

    async fn wait_applied(&self, node: &NodeConfig, gtids: &Gtids, limit: Duration) -> Result<Applied, OpError> {
        let deadline = Instant::now() + limit;
        self.mutate(&node.name, "wait for relay log", limit, |w, n| {
            if let Some(r) = w.nodes.get_mut(n).and_then(|x| x.repl.as_mut()) {
                r.sql = true;
                r.sql_error = None;
            }
        })
        .await?;
        loop {
            let applied = {
                let w = self.lock();
                w.nodes.get(&node.name).map(|n| n.binlog_state())
            };
            let done = applied.as_ref().and_then(|a| a.contains_each(gtids)) == Some(true);
            if done || Instant::now() >= deadline {
                return Ok(Applied { done, applied });
            }
            sleep(Duration::from_millis(5)).await;
        }
    }

    async fn raise_applier_threads(&self, node: &NodeConfig, threads: u32, limit: Duration) -> Result<u32, OpError> {
        let op = "set the applier's threads";
        self.mutate(&node.name, op, limit, |w, n| {
            let x = w.nodes.get_mut(n).expect("reached");
            let had = x.applier_threads;
            if had >= threads {
                return Ok(had);
            }
            // as MysqlClient: stopping the applier with the receiver stopped would discard
            // the relay log at the next start
            if x.repl.as_ref().is_some_and(|r| r.sql && r.io == IoThread::No) {
                return Err(OpError::Unsafe {
                    node: n.to_string(),
                    op,
                    why: "its receiver is stopped".into(),
                });
            }
            x.applier_threads = threads;
            Ok(had)
        })
        .await?
    }

    /// The simulated clients commit single statements: no transaction stays open.
    async fn open_writes(&self, node: &NodeConfig, _: Duration, limit: Duration) -> Result<Vec<OpenWrite>, OpError> {
        self.reach(&node.name, "look for open write transactions", limit)
            .await?;
        Ok(Vec::new())
    }

    async fn stop_receiving(&self, node: &NodeConfig, limit: Duration) -> Result<NodeState, OpError> {
        // a receiver connected to a master that does not answer (frozen, cut off) first tries
        // to end its dump thread there: MariaDB's semi-sync replica gives up after
        // rpl_semi_sync_slave_kill_conn_timeout (1 s in the lab)
        let stuck = {
            let w = self.lock();
            w.nodes.get(&node.name).and_then(|n| n.repl.as_ref()).is_some_and(|r| {
                r.io == IoThread::Yes
                    && (!w.net.reachable(&node.name, &r.master)
                        || w.nodes.get(&r.master).is_none_or(|m| m.process != Process::Running))
            })
        };
        self.mutate(&node.name, "stop receiving", limit, |w, n| {
            if let Some(r) = w.nodes.get_mut(n).and_then(|x| x.repl.as_mut()) {
                r.io = IoThread::No;
            }
        })
        .await?;
        if stuck {
            sleep(Duration::from_secs(1).min(limit)).await;
        }
        let w = self.lock();
        let address_of = |n: &str| n.to_string();
        match w.nodes.get(&node.name) {
            Some(n) if n.process == Process::Running => Ok(n.observe(&address_of)),
            _ => Err(OpError::Timeout {
                node: node.name.clone(),
                op: "read what it received",
                limit,
            }),
        }
    }

    async fn start_replication(&self, node: &NodeConfig, limit: Duration) -> Result<(), OpError> {
        self.mutate(&node.name, "start replication", limit, |w, n| {
            if let Some(r) = w.nodes.get_mut(n).and_then(|x| x.repl.as_mut()) {
                r.io = IoThread::Connecting;
                r.sql = true;
            }
        })
        .await
    }

    async fn detach(&self, node: &NodeConfig, limit: Duration) -> Result<(), OpError> {
        self.mutate(&node.name, "reset replication", limit, |w, n| {
            if let Some(x) = w.nodes.get_mut(n) {
                x.repl = None;
                x.relay.clear();
            }
        })
        .await
    }

    async fn promote(&self, node: &NodeConfig, semi: PromotedSemiSync, limit: Duration) -> Result<(), OpError> {
        self.mutate(&node.name, "promote", limit, |w, n| {
            let x = w.nodes.get_mut(n).expect("reached");
            if let Some(r) = x.repl.as_mut() {
                r.sql = false;
            }
            if let PromotedSemiSync::Lossless(p) = semi {
                x.semi_timeout = p.timeout;
                x.semi_lossless = true;
            }
            x.semi_master = semi != PromotedSemiSync::Off;
            x.semi_active = x.semi_master;
            x.read_only = false;
        })
        .await
    }

    async fn set_semi_sync(&self, node: &NodeConfig, policy: SemiSyncPolicy, limit: Duration) -> Result<(), OpError> {
        self.mutate(&node.name, "set semi-sync", limit, |w, n| {
            let x = w.nodes.get_mut(n).expect("reached");
            x.semi_timeout = policy.timeout;
            x.semi_lossless = true;
            // switched on, its status is ON at once, replicas or not (MariaDB's
            // rpl_semi_sync_master_wait_no_slave test: "status of semi-sync on master should
            // be ON even without any semi-sync slaves"); already on, it stays as it is
            if !x.semi_master {
                x.semi_active = true;
            }
            x.semi_master = true;
        })
        .await
    }

    async fn replicate_from(
        &self,
        node: &NodeConfig,
        master: &NodeConfig,
        from: StartFrom,
        limit: Duration,
    ) -> Result<(), OpError> {
        let m = master.name.clone();
        self.mutate(&node.name, "replicate from new master", limit, move |w, n| {
            // switching the master side off releases waiting commits acknowledged
            let released = w.release_pending(n);
            w.released.extend(released);
            let x = w.nodes.get_mut(n).expect("reached");
            x.semi_master = false;
            x.semi_active = false;
            // a replica continues from what it applied (slave_pos), an old master from its
            // own binlog (current_pos): both are its log here
            let _ = from;
            x.relay.clear();
            x.repl = Some(Repl {
                master: m,
                io: IoThread::Connecting,
                sql: true,
                io_error: None,
                sql_error: None,
                last_heard: Instant::now(),
                heartbeats: 0,
            });
        })
        .await
    }

    async fn set_start_position(&self, node: &NodeConfig, _gtids: &Gtids, limit: Duration) -> Result<(), OpError> {
        self.mutate(&node.name, "set the start position", limit, |_, _| ())
            .await
    }

    async fn set_read_only(&self, node: &NodeConfig, on: bool, limit: Duration) -> Result<(), OpError> {
        self.mutate(
            &node.name,
            if on { "set read-only" } else { "set writable" },
            limit,
            move |w, n| {
                if let Some(x) = w.nodes.get_mut(n) {
                    x.read_only = on;
                }
            },
        )
        .await
    }
}

impl World {
    /// `KILL CONNECTION` of every client session on `node`: their waiting commits end
    /// unacknowledged. Returns how many sessions ended.
    pub fn kill_sessions(&mut self, node: &str) -> u32 {
        let Some(n) = self.nodes.get_mut(node) else { return 0 };
        let sessions = std::mem::take(&mut n.sessions);
        n.pending.clear();
        for s in &sessions {
            self.dropped.push(*s);
        }
        sessions.len() as u32
    }

    /// The master side of semi-sync switched off: every waiting commit is acknowledged.
    fn release_pending(&mut self, node: &str) -> Vec<(u64, u64)> {
        let Some(n) = self.nodes.get_mut(node) else {
            return Vec::new();
        };
        n.pending.drain(..).map(|p| (p.session, p.trx.write)).collect()
    }

    /// The nodes' binlogs by name (for the invariants).
    pub fn logs(&self) -> BTreeMap<String, Vec<Trx>> {
        self.nodes.iter().map(|(k, n)| (k.clone(), n.log.clone())).collect()
    }

    /// A privileged session writes on `node` whatever its `read_only` (a DBA's fix-up, a
    /// monitoring job): a transaction of that server nobody else has — errant, on a replica.
    /// `None` when `node` is down or writable (it became the master meanwhile: a write there
    /// is the cluster's, not errant).
    pub fn errant_write(&mut self, node: &str) -> Option<Trx> {
        let n = self
            .nodes
            .get_mut(node)
            .filter(|n| n.process == Process::Running && n.read_only)?;
        // the next sequence number after the binlog's (the relay log does not count)
        let trx = Trx {
            server: n.server_id,
            seq: n.state.values().copied().max().unwrap_or(0) + 1,
            write: 0,
        };
        n.append(trx);
        Some(trx)
    }

    /// Would `node` acknowledge a commit now: running, writable, and with semi-sync either
    /// off or able to get a replica's acknowledgement (a connected semi-sync replica).
    pub fn acknowledges(&self, node: &str) -> bool {
        let Some(n) = self.nodes.get(node).filter(|n| n.accepts_writes()) else {
            return false;
        };
        if !(n.semi_master && n.semi_active) {
            return true;
        }
        self.nodes.values().any(|r| {
            r.process == Process::Running
                && self.net.reachable(&r.name, node)
                && r.repl
                    .as_ref()
                    .is_some_and(|x| x.master == node && x.io == IoThread::Yes)
        })
    }
}

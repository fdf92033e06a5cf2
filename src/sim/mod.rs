//! A deterministic simulation of whole managers: the real loop, elector, detector, decide and
//! executor of two or three managers run in one process, on one thread, on tokio's paused
//! clock, against modelled edges — MariaDB nodes ([`mysql`]), ZooKeeper sessions
//! ([`zk`]), the VIP's cloud API ([`vip`]), the network between all hosts ([`net`]) and
//! clients writing through the VIP ([`client`]). Every random choice comes from one seed, so
//! a schedule replays exactly.
//!
//! Why tokio's paused time on a current-thread runtime and not turmoil: the edges are
//! models behind myha's own traits (no sockets to simulate), and the managers' code runs
//! unchanged on tokio; what determinism needs is one thread, a clock that only moves when
//! every task waits, no real I/O, seeded randomness, and `select!` that polls in order
//! (`biased`) — all of which this has.

pub mod client;
pub mod explore;
pub mod mysql;
pub mod net;
pub mod schedule;
pub mod vip;
pub mod zk;

use crate::config::{Config, FailoverConfig, ManagerConfig, Timing, ZookeeperConfig};
use crate::coord::elector::{Elector, ElectorTiming};
use crate::coord::fake::World as Ensemble;
use crate::manager::{run, Edges, Task};
use crate::model::{timestamp, FailoverRecord, ManagerInfo, SessionState, SharedState};
use crate::signal;
use client::{Ack, Client};
use mysql::{Node, Process, SimAdmin};
use net::Net;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::task::JoinHandle;
use tokio::time::{sleep, Instant};
use vip::{SimVip, VipModel};
use zk::SimCoord;

/// The cluster's name in every simulation.
pub const CLUSTER: &str = "sim";
/// How often the world moves (replication, acknowledgements, clients, sessions).
pub const TICK: Duration = Duration::from_millis(20);

/// A call a manager made that changed a node or the VIP.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mutation {
    /// When.
    pub at: Instant,
    /// The manager's host.
    pub host: String,
    /// The node (or `vip`).
    pub target: String,
    /// The operation.
    pub op: &'static str,
}

/// Everything modelled, behind one lock (no await while it is held).
pub struct World {
    /// The database nodes by name.
    pub nodes: BTreeMap<String, Node>,
    /// Who reaches whom.
    pub net: Net,
    /// The one source of randomness.
    pub rng: fastrand::Rng,
    /// The managers' probe timeout (a hung node answers nothing within it).
    pub probe_timeout: Duration,
    /// Network latency of one call: from, to.
    pub latency_range: (Duration, Duration),
    /// The VIP as the cloud keeps it.
    pub vip: VipModel,
    /// Clients writing through the VIP.
    pub clients: Vec<Client>,
    /// Every write acknowledged to a client.
    pub acks: Vec<Ack>,
    /// Every change of a node or the VIP by a manager, in order.
    pub mutations: Vec<Mutation>,
    /// Acknowledgements released outside a replication step (session, write).
    pub released: Vec<(u64, u64)>,
    /// Client sessions a server ended.
    pub dropped: Vec<u64>,
    /// ZooKeeper has lost its quorum: no session can be made or kept, nothing expires.
    pub zk_down: bool,
    /// Errant transactions written on purpose (node, transaction), for the invariants.
    pub errant: Vec<(String, mysql::Trx)>,
    /// Invariants broken while the world ran (checked where they can break).
    pub violations: Vec<String>,
    /// The ensemble, to know who leads when a node or the VIP is changed.
    ensemble: Ensemble,
    /// Per manager host: paused (SIGSTOP)?
    paused: BTreeMap<String, signal::Sender<bool>>,
    next_session: u64,
}

impl World {
    /// A latency drawn from the range.
    pub fn latency(&mut self) -> Duration {
        let (lo, hi) = self.latency_range;
        let span = hi.saturating_sub(lo).as_micros() as u64;
        lo + Duration::from_micros(if span == 0 { 0 } else { self.rng.u64(0..=span) })
    }

    /// Is the manager on `host` paused?
    pub fn paused(&self, host: &str) -> bool {
        self.paused.get(host).is_some_and(|p| *p.borrow())
    }

    /// A receiver of `host`'s pause flag.
    pub fn pause_rx(&mut self, host: &str) -> signal::Receiver<bool> {
        self.paused
            .entry(host.to_string())
            .or_insert_with(|| signal::Sender::new(false))
            .subscribe()
    }

    fn set_paused(&mut self, host: &str, on: bool) {
        let tx = self
            .paused
            .entry(host.to_string())
            .or_insert_with(|| signal::Sender::new(false));
        tx.send_replace(on);
    }

    /// Note a change by `host`. Invariant (c): only the manager that leads the cluster at
    /// that instant changes a node or the VIP.
    pub fn record_mutation(&mut self, host: &str, target: &str, op: &'static str) {
        let leader = self.ensemble.leader(CLUSTER).map(|l| l.info.id);
        if leader.as_deref() != Some(host) {
            self.violations.push(format!(
                "(c) {host} changed {target} ({op}) while {} led the cluster",
                leader.as_deref().unwrap_or("nobody")
            ));
        }
        self.mutations.push(Mutation {
            at: Instant::now(),
            host: host.to_string(),
            target: target.to_string(),
            op,
        });
    }

    /// A new client session id.
    pub fn session(&mut self) -> u64 {
        self.next_session += 1;
        self.next_session
    }

    /// The nodes that accept writes now (running, writable).
    pub fn writable(&self) -> Vec<String> {
        self.nodes
            .values()
            .filter(|n| n.accepts_writes())
            .map(|n| n.name.clone())
            .collect()
    }
}

/// A manager process in the simulation.
pub struct ManagerProc {
    /// Its task (the whole manager).
    pub task: JoinHandle<()>,
    /// Its coordinator client.
    pub coord: SimCoord,
}

/// A simulated cluster with its managers.
pub struct Sim {
    /// The modelled world.
    pub world: Arc<Mutex<World>>,
    /// The ZooKeeper ensemble.
    pub zk: Ensemble,
    /// Running managers by id (= host).
    pub managers: BTreeMap<String, ManagerProc>,
    /// The managers' configuration.
    pub cfg: Config,
    /// When each manager was last in touch with the ensemble.
    zk_contact: BTreeMap<String, Instant>,
    /// Sessions of killed managers, and when they died: they expire after the timeout.
    dead: Vec<(i64, Instant)>,
    outcomes_tx: tokio::sync::mpsc::UnboundedSender<String>,
    outcomes_rx: tokio::sync::mpsc::UnboundedReceiver<String>,
    /// Every round's outcome so far, `<manager>: <cluster>: <sentence>` — but each sentence
    /// once in a row per manager.
    pub outcomes: Vec<String>,
    driver: Option<JoinHandle<()>>,
}

/// The managers' configuration for `nodes` (the first is the initial master): the test
/// cluster, named for the simulation, its nodes in two AZs without ENIs, the third less
/// preferred.
pub fn config(nodes: &[&str]) -> Config {
    let mut cluster = crate::testkit::cluster(nodes);
    cluster.name = CLUSTER.into();
    for (i, n) in cluster.nodes.iter_mut().enumerate() {
        n.eni = None;
        n.az = if i % 2 == 0 { "a".into() } else { "b".into() };
        n.priority = if i == 2 { 50 } else { 100 };
    }
    Config {
        manager: ManagerConfig::default(),
        zookeeper: Some(ZookeeperConfig {
            connect: "zk:2181".into(),
            root: "/sim".into(),
            session_timeout: Duration::from_secs(4),
            reconnect_pause: Duration::from_millis(500),
            claim_grace: None,
        }),
        api: None,
        ec2: None,
        timing: Timing::default(),
        failover: FailoverConfig {
            block_period: Duration::from_secs(600),
            served_before_block: Duration::from_secs(5),
            fence_timeout: Duration::from_millis(300),
            catch_up_timeout: Duration::from_secs(10),
            promote_timeout: Duration::from_secs(10),
            repoint_timeout: Duration::from_secs(5),
            ..FailoverConfig::default()
        },
        backup: None,
        clusters: vec![cluster],
    }
}

impl Sim {
    /// A healthy cluster — `nodes[0]` the master, the others its semi-sync replicas, the
    /// VIP on the master — and no manager yet. Randomness from `seed`.
    pub fn new(seed: u64, nodes: &[&str]) -> Sim {
        crate::model::time::simulate_wall_clock(std::time::UNIX_EPOCH + Duration::from_secs(1_796_000_000));
        let cfg = config(nodes);
        let (outcomes_tx, outcomes_rx) = tokio::sync::mpsc::unbounded_channel();
        let zk = Ensemble::default();
        let mut world = World {
            nodes: BTreeMap::new(),
            net: Net::default(),
            rng: fastrand::Rng::with_seed(seed),
            probe_timeout: cfg.timing.probe_timeout,
            latency_range: (Duration::from_micros(200), Duration::from_millis(3)),
            vip: VipModel::new(&["rtb-a", "rtb-b"], nodes[0]),
            clients: Vec::new(),
            acks: Vec::new(),
            mutations: Vec::new(),
            released: Vec::new(),
            dropped: Vec::new(),
            zk_down: false,
            errant: Vec::new(),
            violations: Vec::new(),
            ensemble: zk.clone(),
            paused: BTreeMap::new(),
            next_session: 0,
        };
        for (i, n) in nodes.iter().enumerate() {
            let mut node = Node::new(n, i as u32 + 1);
            if i == 0 {
                node.read_only = false;
                node.semi_master = true;
                node.semi_active = true;
            } else {
                node.repl = Some(mysql::Repl {
                    master: nodes[0].to_string(),
                    io: crate::topology::IoThread::Yes,
                    sql: true,
                    io_error: None,
                    sql_error: None,
                    last_heard: Instant::now(),
                    heartbeats: 0,
                });
            }
            world.nodes.insert(n.to_string(), node);
        }
        Sim {
            world: Arc::new(Mutex::new(world)),
            zk,
            managers: BTreeMap::new(),
            cfg,
            zk_contact: BTreeMap::new(),
            dead: Vec::new(),
            outcomes_tx,
            outcomes_rx,
            outcomes: Vec::new(),
            driver: None,
        }
    }

    /// The world, locked.
    pub fn w(&self) -> std::sync::MutexGuard<'_, World> {
        self.world.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Start a client writing through the VIP every `every` (`patient`: it waits for every
    /// answer; otherwise it gives up after 1 s, as the drills' writer).
    pub fn add_client(&mut self, patient: bool, every: Duration) {
        let mut w = self.w();
        let id = w.clients.len() as u64 + 1;
        w.clients.push(Client::new(id, patient, every));
    }

    /// Start manager `id` (its host has the same name).
    pub fn start_manager(&mut self, id: &str) {
        let coord = SimCoord::new(self.zk.client_on(id), self.world.clone(), id);
        let me = ManagerInfo {
            id: id.to_string(),
            address: format!("{id}:7480"),
            since: timestamp(crate::model::now()),
        };
        let Some(zk_cfg) = self.cfg.zookeeper.clone() else {
            return;
        };
        let (elector, elected) = Elector::new(
            Arc::new(coord.clone()),
            me,
            vec![CLUSTER.to_string()],
            ElectorTiming::from_config(&zk_cfg),
        );
        let admin = SimAdmin {
            world: self.world.clone(),
            host: id.to_string(),
        };
        let vip = SimVip {
            world: self.world.clone(),
            host: id.to_string(),
        };
        let tasks: Vec<Task> = vec![Box::pin(elector.run())];
        let edges = Edges {
            clusters: [(CLUSTER.to_string(), (admin, vip))].into(),
            store: Arc::new(coord.clone()),
            lead: elected,
            session: Arc::new(|| None),
            tasks,
            outcomes: Some(self.outcomes_tx.clone()),
        };
        let cfg = self.cfg.clone();
        let task = tokio::spawn(run(cfg, id.to_string(), edges, None, std::future::pending()));
        self.zk_contact.insert(id.to_string(), Instant::now());
        self.managers.insert(id.to_string(), ManagerProc { task, coord });
        if self.driver.is_none() {
            self.driver = Some(tokio::spawn(drive(self.world.clone())));
        }
    }

    /// SIGKILL a manager: it stops at once; its session lingers until it expires.
    pub fn kill_manager(&mut self, id: &str) {
        if let Some(m) = self.managers.remove(id) {
            m.task.abort();
            self.dead.push((m.coord.session_id(), Instant::now()));
        }
    }

    /// SIGSTOP / SIGCONT a manager: it makes no call while paused, then goes on from where
    /// it was.
    pub fn pause_manager(&mut self, id: &str, on: bool) {
        self.w().set_paused(id, on);
    }

    /// Let the world run for `d` of simulated time (the managers run meanwhile), keeping
    /// the ZooKeeper sessions as the partitions and pauses say.
    pub async fn run_for(&mut self, d: Duration) {
        let end = Instant::now() + d;
        while Instant::now() < end {
            sleep(TICK.min(end - Instant::now())).await;
            self.sessions();
            while let Ok(o) = self.outcomes_rx.try_recv() {
                let manager = o.split(':').next().unwrap_or_default().to_string();
                let repeat = self
                    .outcomes
                    .iter()
                    .rev()
                    .find(|x| x.starts_with(&format!("{manager}:")))
                    == Some(&o);
                if !repeat {
                    self.outcomes.push(o);
                }
            }
        }
    }

    /// The outcomes so far that contain `text`.
    pub fn outcomes_with(&self, text: &str) -> Vec<&String> {
        self.outcomes.iter().filter(|o| o.contains(text)).collect()
    }

    /// ZooKeeper's view of each manager: in touch, disconnected (after half the session
    /// timeout without contact, as the client notices), expired (after the timeout).
    fn sessions(&mut self) {
        let timeout = self
            .cfg
            .zookeeper
            .as_ref()
            .map(|z| z.session_timeout)
            .unwrap_or(Duration::from_secs(4));
        let now = Instant::now();
        let (down, contact): (bool, Vec<(String, bool)>) = {
            let w = self.w();
            let down = w.zk_down;
            let c = self
                .managers
                .keys()
                .map(|id| (id.clone(), w.net.reachable(id, "zk") && !w.paused(id)))
                .collect();
            (down, c)
        };
        let zk = &self.zk;
        zk.set_down(down);
        if down {
            // without a quorum nothing expires: the servers that come back give every
            // session a fresh timeout (ZooKeeper's leader re-arms the session tracker)
            for (id, m) in &self.managers {
                self.zk_contact.insert(id.clone(), now);
                if zk.session_state(m.coord.session_id()) == Some(SessionState::Connected) {
                    zk.disconnect(m.coord.session_id());
                }
            }
            return;
        }
        self.dead.retain(|(session, since)| {
            let gone = now.saturating_duration_since(*since) >= timeout;
            if gone {
                zk.expire(*session);
            }
            !gone
        });
        for (id, ok) in contact {
            let Some(m) = self.managers.get(&id) else { continue };
            let session = m.coord.session_id();
            let state = zk.session_state(session);
            zk.set_reachable(&id, ok);
            if ok {
                self.zk_contact.insert(id.clone(), now);
                if state == Some(SessionState::Disconnected) {
                    zk.reconnect(session);
                }
                continue;
            }
            let since = now.saturating_duration_since(self.zk_contact.get(&id).copied().unwrap_or(now));
            if since >= timeout {
                if state != Some(SessionState::Expired) {
                    zk.expire(session);
                }
            } else if since >= timeout / 2 && state == Some(SessionState::Connected) {
                zk.disconnect(session);
            }
        }
    }

    /// The shared state as ZooKeeper keeps it.
    pub fn shared(&self) -> SharedState {
        self.zk.state(CLUSTER).unwrap_or_default()
    }

    /// The failover records, newest first.
    pub fn records(&self) -> Vec<FailoverRecord> {
        self.zk.records(CLUSTER)
    }

    /// The manager that leads the cluster, if any.
    pub fn leader(&self) -> Option<String> {
        self.zk.leader(CLUSTER).map(|l| l.info.id)
    }

    /// Stop everything (the managers, the world's driver).
    pub fn stop(&mut self) {
        for (_, m) in std::mem::take(&mut self.managers) {
            m.task.abort();
        }
        if let Some(d) = self.driver.take() {
            d.abort();
        }
    }

    /// Kill, start, freeze or thaw a node's server.
    pub fn set_process(&mut self, node: &str, p: Process) {
        let mut w = self.w();
        let was = w.nodes.get(node).map(|n| n.process);
        if p == Process::Stopped && was != Some(Process::Stopped) {
            // its connections reset: waiting commits end unacknowledged (in the binlog, not
            // committed in the engine)
            let unacked: Vec<mysql::Trx> = w
                .nodes
                .get(node)
                .map(|n| n.pending.iter().map(|p| p.trx).collect())
                .unwrap_or_default();
            let truncates = w.rng.f64() < 0.7;
            if let Some(n) = w.nodes.get_mut(node) {
                n.unacked_at_kill = unacked;
                n.truncates = truncates;
            }
            w.kill_sessions(node);
        }
        if let Some(n) = w.nodes.get_mut(node) {
            if was == Some(Process::Stopped) && p == Process::Running {
                // semi-sync crash recovery: the binlog's tail of commits never acknowledged
                // (not in the engine) is cut off — usually
                if n.truncates {
                    let cut: Vec<mysql::Trx> = std::mem::take(&mut n.unacked_at_kill);
                    n.truncate(&cut);
                }
                // restarted: read-only (from its configuration), semi-sync master off
                n.read_only = true;
                n.semi_master = false;
                n.semi_active = false;
                // skip_slave_start: replication waits for the manager, which knows whether
                // its master is still the master (a restarted replica of a deposed master
                // must not reconnect to it and acknowledge its waiting commits)
                if let Some(r) = n.repl.as_mut() {
                    r.io = crate::topology::IoThread::No;
                    r.sql = false;
                    r.last_heard = Instant::now();
                }
            }
            n.process = p;
        }
    }
}

impl Drop for Sim {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The world's clock work: every tick, replication and acknowledgements, then the clients.
async fn drive(world: Arc<Mutex<World>>) {
    loop {
        sleep(TICK).await;
        let mut w = world.lock().unwrap_or_else(|e| e.into_inner());
        let net = w.net.clone();
        let mut released = w.replicate(&net);
        released.append(&mut w.released);
        client::step(&mut w, &released);
    }
}

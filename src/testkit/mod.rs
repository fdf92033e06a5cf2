//! Fixture builders for unit tests: nodes, snapshots and clusters in a few words.
//! Nodes are addressed by their name (address "db1", port 3306), as replicas name masters.
//! Test support only (the `testkit` feature): panics on what a test got wrong.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

pub mod vip;

use crate::config::{ClusterConfig, Credentials, NodeConfig, RouteTableVipConfig, Secret, VipConfig};
use crate::gtid::{Gtids, MariaDbGtids};
use crate::model::Flavor;
use crate::topology::{IoThread, NodeObservation, NodeState, ProbeFailure, ReplicaStatus, SemiSync, Snapshot};
use std::time::{Duration, SystemTime};
use tokio::time::Instant;

pub fn gtids(s: &str) -> Gtids {
    Gtids::MariaDb(MariaDbGtids::parse(s).unwrap())
}

/// A replica of `master` with both threads running and heartbeats every second.
pub fn replica_of(master: &str) -> ReplicaStatus {
    ReplicaStatus {
        master_host: master.into(),
        master_port: 3306,
        master_server_id: 1,
        io: IoThread::Yes,
        sql_running: true,
        last_io_error: None,
        last_sql_error: None,
        seconds_behind: Some(0),
        received: gtids("0-1-100"),
        heartbeats: 10,
        heartbeat_period_ms: 1000,
        read_position: "mysql-bin.000001:5000".into(),
    }
}

#[derive(Clone)]
pub struct N(pub NodeObservation);

pub fn node(name: &str, state: Result<NodeState, ProbeFailure>) -> N {
    N(NodeObservation {
        name: name.into(),
        address: name.into(),
        port: 3306,
        state,
        latency: Duration::from_millis(1),
    })
}

pub fn master(name: &str) -> N {
    node(
        name,
        Ok(NodeState {
            server_id: 1,
            version: "10.11.6-MariaDB-log".into(),
            read_only: false,
            executed: gtids("0-1-100"),
            binlog_state: gtids("0-1-100"),
            replica: None,
            semi_sync: SemiSync {
                master_enabled: true,
                master_active: true,
                master_clients: 2,
                master_timeout_ms: Some(3_600_000),
                master_wait_point: Some("AFTER_SYNC".into()),
                master_wait_no_replica: Some(true),
                ..SemiSync::default()
            },
        }),
    )
}

pub fn replica(name: &str, r: ReplicaStatus) -> N {
    node(
        name,
        Ok(NodeState {
            server_id: 2,
            version: "10.11.6-MariaDB-log".into(),
            read_only: true,
            executed: gtids("0-1-100"),
            binlog_state: gtids("0-1-100"),
            replica: Some(r),
            semi_sync: SemiSync {
                replica_enabled: true,
                replica_active: true,
                ..SemiSync::default()
            },
        }),
    )
}

pub fn down(name: &str) -> N {
    node(
        name,
        Err(ProbeFailure::Refused("Connection refused (os error 111)".into())),
    )
}

pub fn hung(name: &str) -> N {
    node(name, Err(ProbeFailure::Timeout))
}

impl N {
    pub fn with(mut self, f: impl FnOnce(&mut NodeState)) -> N {
        if let Ok(s) = &mut self.0.state {
            f(s);
        }
        self
    }
    pub fn io(self, io: IoThread) -> N {
        self.with(|s| s.replica.as_mut().unwrap().io = io)
    }
    pub fn heartbeats(self, n: u64) -> N {
        self.with(|s| s.replica.as_mut().unwrap().heartbeats = n)
    }
}

/// Snapshots taken every 250 ms: `rounds[i]` at t = i × 250 ms.
pub fn history(rounds: Vec<Vec<N>>) -> Vec<Snapshot> {
    let t0 = Instant::now();
    rounds
        .into_iter()
        .enumerate()
        .map(|(i, nodes)| Snapshot {
            cluster: "c1".into(),
            round: i as u64 + 1,
            at: t0 + Duration::from_millis(250 * i as u64),
            wall: SystemTime::UNIX_EPOCH,
            duration: Duration::from_millis(5),
            nodes: nodes.into_iter().map(|n| n.0).collect(),
        })
        .collect()
}

/// One snapshot of `nodes`.
pub fn snapshot(nodes: Vec<N>) -> Snapshot {
    history(vec![nodes]).remove(0)
}

/// A MariaDB cluster "c1" of the named nodes (address = name), VIP 10.90.0.10.
pub fn cluster(names: &[&str]) -> ClusterConfig {
    let creds = |u: &str| Credentials {
        user: u.into(),
        password_env: None,
        password_file: None,
        password: Secret::new("pw"),
    };
    ClusterConfig {
        name: "c1".into(),
        flavor: Flavor::MariaDb,
        vip: VipConfig::RouteTable(RouteTableVipConfig {
            address: [10, 90, 0, 10].into(),
            route_tables: vec!["rtb-a".into(), "rtb-b".into()],
            route_table_tag: None,
        }),
        admin: creds("myha"),
        replication: creds("repl"),
        nodes: names
            .iter()
            .map(|n| NodeConfig {
                eni: Some(format!("eni-{n}")),
                ..NodeConfig::new(n, n, "a")
            })
            .collect(),
    }
}

impl N {
    /// Set what a replica received (Gtid_IO_Pos).
    pub fn received(self, g: &str) -> N {
        let g = gtids(g);
        self.with(|s| s.replica.as_mut().expect("a replica").received = g)
    }
}

/// A running automatic failover record of cluster "c1" away from db1, `planned` the candidate.
pub fn failover_record(planned: Option<&str>) -> crate::model::FailoverRecord {
    crate::model::FailoverRecord {
        id: "c1-test".into(),
        cluster: "c1".into(),
        kind: crate::model::Kind::Automatic,
        trigger: "test".into(),
        manager: "m1".into(),
        old_master: "db1".into(),
        new_master: planned.map(Into::into),
        candidates: None,
        gtids: std::collections::BTreeMap::new(),
        epoch: 1,
        detected_at: String::new(),
        started_at: String::new(),
        finished_at: None,
        total_ms: None,
        write_pause_ms: None,
        steps: Vec::new(),
        errors: Vec::new(),
        status: crate::model::Status::Running,
    }
}

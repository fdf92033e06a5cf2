//! The prober: every node of a cluster probed concurrently, once per `probe_interval`; each
//! round becomes one immutable [`Snapshot`]. A hung node costs at most one probe timeout per
//! round, never a stalled loop.

use crate::config::{ClusterConfig, Timing};
use crate::mysql::MysqlAdmin;
use crate::topology::{NodeObservation, ProbeFailure, Snapshot};
use futures_util::future::join_all;
use std::sync::Arc;
use tokio::time::{timeout, Instant, MissedTickBehavior};

/// Probes one cluster's nodes.
pub struct Prober<A> {
    cluster: Arc<ClusterConfig>,
    admin: A,
    timing: Timing,
    round: u64,
}

impl<A: MysqlAdmin> Prober<A> {
    /// A prober for `cluster` using `admin` for the I/O.
    pub fn new(cluster: Arc<ClusterConfig>, admin: A, timing: Timing) -> Self {
        Prober {
            cluster,
            admin,
            timing,
            round: 0,
        }
    }

    /// Probe `cluster`'s nodes from now on (a node was registered at run time).
    pub fn set_cluster(&mut self, cluster: Arc<ClusterConfig>) {
        self.cluster = cluster;
    }

    /// The admin client (the executor of a failover shares it).
    pub fn admin(&self) -> &A {
        &self.admin
    }

    /// Probe every node once, concurrently.
    pub async fn round(&mut self) -> Snapshot {
        self.round += 1;
        let at = Instant::now();
        let wall = crate::model::time::now();
        // The admin bounds the whole probe by the probe timeout; this outer bound only guards
        // against an implementation that forgets to.
        let limit = self.timing.probe_timeout + self.timing.probe_timeout / 4;
        let nodes = join_all(self.cluster.nodes.iter().map(|n| async {
            let started = Instant::now();
            let state = match timeout(limit, self.admin.probe(n)).await {
                Ok(r) => r,
                Err(_) => Err(ProbeFailure::Timeout),
            };
            NodeObservation {
                name: n.name.clone(),
                address: n.address.clone(),
                port: n.port,
                state,
                latency: started.elapsed(),
            }
        }))
        .await;
        Snapshot {
            cluster: self.cluster.name.clone(),
            round: self.round,
            at,
            wall,
            duration: at.elapsed(),
            nodes,
        }
    }

    /// Probe forever, handing each snapshot to `sink`; rounds start every `probe_interval`
    /// (a round that overran delays the next one instead of bunching them up).
    pub async fn run(mut self, mut sink: impl FnMut(Snapshot)) {
        let mut tick = tokio::time::interval(self.timing.probe_interval);
        tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            let snapshot = self.round().await;
            sink(snapshot);
        }
    }
}

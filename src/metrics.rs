//! Prometheus metrics of a manager, served at `/metrics` (OpenMetrics text). Cluster loops
//! and the elector update them; nothing here does I/O.

use crate::model::SessionState;
use crate::topology::Snapshot;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;
use std::sync::atomic::AtomicU64;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct NodeLabels {
    cluster: String,
    node: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ClusterLabels {
    cluster: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct FailoverLabels {
    cluster: String,
    kind: String,
    status: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct SessionLabels {
    state: String,
}

type FloatGauge = Gauge<f64, AtomicU64>;

fn probe_buckets() -> Histogram {
    // 1 ms .. ~2 s: a healthy probe takes a few ms, a hung one the probe timeout
    Histogram::new(exponential_buckets(0.001, 2.0, 12))
}

fn failover_buckets() -> Histogram {
    // 100 ms .. ~100 s
    Histogram::new(exponential_buckets(0.1, 2.0, 11))
}

/// Every metric a manager exports.
pub struct Metrics {
    registry: Registry,
    probe_latency: Family<NodeLabels, Histogram, fn() -> Histogram>,
    node_up: Family<NodeLabels, Gauge>,
    replication_lag: Family<NodeLabels, FloatGauge>,
    failovers: Family<FailoverLabels, Counter>,
    failover_duration: Family<ClusterLabels, Histogram, fn() -> Histogram>,
    leader: Family<ClusterLabels, Gauge>,
    refused: Family<ClusterLabels, Gauge>,
    session: Family<SessionLabels, Gauge>,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// An empty registry with every family registered.
    pub fn new() -> Self {
        let mut registry = Registry::default();
        let probe_latency = Family::<NodeLabels, Histogram, fn() -> Histogram>::new_with_constructor(probe_buckets);
        let node_up = Family::<NodeLabels, Gauge>::default();
        let replication_lag = Family::<NodeLabels, FloatGauge>::default();
        let failovers = Family::<FailoverLabels, Counter>::default();
        let failover_duration =
            Family::<ClusterLabels, Histogram, fn() -> Histogram>::new_with_constructor(failover_buckets);
        let leader = Family::<ClusterLabels, Gauge>::default();
        let refused = Family::<ClusterLabels, Gauge>::default();
        let session = Family::<SessionLabels, Gauge>::default();
        registry.register(
            "myha_probe_latency_seconds",
            "Duration of one probe of one node (connect and all statements)",
            probe_latency.clone(),
        );
        registry.register(
            "myha_node_up",
            "1 when the node answered the last probe, 0 when it did not",
            node_up.clone(),
        );
        registry.register(
            "myha_replication_lag_seconds",
            "Seconds_Behind_Master of a replica at the last probe (absent when unknown)",
            replication_lag.clone(),
        );
        registry.register(
            "myha_failovers",
            "Failovers and switchovers this manager ran, by kind (automatic, manual, switchover) and final status",
            failovers.clone(),
        );
        registry.register(
            "myha_failover_duration_seconds",
            "Duration of the failovers this manager ran, start to last step",
            failover_duration.clone(),
        );
        registry.register(
            "myha_leader",
            "1 when this manager leads the cluster (acts on it), 0 otherwise",
            leader.clone(),
        );
        registry.register(
            "myha_failover_refused",
            "1 while the master is dead and the failover is refused because it would lose acknowledged transactions (lossless policy): the cluster takes no writes until a node that has them returns or a DBA forces the failover",
            refused.clone(),
        );
        registry.register(
            "myha_coordinator_session",
            "1 for the coordinator (ZooKeeper) session's current state, 0 for the others",
            session.clone(),
        );
        Metrics {
            registry,
            probe_latency,
            node_up,
            replication_lag,
            failovers,
            failover_duration,
            leader,
            refused,
            session,
        }
    }

    /// Export a cluster's failover and leadership series from the start (at zero), so that
    /// rates and alerts work before the first failover.
    pub fn init_cluster(&self, cluster: &str) {
        for kind in ["automatic", "manual", "switchover"] {
            for status in ["ok", "degraded", "failed"] {
                let _ = self.failovers.get_or_create(&FailoverLabels {
                    cluster: cluster.into(),
                    kind: kind.into(),
                    status: status.into(),
                });
            }
        }
        let _ = self.failover_duration.get_or_create(&ClusterLabels {
            cluster: cluster.into(),
        });
        self.set_leader(cluster, false);
        self.set_refused(cluster, false);
    }

    /// Whether `cluster`'s failover is refused by the lossless policy right now.
    pub fn set_refused(&self, cluster: &str, refused: bool) {
        self.refused
            .get_or_create(&ClusterLabels {
                cluster: cluster.into(),
            })
            .set(i64::from(refused));
    }

    /// Record one probe round.
    pub fn observe_round(&self, snap: &Snapshot) {
        for n in &snap.nodes {
            let l = NodeLabels {
                cluster: snap.cluster.clone(),
                node: n.name.clone(),
            };
            self.probe_latency.get_or_create(&l).observe(n.latency.as_secs_f64());
            self.node_up.get_or_create(&l).set(i64::from(n.state.is_ok()));
            match n.ok().and_then(|s| s.replica.as_ref()).and_then(|r| r.seconds_behind) {
                Some(lag) => {
                    self.replication_lag.get_or_create(&l).set(lag as f64);
                }
                None => {
                    self.replication_lag.remove(&l);
                }
            }
        }
    }

    /// Record a finished failover.
    pub fn observe_failover(&self, cluster: &str, kind: &str, status: &str, total_ms: u64) {
        self.failovers
            .get_or_create(&FailoverLabels {
                cluster: cluster.into(),
                kind: kind.into(),
                status: status.into(),
            })
            .inc();
        self.failover_duration
            .get_or_create(&ClusterLabels {
                cluster: cluster.into(),
            })
            .observe(total_ms as f64 / 1000.0);
    }

    /// Whether this manager leads `cluster`.
    pub fn set_leader(&self, cluster: &str, leader: bool) {
        self.leader
            .get_or_create(&ClusterLabels {
                cluster: cluster.into(),
            })
            .set(i64::from(leader));
    }

    /// The coordinator session's state (`None`: no coordinator configured).
    pub fn set_session(&self, state: Option<SessionState>) {
        let all = [
            SessionState::Connecting,
            SessionState::Connected,
            SessionState::Disconnected,
            SessionState::Expired,
        ];
        for s in all {
            self.session
                .get_or_create(&SessionLabels { state: s.to_string() })
                .set(i64::from(state == Some(s)));
        }
    }

    /// The OpenMetrics text exposition.
    pub fn render(&self) -> String {
        let mut out = String::new();
        // writing into a String cannot fail
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testkit::*;

    #[test]
    fn a_round_a_failover_and_the_standing_are_exported() {
        let m = Metrics::new();
        m.init_cluster("c1");
        assert!(m
            .render()
            .contains("myha_failovers_total{cluster=\"c1\",kind=\"automatic\",status=\"failed\"} 0"));
        let s = snapshot(vec![master("db1"), replica("db2", replica_of("db1")), down("db3")]);
        m.observe_round(&s);
        m.observe_failover("c1", "switchover", "ok", 650);
        m.set_leader("c1", true);
        m.set_session(Some(SessionState::Connected));
        let text = m.render();
        for line in [
            "myha_node_up{cluster=\"c1\",node=\"db1\"} 1",
            "myha_node_up{cluster=\"c1\",node=\"db3\"} 0",
            "myha_replication_lag_seconds{cluster=\"c1\",node=\"db2\"} 0.0",
            "myha_failovers_total{cluster=\"c1\",kind=\"switchover\",status=\"ok\"} 1",
            "myha_failover_duration_seconds_count{cluster=\"c1\"} 1",
            "myha_leader{cluster=\"c1\"} 1",
            "myha_coordinator_session{state=\"connected\"} 1",
            "myha_coordinator_session{state=\"expired\"} 0",
            "# TYPE myha_probe_latency_seconds histogram",
        ] {
            assert!(text.contains(line), "missing {line:?} in\n{text}");
        }
        assert!(
            !text.contains("myha_replication_lag_seconds{cluster=\"c1\",node=\"db1\"}"),
            "a master has no lag:\n{text}"
        );
    }
}

//! The manager service: one control loop per cluster ([`cluster::ClusterLoop`]) deciding with
//! the pure [`decide::decide`].

pub mod cluster;
pub mod decide;
#[cfg(test)]
mod tests;

use crate::config::Config;
use crate::coord::file::FileStore;
use crate::failover::Alone;
use crate::mysql::client::MysqlClient;
use crate::probe::Prober;
use crate::vip::ec2::Ec2RouteTables;
use cluster::ClusterLoop;
use std::sync::Arc;
use tracing::{info, warn};

/// Run the manager until `shutdown` resolves.
pub async fn run(cfg: Config, manager_id: String, shutdown: impl std::future::Future<Output = ()>) {
    let store = Arc::new(FileStore::new(cfg.manager.state_dir.clone()));
    if cfg.zookeeper.is_some() {
        warn!("[zookeeper] is configured, but this version has no leadership yet: manager {manager_id} acts alone — run only one manager");
    } else {
        info!("no [zookeeper]: manager {manager_id} acts alone");
    }
    info!(state_dir = %cfg.manager.state_dir.display(), "cluster state and failover records are kept on local disk");
    let routes = Ec2RouteTables::new(&cfg.ec2).await;
    let mut tasks = tokio::task::JoinSet::new();
    for c in &cfg.clusters {
        let cluster = Arc::new(c.clone());
        let client = MysqlClient::new(&cluster, cfg.timing.probe_timeout);
        let prober = Prober::new(cluster.clone(), client, cfg.timing.clone());
        let lp = ClusterLoop::new(
            cluster.clone(),
            cfg.timing.clone(),
            cfg.failover.clone(),
            manager_id.clone(),
            prober,
            routes.clone(),
            store.clone(),
            Alone,
        );
        info!(cluster = %c.name, nodes = c.nodes.len(), "watching cluster every {:?}", cfg.timing.probe_interval);
        tasks.spawn(lp.run());
    }
    tokio::select! {
        _ = shutdown => info!("shutting down"),
        r = tasks.join_next() => warn!("a cluster loop ended: {r:?}"),
    }
    tasks.shutdown().await;
}

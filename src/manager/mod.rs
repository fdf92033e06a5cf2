//! The manager service: one control loop per cluster ([`cluster::ClusterLoop`]) deciding with
//! the pure [`decide::decide`]; with ZooKeeper, an elector decides which manager acts on
//! which cluster.

pub mod chaos;
pub mod cluster;
pub mod decide;
pub mod recover;
#[cfg(test)]
mod tests;

use crate::config::Config;
use crate::coord::elector::{Elector, ElectorTiming, Leadership, Solo};
use crate::coord::file::FileStore;
use crate::coord::lead::ManagerInfo;
use crate::coord::zk::ZkStore;
use crate::coord::Store;
use crate::failover::record::timestamp;
use crate::mysql::client::MysqlClient;
use crate::probe::Prober;
use crate::vip::ec2::Ec2RouteTables;
use cluster::ClusterLoop;
use std::future::Future;
use std::sync::Arc;
use std::time::SystemTime;
use tracing::{info, warn};

/// Run the manager until `shutdown` resolves.
pub async fn run(cfg: Config, manager_id: String, shutdown: impl Future<Output = ()>) {
    if let Some(chaos) = chaos::pause_step() {
        warn!(
            "{}={chaos}: this manager pauses before its first {chaos} (drills only)",
            chaos::PAUSE_BEFORE
        );
    }
    let Some(zk_cfg) = cfg.zookeeper.clone() else {
        info!(state_dir = %cfg.manager.state_dir.display(), "no [zookeeper]: manager {manager_id} acts alone (run only one); state and failover records are kept on local disk");
        let store = Arc::new(FileStore::new(cfg.manager.state_dir.clone()));
        loops(&cfg, &manager_id, store, Solo, shutdown).await;
        return;
    };
    let store = Arc::new(ZkStore::new(&zk_cfg));
    let me = ManagerInfo {
        id: manager_id.clone(),
        address: cfg.manager.http_listen.to_string(),
        since: timestamp(SystemTime::now()),
    };
    let clusters = cfg.clusters.iter().map(|c| c.name.clone()).collect();
    let (elector, elected) = Elector::new(store.clone(), me, clusters, ElectorTiming::from_config(&zk_cfg));
    info!(
        zookeeper = %zk_cfg.connect,
        root = %zk_cfg.root,
        "manager {manager_id}: leadership, state and failover records in ZooKeeper (session timeout {:?})",
        zk_cfg.session_timeout
    );
    let election = tokio::spawn(elector.run());
    loops(&cfg, &manager_id, store, elected.clone(), shutdown).await;
    election.abort();
    elected.resign_all().await;
}

async fn loops<S: Store + 'static, L: Leadership + Clone + 'static>(
    cfg: &Config,
    manager_id: &str,
    store: Arc<S>,
    lead: L,
    shutdown: impl Future<Output = ()>,
) {
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
            manager_id.to_string(),
            prober,
            routes.clone(),
            store.clone(),
            lead.clone(),
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

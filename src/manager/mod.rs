//! The manager service: one control loop per cluster ([`cluster::ClusterLoop`]) deciding with
//! the pure [`decide::decide`]; with ZooKeeper, an elector decides which manager acts on
//! which cluster.

pub mod chaos;
pub mod cluster;
pub mod decide;
pub mod guard;
pub mod recover;
#[cfg(test)]
mod tests;

use crate::api::{ApiState, ServeError, SessionProbe};
use crate::config::Config;
use crate::coord::elector::{Elector, ElectorTiming, Leadership, Solo};
use crate::coord::file::FileStore;
use crate::coord::zk::ZkStore;
use crate::coord::Store;
use crate::metrics::Metrics;
use crate::model::{timestamp, ManagerInfo};
use crate::mysql::client::MysqlClient;
use crate::probe::Prober;
use crate::vip::ec2::Ec2RouteTables;
use cluster::ClusterLoop;
use std::collections::BTreeMap;
use std::future::Future;
use std::sync::Arc;
use std::time::SystemTime;
use tracing::{error, info, warn};

/// Run the manager until `shutdown` resolves. Fails only at start (the API cannot listen).
pub async fn run(
    cfg: Config,
    manager_id: String,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ServeError> {
    if let Some(chaos) = chaos::pause_step() {
        warn!(
            "{}={chaos}: this manager pauses before its first {chaos} (drills only)",
            chaos::PAUSE_BEFORE
        );
    }
    let Some(zk_cfg) = cfg.zookeeper.clone() else {
        info!(state_dir = %cfg.manager.state_dir.display(), "no [zookeeper]: manager {manager_id} acts alone (run only one); state and failover records are kept on local disk");
        let store = Arc::new(FileStore::new(cfg.manager.state_dir.clone()));
        return loops(&cfg, &manager_id, store, Solo, Arc::new(|| None), shutdown).await;
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
    let e = elected.clone();
    let session: SessionProbe = Arc::new(move || Some(e.session()));
    let r = loops(&cfg, &manager_id, store, elected.clone(), session, shutdown).await;
    election.abort();
    elected.resign_all().await;
    r
}

async fn loops<S: Store + 'static, L: Leadership + Clone + 'static>(
    cfg: &Config,
    manager_id: &str,
    store: Arc<S>,
    lead: L,
    session: SessionProbe,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ServeError> {
    let metrics = Arc::new(Metrics::new());
    let mut views = BTreeMap::new();
    let mut txs = BTreeMap::new();
    for c in &cfg.clusters {
        metrics.init_cluster(&c.name);
        let (tx, rx) = crate::api::view::channel();
        views.insert(c.name.clone(), rx);
        txs.insert(c.name.clone(), tx);
    }
    let api = ApiState {
        manager: manager_id.to_string(),
        clusters: Arc::new(views),
        store: store.clone(),
        metrics: metrics.clone(),
        token: cfg.api.as_ref().map(|a| a.token.clone()),
        session,
        max_replica_lag: cfg.timing.max_replica_lag,
        max_switchover_lag: cfg.failover.switchover_max_lag,
        lossless: cfg.failover.lossless,
    };
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let server = crate::api::bind(cfg.manager.http_listen, crate::api::router(api), async {
        let _ = stop_rx.await;
    })
    .await?;
    info!(listen = %cfg.manager.http_listen, "HTTP API listening");
    let mut tasks = tokio::task::JoinSet::new();
    tasks.spawn(async move {
        if let Err(e) = server.await {
            error!("HTTP API stopped: {e}");
        }
    });
    let routes = Ec2RouteTables::new(&cfg.ec2).await;
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
        let lp = lp.with_backup_schedule(cfg.backup.as_ref());
        let lp = match txs.remove(&c.name) {
            Some(tx) => lp.with_outputs(tx, metrics.clone()),
            None => lp,
        };
        info!(cluster = %c.name, nodes = c.nodes.len(), "watching cluster every {:?}", cfg.timing.probe_interval);
        tasks.spawn(lp.run());
    }
    tokio::select! {
        _ = shutdown => info!("shutting down"),
        r = tasks.join_next() => warn!("a task ended: {r:?}"),
    }
    let _ = stop_tx.send(());
    tasks.shutdown().await;
    Ok(())
}

//! The real edges, from the configuration: MySQL over mysql_async, the VIP by its kind, and
//! the coordinator — ZooKeeper with an elector, or a local directory for a manager alone.
//! The one place a new VIP kind or coordinator is wired in.

use super::{run, Edges, Task};
use crate::api::SessionProbe;
use crate::config::{Config, VipConfig};
use crate::coord::elector::{Elector, ElectorTiming, Solo};
use crate::coord::file::FileStore;
use crate::coord::zk::ZkStore;
use crate::model::{timestamp, ManagerInfo};
use crate::mysql::client::MysqlClient;
use crate::vip::ec2::Ec2RouteTables;
use crate::vip::route_table::RouteTableVip;
use std::collections::BTreeMap;
use std::future::Future;
use std::sync::Arc;
use tokio::net::TcpListener;
use tracing::info;

/// Each cluster's MySQL client and VIP.
async fn clusters(cfg: &Config) -> BTreeMap<String, (MysqlClient, RouteTableVip<Ec2RouteTables>)> {
    // one EC2 client for every route-table VIP (validation requires [ec2] for them)
    let ec2 = match &cfg.ec2 {
        Some(e) => Some(Ec2RouteTables::new(e).await),
        None => None,
    };
    let mut out = BTreeMap::new();
    for c in &cfg.clusters {
        let admin = MysqlClient::new(c, cfg.timing.probe_timeout);
        let vip = match (&c.vip, &ec2) {
            (VipConfig::RouteTable(rt), Some(ec2)) => RouteTableVip::new(
                ec2.clone(),
                rt.clone(),
                cfg.failover.vip_rounds,
                cfg.failover.vip_retry_pause,
            ),
            (VipConfig::RouteTable(_), None) => {
                tracing::error!(cluster = %c.name, "a route-table VIP without [ec2]: not watching the cluster");
                continue;
            }
        };
        out.insert(c.name.clone(), (admin, vip));
    }
    out
}

/// Build the configured edges and run the manager until `shutdown`.
pub async fn run_from_config(
    cfg: Config,
    manager_id: String,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) {
    let clusters = clusters(&cfg).await;
    let Some(zk_cfg) = cfg.zookeeper.clone() else {
        info!(state_dir = %cfg.manager.state_dir.display(), "no [zookeeper]: manager {manager_id} acts alone (run only one); state and failover records are kept on local disk");
        let edges = Edges {
            clusters,
            store: Arc::new(FileStore::new(cfg.manager.state_dir.clone())),
            lead: Solo,
            session: Arc::new(|| None),
            tasks: Vec::new(),
            outcomes: None,
        };
        return run(cfg, manager_id, edges, Some(listener), shutdown).await;
    };
    let store = Arc::new(ZkStore::new(&zk_cfg));
    let me = ManagerInfo {
        id: manager_id.clone(),
        address: cfg.manager.http_listen.to_string(),
        since: timestamp(crate::model::time::now()),
    };
    let names = cfg.clusters.iter().map(|c| c.name.clone()).collect();
    let (elector, elected) = Elector::new(store.clone(), me, names, ElectorTiming::from_config(&zk_cfg));
    info!(
        zookeeper = %zk_cfg.connect,
        root = %zk_cfg.root,
        "manager {manager_id}: leadership, state and failover records in ZooKeeper (session timeout {:?})",
        zk_cfg.session_timeout
    );
    let e = elected.clone();
    let session: SessionProbe = Arc::new(move || Some(e.session()));
    let tasks: Vec<Task> = vec![Box::pin(elector.run())];
    let edges = Edges {
        clusters,
        store,
        lead: elected,
        session,
        tasks,
        outcomes: None,
    };
    run(cfg, manager_id, edges, Some(listener), shutdown).await;
}

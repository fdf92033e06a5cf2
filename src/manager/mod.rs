//! The manager service: one control loop per cluster ([`cluster::ClusterLoop`]) deciding with
//! the pure [`decide::decide`] and acting through [`act`]; with ZooKeeper, an elector decides
//! which manager acts on which cluster.
//!
//! [`run`] takes its edges as a parameter — per cluster the MySQL admin edge and the VIP, the
//! coordinator's store, leadership — and a bound listener, so tests start whole managers
//! in-process against fakes (`tests/manager.rs`); [`edges`] builds the real ones from the
//! configuration.

pub mod act;
pub mod chaos;
pub mod cluster;
pub mod decide;
pub mod edges;
pub mod guard;
pub mod recover;
#[cfg(test)]
mod tests;

use crate::api::{ApiState, SessionProbe};
use crate::config::Config;
use crate::coord::elector::Leadership;
use crate::coord::Store;
use crate::metrics::Metrics;
use crate::mysql::MysqlAdmin;
use crate::vip::Vip;
use cluster::{ClusterLoop, LoopParts};
use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use tokio::net::TcpListener;
use tracing::{error, info, warn};

/// A task the edges need running beside the loops (the elector).
pub type Task = Pin<Box<dyn Future<Output = ()> + Send>>;

/// What a manager runs on.
pub struct Edges<A, V, S, L> {
    /// Per cluster, by name: the MySQL admin edge of its nodes and its floating IP.
    pub clusters: BTreeMap<String, (A, V)>,
    /// The coordinator's store.
    pub store: Arc<S>,
    /// Leadership.
    pub lead: L,
    /// The coordinator session's state, for the API's health.
    pub session: SessionProbe,
    /// Tasks to run beside the loops, ended with them.
    pub tasks: Vec<Task>,
    /// Where every round's outcome goes, as `<manager>: <cluster>: <sentence>` (tests; the
    /// log has the decisions and the actions).
    pub outcomes: Option<tokio::sync::mpsc::UnboundedSender<String>>,
}

/// Run the manager until `shutdown` resolves, serving the API on `listener` (none: no API).
pub async fn run<A, V, S, L>(
    cfg: Config,
    manager_id: String,
    edges: Edges<A, V, S, L>,
    listener: Option<TcpListener>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) where
    A: MysqlAdmin + 'static,
    V: Vip + 'static,
    S: Store + 'static,
    L: Leadership + Clone + 'static,
{
    if let Some(chaos) = chaos::pause_step() {
        warn!(
            "{}={chaos}: this manager pauses before its first {chaos} (drills only)",
            chaos::PAUSE_BEFORE
        );
    }
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
        manager: manager_id.clone(),
        clusters: Arc::new(views),
        store: edges.store.clone(),
        metrics: metrics.clone(),
        access: Arc::new(crate::api::auth::Access::new(cfg.api.as_ref())),
        session: edges.session.clone(),
        max_replica_lag: cfg.timing.max_replica_lag,
        max_switchover_lag: cfg.failover.switchover_max_lag,
        lossless: cfg.failover.lossless,
    };
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let mut tasks = tokio::task::JoinSet::new();
    if let Some(listener) = listener {
        let tls = tls(cfg.api.as_ref());
        tasks.spawn(serve(listener, crate::api::router(api), tls, stop_rx));
    }
    let lead = edges.lead.clone();
    spawn_loops(&cfg, &manager_id, edges, txs, &metrics, &mut tasks);
    tokio::select! {
        biased;
        _ = shutdown => info!("shutting down"),
        r = tasks.join_next() => warn!("a task ended: {r:?}"),
    }
    let _ = stop_tx.send(());
    tasks.shutdown().await;
    lead.resign_all().await;
}

/// The API's TLS configuration, loaded with the configuration; plain HTTP is said at
/// start-up.
fn tls(api: Option<&crate::config::ApiConfig>) -> Option<Arc<rustls::ServerConfig>> {
    match api.and_then(|a| Some((a.tls.clone()?, a))) {
        Some((c, a)) => {
            let mutual = if a.client_ca_file.is_some() {
                ", client certificates required"
            } else {
                ""
            };
            info!("HTTP API over TLS{mutual}");
            Some(c)
        }
        None => {
            warn!("HTTP API over plain HTTP ([api] plain_http, or no [api]): tokens and the topology cross the network in clear");
            None
        }
    }
}

/// The HTTP API on `listener` until `stop`.
async fn serve(
    listener: TcpListener,
    app: axum::Router,
    tls: Option<Arc<rustls::ServerConfig>>,
    stop: tokio::sync::oneshot::Receiver<()>,
) {
    let stopped = async {
        let _ = stop.await;
    };
    let served = match tls {
        Some(cfg) => match crate::tls::TlsListener::new(listener, cfg) {
            Ok(l) => axum::serve(l, app).with_graceful_shutdown(stopped).await,
            Err(e) => Err(e),
        },
        None => axum::serve(listener, app).with_graceful_shutdown(stopped).await,
    };
    if let Err(e) = served {
        error!("HTTP API stopped: {e}");
    }
}

/// The edges' tasks and one loop per configured cluster, publishing to `views`.
fn spawn_loops<A, V, S, L>(
    cfg: &Config,
    manager_id: &str,
    edges: Edges<A, V, S, L>,
    mut views: BTreeMap<String, crate::api::view::ViewTx>,
    metrics: &Arc<Metrics>,
    tasks: &mut tokio::task::JoinSet<()>,
) where
    A: MysqlAdmin + 'static,
    V: Vip + 'static,
    S: Store + 'static,
    L: Leadership + Clone + 'static,
{
    let Edges {
        mut clusters,
        store,
        lead,
        outcomes,
        tasks: edge_tasks,
        ..
    } = edges;
    for t in edge_tasks {
        tasks.spawn(t);
    }
    for c in &cfg.clusters {
        let Some((admin, vip)) = clusters.remove(&c.name) else {
            error!(cluster = %c.name, "no edges for this cluster: not watching it");
            continue;
        };
        let mut lp = ClusterLoop::new(LoopParts {
            cluster: Arc::new(c.clone()),
            timing: cfg.timing.clone(),
            failover: cfg.failover.clone(),
            manager_id: manager_id.to_string(),
            admin,
            vip,
            store: store.clone(),
            lead: lead.clone(),
        })
        .with_backup_schedule(cfg.backup.as_ref());
        if let Some(tx) = views.remove(&c.name) {
            lp = lp.with_outputs(tx, metrics.clone());
        }
        if let Some(o) = &outcomes {
            lp = lp.with_outcomes(o.clone());
        }
        info!(cluster = %c.name, nodes = c.nodes.len(), "watching cluster every {:?}", cfg.timing.probe_interval);
        tasks.spawn(lp.run());
    }
}

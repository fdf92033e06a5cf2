//! The manager's HTTP API (axum). Every manager answers reads from what its own cluster loops
//! last saw ([`view`]) and the shared store; action endpoints need the `[api]` token.
//!
//! ```text
//! GET  /api/v1/health                                  this manager, its coordinator session
//! GET  /api/v1/clusters                                every cluster in one line each
//! GET  /api/v1/clusters/{c}                            topology, diagnosis, leader, epoch, VIP, block
//! GET  /api/v1/clusters/{c}/history?limit=N            failover records with their step timelines
//! GET  /api/v1/clusters/{c}/nodes/{n}/master           200 if n is the writable master, else 503
//! GET  /api/v1/clusters/{c}/nodes/{n}/replica?max_lag= 200 if n replicates from the master within the lag bound
//! POST /api/v1/clusters/{c}/pause | resume | ack       token; change the shared state (the leader reads it every round)
//! GET  /metrics                                        Prometheus (OpenMetrics text)
//! ```

pub mod actions;
pub mod auth;
pub mod doc;
pub mod error;
pub mod read;
pub mod view;

use crate::config::Secret;
use crate::coord::lead::SessionState;
use crate::coord::Store;
use crate::metrics::Metrics;
use axum::routing::{get, post};
use axum::Router;
use error::ApiError;
use std::collections::BTreeMap;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use view::ViewRx;

/// The coordinator session's state, if there is a coordinator.
pub type SessionProbe = Arc<dyn Fn() -> Option<SessionState> + Send + Sync>;

/// What every handler can see.
pub struct ApiState<S> {
    /// This manager's id.
    pub manager: String,
    /// Each cluster's latest view.
    pub clusters: Arc<BTreeMap<String, ViewRx>>,
    /// Shared state and records.
    pub store: Arc<S>,
    /// The metrics registry.
    pub metrics: Arc<Metrics>,
    /// The action token.
    pub token: Option<Secret>,
    /// The coordinator session.
    pub session: SessionProbe,
    /// Default lag bound of the replica check.
    pub max_replica_lag: std::time::Duration,
}

impl<S> Clone for ApiState<S> {
    fn clone(&self) -> Self {
        ApiState {
            manager: self.manager.clone(),
            clusters: self.clusters.clone(),
            store: self.store.clone(),
            metrics: self.metrics.clone(),
            token: self.token.clone(),
            session: self.session.clone(),
            max_replica_lag: self.max_replica_lag,
        }
    }
}

impl<S> ApiState<S> {
    /// The receiver of a configured cluster, or 404.
    fn cluster(&self, name: &str) -> Result<&ViewRx, ApiError> {
        self.clusters
            .get(name)
            .ok_or_else(|| ApiError::NotFound(format!("no cluster {name:?} (this manager watches: {})", self.names())))
    }

    fn names(&self) -> String {
        self.clusters.keys().cloned().collect::<Vec<_>>().join(", ")
    }
}

/// Every route.
pub fn router<S: Store + 'static>(state: ApiState<S>) -> Router {
    let c = "/api/v1/clusters/{cluster}";
    Router::new()
        .route("/api/v1/health", get(read::health::<S>))
        .route("/api/v1/clusters", get(read::clusters::<S>))
        .route(c, get(read::cluster::<S>))
        .route(&format!("{c}/history"), get(read::history::<S>))
        .route(&format!("{c}/nodes/{{node}}/master"), get(read::is_master::<S>))
        .route(&format!("{c}/nodes/{{node}}/replica"), get(read::is_replica::<S>))
        .route(&format!("{c}/pause"), post(actions::pause::<S>))
        .route(&format!("{c}/resume"), post(actions::resume::<S>))
        .route(&format!("{c}/ack"), post(actions::ack::<S>))
        .route("/metrics", get(read::metrics::<S>))
        .fallback(|| async {
            ApiError::NotFound("no such endpoint (see /api/v1/health and README \"HTTP API\")".into())
        })
        .with_state(state)
}

/// Why the API could not start.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// The listen address cannot be bound.
    #[error("cannot listen on {addr} ([manager] http_listen): {source}")]
    Bind {
        /// the address
        addr: SocketAddr,
        /// why
        source: std::io::Error,
    },
}

/// Bind `addr` (fails at once when it cannot) and return the serving future.
pub async fn bind(
    addr: SocketAddr,
    app: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<impl Future<Output = std::io::Result<()>>, ServeError> {
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|source| ServeError::Bind { addr, source })?;
    Ok(async move { axum::serve(listener, app).with_graceful_shutdown(shutdown).await })
}

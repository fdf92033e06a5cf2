//! The manager's HTTP API (axum). Every manager answers reads from what its own cluster loops
//! last saw ([`view`]) and the shared store; action endpoints need the `[api]` token.
//!
//! ```text
//! GET  /api/v1/health                                  this manager, its coordinator session
//! GET  /api/v1/clusters                                every cluster in one line each
//! GET  /api/v1/clusters/{c}                            topology, diagnosis, leader, epoch, VIP, block
//! GET  /api/v1/clusters/{c}/history?limit=N            failover records with their step timelines
//! GET  /api/v1/clusters/{c}/nodes/{n}/master           200 if n is the writable master of record (fresh view), else 503
//! GET  /api/v1/clusters/{c}/nodes/{n}/replica?max_lag= 200 if n replicates from the master within the lag bound
//! POST /api/v1/clusters/{c}/pause | resume | ack       token; change the shared state (the leader reads it every round)
//! POST /api/v1/clusters/{c}/switchover {to?, wait?}    token; planned switchover, run by the leader; returns its record
//! POST /api/v1/clusters/{c}/failover {to?, wait?}      token; manual failover of a dead master (automation paused/blocked)
//! GET  /api/v1/openapi.json                            the OpenAPI description (src/api/openapi.json)
//! GET  /metrics                                        Prometheus (OpenMetrics text)
//! ```

pub mod actions;
pub mod auth;
pub mod doc;
pub mod error;
pub mod read;
pub mod requests;
pub mod view;

use crate::config::Secret;
use crate::coord::Store;
use crate::metrics::Metrics;
use crate::model::SessionState;
use axum::routing::{get, post, MethodRouter};
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
    /// How far behind a switchover's target may be.
    pub max_switchover_lag: std::time::Duration,
    /// Is the lossless policy on (`[failover] lossless`)?
    pub lossless: bool,
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
            max_switchover_lag: self.max_switchover_lag,
            lossless: self.lossless,
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

/// The OpenAPI description, served at `/api/v1/openapi.json`.
pub const OPENAPI: &str = include_str!("openapi.json");

/// Every route as (path, method, handler): the router is built from this table, and a test
/// checks the table against the OpenAPI description both ways.
fn routes<S: Store + 'static>() -> Vec<(String, &'static str, MethodRouter<ApiState<S>>)> {
    let c = "/api/v1/clusters/{cluster}";
    vec![
        ("/api/v1/health".into(), "get", get(read::health::<S>)),
        ("/api/v1/clusters".into(), "get", get(read::clusters::<S>)),
        (c.into(), "get", get(read::cluster::<S>)),
        (format!("{c}/history"), "get", get(read::history::<S>)),
        (format!("{c}/nodes/{{node}}/master"), "get", get(read::is_master::<S>)),
        (format!("{c}/nodes/{{node}}/replica"), "get", get(read::is_replica::<S>)),
        (format!("{c}/pause"), "post", post(actions::pause::<S>)),
        (format!("{c}/resume"), "post", post(actions::resume::<S>)),
        (format!("{c}/ack"), "post", post(actions::ack::<S>)),
        (format!("{c}/switchover"), "post", post(requests::switchover::<S>)),
        (format!("{c}/failover"), "post", post(requests::failover::<S>)),
        (format!("{c}/failovers/{{id}}/abort"), "post", post(actions::abort::<S>)),
        ("/api/v1/openapi.json".into(), "get", get(openapi)),
        ("/metrics".into(), "get", get(read::metrics::<S>)),
    ]
}

async fn openapi() -> impl axum::response::IntoResponse {
    ([(axum::http::header::CONTENT_TYPE, "application/json")], OPENAPI)
}

/// Every route.
pub fn router<S: Store + 'static>(state: ApiState<S>) -> Router {
    routes::<S>()
        .into_iter()
        .fold(Router::new(), |r, (path, _, handler)| r.route(&path, handler))
        .fallback(|| async { ApiError::NotFound("no such endpoint (see /api/v1/openapi.json)".into()) })
        .with_state(state)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::coord::file::FileStore;
    use std::collections::BTreeSet;

    #[test]
    fn the_openapi_description_matches_the_routes_both_ways() {
        let doc: serde_json::Value = serde_json::from_str(OPENAPI).expect("openapi.json is JSON");
        let documented: BTreeSet<(String, String)> = doc["paths"]
            .as_object()
            .expect("paths")
            .iter()
            .flat_map(|(p, ops)| {
                ops.as_object()
                    .expect("operations")
                    .keys()
                    .map(move |m| (p.clone(), m.clone()))
            })
            .collect();
        let routed: BTreeSet<(String, String)> = routes::<FileStore>()
            .into_iter()
            .map(|(p, m, _)| (p, m.to_string()))
            .collect();
        assert_eq!(
            documented.difference(&routed).collect::<Vec<_>>(),
            Vec::<&(String, String)>::new(),
            "documented but not routed"
        );
        assert_eq!(
            routed.difference(&documented).collect::<Vec<_>>(),
            Vec::<&(String, String)>::new(),
            "routed but not documented"
        );
    }
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

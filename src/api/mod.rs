//! The manager's HTTP API (axum). Every manager answers reads from what its own cluster loops
//! last saw ([`view`]) and the shared store. Each route needs a role ([`auth`]): a bearer
//! token of `[[api.token]]` whose name is the "who" of every action.
//!
//! ```text
//! GET  /api/v1/health                                  open: this manager, its coordinator session
//! GET  /api/v1/clusters                                read: every cluster in one line each
//! GET  /api/v1/clusters/{c}                            read: topology, diagnosis, leader, epoch, VIP, block
//! GET  /api/v1/clusters/{c}/history?limit=N            read: failover records with their step timelines
//! GET  /api/v1/clusters/{c}/nodes/{n}/master           open: 200 if n is the writable master of record (fresh view), else 503
//! GET  /api/v1/clusters/{c}/nodes/{n}/replica?max_lag= open: 200 if n replicates from the master within the lag bound
//! POST /api/v1/clusters/{c}/pause | resume | ack       operate: change the shared state (the leader reads it every round)
//! POST /api/v1/clusters/{c}/switchover {to?, wait?}    admin: planned switchover, run by the leader; returns its record
//! POST /api/v1/clusters/{c}/failover {to?, wait?}      admin: manual failover of a dead master (automation paused/blocked)
//! POST /api/v1/clusters/{c}/failovers/{id}/abort       admin: end a record left running
//! GET  /api/v1/openapi.json                            open: the OpenAPI description (src/api/openapi.json)
//! GET  /metrics                                        read: Prometheus (OpenMetrics text)
//! ```

pub mod actions;
pub mod auth;
pub mod doc;
pub mod error;
pub mod read;
pub mod requests;
pub mod view;

use crate::config::ApiRole;
use crate::coord::Store;
use crate::metrics::Metrics;
use crate::model::SessionState;
use auth::{Access, Need};
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
    /// Who may call what.
    pub access: Arc<Access>,
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
            access: self.access.clone(),
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

/// Every route as (path, method, what it needs, handler): the router is built from this
/// table, and a test checks the table against the OpenAPI description both ways.
fn routes<S: Store + 'static>() -> Vec<(String, &'static str, Need, MethodRouter<ApiState<S>>)> {
    let c = "/api/v1/clusters/{cluster}";
    let (read, operate, admin) = (
        Need::Role(ApiRole::Read),
        Need::Role(ApiRole::Operate),
        Need::Role(ApiRole::Admin),
    );
    vec![
        ("/api/v1/health".into(), "get", Need::Open, get(read::health::<S>)),
        ("/api/v1/clusters".into(), "get", read, get(read::clusters::<S>)),
        (c.into(), "get", read, get(read::cluster::<S>)),
        (format!("{c}/history"), "get", read, get(read::history::<S>)),
        // load balancers' checks: a status and a sentence, and they rarely send tokens
        (
            format!("{c}/nodes/{{node}}/master"),
            "get",
            Need::Open,
            get(read::is_master::<S>),
        ),
        (
            format!("{c}/nodes/{{node}}/replica"),
            "get",
            Need::Open,
            get(read::is_replica::<S>),
        ),
        (format!("{c}/pause"), "post", operate, post(actions::pause::<S>)),
        (format!("{c}/resume"), "post", operate, post(actions::resume::<S>)),
        (format!("{c}/ack"), "post", operate, post(actions::ack::<S>)),
        (
            format!("{c}/switchover"),
            "post",
            admin,
            post(requests::switchover::<S>),
        ),
        (format!("{c}/failover"), "post", admin, post(requests::failover::<S>)),
        (
            format!("{c}/failovers/{{id}}/abort"),
            "post",
            admin,
            post(actions::abort::<S>),
        ),
        ("/api/v1/openapi.json".into(), "get", Need::Open, get(openapi)),
        ("/metrics".into(), "get", read, get(read::metrics::<S>)),
    ]
}

async fn openapi() -> impl axum::response::IntoResponse {
    ([(axum::http::header::CONTENT_TYPE, "application/json")], OPENAPI)
}

/// Every route, each behind the check of what it needs: the caller it lets in is a request
/// extension ([`auth::Caller`]) for the handlers that audit who acted.
pub fn router<S: Store + 'static>(state: ApiState<S>) -> Router {
    let access = state.access.clone();
    routes::<S>()
        .into_iter()
        .fold(Router::new(), |r, (path, _, need, handler)| {
            let access = access.clone();
            let check =
                axum::middleware::from_fn(move |mut req: axum::extract::Request, next: axum::middleware::Next| {
                    let access = access.clone();
                    async move {
                        match access.check(need, req.headers()) {
                            Ok(caller) => {
                                req.extensions_mut().insert(caller);
                                next.run(req).await
                            }
                            Err(e) => axum::response::IntoResponse::into_response(e),
                        }
                    }
                });
            r.route(&path, handler.route_layer(check))
        })
        .fallback(|| async { ApiError::NotFound("no such endpoint (see /api/v1/openapi.json)".into()) })
        .with_state(state)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::coord::file::FileStore;
    use std::collections::BTreeSet;

    /// Every route with each caller: no token → 401, a lower role → 403, else let in (the
    /// handler then answers: 404, 503, 400… from an empty manager, never 401/403).
    #[tokio::test]
    async fn every_route_lets_in_exactly_the_roles_it_needs() {
        use crate::config::{ApiToken, Secret};
        use tower::ServiceExt;
        let dir = tempfile::tempdir().expect("tempdir");
        let token = |name: &str, role| ApiToken {
            name: name.into(),
            role,
            secret: Secret::new(format!("{name}-0123456789abcdef")),
        };
        let tokens = vec![
            token("r", ApiRole::Read),
            token("o", ApiRole::Operate),
            token("a", ApiRole::Admin),
        ];
        let (_tx, rx) = view::channel();
        let st = ApiState {
            manager: "m1".into(),
            clusters: Arc::new(BTreeMap::from([("c1".to_string(), rx)])),
            store: Arc::new(FileStore::new(dir.path())),
            metrics: Arc::new(Metrics::new()),
            access: Arc::new(Access::with_tokens(tokens, false)),
            session: Arc::new(|| None),
            max_replica_lag: std::time::Duration::from_secs(10),
            max_switchover_lag: std::time::Duration::from_secs(10),
            lossless: true,
        };
        let app = router(st);
        let open = ["/api/v1/health", "/api/v1/openapi.json"];
        for (path, method, need, _) in routes::<FileStore>() {
            // what the issue asks of each kind of route, independent of the table
            let checks = path.ends_with("/master") || path.ends_with("/replica");
            let expected = match method {
                "get" if open.contains(&path.as_str()) || checks => Need::Open,
                "get" => Need::Role(ApiRole::Read),
                _ if ["/pause", "/resume", "/ack"].iter().any(|a| path.ends_with(a)) => Need::Role(ApiRole::Operate),
                _ => Need::Role(ApiRole::Admin),
            };
            assert_eq!(need, expected, "{method} {path}");
            let uri = path
                .replace("{cluster}", "c1")
                .replace("{node}", "db1")
                .replace("{id}", "c1-x");
            for (who, role) in [
                (None, None),
                (Some("r"), Some(ApiRole::Read)),
                (Some("o"), Some(ApiRole::Operate)),
                (Some("a"), Some(ApiRole::Admin)),
            ] {
                let mut req = axum::http::Request::builder()
                    .method(method.to_uppercase().as_str())
                    .uri(&uri);
                if let Some(w) = who {
                    req = req.header("authorization", format!("Bearer {w}-0123456789abcdef"));
                }
                let req = req.body(axum::body::Body::from("{}")).expect("request");
                let status = app.clone().oneshot(req).await.expect("answer").status().as_u16();
                let want = match (need, role) {
                    (Need::Open, _) => None,
                    (Need::Role(_), None) => Some(401),
                    (Need::Role(n), Some(r)) if r < n => Some(403),
                    _ => None,
                };
                match want {
                    Some(code) => assert_eq!(status, code, "{method} {uri} as {who:?}"),
                    None => assert!(status != 401 && status != 403, "{method} {uri} as {who:?}: {status}"),
                }
            }
        }
    }

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
        // each operation's x-role is what the router enforces
        for (path, method, need, _) in routes::<FileStore>() {
            let role = match need {
                Need::Open => "open".to_string(),
                Need::Role(r) => r.to_string(),
            };
            assert_eq!(doc["paths"][&path][method]["x-role"], role, "{method} {path}");
        }
        let routed: BTreeSet<(String, String)> = routes::<FileStore>()
            .into_iter()
            .map(|(p, m, _, _)| (p, m.to_string()))
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

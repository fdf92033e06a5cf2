//! Read endpoints: answered from the cluster loops' latest views and the shared store.

use super::doc::snapshot_json;
use super::error::ApiError;
use super::view::ClusterView;
use super::ApiState;
use crate::coord::Store;
use crate::model::{unix_ms, Standing};
use crate::topology::IoThread;
use axum::extract::{Path, Query, State};
use axum::http::header;
use axum::response::IntoResponse;
use axum::Json;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;
use tokio::time::Instant;

type Params = Query<BTreeMap<String, String>>;

/// Refuse query parameters the endpoint does not know (a typo must not pass silently).
fn only(params: &BTreeMap<String, String>, known: &[&str]) -> Result<(), ApiError> {
    match params.keys().find(|k| !known.contains(&k.as_str())) {
        Some(k) => Err(ApiError::BadRequest(format!(
            "unknown query parameter {k:?} (known: {})",
            if known.is_empty() {
                "none".to_string()
            } else {
                known.join(", ")
            }
        ))),
        None => Ok(()),
    }
}

pub(super) fn latest<S>(st: &ApiState<S>, cluster: &str) -> Result<Arc<ClusterView>, ApiError> {
    st.cluster(cluster)?
        .borrow()
        .clone()
        .ok_or_else(|| ApiError::Unavailable(format!("cluster {cluster}: no probe round finished yet")))
}

fn standing_json(s: &Standing, me: &str) -> Value {
    match s {
        Standing::Leader { term } => json!({"role": "leader", "term": format!("{term:#x}"), "leader": me}),
        Standing::Standby { leader } => json!({"role": "standby", "leader": leader.as_ref().map(|l| &l.id)}),
        Standing::Degraded { why } => json!({"role": "degraded", "why": why, "leader": null}),
    }
}

/// `GET /api/v1/health`
pub async fn health<S: Store>(State(st): State<ApiState<S>>, Query(p): Params) -> Result<Json<Value>, ApiError> {
    only(&p, &[])?;
    let clusters: BTreeMap<&String, Value> = st
        .clusters
        .iter()
        .map(|(name, rx)| {
            let v = rx.borrow().clone();
            let doc = match v {
                Some(v) => json!({
                    "standing": standing_json(&v.standing, &st.manager),
                    "state": v.diagnosis.state.kind(),
                    "last_round": humantime::format_rfc3339_millis(v.snapshot.wall).to_string(),
                }),
                None => json!({"standing": null, "state": null, "last_round": null}),
            };
            (name, doc)
        })
        .collect();
    let session = (st.session)();
    Ok(Json(json!({
        "manager": st.manager,
        "version": env!("CARGO_PKG_VERSION"),
        "coordinator": {
            "backend": if session.is_some() { "zookeeper" } else { "local" },
            "session": session,
        },
        "clusters": clusters,
    })))
}

/// `GET /api/v1/clusters`
pub async fn clusters<S: Store>(State(st): State<ApiState<S>>, Query(p): Params) -> Result<Json<Value>, ApiError> {
    only(&p, &[])?;
    let list: Vec<Value> = st
        .clusters
        .iter()
        .map(|(name, rx)| match rx.borrow().clone() {
            Some(v) => json!({
                "name": name,
                "state": v.diagnosis.state.kind(),
                "master": v.diagnosis.state.master(),
                "diagnosis": v.diagnosis.to_string(),
                "standing": standing_json(&v.standing, &st.manager),
                "epoch": v.shared.epoch,
            }),
            None => json!({"name": name, "state": null}),
        })
        .collect();
    Ok(Json(json!({ "clusters": list })))
}

/// `GET /api/v1/clusters/{cluster}`
pub async fn cluster<S: Store>(
    State(st): State<ApiState<S>>,
    Path(cluster): Path<String>,
    Query(p): Params,
) -> Result<Json<Value>, ApiError> {
    only(&p, &[])?;
    let v = latest(&st, &cluster)?;
    let newest = st
        .store
        .records(&cluster, 1)
        .await
        .ok()
        .and_then(|r| r.into_iter().next());
    let mut doc = snapshot_json(&v.snapshot, &v.diagnosis);
    let now = unix_ms(crate::model::time::now());
    doc["view"] = view_age(&v, newest.as_ref());
    doc["decision"] = json!(v.decision);
    doc["standing"] = standing_json(&v.standing, &st.manager);
    doc["flavor"] = json!(v.config.flavor.to_string());
    doc["master_of_record"] = json!(v.shared.master);
    doc["epoch"] = json!(v.shared.epoch);
    doc["paused"] = json!(v.shared.paused);
    doc["block"] = json!(v.shared.active_block(now));
    // a failover's block that holds once its master has served
    doc["block_pending"] = json!(v.shared.block_in_period(now).filter(|b| !b.armed));
    doc["needs_rebuild"] = json!(v.shared.needs_rebuild);
    doc["last_failover"] = json!(v.shared.last_failover);
    doc["request"] = json!(v.shared.request.as_ref().filter(|r| r.is_live(now)));
    doc["vip"] = json!({
        "kind": v.config.vip.kind(),
        "address": v.config.vip.address(),
        "target_of_record": v.shared.vip,
        // observed: the node every part leads to, each part's node, the kind's own detail
        "target": v.vip.as_ref().and_then(|x| x.target.clone()),
        "parts": v.vip.as_ref().map(|x| &x.parts),
        "detail": v.vip.as_ref().map(|x| &x.detail),
    });
    Ok(Json(doc))
}

/// How old the view is, and whether it may be taken as the present: not when its probe
/// round or its read of the shared state is older than the view's validity (a stuck loop, a
/// lost coordinator), nor when a failover or switchover finished after its round was taken
/// (a standby a round behind would show the topology mid-change).
fn view_age(v: &ClusterView, newest: Option<&crate::model::FailoverRecord>) -> Value {
    let age = |t: Instant| Instant::now().saturating_duration_since(t);
    let shared = v.shared_at.map(age);
    let finished_after = newest.and_then(|r| {
        let at = humantime::parse_rfc3339(r.finished_at.as_deref()?).ok()?;
        (at > v.snapshot.wall).then(|| r.id.clone())
    });
    let why = if age(v.snapshot.at) > v.valid_for {
        Some(format!("its probe round is {} ms old", age(v.snapshot.at).as_millis()))
    } else if shared.is_none_or(|a| a > v.valid_for) {
        Some("the shared state could not be read lately".to_string())
    } else {
        finished_after.map(|id| format!("{id} finished after its probe round"))
    };
    json!({
        "age_ms": age(v.snapshot.at).as_millis() as u64,
        "shared_age_ms": shared.map(|a| a.as_millis() as u64),
        "valid_for_ms": v.valid_for.as_millis() as u64,
        "stale": why.is_some(),
        "stale_why": why,
    })
}

/// `GET /api/v1/clusters/{cluster}/history?limit=N`
pub async fn history<S: Store>(
    State(st): State<ApiState<S>>,
    Path(cluster): Path<String>,
    Query(p): Params,
) -> Result<Json<Value>, ApiError> {
    only(&p, &["limit"])?;
    st.cluster(&cluster)?;
    let limit = match p.get("limit") {
        None => 20,
        Some(l) => match l.parse::<usize>() {
            Ok(n) if (1..=1000).contains(&n) => n,
            _ => {
                return Err(ApiError::BadRequest(format!(
                    "limit: {l:?} is not a number in 1..=1000"
                )))
            }
        },
    };
    let records = st
        .store
        .records(&cluster, limit)
        .await
        .map_err(|e| ApiError::Unavailable(format!("cannot read the failover records: {e}")))?;
    Ok(Json(json!({ "cluster": cluster, "failovers": records })))
}

fn node_view<'a, S>(st: &ApiState<S>, cluster: &str, node: &'a str) -> Result<(Arc<ClusterView>, &'a str), ApiError> {
    let v = latest(st, cluster)?;
    if v.config.node(node).is_none() {
        return Err(ApiError::NotFound(format!("cluster {cluster} has no node {node:?}")));
    }
    Ok((v, node))
}

/// `GET …/nodes/{node}/master`: for load balancers — 200 only on the writable master.
pub async fn is_master<S: Store>(
    State(st): State<ApiState<S>>,
    Path((cluster, node)): Path<(String, String)>,
    Query(p): Params,
) -> Result<Json<Value>, ApiError> {
    only(&p, &[])?;
    let (v, node) = node_view(&st, &cluster, &node)?;
    // Only what this manager can vouch for now: a view of a loop that is stuck, or a shared
    // state it could not read lately, may name a master another manager replaced meanwhile.
    let age = |t: Instant| Instant::now().saturating_duration_since(t);
    if age(v.snapshot.at) > v.valid_for {
        return Err(ApiError::Unavailable(format!(
            "this manager's last probe of the cluster is {:?} old: cannot vouch for a master",
            age(v.snapshot.at)
        )));
    }
    match v.shared_at.map(age) {
        Some(a) if a <= v.valid_for => {}
        a => {
            return Err(ApiError::Unavailable(format!(
                "this manager cannot read the cluster state ({}): cannot vouch for a master",
                a.map(|a| format!("last read {a:?} ago"))
                    .unwrap_or_else(|| "never read".into())
            )))
        }
    }
    let of_record = v.shared.master.as_deref() == Some(node);
    let obs = v.snapshot.node(node).and_then(|n| n.ok());
    match obs {
        Some(s) if !s.read_only && of_record && v.diagnosis.state.master() == Some(node) => {
            Ok(Json(json!({"node": node, "role": "master", "writable": true})))
        }
        Some(s) if !s.read_only && !of_record => Err(ApiError::Unavailable(format!(
            "{node} is writable but the master of record is {}",
            v.shared.master.as_deref().unwrap_or("none")
        ))),
        Some(s) if !s.read_only => Err(ApiError::Unavailable(format!(
            "{node} is writable but not the master: {}",
            v.diagnosis
        ))),
        Some(_) => Err(ApiError::Unavailable(format!("{node} is read-only: not the master"))),
        None => Err(ApiError::Unavailable(format!("{node} did not answer the last probe"))),
    }
}

/// `GET …/nodes/{node}/replica?max_lag=10s`: 200 only on a replica of the master that
/// replicates within the lag bound (default `[timing] max_replica_lag`).
pub async fn is_replica<S: Store>(
    State(st): State<ApiState<S>>,
    Path((cluster, node)): Path<(String, String)>,
    Query(p): Params,
) -> Result<Json<Value>, ApiError> {
    only(&p, &["max_lag"])?;
    let bound = match p.get("max_lag") {
        None => st.max_replica_lag,
        Some(s) => humantime::parse_duration(s)
            .map_err(|e| ApiError::BadRequest(format!("max_lag: {s:?} is not a duration like 10s or 500ms ({e})")))?,
    };
    let (v, node) = node_view(&st, &cluster, &node)?;
    let Some(s) = v.snapshot.node(node).and_then(|n| n.ok()) else {
        return Err(ApiError::Unavailable(format!("{node} did not answer the last probe")));
    };
    let Some(r) = s.replica.as_ref() else {
        return Err(ApiError::Unavailable(format!("{node} is not a replica")));
    };
    let master = v.diagnosis.state.master().and_then(|m| v.config.node(m));
    let of_master = master.is_some_and(|m| m.address == r.master_host && m.port == r.master_port);
    let lag = r.seconds_behind.map(Duration::from_secs);
    let why = if !of_master {
        Some(format!(
            "{node} replicates from {}:{}, not from the master",
            r.master_host, r.master_port
        ))
    } else if r.io != IoThread::Yes || !r.sql_running {
        Some(format!(
            "{node}'s replication is not running (IO {:?}, SQL running {})",
            r.io, r.sql_running
        ))
    } else if lag.is_none_or(|l| l > bound) {
        Some(format!("{node} lags {:?}, bound {bound:?}", lag))
    } else {
        None
    };
    match why {
        Some(why) => Err(ApiError::Unavailable(why)),
        None => Ok(Json(
            json!({"node": node, "role": "replica", "lag_s": r.seconds_behind, "max_lag_s": bound.as_secs_f64()}),
        )),
    }
}

/// `GET /metrics`
pub async fn metrics<S: Store>(State(st): State<ApiState<S>>) -> impl IntoResponse {
    st.metrics.set_session((st.session)());
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        st.metrics.render(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Timing;
    use crate::coord::file::FileStore;
    use crate::detect::diagnose;
    use crate::metrics::Metrics;
    use crate::testkit::{cluster, master, replica, replica_of, snapshot};
    use crate::topology::Snapshot;
    use std::time::Duration;

    /// db1 writable, db2 its replica; the view published now, the shared state naming `record`.
    fn view(record: Option<&str>) -> ClusterView {
        let snap = snapshot(vec![master("db1"), replica("db2", replica_of("db1"))]);
        let diagnosis = diagnose(&[&snap], &Timing::default(), record).expect("a diagnosis");
        ClusterView {
            config: Arc::new(cluster(&["db1", "db2"])),
            snapshot: Arc::new(snap),
            diagnosis,
            decision: String::new(),
            shared: crate::model::SharedState {
                master: record.map(str::to_string),
                ..Default::default()
            },
            shared_at: Some(Instant::now()),
            valid_for: Duration::from_secs(1),
            standing: Standing::Standby { leader: None },
            vip: None,
            errant: Default::default(),
            acked: None,
        }
    }

    async fn ask(v: ClusterView, node: &str) -> Result<Json<Value>, ApiError> {
        let (tx, rx) = super::super::view::channel();
        tx.send_replace(Some(Arc::new(v)));
        let dir = tempfile::tempdir().expect("tempdir");
        let st = ApiState {
            manager: "m1".into(),
            clusters: Arc::new(BTreeMap::from([("c1".to_string(), rx)])),
            store: Arc::new(FileStore::new(dir.path())),
            metrics: Arc::new(Metrics::new()),
            access: Default::default(),
            session: Arc::new(|| None),
            max_replica_lag: Duration::from_secs(10),
            max_switchover_lag: Duration::from_secs(10),
            lossless: true,
        };
        is_master(State(st), Path(("c1".into(), node.into())), Query(BTreeMap::new())).await
    }

    fn refused(r: Result<Json<Value>, ApiError>) -> String {
        match r {
            Ok(j) => panic!("answered 200: {j:?}"),
            Err(ApiError::Unavailable(why)) => why,
            Err(e) => panic!("not a 503: {e:?}"),
        }
    }

    #[tokio::test(start_paused = true)]
    async fn the_master_of_record_in_a_fresh_view_is_the_master() {
        assert!(ask(view(Some("db1")), "db1").await.is_ok());
        assert!(refused(ask(view(Some("db1")), "db2").await).contains("read-only"));
    }

    // Defect 5: the endpoint answered from the local snapshot alone.
    #[tokio::test(start_paused = true)]
    async fn a_writable_node_that_is_not_the_master_of_record_is_not_the_master() {
        let why = refused(ask(view(Some("db2")), "db1").await);
        assert!(why.contains("master of record is db2"), "{why}");
    }

    #[tokio::test(start_paused = true)]
    async fn a_stale_view_vouches_for_nobody() {
        let v = view(Some("db1"));
        tokio::time::advance(Duration::from_secs(2)).await;
        let why = refused(ask(v, "db1").await);
        assert!(why.contains("last probe of the cluster is"), "{why}");
    }

    #[tokio::test(start_paused = true)]
    async fn a_shared_state_not_read_lately_vouches_for_nobody() {
        let mut v = view(Some("db1"));
        v.shared_at = None;
        assert!(refused(ask(v.clone(), "db1").await).contains("never read"));
        v.snapshot = Arc::new(Snapshot {
            at: Instant::now(),
            ..(*v.snapshot).clone()
        });
        v.shared_at = Some(Instant::now() - Duration::from_secs(5));
        assert!(refused(ask(v, "db1").await).contains("last read"));
    }

    // Issue 18 item 14: a standby a round behind showed the topology mid-switchover as now.
    #[tokio::test(start_paused = true)]
    async fn a_view_taken_before_the_last_record_finished_is_stale() {
        let mut v = view(Some("db1"));
        v.snapshot = Arc::new(Snapshot {
            wall: std::time::UNIX_EPOCH + Duration::from_secs(1_796_000_000),
            ..(*v.snapshot).clone()
        });
        assert_eq!(view_age(&v, None)["stale"], false);
        let mut rec = crate::testkit::failover_record(Some("db2"));
        rec.finished_at = Some(crate::model::timestamp(v.snapshot.wall + Duration::from_millis(300)));
        let age = view_age(&v, Some(&rec));
        assert_eq!(age["stale"], true);
        assert!(
            age["stale_why"]
                .as_str()
                .is_some_and(|w| w.ends_with("finished after its probe round")),
            "{age}"
        );
        rec.finished_at = Some(crate::model::timestamp(v.snapshot.wall - Duration::from_millis(300)));
        assert_eq!(view_age(&v, Some(&rec))["stale"], false);
        tokio::time::advance(Duration::from_secs(2)).await;
        let old = view_age(&v, None);
        assert_eq!(old["stale"], true);
        assert!(
            old["stale_why"].as_str().is_some_and(|w| w.contains("probe round is")),
            "{old}"
        );
    }
}

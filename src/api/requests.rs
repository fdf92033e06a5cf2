//! `POST …/switchover` and `POST …/failover`. Judged here on this manager's latest view, so
//! a bad request is refused with its reason and changes nothing; then handed to the leader
//! through the shared state (any manager accepts them, only the leader acts). The answer is
//! the failover record, waited for up to `wait` seconds.

use super::auth::Caller;
use super::error::ApiError;
use super::read::latest;
use super::ApiState;
use crate::coord::{self, Store, StoreError};
use crate::failover::admit::{self, Admission, Refusal};
use crate::model::{id_time, timestamp, unix_ms, Action, FailoverRecord, Request, Standing, Status};
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Extension;
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};
use std::time::Duration;
use tokio::time::Instant;
use tracing::info;

/// How long the call waits for the record unless the body says otherwise.
const DEFAULT_WAIT: Duration = Duration::from_secs(30);
/// The longest wait a caller may ask for.
const MAX_WAIT: Duration = Duration::from_secs(300);
/// A request no leader started within this long is void.
const EXPIRES_AFTER: Duration = Duration::from_secs(15);
/// How often the waiting call looks for the record.
const POLL: Duration = Duration::from_millis(100);

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct Body {
    /// The node to promote.
    to: Option<String>,
    /// Seconds to wait for the record (0: answer at once with 202).
    wait: Option<f64>,
    /// A failover: accept losing transactions that may have been acknowledged.
    #[serde(default)]
    force: bool,
}

fn body(bytes: &Bytes) -> Result<(Option<String>, Duration, bool), ApiError> {
    let b: Body = if bytes.iter().all(u8::is_ascii_whitespace) {
        Body::default()
    } else {
        serde_json::from_slice(bytes).map_err(|e| ApiError::BadRequest(format!("the body: {e}")))?
    };
    let wait = match b.wait {
        None => DEFAULT_WAIT,
        Some(w) if w.is_finite() && (0.0..=MAX_WAIT.as_secs_f64()).contains(&w) => Duration::from_secs_f64(w),
        Some(w) => {
            return Err(ApiError::BadRequest(format!(
                "wait: {w} is not a number of seconds in 0 ..= {}",
                MAX_WAIT.as_secs()
            )))
        }
    };
    Ok((b.to, wait, b.force))
}

impl From<Refusal> for ApiError {
    fn from(r: Refusal) -> Self {
        match r {
            Refusal::UnknownNode(m) => ApiError::NotFound(m),
            Refusal::NotEligible(m) => ApiError::Unprocessable(m),
            Refusal::Conflict(m) => ApiError::Conflict(m),
        }
    }
}

/// `POST …/switchover {to?, wait?}`
pub async fn switchover<S: Store>(
    State(st): State<ApiState<S>>,
    Extension(caller): Extension<Caller>,
    Path(cluster): Path<String>,
    bytes: Bytes,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    submit(&st, &caller, &cluster, &bytes, Action::Switchover).await
}

/// `POST …/failover {to?, wait?}`
pub async fn failover<S: Store>(
    State(st): State<ApiState<S>>,
    Extension(caller): Extension<Caller>,
    Path(cluster): Path<String>,
    bytes: Bytes,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    submit(&st, &caller, &cluster, &bytes, Action::Failover).await
}

async fn submit<S: Store>(
    st: &ApiState<S>,
    caller: &Caller,
    cluster: &str,
    bytes: &Bytes,
    action: Action,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    st.cluster(cluster)?;
    let (to, wait, force) = body(bytes)?;
    if force && action == Action::Switchover {
        return Err(ApiError::BadRequest(
            "force: a switchover loses nothing and takes no force".into(),
        ));
    }
    let view = latest(st, cluster)?;
    match &view.standing {
        Standing::Degraded { why } => {
            return Err(ApiError::Unavailable(format!(
                "nothing changed: this manager cannot reach the coordinator ({why}); ask another manager"
            )))
        }
        Standing::Standby { leader: None } => {
            return Err(ApiError::Unavailable(
                "nothing changed: no manager leads this cluster right now".into(),
            ))
        }
        _ => {}
    }
    let unavailable =
        |e: StoreError| ApiError::Unavailable(format!("nothing changed: cannot read the cluster state: {e}"));
    let shared = st.store.load(cluster).await.map_err(unavailable)?.value;
    let now = crate::model::time::now();
    let now_ms = unix_ms(now);
    busy(shared.request.as_ref(), now_ms)?;
    if let Some(r) = st.store.records(cluster, 1).await.map_err(unavailable)?.first() {
        if r.status == Status::Running {
            return Err(ApiError::Conflict(format!("failover {} is running", r.id)));
        }
    }
    let a = Admission {
        cluster: &view.config,
        snapshot: &view.snapshot,
        diagnosis: &view.diagnosis,
        shared: &shared,
        errant: &view.errant,
        now_ms,
        max_lag: st.max_switchover_lag,
        acked: view.acked.as_ref(),
        lossless: st.lossless,
    };
    match action {
        Action::Switchover => admit::switchover(&a, to.as_deref()).map(|_| ())?,
        Action::Failover => admit::failover(&a, to.as_deref(), force).map(|_| ())?,
    }
    let stamp = id_time(now, true);
    let req = Request {
        id: format!("{cluster}-{stamp}-{action}"),
        action,
        to,
        via: st.manager.clone(),
        by: caller.name.clone(),
        requested_at: timestamp(now),
        expires_ms: now_ms + EXPIRES_AFTER.as_millis() as u64,
        started: false,
        force,
    };
    coord::try_update(st.store.as_ref(), cluster, |s| {
        busy(s.request.as_ref(), now_ms)?;
        s.request = Some(req.clone());
        Ok::<(), ApiError>(())
    })
    .await?;
    info!(cluster = %cluster, manager = %st.manager, "API: {req} handed to the leader");
    let record = wait_for(st, cluster, &req, wait).await?;
    let done = record.as_ref().is_some_and(|r| r.status != Status::Running);
    let code = if done { StatusCode::OK } else { StatusCode::ACCEPTED };
    Ok((code, Json(json!({ "request": req, "record": record }))))
}

/// 409 while another request claims the cluster.
fn busy(r: Option<&Request>, now_ms: u64) -> Result<(), ApiError> {
    match r {
        Some(r) if r.is_live(now_ms) => Err(ApiError::Conflict(format!(
            "another request is pending or running: {r}"
        ))),
        _ => Ok(()),
    }
}

/// The request's record once it is finished, or as far as it got when `wait` ran out.
async fn wait_for<S: Store>(
    st: &ApiState<S>,
    cluster: &str,
    req: &Request,
    wait: Duration,
) -> Result<Option<FailoverRecord>, ApiError> {
    let deadline = Instant::now() + wait;
    loop {
        // a store that fails while we wait changes nothing about the request: report what we have
        let rec = st.store.record(cluster, &req.id).await.ok().flatten();
        if rec.as_ref().is_some_and(|r| r.status != Status::Running) || Instant::now() >= deadline {
            return Ok(rec);
        }
        if rec.is_none() {
            let shared = st.store.load(cluster).await.ok().map(|s| s.value);
            let gone = shared.is_some_and(|s| s.request.as_ref().is_none_or(|r| r.id != req.id));
            if gone {
                // the leader may have run and cleared it between the two reads
                if let Some(r) = st.store.record(cluster, &req.id).await.ok().flatten() {
                    return Ok(Some(r));
                }
                // cleared without a record: dropped (expired) by the leader
                return Err(ApiError::Unavailable(format!(
                    "request {} was dropped before it started (no leader took it within {} s)",
                    req.id,
                    EXPIRES_AFTER.as_secs()
                )));
            }
        }
        tokio::time::sleep(POLL.min(deadline.saturating_duration_since(Instant::now()))).await;
    }
}

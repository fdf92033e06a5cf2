//! Action endpoints (token required). Pause, resume and ack change the shared state with
//! compare-and-set; whichever manager leads reads it on its next round, so any manager can
//! take them. Every check happens before anything changes.

use super::auth;
use super::error::ApiError;
use super::ApiState;
use crate::coord::{self, Store};
use crate::model::{unix_ms, SharedState};
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::Json;
use serde_json::{json, Value};
use tracing::info;

/// These endpoints take no parameters: an empty body or `{}`.
fn no_body(body: &Bytes) -> Result<(), ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(());
    }
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(m)) if m.is_empty() => Ok(()),
        Ok(Value::Object(m)) => Err(ApiError::BadRequest(format!(
            "unknown field(s) {}: this endpoint takes no parameters",
            m.keys().cloned().collect::<Vec<_>>().join(", ")
        ))),
        Ok(_) => Err(ApiError::BadRequest("the body must be a JSON object (or empty)".into())),
        Err(e) => Err(ApiError::BadRequest(format!("the body is not valid JSON: {e}"))),
    }
}

async fn change<S: Store>(
    st: &ApiState<S>,
    headers: &HeaderMap,
    cluster: &str,
    body: &Bytes,
    what: &str,
    f: impl Fn(&mut SharedState),
) -> Result<Json<Value>, ApiError> {
    auth::check(st.token.as_ref(), headers)?;
    st.cluster(cluster)?;
    no_body(body)?;
    let v = coord::update(st.store.as_ref(), cluster, f).await?;
    info!(cluster = %cluster, manager = %st.manager, "API: {what}");
    let s = &v.value;
    Ok(Json(json!({
        "cluster": cluster,
        "done": what,
        "paused": s.paused,
        "block": s.active_block(unix_ms(crate::model::time::now())),
        "epoch": s.epoch,
    })))
}

/// `POST …/pause`: detect and report, but do not act.
pub async fn pause<S: Store>(
    State(st): State<ApiState<S>>,
    headers: HeaderMap,
    Path(cluster): Path<String>,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    change(&st, &headers, &cluster, &body, "automation paused", |s| s.paused = true).await
}

/// `POST …/resume`
pub async fn resume<S: Store>(
    State(st): State<ApiState<S>>,
    headers: HeaderMap,
    Path(cluster): Path<String>,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    change(&st, &headers, &cluster, &body, "automation resumed", |s| {
        s.paused = false
    })
    .await
}

/// `POST …/ack`: clear the anti-flap block.
pub async fn ack<S: Store>(
    State(st): State<ApiState<S>>,
    headers: HeaderMap,
    Path(cluster): Path<String>,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    change(&st, &headers, &cluster, &body, "anti-flap block cleared", |s| {
        s.block = None
    })
    .await
}

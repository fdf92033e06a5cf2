//! Action endpoints (token required). Pause, resume and ack change the shared state with
//! compare-and-set; whichever manager leads reads it on its next round, so any manager can
//! take them. Every check happens before anything changes.

use super::auth::Caller;
use super::error::ApiError;
use super::ApiState;
use crate::coord::{self, RecordStore, Store};
use crate::failover::admit;
use crate::model::{timestamp, unix_ms, FailoverRecord, SharedState, Status, Step, StepKind};
use crate::topology::Snapshot;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::Extension;
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
    caller: &Caller,
    cluster: &str,
    body: &Bytes,
    what: &str,
    f: impl Fn(&mut SharedState),
) -> Result<Json<Value>, ApiError> {
    st.cluster(cluster)?;
    no_body(body)?;
    let v = coord::update(st.store.as_ref(), cluster, f).await?;
    info!(cluster = %cluster, manager = %st.manager, by = %caller.name, "API: {what} by {}", caller.name);
    let s = &v.value;
    Ok(Json(json!({
        "cluster": cluster,
        "done": what,
        "by": caller.name,
        "paused": s.paused,
        "block": s.active_block(unix_ms(crate::model::time::now())),
        "epoch": s.epoch,
    })))
}

/// `POST …/pause`: detect and report, but do not act.
pub async fn pause<S: Store>(
    State(st): State<ApiState<S>>,
    Extension(caller): Extension<Caller>,
    Path(cluster): Path<String>,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    change(&st, &caller, &cluster, &body, "automation paused", |s| s.paused = true).await
}

/// `POST …/resume`
pub async fn resume<S: Store>(
    State(st): State<ApiState<S>>,
    Extension(caller): Extension<Caller>,
    Path(cluster): Path<String>,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    change(&st, &caller, &cluster, &body, "automation resumed", |s| {
        s.paused = false
    })
    .await
}

/// `POST …/ack`: clear the anti-flap block.
pub async fn ack<S: Store>(
    State(st): State<ApiState<S>>,
    Extension(caller): Extension<Caller>,
    Path(cluster): Path<String>,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    change(&st, &caller, &cluster, &body, "anti-flap block cleared", |s| {
        s.block = None
    })
    .await
}

/// The body of `POST …/failovers/{id}/abort`.
#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct AbortBody {
    /// Why the DBA ends it: kept in the record.
    reason: String,
}

/// The longest reason kept.
const MAX_REASON: usize = 500;

fn abort_body(body: &Bytes) -> Result<String, ApiError> {
    let b: AbortBody = serde_json::from_slice(body).map_err(|e| {
        ApiError::BadRequest(format!(
            "the body must be {{\"reason\": \"why this record is aborted\"}}: {e}"
        ))
    })?;
    let reason = b.reason.trim();
    if reason.is_empty() {
        return Err(ApiError::BadRequest(
            "reason: say why the record is aborted (it is kept in the record)".into(),
        ));
    }
    if reason.chars().count() > MAX_REASON {
        return Err(ApiError::BadRequest(format!("reason: at most {MAX_REASON} characters")));
    }
    Ok(reason.to_string())
}

/// `POST …/failovers/{id}/abort {reason}`: end a record left running by hand — the leader
/// waits on it while its planned node cannot be probed (see [`admit::abort`]).
pub async fn abort<S: Store>(
    State(st): State<ApiState<S>>,
    Extension(caller): Extension<Caller>,
    Path((cluster, id)): Path<(String, String)>,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    st.cluster(&cluster)?;
    let reason = abort_body(&body)?;
    let view = super::read::latest(&st, &cluster)?;
    let rec = abort_record(
        st.store.as_ref(),
        &view.snapshot,
        &cluster,
        &id,
        &reason,
        &caller.name,
        &st.manager,
    )
    .await?;
    Ok(Json(
        json!({ "cluster": cluster, "done": "failover record aborted", "record": rec }),
    ))
}

/// Close record `id` of `cluster` as failed, aborted by `by` (a token's name) for `reason`
/// via manager `via`, if [`admit::abort`] allows it on `snapshot`. Nothing is written when
/// it does not.
pub(super) async fn abort_record<R: RecordStore>(
    store: &R,
    snapshot: &Snapshot,
    cluster: &str,
    id: &str,
    reason: &str,
    by: &str,
    via: &str,
) -> Result<FailoverRecord, ApiError> {
    let unavailable =
        |e: coord::StoreError| ApiError::Unavailable(format!("nothing changed: cannot read the record: {e}"));
    let mut rec = store
        .record(cluster, id)
        .await
        .map_err(unavailable)?
        .ok_or_else(|| ApiError::NotFound(format!("cluster {cluster} has no failover record {id:?}")))?;
    admit::abort(&rec, snapshot)?;
    for s in rec.steps.iter_mut().filter(|s| s.status == Status::Running) {
        s.status = Status::Skipped;
        s.detail = "interrupted: the record was aborted".into();
    }
    let offset_ms = rec
        .steps
        .iter()
        .map(|s| s.offset_ms + s.duration_ms.unwrap_or(0))
        .max()
        .unwrap_or(0);
    rec.steps.push(Step {
        kind: StepKind::Aborted,
        name: format!("aborted by {by} via {via}"),
        offset_ms,
        duration_ms: Some(0),
        status: Status::Failed,
        detail: reason.to_string(),
    });
    rec.status = Status::Failed;
    rec.finished_at = Some(timestamp(crate::model::time::now()));
    store
        .save_record(&rec)
        .await
        .map_err(|e| ApiError::Unavailable(format!("nothing changed: cannot write the record: {e}")))?;
    tracing::warn!(cluster = %cluster, failover = %id, manager = %via, "API: failover record aborted by a DBA: {reason}");
    Ok(rec)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testkit::*;

    #[tokio::test]
    async fn an_aborted_record_is_closed_with_the_reason_and_a_refused_one_is_untouched() {
        let world = crate::coord::fake::World::default();
        let store = world.client();
        crate::coord::lead::Coordinator::connect(&store).await.unwrap();
        let mut rec = failover_record(Some("db2"));
        rec.steps.push(Step {
            kind: StepKind::Promote,
            name: "promote db2".into(),
            offset_ms: 40,
            duration_ms: None,
            status: Status::Running,
            detail: String::new(),
        });
        store.save_record(&rec).await.unwrap();
        // the planned node writable: promoted, the leader finishes it — refused, unchanged
        let promoted = snapshot(vec![down("db1"), master("db2")]);
        let r = abort_record(&store, &promoted, "c1", "c1-test", "db2 is gone", "alice", "m2").await;
        assert!(matches!(r, Err(ApiError::Conflict(_))), "{r:?}");
        assert_eq!(store.record("c1", "c1-test").await.unwrap(), Some(rec.clone()));
        let r = abort_record(&store, &promoted, "c1", "c1-nope", "x", "alice", "m2").await;
        assert!(matches!(r, Err(ApiError::NotFound(_))), "{r:?}");
        // cannot be probed: aborted, the reason kept
        let unknown = snapshot(vec![down("db1"), hung("db2")]);
        let done = abort_record(
            &store,
            &unknown,
            "c1",
            "c1-test",
            "db2's host is gone for good",
            "alice",
            "m2",
        )
        .await
        .unwrap();
        let saved = store.record("c1", "c1-test").await.unwrap().unwrap();
        assert_eq!(saved, done);
        assert_eq!(saved.status, Status::Failed);
        assert_eq!(saved.steps[0].status, Status::Skipped);
        let last = saved.steps.last().unwrap();
        assert_eq!(
            (last.kind, last.detail.as_str()),
            (StepKind::Aborted, "db2's host is gone for good")
        );
        // once aborted, not again
        let r = abort_record(&store, &unknown, "c1", "c1-test", "again", "alice", "m2").await;
        assert!(matches!(r, Err(ApiError::Conflict(_))), "{r:?}");
    }

    #[test]
    fn an_abort_needs_a_reason() {
        assert!(abort_body(&Bytes::from_static(b"{\"reason\": \"db2 is gone\"}")).is_ok());
        for bad in [
            &b""[..],
            b"{}",
            b"{\"reason\": \"  \"}",
            b"{\"reason\": 3}",
            b"{\"reason\": \"x\", \"force\": true}",
        ] {
            assert!(
                matches!(abort_body(&Bytes::copy_from_slice(bad)), Err(ApiError::BadRequest(_))),
                "{bad:?}"
            );
        }
    }
}

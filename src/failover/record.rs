//! Every failover is a record: id, trigger, old/new master, candidates, GTIDs, and a timeline
//! of steps with start offsets and durations. [`Recorder::audit`] is the one place a step is
//! both logged and persisted (Orchestrator's `AuditTopologyRecovery`), before and after it
//! runs (steno's saga log), so a successor can tell what was done.

use super::candidate::Candidates;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;
use std::time::SystemTime;
use tokio::time::Instant;

/// What started the failover.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// The detector found the master dead.
    Automatic,
    /// A DBA asked for a failover of a dead master.
    Manual,
    /// A DBA asked to move a healthy master.
    Switchover,
}

/// How a step or a failover ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Started, not finished (a record that stays here was interrupted).
    Running,
    /// Done.
    Ok,
    /// Done, but something failed that did not stop the failover (a best-effort step, one
    /// route table).
    Degraded,
    /// Failed: the failover stopped here.
    Failed,
    /// Not needed, or interrupted by the manager's end (outcome unknown).
    Skipped,
}

/// What a step does, for code (the name is for people): a successor settles a record by the
/// kinds of its steps, never by their names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StepKind {
    /// Check a plan or a request before acting.
    Check,
    /// Fence the old master.
    Fence,
    /// Let the candidate apply what it (or a donor) received.
    CatchUp,
    /// Stop a replica receiving from the old master.
    StopReceiving,
    /// Make the candidate writable (the point of no return).
    Promote,
    /// Point the VIP at the new master.
    MoveVip,
    /// Forget replication on the new master.
    Reset,
    /// Point a replica at the new master.
    Repoint,
    /// Give a switchover's old master its writes back.
    RollBack,
    /// Record the new master in the shared state (compare-and-set on the record's epoch):
    /// the last step; until it succeeds the record stays running.
    Commit,
    /// A new leader took the record over.
    TakenOver,
    /// Anything else (records written before steps had kinds).
    #[serde(other)]
    Other,
}

/// One step of the timeline.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Step {
    /// What the step does.
    #[serde(default = "other_kind")]
    pub kind: StepKind,
    /// What the step does, for people (`fence db1`, `promote db2`, …).
    pub name: String,
    /// Milliseconds from the start of the failover.
    pub offset_ms: u64,
    /// How long it took; `None` while running.
    pub duration_ms: Option<u64>,
    /// Outcome.
    pub status: Status,
    /// What happened, or the error.
    pub detail: String,
}

/// A failover (or switchover), from decision to end.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FailoverRecord {
    /// Unique id: `<cluster>-<UTC time>-<old master>`.
    pub id: String,
    /// Cluster name.
    pub cluster: String,
    /// Automatic, manual or switchover.
    pub kind: Kind,
    /// The diagnosis sentence (or the request) that started it.
    pub trigger: String,
    /// The manager that ran it.
    pub manager: String,
    /// The master being replaced.
    pub old_master: String,
    /// The node promoted (planned, before the promotion step).
    pub new_master: Option<String>,
    /// Candidate selection, with every rejected node and why.
    pub candidates: Option<Candidates>,
    /// GTIDs per node at decision time (received), and of the new master after promotion.
    pub gtids: BTreeMap<String, String>,
    /// Epoch of the cluster state this failover started from.
    pub epoch: u64,
    /// When the failure was detected (RFC 3339).
    pub detected_at: String,
    /// When the failover started (RFC 3339).
    pub started_at: String,
    /// When it ended (RFC 3339).
    pub finished_at: Option<String>,
    /// Total duration in milliseconds.
    pub total_ms: Option<u64>,
    /// Switchovers: from setting the old master read-only to the VIP verified on the new one
    /// (the server side of the write pause; clients add their reconnect).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub write_pause_ms: Option<u64>,
    /// The timeline.
    pub steps: Vec<Step>,
    /// Errors, including those of steps that did not stop the failover.
    pub errors: Vec<String>,
    /// Running, ok, degraded (e.g. a route table not moved) or failed.
    pub status: Status,
}

fn other_kind() -> StepKind {
    StepKind::Other
}

/// RFC 3339 with milliseconds.
pub fn timestamp(t: SystemTime) -> String {
    humantime::format_rfc3339_millis(t).to_string()
}

/// A UTC time for ids (record, request and backup ids): RFC 3339 without `-` and `:`, so ids
/// sort by time — to the millisecond (`20261122T120724.945Z`) or the second (`…T120724Z`).
pub fn id_time(t: SystemTime, millis: bool) -> String {
    let text = if millis {
        humantime::format_rfc3339_millis(t).to_string()
    } else {
        humantime::format_rfc3339_seconds(t).to_string()
    };
    text.replace([':', '-'], "")
}

impl FailoverRecord {
    /// Did a step of `kind` end ok?
    pub fn step_ok(&self, kind: StepKind) -> bool {
        self.steps.iter().any(|s| s.kind == kind && s.status == Status::Ok)
    }

    /// How its steps went, as the record's status: degraded if one was.
    pub fn outcome(&self) -> Status {
        let degraded = self
            .steps
            .iter()
            .any(|s| s.status == Status::Degraded && s.kind != StepKind::Commit);
        if degraded {
            Status::Degraded
        } else {
            Status::Ok
        }
    }

    /// The node this record made writable, if it got that far (its own promotion, or a
    /// predecessor's that a take-over found done).
    pub fn promoted(&self) -> Option<&str> {
        let done =
            self.step_ok(StepKind::Promote) || self.step_ok(StepKind::TakenOver) && self.status != Status::Failed;
        self.new_master.as_deref().filter(|_| done)
    }
}

impl fmt::Display for FailoverRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "failover {} ({:?}): {} → {}: {:?}",
            self.id,
            self.kind,
            self.old_master,
            self.new_master.as_deref().unwrap_or("?"),
            self.status
        )?;
        if let Some(ms) = self.total_ms {
            write!(f, " in {ms} ms")?;
        }
        Ok(())
    }
}

/// Where records go (the coordinator's store).
pub trait RecordSink: Send + Sync {
    /// Persist the record as it is now (create or overwrite).
    fn save_record(&self, rec: &FailoverRecord) -> impl std::future::Future<Output = Result<(), String>> + Send;
}

/// A record being written, with the clock its step offsets are measured on.
pub struct Recorder<'s, S> {
    /// The record.
    pub rec: FailoverRecord,
    started: Instant,
    sink: &'s S,
}

impl<'s, S: RecordSink> Recorder<'s, S> {
    /// Start a record.
    pub fn new(rec: FailoverRecord, started: Instant, sink: &'s S) -> Self {
        Recorder { rec, started, sink }
    }

    /// Milliseconds since the failover started.
    pub fn elapsed_ms(&self) -> u64 {
        self.started.elapsed().as_millis() as u64
    }

    /// Persist; a store that fails is logged, never allowed to stop a failover halfway.
    pub async fn persist(&self) {
        if let Err(e) = self.sink.save_record(&self.rec).await {
            tracing::error!(failover = %self.rec.id, error = %e, "cannot persist failover record");
        }
    }

    /// Log and persist that a step starts; returns its index.
    pub async fn start(&mut self, kind: StepKind, name: impl Into<String>) -> usize {
        let now = self.elapsed_ms();
        self.start_at(kind, name, now).await
    }

    /// Record a step that started at `offset_ms` (measured by a concurrent task).
    pub async fn start_at(&mut self, kind: StepKind, name: impl Into<String>, offset_ms: u64) -> usize {
        let name = name.into();
        tracing::info!(failover = %self.rec.id, step = %name, "step started");
        self.rec.steps.push(Step {
            kind,
            name,
            offset_ms,
            duration_ms: None,
            status: Status::Running,
            detail: String::new(),
        });
        self.persist().await;
        self.rec.steps.len() - 1
    }

    /// The instant step offsets are measured from (for steps that run concurrently and
    /// measure their own end).
    pub fn clock(&self) -> Instant {
        self.started
    }

    /// Log and persist how a step ended. `Failed` and `Degraded` details go to `errors` too.
    pub async fn audit(&mut self, step: usize, status: Status, detail: impl Into<String>) {
        let now = self.elapsed_ms();
        self.audit_at(step, now, status, detail).await;
    }

    /// Like [`Recorder::audit`], for a step that ended at `end_ms` (concurrent steps).
    pub async fn audit_at(&mut self, step: usize, end_ms: u64, status: Status, detail: impl Into<String>) {
        let detail = detail.into();
        let Some(s) = self.rec.steps.get_mut(step) else { return };
        s.duration_ms = Some(end_ms.saturating_sub(s.offset_ms));
        s.status = status;
        s.detail = detail.clone();
        match status {
            Status::Failed | Status::Degraded => {
                tracing::warn!(failover = %self.rec.id, step = %s.name, ?status, ms = s.duration_ms, "{detail}");
                self.rec.errors.push(format!("{}: {detail}", s.name));
            }
            _ => tracing::info!(failover = %self.rec.id, step = %s.name, ?status, ms = s.duration_ms, "{detail}"),
        }
        self.persist().await;
    }

    /// Close the record.
    pub async fn finish(&mut self, status: Status) {
        self.rec.status = status;
        self.rec.total_ms = Some(self.elapsed_ms());
        self.rec.finished_at = Some(timestamp(SystemTime::now()));
        tracing::info!(failover = %self.rec.id, "{}", self.rec);
        self.persist().await;
    }
}

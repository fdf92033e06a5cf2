//! Every failover is a record: id, trigger, old/new master, candidates, GTIDs, and a timeline
//! of steps with start offsets and durations. [`Recorder::audit`] is the one place a step is
//! both logged and persisted (Orchestrator's `AuditTopologyRecovery`), before and after it
//! runs (steno's saga log), so a successor can tell what was done.

use crate::coord::RecordStore;
use crate::model::{timestamp, FailoverRecord, Status, Step, StepKind};
use tokio::time::Instant;

/// A record being written, with the clock its step offsets are measured on.
pub struct Recorder<'s, S> {
    /// The record.
    pub rec: FailoverRecord,
    started: Instant,
    sink: &'s S,
}

impl<'s, S: RecordStore> Recorder<'s, S> {
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

    /// A step registered up front with the plan begins now (after the steps before it), so
    /// its duration is its own.
    pub fn begins_now(&mut self, step: usize) {
        let now = self.elapsed_ms();
        if let Some(s) = self.rec.steps.get_mut(step) {
            s.offset_ms = now;
        }
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
        self.rec.finished_at = Some(timestamp(crate::model::time::now()));
        tracing::info!(failover = %self.rec.id, "{}", self.rec);
        self.persist().await;
    }
}

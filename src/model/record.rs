//! Every failover, switchover and manual failover is a record: id, trigger, old/new master,
//! candidates, GTIDs, and a timeline of steps with start offsets and durations. Written before
//! the first step and after each (the coordinator keeps it); the failover's `Recorder` fills it.

use super::candidates::Candidates;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;

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
    /// A DBA ended the record by hand (`myha abort`): nobody settles it any more.
    Aborted,
    /// Anything else (records written before steps had kinds).
    #[serde(other)]
    Other,
}

fn other_kind() -> StepKind {
    StepKind::Other
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

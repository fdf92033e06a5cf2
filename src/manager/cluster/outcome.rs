//! What a round did, as a sentence: logged, returned by [`super::ClusterLoop::round`] and
//! asserted by tests.

use crate::manager::act::{Concluded, Done};
use std::fmt;

/// The outcome of one round.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Nothing could be judged (no node to probe).
    Nothing(String),
    /// This manager does not lead: the decision is left to the leader.
    Standby {
        /// the standing (`standby (leader: mgr2)`, `degraded: …`)
        standing: String,
        /// the decision's sentence
        decision: String,
    },
    /// The leader could not read what it needs: not acting this round.
    NotActing(String),
    /// The leader found nothing to do (or a decision that changes nothing: blocked, paused,
    /// refused by the lossless policy).
    Idle(String),
    /// The same action failed moments ago: not repeated yet.
    Backoff(String),
    /// An action ran through its executor.
    Acted {
        /// the decision's sentence
        decision: String,
        /// how it went
        done: Done,
    },
    /// An automatic failover ran (its record says how).
    Failover {
        /// the decision's sentence
        decision: String,
        /// how its record ended
        concluded: Concluded,
    },
    /// A DBA's request ran.
    Request {
        /// the request
        request: String,
        /// how its record ended
        concluded: Concluded,
    },
    /// Records an earlier leader left unfinished were settled.
    TakenOver(String),
}

impl Outcome {
    /// Did what was tried work (for the action back-off)?
    pub fn succeeded(&self) -> bool {
        match self {
            Outcome::Acted { done, .. } => done.ok(),
            Outcome::Failover { concluded, .. } => *concluded == Concluded::Committed,
            _ => true,
        }
    }
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Outcome::Nothing(why) => write!(f, "nothing judged: {why}"),
            Outcome::Standby { standing, decision } => write!(f, "{standing}: {decision} — left to the leader"),
            Outcome::NotActing(why) => write!(f, "not acting this round: {why}"),
            Outcome::Idle(decision) => f.write_str(decision),
            Outcome::Backoff(decision) => write!(f, "{decision} — failed moments ago, not repeated yet"),
            Outcome::Acted { decision, done } => write!(f, "{decision} — {done}"),
            Outcome::Failover { decision, concluded } => write!(f, "{decision} — {concluded}"),
            Outcome::Request { request, concluded } => write!(f, "request {request} — {concluded}"),
            Outcome::TakenOver(what) => write!(f, "took over: {what}"),
        }
    }
}

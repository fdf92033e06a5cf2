//! Leadership as the rest of myha sees it: a manager's identity, its coordinator session,
//! and its standing on a cluster (leader in a term, standby, degraded).

use serde::{Deserialize, Serialize};
use std::fmt;

/// A manager as it registers itself and as a leader node names it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ManagerInfo {
    /// Manager id.
    pub id: String,
    /// Where its HTTP API listens.
    pub address: String,
    /// RFC 3339: when it registered / took the lead.
    pub since: String,
}

/// The coordinator session, as the client sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SessionState {
    /// No session yet (starting, or a new one is being made after expiry).
    Connecting,
    /// Connected to a server of a quorum.
    Connected,
    /// The connection is lost; the session may still be alive on the servers, and with it
    /// our leader node — but we cannot know, so we do not act.
    Disconnected,
    /// The session is gone, with every ephemeral node it owned.
    Expired,
}

impl fmt::Display for SessionState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            SessionState::Connecting => "connecting",
            SessionState::Connected => "connected",
            SessionState::Disconnected => "disconnected",
            SessionState::Expired => "expired",
        })
    }
}

/// This manager's standing on one cluster.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Standing {
    /// It holds the lead, in this term.
    Leader {
        /// the lease's term
        term: i64,
    },
    /// Another manager leads (or nobody yet): probe and report, never act.
    Standby {
        /// the leader, if any
        leader: Option<ManagerInfo>,
    },
    /// The coordinator is unreachable or the session is lost: nobody can know who leads,
    /// so this manager does not act.
    Degraded {
        /// why
        why: String,
    },
}

impl fmt::Display for Standing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Standing::Leader { term } => write!(f, "leader (term {term:#x})"),
            Standing::Standby { leader: Some(l) } => write!(f, "standby (leader: {})", l.id),
            Standing::Standby { leader: None } => write!(f, "standby (no leader yet)"),
            Standing::Degraded { why } => write!(f, "degraded: {why}"),
        }
    }
}

//! Leadership of a cluster: which manager may act on it, Patroni-style — a leader node that
//! lives only as long as its holder's coordinator session. The I/O is the [`Coordinator`]
//! trait (ZooKeeper in production, an in-memory fake in unit tests); the policy here is pure.
//!
//! ```text
//! <root>/managers/<id>        ephemeral: a live manager (ManagerInfo)
//! <root>/<cluster>/leader     ephemeral: the manager that acts on the cluster (ManagerInfo);
//!                             its creation zxid is the *term* a failover is guarded by
//! ```

use super::{Store, StoreError};
use crate::model::{ManagerInfo, SessionState, Standing};
use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

/// A leader node as read back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lease {
    /// Who leads.
    pub info: ManagerInfo,
    /// The coordinator session that owns the node: leadership ends with it.
    pub owner: i64,
    /// Identifies this leadership (the node's creation transaction): a manager that lost
    /// and regained the lead holds a different term.
    pub term: i64,
}

/// A future that resolves when a watched node changes (or its watch is otherwise spent).
pub type Watch = Pin<Box<dyn Future<Output = ()> + Send>>;

/// The coordinator edge: sessions, registration, leader nodes — plus the shared state.
pub trait Coordinator: Store + 'static {
    /// The session's id and state now (no I/O).
    fn session(&self) -> (i64, SessionState);

    /// Resolve when the session state changes, or after `max`.
    fn session_changed(&self, max: Duration) -> impl Future<Output = ()> + Send;

    /// Make a new session (at start, or after expiry). Bounded by the session timeout.
    fn connect(&self) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Register this manager (ephemeral).
    fn register(&self, me: &ManagerInfo) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// The live managers.
    fn managers(&self) -> impl Future<Output = Result<Vec<ManagerInfo>, StoreError>> + Send;

    /// Read the cluster's leader node.
    fn leader(&self, cluster: &str) -> impl Future<Output = Result<Option<Lease>, StoreError>> + Send;

    /// Read the cluster's leader node and watch it: the returned future resolves when it is
    /// created, changed or deleted.
    fn watch_leader(&self, cluster: &str) -> impl Future<Output = Result<(Option<Lease>, Watch), StoreError>> + Send;

    /// Create the leader node for us; `None` if another manager holds it.
    fn claim(&self, cluster: &str, me: &ManagerInfo) -> impl Future<Output = Result<Option<Lease>, StoreError>> + Send;

    /// Delete our leader node (clean shutdown: the others need not wait for the session to
    /// expire). Only the node of `lease`'s term is deleted.
    fn resign(&self, cluster: &str, lease: &Lease) -> impl Future<Output = Result<(), StoreError>> + Send;
}

/// FNV-1a: stable across processes and Rust versions, unlike `DefaultHasher`, so every
/// manager computes the same preference.
fn fnv1a(parts: &[&str]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for p in parts {
        for b in p.bytes().chain(std::iter::once(0)) {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
    }
    h
}

/// Rendezvous order of the live managers for a cluster: who should take a vacant lead
/// first. Different clusters prefer different managers, so a fleet spreads its clusters;
/// a manager joining or leaving moves only the clusters it ranks first on.
pub fn preference<'a>(cluster: &str, managers: &'a [String]) -> Vec<&'a str> {
    let mut v: Vec<&str> = managers.iter().map(String::as_str).collect();
    v.sort_by_key(|m| (std::cmp::Reverse(fnv1a(&[cluster, m])), *m));
    v.dedup();
    v
}

/// How long `me` lets a vacant lead stay vacant before claiming it: nothing for the
/// preferred live manager, `grace` for the others (who then race; the coordinator picks
/// one) — so a preferred manager that is registered but cannot claim (disconnected, stuck)
/// delays the takeover by `grace` only.
pub fn claim_delay(cluster: &str, me: &str, live: &[String], grace: Duration) -> Duration {
    let order = preference(cluster, live);
    match order.iter().position(|m| *m == me) {
        Some(0) => Duration::ZERO,
        Some(_) => grace,
        // not registered (yet): behind every registered manager
        None => grace,
    }
}

/// What a manager's standing is, from one fresh read of the leader node.
pub fn standing_of(lease: Option<&Lease>, my_session: i64) -> Standing {
    match lease {
        Some(l) if l.owner == my_session => Standing::Leader { term: l.term },
        Some(l) => Standing::Standby {
            leader: Some(l.info.clone()),
        },
        None => Standing::Standby { leader: None },
    }
}

//! The MySQL admin edge: everything myha does to a database server goes through
//! [`MysqlAdmin`]. [`client::MysqlClient`] is the real implementation (mysql_async); unit
//! tests of the logic use fakes.
//!
//! Contract for implementations: every call is bounded in time (connect and each statement
//! have a hard timeout), a node that hangs costs one timeout, and no call panics on what a
//! server sends.

pub mod client;

use crate::config::NodeConfig;
use crate::flavor::StartFrom;
use crate::gtid::Gtids;
use crate::model::{PromotedSemiSync, SemiSyncPolicy};
use crate::topology::{NodeState, ProbeFailure};
use std::future::Future;
use std::time::Duration;

/// An administrative operation on a node that failed. Messages name the node and the step;
/// they never contain the SQL (statements may carry passwords).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OpError {
    /// Connecting or a statement took longer than allowed.
    #[error("{node}: {op} timed out after {limit:?}")]
    Timeout {
        /// the node
        node: String,
        /// the operation
        op: &'static str,
        /// the limit that ran out
        limit: Duration,
    },
    /// No connection.
    #[error("{node}: {op}: cannot connect: {message}")]
    Connect {
        /// the node
        node: String,
        /// the operation
        op: &'static str,
        /// why
        message: String,
    },
    /// Not sent: the lease this change runs under ended (the process was paused or waited
    /// past what the lead is known to hold for). Another manager may lead now.
    #[error("{node}: {op}: not sent: this manager's lead (term {term}) is no longer certain")]
    LeaseEnded {
        /// the node
        node: String,
        /// the operation
        op: &'static str,
        /// the term of the lease
        term: i64,
    },
    /// The node refused the change: it has seen a newer leadership term (fencing token).
    #[error("{node}: {op}: refused by the node: it has seen leadership term {seen}, this manager acts in term {term} (another manager led since; after a ZooKeeper ensemble is rebuilt from scratch, see runbooks/server-settings.md, \"Fencing\")")]
    Fenced {
        /// the node
        node: String,
        /// the operation
        op: &'static str,
        /// the term of this manager
        term: i64,
        /// the newest term the node has seen
        seen: i64,
    },
    /// Not done: doing it now could lose data (the reason says what and why).
    #[error("{node}: {op}: not done: {why}")]
    Unsafe {
        /// the node
        node: String,
        /// the operation
        op: &'static str,
        /// why not
        why: String,
    },
    /// The server refused a statement.
    #[error("{node}: {op}: server error {code}: {message}")]
    Server {
        /// the node
        node: String,
        /// the operation
        op: &'static str,
        /// MySQL error code
        code: u16,
        /// server message
        message: String,
    },
}

/// How far [`MysqlAdmin::wait_applied`] got.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Applied {
    /// Everything asked for is applied.
    pub done: bool,
    /// What the node had applied when the wait ended (`None`: unreadable).
    pub applied: Option<Gtids>,
}

/// `Err` when the current call runs under a lease that ended: the change must not leave the
/// process (see `model::Lease`). Returns the lease's term, if there is one.
pub fn lease_check(node: &str, op: &'static str) -> Result<Option<i64>, OpError> {
    match crate::model::lease::current() {
        Some(l) if l.ended() => Err(OpError::LeaseEnded {
            node: node.to_string(),
            op,
            term: l.term,
        }),
        l => Ok(l.map(|l| l.term)),
    }
}

/// What fencing an old master achieved (best effort: each part may fail on its own).
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct Fenced {
    /// read-only was set
    pub read_only: bool,
    /// client sessions ended
    pub sessions_killed: u32,
    /// What the node had written to its binlog once fenced (no write can follow it).
    pub written: Option<Gtids>,
}

/// A transaction that has written and is still open on a node: ending it (a fence's `KILL`)
/// costs a rollback of what it wrote, during which the rows it holds stay locked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenWrite {
    /// The connection (`SHOW PROCESSLIST` id).
    pub connection: u64,
    /// `user@host` of the client.
    pub client: String,
    /// How long the transaction has been open, in seconds.
    pub open_s: u64,
    /// Rows it has modified (what a rollback undoes).
    pub rows: u64,
    /// The first word of the statement it runs now, if any (`UPDATE`): never the statement
    /// itself, which carries data and can carry secrets.
    pub running: Option<String>,
}

impl std::fmt::Display for OpenWrite {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "connection {} ({}) has a transaction open for {} s that modified {} rows",
            self.connection, self.client, self.open_s, self.rows
        )?;
        match &self.running {
            Some(verb) => write!(f, ", running {verb} …"),
            None => write!(f, ", idle"),
        }
    }
}

/// Administrative access to the nodes of one cluster.
pub trait MysqlAdmin: Send + Sync {
    /// Read a node's state (identity, read-only, GTIDs, replication, semi-sync). Reuses a
    /// connection between calls; drops it after any failure.
    fn probe(&self, node: &NodeConfig) -> impl Future<Output = Result<NodeState, ProbeFailure>> + Send;

    /// Fence an old master: read-only, then end client sessions (replication threads stay),
    /// then read what it wrote. Best effort within `limit`.
    fn fence(&self, node: &NodeConfig, limit: Duration) -> impl Future<Output = Result<Fenced, OpError>> + Send;

    /// Start the applier if needed and wait until `gtids` are applied, at most `limit`: how
    /// far it got (a caller that waits in slices can tell a slow applier from a stalled one).
    fn wait_applied(
        &self,
        node: &NodeConfig,
        gtids: &Gtids,
        limit: Duration,
    ) -> impl Future<Output = Result<Applied, OpError>> + Send;

    /// Let the applier run at least `threads` parallel workers (MariaDB
    /// `slave_parallel_threads`, MySQL `replica_parallel_workers`), restarting it if it runs
    /// and has fewer; returns the count it had. Refused (`OpError::Unsafe`) while the receiver is stopped and the applier runs:
    /// stopping the applier would leave both threads stopped, and MariaDB in GTID mode
    /// discards the relay log at the next start.
    fn raise_applier_threads(
        &self,
        node: &NodeConfig,
        threads: u32,
        limit: Duration,
    ) -> impl Future<Output = Result<u32, OpError>> + Send;

    /// Transactions open on `node` for at least `older_than` that modified rows, oldest
    /// first (a few). Reads only.
    fn open_writes(
        &self,
        node: &NodeConfig,
        older_than: Duration,
        limit: Duration,
    ) -> impl Future<Output = Result<Vec<OpenWrite>, OpError>> + Send;

    /// Stop receiving from the master (IO thread only); may take seconds with a stuck master.
    /// Returns the node's state once stopped (it receives nothing more): a failover's
    /// catch-up target is read after every replica stopped.
    fn stop_receiving(
        &self,
        node: &NodeConfig,
        limit: Duration,
    ) -> impl Future<Output = Result<NodeState, OpError>> + Send;

    /// Start both replication threads.
    fn start_replication(&self, node: &NodeConfig, limit: Duration)
        -> impl Future<Output = Result<(), OpError>> + Send;

    /// Forget replication on a promoted node (stop whatever still runs, reset).
    fn detach(&self, node: &NodeConfig, limit: Duration) -> impl Future<Output = Result<(), OpError>> + Send;

    /// Stop the applier, set the semi-sync master side as `semi` says, make writable.
    fn promote(
        &self,
        node: &NodeConfig,
        semi: PromotedSemiSync,
        limit: Duration,
    ) -> impl Future<Output = Result<(), OpError>> + Send;

    /// Set a master's semi-sync to `policy` (timeout, wait point, waiting without replicas,
    /// master side on). Never turns semi-sync off: that would release waiting commits as
    /// acknowledged.
    fn set_semi_sync(
        &self,
        node: &NodeConfig,
        policy: SemiSyncPolicy,
        limit: Duration,
    ) -> impl Future<Output = Result<(), OpError>> + Send;

    /// Replicate from `master` with GTID auto-positioning, starting at `from`.
    fn replicate_from(
        &self,
        node: &NodeConfig,
        master: &NodeConfig,
        from: StartFrom,
        limit: Duration,
    ) -> impl Future<Output = Result<(), OpError>> + Send;

    /// Set the GTID position a node restored from a backup starts replicating from (see
    /// [`crate::flavor::Flavor::start_position`]).
    fn set_start_position(
        &self,
        node: &NodeConfig,
        gtids: &Gtids,
        limit: Duration,
    ) -> impl Future<Output = Result<(), OpError>> + Send;

    /// Set or clear read-only.
    fn set_read_only(
        &self,
        node: &NodeConfig,
        on: bool,
        limit: Duration,
    ) -> impl Future<Output = Result<(), OpError>> + Send;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::lease::{under, Lease};
    use std::time::Duration;
    use tokio::time::Instant;

    // Defect 2, at the edge: a manager paused between its guard's check and the call resumes
    // with a lease that ended meanwhile — nothing may leave the process.
    #[tokio::test(start_paused = true)]
    async fn nothing_is_sent_after_the_lease_ended() {
        let lease = Lease {
            term: 7,
            until: Instant::now() + Duration::from_secs(5),
        };
        let check = || async { lease_check("db2", "promote") };
        assert_eq!(under(lease, check()).await.ok(), Some(Some(7)));
        tokio::time::advance(Duration::from_secs(6)).await;
        match under(lease, check()).await {
            Err(OpError::LeaseEnded { term: 7, .. }) => {}
            r => panic!("sent after the lease ended: {r:?}"),
        }
        // outside any lease (a CLI tool, a test of the client) the edge does not refuse
        assert_eq!(check().await.ok(), Some(None));
    }
}

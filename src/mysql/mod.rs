//! The MySQL admin edge: everything myha does to a database server goes through
//! [`MysqlAdmin`]. [`client::MysqlClient`] is the real implementation (mysql_async); unit
//! tests of the logic use fakes.
//!
//! Contract for implementations: every call is bounded in time (connect and each statement
//! have a hard timeout), a node that hangs costs one timeout, and no call panics on what a
//! server sends.

pub mod client;

use crate::config::NodeConfig;
use crate::topology::{NodeState, ProbeFailure};
use std::future::Future;

/// Administrative access to the nodes of one cluster.
pub trait MysqlAdmin: Send + Sync {
    /// Read a node's state (identity, read-only, GTIDs, replication, semi-sync). Reuses a
    /// connection between calls; drops it after any failure.
    fn probe(
        &self,
        node: &NodeConfig,
    ) -> impl Future<Output = Result<NodeState, ProbeFailure>> + Send;
}

//! The floating IP clients connect to: [`Vip`] is "point it at this node", at the level of the
//! idea. Each `[cluster.vip] kind` is one implementation; the decision and the executor name
//! nodes only. To add a kind (DNS, an Elastic IP, a proxy's API): a variant of
//! `config::VipConfig`, an implementation of [`Vip`] in a file here, and its construction in
//! `manager::edges`.
//!
//! - [`route_table`]: a `/32` route in VPC route tables to the master's ENI (EC2 API,
//!   [`ec2`]).

pub mod ec2;
pub mod route_table;
#[cfg(test)]
mod tests;

use crate::config::NodeConfig;
use crate::model::VipState;
use std::future::Future;

/// The floating IP of one cluster.
///
/// Contract: every call is bounded in time (per-attempt timeouts, a bounded number of
/// retries); [`Vip::point_at`] returns `Ok` only once the move is verified (read back), and a
/// partial move is an error naming what did not move; errors name what they are about.
pub trait Vip: Send + Sync + 'static {
    /// Resolve what the implementation needs (route tables, network interfaces, …) and check
    /// the configuration: one line per problem found. Called at start-up, and again until it
    /// succeeds and whenever the nodes change: the manager probes and decides without it.
    fn prepare(&self, nodes: &[NodeConfig]) -> impl Future<Output = Result<Vec<String>, VipError>> + Send;

    /// Where the VIP leads now.
    fn observe(&self) -> impl Future<Output = Result<VipState, VipError>> + Send;

    /// Point the VIP at `node`, verified.
    fn point_at(&self, node: &str) -> impl Future<Output = Result<VipMoved, VipError>> + Send;
}

/// A verified move, for the record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VipMoved {
    /// What was done (parts written, rounds).
    pub detail: String,
}

/// An EC2 call that failed, with what it was about.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VipError {
    /// The API answered with an error (after the SDK's retries).
    #[error("EC2 {op} on {target}: {code}: {message}")]
    Api {
        /// the operation (`ReplaceRoute`, …)
        op: &'static str,
        /// the route table / ENI / node concerned
        target: String,
        /// the AWS error code (`RouteAlreadyExists`, `RequestLimitExceeded`, …)
        code: String,
        /// the AWS message
        message: String,
    },
    /// No answer in time, or no connection.
    #[error("EC2 {op} on {target}: {message}")]
    Transport {
        /// the operation
        op: &'static str,
        /// the route table / ENI / node concerned
        target: String,
        /// what happened
        message: String,
    },
    /// The API answered, but not with what is needed.
    #[error("{0}")]
    Lookup(String),
    /// Not prepared yet ([`Vip::prepare`] has not succeeded).
    #[error("{0}")]
    NotReady(String),
    /// Written, but the read-back does not show every part at the node.
    #[error("{0}")]
    NotMoved(String),
    /// Not sent: the lease the move runs under ended (see `model::Lease`).
    #[error("{op} not sent: this manager's lead (term {term}) is no longer certain")]
    LeaseEnded {
        /// the operation
        op: &'static str,
        /// the term of the lease
        term: i64,
    },
}

/// `Err` when the current call runs under a lease that ended: a change must not leave the
/// process then (a cloud API has no fencing token to stop it later).
pub fn lease_check(op: &'static str) -> Result<(), VipError> {
    match crate::model::lease::current() {
        Some(l) if l.ended() => Err(VipError::LeaseEnded { op, term: l.term }),
        _ => Ok(()),
    }
}

//! The floating IP: a `/32` route for the VIP in every VPC route table that client subnets
//! use, pointing at the current master's network interface (ENI).
//!
//! [`RouteTables`] is the edge to the EC2 API ([`ec2::Ec2RouteTables`] is the real one).
//! [`move_vip`] and [`check`] are the logic on top: create-or-replace in all tables in
//! parallel, retry the tables that failed, read back and verify; report misconfigurations
//! (source/dest check on, missing routes) at start-up.

pub mod ec2;
#[cfg(test)]
mod tests;

use futures_util::future::join_all;
use serde::Serialize;
use std::collections::BTreeMap;
use std::future::Future;
use std::net::Ipv4Addr;
use std::time::Duration;

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
}

/// A node's network interface, as the EC2 API describes it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NodeInterface {
    /// Node name.
    pub node: String,
    /// ENI id.
    pub eni: String,
    /// The ENI's source/dest check: must be off for the VIP's packets to be delivered.
    pub source_dest_check: bool,
}

/// What a create-or-replace did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Pointed {
    /// An existing route now points at the ENI.
    Replaced,
    /// There was no route: it was created.
    Created,
}

/// The EC2 side of the floating IP.
///
/// Contract: every call is bounded in time (per-attempt timeout, a bounded number of
/// retries for throttling and 5xx); errors name the table or ENI concerned.
pub trait RouteTables: Send + Sync {
    /// Route tables by id plus every table carrying `tag` (`key=value`), deduplicated.
    fn discover(&self, ids: &[String], tag: Option<&str>)
        -> impl Future<Output = Result<Vec<String>, VipError>> + Send;

    /// Each node's ENI: the configured id, or the ENI whose private IP is the node's address.
    /// `nodes` are (name, address, configured ENI).
    fn interfaces(
        &self,
        nodes: &[(String, String, Option<String>)],
    ) -> impl Future<Output = Result<Vec<NodeInterface>, VipError>> + Send;

    /// Where the VIP route of each table points (`None`: no such route).
    fn targets(
        &self,
        tables: &[String],
        vip: Ipv4Addr,
    ) -> impl Future<Output = Result<BTreeMap<String, Option<String>>, VipError>> + Send;

    /// Create-or-replace `vip/32 → eni` in one table. Handles AWS's two answers: replacing a
    /// missing route fails (then create), creating an existing one is `RouteAlreadyExists`
    /// (then replace).
    fn point(&self, table: &str, vip: Ipv4Addr, eni: &str) -> impl Future<Output = Result<Pointed, VipError>> + Send;
}

/// The outcome of moving the VIP: per table, what happened, and whether every table now
/// points at the ENI (read back after the writes).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MoveReport {
    /// The ENI the VIP should point at.
    pub eni: String,
    /// Per table: the last write's outcome or error.
    pub tables: BTreeMap<String, Result<Pointed, String>>,
    /// Write rounds used (1 = no table needed a retry).
    pub rounds: u32,
    /// True when the read-back shows every table pointing at `eni`.
    pub verified: bool,
    /// Tables that do not point at `eni` after the last read-back.
    pub wrong: Vec<String>,
}

/// Point the VIP at `eni` in all `tables`: writes in parallel, read back, and retry the tables
/// that failed or read back wrong, for at most `rounds` rounds `pause` apart. Partial success
/// is reported, never hidden.
pub async fn move_vip<R: RouteTables>(
    routes: &R,
    tables: &[String],
    vip: Ipv4Addr,
    eni: &str,
    rounds: u32,
    pause: Duration,
) -> MoveReport {
    let mut report = MoveReport {
        eni: eni.to_string(),
        tables: BTreeMap::new(),
        rounds: 0,
        verified: false,
        wrong: tables.to_vec(),
    };
    let mut todo: Vec<String> = tables.to_vec();
    for round in 1..=rounds.max(1) {
        report.rounds = round;
        let results = join_all(todo.iter().map(|t| routes.point(t, vip, eni))).await;
        for (t, r) in todo.iter().zip(results) {
            report.tables.insert(t.clone(), r.map_err(|e| e.to_string()));
        }
        match routes.targets(tables, vip).await {
            Ok(now) => {
                report.wrong = tables
                    .iter()
                    .filter(|t| now.get(*t).cloned().flatten().as_deref() != Some(eni))
                    .cloned()
                    .collect();
            }
            Err(e) => {
                // cannot verify anything: every table counts as not moved, and is written again
                report.wrong = tables.to_vec();
                tracing::warn!(error = %e, "cannot read back the route tables");
            }
        }
        report.verified = report.wrong.is_empty();
        if report.verified {
            break;
        }
        todo = report.wrong.clone();
        if round < rounds {
            tokio::time::sleep(pause).await;
        }
    }
    report
}

/// A start-up check: what is wrong with the VIP's configuration in EC2.
pub async fn check<R: RouteTables>(
    routes: &R,
    tables: &[String],
    vip: Ipv4Addr,
    interfaces: &[NodeInterface],
) -> Result<Vec<String>, VipError> {
    let mut problems = Vec::new();
    if tables.is_empty() {
        problems.push("no route table found for the VIP (check vip.route_tables / vip.route_table_tag)".to_string());
    }
    for i in interfaces {
        if i.source_dest_check {
            problems.push(format!(
                "{}: ENI {} has source/dest check enabled: packets for the VIP would be dropped (aws ec2 modify-network-interface-attribute --no-source-dest-check)",
                i.node, i.eni
            ));
        }
    }
    let targets = routes.targets(tables, vip).await?;
    let mut pointed = std::collections::BTreeSet::new();
    for (t, target) in &targets {
        match target {
            None => problems.push(format!("route table {t} has no route for {vip}/32")),
            Some(eni) => {
                if !interfaces.iter().any(|i| &i.eni == eni) {
                    problems.push(format!(
                        "route table {t} sends {vip}/32 to {eni}, which is no node's ENI"
                    ));
                }
                pointed.insert(eni.clone());
            }
        }
    }
    if pointed.len() > 1 {
        problems.push(format!(
            "route tables disagree on the VIP's target: {}",
            targets
                .iter()
                .map(|(t, e)| format!("{t} → {}", e.as_deref().unwrap_or("none")))
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    Ok(problems)
}

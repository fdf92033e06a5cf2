//! The route-table VIP (`kind = "route-table"`): a `/32` route for the address in every VPC
//! route table that client subnets use, pointing at the master's network interface (ENI).
//!
//! [`RouteTables`] is the edge to the EC2 API ([`super::ec2::Ec2RouteTables`] is the real
//! one). [`RouteTableVip`] is the [`Vip`] on top of it: it owns ENI discovery and table
//! selection ([`Vip::prepare`]), and the write / read-back / retry loop ([`move_vip`]):
//! create-or-replace in all tables in parallel, retry the tables that failed, read back and
//! verify; [`check`] reports misconfigurations (source/dest check on, missing routes).

use super::{Vip, VipError, VipMoved};
use crate::config::{NodeConfig, RouteTableVipConfig};
use crate::model::VipState;
use futures_util::future::join_all;
use serde::Serialize;
use std::collections::BTreeMap;
use std::future::Future;
use std::net::Ipv4Addr;
use std::sync::Mutex;
use std::time::Duration;

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
pub trait RouteTables: Send + Sync + 'static {
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

    /// The attempts of route writes that failed since last asked, retried by the client
    /// itself (an SDK's retry strategy) — those a caller saw no error for included.
    fn failed_attempts(&self) -> Vec<String> {
        Vec::new()
    }
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
    /// Every error met on the way, also those a later round's retry made good (`round N:
    /// …`): a move that needed retries says so in its record.
    pub errors: Vec<String>,
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
        errors: Vec::new(),
    };
    let mut todo: Vec<String> = tables.to_vec();
    for round in 1..=rounds.max(1) {
        report.rounds = round;
        let results = join_all(todo.iter().map(|t| routes.point(t, vip, eni))).await;
        for e in routes.failed_attempts() {
            report.errors.push(format!("round {round}: an attempt: {e}"));
        }
        for (t, r) in todo.iter().zip(results) {
            let r = r.map_err(|e| e.to_string());
            if let Err(e) = &r {
                report.errors.push(format!("round {round}: {t}: {e}"));
            }
            report.tables.insert(t.clone(), r);
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
                report.errors.push(format!("round {round}: read-back: {e}"));
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

/// What [`Vip::prepare`] found: the route tables and each node's ENI.
#[derive(Debug, Clone, Default)]
struct Resolved {
    tables: Vec<String>,
    /// node → ENI
    enis: BTreeMap<String, String>,
}

/// A route-table VIP on one cluster.
pub struct RouteTableVip<R> {
    routes: R,
    cfg: RouteTableVipConfig,
    /// Write rounds of a move, and the pause between them.
    rounds: u32,
    pause: Duration,
    /// Set by [`Vip::prepare`]; until then the VIP cannot be observed or moved.
    resolved: Mutex<Option<Resolved>>,
}

impl<R: RouteTables> RouteTableVip<R> {
    /// The VIP of `cfg`, moved in at most `rounds` write rounds `pause` apart.
    pub fn new(routes: R, cfg: RouteTableVipConfig, rounds: u32, pause: Duration) -> Self {
        RouteTableVip {
            routes,
            cfg,
            rounds,
            pause,
            resolved: Mutex::new(None),
        }
    }

    /// What `prepare` found. No route table at all (ids and tag matched none) is not a VIP
    /// already in place: a move over zero tables would verify vacuously and a read would find
    /// no part leading elsewhere, so both are refused.
    fn resolved(&self) -> Result<Resolved, VipError> {
        let r = self
            .resolved
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
            .ok_or_else(|| VipError::NotReady("the route tables and ENIs are not resolved yet".into()))?;
        if r.tables.is_empty() {
            return Err(VipError::Lookup(
                "no route table found for the VIP (vip.route_tables / vip.route_table_tag matched none): nothing to read or move".into(),
            ));
        }
        Ok(r)
    }
}

impl<R: RouteTables> Vip for RouteTableVip<R> {
    async fn prepare(&self, nodes: &[NodeConfig]) -> Result<Vec<String>, VipError> {
        let tables = self
            .routes
            .discover(&self.cfg.route_tables, self.cfg.route_table_tag.as_deref())
            .await?;
        let wanted: Vec<(String, String, Option<String>)> = nodes
            .iter()
            .map(|n| (n.name.clone(), n.address.clone(), n.eni.clone()))
            .collect();
        let interfaces = self.routes.interfaces(&wanted).await?;
        let mut problems = check(&self.routes, &tables, self.cfg.address, &interfaces).await?;
        if problems.is_empty() {
            tracing::info!(
                "VIP {}: {} route tables ({}), ENIs {}",
                self.cfg.address,
                tables.len(),
                tables.join(", "),
                interfaces
                    .iter()
                    .map(|i| format!("{}={}", i.node, i.eni))
                    .collect::<Vec<_>>()
                    .join(", ")
            );
        }
        let enis = interfaces.into_iter().map(|i| (i.node, i.eni)).collect();
        *self.resolved.lock().unwrap_or_else(|e| e.into_inner()) = Some(Resolved { tables, enis });
        problems.sort();
        Ok(problems)
    }

    async fn observe(&self) -> Result<VipState, VipError> {
        let r = self.resolved()?;
        let targets = self.routes.targets(&r.tables, self.cfg.address).await?;
        let node_of = |eni: &Option<String>| {
            eni.as_ref()
                .and_then(|e| r.enis.iter().find(|(_, x)| *x == e).map(|(n, _)| n.clone()))
        };
        let parts: BTreeMap<String, Option<String>> =
            targets.iter().map(|(t, eni)| (t.clone(), node_of(eni))).collect();
        let detail = serde_json::json!({
            "route_tables": targets
                .iter()
                .map(|(t, eni)| (t.clone(), serde_json::json!({"eni": eni, "node": node_of(eni)})))
                .collect::<BTreeMap<_, _>>(),
        });
        Ok(VipState::from_parts(parts, detail))
    }

    async fn point_at(&self, node: &str) -> Result<VipMoved, VipError> {
        let r = self.resolved()?;
        let eni = r
            .enis
            .get(node)
            .ok_or_else(|| VipError::Lookup(format!("no ENI known for {node}")))?;
        let report = move_vip(&self.routes, &r.tables, self.cfg.address, eni, self.rounds, self.pause).await;
        if report.verified {
            let mut detail = format!(
                "{} route tables → {eni}, verified ({} write rounds)",
                r.tables.len(),
                report.rounds
            );
            if !report.errors.is_empty() {
                detail.push_str(&format!("; retried after: {}", report.errors.join("; ")));
            }
            return Ok(VipMoved { detail });
        }
        let errors: Vec<String> = report
            .tables
            .iter()
            .filter_map(|(t, res)| res.as_ref().err().map(|e| format!("{t}: {e}")))
            .collect();
        Err(VipError::NotMoved(format!(
            "route tables not pointing at {eni} after {} rounds: {}; errors: {errors:?}",
            report.rounds,
            report.wrong.join(", ")
        )))
    }
}

//! Candidate selection: which replica to promote, pure and unit-tested.
//!
//! Order: most *received* transactions (MariaDB `Gtid_IO_Pos`, MySQL retrieved ∪ executed),
//! then `priority`, then config order. Never a `no_promote` node, a node with errant
//! transactions, a broken applier, or a node that does not replicate from the dead master.
//! If the best eligible node is behind the most advanced replica (which is not eligible
//! itself, e.g. `no_promote`), it first catches up from that replica: semi-sync guarantees
//! every acknowledged commit is on *some* replica, not on the one we like best.

use crate::config::{ClusterConfig, NodeConfig};
use crate::gtid::Gtids;
use crate::model::{Candidates, Ranked, Rejected};
use crate::topology::{ReplicaStatus, Snapshot};
use std::collections::{BTreeMap, BTreeSet};

/// Nodes that may not be promoted whatever they received, and why: those the detector saw
/// with errant transactions while the master was up, and those marked for rebuild (diverged,
/// or being bootstrapped from a backup).
pub fn excluded(errant: &BTreeSet<String>, needs_rebuild: &BTreeMap<String, String>) -> BTreeMap<String, String> {
    let mut out: BTreeMap<String, String> = errant
        .iter()
        .map(|n| (n.clone(), "errant transactions".to_string()))
        .collect();
    for (n, why) in needs_rebuild {
        out.entry(n.clone())
            .or_insert_with(|| format!("marked for rebuild: {why}"));
    }
    out
}

/// Choose the node to promote in place of `old_master`, from the latest snapshot, never one
/// of `excluded` (see [`excluded`]).
pub fn choose(
    snapshot: &Snapshot,
    cluster: &ClusterConfig,
    old_master: &str,
    excluded: &BTreeMap<String, String>,
) -> Candidates {
    let master_cfg = cluster.node(old_master);
    let mut rejected = Vec::new();
    // (node index, received, priority, applied)
    let mut pool: Vec<(usize, Gtids, i32, u128)> = Vec::new();
    for (i, n) in cluster.nodes.iter().enumerate() {
        if n.name == old_master {
            continue;
        }
        let reject = |reason: String| Rejected {
            node: n.name.clone(),
            reason,
        };
        let Some(obs) = snapshot.node(&n.name) else {
            rejected.push(reject("not in the snapshot".into()));
            continue;
        };
        let st = match &obs.state {
            Ok(s) => s,
            Err(e) => {
                rejected.push(reject(format!("unreachable: {e}")));
                continue;
            }
        };
        let Some(r) = &st.replica else {
            rejected.push(reject("not a replica".into()));
            continue;
        };
        if master_cfg.is_some_and(|m| m.address != r.master_host || m.port != r.master_port) {
            rejected.push(reject(format!(
                "replicates from {}:{}, not from {old_master}",
                r.master_host, r.master_port
            )));
            continue;
        }
        // Ranked even when not eligible: it may hold transactions others need.
        pool.push((i, st.received(), n.priority, st.executed.weight()));
        if let Some(why) = ineligible(n, r, excluded) {
            rejected.push(reject(why));
        }
    }
    // Most received first (weight agrees with GTID containment), then priority, then the
    // most applied (the shortest catch-up: lossless waits for all of it), then config order.
    pool.sort_by(|a, b| {
        (b.1.weight().cmp(&a.1.weight()))
            .then(b.2.cmp(&a.2))
            .then(b.3.cmp(&a.3))
            .then(a.0.cmp(&b.0))
    });
    let name = |i: usize| cluster.nodes[i].name.clone();
    let is_rejected = |n: &str| rejected.iter().any(|r| r.node == n);
    let ranking: Vec<Ranked> = pool
        .iter()
        .map(|(i, g, p, _)| Ranked {
            node: name(*i),
            received: g.to_string(),
            priority: *p,
        })
        .collect();
    let most = pool.first();
    // Among eligible nodes with the same (most) history, priority decides; among the rest,
    // the most advanced eligible one.
    let chosen = pool.iter().find(|(i, _, _, _)| !is_rejected(&cluster.nodes[*i].name));
    let donors: Vec<String> = pool
        .iter()
        .map(|(i, _, _, _)| name(*i))
        .filter(|n| !excluded.contains_key(n) && applies(snapshot, n))
        .collect();
    let catch_up_from = chosen.and_then(|c| donor(snapshot, &c.1, &donors));
    Candidates {
        old_master: old_master.to_string(),
        ranking,
        chosen: chosen.map(|c| name(c.0)),
        most_advanced: most.map(|m| name(m.0)),
        catch_up_from,
        donors,
        rejected,
    }
}

/// Why a ranked replica may not be promoted, if it may not.
fn ineligible(n: &NodeConfig, r: &ReplicaStatus, excluded: &BTreeMap<String, String>) -> Option<String> {
    if n.no_promote {
        return Some("no_promote".into());
    }
    // A stopped applier without an error (a DBA's STOP SLAVE SQL_THREAD, a paused applier) is
    // not a broken one: the catch-up starts it.
    if let (false, Some(why)) = (r.sql_running, r.last_sql_error.as_deref()) {
        return Some(format!("SQL thread not running: {why}"));
    }
    excluded.get(&n.name).cloned()
}

/// Can `node`'s applier apply what it received (running, or stopped without an error: the
/// catch-up starts it), so that it can serve it?
fn applies(snapshot: &Snapshot, node: &str) -> bool {
    snapshot
        .node(node)
        .and_then(|o| o.ok())
        .and_then(|s| s.replica.as_ref())
        .is_some_and(|r| r.sql_running || r.last_sql_error.is_none())
}

/// The replica `chosen` must catch up from first: the most advanced of `donors`, when it
/// received what `chosen` has not. Never a node with errant transactions: the new master
/// would inherit them (and `MASTER_GTID_WAIT` on it would wait for its own GTIDs, which its
/// replica position never reaches).
fn donor(snapshot: &Snapshot, chosen: &Gtids, donors: &[String]) -> Option<String> {
    let d = donors.first()?;
    let st = snapshot.node(d).and_then(|o| o.ok())?;
    (chosen.contains(&st.received()) != Some(true)).then(|| d.clone())
}

impl Candidates {
    /// The same selection with `node` promoted instead (a DBA's choice), if it is eligible.
    pub fn prefer(mut self, node: &str, snapshot: &Snapshot) -> Result<Candidates, String> {
        if let Some(r) = self.rejected.iter().find(|r| r.node == node) {
            return Err(format!("{node} cannot be promoted: {}", r.reason));
        }
        if !self.ranking.iter().any(|r| r.node == node) {
            return Err(format!("{node} is not a replica of {}", self.old_master));
        }
        let received = snapshot
            .node(node)
            .and_then(|o| o.ok())
            .map(|s| s.received())
            .ok_or_else(|| format!("{node} is not reachable"))?;
        let donors: Vec<String> = self.donors.iter().filter(|d| *d != node).cloned().collect();
        self.catch_up_from = donor(snapshot, &received, &donors);
        self.chosen = Some(node.to_string());
        Ok(self)
    }
}

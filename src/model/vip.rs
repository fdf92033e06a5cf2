//! The floating IP as its implementation observed it, in nodes: which node each part of it
//! (a route table, …) leads to, and the implementation's own detail for the API.

use serde::Serialize;
use std::collections::BTreeMap;

/// Where the VIP leads.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct VipState {
    /// The node every part leads to; `None` when they disagree, or lead to no node.
    pub target: Option<String>,
    /// Each part (a route table, …) and the node it leads to (`None`: to no node).
    pub parts: BTreeMap<String, Option<String>>,
    /// What the implementation adds for people (route tables: the ENI each points at).
    pub detail: serde_json::Value,
}

impl VipState {
    /// From its parts: the target is the one node they all lead to.
    pub fn from_parts(parts: BTreeMap<String, Option<String>>, detail: serde_json::Value) -> Self {
        let mut targets = parts.values();
        let first = targets.next().cloned().flatten();
        let target = first.filter(|f| targets.all(|t| t.as_deref() == Some(f.as_str())));
        VipState { target, parts, detail }
    }

    /// The parts that do not lead to `node`.
    pub fn not_at(&self, node: &str) -> Vec<String> {
        self.parts
            .iter()
            .filter(|(_, n)| n.as_deref() != Some(node))
            .map(|(p, _)| p.clone())
            .collect()
    }
}

//! A floating IP in memory: parts (route tables, say) that each lead to a node.

use crate::config::NodeConfig;
use crate::model::VipState;
use crate::vip::{Vip, VipError, VipMoved};
use std::collections::BTreeMap;
use std::sync::Mutex;

/// A VIP of named parts; a move points every part at the node, unless told to fail.
#[derive(Debug, Default)]
pub struct FakeVip {
    /// part → node it leads to
    pub parts: Mutex<BTreeMap<String, Option<String>>>,
    /// Every move fails (the API is down).
    pub fail: Mutex<bool>,
    /// Nodes it was pointed at, in order.
    pub moves: Mutex<Vec<String>>,
}

impl FakeVip {
    /// Two parts, `rt-a` and `rt-b`, leading to `node` (or nowhere).
    pub fn at(node: Option<&str>) -> Self {
        let v = FakeVip::default();
        *v.parts.lock().unwrap() = ["rt-a", "rt-b"]
            .iter()
            .map(|p| (p.to_string(), node.map(str::to_string)))
            .collect();
        v
    }

    /// Does every part lead to `node`?
    pub fn all_at(&self, node: &str) -> bool {
        let p = self.parts.lock().unwrap();
        !p.is_empty() && p.values().all(|n| n.as_deref() == Some(node))
    }

    /// Was it never moved?
    pub fn untouched(&self) -> bool {
        self.moves.lock().unwrap().is_empty()
    }
}

impl Vip for FakeVip {
    async fn prepare(&self, _nodes: &[NodeConfig]) -> Result<Vec<String>, VipError> {
        Ok(Vec::new())
    }

    async fn observe(&self) -> Result<VipState, VipError> {
        Ok(VipState::from_parts(
            self.parts.lock().unwrap().clone(),
            serde_json::Value::Null,
        ))
    }

    async fn point_at(&self, node: &str) -> Result<VipMoved, VipError> {
        if *self.fail.lock().unwrap() {
            return Err(VipError::NotMoved(format!(
                "rt-a, rt-b not pointing at {node}: the API is down"
            )));
        }
        self.moves.lock().unwrap().push(node.to_string());
        for v in self.parts.lock().unwrap().values_mut() {
            *v = Some(node.to_string());
        }
        Ok(VipMoved {
            detail: format!("2 parts → {node}, verified"),
        })
    }
}

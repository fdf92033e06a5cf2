//! The VIP's cloud API as a model: parts (route tables) that each lead to a node, with the
//! faults of a cloud API — latency, throttled writes, an API that hangs, a read-back that
//! shows a write only after a while (eventual consistency).

use super::World;
use crate::config::NodeConfig;
use crate::model::VipState;
use crate::vip::{Vip, VipError, VipMoved};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::time::{sleep, Instant};

/// One API call's bound (`[ec2] call_timeout`).
pub const CALL_TIMEOUT: Duration = Duration::from_millis(1500);
/// Write rounds of a move (`[failover] vip_rounds`) and their pause.
const ROUNDS: u32 = 3;
const PAUSE: Duration = Duration::from_millis(200);

/// The VIP as the cloud keeps it.
#[derive(Debug, Clone)]
pub struct VipModel {
    /// Each part and the node it really leads to: what clients reach.
    pub parts: BTreeMap<String, Option<String>>,
    /// What a read shows, until when it shows it (eventual consistency).
    stale: BTreeMap<String, (Option<String>, Instant)>,
    /// The API answers nothing (a hang): every call takes its whole timeout.
    pub hung: bool,
    /// Chance that one write is throttled (fails).
    pub throttle: f64,
    /// How long a write takes to show in reads.
    pub read_lag: Duration,
}

impl VipModel {
    /// `parts`, all leading to `node`.
    pub fn new(parts: &[&str], node: &str) -> Self {
        VipModel {
            parts: parts.iter().map(|p| (p.to_string(), Some(node.to_string()))).collect(),
            stale: BTreeMap::new(),
            hung: false,
            throttle: 0.0,
            read_lag: Duration::ZERO,
        }
    }

    /// Where the client subnet of `part` reaches (the first part when unnamed).
    pub fn route(&self, part: Option<&str>) -> Option<String> {
        match part {
            Some(p) => self.parts.get(p).cloned().flatten(),
            None => self.parts.values().next().cloned().flatten(),
        }
    }

    fn read(&self, now: Instant) -> BTreeMap<String, Option<String>> {
        self.parts
            .iter()
            .map(|(p, n)| match self.stale.get(p) {
                Some((old, until)) if now < *until => (p.clone(), old.clone()),
                _ => (p.clone(), n.clone()),
            })
            .collect()
    }
}

/// A manager's client of the VIP's API.
#[derive(Clone)]
pub struct SimVip {
    /// The world.
    pub world: Arc<Mutex<World>>,
    /// The manager's host.
    pub host: String,
}

impl SimVip {
    /// Reach the API: latency, or the whole timeout when it hangs or is cut off.
    async fn call(&self, op: &'static str) -> Result<(), VipError> {
        let (mut rx, latency, ok) = {
            let mut w = self.world.lock().unwrap_or_else(|e| e.into_inner());
            let ok = w.net.reachable(&self.host, "aws") && !w.vip.hung;
            (w.pause_rx(&self.host), w.latency(), ok)
        };
        while *rx.borrow_and_update() {
            if rx.changed().await.is_err() {
                break;
            }
        }
        if ok {
            sleep(latency).await;
            return Ok(());
        }
        sleep(CALL_TIMEOUT).await;
        Err(VipError::Transport {
            op,
            target: "the VIP".into(),
            message: "no answer (timed out)".into(),
        })
    }
}

impl Vip for SimVip {
    async fn prepare(&self, _nodes: &[NodeConfig]) -> Result<Vec<String>, VipError> {
        self.call("DescribeRouteTables").await?;
        Ok(Vec::new())
    }

    async fn observe(&self) -> Result<VipState, VipError> {
        self.call("DescribeRouteTables").await?;
        let w = self.world.lock().unwrap_or_else(|e| e.into_inner());
        Ok(VipState::from_parts(
            w.vip.read(Instant::now()),
            serde_json::Value::Null,
        ))
    }

    async fn point_at(&self, node: &str) -> Result<VipMoved, VipError> {
        for round in 1..=ROUNDS {
            self.call("ReplaceRoute").await?;
            let view = {
                let mut w = self.world.lock().unwrap_or_else(|e| e.into_inner());
                let now = Instant::now();
                if crate::model::lease::current().is_none() {
                    w.violations
                        .push(format!("(c) {} moved the VIP without a lease", self.host));
                }
                crate::vip::lease_check("ReplaceRoute")?;
                let parts: Vec<String> = w.vip.parts.keys().cloned().collect();
                for p in parts {
                    if w.vip.parts.get(&p).cloned().flatten().as_deref() == Some(node) {
                        continue;
                    }
                    let throttled = w.vip.throttle > 0.0 && w.rng.f64() < w.vip.throttle;
                    if throttled {
                        continue;
                    }
                    w.record_mutation(&self.host, "vip", "point the VIP");
                    let old = w.vip.parts.insert(p.clone(), Some(node.to_string())).flatten();
                    let lag = w.vip.read_lag;
                    if lag > Duration::ZERO {
                        w.vip.stale.insert(p, (old, now + lag));
                    }
                }
                w.vip.read(now)
            };
            self.call("DescribeRouteTables").await?;
            if view.values().all(|n| n.as_deref() == Some(node)) {
                return Ok(VipMoved {
                    detail: format!("{} parts → {node}, verified ({round} write rounds)", view.len()),
                });
            }
            if round < ROUNDS {
                sleep(PAUSE).await;
            }
        }
        Err(VipError::NotMoved(format!(
            "not every part leads to {node} after {ROUNDS} rounds"
        )))
    }
}

//! The VIP as the loop sees it: prepared once per set of nodes, observed now and then.

use super::ClusterLoop;
use crate::coord::elector::Leadership;
use crate::coord::Store;
use crate::mysql::MysqlAdmin;
use crate::vip::Vip;
use std::time::Duration;
use tokio::time::Instant;
use tracing::{error, warn};

/// How often the leader observes the VIP outside of failovers.
const VIP_REFRESH: Duration = Duration::from_secs(2);
/// How often a standby does: it only reports it, and every read of a cloud API counts
/// against the account's rate limit, shared by every manager and cluster.
const VIP_REFRESH_STANDBY: Duration = Duration::from_secs(30);

impl<A: MysqlAdmin, V: Vip, S: Store, L: Leadership> ClusterLoop<A, V, S, L> {
    /// Let the VIP resolve what it needs and report what is wrong with it. Retried every
    /// round until it works: the manager probes and decides without it.
    pub(super) async fn prepare_vip(&mut self) {
        match self.vip.prepare(&self.cluster.nodes).await {
            Ok(problems) => {
                for p in problems {
                    error!(cluster = %self.name(), "VIP misconfiguration: {p}");
                }
                self.memory.vip_ready = true;
            }
            Err(e) => warn!(cluster = %self.name(), error = %e, "cannot prepare the VIP yet"),
        }
    }

    /// Observe the VIP when it is due (`leads`: the leader's cadence).
    pub(super) async fn refresh_vip(&mut self, leads: bool) {
        if !self.memory.vip_ready {
            self.prepare_vip().await;
            if !self.memory.vip_ready {
                return;
            }
        }
        let every = if leads { VIP_REFRESH } else { VIP_REFRESH_STANDBY };
        if self.memory.vip.as_ref().is_some_and(|(at, _)| at.elapsed() < every) {
            return;
        }
        match self.vip.observe().await {
            Ok(state) => self.memory.vip = Some((Instant::now(), state)),
            Err(e) => {
                warn!(cluster = %self.name(), error = %e, "cannot observe the VIP");
                self.memory.vip = None;
            }
        }
    }
}

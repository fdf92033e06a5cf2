//! Nodes registered at run time (`myha bootstrap` of a host the configuration lacks): every
//! manager reads the registry now and then and watches new nodes from then on.

use super::ClusterLoop;
use crate::coord::elector::Leadership;
use crate::coord::Store;
use crate::detect::History;
use crate::mysql::MysqlAdmin;
use crate::vip::Vip;
use std::sync::Arc;
use std::time::Duration;
use tokio::time::Instant;
use tracing::{info, warn};

/// How often the nodes registered at run time are read.
const MEMBERS_REFRESH: Duration = Duration::from_secs(5);

impl<A: MysqlAdmin, V: Vip, S: Store, L: Leadership> ClusterLoop<A, V, S, L> {
    /// Watch the nodes a bootstrap registered (not in the configuration) from now on.
    pub(super) async fn refresh_members(&mut self) {
        if self
            .memory
            .last_members_check
            .is_some_and(|t| t.elapsed() < MEMBERS_REFRESH)
        {
            return;
        }
        self.memory.last_members_check = Some(Instant::now());
        let Ok(registered) = self.store.registered_nodes(self.name()).await else {
            return;
        };
        let mut cluster = (*self.cluster).clone();
        let mut added = Vec::new();
        for n in registered {
            if cluster.node(&n.name).is_some() {
                continue;
            }
            if cluster.nodes.iter().any(|m| m.address == n.address && m.port == n.port) {
                warn!(cluster = %self.name(), "registered node {} uses {}:{} like a configured node: ignored", n.name, n.address, n.port);
                continue;
            }
            added.push(n.name.clone());
            cluster.nodes.push(n);
        }
        if added.is_empty() {
            return;
        }
        info!(cluster = %self.name(), "watching {} from now on (registered by `myha bootstrap`)", added.join(", "));
        self.cluster = Arc::new(cluster);
        self.prober.set_cluster(self.cluster.clone());
        // detection starts over on the new set of nodes; the VIP prepares for them afresh
        self.history = History::new(&self.timing);
        self.prepare_vip_again();
    }
}

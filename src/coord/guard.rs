//! The guard of a failover's irreversible steps (promote, route move): Orchestrator's
//! "registration of a recovery is the mutex" plus Patroni's leader check. Before each step
//! the manager confirms with the coordinator that it still leads the cluster in the term
//! the failover started in, and that nobody changed the master since (the epoch).

use super::elector::Leadership;
use super::Store;
use crate::failover::Guard;

/// Leadership and epoch, as they were when the failover started.
pub struct TermGuard<'a, L, S> {
    /// The leadership handle.
    pub lead: &'a L,
    /// The shared state.
    pub store: &'a S,
    /// The cluster.
    pub cluster: &'a str,
    /// The term the failover started in.
    pub term: i64,
    /// The epoch the failover started from.
    pub epoch: u64,
}

impl<L: Leadership, S: Store> Guard for TermGuard<'_, L, S> {
    async fn may_act(&self, step: &str) -> Result<(), String> {
        self.lead
            .confirm(self.cluster, self.term)
            .await
            .map_err(|e| format!("leadership lost before {step}: {e}"))?;
        let st = self
            .store
            .load(self.cluster)
            .await
            .map_err(|e| format!("cannot re-read the cluster state before {step}: {e}"))?;
        if st.value.epoch != self.epoch {
            return Err(format!(
                "the cluster's epoch is {} but this failover started at {}: the master changed meanwhile",
                st.value.epoch, self.epoch
            ));
        }
        Ok(())
    }
}

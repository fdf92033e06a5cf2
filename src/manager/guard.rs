//! The guard of a failover's irreversible steps (promote, route move): Orchestrator's
//! "registration of a recovery is the mutex" plus Patroni's leader check. Before each step
//! the manager confirms with the coordinator that it still leads the cluster in the term
//! the failover started in, and that nobody changed the master since (the epoch).

use crate::coord::elector::Leadership;
use crate::coord::Store;
use crate::failover::{Guard, GuardError};
use crate::model::Lease;

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
    async fn may_act(&self, step: &str) -> Result<Lease, GuardError> {
        let until = self
            .lead
            .confirm(self.cluster, self.term)
            .await
            .map_err(|source| GuardError::Lead {
                step: step.to_string(),
                source,
            })?;
        let st = self
            .store
            .load(self.cluster)
            .await
            .map_err(|source| GuardError::Store {
                step: step.to_string(),
                source,
            })?;
        if st.value.epoch != self.epoch {
            return Err(GuardError::EpochMoved {
                found: st.value.epoch,
                started: self.epoch,
            });
        }
        Ok(Lease { term: self.term, until })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::coord::elector::LeadError;
    use crate::coord::fake::{elector as manager, step, World};
    use crate::coord::lead::Coordinator;
    use crate::coord::update;
    use crate::model::Standing;

    #[tokio::test(start_paused = true)]
    async fn the_guard_refuses_a_lost_term_and_a_changed_epoch() {
        let world = World::default();
        let (mut a, ha, ca) = manager(&world, "mgr1", &["c1"]);
        step(&mut a).await;
        step(&mut a).await;
        let Standing::Leader { term } = ha.standing("c1") else {
            panic!("a leads")
        };
        update(ca.as_ref(), "c1", |s| s.epoch = 3).await.expect("save");
        let guard = TermGuard {
            lead: &ha,
            store: ca.as_ref(),
            cluster: "c1",
            term,
            epoch: 3,
        };
        let lease = guard.may_act("promote").await.expect("the leader may act");
        assert_eq!(lease.term, term);
        assert!(!lease.ended());

        // another manager recorded a new master meanwhile
        let other = world.client();
        other.connect().await.expect("connect");
        update(&other, "c1", |s| s.epoch = 4).await.expect("save");
        let e = guard.may_act("promote").await.unwrap_err();
        assert_eq!(e, GuardError::EpochMoved { found: 4, started: 3 });

        // the lead is lost: refused whatever the epoch
        let guard = TermGuard { epoch: 4, ..guard };
        world.expire(ca.session().0);
        let e = guard.may_act("move VIP").await.unwrap_err();
        assert!(
            matches!(&e, GuardError::Lead { step, source: LeadError::NotConnected(_) } if step == "move VIP"),
            "{e}"
        );
        assert!(e.to_string().starts_with("leadership lost before move VIP"), "{e}");
    }
}

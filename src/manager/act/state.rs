//! Actions on the shared state only: adopt a moved master, mark a diverged node for rebuild,
//! unmark a rebuilt one, arm the anti-flap block once the failover's master served. Each is a compare-and-set on the epoch the decision saw.

use super::{now, Act, Done};
use crate::coord::Store;
use crate::failover::{Guard, StepError};
use crate::model::ActionKind;
use crate::mysql::MysqlAdmin;
use crate::vip::Vip;

impl<A: MysqlAdmin, V: Vip, S: Store, G: Guard> Act<'_, A, V, S, G> {
    /// Record `master` as the master of record in place of `previous`.
    pub async fn adopt(&self, master: &str, previous: Option<&str>, decision: &str) -> Done {
        let started = now();
        let r = async {
            let v = self
                .update_shared(&format!("adopt {master}"), |st| {
                    st.master = Some(master.to_string());
                    st.epoch += 1;
                })
                .await?;
            if v.value.master.as_deref() != Some(master) {
                return Err(StepError::Plan(format!("the master of record is not {master}")));
            }
            Ok(format!(
                "{master} is the master of record (epoch {}, was {})",
                v.value.epoch,
                previous.unwrap_or("none")
            ))
        }
        .await;
        self.audit(ActionKind::Adopt, master, decision, started, r).await
    }

    /// Mark `node` for rebuild, `why` (it has transactions the master has not, its
    /// replication stopped on an error).
    pub async fn mark_rebuild(&self, node: &str, why: &str, decision: &str) -> Done {
        let started = now();
        let r = async {
            self.update_shared(&format!("mark {node} for rebuild"), |st| {
                st.needs_rebuild.insert(node.to_string(), why.to_string());
            })
            .await?;
            Ok(format!("{node} is marked for rebuild: {why}"))
        }
        .await;
        self.audit(ActionKind::MarkRebuild, node, decision, started, r).await
    }

    /// Unmark `node`: it replicates healthily again.
    pub async fn unmark(&self, node: &str, decision: &str) -> Done {
        let started = now();
        let r = async {
            self.update_shared(&format!("unmark {node}"), |st| {
                st.needs_rebuild.remove(node);
            })
            .await?;
            Ok(format!("{node} is no longer marked for rebuild"))
        }
        .await;
        self.audit(ActionKind::Unmark, node, decision, started, r).await
    }

    /// Arm the block `failover` set: its master, `master`, served.
    pub async fn arm_block(&self, master: &str, failover: &str, decision: &str) -> Done {
        let started = now();
        let r = async {
            let v = self
                .update_shared(&format!("arm the block of failover {failover}"), |st| {
                    if let Some(b) = st.block.as_mut().filter(|b| b.failover == failover) {
                        b.armed = true;
                    }
                })
                .await?;
            match v.value.block.as_ref().filter(|b| b.failover == failover) {
                Some(b) => Ok(format!("automatic failover blocked until {}", b.until)),
                None => Err(StepError::Plan(format!("the block is no longer failover {failover}'s"))),
            }
        }
        .await;
        self.audit(ActionKind::ArmBlock, master, decision, started, r).await
    }
}

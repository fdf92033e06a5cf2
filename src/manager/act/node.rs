//! Actions on one database node: fence a stale master, rejoin a returning node as a replica,
//! set a master's semi-sync to the lossless policy, make a read-only master of record
//! writable again.

use super::{now, Act, Done};
use crate::coord::Store;
use crate::failover::Guard;
use crate::flavor::StartFrom;
use crate::model::{lease, ActionKind, SemiSyncPolicy};
use crate::mysql::MysqlAdmin;
use crate::vip::Vip;
use std::time::Duration;

/// The fence's bound outside a failover (within one it is `fence_timeout`): a thawed master
/// may need a round of killing sessions and a retried `read_only`.
const FENCE_AT_LEAST: Duration = Duration::from_secs(2);

impl<A: MysqlAdmin, V: Vip, S: Store, G: Guard> Act<'_, A, V, S, G> {
    /// Make `node` — writable, not the master — read-only and end its client sessions.
    pub async fn fence(&self, node: &str, decision: &str) -> Done {
        let started = now();
        let r = async {
            let n = self.node(node)?;
            let lease = self.guard.may_act(&format!("fence {node}")).await?;
            let fence = self.admin.fence(n, self.failover.fence_timeout.max(FENCE_AT_LEAST));
            let f = lease::under(lease, fence).await?;
            Ok(format!("read_only=ON, {} client sessions ended", f.sessions_killed))
        }
        .await;
        self.audit(ActionKind::Fence, node, decision, started, r).await
    }

    /// Make `node` a read-only replica of `master`, from `from`.
    pub async fn rejoin(&self, node: &str, master: &str, from: StartFrom, decision: &str) -> Done {
        let started = now();
        let limit = self.failover.repoint_timeout;
        let r = async {
            let (n, m) = (self.node(node)?, self.node(master)?);
            let lease = self.guard.may_act(&format!("set {node} read-only")).await?;
            lease::under(lease, self.admin.set_read_only(n, true, limit)).await?;
            let lease = self.guard.may_act(&format!("point {node} at {master}")).await?;
            lease::under(lease, self.admin.replicate_from(n, m, from, limit)).await?;
            Ok(format!("{node} replicates from {master}"))
        }
        .await;
        self.audit(ActionKind::Rejoin, node, decision, started, r).await
    }

    /// Set `master`'s semi-sync to `policy`.
    pub async fn semi_sync(&self, master: &str, policy: SemiSyncPolicy, decision: &str) -> Done {
        let started = now();
        let r = async {
            let n = self.node(master)?;
            let lease = self.guard.may_act(&format!("set semi-sync on {master}")).await?;
            let set = self.admin.set_semi_sync(n, policy, self.failover.repoint_timeout);
            lease::under(lease, set).await?;
            Ok(format!(
                "AFTER_SYNC, timeout {} ms, waits without replicas",
                policy.timeout.as_millis()
            ))
        }
        .await;
        self.audit(ActionKind::SemiSync, master, decision, started, r).await
    }

    /// Make the master of record `master` writable again, its semi-sync set to `policy` first
    /// (a restarted server may come back without it, and must not acknowledge alone).
    pub async fn reopen(&self, master: &str, policy: Option<SemiSyncPolicy>, decision: &str) -> Done {
        let started = now();
        let limit = self.failover.repoint_timeout;
        let r = async {
            let n = self.node(master)?;
            if let Some(p) = policy {
                let lease = self.guard.may_act(&format!("set semi-sync on {master}")).await?;
                lease::under(lease, self.admin.set_semi_sync(n, p, limit)).await?;
            }
            let lease = self.guard.may_act(&format!("make {master} writable")).await?;
            lease::under(lease, self.admin.set_read_only(n, false, limit)).await?;
            Ok(format!("{master} takes writes again"))
        }
        .await;
        self.audit(ActionKind::Reopen, master, decision, started, r).await
    }
}

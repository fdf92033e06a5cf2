//! Point the VIP at the master again, outside a failover (a part of it that leads elsewhere).

use super::{now, Act, Done};
use crate::coord::Store;
use crate::failover::Guard;
use crate::model::{lease, ActionKind};
use crate::mysql::MysqlAdmin;
use crate::vip::Vip;

impl<A: MysqlAdmin, V: Vip, S: Store, G: Guard> Act<'_, A, V, S, G> {
    /// Point the VIP at `master`, verified; record it as the VIP's target.
    pub async fn repair_vip(&self, master: &str, decision: &str) -> Done {
        let started = now();
        let r = async {
            let lease = self.guard.may_act(&format!("point the VIP at {master}")).await?;
            let moved = lease::under(lease, self.vip.point_at(master)).await?;
            self.update_shared("record the VIP's target", |st| st.vip = Some(master.to_string()))
                .await?;
            Ok(moved.detail)
        }
        .await;
        self.audit(ActionKind::VipRepair, master, decision, started, r).await
    }
}

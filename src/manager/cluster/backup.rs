//! Scheduled backups: the leader notices that the newest catalogued backup is older than
//! `[backup] every` and asks the backup agent (`myha backup-agent`) on the chosen replica's
//! host for one — backups read a datadir locally, so they run there, not on a manager. The
//! request has its own slot in the shared state (a backup takes long and must not hold up a
//! switchover) and expires if no agent starts it.

use super::ClusterLoop;
use crate::backup::source;
use crate::coord::elector::Leadership;
use crate::coord::{self, Store};
use crate::failover::Guard;
use crate::model::{id_time, timestamp, unix_ms, BackupRequest};
use crate::mysql::MysqlAdmin;
use crate::topology::Snapshot;
use crate::vip::Vip;
use std::time::Duration;
use tokio::time::Instant;
use tracing::{info, warn};

/// How long an agent has to start a requested backup.
const START_WITHIN: Duration = Duration::from_secs(600);

impl<A: MysqlAdmin, V: Vip, S: Store, L: Leadership> ClusterLoop<A, V, S, L> {
    /// On the leader: request a backup if one is due.
    pub(super) async fn schedule_backup(&mut self, snap: &Snapshot, term: i64, epoch: u64) {
        let Some((every, allow_master)) = self.backup_every else {
            return;
        };
        // the catalogue is read now and then, not every round
        let check_every = (every / 10).clamp(Duration::from_secs(5), Duration::from_secs(60));
        if self.memory.last_backup_check.is_some_and(|t| t.elapsed() < check_every) {
            return;
        }
        self.memory.last_backup_check = Some(Instant::now());
        let now = crate::model::time::now();
        let now_ms = unix_ms(now);
        if self.shared.backup.as_ref().is_some_and(|r| now_ms < r.expires_ms) {
            return;
        }
        let newest = match self.store.backups(self.name()).await {
            Ok(b) => b.into_iter().next(),
            Err(e) => {
                warn!(cluster = %self.name(), error = %e, "cannot read the backup catalogue");
                return;
            }
        };
        let age = newest
            .as_ref()
            .and_then(|b| humantime::parse_rfc3339_weak(&b.finished_at).ok())
            .and_then(|t| now.duration_since(t).ok());
        if age.is_some_and(|a| a < every) {
            return;
        }
        let Some(node) = source::choose(&self.cluster, snap, allow_master, self.timing.max_replica_lag) else {
            warn!(cluster = %self.name(), "a backup is due but no node can be its source (no healthy replica)");
            return;
        };
        let stamp = id_time(now, true);
        let req = BackupRequest {
            id: format!("{}-{stamp}-backup", self.name()),
            node: node.name.clone(),
            via: self.manager_id.clone(),
            requested_at: timestamp(now),
            expires_ms: now_ms + START_WITHIN.as_millis() as u64,
            started: false,
        };
        if let Err(e) = self.guard(term, epoch).may_act("request a backup").await {
            warn!(cluster = %self.name(), "not requesting a backup: {e}");
            return;
        }
        let r = coord::update(self.store.as_ref(), self.name(), |st| {
            if st.backup.as_ref().is_none_or(|b| now_ms >= b.expires_ms) {
                st.backup = Some(req.clone());
            }
        })
        .await;
        match r {
            Ok(v) if v.value.backup.as_ref() == Some(&req) => {
                self.shared = v.value;
                let newest = newest.map(|b| b.id).unwrap_or_else(|| "none".into());
                info!(cluster = %self.name(), "a backup is due (every {every:?}; newest: {newest}): asked the backup agent on {}", node.name);
            }
            Ok(v) => self.shared = v.value,
            Err(e) => warn!(cluster = %self.name(), error = %e, "cannot request a backup"),
        }
    }
}

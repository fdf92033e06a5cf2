//! An in-memory coordinator for unit tests: one shared "ensemble" ([`World`]), one
//! [`FakeCoord`] per manager session, with the faults the elector must survive (a session
//! that disconnects, expires, or an ensemble that cannot be reached).

use super::elector::{Elected, Elector, ElectorTiming};
use super::lead::{Coordinator, Lease, Watch};

use super::{BackupCatalogue, NodeRegistry, RecordStore, StateStore, StoreError};
use crate::config::NodeConfig;
use crate::model::{ActionEntry, BackupMeta, FailoverRecord, ManagerInfo, SessionState, SharedState, Versioned};
use crate::signal;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// The ensemble's data.
#[derive(Default)]
pub struct Data {
    sessions: BTreeMap<i64, SessionState>,
    next_id: i64,
    states: BTreeMap<String, (SharedState, u64)>,
    records: BTreeMap<String, FailoverRecord>,
    actions: BTreeMap<String, ActionEntry>,
    backups: BTreeMap<String, BackupMeta>,
    nodes: BTreeMap<(String, String), NodeConfig>,
    leaders: BTreeMap<String, Lease>,
    managers: BTreeMap<String, (ManagerInfo, i64)>,
    /// Refuse new sessions (no quorum).
    pub down: bool,
    /// Hosts that cannot reach the ensemble (a partition): their calls fail, they cannot
    /// make a session.
    pub unreachable: std::collections::BTreeSet<String>,
    /// Conflicts to inject into the next saves (another writer got there first).
    pub inject_conflicts: u32,
}

/// The shared ensemble.
#[derive(Clone)]
pub struct World {
    data: Arc<Mutex<Data>>,
    changed: Arc<signal::Sender<u64>>,
}

impl Default for World {
    fn default() -> Self {
        World {
            data: Arc::default(),
            changed: Arc::new(signal::Sender::new(0)),
        }
    }
}

impl World {
    /// Mutate the data and wake every waiter.
    pub fn with<T>(&self, f: impl FnOnce(&mut Data) -> T) -> T {
        let t = self.read(f);
        self.changed.send_modify(|n| *n += 1);
        t
    }

    /// Look without waking anyone.
    fn read<T>(&self, f: impl FnOnce(&mut Data) -> T) -> T {
        let mut d = self.data.lock().expect("fake world lock");
        f(&mut d)
    }

    /// A manager's client, not yet connected.
    pub fn client(&self) -> FakeCoord {
        self.client_on("")
    }

    /// The client of a manager on `host` (partitions are by host).
    pub fn client_on(&self, host: &str) -> FakeCoord {
        FakeCoord {
            world: self.clone(),
            session: Arc::new(Mutex::new(0)),
            host: host.to_string(),
        }
    }

    /// A session's state.
    pub fn session_state(&self, session: i64) -> Option<SessionState> {
        self.read(|d| d.sessions.get(&session).copied())
    }

    /// A cluster's shared state, as stored.
    pub fn state(&self, cluster: &str) -> Option<SharedState> {
        self.read(|d| d.states.get(cluster).map(|s| s.0.clone()))
    }

    /// Store `rec` as a manager left it (a test's injected history).
    pub fn put_record(&self, rec: FailoverRecord) {
        self.with(|d| d.records.insert(rec.id.clone(), rec));
    }

    /// A cluster's failover records, newest first.
    pub fn records(&self, cluster: &str) -> Vec<FailoverRecord> {
        self.read(|d| {
            let mut v: Vec<FailoverRecord> = d.records.values().filter(|r| r.cluster == cluster).cloned().collect();
            v.sort_by(|a, b| b.started_at.cmp(&a.started_at));
            v
        })
    }

    /// A cluster's action entries, oldest first.
    pub fn actions(&self, cluster: &str) -> Vec<ActionEntry> {
        self.read(|d| d.actions.values().filter(|a| a.cluster == cluster).cloned().collect())
    }

    /// Can `host` reach the ensemble? (Wakes waiters only on a change.)
    pub fn set_reachable(&self, host: &str, reachable: bool) {
        let changed = self.read(|d| d.unreachable.contains(host) == reachable);
        if changed {
            self.with(|d| {
                if reachable {
                    d.unreachable.remove(host);
                } else {
                    d.unreachable.insert(host.to_string());
                }
            });
        }
    }

    /// The ensemble loses or regains its quorum.
    pub fn set_down(&self, down: bool) {
        if self.read(|d| d.down != down) {
            self.with(|d| d.down = down);
        }
    }

    /// The session's connection drops (its ephemerals live on).
    pub fn disconnect(&self, session: i64) {
        self.with(|d| d.sessions.insert(session, SessionState::Disconnected));
    }

    /// The connection comes back within the session.
    pub fn reconnect(&self, session: i64) {
        self.with(|d| d.sessions.insert(session, SessionState::Connected));
    }

    /// The session expires: its ephemeral nodes go with it.
    pub fn expire(&self, session: i64) {
        self.with(|d| {
            d.sessions.insert(session, SessionState::Expired);
            d.leaders.retain(|_, l| l.owner != session);
            d.managers.retain(|_, (_, o)| *o != session);
        });
    }

    /// The lease of a cluster.
    pub fn leader(&self, cluster: &str) -> Option<Lease> {
        self.read(|d| d.leaders.get(cluster).cloned())
    }
}

/// One manager's session with the fake ensemble.
#[derive(Clone)]
pub struct FakeCoord {
    /// The ensemble.
    pub world: World,
    session: Arc<Mutex<i64>>,
    host: String,
}

impl FakeCoord {
    fn id(&self) -> i64 {
        *self.session.lock().expect("fake session lock")
    }

    /// Run `f` on the data if this session is connected.
    fn op<T>(&self, f: impl FnOnce(&mut Data, i64) -> T) -> Result<T, StoreError> {
        let id = self.id();
        let host = &self.host;
        self.world.with(|d| {
            if d.sessions.get(&id) != Some(&SessionState::Connected) || d.unreachable.contains(host) {
                return Err(StoreError::Unavailable("not connected".into()));
            }
            Ok(f(d, id))
        })
    }
}

impl StateStore for FakeCoord {
    async fn load(&self, cluster: &str) -> Result<Versioned<SharedState>, StoreError> {
        self.op(|d, _| {
            let (value, version) = d.states.get(cluster).cloned().unwrap_or_default();
            Versioned { value, version }
        })
    }

    async fn save(&self, cluster: &str, state: &SharedState, expected: u64) -> Result<u64, StoreError> {
        self.op(|d, _| {
            let found = d.states.get(cluster).map(|s| s.1).unwrap_or(0);
            if d.inject_conflicts > 0 {
                d.inject_conflicts -= 1;
                // someone else wrote just before us
                let bumped = d.states.get(cluster).cloned().unwrap_or_default();
                d.states.insert(cluster.to_string(), (bumped.0, found + 1));
                return Err(StoreError::Conflict {
                    cluster: cluster.into(),
                    expected,
                    found: found + 1,
                });
            }
            if found != expected {
                return Err(StoreError::Conflict {
                    cluster: cluster.into(),
                    expected,
                    found,
                });
            }
            d.states.insert(cluster.to_string(), (state.clone(), found + 1));
            Ok(found + 1)
        })?
    }
}

impl RecordStore for FakeCoord {
    async fn save_record(&self, rec: &FailoverRecord) -> Result<(), StoreError> {
        self.op(|d, _| match d.records.get(&rec.id) {
            Some(stored) if stored.finished_at.is_some() => Err(StoreError::Refused(format!(
                "record {} is finished ({:?}): not overwriting it",
                rec.id, stored.status
            ))),
            _ => {
                d.records.insert(rec.id.clone(), rec.clone());
                let mut mine: Vec<String> = d
                    .records
                    .values()
                    .filter(|r| r.cluster == rec.cluster)
                    .map(|r| r.id.clone())
                    .collect();
                mine.sort();
                for old in mine.iter().take(mine.len().saturating_sub(super::MAX_RECORDS)) {
                    d.records.remove(old);
                }
                Ok(())
            }
        })?
    }

    async fn records(&self, cluster: &str, limit: usize) -> Result<Vec<FailoverRecord>, StoreError> {
        self.op(|d, _| {
            let mut v: Vec<FailoverRecord> = d.records.values().filter(|r| r.cluster == cluster).cloned().collect();
            v.sort_by(|a, b| b.started_at.cmp(&a.started_at));
            v.truncate(limit);
            v
        })
    }

    async fn record(&self, cluster: &str, id: &str) -> Result<Option<FailoverRecord>, StoreError> {
        self.op(|d, _| d.records.get(id).filter(|r| r.cluster == cluster).cloned())
    }

    async fn save_action(&self, entry: &ActionEntry) -> Result<(), StoreError> {
        self.op(|d, _| {
            d.actions.insert(entry.id.clone(), entry.clone());
            let mine: Vec<String> = d
                .actions
                .values()
                .filter(|a| a.cluster == entry.cluster)
                .map(|a| a.id.clone())
                .collect();
            for old in mine.iter().take(mine.len().saturating_sub(super::MAX_ACTIONS)) {
                d.actions.remove(old);
            }
        })
    }

    async fn actions(&self, cluster: &str, limit: usize) -> Result<Vec<ActionEntry>, StoreError> {
        self.op(|d, _| {
            d.actions
                .values()
                .rev()
                .filter(|a| a.cluster == cluster)
                .take(limit)
                .cloned()
                .collect()
        })
    }
}

impl BackupCatalogue for FakeCoord {
    async fn save_backup(&self, meta: &BackupMeta) -> Result<(), StoreError> {
        self.op(|d, _| {
            d.backups.insert(meta.id.clone(), meta.clone());
        })
    }

    async fn backups(&self, cluster: &str) -> Result<Vec<BackupMeta>, StoreError> {
        self.op(|d, _| {
            let mut v: Vec<BackupMeta> = d.backups.values().filter(|b| b.cluster == cluster).cloned().collect();
            v.sort_by(|a, b| b.started_at.cmp(&a.started_at));
            v
        })
    }

    async fn delete_backup(&self, _cluster: &str, id: &str) -> Result<(), StoreError> {
        self.op(|d, _| {
            d.backups.remove(id);
        })
    }
}

impl NodeRegistry for FakeCoord {
    async fn register_node(&self, cluster: &str, node: &NodeConfig) -> Result<(), StoreError> {
        self.op(|d, _| {
            d.nodes.insert((cluster.to_string(), node.name.clone()), node.clone());
        })
    }

    async fn registered_nodes(&self, cluster: &str) -> Result<Vec<NodeConfig>, StoreError> {
        self.op(|d, _| {
            d.nodes
                .iter()
                .filter(|((c, _), _)| c == cluster)
                .map(|(_, n)| n.clone())
                .collect()
        })
    }
}

impl Coordinator for FakeCoord {
    fn session(&self) -> (i64, SessionState) {
        let id = self.id();
        let state = self.world.read(|d| d.sessions.get(&id).copied());
        (id, state.unwrap_or(SessionState::Connecting))
    }

    async fn session_changed(&self, max: Duration) {
        let before = self.session().1;
        let mut rx = self.world.changed.subscribe();
        let _ = tokio::time::timeout(max, async {
            while rx.changed().await.is_ok() {
                if self.session().1 != before {
                    return;
                }
            }
        })
        .await;
    }

    async fn connect(&self) -> Result<(), StoreError> {
        let host = &self.host;
        let id = self.world.with(|d| {
            if d.down || d.unreachable.contains(host) {
                return Err(StoreError::Unavailable("no quorum".into()));
            }
            d.next_id += 1;
            d.sessions.insert(d.next_id, SessionState::Connected);
            Ok(d.next_id)
        })?;
        *self.session.lock().expect("fake session lock") = id;
        Ok(())
    }

    async fn register(&self, me: &ManagerInfo) -> Result<(), StoreError> {
        self.op(|d, id| match d.managers.get(&me.id) {
            Some((_, owner)) if *owner != id => {
                Err(StoreError::Refused(format!("{} registered by another session", me.id)))
            }
            _ => {
                d.managers.insert(me.id.clone(), (me.clone(), id));
                Ok(())
            }
        })?
    }

    async fn managers(&self) -> Result<Vec<ManagerInfo>, StoreError> {
        self.op(|d, _| d.managers.values().map(|(m, _)| m.clone()).collect())
    }

    async fn leader(&self, cluster: &str) -> Result<Option<Lease>, StoreError> {
        self.op(|d, _| d.leaders.get(cluster).cloned())
    }

    async fn watch_leader(&self, cluster: &str) -> Result<(Option<Lease>, Watch), StoreError> {
        let lease = self.leader(cluster).await?;
        let world = self.world.clone();
        let cluster = cluster.to_string();
        let seen = lease.clone();
        let watch: Watch = Box::pin(async move {
            let mut rx = world.changed.subscribe();
            while rx.changed().await.is_ok() {
                if world.leader(&cluster) != seen {
                    return;
                }
            }
        });
        Ok((lease, watch))
    }

    async fn claim(&self, cluster: &str, me: &ManagerInfo) -> Result<Option<Lease>, StoreError> {
        self.op(|d, id| {
            if d.leaders.contains_key(cluster) {
                return None;
            }
            d.next_id += 1;
            let lease = Lease {
                info: me.clone(),
                owner: id,
                term: 1000 + d.next_id,
            };
            d.leaders.insert(cluster.to_string(), lease.clone());
            Some(lease)
        })
    }

    async fn resign(&self, cluster: &str, lease: &Lease) -> Result<(), StoreError> {
        self.op(|d, _| {
            if d.leaders.get(cluster).is_some_and(|l| l.term == lease.term) {
                d.leaders.remove(cluster);
            }
        })
    }
}

// ---- helpers for tests that drive electors on this coordinator ----------------------------

/// The claim grace of [`elector`]'s timing.
pub const GRACE: Duration = Duration::from_secs(1);

/// Elector timing for tests: 1 s ticks, [`GRACE`].
pub fn timing() -> ElectorTiming {
    ElectorTiming {
        tick: Duration::from_secs(1),
        grace: GRACE,
        reconnect_pause: Duration::from_millis(500),
        lease: Duration::from_secs(2),
    }
}

/// A manager's registration.
pub fn info(id: &str) -> ManagerInfo {
    ManagerInfo {
        id: id.into(),
        address: format!("{id}:8080"),
        since: String::new(),
    }
}

/// An elector for manager `id` on `clusters`, with its handle and its coordinator session.
pub fn elector(world: &World, id: &str, clusters: &[&str]) -> (Elector<FakeCoord>, Elected<FakeCoord>, Arc<FakeCoord>) {
    let coord = Arc::new(world.client());
    let (e, h) = Elector::new(
        coord.clone(),
        info(id),
        clusters.iter().map(|c| c.to_string()).collect(),
        timing(),
    );
    (e, h, coord)
}

/// One elector pass; what it would wait on next is dropped (the tests drive the passes).
pub async fn step(e: &mut Elector<FakeCoord>) {
    drop(e.step().await);
}

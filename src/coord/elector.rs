//! The elector: one task per manager that keeps its coordinator session, registration and
//! the leadership of every cluster it watches, and publishes each cluster's [`Standing`].
//! Cluster loops read the standing before acting ([`Leadership::standing`]) and re-check it
//! against the coordinator before every irreversible step ([`Leadership::confirm`]).
//!
//! Session discipline: the moment the session is not connected, every standing turns
//! [`Standing::Degraded`] — a disconnected leader cannot know whether its node still
//! exists. After expiry a new session is made and everything is read afresh.

use super::lead::{claim_delay, standing_of, Coordinator, Watch};
use super::StoreError;
use crate::config::ZookeeperConfig;
use crate::model::{ManagerInfo, SessionState, Standing};
use crate::signal;
use futures_util::future::select_all;
use std::collections::BTreeMap;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use tokio::time::{sleep, Instant};
use tracing::{info, warn};

/// Why this manager may not act on a cluster in a term.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LeadError {
    /// The coordinator session is not connected: whether our leader node still exists is
    /// unknown. Retryable once the session is back.
    #[error("coordinator session {0}")]
    NotConnected(SessionState),
    /// This manager leads again, in a later term: what the earlier term started is not its
    /// to finish as it was planned.
    #[error("this manager leads in a newer term ({0:#x})")]
    NewerTerm(i64),
    /// Another manager leads.
    #[error("manager {0} leads the cluster now")]
    OtherLeader(String),
    /// Nobody leads.
    #[error("nobody leads the cluster now")]
    Vacant,
    /// The leader node could not be read. Retryable.
    #[error("cannot confirm leadership: {0}")]
    Unavailable(StoreError),
}

/// Who may act on a cluster, as the cluster loop sees it.
pub trait Leadership: Send + Sync {
    /// This manager's standing now (no I/O).
    fn standing(&self, cluster: &str) -> Standing;

    /// Re-check with the coordinator that this manager still leads `cluster` in `term`;
    /// `Ok` says until when the lead is known to hold (see `model::Lease`).
    fn confirm(&self, cluster: &str, term: i64) -> impl Future<Output = Result<Instant, LeadError>> + Send;

    /// Give up every lead held (clean shutdown), so standbys take over at once instead of
    /// after the session timeout.
    fn resign_all(&self) -> impl Future<Output = ()> + Send {
        async {}
    }
}

/// A manager without a coordinator: it always leads (run only one).
#[derive(Debug, Clone, Copy)]
pub struct Solo;

impl Leadership for Solo {
    fn standing(&self, _cluster: &str) -> Standing {
        Standing::Leader { term: 0 }
    }

    async fn confirm(&self, _cluster: &str, _term: i64) -> Result<Instant, LeadError> {
        // nobody else can lead: the lead never passes
        Ok(Instant::now() + Duration::from_secs(365 * 24 * 3600))
    }
}

/// How the elector paces itself.
#[derive(Debug, Clone)]
pub struct ElectorTiming {
    /// Re-read everything at least this often (watches make it react sooner).
    pub tick: Duration,
    /// How long a non-preferred manager leaves a vacant lead to the preferred one.
    pub grace: Duration,
    /// Pause between attempts to make a new session.
    pub reconnect_pause: Duration,
    /// How long a confirmed lead is known to hold, counted from before the check: half the
    /// session timeout — the servers cannot expire the session sooner, and the client
    /// itself stops acting at half the timeout without an answer.
    pub lease: Duration,
}

impl ElectorTiming {
    /// From `[zookeeper]`: takeover after a leader dies is bounded by the session timeout
    /// (its node lives that long) plus, at worst, `claim_grace`.
    pub fn from_config(cfg: &ZookeeperConfig) -> Self {
        ElectorTiming {
            tick: Duration::from_secs(1),
            grace: cfg.claim_grace(),
            reconnect_pause: cfg.reconnect_pause,
            lease: cfg.session_timeout / 2,
        }
    }
}

/// The handle cluster loops hold.
pub struct Elected<C> {
    coord: Arc<C>,
    rx: signal::Receiver<BTreeMap<String, Standing>>,
    lease: Duration,
}

impl<C> Clone for Elected<C> {
    fn clone(&self) -> Self {
        Elected {
            coord: self.coord.clone(),
            rx: self.rx.clone(),
            lease: self.lease,
        }
    }
}

impl<C: Coordinator> Elected<C> {
    /// The coordinator session's state.
    pub fn session(&self) -> SessionState {
        self.coord.session().1
    }

    /// Wait until some standing changes.
    pub async fn changed(&mut self) {
        let _ = self.rx.changed().await;
    }

    /// Resign every lead this session holds.
    async fn resign(&self) {
        let clusters: Vec<String> = self.rx.borrow().keys().cloned().collect();
        let session = self.coord.session().0;
        for c in clusters {
            if let Ok(Some(l)) = self.coord.leader(&c).await {
                if l.owner == session {
                    match self.coord.resign(&c, &l).await {
                        Ok(()) => info!(cluster = %c, "resigned the lead"),
                        Err(e) => {
                            warn!(cluster = %c, error = %e, "could not resign the lead; it ends with the session")
                        }
                    }
                }
            }
        }
    }
}

impl<C: Coordinator> Leadership for Elected<C> {
    fn standing(&self, cluster: &str) -> Standing {
        let (_, state) = self.coord.session();
        if state != SessionState::Connected {
            return Standing::Degraded {
                why: format!("coordinator session {state}"),
            };
        }
        self.rx.borrow().get(cluster).cloned().unwrap_or(Standing::Degraded {
            why: "leadership not settled yet".into(),
        })
    }

    async fn confirm(&self, cluster: &str, term: i64) -> Result<Instant, LeadError> {
        let asked = Instant::now();
        let (session, state) = self.coord.session();
        if state != SessionState::Connected {
            return Err(LeadError::NotConnected(state));
        }
        match self.coord.leader(cluster).await {
            Ok(Some(l)) if l.owner == session && l.term == term => Ok(asked + self.lease),
            Ok(Some(l)) if l.owner == session => Err(LeadError::NewerTerm(l.term)),
            Ok(Some(l)) => Err(LeadError::OtherLeader(l.info.id)),
            Ok(None) => Err(LeadError::Vacant),
            Err(e) => Err(LeadError::Unavailable(e)),
        }
    }

    async fn resign_all(&self) {
        self.resign().await
    }
}

/// The elector task's state.
pub struct Elector<C> {
    coord: Arc<C>,
    me: ManagerInfo,
    clusters: Vec<String>,
    timing: ElectorTiming,
    tx: signal::Sender<BTreeMap<String, Standing>>,
    vacant_since: BTreeMap<String, Instant>,
    registered: bool,
    last_error: Option<String>,
}

impl<C: Coordinator> Elector<C> {
    /// An elector for `clusters`, and the handle to read its standings.
    pub fn new(coord: Arc<C>, me: ManagerInfo, clusters: Vec<String>, timing: ElectorTiming) -> (Self, Elected<C>) {
        let (tx, rx) = signal::channel(BTreeMap::new());
        let elected = Elected {
            coord: coord.clone(),
            rx,
            lease: timing.lease,
        };
        let elector = Elector {
            coord,
            me,
            clusters,
            timing,
            tx,
            vacant_since: BTreeMap::new(),
            registered: false,
            last_error: None,
        };
        (elector, elected)
    }

    /// Run until the task is dropped.
    pub async fn run(mut self) {
        loop {
            // A pass can be stuck in a request when the connection drops; losing the session
            // must show at once, not when that request times out.
            let coord = self.coord.clone();
            let connected = coord.session().1 == SessionState::Connected;
            // biased: polled in order, so a simulation replays (tokio draws the order at
            // random otherwise, from a seed of its own)
            let wait = tokio::select! {
                biased;
                w = self.step() => w,
                _ = until_not_connected(coord.as_ref()), if connected => continue,
            };
            wait.await;
        }
    }

    fn publish(&self, next: BTreeMap<String, Standing>) {
        self.tx.send_if_modified(|cur| {
            if *cur == next {
                return false;
            }
            for (cluster, s) in &next {
                if cur.get(cluster) != Some(s) {
                    match s {
                        Standing::Degraded { .. } => warn!(cluster = %cluster, "{s}: not acting"),
                        _ => info!(cluster = %cluster, "{s}"),
                    }
                }
            }
            *cur = next;
            true
        });
    }

    fn degrade_all(&self, why: &str) {
        let all = self
            .clusters
            .iter()
            .map(|c| (c.clone(), Standing::Degraded { why: why.to_string() }))
            .collect();
        self.publish(all);
    }

    fn log_error(&mut self, what: String) {
        if self.last_error.as_ref() != Some(&what) {
            warn!("{what}");
            self.last_error = Some(what);
        }
    }

    /// One pass: settle the session, then every cluster's lead. Returns what to wait on
    /// before the next pass.
    pub async fn step(&mut self) -> Watch {
        let (session, state) = self.coord.session();
        match state {
            SessionState::Connected => {}
            SessionState::Disconnected => {
                // the client reconnects within the session by itself; until then nobody
                // here knows who leads
                self.degrade_all("coordinator disconnected");
                let coord = self.coord.clone();
                let tick = self.timing.tick;
                return Box::pin(async move { coord.session_changed(tick).await });
            }
            SessionState::Connecting | SessionState::Expired => {
                self.degrade_all(&format!("coordinator session {state}"));
                self.registered = false;
                return match self.coord.connect().await {
                    Ok(()) => {
                        info!(
                            session = format!("{:#x}", self.coord.session().0),
                            "coordinator session established"
                        );
                        self.last_error = None;
                        Box::pin(std::future::ready(()))
                    }
                    Err(e) => {
                        self.log_error(format!("cannot make a coordinator session: {e}"));
                        Box::pin(sleep(self.timing.reconnect_pause))
                    }
                };
            }
        }
        if !self.registered {
            if let Err(e) = self.coord.register(&self.me).await {
                self.log_error(format!("cannot register manager {}: {e}", self.me.id));
                self.degrade_all(&format!("cannot register: {e}"));
                return Box::pin(sleep(self.timing.reconnect_pause));
            }
            self.registered = true;
        }
        let live: Vec<String> = match self.coord.managers().await {
            Ok(m) => m.into_iter().map(|m| m.id).collect(),
            Err(_) => vec![self.me.id.clone()],
        };
        let mut next = BTreeMap::new();
        let mut waits: Vec<Watch> = Vec::new();
        let mut wake = self.timing.tick;
        for cluster in self.clusters.clone() {
            let standing = self.stand(&cluster, session, &live, &mut waits, &mut wake).await;
            if !matches!(standing, Standing::Standby { leader: None }) {
                self.vacant_since.remove(&cluster);
            }
            next.insert(cluster, standing);
        }
        self.publish(next);
        let coord = self.coord.clone();
        Box::pin(async move {
            let watches = async {
                if waits.is_empty() {
                    std::future::pending::<()>().await
                } else {
                    select_all(waits).await;
                }
            };
            tokio::select! {
                biased;
                _ = coord.session_changed(wake) => {}
                _ = watches => {}
            }
        })
    }
}

impl<C: Coordinator> Elector<C> {
    /// This manager's standing on `cluster`: the lead as it is, or claimed when vacant and
    /// this manager's turn has come (`live` managers rank for it). The leader node's watch
    /// goes to `waits`; `wake` shrinks to when a claim becomes due.
    async fn stand(
        &mut self,
        cluster: &str,
        session: i64,
        live: &[String],
        waits: &mut Vec<Watch>,
        wake: &mut Duration,
    ) -> Standing {
        let (lease, watch) = match self.coord.watch_leader(cluster).await {
            Ok(found) => found,
            Err(e) => {
                return Standing::Degraded {
                    why: format!("cannot read the leader: {e}"),
                }
            }
        };
        waits.push(watch);
        if let Some(l) = lease {
            return standing_of(Some(&l), session);
        }
        let since = *self
            .vacant_since
            .entry(cluster.to_string())
            .or_insert_with(Instant::now);
        let delay = claim_delay(cluster, &self.me.id, live, self.timing.grace);
        if since.elapsed() < delay {
            *wake = (*wake).min(delay - since.elapsed());
            return Standing::Standby { leader: None };
        }
        match self.coord.claim(cluster, &self.me).await {
            Ok(l) => standing_of(l.as_ref(), session),
            Err(e) => Standing::Degraded {
                why: format!("cannot claim the lead: {e}"),
            },
        }
    }
}

async fn until_not_connected<C: Coordinator>(coord: &C) {
    while coord.session().1 == SessionState::Connected {
        coord.session_changed(Duration::from_secs(1)).await;
    }
}

//! What a cluster loop publishes after every round, for the API to serve without probing:
//! the snapshot, the diagnosis, the decision, the shared state and this manager's standing.

use crate::config::ClusterConfig;
use crate::detect::{Acknowledged, Diagnosis};
use crate::model::{SharedState, Standing, VipState};
use crate::topology::Snapshot;
use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;
use tokio::time::Instant;

/// One cluster as this manager last saw it.
#[derive(Debug, Clone)]
pub struct ClusterView {
    /// The cluster's configuration.
    pub config: Arc<ClusterConfig>,
    /// The latest probe round.
    pub snapshot: Arc<Snapshot>,
    /// The detector's verdict on it.
    pub diagnosis: Diagnosis,
    /// The decision's sentence.
    pub decision: String,
    /// The shared state, as last read.
    pub shared: SharedState,
    /// When it was read (`None`: never).
    pub shared_at: Option<Instant>,
    /// How long the view (its snapshot, its shared state) may be taken as the present.
    pub valid_for: Duration,
    /// This manager's standing on the cluster.
    pub standing: Standing,
    /// The route tables, when known.
    pub vip: Option<VipState>,
    /// Nodes seen with errant transactions while the master was up.
    pub errant: BTreeSet<String>,
    /// What the master may have acknowledged, as this manager saw it.
    pub acked: Option<Acknowledged>,
}

/// The loop's end.
pub type ViewTx = watch::Sender<Option<Arc<ClusterView>>>;
/// The API's end.
pub type ViewRx = watch::Receiver<Option<Arc<ClusterView>>>;

/// A channel for one cluster, empty until its first round.
pub fn channel() -> (ViewTx, ViewRx) {
    watch::channel(None)
}

//! What clients may have been told is committed, as this manager has seen it: the floor no
//! failover may go below (the lossless policy).
//!
//! With semi-sync `AFTER_SYNC` a master acknowledges a commit once one replica has received
//! it — so anything a replica of the master received may have been acknowledged, and a
//! candidate that lacks it after catching up loses it. A master whose semi-sync is off or
//! has fallen back to async acknowledges commits no replica has: everything it executed
//! while so may have been acknowledged. A manager knows only what it probed; the floor is
//! that knowledge, kept across rounds (far longer than the detector's window) for as long
//! as the master stays the same.

use crate::gtid::Gtids;
use crate::topology::{NodeObservation, Snapshot};
use serde::Serialize;
use std::collections::BTreeMap;
use std::fmt;
use std::time::SystemTime;

/// The floor for one master.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Acknowledged {
    /// The master whose clients these acknowledgements went to.
    pub master: String,
    /// The master's executed transactions, as last seen while it acknowledged commits
    /// without waiting for a replica (semi-sync off or fallen back to async), and when.
    pub unprotected: Option<Unprotected>,
    /// What each replica of the master had received when last seen.
    pub received: BTreeMap<String, Gtids>,
    /// When the master was last seen, if it was then acknowledging on its own: whatever it
    /// acknowledged after that sighting is on no other node, and no probe can tell how much
    /// (a master promoted alone with `failover.alone = "async"`, until a replica catches up).
    #[serde(with = "humantime_serde")]
    pub alone_when_last_seen: Option<SystemTime>,
}

/// A master seen acknowledging on its own.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Unprotected {
    /// What it had executed then.
    pub gtids: Gtids,
    /// When (the probe round).
    #[serde(with = "humantime_serde")]
    pub seen: SystemTime,
}

impl Acknowledged {
    /// A floor for `master`, empty.
    pub fn new(master: &str) -> Self {
        Acknowledged {
            master: master.to_string(),
            unprotected: None,
            received: BTreeMap::new(),
            alone_when_last_seen: None,
        }
    }

    /// Take in one round. What a round shows only ever raises the floor: a replica that
    /// went away keeps what it was last seen to have received.
    pub fn observe(&mut self, s: &Snapshot) {
        let Some(m) = s.node(&self.master) else { return };
        if let Some(st) = m.ok() {
            let protected = st.semi_sync.master_enabled && st.semi_sync.master_active;
            let alone = !st.read_only && !protected;
            self.alone_when_last_seen = alone.then_some(s.wall);
            if alone {
                let gtids = match &self.unprotected {
                    Some(u) => u.gtids.union(&st.executed).unwrap_or_else(|| st.executed.clone()),
                    None => st.executed.clone(),
                };
                self.unprotected = Some(Unprotected { gtids, seen: s.wall });
            }
        }
        for n in s.nodes.iter().filter(|n| replicates_from(n, m)) {
            let Some(r) = n.ok().and_then(|st| st.replica.as_ref()) else {
                continue;
            };
            let seen = match self.received.get(&n.name) {
                Some(g) => g.union(&r.received).unwrap_or_else(|| r.received.clone()),
                None => r.received.clone(),
            };
            self.received.insert(n.name.clone(), seen);
        }
    }

    /// Everything that may have been acknowledged.
    pub fn all(&self) -> Option<Gtids> {
        let mut it = self.unprotected.iter().map(|u| &u.gtids).chain(self.received.values());
        let first = it.next()?.clone();
        Some(it.fold(first, |acc, g| acc.union(g).unwrap_or(acc)))
    }

    /// Where the transactions `reach` lacks were seen, one phrase per source.
    pub fn sources_beyond(&self, reach: &Gtids) -> Vec<String> {
        let mut out = Vec::new();
        if let Some(u) = &self.unprotected {
            if let Some(missing) = u.gtids.missing_from(reach).filter(|m| !m.is_empty()) {
                out.push(format!(
                    "{} acknowledged {missing} without a replica (semi-sync off, last seen {})",
                    self.master,
                    humantime::format_rfc3339_millis(u.seen)
                ));
            }
        }
        for (node, g) in &self.received {
            if let Some(missing) = g.missing_from(reach).filter(|m| !m.is_empty()) {
                out.push(format!("{node} received {missing}"));
            }
        }
        out
    }
}

fn replicates_from(n: &NodeObservation, master: &NodeObservation) -> bool {
    n.name != master.name
        && n.ok()
            .and_then(|st| st.replica.as_ref())
            .is_some_and(|r| r.master_host == master.address && r.master_port == master.port)
}

impl fmt::Display for Acknowledged {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.all() {
            Some(g) => write!(f, "possibly acknowledged by {}: {g}", self.master),
            None => write!(f, "nothing seen acknowledged by {}", self.master),
        }
    }
}

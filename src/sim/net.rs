//! Who can reach whom: hosts are names (managers, database nodes, the client, the cloud API),
//! and a partition is a set of cut pairs — both directions, as the lab's `chaos/lab cut` does.

use std::collections::BTreeSet;

/// The network between the simulated hosts.
#[derive(Debug, Clone, Default)]
pub struct Net {
    cut: BTreeSet<(String, String)>,
    isolated: BTreeSet<String>,
}

fn pair(a: &str, b: &str) -> (String, String) {
    if a <= b {
        (a.to_string(), b.to_string())
    } else {
        (b.to_string(), a.to_string())
    }
}

impl Net {
    /// Can `a` and `b` exchange packets?
    pub fn reachable(&self, a: &str, b: &str) -> bool {
        a == b || !(self.isolated.contains(a) || self.isolated.contains(b) || self.cut.contains(&pair(a, b)))
    }

    /// Drop everything between `a` and `b`.
    pub fn cut(&mut self, a: &str, b: &str) {
        self.cut.insert(pair(a, b));
    }

    /// Let `a` and `b` talk again.
    pub fn uncut(&mut self, a: &str, b: &str) {
        self.cut.remove(&pair(a, b));
    }

    /// Cut `host` off from every other host.
    pub fn isolate(&mut self, host: &str) {
        self.isolated.insert(host.to_string());
    }

    /// Undo [`Net::isolate`].
    pub fn heal(&mut self, host: &str) {
        self.isolated.remove(host);
    }

    /// Undo every partition.
    pub fn heal_all(&mut self) {
        self.cut.clear();
        self.isolated.clear();
    }

    /// Is anything cut?
    pub fn partitioned(&self) -> bool {
        !self.cut.is_empty() || !self.isolated.is_empty()
    }
}

//! The GTID algebra of both flavors: parse, union, contains, "is A ahead of B", errant
//! transactions. Pure data code; property-tested in `tests.rs`.

mod mariadb;
mod mysql;
#[cfg(test)]
mod tests;

pub use mariadb::MariaDbGtids;
pub use mysql::MySqlGtidSet;

use serde::{Serialize, Serializer};
use std::cmp::Ordering;
use std::fmt;

/// A GTID text that does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GtidError {
    /// Bad MariaDB `domain-server-seq` list.
    #[error("invalid MariaDB GTID {text:?}: {reason}")]
    MariaDb {
        /// the offending element
        text: String,
        /// what is wrong with it
        reason: &'static str,
    },
    /// Bad MySQL `uuid:interval` set.
    #[error("invalid MySQL GTID set {text:?}: {reason}")]
    MySql {
        /// the offending group
        text: String,
        /// what is wrong with it
        reason: &'static str,
    },
}

/// The GTIDs of one node, in its flavor's form. Operations between the two flavors are a
/// programming error and answer "not comparable" rather than panic.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Gtids {
    /// MariaDB `domain-server-seq` list.
    MariaDb(MariaDbGtids),
    /// MySQL `uuid:intervals` set.
    MySql(MySqlGtidSet),
}

impl Gtids {
    /// True when there is no transaction at all.
    pub fn is_empty(&self) -> bool {
        match self {
            Gtids::MariaDb(g) => g.is_empty(),
            Gtids::MySql(g) => g.is_empty(),
        }
    }

    /// Has self reached everything other has? `None` across flavors.
    pub fn contains(&self, other: &Gtids) -> Option<bool> {
        match (self, other) {
            (Gtids::MariaDb(a), Gtids::MariaDb(b)) => Some(a.contains(b)),
            (Gtids::MySql(a), Gtids::MySql(b)) => Some(a.contains(b)),
            _ => None,
        }
    }

    /// Has self (a `gtid_binlog_state`, or a union of states and positions) reached every
    /// server's last transaction in `other`? MariaDB compares per (domain, server): unlike
    /// [`Gtids::contains`], a node whose own transaction took a higher sequence number does
    /// not count as having what another server wrote below it (an errant write on a replica
    /// with a relay log not yet applied). MySQL: set containment. `None` across flavors.
    pub fn contains_each(&self, other: &Gtids) -> Option<bool> {
        match (self, other) {
            (Gtids::MariaDb(a), Gtids::MariaDb(b)) => Some(a.contains_each(b)),
            (Gtids::MySql(a), Gtids::MySql(b)) => Some(a.contains(b)),
            _ => None,
        }
    }

    /// Partial order by containment: `Greater` = self is strictly ahead of other; `None` when
    /// neither contains the other (diverged) or across flavors.
    pub fn compare(&self, other: &Gtids) -> Option<Ordering> {
        match (self.contains(other)?, other.contains(self)?) {
            (true, true) => Some(Ordering::Equal),
            (true, false) => Some(Ordering::Greater),
            (false, true) => Some(Ordering::Less),
            (false, false) => None,
        }
    }

    /// Is self strictly ahead of other?
    pub fn is_ahead_of(&self, other: &Gtids) -> bool {
        self.compare(other) == Some(Ordering::Greater)
    }

    /// self ∪ other; `None` across flavors.
    pub fn union(&self, other: &Gtids) -> Option<Gtids> {
        match (self, other) {
            (Gtids::MariaDb(a), Gtids::MariaDb(b)) => Some(Gtids::MariaDb(a.union(b))),
            (Gtids::MySql(a), Gtids::MySql(b)) => Some(Gtids::MySql(a.union(b))),
            _ => None,
        }
    }

    /// What self (a replica) has executed that master has not. For MariaDB both sides must be
    /// `gtid_binlog_state`. `None` across flavors.
    pub fn errant_vs(&self, master: &Gtids) -> Option<Gtids> {
        match (self, master) {
            (Gtids::MariaDb(a), Gtids::MariaDb(b)) => Some(Gtids::MariaDb(a.errant_vs(b))),
            (Gtids::MySql(a), Gtids::MySql(b)) => Some(Gtids::MySql(a.errant_vs(b))),
            _ => None,
        }
    }

    /// What self reaches that `have` does not: the transactions a node with `have` would
    /// miss. MariaDB: the entries beyond `have`'s position in their domain (each names the
    /// last missing transaction of its server there); MySQL: the set difference. `None`
    /// across flavors.
    pub fn missing_from(&self, have: &Gtids) -> Option<Gtids> {
        match (self, have) {
            (Gtids::MariaDb(a), Gtids::MariaDb(b)) => Some(Gtids::MariaDb(a.beyond(b))),
            (Gtids::MySql(a), Gtids::MySql(b)) => Some(Gtids::MySql(a.subtract(b))),
            _ => None,
        }
    }

    /// As a position: MariaDB keeps one GTID per domain (the furthest); a MySQL set is its
    /// own position.
    pub fn position(&self) -> Gtids {
        match self {
            Gtids::MariaDb(g) => Gtids::MariaDb(g.position()),
            Gtids::MySql(_) => self.clone(),
        }
    }

    /// Without what `server_id` wrote itself: on a replica, its errant transactions. MariaDB
    /// GTIDs name their server; MySQL's name the server's UUID, which the probe does not
    /// read, so a MySQL list is returned whole (a failover then finds a replica's errant
    /// transactions on no candidate, and stops rather than copy them).
    pub fn without_server(&self, server_id: u32) -> Gtids {
        match self {
            Gtids::MariaDb(g) => Gtids::MariaDb(g.without_server(server_id)),
            Gtids::MySql(_) => self.clone(),
        }
    }

    /// Only what `server_id` wrote itself. MariaDB GTIDs name their server; MySQL's name its
    /// UUID, which the probe does not read: empty (nothing can be told apart).
    pub fn of_server(&self, server_id: u32) -> Gtids {
        match self {
            Gtids::MariaDb(g) => Gtids::MariaDb(g.of_server(server_id)),
            Gtids::MySql(_) => Gtids::MySql(Default::default()),
        }
    }

    /// A number that grows with the amount of history: ranks lists that `compare` cannot.
    pub fn weight(&self) -> u128 {
        match self {
            Gtids::MariaDb(g) => g.weight(),
            Gtids::MySql(g) => g.count(),
        }
    }
}

impl fmt::Display for Gtids {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Gtids::MariaDb(g) => g.fmt(f),
            Gtids::MySql(g) => g.fmt(f),
        }
    }
}

impl Serialize for Gtids {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

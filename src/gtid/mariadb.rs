//! MariaDB GTIDs: `domain-server-seq` triples, as in `@@gtid_current_pos` ("0-1-100,1-2-7")
//! or `@@gtid_binlog_state` (which keeps the last GTID of *every* server per domain).
//!
//! A MariaDB position is not a set of transactions: per replication domain it names the last
//! transaction applied (or received), and everything before it in that domain is implied.
//! "Contains" therefore compares sequence numbers per domain. Errant transactions can only be
//! found from `gtid_binlog_state`, which keeps one entry per (domain, server): a position loses
//! the entries of former masters.

use super::GtidError;
use std::collections::BTreeMap;
use std::fmt;

/// One MariaDB GTID list: the last sequence number per (domain, server).
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct MariaDbGtids {
    entries: BTreeMap<(u32, u32), u64>,
}

impl MariaDbGtids {
    /// Parse a comma-separated list of `domain-server-seq` (whitespace and empty list allowed).
    pub fn parse(text: &str) -> Result<Self, GtidError> {
        let mut out = Self::default();
        for part in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let bad = || GtidError::MariaDb {
                text: part.to_string(),
                reason: "expected domain-server-seq with three unsigned integers",
            };
            let mut it = part.split('-');
            let (Some(d), Some(s), Some(q), None) = (it.next(), it.next(), it.next(), it.next()) else {
                return Err(bad());
            };
            let d: u32 = d.trim().parse().map_err(|_| bad())?;
            let s: u32 = s.trim().parse().map_err(|_| bad())?;
            let q: u64 = q.trim().parse().map_err(|_| bad())?;
            out.insert(d, s, q);
        }
        Ok(out)
    }

    /// Record `domain-server-seq`, keeping the higher sequence if the pair is already known.
    pub fn insert(&mut self, domain: u32, server: u32, seq: u64) {
        let e = self.entries.entry((domain, server)).or_insert(seq);
        *e = (*e).max(seq);
    }

    /// True when there is no GTID at all (a freshly installed server).
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The highest sequence number per domain: how far this list reaches in each domain.
    pub fn domain_positions(&self) -> BTreeMap<u32, u64> {
        let mut out = BTreeMap::new();
        for (&(d, _), &q) in &self.entries {
            let e = out.entry(d).or_insert(q);
            *e = (*e).max(q);
        }
        out
    }

    /// Does this list reach at least as far as `other` in every domain `other` has?
    pub fn contains(&self, other: &Self) -> bool {
        let mine = self.domain_positions();
        other
            .domain_positions()
            .iter()
            .all(|(d, q)| mine.get(d).is_some_and(|m| m >= q))
    }

    /// Does this list have, for every (domain, server) of `other`, at least its sequence number?
    pub fn contains_each(&self, other: &Self) -> bool {
        other
            .entries
            .iter()
            .all(|(k, q)| self.entries.get(k).is_some_and(|m| m >= q))
    }

    /// Per (domain, server), the higher of the two sequence numbers.
    pub fn union(&self, other: &Self) -> Self {
        let mut out = self.clone();
        for (&(d, s), &q) in &other.entries {
            out.insert(d, s, q);
        }
        out
    }

    /// Entries of `self` (a replica's `gtid_binlog_state`) that `master` (the master's
    /// `gtid_binlog_state`) has not reached: transactions written on the replica itself, or
    /// received from a server the master never replicated from. Only meaningful between two
    /// binlog *states*: comparing positions would flag every former master.
    pub fn errant_vs(&self, master: &Self) -> Self {
        let mut out = Self::default();
        for (&(d, s), &q) in &self.entries {
            if master.entries.get(&(d, s)).is_none_or(|&m| m < q) {
                out.insert(d, s, q);
            }
        }
        out
    }

    /// Per domain, only the entry that reaches furthest: a position, as `MASTER_GTID_WAIT`
    /// takes it (one GTID per domain).
    pub fn position(&self) -> Self {
        let mut best: BTreeMap<u32, (u32, u64)> = BTreeMap::new();
        for (&(d, s), &q) in &self.entries {
            let e = best.entry(d).or_insert((s, q));
            if q > e.1 {
                *e = (s, q);
            }
        }
        let mut out = Self::default();
        for (d, (s, q)) in best {
            out.insert(d, s, q);
        }
        out
    }

    /// Without the entries of `server` (in every domain).
    pub fn without_server(&self, server: u32) -> Self {
        let mut out = self.clone();
        out.entries.retain(|&(_, s), _| s != server);
        out
    }

    /// Only the entries of `server` (in every domain).
    pub fn of_server(&self, server: u32) -> Self {
        let mut out = self.clone();
        out.entries.retain(|&(_, s), _| s == server);
        out
    }

    /// Entries whose sequence number lies beyond `other`'s position in their domain: what a
    /// node at `other` has not reached yet.
    pub fn beyond(&self, other: &Self) -> Self {
        let theirs = other.domain_positions();
        let mut out = Self::default();
        for (&(d, s), &q) in &self.entries {
            if theirs.get(&d).is_none_or(|&t| t < q) {
                out.insert(d, s, q);
            }
        }
        out
    }

    /// Sum of per-domain sequence numbers: a total order that agrees with `contains` for
    /// comparable lists; used only to rank lists that are not comparable.
    pub fn weight(&self) -> u128 {
        self.domain_positions().values().map(|&q| u128::from(q)).sum()
    }

    /// Iterate over (domain, server, seq).
    pub fn iter(&self) -> impl Iterator<Item = (u32, u32, u64)> + '_ {
        self.entries.iter().map(|(&(d, s), &q)| (d, s, q))
    }
}

impl fmt::Display for MariaDbGtids {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut first = true;
        for (d, s, q) in self.iter() {
            if !first {
                f.write_str(",")?;
            }
            first = false;
            write!(f, "{d}-{s}-{q}")?;
        }
        Ok(())
    }
}

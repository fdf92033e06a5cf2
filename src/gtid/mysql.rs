//! MySQL GTID sets: `uuid[:tag]:interval[:interval…]` groups, as in `@@gtid_executed` or
//! `Retrieved_Gtid_Set` ("3e11fa47-71ca-11e1-9e33-c80aa9429562:1-5:11-18,…"). MySQL 8.3+ adds
//! tags: "uuid:tag:1-5". Unlike MariaDB positions these are true sets of transactions, so
//! union, difference and subset are exact.

use super::GtidError;
use std::collections::BTreeMap;
use std::fmt;

/// Key of one group of transactions: source UUID (lower case) and tag ("" when untagged).
type Source = (String, String);

/// A MySQL GTID set, normalised: per source, sorted, disjoint, non-adjacent closed intervals.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct MySqlGtidSet {
    sets: BTreeMap<Source, Vec<(u64, u64)>>,
}

fn valid_uuid(s: &str) -> bool {
    let groups: Vec<&str> = s.split('-').collect();
    groups.len() == 5
        && groups
            .iter()
            .zip([8, 4, 4, 4, 12])
            .all(|(g, n)| g.len() == n && g.chars().all(|c| c.is_ascii_hexdigit()))
}

fn valid_tag(s: &str) -> bool {
    // MySQL: up to 32 characters, letters, digits and underscores, not starting with a digit.
    !s.is_empty()
        && s.len() <= 32
        && s.chars().next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

impl MySqlGtidSet {
    /// Parse MySQL's text form; accepts the newlines MySQL puts after commas.
    pub fn parse(text: &str) -> Result<Self, GtidError> {
        let mut out = Self::default();
        for group in text.split(',').map(str::trim).filter(|g| !g.is_empty()) {
            let bad = |reason: &'static str| GtidError::MySql {
                text: group.to_string(),
                reason,
            };
            let mut parts = group.split(':').map(str::trim);
            let uuid = parts.next().unwrap_or_default().to_ascii_lowercase();
            if !valid_uuid(&uuid) {
                return Err(bad("expected a UUID before the first ':'"));
            }
            let mut tag = String::new();
            let mut any = false;
            for p in parts {
                if p.chars().next().is_some_and(|c| c.is_ascii_digit()) {
                    let (a, b) = match p.split_once('-') {
                        Some((a, b)) => (a.parse::<u64>(), b.parse::<u64>()),
                        None => (p.parse::<u64>(), p.parse::<u64>()),
                    };
                    let (Ok(a), Ok(b)) = (a, b) else {
                        return Err(bad("interval must be N or N-M with unsigned integers"));
                    };
                    if a == 0 || b < a {
                        return Err(bad("interval must start at 1 or later and not run backwards"));
                    }
                    out.add_interval(&uuid, &tag, a, b);
                    any = true;
                } else if valid_tag(p) {
                    tag = p.to_ascii_lowercase();
                } else {
                    return Err(bad("expected an interval or a tag"));
                }
            }
            if !any {
                return Err(bad("a UUID needs at least one interval"));
            }
        }
        Ok(out)
    }

    /// Add the closed interval a..=b of source (uuid, tag).
    pub fn add_interval(&mut self, uuid: &str, tag: &str, a: u64, b: u64) {
        let v = self.sets.entry((uuid.to_string(), tag.to_string())).or_default();
        v.push((a, b));
        v.sort_unstable();
        let mut merged: Vec<(u64, u64)> = Vec::with_capacity(v.len());
        for &(a, b) in v.iter() {
            match merged.last_mut() {
                Some(last) if a <= last.1.saturating_add(1) => last.1 = last.1.max(b),
                _ => merged.push((a, b)),
            }
        }
        *v = merged;
    }

    /// True when the set holds no transaction.
    pub fn is_empty(&self) -> bool {
        self.sets.is_empty()
    }

    /// Number of transactions in the set.
    pub fn count(&self) -> u128 {
        self.sets.values().flatten().map(|&(a, b)| u128::from(b - a) + 1).sum()
    }

    /// self ∪ other.
    pub fn union(&self, other: &Self) -> Self {
        let mut out = self.clone();
        for ((u, t), ivs) in &other.sets {
            for &(a, b) in ivs {
                out.add_interval(u, t, a, b);
            }
        }
        out
    }

    /// self − other: what self has that other has not.
    pub fn subtract(&self, other: &Self) -> Self {
        let mut out = Self::default();
        for (key, ivs) in &self.sets {
            let holes = other.sets.get(key).map(Vec::as_slice).unwrap_or(&[]);
            for &(a, b) in ivs {
                let mut start = a;
                for &(ha, hb) in holes {
                    if hb < start || ha > b {
                        continue;
                    }
                    if ha > start {
                        out.add_interval(&key.0, &key.1, start, ha - 1);
                    }
                    if hb >= b {
                        start = b.saturating_add(1);
                        break;
                    }
                    start = hb + 1;
                }
                if start <= b {
                    out.add_interval(&key.0, &key.1, start, b);
                }
            }
        }
        out
    }

    /// other ⊆ self.
    pub fn contains(&self, other: &Self) -> bool {
        other.subtract(self).is_empty()
    }

    /// Transactions a replica (self) executed that the master has not: self − master.
    pub fn errant_vs(&self, master: &Self) -> Self {
        self.subtract(master)
    }
}

impl fmt::Display for MySqlGtidSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut current_uuid: Option<&str> = None;
        for ((uuid, tag), ivs) in &self.sets {
            if current_uuid != Some(uuid.as_str()) {
                if current_uuid.is_some() {
                    f.write_str(",")?;
                }
                f.write_str(uuid)?;
                current_uuid = Some(uuid);
            }
            if !tag.is_empty() {
                write!(f, ":{tag}")?;
            }
            for &(a, b) in ivs {
                if a == b {
                    write!(f, ":{a}")?;
                } else {
                    write!(f, ":{a}-{b}")?;
                }
            }
        }
        Ok(())
    }
}

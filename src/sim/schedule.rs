//! Random fault schedules, from a seed: a few overlapping fault episodes (a node killed,
//! frozen or cut off, links cut or flapping, a manager killed, paused or cut off, the VIP's
//! API hanging or lagging, ZooKeeper without quorum, an errant write on a replica), each
//! starting at a time or at an event — the end of the previous episode give or take a probe
//! timeout, or the start of a failover — and ending after a while; then everything heals.
//!
//! The weights lean on what fixed drills do not reach: faults that overlap, heals that land
//! inside a probe timeout, a leader paused or cut off while it fails over, flapping links.

use std::fmt;
use std::time::Duration;

/// Who an episode hits, resolved when it starts (the master *then*, the leader *then*).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Who {
    /// The master of record.
    Master,
    /// A replica: the `n`-th node that is not the master of record (mod their number).
    Replica(usize),
    /// The cluster's leading manager (any manager if there is none).
    Leader,
    /// A manager that does not lead (the `n`-th, mod their number).
    Standby(usize),
    /// Every manager.
    Managers,
    /// The ZooKeeper ensemble.
    Zk,
    /// The VIP's cloud API.
    Cloud,
}

/// What an episode does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// SIGKILL a database server; restarted at the end.
    Kill(Who),
    /// SIGSTOP a database server; SIGCONT at the end.
    Freeze(Who),
    /// Cut a host (node or manager) off from every other.
    Isolate(Who),
    /// Cut the link between two hosts.
    Cut(Who, Who),
    /// Cut and restore the link between two hosts, again and again (period in ms).
    Flap(Who, Who, u64),
    /// SIGKILL a manager; started again at the end.
    KillManager(Who),
    /// SIGSTOP a manager; SIGCONT at the end.
    Pause(Who),
    /// The VIP's API answers nothing.
    CloudHang,
    /// Half the VIP's writes are throttled, and reads lag writes by a second.
    CloudFlaky,
    /// ZooKeeper loses its quorum.
    ZkDown,
    /// A privileged session writes on a replica (an errant transaction), once.
    Errant(Who),
}

/// When an episode starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Start {
    /// At this offset from the schedule's start.
    At(Duration),
    /// When the previous episode ends, shifted by this many ms (a heal inside a probe
    /// timeout: the next fault lands while the managers are still unsure).
    AfterPrevious(i64),
    /// This long after a failover record first appears (or at the schedule's end of faults,
    /// if none does).
    AfterFailover(Duration),
}

/// One fault, its start and how long it lasts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Episode {
    /// What.
    pub fault: Fault,
    /// When it starts.
    pub start: Start,
    /// How long it lasts.
    pub length: Duration,
}

/// The kind of a schedule: which invariants it adds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Class {
    /// Anything.
    Mixed,
    /// Only managers cut from a healthy master (invariant e: no failover at all).
    ManagersCutFromMaster,
}

/// A schedule of episodes, then a heal of everything and a quiet period.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Schedule {
    /// The seed it came from (the world's randomness comes from it too).
    pub seed: u64,
    /// Its class.
    pub class: Class,
    /// The episodes.
    pub episodes: Vec<Episode>,
    /// When every fault is healed, at the latest.
    pub heal_at: Duration,
    /// How long the world runs without faults afterwards.
    pub settle: Duration,
}

/// Faults happen in this window of the schedule.
const FAULT_WINDOW: (u64, u64) = (500, 8_000);
/// The quiet period after the heal.
const SETTLE: Duration = Duration::from_secs(12);

fn ms(v: u64) -> Duration {
    Duration::from_millis(v)
}

impl Schedule {
    /// The schedule of `seed`.
    pub fn random(seed: u64) -> Schedule {
        let mut rng = fastrand::Rng::with_seed(seed ^ 0x5eed_5c4e_d01e);
        let class = if rng.u8(0..10) == 0 {
            Class::ManagersCutFromMaster
        } else {
            Class::Mixed
        };
        let count = match class {
            Class::ManagersCutFromMaster => rng.usize(1..=4),
            Class::Mixed => [1, 2, 2, 3, 3, 4][rng.usize(0..6)],
        };
        let mut episodes = Vec::with_capacity(count);
        for i in 0..count {
            let fault = match class {
                Class::ManagersCutFromMaster => managers_cut(&mut rng),
                Class::Mixed => mixed(&mut rng),
            };
            let start = if i == 0 {
                Start::At(ms(rng.u64(FAULT_WINDOW.0..FAULT_WINDOW.1 / 2)))
            } else {
                match rng.u8(0..10) {
                    // the next fault lands inside the previous heal's probe timeout
                    0..=3 => Start::AfterPrevious(rng.i64(-500..=600)),
                    4..=6 if class == Class::Mixed => Start::AfterFailover(ms(rng.u64(0..=900))),
                    _ => Start::At(ms(rng.u64(FAULT_WINDOW.0..FAULT_WINDOW.1))),
                }
            };
            let length = match fault {
                Fault::Errant(_) => Duration::ZERO,
                // around the session timeout (4 s): below it the lead stays, above it moves
                Fault::Pause(_) | Fault::KillManager(_) => ms(rng.u64(300..=9_000)),
                _ => ms(rng.u64(150..=8_000)),
            };
            episodes.push(Episode { fault, start, length });
        }
        Schedule {
            seed,
            class,
            episodes,
            heal_at: ms(FAULT_WINDOW.1 * 2),
            settle: SETTLE,
        }
    }
}

fn node(rng: &mut fastrand::Rng) -> Who {
    if rng.bool() {
        Who::Master
    } else {
        Who::Replica(rng.usize(0..2))
    }
}

fn manager(rng: &mut fastrand::Rng) -> Who {
    match rng.u8(0..6) {
        0..=3 => Who::Leader,
        4 => Who::Standby(rng.usize(0..2)),
        _ => Who::Managers,
    }
}

fn managers_cut(rng: &mut fastrand::Rng) -> Fault {
    let m = manager(rng);
    if rng.u8(0..3) == 0 {
        Fault::Flap(m, Who::Master, rng.u64(100..=900))
    } else {
        Fault::Cut(m, Who::Master)
    }
}

fn mixed(rng: &mut fastrand::Rng) -> Fault {
    match rng.u8(0..100) {
        0..=13 => Fault::Kill(node(rng)),
        14..=25 => Fault::Freeze(node(rng)),
        26..=35 => Fault::Isolate(node(rng)),
        36..=45 => Fault::Cut(Who::Master, Who::Replica(rng.usize(0..2))),
        46..=53 => Fault::Cut(manager(rng), node(rng)),
        54..=60 => {
            let (a, b) = if rng.bool() {
                (manager(rng), node(rng))
            } else {
                (Who::Master, Who::Replica(rng.usize(0..2)))
            };
            Fault::Flap(a, b, rng.u64(100..=900))
        }
        61..=67 => Fault::Pause(Who::Leader),
        68..=72 => Fault::KillManager(manager(rng)),
        73..=78 => Fault::Isolate(manager(rng)),
        79..=82 => Fault::Cut(manager(rng), Who::Zk),
        83..=86 => Fault::CloudHang,
        87..=90 => Fault::CloudFlaky,
        91..=93 => Fault::ZkDown,
        _ => Fault::Errant(Who::Replica(rng.usize(0..2))),
    }
}

impl fmt::Display for Who {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Who::Master => write!(f, "the master"),
            Who::Replica(n) => write!(f, "replica #{n}"),
            Who::Leader => write!(f, "the leader"),
            Who::Standby(n) => write!(f, "standby #{n}"),
            Who::Managers => write!(f, "every manager"),
            Who::Zk => write!(f, "ZooKeeper"),
            Who::Cloud => write!(f, "the cloud API"),
        }
    }
}

impl fmt::Display for Fault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Fault::Kill(w) => write!(f, "kill {w}"),
            Fault::Freeze(w) => write!(f, "freeze {w}"),
            Fault::Isolate(w) => write!(f, "isolate {w}"),
            Fault::Cut(a, b) => write!(f, "cut {a} from {b}"),
            Fault::Flap(a, b, p) => write!(f, "flap the link {a} – {b} every {p} ms"),
            Fault::KillManager(w) => write!(f, "kill the manager {w}"),
            Fault::Pause(w) => write!(f, "pause the manager {w}"),
            Fault::CloudHang => write!(f, "the VIP's API hangs"),
            Fault::CloudFlaky => write!(f, "the VIP's API throttles and lags"),
            Fault::ZkDown => write!(f, "ZooKeeper loses its quorum"),
            Fault::Errant(w) => write!(f, "an errant write on {w}"),
        }
    }
}

impl fmt::Display for Episode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.start {
            Start::At(t) => write!(f, "at {:.3} s", t.as_secs_f64())?,
            Start::AfterPrevious(d) => write!(f, "{d:+} ms after the previous ends")?,
            Start::AfterFailover(d) => write!(f, "{} ms after a failover starts", d.as_millis())?,
        }
        write!(f, ": {} for {:.3} s", self.fault, self.length.as_secs_f64())
    }
}

impl fmt::Display for Schedule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "schedule {} ({:?}):", self.seed, self.class)?;
        for e in &self.episodes {
            writeln!(f, "  {e}")?;
        }
        write!(
            f,
            "  everything healed by {:.1} s, then {:.0} s without faults",
            self.heal_at.as_secs_f64(),
            self.settle.as_secs_f64()
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_seed_is_one_schedule() {
        assert_eq!(Schedule::random(7), Schedule::random(7));
        let distinct: std::collections::BTreeSet<String> = (0..200).map(|s| Schedule::random(s).to_string()).collect();
        assert!(distinct.len() > 190, "seeds should give different schedules");
    }

    #[test]
    fn schedules_overlap_faults_and_cover_every_kind() {
        let all: Vec<Schedule> = (0..2000).map(Schedule::random).collect();
        let overlapping = all.iter().filter(|s| s.episodes.len() > 1).count();
        assert!(overlapping > 1200, "{overlapping} of 2000 overlap");
        let has = |p: &dyn Fn(&Fault) -> bool| all.iter().any(|s| s.episodes.iter().any(|e| p(&e.fault)));
        assert!(has(&|f| matches!(f, Fault::Pause(Who::Leader))));
        assert!(has(&|f| matches!(f, Fault::Flap(..))));
        assert!(has(&|f| matches!(f, Fault::ZkDown)));
        assert!(has(&|f| matches!(f, Fault::Errant(_))));
        assert!(all.iter().any(|s| s.class == Class::ManagersCutFromMaster));
    }
}

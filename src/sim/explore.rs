//! Run random fault schedules against three whole managers and check the invariants:
//!
//! - (a) once the faults stop and the cluster settled, every write acknowledged to a client
//!   is on the master of record;
//! - (b) never two nodes that would acknowledge a write at the same instant; once settled,
//!   the VIP leads to the master of record;
//! - (c) no node or route changed by a manager that did not lead the cluster at that instant
//!   (checked where the change lands, [`super::World::record_mutation`]);
//! - (d) no errant transaction of another node on the master of record (unless that node
//!   was the master of record itself after writing it);
//! - (e) no failover at all in schedules that only cut managers from a healthy master;
//! - (f) liveness: once settled (`Schedule::settle`, 12 s after the last fault), the master
//!   of record takes writes and every other running node replicates from it or is marked
//!   for rebuild — or the shared state says why not (paused, a lossless refusal, the
//!   anti-flap block).
//!
//! One schedule runs on its own current-thread runtime with paused time, so it is
//! deterministic from its seed; schedules run on as many threads as there are cores.

use super::mysql::Process;
use super::schedule::{Class, Episode, Fault, Schedule, Start, Who};
use super::{Sim, TICK};
use std::collections::BTreeSet;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Duration;
use tokio::time::Instant;

/// The simulated nodes and managers.
pub const NODES: [&str; 3] = ["db1", "db2", "db3"];
/// The managers (their hosts have the same names).
pub const MANAGERS: [&str; 3] = ["mgr1", "mgr2", "mgr3"];

/// What one schedule did and broke.
#[derive(Debug, Clone)]
pub struct Report {
    /// The schedule.
    pub schedule: Schedule,
    /// Invariants broken (empty: none).
    pub violations: Vec<String>,
    /// What happened, in order: faults, the managers' outcomes, their changes.
    pub timeline: Vec<String>,
    /// Writes acknowledged to clients.
    pub acks: usize,
    /// Failover records written.
    pub failovers: usize,
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "{}", self.schedule)?;
        writeln!(f, "violations:")?;
        for v in &self.violations {
            writeln!(f, "  {v}")?;
        }
        writeln!(
            f,
            "timeline ({} writes acknowledged, {} failovers):",
            self.acks, self.failovers
        )?;
        for t in &self.timeline {
            writeln!(f, "  {t}")?;
        }
        write!(
            f,
            "replay: MYHA_SIM_SEED={} cargo test --test simulation -- --nocapture",
            self.schedule.seed
        )
    }
}

/// A fault as applied: concrete hosts, so that its end undoes exactly it.
#[derive(Debug, Clone)]
enum Applied {
    Kill(String),
    Freeze(String),
    Isolate(String),
    Cut(Vec<(String, String)>),
    Flap {
        pairs: Vec<(String, String)>,
        period: Duration,
        next: Instant,
        cut: bool,
    },
    KillManager(String),
    Pause(String),
    CloudHang,
    CloudFlaky,
    ZkDown,
    Nothing,
}

struct Runner {
    sim: Sim,
    t0: Instant,
    timeline: Vec<String>,
    seen_outcomes: usize,
    seen_mutations: usize,
    violations: BTreeSet<String>,
    /// When each episode started and ends (None: not yet).
    ends: Vec<Option<Instant>>,
    active: Vec<(Instant, Applied)>,
    failover_seen: Option<Instant>,
    /// Errant writes (indexes into `World::errant`) whose node became the master of record
    /// after writing them: from then on they are the cluster's history, like every other
    /// write of a master (a promoted node's own transactions are allowed by (d)).
    adopted_errant: BTreeSet<usize>,
}

impl Runner {
    fn at(&self) -> String {
        format!(
            "{:>7.3}s",
            Instant::now().saturating_duration_since(self.t0).as_secs_f64()
        )
    }

    fn note(&mut self, what: String) {
        let line = format!("{} {what}", self.at());
        self.timeline.push(line);
    }

    fn master(&self) -> String {
        self.sim.shared().master.unwrap_or_else(|| NODES[0].to_string())
    }

    fn alive_managers(&self) -> Vec<String> {
        self.sim.managers.keys().cloned().collect()
    }

    /// The concrete hosts `who` names now.
    fn resolve(&self, who: Who) -> Vec<String> {
        let master = self.master();
        let leader = self.sim.leader();
        match who {
            Who::Master => vec![master],
            Who::Replica(n) => {
                let r: Vec<&str> = NODES.iter().copied().filter(|x| *x != master).collect();
                vec![r[n % r.len()].to_string()]
            }
            Who::Leader => match leader {
                Some(l) => vec![l],
                None => self.alive_managers().into_iter().take(1).collect(),
            },
            Who::Standby(n) => {
                let s: Vec<String> = self
                    .alive_managers()
                    .into_iter()
                    .filter(|m| Some(m) != leader.as_ref())
                    .collect();
                if s.is_empty() {
                    Vec::new()
                } else {
                    vec![s[n % s.len()].clone()]
                }
            }
            Who::Managers => MANAGERS.iter().map(|m| m.to_string()).collect(),
            Who::Zk => vec!["zk".into()],
            Who::Cloud => vec!["aws".into()],
        }
    }

    fn pairs(&self, a: Who, b: Who) -> Vec<(String, String)> {
        let (a, b) = (self.resolve(a), self.resolve(b));
        a.iter()
            .flat_map(|x| b.iter().map(move |y| (x.clone(), y.clone())))
            .filter(|(x, y)| x != y)
            .collect()
    }

    /// Node `n`'s server process now.
    fn process(&self, n: &str) -> Option<Process> {
        self.sim.w().nodes.get(n).map(|x| x.process)
    }

    fn one(&self, who: Who) -> Option<String> {
        self.resolve(who).into_iter().next()
    }

    fn apply(&mut self, e: &Episode) -> Applied {
        let applied = match e.fault {
            Fault::Kill(w) => self.one(w).map(Applied::Kill),
            // SIGSTOP on a dead server stops nothing
            Fault::Freeze(w) => self
                .one(w)
                .filter(|n| self.process(n) == Some(Process::Running))
                .map(Applied::Freeze),
            Fault::Isolate(w) => self.one(w).map(Applied::Isolate),
            Fault::Cut(a, b) => Some(Applied::Cut(self.pairs(a, b))),
            Fault::Flap(a, b, p) => Some(Applied::Flap {
                pairs: self.pairs(a, b),
                period: Duration::from_millis(p),
                next: Instant::now(),
                cut: false,
            }),
            Fault::KillManager(w) => self
                .one(w)
                .filter(|m| self.sim.managers.contains_key(m))
                .map(Applied::KillManager),
            Fault::Pause(w) => self.one(w).map(Applied::Pause),
            Fault::CloudHang => Some(Applied::CloudHang),
            Fault::CloudFlaky => Some(Applied::CloudFlaky),
            Fault::ZkDown => Some(Applied::ZkDown),
            Fault::Errant(w) => {
                if let Some(n) = self.one(w) {
                    let mut world = self.sim.w();
                    if let Some(t) = world.errant_write(&n) {
                        world.errant.push((n.clone(), t));
                        drop(world);
                        self.note(format!("errant write 0-{}-{} on {n}", t.server, t.seq));
                    }
                }
                Some(Applied::Nothing)
            }
        }
        .unwrap_or(Applied::Nothing);
        self.set(&applied, true);
        self.note(format!("fault: {} → {}", e.fault, describe(&applied)));
        applied
    }

    fn set(&mut self, a: &Applied, on: bool) {
        match a {
            // Each fault acts on the process as it is then, as signals do: SIGKILL ends a
            // frozen server too, SIGSTOP on a dead one stops nothing, and a thaw does not
            // restart a server that died meanwhile — nor does it bring back, writable, one
            // that was killed under the freeze (a restart is always the kill's heal, and
            // comes up read-only).
            Applied::Kill(n) => match (on, self.process(n)) {
                (true, _) => self.sim.set_process(n, Process::Stopped),
                (false, Some(Process::Stopped)) => self.sim.set_process(n, Process::Running),
                _ => {}
            },
            Applied::Freeze(n) => match (on, self.process(n)) {
                (true, Some(Process::Running)) => self.sim.set_process(n, Process::Frozen),
                (false, Some(Process::Frozen)) => self.sim.set_process(n, Process::Running),
                _ => {}
            },
            Applied::Isolate(h) => {
                let mut w = self.sim.w();
                if on {
                    w.net.isolate(h)
                } else {
                    w.net.heal(h)
                }
            }
            Applied::Cut(pairs) | Applied::Flap { pairs, .. } => {
                let mut w = self.sim.w();
                for (x, y) in pairs {
                    if on && matches!(a, Applied::Cut(_)) {
                        w.net.cut(x, y);
                    } else if !on {
                        w.net.uncut(x, y);
                    }
                }
            }
            Applied::KillManager(m) => {
                if on {
                    self.sim.kill_manager(m);
                } else if !self.sim.managers.contains_key(m) {
                    self.sim.start_manager(m);
                }
            }
            Applied::Pause(m) => self.sim.pause_manager(m, on),
            Applied::CloudHang => self.sim.w().vip.hung = on,
            Applied::CloudFlaky => {
                let mut w = self.sim.w();
                w.vip.throttle = if on { 0.5 } else { 0.0 };
                w.vip.read_lag = if on { Duration::from_secs(1) } else { Duration::ZERO };
            }
            Applied::ZkDown => self.sim.w().zk_down = on,
            Applied::Nothing => {}
        }
    }

    fn flap(&mut self) {
        let now = Instant::now();
        let mut w = self.sim.w();
        for (_, a) in self.active.iter_mut() {
            if let Applied::Flap {
                pairs,
                period,
                next,
                cut,
            } = a
            {
                if now >= *next {
                    *cut = !*cut;
                    *next = now + *period;
                    for (x, y) in pairs.iter() {
                        if *cut {
                            w.net.cut(x, y);
                        } else {
                            w.net.uncut(x, y);
                        }
                    }
                }
            }
        }
    }

    /// Start what is due.
    fn start_due(&mut self, schedule: &Schedule) {
        let now = Instant::now();
        if self.failover_seen.is_none() && !self.sim.records().is_empty() {
            self.failover_seen = Some(now);
        }
        for i in 0..schedule.episodes.len() {
            if self.ends[i].is_some() {
                continue;
            }
            let e = schedule.episodes[i];
            let due = match e.start {
                Start::At(t) => Some(self.t0 + t),
                Start::AfterPrevious(d) => match i.checked_sub(1).and_then(|p| self.ends[p]) {
                    Some(end) if d >= 0 => Some(end + Duration::from_millis(d as u64)),
                    Some(end) => Some(end.checked_sub(Duration::from_millis(d.unsigned_abs())).unwrap_or(end)),
                    None => None,
                },
                Start::AfterFailover(d) => self.failover_seen.map(|t| t + d),
            };
            if due.is_some_and(|t| now >= t) {
                let applied = self.apply(&e);
                let end = now + e.length;
                self.ends[i] = Some(end);
                self.active.push((end, applied));
            }
        }
    }

    fn end_due(&mut self) {
        let now = Instant::now();
        let (done, keep): (Vec<_>, Vec<_>) = std::mem::take(&mut self.active)
            .into_iter()
            .partition(|(end, _)| now >= *end);
        self.active = keep;
        for (_, a) in done {
            if !matches!(a, Applied::Nothing) {
                self.set(&a, false);
                self.note(format!("heal: {}", describe(&a)));
            }
        }
    }

    fn heal_all(&mut self) {
        for (_, a) in std::mem::take(&mut self.active) {
            self.set(&a, false);
        }
        {
            let mut w = self.sim.w();
            w.net.heal_all();
            w.vip.hung = false;
            w.vip.throttle = 0.0;
            w.vip.read_lag = Duration::ZERO;
            w.zk_down = false;
        }
        for n in NODES {
            if self.process(n) != Some(Process::Running) {
                self.sim.set_process(n, Process::Running);
            }
        }
        for m in MANAGERS {
            self.sim.pause_manager(m, false);
            if !self.sim.managers.contains_key(m) {
                self.sim.start_manager(m);
            }
        }
        self.note("heal: everything".into());
    }

    /// One tick: the world moves, then the instant's invariants.
    async fn tick(&mut self) {
        self.sim.run_for(TICK).await;
        self.collect();
        let w = self.sim.w();
        let acking: Vec<&str> = NODES.iter().copied().filter(|n| w.acknowledges(n)).collect();
        let mut found = Vec::new();
        if acking.len() > 1 {
            found.push(format!("(b) {} would all acknowledge writes", acking.join(" and ")));
        }
        let errant: Vec<String> = w.errant.iter().map(|(n, _)| n.clone()).collect();
        drop(w);
        if errant.len() > self.adopted_errant.len() {
            if let Some(m) = self.sim.shared().master {
                let adopted = errant.iter().enumerate().filter(|(_, n)| **n == m).map(|(i, _)| i);
                self.adopted_errant.extend(adopted);
            }
        }
        for v in found {
            if self.violations.insert(v.clone()) {
                self.note(format!("VIOLATION {v}"));
            }
        }
    }

    /// New outcomes and changes into the timeline; violations the world recorded.
    fn collect(&mut self) {
        let outcomes: Vec<String> = self.sim.outcomes[self.seen_outcomes..]
            .iter()
            .filter(|o| !o.ends_with("left to the leader"))
            .cloned()
            .collect();
        self.seen_outcomes = self.sim.outcomes.len();
        for o in outcomes {
            self.note(o);
        }
        let (mutations, violations) = {
            let mut w = self.sim.w();
            let m: Vec<String> = w.mutations[self.seen_mutations..]
                .iter()
                .map(|m| format!("{} → {}: {}", m.host, m.target, m.op))
                .collect();
            self.seen_mutations = w.mutations.len();
            (m, std::mem::take(&mut w.violations))
        };
        for m in mutations {
            self.note(m);
        }
        for v in violations {
            if self.violations.insert(v.clone()) {
                self.note(format!("VIOLATION {v}"));
            }
        }
    }

    /// The invariants of a settled cluster.
    fn settled(&mut self, class: Class) {
        let shared = self.sim.shared();
        let records = self.sim.records();
        let w = self.sim.w();
        let mut found = Vec::new();
        let Some(master) = shared.master.clone() else {
            found.push("(a) no master of record".to_string());
            drop(w);
            self.violations.extend(found);
            return;
        };
        if let Some(m) = w.nodes.get(&master) {
            let written: std::collections::HashSet<u64> = m.log.iter().map(|t| t.write).collect();
            let lost: Vec<u64> = w
                .acks
                .iter()
                .filter(|a| !written.contains(&a.write))
                .map(|a| a.write)
                .collect();
            if !lost.is_empty() {
                let first = lost[0];
                let ack = w.acks.iter().find(|a| a.write == first);
                let on: Vec<&str> = w
                    .nodes
                    .values()
                    .filter(|n| n.has_write(first))
                    .map(|n| n.name.as_str())
                    .collect();
                found.push(format!(
                    "(a) {} acknowledged writes missing on the master of record {master}: {:?}; the first acknowledged by server {} at {:.3}s, now on [{}]",
                    lost.len(),
                    &lost[..lost.len().min(8)],
                    ack.map(|a| a.server).unwrap_or(0),
                    ack.map(|a| a.at.saturating_duration_since(self.t0).as_secs_f64()).unwrap_or(0.0),
                    on.join(", ")
                ));
            }
            let errant: Vec<String> = w
                .errant
                .iter()
                .enumerate()
                .filter(|(i, _)| !self.adopted_errant.contains(i))
                .map(|(_, e)| e)
                .filter(|(node, t)| *node != master && m.log.contains(t))
                .map(|(node, t)| format!("0-{}-{} (of {node})", t.server, t.seq))
                .collect();
            if !errant.is_empty() {
                found.push(format!(
                    "(d) the master of record {master} holds errant {}",
                    errant.join(", ")
                ));
            }
        }
        let routes: BTreeSet<Option<String>> = w.vip.parts.values().cloned().collect();
        if routes.len() != 1 || !routes.contains(&Some(master.clone())) {
            found.push(format!(
                "(b) settled, the VIP leads to {routes:?}, not to the master of record {master}"
            ));
        }
        if let Some(v) = stuck(&w, &shared, &master, crate::model::unix_ms(crate::model::time::now())) {
            found.push(v);
        }
        if class == Class::ManagersCutFromMaster && !records.is_empty() {
            found.push(format!(
                "(e) {} failover(s) while only managers were cut from a healthy master",
                records.len()
            ));
        }
        drop(w);
        for v in found {
            if self.violations.insert(v.clone()) {
                self.note(format!("VIOLATION {v}"));
            }
        }
    }
}

/// (f) liveness: settled, the master of record takes writes and every other running node
/// replicates from it or is marked for rebuild — unless the shared state says why not (a
/// DBA paused automation, a lossless refusal, the anti-flap block after a master that served).
fn stuck(w: &super::World, shared: &crate::model::SharedState, master: &str, now_ms: u64) -> Option<String> {
    if shared.paused || shared.refused.is_some() || shared.active_block(now_ms).is_some() {
        return None;
    }
    let mut wrong = Vec::new();
    match w.nodes.get(master) {
        Some(m) if m.accepts_writes() => {}
        Some(m) if m.process != Process::Running => wrong.push(format!("{master} is not running")),
        _ => wrong.push(format!("{master} is read-only")),
    }
    for (name, n) in w.nodes.iter().filter(|(name, _)| name.as_str() != master) {
        if n.process != Process::Running || shared.needs_rebuild.contains_key(name) {
            continue;
        }
        let ok = n
            .repl
            .as_ref()
            .is_some_and(|r| r.master == master && r.io == crate::topology::IoThread::Yes && r.sql);
        if !ok {
            wrong.push(format!(
                "{name} neither replicates from {master} nor is marked for rebuild"
            ));
        }
    }
    (!wrong.is_empty()).then(|| format!("(f) settled but stuck, no reason recorded: {}", wrong.join("; ")))
}

fn describe(a: &Applied) -> String {
    match a {
        Applied::Kill(n) => format!("{n} killed"),
        Applied::Freeze(n) => format!("{n} frozen"),
        Applied::Isolate(h) => format!("{h} isolated"),
        Applied::Cut(p) => format!("cut {}", pairs_text(p)),
        Applied::Flap { pairs, period, .. } => {
            format!("flapping {} every {} ms", pairs_text(pairs), period.as_millis())
        }
        Applied::KillManager(m) => format!("manager {m} killed"),
        Applied::Pause(m) => format!("manager {m} paused"),
        Applied::CloudHang => "the VIP's API hangs".into(),
        Applied::CloudFlaky => "the VIP's API throttles and lags".into(),
        Applied::ZkDown => "ZooKeeper without quorum".into(),
        Applied::Nothing => "nothing".into(),
    }
}

fn pairs_text(p: &[(String, String)]) -> String {
    p.iter().map(|(a, b)| format!("{a}–{b}")).collect::<Vec<_>>().join(", ")
}

/// Run `schedule` on the current (paused, current-thread) runtime.
pub async fn run(schedule: &Schedule) -> Report {
    let mut sim = Sim::new(schedule.seed, &NODES);
    sim.add_client(false, Duration::from_millis(20));
    sim.add_client(true, Duration::from_millis(30));
    for m in MANAGERS {
        sim.start_manager(m);
    }
    sim.run_for(Duration::from_secs(3)).await;
    let mut r = Runner {
        sim,
        t0: Instant::now(),
        timeline: Vec::new(),
        seen_outcomes: 0,
        seen_mutations: 0,
        violations: BTreeSet::new(),
        ends: vec![None; schedule.episodes.len()],
        active: Vec::new(),
        failover_seen: None,
        adopted_errant: BTreeSet::new(),
    };
    r.collect();
    let heal = r.t0 + schedule.heal_at;
    while Instant::now() < heal {
        r.start_due(schedule);
        r.end_due();
        r.flap();
        r.tick().await;
        let all_done = r.ends.iter().all(|e| e.is_some()) && r.active.is_empty();
        let waiting_on_failover = schedule
            .episodes
            .iter()
            .zip(&r.ends)
            .any(|(e, end)| end.is_none() && matches!(e.start, Start::AfterFailover(_)));
        if all_done || (r.active.is_empty() && waiting_on_failover && Instant::now() >= r.t0 + schedule.heal_at / 2) {
            break;
        }
    }
    r.heal_all();
    let settle = Instant::now() + schedule.settle;
    while Instant::now() < settle {
        r.tick().await;
    }
    r.settled(schedule.class);
    let acks = r.sim.w().acks.len();
    let failovers = r.sim.records().len();
    r.sim.stop();
    Report {
        schedule: schedule.clone(),
        violations: r.violations.into_iter().collect(),
        timeline: r.timeline,
        acks,
        failovers,
    }
}

/// Run the schedule of `seed` on a runtime of its own.
pub fn run_seed(seed: u64) -> Report {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
        .expect("a current-thread runtime");
    let schedule = Schedule::random(seed);
    rt.block_on(run(&schedule))
}

/// What a batch of schedules found.
#[derive(Debug, Default)]
pub struct Summary {
    /// Schedules run.
    pub schedules: u64,
    /// Failover records written, over all schedules.
    pub failovers: u64,
    /// Writes acknowledged, over all schedules.
    pub acks: u64,
    /// The schedules that broke an invariant.
    pub failed: Vec<Report>,
}

/// Run the schedules of `seeds` on `threads` threads; stop early after `max_failed`
/// failing schedules.
pub fn explore(seeds: std::ops::Range<u64>, threads: usize, max_failed: usize) -> Summary {
    let next = AtomicU64::new(seeds.start);
    let summary = Mutex::new(Summary::default());
    std::thread::scope(|s| {
        for _ in 0..threads.max(1) {
            s.spawn(|| loop {
                let seed = next.fetch_add(1, Ordering::Relaxed);
                if seed >= seeds.end {
                    return;
                }
                let report = run_seed(seed);
                let mut sum = summary.lock().unwrap_or_else(|e| e.into_inner());
                sum.schedules += 1;
                sum.failovers += report.failovers as u64;
                sum.acks += report.acks as u64;
                if !report.violations.is_empty() {
                    sum.failed.push(report);
                    if sum.failed.len() >= max_failed {
                        next.store(seeds.end, Ordering::Relaxed);
                    }
                }
            });
        }
    });
    let mut sum = summary.into_inner().unwrap_or_else(|e| e.into_inner());
    sum.failed.sort_by_key(|r| r.schedule.seed);
    sum
}

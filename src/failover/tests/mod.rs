//! Candidate selection (pure) and the executor against fakes that fail on unexpected calls.

use super::*;
use crate::config::{FailoverConfig, NodeConfig};
use crate::coord::RecordStore;
use crate::flavor::StartFrom;
use crate::gtid::Gtids;
use crate::model::{FailoverRecord, PromotedSemiSync, SemiSyncPolicy, Status, Step};
use crate::mysql::{Applied, Fenced, MysqlAdmin, OpError, OpenWrite};
use crate::testkit::vip::FakeVip;
use crate::testkit::*;
use crate::topology::{NodeState, ProbeFailure, Snapshot};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Mutex;
use std::time::Duration;
use tokio::time::Instant;

// ---- candidate selection ------------------------------------------------------------------

fn three(db2: &str, db3: &str) -> Snapshot {
    snapshot(vec![
        down("db1"),
        replica("db2", replica_of("db1")).received(db2),
        replica("db3", replica_of("db1")).received(db3),
    ])
}

#[test]
fn most_received_wins_over_priority() {
    let mut c = cluster(&["db1", "db2", "db3"]);
    c.nodes[1].priority = 100;
    let cand = choose(&three("0-1-150", "0-1-151"), &c, "db1", &BTreeMap::new());
    assert_eq!(cand.chosen.as_deref(), Some("db3"));
    assert_eq!(cand.catch_up_from, None);
    assert_eq!(
        cand.ranking.iter().map(|r| r.node.as_str()).collect::<Vec<_>>(),
        ["db3", "db2"]
    );
}

#[test]
fn among_equals_the_one_that_applied_most_is_chosen() {
    let c = cluster(&["db1", "db2", "db3"]);
    let mut snap = three("0-1-5000", "0-1-5000");
    let db3 = snap.nodes[2].state.as_mut().unwrap();
    db3.executed = gtids("0-1-4000");
    db3.binlog_state = gtids("0-1-4000");
    let cand = choose(&snap, &c, "db1", &BTreeMap::new());
    assert_eq!(
        cand.chosen.as_deref(),
        Some("db3"),
        "db2 has 4900 transactions to apply, db3 1000"
    );
}

#[test]
fn priority_breaks_ties_then_config_order() {
    let mut c = cluster(&["db1", "db2", "db3"]);
    assert_eq!(
        choose(&three("0-1-150", "0-1-150"), &c, "db1", &BTreeMap::new())
            .chosen
            .as_deref(),
        Some("db2")
    );
    c.nodes[2].priority = 10;
    let cand = choose(&three("0-1-150", "0-1-150"), &c, "db1", &BTreeMap::new());
    assert_eq!(cand.chosen.as_deref(), Some("db3"));
    assert_eq!(cand.to_string(), "promoting db3 (received 0-1-150, priority 10)");
}

#[test]
fn an_ineligible_most_advanced_replica_becomes_the_donor() {
    let mut c = cluster(&["db1", "db2", "db3"]);
    c.nodes[2].no_promote = true;
    let cand = choose(&three("0-1-150", "0-1-160"), &c, "db1", &BTreeMap::new());
    assert_eq!(cand.chosen.as_deref(), Some("db2"));
    assert_eq!(cand.most_advanced.as_deref(), Some("db3"));
    assert_eq!(cand.catch_up_from.as_deref(), Some("db3"));
    assert_eq!(
        cand.to_string(),
        "promoting db2 (received 0-1-150, priority 0) after catching up from db3, which received more; not eligible: db3 (no_promote)"
    );
}

/// db3 received the most and wrote a transaction of its own (errant): 0-3-5.
fn errant_db3() -> (Snapshot, BTreeMap<String, String>) {
    let snap = snapshot(vec![
        down("db1"),
        replica("db2", replica_of("db1")).received("0-1-150"),
        replica("db3", replica_of("db1"))
            .received("0-1-160")
            .with(|s| s.binlog_state = gtids("0-1-160,0-3-5")),
    ]);
    let errant: BTreeSet<String> = ["db3".to_string()].into();
    (snap, excluded(&errant, &BTreeMap::new()))
}

// Defect 4: the most advanced replica was the catch-up donor even when rejected for errant
// transactions, and the new master inherited them.
#[test]
fn an_errant_replica_is_never_the_donor() {
    let c = cluster(&["db1", "db2", "db3"]);
    let (snap, excluded) = errant_db3();
    let cand = choose(&snap, &c, "db1", &excluded);
    assert_eq!(cand.chosen.as_deref(), Some("db2"));
    assert_eq!(cand.catch_up_from, None, "{cand}");
    assert!(!cand.donors.contains(&"db3".to_string()), "{:?}", cand.donors);
}

// Liveness: replicas whose applier a DBA stopped (no error) when the master died were all
// rejected, and no node was ever promoted.
#[test]
fn a_stopped_applier_without_an_error_is_not_broken() {
    let c = cluster(&["db1", "db2", "db3"]);
    let stopped = |s: &mut NodeState| s.replica.as_mut().expect("a replica").sql_running = false;
    let snap = snapshot(vec![
        down("db1"),
        replica("db2", replica_of("db1")).received("0-1-150").with(stopped),
        replica("db3", replica_of("db1")).received("0-1-160").with(stopped),
    ]);
    let cand = choose(&snap, &c, "db1", &BTreeMap::new());
    assert_eq!(cand.chosen.as_deref(), Some("db3"), "{cand}");
    assert!(cand.rejected.is_empty(), "{cand}");
}

#[test]
fn rejected_nodes_carry_their_reason() {
    let c = cluster(&["db1", "db2", "db3", "db4", "db5"]);
    let snap = snapshot(vec![
        down("db1"),
        replica("db2", replica_of("db1")).with(|s| {
            let r = s.replica.as_mut().unwrap();
            r.sql_running = false;
            r.last_sql_error = Some("Duplicate entry".into());
        }),
        replica("db3", replica_of("db1")),
        replica("db4", replica_of("db9")),
        hung("db5"),
    ]);
    let errant: BTreeSet<String> = ["db3".to_string()].into();
    let cand = choose(&snap, &c, "db1", &excluded(&errant, &BTreeMap::new()));
    assert_eq!(cand.chosen, None);
    let reasons: BTreeMap<&str, &str> = cand
        .rejected
        .iter()
        .map(|r| (r.node.as_str(), r.reason.as_str()))
        .collect();
    assert_eq!(reasons["db2"], "SQL thread not running: Duplicate entry");
    assert_eq!(reasons["db3"], "errant transactions");
    assert_eq!(reasons["db4"], "replicates from db9:3306, not from db1");
    assert_eq!(reasons["db5"], "unreachable: timed out");
    assert!(cand.to_string().starts_with("no node can be promoted; not eligible:"));
}

#[test]
fn a_node_marked_for_rebuild_is_never_promoted() {
    let c = cluster(&["db1", "db2", "db3"]);
    let rebuild: BTreeMap<String, String> =
        [("db3".to_string(), "bootstrap from backup b1 in progress".to_string())].into();
    // db3 received the most, but is being rebuilt
    let cand = choose(
        &three("0-1-150", "0-1-160"),
        &c,
        "db1",
        &excluded(&BTreeSet::new(), &rebuild),
    );
    assert_eq!(cand.chosen.as_deref(), Some("db2"));
    assert!(cand
        .rejected
        .iter()
        .any(|r| r.node == "db3" && r.reason == "marked for rebuild: bootstrap from backup b1 in progress"));
}

// ---- the executor ---------------------------------------------------------------------------

mod admit;
mod switchover;

/// What every fenced old master in these tests had written.
const WRITTEN: &str = "0-1-200";

/// A MySQL admin that answers only the calls a test scripted ("op node" → result) and
/// records their order. Anything else panics: an unexpected call is a bug.
#[derive(Default)]
struct Script {
    answers: Mutex<HashMap<String, Result<bool, OpError>>>,
    calls: Mutex<Vec<String>>,
    /// What each node's state is when it stops receiving (from the test's snapshot).
    states: Mutex<HashMap<String, NodeState>>,
    /// Nodes repointed, and to whom: probed, they replicate from it — unless scripted as
    /// "replicating node" → false (its applier stopped on an error).
    repointed: Mutex<HashMap<String, String>>,
    /// The semi-sync master side the promotion set.
    promoted_with: Mutex<Option<PromotedSemiSync>>,
    /// What successive looks for open write transactions find.
    open: Mutex<std::collections::VecDeque<Vec<OpenWrite>>>,
    /// Per node: the positions successive unfinished waits report (see `wait_applied`).
    applying: Mutex<HashMap<String, std::collections::VecDeque<Gtids>>>,
}

impl Script {
    fn expect(self, call: &str, r: Result<bool, OpError>) -> Self {
        self.answers.lock().unwrap().insert(call.to_string(), r);
        self
    }
    fn answer(&self, call: String) -> Result<bool, OpError> {
        self.calls.lock().unwrap().push(call.clone());
        self.answers
            .lock()
            .unwrap()
            .get(&call)
            .cloned()
            .unwrap_or_else(|| panic!("unexpected call: {call}"))
    }
    /// Nodes stop receiving in the state `snap` shows them in.
    fn knowing(&self, snap: &Snapshot) {
        let mut states = self.states.lock().unwrap();
        for n in &snap.nodes {
            if let Ok(s) = &n.state {
                states.insert(n.name.clone(), s.clone());
            }
        }
    }
    fn calls(&self) -> Vec<String> {
        self.calls.lock().unwrap().clone()
    }
    fn index(&self, call: &str) -> usize {
        self.calls()
            .iter()
            .position(|c| c == call)
            .unwrap_or_else(|| panic!("{call} was not called: {:?}", self.calls()))
    }
}

impl MysqlAdmin for Script {
    /// Only to read a node back: scripted as "read back node" → its read_only.
    async fn probe(&self, node: &NodeConfig) -> Result<NodeState, ProbeFailure> {
        let to = self.repointed.lock().unwrap().get(&node.name).cloned();
        if let Some(m) = to {
            let broken = self.answers.lock().unwrap().get(&format!("replicating {}", node.name)) == Some(&Ok(false));
            let st = crate::testkit::replica(&node.name, replica_of(&m))
                .0
                .state
                .expect("a state");
            return Ok(if broken {
                let mut st = st;
                let r = st.replica.as_mut().expect("a replica");
                r.sql_running = false;
                r.last_sql_error = Some("Could not execute Write_rows_v1 event: Duplicate entry".into());
                st
            } else {
                st
            });
        }
        let read_only = self
            .answer(format!("read back {}", node.name))
            .map_err(|e| ProbeFailure::Query(e.to_string()))?;
        let mut st = crate::testkit::master(&node.name).0.state.expect("a state");
        st.read_only = read_only;
        Ok(st)
    }
    async fn fence(&self, node: &NodeConfig, _: Duration) -> Result<Fenced, OpError> {
        self.answer(format!("fence {}", node.name)).map(|_| Fenced {
            read_only: true,
            sessions_killed: 3,
            written: Some(gtids(WRITTEN)),
        })
    }
    /// Scripted as "wait NODE GTIDS"; a node scripted in `applying` reports each of those
    /// positions in turn while the answer is `false` (a catch-up that progresses).
    async fn wait_applied(&self, node: &NodeConfig, gtids: &Gtids, limit: Duration) -> Result<Applied, OpError> {
        let done = self.answer(format!("wait {} {gtids}", node.name))?;
        let next = self
            .applying
            .lock()
            .unwrap()
            .get_mut(&node.name)
            .and_then(|q| q.pop_front());
        let r = match next {
            Some(p) => Applied {
                done: false,
                applied: Some(p),
            },
            None => Applied { done, applied: None },
        };
        if !r.done {
            // the server's wait ran out
            tokio::time::sleep(limit).await;
        }
        Ok(r)
    }
    async fn raise_applier_threads(&self, node: &NodeConfig, threads: u32, _: Duration) -> Result<u32, OpError> {
        self.answer(format!("threads {} {threads}", node.name)).map(|_| 0)
    }
    /// Successive answers from `open`; none once it is empty.
    async fn open_writes(&self, node: &NodeConfig, _: Duration, _: Duration) -> Result<Vec<OpenWrite>, OpError> {
        self.calls.lock().unwrap().push(format!("open-writes {}", node.name));
        Ok(self.open.lock().unwrap().pop_front().unwrap_or_default())
    }
    async fn stop_receiving(&self, node: &NodeConfig, _: Duration) -> Result<NodeState, OpError> {
        // a receiver stuck on a frozen master takes a second to let go
        tokio::time::sleep(Duration::from_millis(1000)).await;
        self.answer(format!("stop-io {}", node.name))?;
        let states = self.states.lock().unwrap();
        Ok(states
            .get(&node.name)
            .cloned()
            .unwrap_or_else(|| panic!("stop-io {}: not in the test's snapshot", node.name)))
    }
    async fn start_replication(&self, node: &NodeConfig, _: Duration) -> Result<(), OpError> {
        self.answer(format!("start {}", node.name)).map(|_| ())
    }
    async fn detach(&self, node: &NodeConfig, _: Duration) -> Result<(), OpError> {
        self.answer(format!("detach {}", node.name)).map(|_| ())
    }
    async fn promote(&self, node: &NodeConfig, semi: PromotedSemiSync, _: Duration) -> Result<(), OpError> {
        *self.promoted_with.lock().unwrap() = Some(semi);
        self.answer(format!("promote {}", node.name)).map(|_| ())
    }
    async fn set_semi_sync(&self, node: &NodeConfig, p: SemiSyncPolicy, _: Duration) -> Result<(), OpError> {
        self.answer(format!("semi-sync {} {:?}", node.name, p.timeout))
            .map(|_| ())
    }
    async fn replicate_from(
        &self,
        node: &NodeConfig,
        m: &NodeConfig,
        from: StartFrom,
        _: Duration,
    ) -> Result<(), OpError> {
        self.answer(format!("repoint {}->{} {from:?}", node.name, m.name))?;
        self.repointed.lock().unwrap().insert(node.name.clone(), m.name.clone());
        Ok(())
    }
    async fn set_start_position(&self, node: &NodeConfig, gtids: &Gtids, _: Duration) -> Result<(), OpError> {
        self.answer(format!("start-position {} {gtids}", node.name)).map(|_| ())
    }
    async fn set_read_only(&self, node: &NodeConfig, on: bool, _: Duration) -> Result<(), OpError> {
        self.answer(format!("read_only {} {on}", node.name)).map(|_| ())
    }
}

#[derive(Default)]
struct Sink(Mutex<Vec<FailoverRecord>>);

impl RecordStore for Sink {
    async fn save_record(&self, rec: &FailoverRecord) -> Result<(), crate::coord::StoreError> {
        self.0.lock().unwrap().push(rec.clone());
        Ok(())
    }
    async fn records(&self, _: &str, limit: usize) -> Result<Vec<FailoverRecord>, crate::coord::StoreError> {
        Ok(self.0.lock().unwrap().iter().rev().take(limit).cloned().collect())
    }
    async fn record(&self, _: &str, id: &str) -> Result<Option<FailoverRecord>, crate::coord::StoreError> {
        Ok(self.0.lock().unwrap().iter().rev().find(|r| r.id == id).cloned())
    }
    async fn save_action(&self, _: &crate::model::ActionEntry) -> Result<(), crate::coord::StoreError> {
        panic!("a failover writes records, not action entries")
    }
    async fn actions(&self, _: &str, _: usize) -> Result<Vec<crate::model::ActionEntry>, crate::coord::StoreError> {
        Ok(Vec::new())
    }
}

struct Refuse;

/// Allows every step until `from`, refuses it and everything after (the lead was lost there).
struct RefuseFrom {
    from: &'static str,
    lost: std::sync::atomic::AtomicBool,
}

impl RefuseFrom {
    fn new(from: &'static str) -> Self {
        RefuseFrom {
            from,
            lost: std::sync::atomic::AtomicBool::new(false),
        }
    }
}

impl Guard for RefuseFrom {
    async fn may_act(&self, step: &str) -> Result<crate::model::Lease, GuardError> {
        use std::sync::atomic::Ordering;
        if step.starts_with(self.from) {
            self.lost.store(true, Ordering::SeqCst);
        }
        if self.lost.load(Ordering::SeqCst) {
            return Refuse.may_act(step).await;
        }
        Alone.may_act(step).await
    }
}

impl Guard for Refuse {
    async fn may_act(&self, step: &str) -> Result<crate::model::Lease, GuardError> {
        Err(GuardError::Lead {
            step: step.to_string(),
            source: crate::coord::elector::LeadError::Vacant,
        })
    }
}

async fn run<G: Guard>(
    admin: &Script,
    routes: &FakeVip,
    guard: &G,
    snap: &Snapshot,
    c: &crate::config::ClusterConfig,
) -> FailoverRecord {
    run_excluding(admin, routes, guard, snap, c, &BTreeMap::new()).await
}

/// [`run`] with these step limits.
async fn run_with(
    admin: &Script,
    snap: &Snapshot,
    c: &crate::config::ClusterConfig,
    t: FailoverConfig,
) -> FailoverRecord {
    let routes = FakeVip::at(None);
    run_on(&Rig::with(c, t), admin, &routes, &Alone, snap, &BTreeMap::new()).await
}

/// [`run`], with `excluded` nodes (errant, marked for rebuild) not eligible.
async fn run_excluding<G: Guard>(
    admin: &Script,
    routes: &FakeVip,
    guard: &G,
    snap: &Snapshot,
    c: &crate::config::ClusterConfig,
    excluded: &BTreeMap<String, String>,
) -> FailoverRecord {
    run_on(&Rig::new(c), admin, routes, guard, snap, excluded).await
}

/// The failover of db1 on `rig`'s cluster and limits.
async fn run_on<G: Guard>(
    rig: &Rig<'_>,
    admin: &Script,
    routes: &FakeVip,
    guard: &G,
    snap: &Snapshot,
    excluded: &BTreeMap<String, String>,
) -> FailoverRecord {
    let edges = rig.edges(admin, routes, guard);
    admin.knowing(snap);
    let cand = choose(snap, rig.cluster, "db1", excluded);
    let sink = Sink::default();
    let mut rec = Recorder::new(failover_record(None), Instant::now(), &sink);
    // the executor returns the status; closing the record is the caller's (after the commit)
    rec.rec.status = edges.failover(&mut rec, snap, &cand).await;
    // every save was of the same record, the last one final
    assert!(sink.0.lock().unwrap().len() > rec.rec.steps.len());
    rec.rec
}

/// Step limits for `cluster`.
struct Rig<'c> {
    cluster: &'c crate::config::ClusterConfig,
    timeouts: FailoverConfig,
}

impl<'c> Rig<'c> {
    fn with(cluster: &'c crate::config::ClusterConfig, timeouts: FailoverConfig) -> Self {
        Rig { cluster, timeouts }
    }

    fn new(cluster: &'c crate::config::ClusterConfig) -> Self {
        Rig {
            cluster,
            timeouts: FailoverConfig::default(),
        }
    }

    fn edges<'a, G: Guard>(
        &'a self,
        admin: &'a Script,
        vip: &'a FakeVip,
        guard: &'a G,
    ) -> Edges<'a, Script, FakeVip, G> {
        Edges {
            cluster: self.cluster,
            timeouts: &self.timeouts,
            admin,
            vip,
            guard,
        }
    }
}

/// The MySQL calls of a plain failover of db1 to db2, db3 repointed (on
/// `three("0-1-150", "0-1-150")`); a test overrides the calls it scripts otherwise.
fn failover_script() -> Script {
    Script::default()
        .expect("fence db1", Ok(true))
        .expect("wait db2 0-1-150", Ok(true))
        .expect("stop-io db2", Ok(true))
        .expect("stop-io db3", Ok(true))
        .expect("promote db2", Ok(true))
        .expect("detach db2", Ok(true))
        .expect("repoint db3->db2 ReplicaPosition", Ok(true))
}

/// The MySQL calls of finishing db2's failover — no "promote": a second promotion would be
/// an unexpected call.
fn completing_script() -> Script {
    Script::default()
        .expect("detach db2", Ok(true))
        .expect("repoint db3->db2 ReplicaPosition", Ok(true))
}

/// Finish a failover whose promotion of db2 another manager did.
async fn complete<G: Guard>(admin: &Script, routes: &FakeVip, guard: &G) -> FailoverRecord {
    let c = cluster(&["db1", "db2", "db3"]);
    let rig = Rig::new(&c);
    let edges = rig.edges(admin, routes, guard);
    let snap = snapshot(vec![down("db1"), master("db2"), replica("db3", replica_of("db1"))]);
    let sink = Sink::default();
    let mut rec = Recorder::new(failover_record(None), Instant::now(), &sink);
    let new = c.node("db2").unwrap().clone();
    rec.rec.status = edges.complete(&mut rec, &snap, &new).await;
    rec.rec
}

#[tokio::test(start_paused = true)]
async fn completing_a_promoted_failover_moves_the_vip_and_repoints_without_promoting_again() {
    let admin = completing_script();
    let routes = FakeVip::at(None);
    let r = complete(&admin, &routes, &Alone).await;
    assert_eq!(r.status, Status::Ok, "{r:#?}");
    assert_eq!(step(&r, "repoint db3 to db2").status, Status::Ok);
    assert_eq!(step(&r, "reset replication on db2").status, Status::Ok);
    assert!(routes.all_at("db2"));
}

#[tokio::test(start_paused = true)]
async fn completing_without_the_lead_leaves_the_routes_alone() {
    let admin = completing_script();
    let routes = FakeVip::at(None);
    let r = complete(&admin, &routes, &Refuse).await;
    assert_eq!(r.status, Status::Degraded);
    assert!(
        step(&r, "move VIP 10.90.0.10 to db2")
            .detail
            .contains("leadership lost before move VIP"),
        "{r:#?}"
    );
    assert!(routes.untouched());
}

fn step<'a>(r: &'a FailoverRecord, name: &str) -> &'a Step {
    r.steps
        .iter()
        .find(|s| s.name == name)
        .unwrap_or_else(|| panic!("no step {name}: {:?}", r.steps))
}

#[tokio::test(start_paused = true)]
async fn every_replica_stops_receiving_before_anything_is_promoted() {
    let c = cluster(&["db1", "db2", "db3"]);
    let snap = three("0-1-150", "0-1-150");
    let refused = || {
        Err(OpError::Connect {
            node: "db1".into(),
            op: "fence",
            message: "refused".into(),
        })
    };
    let admin = failover_script().expect("fence db1", refused());
    let routes = FakeVip::at(None);
    let r = run(&admin, &routes, &Alone, &snap, &c).await;
    assert_eq!(r.status, Status::Ok, "{r:#?}");
    assert_eq!(r.new_master.as_deref(), Some("db2"));
    // a receiver still connected to a thawing old master could acknowledge its waiting
    // commits: the candidate's and every other replica's stop before the promotion
    for n in ["db2", "db3"] {
        assert!(admin.index(&format!("stop-io {n}")) < admin.index("promote db2"));
        assert_eq!(step(&r, &format!("stop {n} receiving from db1")).status, Status::Ok);
    }
    assert!(step(&r, "promote db2").offset_ms >= 1000, "{r:#?}");
    assert!(admin.index("wait db2 0-1-150") < admin.index("promote db2"));
    assert!(admin.index("promote db2") < admin.index("repoint db3->db2 ReplicaPosition"));
    assert_eq!(step(&r, "fence db1").status, Status::Degraded);
    assert!(routes.all_at("db2"));
}

/// db1 dead, db3 down: db2 is promoted with no replica to follow it. Under the lossless
/// policy's semi-sync every commit would wait for a replica (`semi_sync_timeout`, an hour by
/// default): with `failover.alone = "async"` (the default) its semi-sync master side is off,
/// with `"wait"` it is the policy's, and the record says which.
#[tokio::test(start_paused = true)]
async fn a_master_promoted_alone_acknowledges_alone_unless_told_to_wait() {
    let c = cluster(&["db1", "db2", "db3"]);
    let snap = snapshot(vec![
        down("db1"),
        replica("db2", replica_of("db1")).received("0-1-150"),
        down("db3"),
    ]);
    for alone in [crate::config::Alone::Async, crate::config::Alone::Wait] {
        let admin = Script::default()
            .expect("fence db1", Ok(true))
            .expect("stop-io db2", Ok(true))
            .expect("wait db2 0-1-150", Ok(true))
            .expect("promote db2", Ok(true))
            .expect("detach db2", Ok(true));
        admin.knowing(&snap);
        let routes = FakeVip::at(None);
        let rig = Rig::with(
            &c,
            FailoverConfig {
                alone,
                ..FailoverConfig::default()
            },
        );
        let edges = rig.edges(&admin, &routes, &Alone);
        let cand = choose(&snap, &c, "db1", &BTreeMap::new());
        let sink = Sink::default();
        let mut rec = Recorder::new(failover_record(None), Instant::now(), &sink);
        let status = edges.failover(&mut rec, &snap, &cand).await;
        assert_eq!(status, Status::Ok, "{:#?}", rec.rec);
        let promoted = *admin.promoted_with.lock().unwrap();
        let detail = &step(&rec.rec, "promote db2").detail;
        match alone {
            crate::config::Alone::Async => {
                assert_eq!(promoted, Some(PromotedSemiSync::Off));
                assert!(detail.contains("semi-sync master OFF"), "{detail}");
            }
            crate::config::Alone::Wait => {
                let policy = FailoverConfig::default().semi_sync_policy().unwrap();
                assert_eq!(promoted, Some(PromotedSemiSync::Lossless(policy)));
                assert!(detail.contains("every commit waits"), "{detail}");
            }
        }
    }
}

/// With a replica to follow it, the new master gets the lossless policy whatever `alone` says.
#[tokio::test(start_paused = true)]
async fn a_master_promoted_with_a_replica_gets_the_lossless_semi_sync() {
    let c = cluster(&["db1", "db2", "db3"]);
    let admin = failover_script();
    let routes = FakeVip::at(None);
    let r = run(&admin, &routes, &Alone, &three("0-1-150", "0-1-150"), &c).await;
    assert_eq!(r.status, Status::Ok, "{r:#?}");
    let policy = FailoverConfig::default().semi_sync_policy().unwrap();
    assert_eq!(
        *admin.promoted_with.lock().unwrap(),
        Some(PromotedSemiSync::Lossless(policy))
    );
}

#[tokio::test(start_paused = true)]
async fn a_replica_that_will_not_stop_receiving_stops_the_failover() {
    let c = cluster(&["db1", "db2", "db3"]);
    let admin = Script::default()
        .expect("fence db1", Ok(true))
        .expect("stop-io db2", Ok(true))
        .expect(
            "stop-io db3",
            Err(OpError::Timeout {
                node: "db3".into(),
                op: "stop receiving",
                limit: Duration::from_secs(10),
            }),
        )
        .expect("start db2", Ok(true))
        .expect("start db3", Ok(true));
    let routes = FakeVip::at(None);
    let r = run(&admin, &routes, &Alone, &three("0-1-150", "0-1-150"), &c).await;
    assert_eq!(r.status, Status::Failed, "{r:#?}");
    assert_eq!(step(&r, "stop db3 receiving from db1").status, Status::Failed);
    assert!(!admin
        .calls()
        .iter()
        .any(|c| c.starts_with("promote") || c.starts_with("wait")));
    assert!(admin.calls().contains(&"start db2".to_string()), "db2 receives again");
    assert!(routes.untouched());
}

#[tokio::test(start_paused = true)]
async fn what_a_replica_received_after_the_snapshot_is_caught_up_too() {
    let c = cluster(&["db1", "db2", "db3"]);
    let snap = three("0-1-150", "0-1-150");
    let admin = Script::default()
        .expect("fence db1", Ok(true))
        .expect("stop-io db2", Ok(true))
        .expect("stop-io db3", Ok(true))
        .expect("wait db3 0-1-153", Ok(true))
        .expect("repoint db2->db3 ReplicaPosition", Ok(true))
        .expect("wait db2 0-1-153", Ok(true))
        .expect("promote db2", Ok(true))
        .expect("detach db2", Ok(true))
        .expect("repoint db3->db2 ReplicaPosition", Ok(true));
    let routes = FakeVip::at(None);
    let rig = Rig::new(&c);
    let edges = rig.edges(&admin, &routes, &Alone);
    admin.knowing(&snap);
    // db3 received three more transactions between the snapshot and its stop
    let later = replica("db3", replica_of("db1")).received("0-1-153");
    admin
        .states
        .lock()
        .unwrap()
        .insert("db3".into(), later.0.state.clone().unwrap());
    let cand = choose(&snap, &c, "db1", &BTreeMap::new());
    let sink = Sink::default();
    let mut rec = Recorder::new(failover_record(None), Instant::now(), &sink);
    let status = edges.failover(&mut rec, &snap, &cand).await;
    assert_eq!(status, Status::Ok, "{:#?}", rec.rec);
    assert_eq!(
        step(&rec.rec, "catch up db2").detail,
        "db2 applied everything up to 0-1-153 (caught up from db3) in 0.0 s"
    );
}

#[tokio::test(start_paused = true)]
async fn a_candidate_that_cannot_catch_up_is_not_promoted_and_replicas_resume() {
    let c = cluster(&["db1", "db2", "db3"]);
    let admin = Script::default()
        .expect("fence db1", Ok(true))
        .expect("wait db2 0-1-150", Ok(false))
        .expect("stop-io db2", Ok(true))
        .expect("stop-io db3", Ok(true))
        .expect("start db2", Ok(true))
        .expect("start db3", Ok(true));
    let routes = FakeVip::at(None);
    let r = run(&admin, &routes, &Alone, &three("0-1-150", "0-1-150"), &c).await;
    assert_eq!(r.status, Status::Failed);
    assert_eq!(r.new_master, None);
    assert!(
        step(&r, "catch up db2")
            .detail
            .contains("db2 applied nothing in 30s (50 transactions left): its applier is stalled"),
        "{r:#?}"
    );
    assert!(admin.calls().contains(&"start db3".to_string()));
    assert!(routes.untouched(), "the VIP must not move");
}

/// Default limits but for `failover.max_catch_up`.
fn max_catch_up(secs: u64) -> FailoverConfig {
    FailoverConfig {
        max_catch_up: Duration::from_secs(secs),
        ..FailoverConfig::default()
    }
}

/// db2 applies its relay log slowly: every wait that runs out finds it further along.
fn slow_catch_up(admin: Script, positions: &[&str]) -> Script {
    let q = positions.iter().map(|p| gtids(p)).collect();
    admin.applying.lock().unwrap().insert("db2".into(), q);
    admin
}

#[tokio::test(start_paused = true)]
async fn a_slow_catch_up_is_waited_for_while_it_applies() {
    let c = cluster(&["db1", "db2", "db3"]);
    let admin = slow_catch_up(failover_script(), &["0-1-110", "0-1-120", "0-1-140"]);
    let began = Instant::now();
    let r = run(&admin, &FakeVip::at(None), &Alone, &three("0-1-150", "0-1-150"), &c).await;
    assert_eq!(r.status, Status::Ok, "{r:#?}");
    let waits = admin.calls().iter().filter(|c| *c == "wait db2 0-1-150").count();
    assert_eq!(waits, 4, "three slices ran out, the fourth wait saw it done");
    assert_eq!(
        step(&r, "catch up db2").detail,
        "db2 applied everything up to 0-1-150 in 90.0 s"
    );
    assert!(began.elapsed() >= Duration::from_secs(90));
}

#[tokio::test(start_paused = true)]
async fn a_catch_up_past_max_catch_up_fails_and_says_what_is_left() {
    let c = cluster(&["db1", "db2", "db3"]);
    let timeouts = max_catch_up(60);
    let admin = slow_catch_up(failover_script(), &["0-1-110", "0-1-120", "0-1-140"])
        .expect("start db2", Ok(true))
        .expect("start db3", Ok(true));
    let r = run_with(&admin, &three("0-1-150", "0-1-150"), &c, timeouts).await;
    assert_eq!(r.status, Status::Failed);
    assert_eq!(r.new_master, None);
    assert_eq!(
        step(&r, "catch up db2").detail,
        "db2 did not apply everything within failover.max_catch_up (60s): 30 transactions left, \
         applying 0 a second; its applier goes on, and the next attempt waits again"
    );
    assert!(!admin.calls().contains(&"promote db2".to_string()));
}

#[tokio::test(start_paused = true)]
async fn the_bound_is_named_when_its_last_short_slice_shows_no_progress() {
    let c = cluster(&["db1", "db2", "db3"]);
    let timeouts = max_catch_up(45);
    // 30 s slice: progress; the last 15 s slice: none — the bound, not a stall
    let admin = slow_catch_up(failover_script(), &["0-1-110"])
        .expect("wait db2 0-1-150", Ok(false))
        .expect("start db2", Ok(true))
        .expect("start db3", Ok(true));
    let r = run_with(&admin, &three("0-1-150", "0-1-150"), &c, timeouts).await;
    assert_eq!(r.status, Status::Failed);
    assert!(
        step(&r, "catch up db2")
            .detail
            .starts_with("db2 did not apply everything within failover.max_catch_up (45s): 40 transactions left"),
        "{r:#?}"
    );
}

#[tokio::test(start_paused = true)]
async fn a_candidate_with_a_backlog_gets_parallel_workers_before_its_receiver_stops() {
    let c = cluster(&["db1", "db2", "db3"]);
    let admin = Script::default()
        .expect("fence db1", Ok(true))
        .expect("threads db2 8", Ok(true))
        .expect("wait db2 0-1-5000", Ok(true))
        .expect("stop-io db2", Ok(true))
        .expect("stop-io db3", Ok(true))
        .expect("promote db2", Ok(true))
        .expect("detach db2", Ok(true))
        .expect("repoint db3->db2 ReplicaPosition", Ok(true));
    let r = run(&admin, &FakeVip::at(None), &Alone, &three("0-1-5000", "0-1-5000"), &c).await;
    assert_eq!(r.status, Status::Ok, "{r:#?}");
    assert!(admin.index("threads db2 8") < admin.index("stop-io db2"));
    assert!(
        !admin.calls().iter().any(|c| c.starts_with("threads db3")),
        "only the candidate"
    );
    assert_eq!(
        step(&r, "stop db2 receiving from db1").detail,
        "receiver stopped; received 0-1-5000; applier given 8 parallel workers (had 0) for the catch-up"
    );
    // a small backlog is applied as it is: restarting the applier would cost more
    let admin = failover_script();
    let r = run(&admin, &FakeVip::at(None), &Alone, &three("0-1-150", "0-1-150"), &c).await;
    assert_eq!(r.status, Status::Ok, "{r:#?}");
    assert!(!admin.calls().iter().any(|c| c.starts_with("threads")));
}

#[tokio::test(start_paused = true)]
async fn a_manager_that_lost_the_right_to_act_does_not_promote() {
    let c = cluster(&["db1", "db2", "db3"]);
    let admin = Script::default();
    let r = run(&admin, &FakeVip::at(None), &Refuse, &three("0-1-150", "0-1-150"), &c).await;
    assert_eq!(r.status, Status::Failed);
    assert!(
        step(&r, "stop db2 receiving from db1")
            .detail
            .contains("leadership lost before stop a replica receiving"),
        "{r:#?}"
    );
    assert!(admin.calls().is_empty(), "{:?}", admin.calls());
}

#[tokio::test(start_paused = true)]
async fn a_route_table_that_will_not_move_leaves_a_degraded_failover() {
    let c = cluster(&["db1", "db2", "db3"]);
    let admin = failover_script();
    let routes = FakeVip::at(None);
    *routes.fail.lock().unwrap() = true;
    let r = run(&admin, &routes, &Alone, &three("0-1-150", "0-1-150"), &c).await;
    assert_eq!(r.status, Status::Degraded);
    assert_eq!(r.new_master.as_deref(), Some("db2"));
    assert!(r.errors.iter().any(|e| e.contains("rt-a")), "{:?}", r.errors);
}

// Issue 18 item 6: a failed donor catch-up left the candidate replicating from the donor,
// rejected by every later failover ("replicates from db3, not from db1"): no master at all.
#[tokio::test(start_paused = true)]
async fn a_failed_catch_up_from_a_donor_gives_the_candidate_back_to_the_old_master() {
    let mut c = cluster(&["db1", "db2", "db3"]);
    c.nodes[2].no_promote = true;
    let admin = Script::default()
        .expect("fence db1", Ok(true))
        .expect("wait db3 0-1-160", Ok(true))
        .expect("repoint db2->db3 ReplicaPosition", Ok(true))
        .expect("wait db2 0-1-160", Ok(false))
        .expect("stop-io db2", Ok(true))
        .expect("stop-io db3", Ok(true))
        .expect("repoint db2->db1 ReplicaPosition", Ok(true))
        .expect("start db2", Ok(true))
        .expect("start db3", Ok(true));
    let r = run(&admin, &FakeVip::at(None), &Alone, &three("0-1-150", "0-1-160"), &c).await;
    assert_eq!(r.status, Status::Failed, "{r:#?}");
    assert!(
        admin.calls().iter().all(|c| !c.starts_with("promote")),
        "{:?}",
        admin.calls()
    );
    assert!(admin.index("wait db2 0-1-160") < admin.index("repoint db2->db1 ReplicaPosition"));
    assert_eq!(
        step(&r, "repoint db2 back to db1").detail,
        "db2 replicates from db1 again (the catch-up failed)"
    );
}

// Issue 18 item 12: "repoint db3 to db2: ok" while db3's applier had stopped on an error.
#[tokio::test(start_paused = true)]
async fn a_repoint_is_ok_only_when_the_replica_replicates_afterwards() {
    let c = cluster(&["db1", "db2", "db3"]);
    let admin = failover_script().expect("replicating db3", Ok(false));
    let r = run(&admin, &FakeVip::at(None), &Alone, &three("0-1-150", "0-1-150"), &c).await;
    assert_eq!(r.status, Status::Degraded, "{r:#?}");
    let step = r
        .steps
        .iter()
        .find(|s| s.name == "repoint db3 to db2")
        .expect("the repoint step");
    assert_eq!(step.status, Status::Degraded, "{step:?}");
    assert!(
        step.detail
            .contains("db3 was repointed to db2, but its applier stopped: Could not execute"),
        "{step:?}"
    );
}

// Defect 4, the executor's half: what only an errant replica holds is not fetched from it
// (its own transactions would come along) — the failover stops and names what is missing,
// and nothing was promoted.
#[tokio::test(start_paused = true)]
async fn a_candidate_never_catches_up_from_an_errant_replica() {
    let c = cluster(&["db1", "db2", "db3"]);
    let (snap, excluded) = errant_db3();
    let admin = Script::default()
        .expect("fence db1", Ok(true))
        .expect("stop-io db2", Ok(true))
        .expect("stop-io db3", Ok(true))
        .expect("start db2", Ok(true))
        .expect("start db3", Ok(true));
    let r = run_excluding(&admin, &FakeVip::at(None), &Alone, &snap, &c, &excluded).await;
    assert_eq!(r.status, Status::Failed, "{r:#?}");
    assert!(
        !admin
            .calls()
            .iter()
            .any(|c| c.starts_with("repoint") || c.starts_with("promote")),
        "{:?}",
        admin.calls()
    );
    let detail = &step(&r, "catch up db2").detail;
    assert!(
        detail.contains("db2 lacks 0-1-160 and no replica that may serve it"),
        "{detail}"
    );
}

#[tokio::test(start_paused = true)]
async fn a_behind_candidate_catches_up_from_the_donor_first() {
    let mut c = cluster(&["db1", "db2", "db3"]);
    c.nodes[2].no_promote = true;
    let admin = Script::default()
        .expect("fence db1", Ok(true))
        .expect("wait db3 0-1-160", Ok(true))
        .expect("repoint db2->db3 ReplicaPosition", Ok(true))
        .expect("wait db2 0-1-160", Ok(true))
        .expect("stop-io db2", Ok(true))
        .expect("stop-io db3", Ok(true))
        .expect("promote db2", Ok(true))
        .expect("detach db2", Ok(true))
        .expect("repoint db3->db2 ReplicaPosition", Ok(true));
    let r = run(&admin, &FakeVip::at(None), &Alone, &three("0-1-150", "0-1-160"), &c).await;
    assert_eq!(r.status, Status::Ok, "{r:#?}");
    assert_eq!(
        step(&r, "catch up db2").detail,
        "db2 applied everything up to 0-1-160 (caught up from db3) in 0.0 s"
    );
    assert!(admin.index("wait db3 0-1-160") < admin.index("repoint db2->db3 ReplicaPosition"));
    assert!(admin.index("wait db2 0-1-160") < admin.index("promote db2"));
}

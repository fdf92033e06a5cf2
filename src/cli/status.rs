//! `myha status --config F`: probe the nodes directly, show the topology as a table and the
//! detector's sentence.

use super::load_config;
use super::render::{nodes_table, status_end};
use crate::api::doc::snapshot_json;
use crate::config::{ClusterConfig, Timing};
use crate::coord::any::{AnyStore, Coordination};
use crate::coord::StateStore;
use crate::detect::{ClusterState, Diagnosis, History};
use crate::model::{unix_ms, SharedState};
use crate::mysql::client::MysqlClient;
use crate::probe::Prober;
use crate::topology::Snapshot;
use serde_json::json;
use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::SystemTime;
use tokio::time::{Instant, MissedTickBehavior};

fn table_for(cluster: &ClusterConfig, s: &Snapshot, d: &Diagnosis) -> String {
    let title = format!("Cluster: {} ({})", cluster.name, cluster.flavor);
    format!("{}\n{}", nodes_table(&title, &snapshot_json(s, d)), d)
}

fn print_shared(cluster: &str, sh: &SharedState) {
    let now = unix_ms(SystemTime::now());
    println!(
        "master of record: {} (epoch {}){}",
        sh.master.as_deref().unwrap_or("none yet"),
        sh.epoch,
        sh.last_failover
            .as_ref()
            .map(|f| format!(", last failover {f}"))
            .unwrap_or_default()
    );
    if let Some(v) = &sh.vip {
        println!("VIP target of record: {v}");
    }
    match sh.active_block(now) {
        Some(b) => println!(
            "automatic failover BLOCKED until {} (after failover {}): clear with `myha ack --config <file> --cluster {cluster}`",
            b.until, b.failover
        ),
        None if sh.paused => println!("automatic failover: PAUSED"),
        None => match sh.block_in_period(now) {
            Some(b) => println!(
                "automatic failover: armed; blocked once {} has served (failover {})",
                b.master.as_deref().unwrap_or("its master"),
                b.failover
            ),
            None => println!("automatic failover: armed"),
        },
    }
    for (node, why) in &sh.needs_rebuild {
        println!("{node} NEEDS REBUILD: {why} (`myha bootstrap --rebuild --node {node}`)");
    }
    if let Some(r) = sh.request.as_ref().filter(|r| r.is_live(now)) {
        println!("request {}: {r}", if r.started { "RUNNING" } else { "pending" });
    }
}

struct Watched {
    cluster: Arc<ClusterConfig>,
    prober: Prober<MysqlClient>,
    history: History,
}

pub async fn run(config: &Path, only: Option<&str>, json: bool, watch: bool) -> ExitCode {
    let cfg = match load_config(config) {
        Ok(c) => c,
        Err(code) => return code,
    };
    let clusters: Vec<&ClusterConfig> = cfg
        .clusters
        .iter()
        .filter(|c| only.is_none_or(|o| o == c.name))
        .collect();
    if clusters.is_empty() {
        eprintln!(
            "myha: no cluster {:?} in {}",
            only.unwrap_or_default(),
            config.display()
        );
        return ExitCode::from(super::EXIT_CONFIG);
    }
    let timing: Timing = cfg.timing.clone();
    let mut watched: Vec<Watched> = clusters
        .into_iter()
        .map(|c| {
            let c = Arc::new(c.clone());
            let client = MysqlClient::new(&c, timing.probe_timeout);
            Watched {
                prober: Prober::new(c.clone(), client, timing.clone()),
                cluster: c,
                history: History::new(&timing),
            }
        })
        .collect();

    // the master of record, which the detector judges (when a coordinator can tell it)
    let store = AnyStore::open(&cfg).await;
    let mut records: Vec<Option<String>> = Vec::new();
    for w in &watched {
        let shared = match &store {
            Ok(st) => st.load(&w.cluster.name).await.ok().map(|v| v.value),
            Err(_) => None,
        };
        records.push(shared.and_then(|s| s.master));
    }

    let mut tick = tokio::time::interval(timing.probe_interval);
    tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
    // A one-shot status still takes a few rounds: a dead master needs
    // failures_before_suspect of them, errant transactions two.
    let rounds = timing.failures_before_suspect.max(2);
    let started = Instant::now();
    let mut last: Vec<Option<String>> = vec![None; watched.len()];
    let mut round = 0;
    loop {
        tick.tick().await;
        round += 1;
        for (i, w) in watched.iter_mut().enumerate() {
            let snap = Arc::new(w.prober.round().await);
            w.history.push(snap.clone(), records[i].as_deref());
            let Some(d) = w.history.diagnose(&timing, records[i].as_deref()) else {
                continue;
            };
            if watch {
                let sentence = d.to_string();
                // print changes of verdict, not every growing failure count
                let signature = format!(
                    "{} {:?} {}",
                    d.state.kind(),
                    d.state.master(),
                    d.issues.iter().map(ToString::to_string).collect::<Vec<_>>().join("; ")
                );
                if last[i].as_ref() != Some(&signature) {
                    let t = started.elapsed().as_secs_f64();
                    if json {
                        let mut j = snapshot_json(&snap, &d);
                        j["elapsed_s"] = json!(t);
                        println!("{j}");
                    } else {
                        println!(
                            "[{} +{t:.3}s] {}: {sentence}",
                            humantime::format_rfc3339_millis(SystemTime::now()),
                            w.cluster.name
                        );
                    }
                    last[i] = Some(signature);
                }
            }
        }
        if !watch && round >= rounds {
            break;
        }
    }
    let mut healthy = true;
    let mut docs = Vec::new();
    for (w, record) in watched.iter().zip(&records) {
        let (Some(s), Some(d)) = (w.history.latest(), w.history.diagnose(&timing, record.as_deref())) else {
            continue;
        };
        healthy &= matches!(d.state, ClusterState::Healthy { .. }) && d.issues.is_empty();
        let (shared, coordination) = match &store {
            Ok(st) => (
                st.load(&w.cluster.name).await.ok().map(|v| v.value),
                st.coordination(&w.cluster.name).await,
            ),
            Err(e) => (None, unreachable_coordinator(e)),
        };
        if json {
            let mut j = snapshot_json(s, &d);
            j["shared"] = json!(shared);
            j["coordination"] = json!(coordination);
            docs.push(j);
        } else {
            println!("{}", table_for(&w.cluster, s, &d));
            print_coordination(&coordination);
            if let Some(sh) = shared {
                print_shared(&w.cluster.name, &sh);
            }
        }
    }
    status_end(docs, json, healthy)
}

fn unreachable_coordinator(e: &crate::coord::StoreError) -> Coordination {
    Coordination {
        backend: "zookeeper",
        reachable: false,
        leader: None,
        managers: Vec::new(),
        error: Some(e.to_string()),
    }
}

fn print_coordination(c: &Coordination) {
    match (c.backend, c.reachable, &c.leader) {
        ("local", ..) => println!("coordination: none (a single manager, local state)"),
        (_, false, _) => println!(
            "coordination: DEGRADED — ZooKeeper unreachable ({}): no manager acts until it is back; MySQL keeps serving",
            c.error.as_deref().unwrap_or("?")
        ),
        (_, true, Some(l)) => println!(
            "coordination: ZooKeeper; leader {} (since {}); live managers: {}",
            l.id,
            l.since,
            c.managers.join(", ")
        ),
        (_, true, None) => println!(
            "coordination: ZooKeeper; NO LEADER (live managers: {}) — nobody acts on this cluster",
            if c.managers.is_empty() { "none".to_string() } else { c.managers.join(", ") }
        ),
    }
}

//! Detection against the lab's real servers, probed from the manager host mgr1:
//! a frozen master and a killed master end in "dead" (times printed), a master cut off from
//! the manager only is "unreachable" and never "dead", a hung node costs one probe timeout.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::lab::{lab_cmd, Lab};
use myha::config::{self, Timing};
use myha::detect::{Diagnosis, History};
use myha::mysql::client::MysqlClient;
use myha::probe::Prober;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;
use tokio::time::Instant;

struct Watch {
    prober: Prober<MysqlClient>,
    history: History,
    timing: Timing,
}

struct Outcome {
    after: Duration,
    diagnosis: Diagnosis,
    longest_round: Duration,
    seen: Vec<String>,
}

impl Watch {
    /// Probe every interval until `pred` holds (or `deadline`); every verdict must pass `ok`.
    async fn until(
        &mut self,
        deadline: Duration,
        pred: impl Fn(&Diagnosis) -> bool,
        ok: impl Fn(&Diagnosis) -> bool,
    ) -> Outcome {
        let start = Instant::now();
        let mut longest_round = Duration::ZERO;
        let mut seen: Vec<String> = Vec::new();
        loop {
            let round_start = Instant::now();
            let snap = self.prober.round().await;
            longest_round = longest_round.max(snap.duration);
            self.history.push(Arc::new(snap), None);
            let d = self.history.diagnose(&self.timing, None).expect("a snapshot");
            if seen.last().map(String::as_str) != Some(d.state.kind()) {
                seen.push(d.state.kind().to_string());
            }
            assert!(ok(&d), "unexpected verdict after {:?}: {d}", start.elapsed());
            if pred(&d) {
                return Outcome {
                    after: start.elapsed(),
                    diagnosis: d,
                    longest_round,
                    seen,
                };
            }
            assert!(
                start.elapsed() < deadline,
                "not reached within {deadline:?}; verdicts: {seen:?}; last: {d}"
            );
            tokio::time::sleep(self.timing.probe_interval.saturating_sub(round_start.elapsed())).await;
        }
    }

    /// Probe for `how_long`; every verdict must pass `ok`. Returns the verdicts seen.
    async fn hold(&mut self, how_long: Duration, ok: impl Fn(&Diagnosis) -> bool) -> Vec<String> {
        let start = Instant::now();
        let mut seen = Vec::new();
        while start.elapsed() < how_long {
            let o = self.until(Duration::from_secs(60), |_| true, &ok).await;
            if seen.last() != o.seen.last() {
                seen.extend(o.seen);
            }
            tokio::time::sleep(self.timing.probe_interval).await;
        }
        seen
    }

    async fn healthy(&mut self, within: Duration) -> Outcome {
        self.until(
            within,
            |d| d.state.kind() == "healthy" && d.state.master() == Some("db1"),
            |_| true,
        )
        .await
    }
}

#[test]
#[ignore = "lab: needs root and the lab (tests/run runs it)"]
fn detection_in_the_lab() {
    let lab = Lab::up();
    let cfg = config::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("config/lab.toml")).expect("config/lab.toml");
    let mgr_ns = lab.status.namespace("mgr1").to_string();
    common::netns::run_in(&mgr_ns, move || async move {
        let cluster = Arc::new(cfg.clusters[0].clone());
        let timing = cfg.timing.clone();
        let client = MysqlClient::new(&cluster, timing.probe_timeout);
        let mut w = Watch {
            prober: Prober::new(cluster, client, timing.clone()),
            history: History::new(&timing),
            timing: timing.clone(),
        };
        let bound = timing.probe_interval * timing.failures_before_suspect + timing.replica_agreement_window;

        // baseline: db1 master, db2 and db3 replicas that received what db1 executed
        let o = w.healthy(Duration::from_secs(10)).await;
        let snap = w.history.latest().unwrap().clone();
        let master_gtids = snap.node("db1").unwrap().ok().unwrap().executed.clone();
        assert!(!master_gtids.is_empty());
        for r in ["db2", "db3"] {
            let st = snap.node(r).unwrap().ok().unwrap();
            assert!(st.read_only && st.replica.is_some(), "{r} is a read-only replica");
            assert!(
                st.received().contains(&master_gtids).unwrap(),
                "{r} received {}",
                st.received()
            );
        }
        println!("baseline: {}", o.diagnosis);

        // 1. frozen master → dead; a hung node never stretches a round past its timeout
        lab_cmd(&["freeze", "db1"]);
        let o = w
            .until(Duration::from_secs(15), |d| d.state.is_actionable(), |_| true)
            .await;
        lab_cmd(&["thaw", "db1"]);
        println!(
            "freeze db1: {} after {} ms (bound {} ms); verdicts {:?}; longest probe round {} ms (probe timeout {} ms)",
            o.diagnosis.state.kind(),
            o.after.as_millis(),
            bound.as_millis(),
            o.seen,
            o.longest_round.as_millis(),
            timing.probe_timeout.as_millis()
        );
        assert_eq!(o.diagnosis.state.kind(), "dead_master");
        assert!(
            o.longest_round < timing.probe_timeout + Duration::from_millis(200),
            "a round took {:?}",
            o.longest_round
        );
        w.healthy(Duration::from_secs(20)).await;

        // 2. manager cut from the master only: unreachable, never dead, for as long as it lasts
        lab_cmd(&["cut", "mgr1", "db1"]);
        let o = w
            .until(
                Duration::from_secs(5),
                |d| d.state.kind() == "unreachable_master",
                |d| !d.state.is_actionable(),
            )
            .await;
        println!("cut mgr1 db1: {} after {} ms", o.diagnosis, o.after.as_millis());
        // hold the cut well past the replicas' slave_net_timeout (4 s): still not dead
        let seen = w
            .hold(Duration::from_secs(8), |d| d.state.kind() == "unreachable_master")
            .await;
        assert_eq!(seen, ["unreachable_master"]);
        lab_cmd(&["uncut", "mgr1", "db1"]);
        w.healthy(Duration::from_secs(10)).await;
        println!("cut mgr1 db1: stayed unreachable_master for 8 s, healthy again after uncut");

        // 3. killed master → dead
        lab_cmd(&["kill", "db1"]);
        let o = w
            .until(Duration::from_secs(10), |d| d.state.is_actionable(), |_| true)
            .await;
        println!(
            "kill db1: {} after {} ms (bound {} ms): {}",
            o.diagnosis.state.kind(),
            o.after.as_millis(),
            bound.as_millis(),
            o.diagnosis
        );
        assert_eq!(o.diagnosis.state.kind(), "dead_master");
        // leave the lab as we found it: `up` restarts db1 and makes it the writable master again
        lab_cmd(&["up"]);
        w.healthy(Duration::from_secs(20)).await;
    });
    drop(lab);
}

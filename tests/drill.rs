//! A short failover drill inside the test suite: one `chaos/drill kill-master` run with a real
//! manager, a real writer through the VIP and the JSON report checked. The full drills
//! (`--runs 10`, the other scenarios) are documented commands; see README "Drills".

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::lab::Lab;
use std::process::Command;

#[test]
fn kill_master_drill_fails_over_without_losing_acknowledged_writes() {
    let lab = Lab::up();
    let dir = tempfile::tempdir().unwrap();
    let report = dir.path().join("kill-master.json");
    let out = Command::new(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("chaos/drill"))
        .args(["kill-master", "--runs", "1", "--json"])
        .arg(&report)
        .output()
        .expect("run chaos/drill");
    let stdout = String::from_utf8_lossy(&out.stdout);
    println!("{stdout}");
    let r: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&report).expect("the drill wrote its report")).unwrap();
    let run = &r["runs"][0];
    assert_eq!(
        run["ok"],
        true,
        "drill run failed: {run}\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(run["lost_acked_writes"], 0);
    assert_eq!(run["writable_nodes"], 1);
    assert_eq!(run["vip_node"], "db2");
    assert!(run["failover_ms"].as_u64().is_some_and(|ms| ms > 0), "{run}");
    assert!(run["detect_ms"].as_i64().is_some(), "{run}");
    assert_eq!(r["summary"]["ok"], 1);
    assert!(out.status.success());
    // leave the lab as the other tests expect it: db1 master
    common::lab::lab_cmd(&["reset"]);
    drop(lab);
}

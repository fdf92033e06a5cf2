//! Backups and bootstrap on the lab's real MariaDB servers and ZooKeeper: every bad case
//! refused with a clear error and nothing changed; a backup on db2; db3 rebuilt from it while
//! the master kept taking writes; retention.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::lab::{lab_cmd, Lab};
use std::path::Path;
use std::process::Command;

/// The lab config with a ZooKeeper root, backup store and work dir of this test's own.
fn config(dir: &Path, store: &Path, tag: &str) -> std::path::PathBuf {
    let cfg = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/config/lab.toml")).unwrap();
    let root = format!("root = \"/myha-test-backup-{tag}-{}\"", std::process::id());
    let cfg = cfg
        .replace("root = \"/myha\"", &root)
        .replace(
            "store = \"/tmp/myha-lab/backups\"",
            &format!("store = \"{}\"", store.display()),
        )
        .replace(
            "work_dir = \"/tmp/myha-lab/backup-work\"",
            &format!("work_dir = \"{}\"", dir.join("work").display()),
        )
        .replace("keep = 3", "keep = 2");
    assert!(
        cfg.contains(&root) && cfg.contains("keep = 2"),
        "config/lab.toml changed shape"
    );
    let path = dir.join("lab.toml");
    std::fs::write(&path, cfg).unwrap();
    path
}

/// `myha ARGS --config CFG` on a lab host, from the repository root (the lab config's
/// start/stop commands are relative to it).
fn myha_cmd(lab: &Lab, host: &str, args: &[&str], cfg: &Path) -> Command {
    let mut c = Command::new("ip");
    c.args(["netns", "exec", lab.status.namespace(host), env!("CARGO_BIN_EXE_myha")])
        .args(args)
        .arg("--config")
        .arg(cfg)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env_remove("MYHA_CONFIG");
    c
}

/// `myha ARGS --config CFG` on a lab host: (exit code, stdout + stderr).
fn myha(lab: &Lab, host: &str, cfg: &Path, args: &[&str]) -> (Option<i32>, String) {
    let out = myha_cmd(lab, host, args, cfg).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    (out.status.code(), text)
}

fn catalogue(lab: &Lab, cfg: &Path) -> Vec<serde_json::Value> {
    let (code, out) = myha(lab, "mgr1", cfg, &["backups", "--cluster", "lab", "--json"]);
    assert_eq!(code, Some(0), "{out}");
    serde_json::from_str::<Vec<serde_json::Value>>(&out).unwrap()
}

fn pause(ms: u64) {
    tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap()
        .block_on(async { tokio::time::sleep(std::time::Duration::from_millis(ms)).await });
}

/// The test table's rows on db3, once it has `want` (or after 5 s).
fn rows_on_db3(want: u64) -> u64 {
    let mut n = 0;
    for _ in 0..50 {
        n = sql("db3", "SELECT COUNT(*) FROM app.bootstrap_test")
            .trim()
            .parse()
            .unwrap_or(0);
        if n == want {
            break;
        }
        pause(100);
    }
    n
}

fn sql(target: &str, q: &str) -> String {
    lab_cmd(&["sql", target, q])
}

#[test]
#[ignore = "lab: needs root and the lab (tests/run runs it)"]
fn backups_are_taken_on_replicas_and_rebuild_a_node_that_catches_up() {
    let lab = Lab::up();
    lab_cmd(&["reset"]);
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("store");
    let store_path = store.clone();
    let cfg = config(dir.path(), &store, "manual");
    let run = |host: &str, args: &[&str]| myha(&lab, host, &cfg, args);

    // refused, nothing catalogued or stored
    let (code, out) = run("db1", &["backup", "--cluster", "lab"]);
    assert_eq!(code, Some(69), "the master: {out}");
    assert!(out.contains("allow_master"), "{out}");
    let (code, out) = run("mgr1", &["backup", "--cluster", "lab"]);
    assert_eq!(code, Some(64), "not a DB host: {out}");
    let (code, out) = run("mgr1", &["backup", "--cluster", "lab", "--node", "db2"]);
    assert_eq!(code, Some(64), "another host's node: {out}");
    let (code, out) = run("db2", &["backup", "--cluster", "nope"]);
    assert_eq!(code, Some(64), "unknown cluster: {out}");
    // the store is unreachable: a file where its directory should be
    let blocked = dir.path().join("blocked");
    std::fs::write(&blocked, "").unwrap();
    let bad = dir.path().join("bad.toml");
    std::fs::write(
        &bad,
        std::fs::read_to_string(&cfg).unwrap().replace(
            &store.display().to_string(),
            &blocked.join("store").display().to_string(),
        ),
    )
    .unwrap();
    let (code, out) = myha(&lab, "db2", &bad, &["backup", "--cluster", "lab"]);
    assert_eq!(code, Some(69), "unreachable store: {out}");
    assert!(out.contains("backup store"), "{out}");
    assert!(catalogue(&lab, &cfg).is_empty());
    assert!(!store.exists());

    // bootstrap without a master of record, then without a backup
    let (code, out) = run("db3", &["bootstrap", "--cluster", "lab", "--node", "db3", "--rebuild"]);
    assert_eq!(code, Some(69), "no master: {out}");
    assert!(out.contains("master of cluster lab is unknown"), "{out}");
    common::netns::run_in(lab.status.namespace("mgr1"), {
        let cfg = cfg.clone();
        move || async move {
            let c = myha::config::load(&cfg).unwrap();
            let zk = myha::coord::zk::ZkStore::connect(c.zookeeper.as_ref().unwrap())
                .await
                .unwrap();
            myha::coord::update(&zk, "lab", |s| {
                s.master = Some("db1".into());
                s.epoch = 1;
            })
            .await
            .unwrap();
        }
    });
    let (code, out) = run("db3", &["bootstrap", "--cluster", "lab", "--node", "db3", "--rebuild"]);
    assert_eq!(code, Some(69), "no backup: {out}");
    assert!(out.contains("no usable backup"), "{out}");
    let (code, out) = run("db3", &["bootstrap", "--cluster", "lab", "--node", "db3"]);
    assert_eq!(code, Some(64), "a datadir with data, no --rebuild: {out}");
    let (code, out) = run("db1", &["bootstrap", "--cluster", "lab", "--node", "db1", "--rebuild"]);
    assert_eq!(code, Some(64), "the master: {out}");
    assert_eq!(sql("db3", "SELECT @@read_only").trim(), "1", "db3 untouched");

    // a backup on db2
    let (code, out) = run("db2", &["backup", "--cluster", "lab", "--json"]);
    assert_eq!(code, Some(0), "{out}");
    let b: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(b["source"], "db2");
    assert!(b["gtid"].as_str().unwrap().starts_with("0-1-"), "{b}");
    assert!(b["size_bytes"].as_u64().unwrap() > 1_000_000, "{b}");
    assert_eq!(catalogue(&lab, &cfg).len(), 1);

    // the master keeps writing; db3 is rebuilt from the backup and catches up
    sql(
        "db1",
        "CREATE TABLE IF NOT EXISTS app.bootstrap_test (id INT PRIMARY KEY); INSERT INTO app.bootstrap_test VALUES (1),(2),(3)",
    );
    let (code, out) = run(
        "db3",
        &["bootstrap", "--cluster", "lab", "--node", "db3", "--rebuild", "--json"],
    );
    assert_eq!(code, Some(0), "{out}");
    let r: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(r["backup"], b["id"]);
    assert_eq!(r["master"], "db1");
    println!("bootstrap of db3: {r}");
    assert_eq!(sql("db3", "SELECT COUNT(*) FROM app.bootstrap_test").trim(), "3");
    assert_eq!(sql("db3", "SELECT @@read_only").trim(), "1");
    // replicating from db1, and what db1 writes next arrives
    sql("db1", "INSERT INTO app.bootstrap_test VALUES (4)");
    assert_eq!(rows_on_db3(4), 4, "db3 does not replicate from db1");

    // retention: keep = 2
    for _ in 0..2 {
        // ids have one-second resolution
        pause(1100);
        let (code, out) = run("db2", &["backup", "--cluster", "lab"]);
        assert_eq!(code, Some(0), "{out}");
    }
    let left = catalogue(&lab, &cfg);
    assert_eq!(left.len(), 2, "{left:?}");
    assert!(left.iter().all(|x| x["id"] != b["id"]), "the oldest was not removed");
    let archives = std::fs::read_dir(&store).unwrap().count();
    assert_eq!(archives, 2);

    // the same through S3 (the lab's moto serves the S3 API too; credentials from [ec2])
    let s3 = dir.path().join("s3.toml");
    let raw: serde_json::Value = serde_json::from_str(&lab_cmd(&["status", "--json"])).unwrap();
    let bucket = raw["ec2"]["backup_bucket"].as_str().unwrap().to_string();
    let with_store = |store: &str| {
        std::fs::read_to_string(&cfg).unwrap().replace(
            &format!("store = \"{}\"", store_path.display()),
            &format!("store = \"{store}\"\ns3_endpoint = \"http://10.88.0.40:5000\""),
        )
    };
    std::fs::write(&s3, with_store("s3://no-such-bucket/x")).unwrap();
    let (code, out) = myha(&lab, "db2", &s3, &["backup", "--cluster", "lab"]);
    assert_eq!(code, Some(69), "a bucket that does not exist: {out}");
    std::fs::write(&s3, with_store(&format!("s3://{bucket}/test-{}", std::process::id()))).unwrap();
    let (code, out) = myha(&lab, "db2", &s3, &["backup", "--cluster", "lab", "--json"]);
    assert_eq!(code, Some(0), "{out}");
    let b3: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert!(b3["store"].as_str().unwrap().starts_with("s3://"), "{b3}");
    sql("db1", "INSERT INTO app.bootstrap_test VALUES (5)");
    let (code, out) = myha(
        &lab,
        "db3",
        &s3,
        &["bootstrap", "--cluster", "lab", "--node", "db3", "--rebuild", "--json"],
    );
    assert_eq!(code, Some(0), "{out}");
    let r3: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(r3["backup"], b3["id"], "restored from the S3 backup");
    assert_eq!(sql("db3", "SELECT COUNT(*) FROM app.bootstrap_test").trim(), "5");
    // a store that cannot be reached: refused before the node is touched
    std::fs::write(&s3, with_store("s3://no-such-bucket/x")).unwrap();
    let (code, out) = myha(
        &lab,
        "db3",
        &s3,
        &["bootstrap", "--cluster", "lab", "--node", "db3", "--rebuild"],
    );
    assert_eq!(code, Some(69), "unreachable store: {out}");
    sql("db1", "INSERT INTO app.bootstrap_test VALUES (6)");
    assert_eq!(rows_on_db3(6), 6, "db3 was disturbed by a refused bootstrap");
    sql("db1", "DROP TABLE app.bootstrap_test");
    drop(lab);
}

/// A process killed when dropped.
struct Proc(std::process::Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn spawn(lab: &Lab, host: &str, args: &[&str], cfg: &Path, log: &Path) -> Proc {
    Proc(
        myha_cmd(lab, host, args, cfg)
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::fs::File::create(log).unwrap())
            .spawn()
            .unwrap(),
    )
}

#[test]
#[ignore = "lab: needs root and the lab (tests/run runs it)"]
fn the_leader_asks_for_a_due_backup_and_the_agent_on_the_chosen_replica_takes_it() {
    let lab = Lab::up();
    lab_cmd(&["reset"]);
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path(), &dir.path().join("store"), "scheduled");
    let text = std::fs::read_to_string(&cfg)
        .unwrap()
        .replace("keep = 2", "keep = 2\nevery = \"10s\"");
    std::fs::write(&cfg, text).unwrap();
    let (mlog, alog) = (dir.path().join("manager.log"), dir.path().join("agent.log"));
    // db3 has the lowest priority: the replica a failover needs least takes the backups
    let agent = spawn(&lab, "db3", &["backup-agent", "--cluster", "lab"], &cfg, &alog);
    let manager = spawn(&lab, "mgr1", &["manager", "--id", "sched-test"], &cfg, &mlog);
    let mut got = Vec::new();
    for _ in 0..120 {
        got = catalogue(&lab, &cfg);
        if !got.is_empty() {
            break;
        }
        pause(500);
    }
    drop(manager);
    drop(agent);
    let mlog = std::fs::read_to_string(&mlog).unwrap();
    let alog = std::fs::read_to_string(&alog).unwrap();
    assert!(
        !got.is_empty(),
        "no backup within 60 s\nmanager:\n{mlog}\nagent:\n{alog}"
    );
    assert_eq!(got[0]["source"], "db3", "{got:?}");
    assert!(mlog.contains("asked the backup agent on db3"), "{mlog}");
    assert!(alog.contains("stored in"), "{alog}");
    drop(lab);
}

#[test]
#[ignore = "lab: needs root and the lab (tests/run runs it)"]
fn a_node_the_configuration_lacks_bootstraps_registers_and_the_managers_watch_it() {
    let lab = Lab::up();
    lab_cmd(&["reset"]);
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path(), &dir.path().join("store"), "register");
    let log = dir.path().join("manager.log");
    let manager = spawn(&lab, "mgr1", &["manager", "--id", "register-test"], &cfg, &log);
    let run = |host: &str, args: &[&str]| myha(&lab, host, &cfg, args);
    // the manager records db1 as the master; a backup on db2
    let mut out = (None, String::new());
    for _ in 0..40 {
        out = run("db2", &["backup", "--cluster", "lab"]);
        if out.0 == Some(0) {
            break;
        }
        pause(250);
    }
    assert_eq!(out.0, Some(0), "{}", out.1);
    let new = [
        "bootstrap",
        "--cluster",
        "lab",
        "--node",
        "db4",
        "--address",
        "10.88.2.14",
        "--az",
        "us-east-1b",
        "--datadir",
        "/tmp/myha-lab/db4/data",
    ];
    let (code, out) = run("db3", &new);
    assert_eq!(code, Some(64), "from another host: {out}");
    let (code, out) = run("db4", &["bootstrap", "--cluster", "lab", "--node", "db4"]);
    assert_eq!(code, Some(64), "unknown node without --address/--az: {out}");
    assert!(out.contains("--address and --az"), "{out}");
    let (code, out) = run("db4", &new);
    assert_eq!(code, Some(0), "{out}");
    // the manager watches db4 as a replica from its next refresh
    let url = format!("http://{}:7480", lab.status.hosts["mgr1"].ip);
    let mut seen = String::new();
    for _ in 0..60 {
        let o = Command::new("ip")
            .args([
                "netns",
                "exec",
                lab.status.namespace("mgr2"),
                env!("CARGO_BIN_EXE_myha"),
            ])
            .args(["status", "--json", "--cluster", "lab", "--url", &url])
            .env_remove("MYHA_CONFIG")
            // reads need a token: the lab's read token (chaos/labkit/topology.py)
            .env("MYHA_TOKEN", "lab-api-read-0123456789")
            .output()
            .unwrap();
        seen = String::from_utf8_lossy(&o.stdout).into_owned();
        let doc: serde_json::Value = serde_json::from_str(&seen).unwrap_or_default();
        let db4 = doc["clusters"][0]["nodes"]
            .as_array()
            .and_then(|n| n.iter().find(|n| n["name"] == "db4").cloned());
        if db4.is_some_and(|n| n["role"] == "replica") {
            break;
        }
        seen.clear();
        pause(500);
    }
    drop(manager);
    let log = std::fs::read_to_string(&log).unwrap();
    assert!(!seen.is_empty(), "the manager never showed db4 as a replica\n{log}");
    assert!(log.contains("watching db4 from now on"), "{log}");
    lab_cmd(&["reset"]);
    drop(lab);
}

//! The HTTP API of a real manager in the lab (mgr1), over real HTTP from another lab host
//! (mgr2): reads, the load-balancer checks, metrics, and every bad-input case — no token,
//! wrong token, unknown cluster or node, malformed body or parameters — changing nothing.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::http::{request, Response};
use common::lab::Lab;
use mysql_async::prelude::Queryable;
use std::process::{Child, Command, Stdio};
use std::time::Duration;
use tokio::time::Instant;

// the lab's API tokens (chaos/labkit/topology.py): admin (named "token"), read, operate
const TOKEN: &str = "lab-api-token-0123456789";
const READ_TOKEN: &str = "lab-api-read-0123456789";
const OPERATE_TOKEN: &str = "lab-api-operate-0123456789";

struct Manager {
    child: Child,
    log: std::path::PathBuf,
    _dir: tempfile::TempDir,
}

impl Drop for Manager {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A manager on mgr1 with the lab config and a ZooKeeper root of its own.
fn start_manager(lab: &Lab) -> Manager {
    let dir = tempfile::tempdir().unwrap();
    let cfg = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/config/lab.toml")).unwrap();
    let root = format!("root = \"/myha-test-api-{}\"", std::process::id());
    let cfg = cfg.replace("root = \"/myha\"", &root);
    assert!(cfg.contains(&root), "config/lab.toml has no root = \"/myha\" line");
    // db3 may not be promoted: a switchover to it is refused with 422
    let cfg = cfg.replace("priority = 50\n", "priority = 50\nno_promote = true\n");
    assert!(
        cfg.contains("no_promote = true"),
        "config/lab.toml: db3 has no `priority = 50` line"
    );
    let path = dir.path().join("lab.toml");
    std::fs::write(&path, cfg).unwrap();
    let log = dir.path().join("manager.log");
    let child = Command::new("ip")
        .args([
            "netns",
            "exec",
            lab.status.namespace("mgr1"),
            env!("CARGO_BIN_EXE_myha"),
            "manager",
            "--id",
            "api-test",
            "--config",
        ])
        .arg(&path)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    Manager { child, log, _dir: dir }
}

async fn until(what: &str, limit: Duration, mut f: impl FnMut() -> bool) {
    let t0 = Instant::now();
    while !f() {
        assert!(t0.elapsed() < limit, "{what}: not within {limit:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[test]
#[ignore = "lab: needs root and the lab (tests/run runs it)"]
fn the_api_answers_reads_and_refuses_bad_input_without_changing_anything() {
    let lab = Lab::up();
    // db1 the master, whatever an earlier test or drill left
    common::lab::lab_cmd(&["reset"]);
    let mgr = start_manager(&lab);
    let addr = format!("{}:7480", lab.status.hosts["mgr1"].ip);
    let admin_pw = lab.status.user("admin").password.clone();
    let ns = lab.status.namespace("mgr2").to_string();
    let app_user = lab.status.user("app");
    let app = mysql_async::OptsBuilder::default()
        .ip_or_hostname(lab.status.node("db1").ip.clone())
        .tcp_port(3306)
        .user(Some(app_user.user.clone()))
        .pass(Some(app_user.password.clone()))
        .db_name(Some("app"))
        .prefer_socket(false);
    common::netns::run_in(&ns, move || async move {
        let get = |p: &str| request(&addr, "GET", p, Some(READ_TOKEN), None);
        let get_as = |p: &str, token: Option<&str>| request(&addr, "GET", p, token, None);
        let post = |p: &str, token: Option<&str>, body: Option<&str>| request(&addr, "POST", p, token, body);
        let check_no_secret = |r: &Response| {
            assert!(
                !r.body.contains(TOKEN) && !r.body.contains(&admin_pw),
                "a secret leaked: {}",
                r.body
            );
        };
        // up, and leading the cluster, once its first rounds are done
        until("the manager leads the lab cluster", Duration::from_secs(30), || {
            std::net::TcpStream::connect(&addr).is_ok()
                && get("/api/v1/clusters/lab")
                    .json()
                    .get("standing")
                    .and_then(|s| s.get("role"))
                    == Some(&serde_json::json!("leader"))
                // the first round records the master; the view shows it from the next one
                && get("/api/v1/clusters/lab").json().get("master_of_record") == Some(&serde_json::json!("db1"))
        })
        .await;

        let h = get("/api/v1/health");
        assert_eq!(h.status, 200, "{}", h.body);
        assert_eq!(h.json()["manager"], "api-test");
        assert_eq!(h.json()["coordinator"]["session"], "connected");

        let c = get("/api/v1/clusters/lab");
        assert_eq!(c.status, 200);
        let doc = c.json();
        assert_eq!(doc["state"]["kind"], "healthy", "{doc}");
        assert_eq!(doc["nodes"].as_array().unwrap().len(), 3);
        assert_eq!(doc["nodes"][0]["role"], "master");
        assert!(doc["nodes"][1]["probe"]["replica"]["received"].is_string(), "{doc}");
        assert_eq!(doc["vip"]["address"], "10.90.0.10");
        check_no_secret(&c);
        let o = get("/api/v1/openapi.json");
        assert_eq!(o.status, 200);
        assert!(o.json()["paths"]["/api/v1/clusters/{cluster}"].is_object());
        let list = get("/api/v1/clusters");
        assert_eq!(list.json()["clusters"][0]["name"], "lab");

        // the load balancer's checks
        let r = get("/api/v1/clusters/lab/nodes/db1/master");
        assert_eq!(r.status, 200, "{}", r.body);
        let r = get("/api/v1/clusters/lab/nodes/db2/master");
        assert_eq!(r.status, 503);
        assert!(r.json()["error"].as_str().unwrap().contains("read-only"), "{}", r.body);
        assert_eq!(get("/api/v1/clusters/lab/nodes/db2/replica").status, 200);
        assert_eq!(get("/api/v1/clusters/lab/nodes/db2/replica?max_lag=500ms").status, 200);
        assert_eq!(get("/api/v1/clusters/lab/nodes/db1/replica").status, 503);

        // unknown cluster / node / endpoint → 404; malformed parameters → 400
        for p in [
            "/api/v1/clusters/nope",
            "/api/v1/clusters/nope/history",
            "/api/v1/clusters/lab/nodes/db9/master",
            "/api/v1/nothing",
        ] {
            let r = get(p);
            assert_eq!(r.status, 404, "{p}: {}", r.body);
            assert!(r.json()["error"].is_string(), "{p}");
        }
        for p in [
            "/api/v1/clusters/lab/history?limit=0",
            "/api/v1/clusters/lab/history?limit=many",
            "/api/v1/clusters/lab/nodes/db2/replica?max_lag=soon",
            "/api/v1/clusters/lab?verbose=1",
        ] {
            let r = get(p);
            assert_eq!(r.status, 400, "{p}: {}", r.body);
        }
        let r = get("/api/v1/clusters/lab/history?limit=5");
        assert_eq!(r.status, 200, "{}", r.body);
        assert!(r.json()["failovers"].is_array());

        // every action endpoint: no token, wrong token, malformed body, unknown cluster —
        // refused, and nothing changes
        for action in ["pause", "resume", "ack", "switchover", "failover"] {
            let p = format!("/api/v1/clusters/lab/{action}");
            let mut cases = vec![
                (None, None, 401),
                (Some("wrong-token-wrong-token"), None, 401),
                (Some(TOKEN), Some("{"), 400),
                (Some(TOKEN), Some("{\"forcefully\": true}"), 400),
                (Some(TOKEN), Some("[]"), 400),
            ];
            if matches!(action, "switchover" | "failover") {
                cases.extend([
                    (Some("wrong-token-wrong-token"), Some("{\"to\": \"db2\"}"), 401),
                    (Some(TOKEN), Some("{\"to\": 2}"), 400),
                    (Some(TOKEN), Some("{\"wait\": -1}"), 400),
                    (Some(TOKEN), Some("{\"wait\": 301}"), 400),
                    (Some(TOKEN), Some("{\"to\": \"db9\"}"), 404),
                ]);
            }
            if action == "switchover" {
                // a switchover loses nothing: force is meaningless there
                cases.push((Some(TOKEN), Some("{\"force\": true}"), 400));
            }
            for (token, body, status) in cases {
                let r = post(&p, token, body);
                assert_eq!(r.status, status, "{action} {token:?} {body:?}: {}", r.body);
                assert!(r.json()["error"].is_string());
                check_no_secret(&r);
            }
            let r = post(&format!("/api/v1/clusters/nope/{action}"), Some(TOKEN), None);
            assert_eq!(r.status, 404, "{}", r.body);
            // a token of a lower role: 403, nothing changes
            let lower = match action {
                "pause" | "resume" | "ack" => vec![READ_TOKEN],
                _ => vec![READ_TOKEN, OPERATE_TOKEN],
            };
            for token in lower {
                let r = post(&p, Some(token), None);
                assert_eq!(r.status, 403, "{action} as {token}: {}", r.body);
                assert!(r.json()["error"].as_str().unwrap_or("").contains("role"), "{}", r.body);
                check_no_secret(&r);
            }
        }
        // reads need a token of at least the read role; health and the checks need none
        for p in [
            "/api/v1/clusters",
            "/api/v1/clusters/lab",
            "/api/v1/clusters/lab/history",
            "/metrics",
        ] {
            assert_eq!(get_as(p, None).status, 401, "{p}");
            assert_eq!(get_as(p, Some("wrong-token-wrong-token")).status, 401, "{p}");
            for t in [READ_TOKEN, OPERATE_TOKEN, TOKEN] {
                assert_eq!(get_as(p, Some(t)).status, 200, "{p} as {t}");
            }
        }
        for p in [
            "/api/v1/health",
            "/api/v1/openapi.json",
            "/api/v1/clusters/lab/nodes/db1/master",
        ] {
            assert_eq!(get_as(p, None).status, 200, "{p}");
        }
        // aborting a record: token, a reason, an existing running record
        let p = "/api/v1/clusters/lab/failovers/lab-20261201T000000.000Z-db1/abort";
        for (token, body, status) in [
            (None, Some("{\"reason\": \"gone\"}"), 401),
            (Some(TOKEN), None, 400),
            (Some(TOKEN), Some("{\"reason\": \" \"}"), 400),
            (Some(TOKEN), Some("{\"reason\": \"gone\", \"force\": true}"), 400),
            (Some(TOKEN), Some("{\"reason\": \"gone\"}"), 404),
        ] {
            let r = post(p, token, body);
            assert_eq!(r.status, status, "abort {token:?} {body:?}: {}", r.body);
            assert!(r.json()["error"].is_string());
            check_no_secret(&r);
        }
        assert_eq!(get("/api/v1/clusters/lab").json()["paused"], false);
        assert_eq!(get("/api/v1/clusters/lab/pause").status, 405);

        // with an operate token: pause, seen by the loop, under the token's name; resume
        let r = post("/api/v1/clusters/lab/pause", Some(OPERATE_TOKEN), None);
        assert_eq!(r.status, 200, "{}", r.body);
        assert_eq!(r.json()["paused"], true);
        assert_eq!(r.json()["by"], "lab-operator");
        until("the loop sees the pause", Duration::from_secs(5), || {
            get("/api/v1/clusters/lab").json()["paused"] == true
        })
        .await;
        let r = post("/api/v1/clusters/lab/resume", Some(TOKEN), Some("{}"));
        assert_eq!(r.status, 200, "{}", r.body);
        assert_eq!(r.json()["paused"], false);
        assert_eq!(post("/api/v1/clusters/lab/ack", Some(TOKEN), None).status, 200);

        // metrics: OpenMetrics text with the families the API promises
        let m = get("/metrics");
        assert_eq!(m.status, 200);
        assert!(m
            .header("content-type")
            .unwrap()
            .starts_with("application/openmetrics-text"));
        for family in [
            "myha_probe_latency_seconds",
            "myha_node_up",
            "myha_replication_lag_seconds",
            "myha_failovers",
            "myha_failover_duration_seconds",
            "myha_leader",
            "myha_coordinator_session",
        ] {
            assert!(
                m.body.contains(&format!("# TYPE {family} ")),
                "no {family} in\n{}",
                m.body
            );
        }
        assert!(
            m.body.contains("myha_node_up{cluster=\"lab\",node=\"db1\"} 1"),
            "{}",
            m.body
        );
        assert!(m.body.contains("myha_leader{cluster=\"lab\"} 1"));
        for line in m.body.lines().filter(|l| !l.starts_with('#') && !l.is_empty()) {
            let (name_labels, value) = line
                .rsplit_once(' ')
                .unwrap_or_else(|| panic!("bad sample line {line:?}"));
            assert!(value.parse::<f64>().is_ok(), "bad value in {line:?}");
            let name = name_labels.split('{').next().unwrap();
            assert!(
                name.starts_with("myha_") && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'),
                "bad metric name in {line:?}"
            );
        }
        assert!(m.body.trim_end().ends_with("# EOF"));
        // and the reference parser agrees (prometheus_client's OpenMetrics parser, in the lab's venv)
        let venv = std::env::var("MYHA_LAB_VENV").unwrap_or_else(|_| "/opt/myha-lab/venv".into());
        let mut parser = Command::new(format!("{venv}/bin/python"))
            .args([
                "-c",
                "import sys\nfrom prometheus_client.openmetrics.parser import text_string_to_metric_families as parse\n\
                 print(' '.join(sorted(f.name for f in parse(sys.stdin.read()))))",
            ])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        std::io::Write::write_all(&mut parser.stdin.take().unwrap(), m.body.as_bytes()).unwrap();
        let parsed = parser.wait_with_output().unwrap();
        let names = String::from_utf8_lossy(&parsed.stdout).into_owned();
        assert!(
            parsed.status.success(),
            "/metrics does not parse as OpenMetrics: {}",
            String::from_utf8_lossy(&parsed.stderr)
        );
        for family in [
            "myha_failovers",
            "myha_leader",
            "myha_coordinator_session",
            "myha_node_up",
        ] {
            assert!(
                names.split_whitespace().any(|n| n == family),
                "{family} not parsed: {names}"
            );
        }

        // switchover and manual failover: refused with the reason, nothing changes
        let refused = |body: &str, status: u16, says: &str| {
            let r = post("/api/v1/clusters/lab/switchover", Some(TOKEN), Some(body));
            assert_eq!(r.status, status, "{body}: {}", r.body);
            assert!(r.json()["error"].as_str().unwrap().contains(says), "{body}: {}", r.body);
        };
        refused("{\"to\": \"db3\"}", 422, "no_promote");
        refused("{\"to\": \"db1\"}", 422, "already the master");
        let r = post("/api/v1/clusters/lab/failover", Some(TOKEN), None);
        assert_eq!(r.status, 409, "a manual failover of a healthy master: {}", r.body);
        let doc = get("/api/v1/clusters/lab").json();
        assert_eq!(doc["nodes"][0]["role"], "master", "{doc}");
        let h = get("/api/v1/clusters/lab/history").json();
        assert_eq!(h["failovers"].as_array().unwrap().len(), 0, "{h}");

        // a write transaction left open on db1: the switchover waits for it
        // (switchover_wait_trx), then is refused naming it, and nothing changes
        let mut holder = tokio::time::timeout(Duration::from_secs(5), mysql_async::Conn::new(app.clone()))
            .await
            .expect("connect timed out")
            .expect("connect to db1 as app");
        for sql in [
            "CREATE TABLE IF NOT EXISTS app.long_trx (id INT PRIMARY KEY, v INT)",
            "REPLACE INTO app.long_trx SELECT seq, 0 FROM seq_1_to_100",
            "BEGIN",
            "UPDATE app.long_trx SET v = v + 1",
        ] {
            holder.query_drop(sql).await.unwrap_or_else(|e| panic!("{sql}: {e}"));
        }
        let conn_id = holder.id();
        tokio::time::sleep(Duration::from_millis(1200)).await; // open for switchover_long_trx
                                                               // a switchover to db2, not waited for (its request id), and its record once finished
        let switch_to_db2 = || {
            let r = post(
                "/api/v1/clusters/lab/switchover",
                Some(TOKEN),
                Some("{\"to\": \"db2\", \"wait\": 0}"),
            );
            assert_eq!(r.status, 202, "{}", r.body);
            r.json()["request"]["id"].as_str().unwrap().to_string()
        };
        let finished = |id: String| async move {
            until("the switchover's record is finished", Duration::from_secs(20), || {
                let h = get("/api/v1/clusters/lab/history").json();
                h["failovers"][0]["id"] == id.as_str() && h["failovers"][0]["status"] != "running"
            })
            .await;
            get("/api/v1/clusters/lab/history").json()["failovers"][0].clone()
        };
        let rec = finished(switch_to_db2()).await;
        assert_eq!(rec["status"], "failed", "{rec}");
        let steps = rec["steps"].as_array().unwrap();
        let check = steps
            .iter()
            .find(|s| s["name"] == "look for long transactions on db1")
            .unwrap_or_else(|| panic!("no look for long transactions: {rec}"));
        let says = format!("connection {conn_id} (app@");
        assert!(
            check["detail"].as_str().unwrap().contains(&says)
                && check["detail"].as_str().unwrap().contains("modified 100 rows, idle"),
            "{rec}"
        );
        assert!(
            steps.iter().all(|s| s["kind"] == "check"),
            "nothing but the checks ran: {rec}"
        );
        holder.query_drop("ROLLBACK").await.expect("rollback");
        let _ = holder.disconnect().await;
        let doc = get("/api/v1/clusters/lab").json();
        assert_eq!(doc["nodes"][0]["role"], "master", "{doc}");

        // a real switchover to db2, not waited for; a second one meanwhile is a conflict
        let id = switch_to_db2();
        let r = post(
            "/api/v1/clusters/lab/switchover",
            Some(TOKEN),
            Some("{\"to\": \"db2\"}"),
        );
        assert_eq!(r.status, 409, "{}", r.body);
        let rec = finished(id).await;
        assert_eq!(rec["status"], "ok", "{rec}");
        assert_eq!(rec["kind"], "switchover", "{rec}");
        assert_eq!(rec["new_master"], "db2", "{rec}");
        assert!(rec["write_pause_ms"].as_u64().is_some(), "{rec}");
        until(
            "db2 is the writable master, db1 replicates from it",
            Duration::from_secs(10),
            || {
                let doc = get("/api/v1/clusters/lab").json();
                doc["state"]["kind"] == "healthy"
                    && doc["nodes"][1]["role"] == "master"
                    && doc["nodes"][0]["role"] == "replica"
            },
        )
        .await;
        assert_eq!(get("/api/v1/clusters/lab/nodes/db2/master").status, 200);
    });
    // the CLI over the API, from another manager host: tables, exit codes, the token from MYHA_TOKEN
    let url = format!("http://{}:7480", lab.status.hosts["mgr1"].ip);
    let cli = |args: &[&str], token: Option<&str>| {
        let mut c = Command::new("ip");
        c.args([
            "netns",
            "exec",
            lab.status.namespace("mgr2"),
            env!("CARGO_BIN_EXE_myha"),
        ])
        .args(args)
        .args(["--url", &url])
        .env_remove("MYHA_CONFIG")
        .env_remove("MYHA_TOKEN");
        if let Some(t) = token {
            c.env("MYHA_TOKEN", t);
        }
        let out = c.output().unwrap();
        let text = String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
        (out.status.code(), text)
    };
    let (code, out) = cli(&["status"], None);
    assert_eq!(code, Some(77), "reads need a token: {out}");
    assert!(out.contains("MYHA_TOKEN"), "{out}");
    let (code, out) = cli(&["status"], Some(READ_TOKEN));
    assert_eq!(code, Some(0), "{out}");
    assert!(
        out.contains("Cluster: lab (mariadb)") && out.contains("| db1 ") && out.contains("master of record"),
        "{out}"
    );
    let (code, out) = cli(&["status", "--json", "--cluster", "lab"], Some(READ_TOKEN));
    assert_eq!(code, Some(0), "{out}");
    let (code, out) = cli(&["history", "--cluster", "lab"], Some(READ_TOKEN));
    assert_eq!(code, Some(0), "{out}");
    let (code, out) = cli(&["pause", "--cluster", "lab"], Some(READ_TOKEN));
    assert_eq!(code, Some(77), "a read token pauses nothing: {out}");
    assert!(out.contains("has the read role; this needs operate"), "{out}");
    let (code, out) = cli(&["pause", "--cluster", "lab"], None);
    assert_eq!(code, Some(77), "no token: {out}");
    let (code, out) = cli(&["pause", "--cluster", "lab"], Some("wrong-token-wrong-token"));
    assert_eq!(code, Some(77), "wrong token: {out}");
    let (code, out) = cli(&["pause", "--cluster", "nope"], Some(TOKEN));
    assert_eq!(code, Some(64), "unknown cluster: {out}");
    let (code, out) = cli(&["status", "--cluster", "nope"], Some(READ_TOKEN));
    assert_eq!(code, Some(64), "unknown cluster: {out}");
    let (code, out) = cli(&["pause", "--cluster", "lab"], Some(TOKEN));
    assert_eq!(code, Some(0), "{out}");
    assert!(out.contains("automation paused"), "{out}");
    let (code, out) = cli(&["resume", "--cluster", "lab"], Some(TOKEN));
    assert_eq!(code, Some(0), "{out}");
    assert!(!out.contains(TOKEN));

    // and back to db1 through the CLI, waiting for the record; refusals as exit codes
    let (code, out) = cli(&["switchover", "--cluster", "lab", "--to", "db3"], Some(TOKEN));
    assert_eq!(code, Some(64), "no_promote target: {out}");
    let (code, out) = cli(&["failover", "--cluster", "lab"], Some(TOKEN));
    assert_eq!(code, Some(75), "manual failover of a healthy master: {out}");
    let (code, out) = cli(&["switchover", "--cluster", "lab", "--to", "db1"], None);
    assert_eq!(code, Some(77), "no token: {out}");
    // the API side saw db2 healthy as the master: the view is fresh
    let (code, out) = cli(&["switchover", "--cluster", "lab", "--to", "db1"], Some(TOKEN));
    assert_eq!(code, Some(0), "{out}");
    assert!(out.contains("db2 → db1: Ok") && out.contains("write pause:"), "{out}");
    let (code, out) = cli(&["history", "--cluster", "lab"], Some(READ_TOKEN));
    assert_eq!(code, Some(0), "{out}");
    assert!(
        out.contains("repoint db2 to db1") && out.contains("catch up db1"),
        "{out}"
    );

    let log = std::fs::read_to_string(&mgr.log).unwrap();
    for t in [TOKEN, READ_TOKEN, OPERATE_TOKEN] {
        assert!(!log.contains(t), "a token is in the manager's log");
    }
    // who acted: the token's name
    assert!(log.contains("API: automation paused by lab-operator"), "{log}");
    assert!(log.contains("API: automation paused by token"), "{log}");
    drop(mgr);
    drop(lab);
}

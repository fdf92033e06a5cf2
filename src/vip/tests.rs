//! move_vip and check against a fake EC2 that fails on command.

use super::route_table::*;
use super::VipError;
use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::sync::Mutex;
use std::time::Duration;

#[derive(Default)]
struct FakeEc2 {
    /// table -> target ENI
    routes: Mutex<BTreeMap<String, Option<String>>>,
    /// failures still to inject per table
    fail_next: Mutex<BTreeMap<String, u32>>,
    /// tables whose writes "succeed" without effect (a lost update)
    ignore: Vec<String>,
    calls: Mutex<Vec<String>>,
    /// attempts the client retried by itself, out of the caller's sight
    silent: Mutex<Vec<String>>,
}

impl FakeEc2 {
    fn with(tables: &[(&str, Option<&str>)]) -> Self {
        let f = FakeEc2::default();
        *f.routes.lock().unwrap() = tables
            .iter()
            .map(|(t, e)| (t.to_string(), e.map(str::to_string)))
            .collect();
        f
    }
}

impl RouteTables for FakeEc2 {
    fn failed_attempts(&self) -> Vec<String> {
        std::mem::take(&mut *self.silent.lock().unwrap())
    }
    async fn discover(&self, ids: &[String], _tag: Option<&str>) -> Result<Vec<String>, VipError> {
        Ok(ids.to_vec())
    }
    async fn interfaces(&self, nodes: &[(String, String, Option<String>)]) -> Result<Vec<NodeInterface>, VipError> {
        Ok(nodes
            .iter()
            .enumerate()
            .map(|(i, (node, _, _))| NodeInterface {
                node: node.clone(),
                eni: format!("eni-{}", i + 1),
                source_dest_check: false,
            })
            .collect())
    }
    async fn targets(&self, tables: &[String], _vip: Ipv4Addr) -> Result<BTreeMap<String, Option<String>>, VipError> {
        let r = self.routes.lock().unwrap();
        Ok(tables
            .iter()
            .map(|t| (t.clone(), r.get(t).cloned().flatten()))
            .collect())
    }
    async fn point(&self, table: &str, _vip: Ipv4Addr, eni: &str) -> Result<Pointed, VipError> {
        self.calls.lock().unwrap().push(table.to_string());
        let mut fails = self.fail_next.lock().unwrap();
        if let Some(n) = fails.get_mut(table) {
            if *n > 0 {
                *n -= 1;
                return Err(VipError::Api {
                    op: "ReplaceRoute",
                    target: table.into(),
                    code: "RequestLimitExceeded".into(),
                    message: "Request limit exceeded.".into(),
                });
            }
        }
        if self.ignore.iter().any(|t| t == table) {
            return Ok(Pointed::Replaced);
        }
        let mut r = self.routes.lock().unwrap();
        let created = r.get(table).cloned().flatten().is_none();
        r.insert(table.into(), Some(eni.into()));
        Ok(if created { Pointed::Created } else { Pointed::Replaced })
    }
}

fn tables(names: &[&str]) -> Vec<String> {
    names.iter().map(|s| s.to_string()).collect()
}

const VIP: Ipv4Addr = Ipv4Addr::new(10, 90, 0, 10);

#[tokio::test]
async fn moves_every_table_and_verifies() {
    let ec2 = FakeEc2::with(&[("rtb-a", Some("eni-1")), ("rtb-b", None)]);
    let r = move_vip(&ec2, &tables(&["rtb-a", "rtb-b"]), VIP, "eni-2", 3, Duration::ZERO).await;
    assert!(r.verified && r.wrong.is_empty() && r.rounds == 1, "{r:?}");
    assert_eq!(r.tables["rtb-a"], Ok(Pointed::Replaced));
    assert_eq!(r.tables["rtb-b"], Ok(Pointed::Created));
}

#[tokio::test]
async fn retries_only_the_tables_that_failed() {
    let ec2 = FakeEc2::with(&[("rtb-a", Some("eni-1")), ("rtb-b", Some("eni-1"))]);
    ec2.fail_next.lock().unwrap().insert("rtb-b".into(), 1);
    let r = move_vip(&ec2, &tables(&["rtb-a", "rtb-b"]), VIP, "eni-2", 3, Duration::ZERO).await;
    assert!(r.verified && r.rounds == 2, "{r:?}");
    assert_eq!(*ec2.calls.lock().unwrap(), ["rtb-a", "rtb-b", "rtb-b"]);
    // the retry made it good, and the error it made good is kept for the record
    assert_eq!(
        r.errors,
        ["round 1: rtb-b: EC2 ReplaceRoute on rtb-b: RequestLimitExceeded: Request limit exceeded."]
    );
}

#[tokio::test]
async fn an_attempt_the_client_retried_by_itself_is_reported_too() {
    let ec2 = FakeEc2::with(&[("rtb-a", Some("eni-1"))]);
    ec2.silent
        .lock()
        .unwrap()
        .push("timeout: operation attempt timeout (1s)".into());
    let r = move_vip(&ec2, &tables(&["rtb-a"]), VIP, "eni-2", 3, Duration::ZERO).await;
    assert!(r.verified && r.rounds == 1, "{r:?}");
    assert_eq!(
        r.errors,
        ["round 1: an attempt: timeout: operation attempt timeout (1s)"]
    );
}

#[tokio::test]
async fn partial_success_is_reported_not_hidden() {
    let ec2 = FakeEc2::with(&[("rtb-a", Some("eni-1")), ("rtb-b", Some("eni-1"))]);
    ec2.fail_next.lock().unwrap().insert("rtb-b".into(), 10);
    let r = move_vip(&ec2, &tables(&["rtb-a", "rtb-b"]), VIP, "eni-2", 3, Duration::ZERO).await;
    assert!(!r.verified && r.rounds == 3, "{r:?}");
    assert_eq!(r.wrong, ["rtb-b"]);
    assert!(r.tables["rtb-b"].as_ref().unwrap_err().contains("RequestLimitExceeded"));
    assert_eq!(ec2.routes.lock().unwrap()["rtb-a"].as_deref(), Some("eni-2"));
}

#[tokio::test]
async fn a_write_that_did_not_take_is_caught_by_the_read_back() {
    let ec2 = FakeEc2 {
        ignore: vec!["rtb-a".into()],
        ..FakeEc2::with(&[("rtb-a", Some("eni-1"))])
    };
    let r = move_vip(&ec2, &tables(&["rtb-a"]), VIP, "eni-2", 2, Duration::ZERO).await;
    assert!(!r.verified && r.wrong == ["rtb-a"], "{r:?}");
}

#[tokio::test]
async fn check_reports_what_is_wrong() {
    let ec2 = FakeEc2::with(&[("rtb-a", Some("eni-1")), ("rtb-b", None), ("rtb-c", Some("eni-9"))]);
    let ifs = vec![
        NodeInterface {
            node: "db1".into(),
            eni: "eni-1".into(),
            source_dest_check: false,
        },
        NodeInterface {
            node: "db2".into(),
            eni: "eni-2".into(),
            source_dest_check: true,
        },
    ];
    let p = check(&ec2, &tables(&["rtb-a", "rtb-b", "rtb-c"]), VIP, &ifs)
        .await
        .unwrap();
    let all = p.join("\n");
    assert!(all.contains("db2: ENI eni-2 has source/dest check enabled"), "{all}");
    assert!(
        all.contains("route table rtb-b has no route for 10.90.0.10/32"),
        "{all}"
    );
    assert!(
        all.contains("route table rtb-c sends 10.90.0.10/32 to eni-9, which is no node's ENI"),
        "{all}"
    );
    assert!(all.contains("route tables disagree"), "{all}");
    let ok = FakeEc2::with(&[("rtb-a", Some("eni-1"))]);
    assert!(check(&ok, &tables(&["rtb-a"]), VIP, &ifs[..1])
        .await
        .unwrap()
        .is_empty());
}

// Issue 18 item 10: a tag that matched no table counted as a verified move.
#[tokio::test]
async fn no_route_table_at_all_is_never_a_verified_move() {
    use crate::vip::Vip;
    let cfg = crate::config::RouteTableVipConfig {
        address: VIP,
        route_tables: Vec::new(),
        route_table_tag: Some("myha-vip=none".into()),
    };
    let vip = RouteTableVip::new(FakeEc2::default(), cfg, 3, Duration::ZERO);
    let nodes = ["db1", "db2"].map(|n| crate::config::NodeConfig::new(n, n, "a"));
    let problems = vip.prepare(&nodes).await.unwrap();
    assert!(
        problems.iter().any(|p| p.contains("no route table found")),
        "{problems:?}"
    );
    let moved = vip.point_at("db2").await;
    assert!(
        matches!(&moved, Err(VipError::Lookup(m)) if m.contains("matched none")),
        "{moved:?}"
    );
    assert!(vip.observe().await.is_err(), "no table: nothing observed");
}

//! The lab end to end: a write through the VIP reaches both replicas, and moving the VIP's
//! route through the EC2 API (aws-sdk-ec2, as the manager will) moves new client connections.
//!
//! Needs root and network namespaces; brings the lab up with `chaos/lab up` or reuses a
//! running one, and leaves it as it found it.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use aws_sdk_ec2::config::{BehaviorVersion, Credentials, Region};
use common::lab::{Lab, Status};
use mysql_async::prelude::*;
use mysql_async::{Conn, OptsBuilder};
use std::time::Duration;
use tokio::time::{sleep, timeout, Instant};

const STEP: Duration = Duration::from_secs(5);

fn opts(ip: &str, port: u16, user: &common::lab::User) -> OptsBuilder {
    OptsBuilder::default()
        .ip_or_hostname(ip.to_string())
        .tcp_port(port)
        .user(Some(user.user.clone()))
        .pass(Some(user.password.clone()))
        // unix sockets cross namespaces: stay on TCP
        .prefer_socket(false)
}

async fn connect(o: OptsBuilder) -> Result<Conn, String> {
    match timeout(STEP, Conn::new(o)).await {
        Ok(Ok(c)) => Ok(c),
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => Err("connect timed out".into()),
    }
}

async fn query_u64(conn: &mut Conn, sql: &str) -> u64 {
    timeout(STEP, conn.query_first::<u64, _>(sql))
        .await
        .expect("query timed out")
        .expect("query failed")
        .expect("no row")
}

/// @@server_id of whichever node a fresh connection to the VIP lands on.
async fn vip_server_id(status: &Status) -> Result<u64, String> {
    let mut c = connect(opts(&status.vip, 3306, status.user("admin"))).await?;
    let id = query_u64(&mut c, "SELECT @@server_id").await;
    let _ = c.disconnect().await;
    Ok(id)
}

fn ec2_client(status: &Status) -> aws_sdk_ec2::Client {
    let e = &status.ec2;
    let conf = aws_sdk_ec2::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .endpoint_url(&e.endpoint)
        .region(Region::new(e.region.clone()))
        .credentials_provider(Credentials::new(
            &e.access_key_id,
            &e.secret_access_key,
            None,
            None,
            "lab",
        ))
        .timeout_config(
            aws_sdk_ec2::config::timeout::TimeoutConfig::builder()
                .operation_attempt_timeout(Duration::from_secs(2))
                .build(),
        )
        .build();
    aws_sdk_ec2::Client::from_conf(conf)
}

async fn point_vip_at(status: &Status, ec2: &aws_sdk_ec2::Client, node: &str) {
    let eni = &status.node(node).eni_id;
    for rt in &status.ec2.route_table_ids {
        ec2.replace_route()
            .route_table_id(rt)
            .destination_cidr_block(format!("{}/32", status.vip))
            .network_interface_id(eni)
            .send()
            .await
            .unwrap_or_else(|e| panic!("replace_route {rt}: {e:?}"));
    }
}

/// Poll fresh VIP connections until they land on `server_id`; returns how long it took.
async fn wait_vip_lands_on(status: &Status, server_id: u32, within: Duration) -> Duration {
    let start = Instant::now();
    loop {
        if let Ok(id) = vip_server_id(status).await {
            if id == u64::from(server_id) {
                return start.elapsed();
            }
        }
        assert!(
            start.elapsed() < within,
            "VIP did not reach server_id {server_id} within {within:?}"
        );
        sleep(Duration::from_millis(10)).await;
    }
}

#[test]
#[ignore = "lab: needs root and the lab (tests/run runs it)"]
fn write_through_vip_replicates_and_route_move_moves_clients() {
    let lab = Lab::up();
    let status = lab.status.clone();
    let client_ns = status.namespace(&status.client_host).to_string();

    common::netns::run_in(&client_ns, move || async move {
        let master = status.node("db1").clone();
        let table = format!("app.lab_test_{}", std::process::id());
        let token = format!("row-{}", std::process::id());

        // 1. the VIP reaches db1, and the application user can write there
        assert_eq!(
            vip_server_id(&status).await.expect("VIP connect"),
            u64::from(master.server_id)
        );
        let mut app = connect(opts(&status.vip, 3306, status.user("app")).db_name(Some("app")))
            .await
            .expect("app user connects through the VIP");
        timeout(
            STEP,
            app.query_drop(format!("CREATE TABLE {table} (id INT PRIMARY KEY, v VARCHAR(64))")),
        )
        .await
        .expect("timeout")
        .expect("create table");
        timeout(
            STEP,
            app.exec_drop(format!("INSERT INTO {table} VALUES (1, ?)"), (token.clone(),)),
        )
        .await
        .expect("timeout")
        .expect("insert through the VIP");
        drop(app);

        // 2. both replicas have it (semi-sync: received by one at commit; applied soon after)
        for name in ["db2", "db3"] {
            let n = status.node(name);
            let mut c = connect(opts(&n.ip, n.port, status.user("admin")))
                .await
                .expect("replica connect");
            let start = Instant::now();
            loop {
                let found: Option<String> = timeout(STEP, c.query_first(format!("SELECT v FROM {table} WHERE id = 1")))
                    .await
                    .expect("timeout")
                    .expect("select on replica");
                if found.as_deref() == Some(token.as_str()) {
                    break;
                }
                assert!(start.elapsed() < Duration::from_secs(10), "{name} never got the row");
                sleep(Duration::from_millis(20)).await;
            }
        }

        // 3. move the route in every route table to db2's ENI through the EC2 API
        let ec2 = ec2_client(&status);
        let db2 = status.node("db2").clone();
        let moved_at = Instant::now();
        point_vip_at(&status, &ec2, "db2").await;
        let api_ms = moved_at.elapsed().as_millis();
        let landed = wait_vip_lands_on(&status, db2.server_id, Duration::from_secs(10)).await;
        println!(
            "replace_route in {} route tables: {api_ms} ms; new VIP connections on db2 after {} ms",
            status.ec2.route_table_ids.len(),
            landed.as_millis()
        );

        // the EC2 API reads back what we wrote
        let rts = ec2
            .describe_route_tables()
            .set_route_table_ids(Some(status.ec2.route_table_ids.clone()))
            .send()
            .await
            .expect("describe_route_tables");
        for rt in rts.route_tables() {
            let vip_route = rt
                .routes()
                .iter()
                .find(|r| r.destination_cidr_block() == Some(format!("{}/32", status.vip).as_str()))
                .expect("VIP route present");
            assert_eq!(vip_route.network_interface_id(), Some(db2.eni_id.as_str()));
        }

        // 4. leave the lab as we found it: VIP back on db1, test table gone
        point_vip_at(&status, &ec2, "db1").await;
        wait_vip_lands_on(&status, master.server_id, Duration::from_secs(10)).await;
        let mut app = connect(opts(&status.vip, 3306, status.user("app")).db_name(Some("app")))
            .await
            .expect("app user reconnects");
        timeout(STEP, app.query_drop(format!("DROP TABLE {table}")))
            .await
            .expect("timeout")
            .expect("drop table");
    });
    drop(lab);
}

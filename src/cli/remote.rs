//! The CLI over a manager's HTTP API (`--url`): the same commands, answered by the manager.

use super::client::{ApiClient, ClientError};
use super::render::{nodes_table, s, status_end};
use super::state::{print_records, Change};
use crate::model::FailoverRecord;
use serde_json::{json, Value};
use std::process::ExitCode;

fn fail(e: ClientError) -> ExitCode {
    eprintln!("myha: {e}");
    ExitCode::from(e.exit_code())
}

/// Cluster names go into URL paths: only the characters a configuration allows.
fn checked(cluster: &str) -> Result<&str, ClientError> {
    if !cluster.is_empty()
        && cluster
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    {
        Ok(cluster)
    } else {
        Err(ClientError::BadArgument(format!(
            "--cluster {cluster:?}: a cluster name has only letters, digits, '-' and '_'"
        )))
    }
}

/// The API at `url`, and `cluster` checked for its URL paths: what every action command needs.
fn api_for<'a>(url: &str, cluster: &'a str) -> Result<(ApiClient, &'a str), ClientError> {
    Ok((ApiClient::new(url)?, checked(cluster)?))
}

async fn cluster_names(api: &ApiClient, only: Option<&str>) -> Result<Vec<String>, ClientError> {
    if let Some(c) = only {
        return Ok(vec![checked(c)?.to_string()]);
    }
    let list = api.get("/api/v1/clusters").await?;
    Ok(list["clusters"]
        .as_array()
        .map(|a| a.iter().filter_map(|c| c["name"].as_str().map(String::from)).collect())
        .unwrap_or_default())
}

/// The client and the clusters to ask about (all the manager watches unless `only`).
async fn open(url: &str, only: Option<&str>) -> Result<(ApiClient, Vec<String>), ExitCode> {
    let api = ApiClient::new(url).map_err(fail)?;
    let names = cluster_names(&api, only).await.map_err(fail)?;
    Ok((api, names))
}

/// `myha status --url`
pub async fn status(url: &str, only: Option<&str>, as_json: bool) -> ExitCode {
    let (api, names) = match open(url, only).await {
        Ok(x) => x,
        Err(code) => return code,
    };
    let mut docs = Vec::new();
    let mut healthy = true;
    for n in names {
        let doc = match api.get(&format!("/api/v1/clusters/{n}")).await {
            Ok(d) => d,
            Err(e) => return fail(e),
        };
        // a stale view is never reported as the present state of the cluster
        healthy &= doc["state"]["kind"] == "healthy"
            && doc["issues"].as_array().is_some_and(|i| i.is_empty())
            && doc["view"]["stale"] != true;
        if !as_json {
            print_cluster(&doc);
        }
        docs.push(doc);
    }
    status_end(docs, as_json, healthy)
}

fn print_cluster(doc: &Value) {
    if doc["view"]["stale"] == true {
        println!(
            "STALE VIEW: this manager's view is not the present ({}): ask the leader ({})",
            s(&doc["view"]["stale_why"]),
            s(&doc["standing"]["leader"])
        );
    }
    let title = format!("Cluster: {} ({})", s(&doc["cluster"]), s(&doc["flavor"]));
    println!("{}", nodes_table(&title, doc));
    println!("{}", s(&doc["diagnosis"]));
    let st = &doc["standing"];
    println!("manager: {} — leader: {}", s(&st["role"]), s(&st["leader"]));
    println!(
        "master of record: {} (epoch {}){}",
        s(&doc["master_of_record"]),
        s(&doc["epoch"]),
        doc["last_failover"]
            .as_str()
            .map(|f| format!(", last failover {f}"))
            .unwrap_or_default()
    );
    match (&doc["block"], doc["paused"] == true) {
        (Value::Object(b), _) => println!(
            "automatic failover BLOCKED until {} (after failover {}): `myha ack --cluster {}`",
            s(&b["until"]),
            s(&b["failover"]),
            s(&doc["cluster"])
        ),
        (_, true) => println!("automatic failover: PAUSED"),
        _ if doc["block_pending"].is_object() => println!(
            "automatic failover: armed; blocked once {} has served (failover {})",
            s(&doc["block_pending"]["master"]),
            s(&doc["block_pending"]["failover"])
        ),
        _ => println!("automatic failover: armed"),
    }
    if let Value::Object(r) = &doc["request"] {
        println!(
            "request {}: {} {} (via {}, {})",
            if r.get("started") == Some(&Value::Bool(true)) {
                "RUNNING"
            } else {
                "pending"
            },
            s(&doc["request"]["action"]),
            s(&doc["request"]["id"]),
            s(&doc["request"]["via"]),
            s(&doc["request"]["requested_at"])
        );
    }
}

/// `myha history --url`
pub async fn history(url: &str, only: Option<&str>, limit: usize, as_json: bool) -> ExitCode {
    let (api, names) = match open(url, only).await {
        Ok(x) => x,
        Err(code) => return code,
    };
    let mut all = Vec::new();
    for n in names {
        let doc = match api.get(&format!("/api/v1/clusters/{n}/history?limit={limit}")).await {
            Ok(d) => d,
            Err(e) => return fail(e),
        };
        match serde_json::from_value::<Vec<FailoverRecord>>(doc["failovers"].clone()) {
            Ok(r) => all.extend(r),
            Err(e) => return fail(ClientError::BadResponse(format!("failover records: {e}"))),
        }
    }
    print_records(&all, as_json);
    ExitCode::SUCCESS
}

/// `myha pause|resume|ack --url`
pub async fn change(url: &str, cluster: &str, what: Change) -> ExitCode {
    let (api, cluster) = match api_for(url, cluster) {
        Ok(x) => x,
        Err(e) => return fail(e),
    };
    let action = match what {
        Change::Ack => "ack",
        Change::Pause => "pause",
        Change::Resume => "resume",
    };
    match api
        .post(&format!("/api/v1/clusters/{cluster}/{action}"), &json!({}))
        .await
    {
        Ok(doc) => {
            println!("cluster {cluster}: {}", s(&doc["done"]));
            ExitCode::SUCCESS
        }
        Err(e) => fail(e),
    }
}

/// `myha abort --url`: exit 0 when the record was aborted.
pub async fn abort(a: &super::AbortArgs) -> ExitCode {
    let (api, cluster) = match api_for(&a.url, &a.cluster) {
        Ok(x) => x,
        Err(e) => return fail(e),
    };
    // the id goes into the URL path: only what record ids are made of
    if a.record.is_empty()
        || !a
            .record
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
    {
        return fail(ClientError::BadArgument(format!(
            "--record {:?}: a record id has only letters, digits, '-', '_' and '.' (see myha history)",
            a.record
        )));
    }
    let path = format!("/api/v1/clusters/{cluster}/failovers/{}/abort", a.record);
    match api.post(&path, &json!({ "reason": a.reason })).await {
        Ok(_) => {
            println!(
                "cluster {cluster}: failover record {} aborted: {}",
                a.record,
                a.reason.trim()
            );
            ExitCode::SUCCESS
        }
        Err(e) => fail(e),
    }
}

/// `myha switchover|failover`: exit 0 when it finished ok (or degraded: done, with repairs
/// left to the manager), 1 when it failed, 75 when it did not finish within --wait.
pub async fn request(a: super::ActionArgs, action: &str) -> ExitCode {
    let (api, cluster) = match api_for(&a.url, &a.cluster) {
        Ok(x) => x,
        Err(e) => return fail(e),
    };
    let mut body = json!({ "wait": a.wait });
    if let Some(to) = &a.to {
        body["to"] = json!(to);
    }
    if a.force {
        body["force"] = json!(true);
    }
    let path = format!("/api/v1/clusters/{cluster}/{action}");
    let doc = match api
        .post_waiting(&path, &body, std::time::Duration::from_secs(a.wait))
        .await
    {
        Ok(d) => d,
        Err(e) => return fail(e),
    };
    if a.json {
        println!("{}", serde_json::to_string_pretty(&doc).unwrap_or_default());
    }
    let record = match doc["record"].clone() {
        Value::Null => None,
        r => match serde_json::from_value::<FailoverRecord>(r) {
            Ok(r) => Some(r),
            Err(e) => return fail(ClientError::BadResponse(format!("failover record: {e}"))),
        },
    };
    let id = s(&doc["request"]["id"]);
    match record {
        Some(r) if r.status != crate::model::Status::Running => {
            if !a.json {
                print_records(std::slice::from_ref(&r), false);
            }
            match r.status {
                crate::model::Status::Failed => ExitCode::from(super::EXIT_UNHEALTHY),
                _ => ExitCode::SUCCESS,
            }
        }
        _ => {
            eprintln!("myha: {action} {id} was handed to the leader but did not finish within {} s: follow it with `myha history --cluster {cluster}`", a.wait);
            ExitCode::from(75)
        }
    }
}

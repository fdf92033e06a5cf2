//! The topology table, rendered from the JSON document the API serves (and that
//! `myha status --config` builds the same way), so both paths print the same table.

use super::{table, EXIT_UNHEALTHY};
use serde_json::{json, Value};
use std::process::ExitCode;

/// A JSON value for a table cell (`-` for null).
pub fn s(v: &Value) -> String {
    match v {
        Value::Null => "-".into(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// Replication thread states as SHOW SLAVE STATUS spells them.
fn yes_no(v: &Value) -> String {
    match v {
        Value::Bool(true) => "Yes".into(),
        Value::Bool(false) => "No".into(),
        Value::String(t) => {
            let mut c = t.chars();
            c.next()
                .map(|f| f.to_uppercase().chain(c).collect())
                .unwrap_or_default()
        }
        _ => "-".into(),
    }
}

/// The node table of a cluster document (`api::doc::snapshot_json`).
pub fn nodes_table(title: &str, doc: &Value) -> String {
    let rows: Vec<Vec<String>> = doc["nodes"]
        .as_array()
        .map(|nodes| {
            nodes
                .iter()
                .map(|n| {
                    let p = &n["probe"];
                    let r = &p["replica"];
                    let semi = &p["semi_sync"];
                    let semi_text = if semi["master_enabled"] == true {
                        format!(
                            "master {} ({} clients)",
                            if semi["master_active"] == true { "on" } else { "off" },
                            s(&semi["master_clients"])
                        )
                    } else if semi["replica_enabled"] == true {
                        format!("replica {}", if semi["replica_active"] == true { "on" } else { "off" })
                    } else if p.get("error").is_some() {
                        "-".into()
                    } else {
                        "off".into()
                    };
                    vec![
                        s(&n["name"]),
                        format!("{}:{}", s(&n["address"]), s(&n["port"])),
                        s(&n["role"]),
                        s(&n["state"]),
                        r["seconds_behind"]
                            .as_u64()
                            .map(|l| format!("{l}s"))
                            .unwrap_or_else(|| "-".into()),
                        s(&n["received"]),
                        s(&p["executed"]),
                        if r.is_object() { yes_no(&r["io"]) } else { "-".into() },
                        if r.is_object() {
                            yes_no(&r["sql_running"])
                        } else {
                            "-".into()
                        },
                        match &p["read_only"] {
                            Value::Bool(true) => "ON".into(),
                            Value::Bool(false) => "OFF".into(),
                            _ => "-".into(),
                        },
                        semi_text,
                    ]
                })
                .collect()
        })
        .unwrap_or_default();
    let header = [
        "Node",
        "Address",
        "Role",
        "State",
        "Lag",
        "Received GTID",
        "Applied GTID",
        "IO",
        "SQL",
        "read_only",
        "semi-sync",
    ];
    table::render(title, &header, &rows)
}

/// The end of `myha status`: the JSON documents when asked for, and the exit code.
pub fn status_end(docs: Vec<Value>, as_json: bool, healthy: bool) -> ExitCode {
    if as_json {
        println!(
            "{}",
            serde_json::to_string_pretty(&json!({ "clusters": docs })).unwrap_or_default()
        );
    }
    if healthy {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(EXIT_UNHEALTHY)
    }
}

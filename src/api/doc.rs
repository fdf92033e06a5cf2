//! The JSON documents the API serves (and `myha status --json` prints): one shape for both.

use crate::detect::Diagnosis;
use crate::topology::{IoThread, NodeObservation, Snapshot};
use serde_json::json;

/// The role of a node in a snapshot, given the diagnosis.
pub fn role(n: &NodeObservation, d: &Diagnosis) -> &'static str {
    if d.state.master() == Some(n.name.as_str()) {
        return "master";
    }
    match n.ok() {
        Some(s) if !s.read_only => "writable!",
        Some(s) if s.replica.is_some() => "replica",
        Some(_) => "standalone",
        None => "?",
    }
}

/// A node's state in a few words (`replicating`, `unreachable: …`).
pub fn node_state(n: &NodeObservation) -> String {
    match &n.state {
        Err(e) => format!("unreachable: {e}"),
        Ok(s) => match &s.replica {
            None => "running".into(),
            Some(r) if !r.sql_running => "broken".into(),
            Some(r) => match r.io {
                IoThread::Yes => "replicating".into(),
                IoThread::Connecting => "reconnecting".into(),
                IoThread::No => "io stopped".into(),
            },
        },
    }
}

/// A probe round and its diagnosis.
pub fn snapshot_json(s: &Snapshot, d: &Diagnosis) -> serde_json::Value {
    json!({
        "cluster": s.cluster,
        "round": s.round,
        "at": humantime::format_rfc3339_millis(s.wall).to_string(),
        "round_ms": s.duration.as_secs_f64() * 1000.0,
        "diagnosis": d.to_string(),
        "state": d.state,
        "issues": d.issues,
        "actionable": d.state.is_actionable(),
        "nodes": s.nodes.iter().map(|n| json!({
            "name": n.name,
            "address": n.address,
            "port": n.port,
            "role": role(n, d),
            "state": node_state(n),
            "latency_ms": n.latency.as_secs_f64() * 1000.0,
            "reachable": n.state.is_ok(),
            // what the node has received: a replica's received ∪ executed GTIDs, a master's executed
            "received": n.ok().map(|st| st.received().to_string()),
            "probe": match &n.state {
                Ok(st) => json!(st),
                Err(e) => json!({ "error": e.to_string() }),
            },
        })).collect::<Vec<_>>(),
    })
}

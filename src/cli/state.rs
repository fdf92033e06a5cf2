//! `myha history`, `ack`, `pause`, `resume`: failover records and the shared cluster state,
//! read from (and written to) the manager's state store.

use super::{load_config, table, EXIT_CONFIG};
use crate::config::Config;
use crate::coord::any::AnyStore;
use crate::coord::{self, RecordStore};
use std::path::Path;
use std::process::ExitCode;

fn clusters<'a>(cfg: &'a Config, only: Option<&str>) -> Result<Vec<&'a str>, ExitCode> {
    let v: Vec<&str> = cfg
        .clusters
        .iter()
        .map(|c| c.name.as_str())
        .filter(|c| only.is_none_or(|o| o == *c))
        .collect();
    if v.is_empty() {
        eprintln!("myha: no cluster {:?} in the configuration", only.unwrap_or_default());
        return Err(ExitCode::from(EXIT_CONFIG));
    }
    Ok(v)
}

pub async fn history(config: &Path, only: Option<&str>, limit: usize, json: bool) -> ExitCode {
    let cfg = match load_config(config) {
        Ok(c) => c,
        Err(code) => return code,
    };
    let names = match clusters(&cfg, only) {
        Ok(n) => n,
        Err(code) => return code,
    };
    let store = match AnyStore::open(&cfg).await {
        Ok(s) => s,
        Err(e) => {
            eprintln!("myha: {e}");
            return ExitCode::FAILURE;
        }
    };
    let mut all = Vec::new();
    for c in names {
        match store.records(c, limit).await {
            Ok(r) => all.extend(r),
            Err(e) => {
                eprintln!("myha: {e}");
                return ExitCode::FAILURE;
            }
        }
    }
    print_records(&all, json);
    ExitCode::SUCCESS
}

/// Print failover records: JSON, or one block per record with its step table.
pub fn print_records(all: &[crate::model::FailoverRecord], json: bool) {
    if json {
        println!("{}", serde_json::to_string_pretty(&all).unwrap_or_default());
        return;
    }
    if all.is_empty() {
        println!("no failovers recorded");
    }
    for r in all {
        println!("{r}");
        println!("  trigger:  {}", r.trigger);
        println!(
            "  detected: {}   started: {}   manager: {}",
            r.detected_at, r.started_at, r.manager
        );
        if let Some(c) = &r.candidates {
            println!("  decision: {c}");
        }
        if let Some(p) = r.write_pause_ms {
            println!("  write pause: {p} ms (old master read-only → VIP verified on the new one)");
        }
        let rows: Vec<Vec<String>> = r
            .steps
            .iter()
            .map(|s| {
                vec![
                    format!("+{} ms", s.offset_ms),
                    s.duration_ms
                        .map(|d| format!("{d} ms"))
                        .unwrap_or_else(|| "running".into()),
                    format!("{:?}", s.status).to_lowercase(),
                    s.name.clone(),
                    s.detail.clone(),
                ]
            })
            .collect();
        println!(
            "{}",
            table::render(&r.id, &["Start", "Took", "Status", "Step", "Detail"], &rows)
        );
        for e in &r.errors {
            println!("  error: {e}");
        }
        println!();
    }
}

/// What a state command changes.
#[derive(Debug, Clone, Copy)]
pub enum Change {
    /// Clear the anti-flap block.
    Ack,
    /// Stop acting on the cluster (detection goes on).
    Pause,
    /// Act again.
    Resume,
}

pub async fn change(config: &Path, cluster: &str, what: Change) -> ExitCode {
    let cfg = match load_config(config) {
        Ok(c) => c,
        Err(code) => return code,
    };
    if cfg.cluster(cluster).is_none() {
        eprintln!("myha: no cluster {cluster:?} in {}", config.display());
        return ExitCode::from(EXIT_CONFIG);
    }
    let store = match AnyStore::open(&cfg).await {
        Ok(s) => s,
        Err(e) => {
            eprintln!("myha: nothing changed: {e}");
            return ExitCode::FAILURE;
        }
    };
    let r = coord::update(&store, cluster, |st| match what {
        Change::Ack => st.block = None,
        Change::Pause => st.paused = true,
        Change::Resume => st.paused = false,
    })
    .await;
    match r {
        Ok(_) => {
            println!(
                "cluster {cluster}: {}",
                match what {
                    Change::Ack => "anti-flap block cleared: the next dead master fails over automatically",
                    Change::Pause =>
                        "automation paused: the manager detects and reports, but does not act (`myha resume`)",
                    Change::Resume => "automation resumed",
                }
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("myha: {e}");
            ExitCode::FAILURE
        }
    }
}

//! `myha backup` (on a replica's host: take one now) and `myha backups` (the catalogue).

use super::{load_config, table, EXIT_CONFIG};
use crate::backup::source::{self, SourceRole};
use crate::backup::store::DirStore;
use crate::backup::{BackupError, Job};
use crate::config::{ClusterConfig, Config};
use crate::coord::any::AnyStore;
use crate::coord::Store;
use crate::mysql::client::MysqlClient;
use crate::probe::Prober;
use std::net::IpAddr;
use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;

/// The source is not fit, or the store or coordinator cannot be reached (sysexits EX_UNAVAILABLE).
const EXIT_UNAVAILABLE: u8 = 69;

fn fail(code: u8, msg: impl std::fmt::Display) -> ExitCode {
    eprintln!("myha: {msg}");
    ExitCode::from(code)
}

fn cluster<'a>(cfg: &'a Config, name: &str) -> Result<&'a ClusterConfig, ExitCode> {
    cfg.cluster(name).ok_or_else(|| {
        let known: Vec<&str> = cfg.clusters.iter().map(|c| c.name.as_str()).collect();
        fail(
            EXIT_CONFIG,
            format!(
                "no cluster {name:?} in the configuration (clusters: {})",
                known.join(", ")
            ),
        )
    })
}

/// This host's IP addresses.
fn local_addresses() -> Vec<IpAddr> {
    let Ok(addrs) = nix::ifaddrs::getifaddrs() else {
        return Vec::new();
    };
    addrs
        .filter_map(|a| a.address)
        .filter_map(|a| {
            a.as_sockaddr_in()
                .map(|s| IpAddr::V4(s.ip()))
                .or_else(|| a.as_sockaddr_in6().map(|s| IpAddr::V6(s.ip())))
        })
        .collect()
}

/// `myha backup --config F --cluster C [--node N] [--json]`
pub async fn backup(config: &Path, name: &str, node: Option<&str>, json: bool) -> ExitCode {
    let cfg = match load_config(config) {
        Ok(c) => c,
        Err(code) => return code,
    };
    let c = match cluster(&cfg, name) {
        Ok(c) => c,
        Err(code) => return code,
    };
    let Some(bcfg) = &cfg.backup else {
        return fail(
            EXIT_CONFIG,
            format!("{}: no [backup] section: where would the backup go?", config.display()),
        );
    };
    // the tool reads the datadir: it runs on the source's host
    let local = local_addresses();
    let here = source::local_node(c, &local);
    let n = match (node, here) {
        (Some(want), _) => match c.node(want) {
            None => return fail(EXIT_CONFIG, format!("no node {want:?} in cluster {name}")),
            Some(n) if here.is_some_and(|h| h.name == n.name) => n,
            Some(n) => {
                return fail(
                    EXIT_CONFIG,
                    format!(
                        "run `myha backup` on {}'s host ({}): the backup tool reads its datadir locally",
                        n.name, n.address
                    ),
                )
            }
        },
        (None, Some(h)) => h,
        (None, None) => {
            return fail(
                EXIT_CONFIG,
                format!("this host is none of cluster {name}'s nodes: run `myha backup` on a replica's host"),
            )
        }
    };
    let mut prober = Prober::new(
        Arc::new(c.clone()),
        MysqlClient::new(c, cfg.timing.probe_timeout),
        cfg.timing.clone(),
    );
    let snap = prober.round().await;
    let role = match source::check(c, &snap, n, bcfg.allow_master, cfg.timing.max_replica_lag) {
        Ok(r) => r,
        Err(why) => return fail(EXIT_UNAVAILABLE, format!("not taking a backup on {}: {why}", n.name)),
    };
    let catalogue = match AnyStore::open(&cfg).await {
        Ok(s) => s,
        Err(e) => {
            return fail(
                EXIT_UNAVAILABLE,
                format!("cannot reach the coordinator for the catalogue: {e}"),
            )
        }
    };
    let job = Job {
        cluster: c,
        node: n,
        source_is_master: role == SourceRole::Master,
        config: bcfg,
    };
    match job.run(&DirStore::new(&bcfg.store), &catalogue).await {
        Ok(meta) if json => {
            println!("{}", serde_json::to_string_pretty(&meta).unwrap_or_default());
            ExitCode::SUCCESS
        }
        Ok(meta) => {
            println!(
                "backup {} of {} stored in {} ({} bytes), GTID position {}",
                meta.id, meta.source, meta.store, meta.size_bytes, meta.gtid
            );
            ExitCode::SUCCESS
        }
        Err(e @ (BackupError::Store(_) | BackupError::Catalogue(_))) => fail(EXIT_UNAVAILABLE, e),
        Err(e) => fail(1, e),
    }
}

/// `myha backups --config F --cluster C [--json]`
pub async fn list(config: &Path, name: &str, json: bool) -> ExitCode {
    let cfg = match load_config(config) {
        Ok(c) => c,
        Err(code) => return code,
    };
    if let Err(code) = cluster(&cfg, name) {
        return code;
    }
    let catalogue = match AnyStore::open(&cfg).await {
        Ok(s) => s,
        Err(e) => return fail(EXIT_UNAVAILABLE, format!("cannot reach the coordinator: {e}")),
    };
    let all = match catalogue.backups(name).await {
        Ok(a) => a,
        Err(e) => return fail(EXIT_UNAVAILABLE, e),
    };
    if json {
        println!("{}", serde_json::to_string_pretty(&all).unwrap_or_default());
        return ExitCode::SUCCESS;
    }
    let rows: Vec<Vec<String>> = all
        .iter()
        .map(|b| {
            vec![
                b.id.clone(),
                b.source.clone(),
                b.finished_at.clone(),
                format!("{:.1} MB", b.size_bytes as f64 / 1e6),
                b.gtid.clone(),
                b.store.clone(),
            ]
        })
        .collect();
    println!(
        "{}",
        table::render(
            &format!("Backups: {name}"),
            &["Id", "Source", "Finished", "Size", "GTID", "Store"],
            &rows
        )
    );
    ExitCode::SUCCESS
}

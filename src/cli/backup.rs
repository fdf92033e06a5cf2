//! `myha backup` (on a replica's host: take one now) and `myha backups` (the catalogue).

use super::{load_config, table, EXIT_CONFIG};
use crate::backup::bootstrap::{Bootstrap, BootstrapError};
use crate::backup::source::{self, SourceRole};
use crate::backup::store::AnyBackupStore;
use crate::backup::{BackupError, Job};
use crate::config::{BackupConfig, ClusterConfig, Config, NodeConfig};
use crate::coord::any::AnyStore;
use crate::coord::{self, BackupCatalogue, NodeRegistry, StateStore};
use crate::model::unix_ms;
use crate::mysql::client::MysqlClient;
use crate::probe::Prober;
use std::net::IpAddr;
use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::SystemTime;

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

/// The configuration, the cluster and its `[backup]`, or the exit code after saying which is
/// missing.
fn setup(config: &Path, name: &str) -> Result<(Config, ClusterConfig, BackupConfig), ExitCode> {
    let cfg = load_config(config)?;
    let c = cluster(&cfg, name)?.clone();
    let Some(b) = cfg.backup.clone() else {
        return Err(fail(
            EXIT_CONFIG,
            format!("{}: no [backup] section: where backups are kept", config.display()),
        ));
    };
    Ok((cfg, c, b))
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

/// The node this host runs: `want` if given (and it is this host's), else the one configured
/// at one of this host's addresses. The backup tools work on the local datadir.
fn this_node<'a>(c: &'a ClusterConfig, want: Option<&str>, cmd: &str) -> Result<&'a NodeConfig, ExitCode> {
    let local = local_addresses();
    let here = source::local_node(c, &local);
    match (want, here) {
        (Some(want), _) => match c.node(want) {
            None => Err(fail(EXIT_CONFIG, format!("no node {want:?} in cluster {}", c.name))),
            Some(n) if here.is_some_and(|h| h.name == n.name) => Ok(n),
            Some(n) => Err(fail(
                EXIT_CONFIG,
                format!(
                    "run `myha {cmd}` on {}'s host ({}): it works on the local datadir",
                    n.name, n.address
                ),
            )),
        },
        (None, Some(h)) => Ok(h),
        (None, None) => Err(fail(
            EXIT_CONFIG,
            format!(
                "this host is none of cluster {}'s nodes: run `myha {cmd}` on the node's host",
                c.name
            ),
        )),
    }
}

/// A node to bootstrap that the configuration does not list (`--address`, `--az`, …).
#[derive(Debug, Default)]
pub struct NewNode {
    /// Its address (this host's).
    pub address: Option<String>,
    /// Its availability zone.
    pub az: Option<String>,
    /// Its MySQL port.
    pub port: u16,
    /// Its failover priority.
    pub priority: i32,
    /// Its datadir, when not `[backup] datadir`.
    pub datadir: Option<std::path::PathBuf>,
}

impl NewNode {
    /// The node `name` as these flags describe it, if they do, and it is this host.
    fn node(&self, c: &ClusterConfig, name: &str) -> Result<NodeConfig, String> {
        let (Some(address), Some(az)) = (&self.address, &self.az) else {
            return Err(format!(
                "no node {name:?} in cluster {}: give --address and --az to bootstrap and register a new one",
                c.name
            ));
        };
        if name.is_empty()
            || !name
                .chars()
                .all(|ch| ch.is_ascii_alphanumeric() || ch == '-' || ch == '_')
        {
            return Err(format!("--node {name:?}: letters, digits, '-' and '_' only"));
        }
        let ip: IpAddr = address
            .parse()
            .map_err(|_| format!("--address {address:?} is not an IP address"))?;
        if !local_addresses().contains(&ip) {
            return Err(format!(
                "--address {address} is not this host's: run `myha bootstrap` on the new node's host"
            ));
        }
        if c.nodes.iter().any(|n| n.address == *address && n.port == self.port) {
            return Err(format!("{address}:{} is a configured node's address", self.port));
        }
        if az.is_empty() || self.port == 0 {
            return Err("--az must not be empty, --port must be 1 ..= 65535".into());
        }
        Ok(NodeConfig {
            port: self.port,
            priority: self.priority,
            datadir: self.datadir.clone(),
            ..NodeConfig::new(name, address, az)
        })
    }
}

/// `myha bootstrap --config F --cluster C --node N [--address IP --az AZ] [--rebuild] [--json]`
pub async fn bootstrap(config: &Path, name: &str, node: &str, new: &NewNode, rebuild: bool, json: bool) -> ExitCode {
    let (cfg, c, bcfg) = match setup(config, name) {
        Ok(x) => x,
        Err(code) => return code,
    };
    let (c, bcfg) = (&c, &bcfg);
    // a node the configuration does not have is registered once it is a replica
    let (n, register) = match c.node(node) {
        Some(_) => match this_node(c, Some(node), "bootstrap") {
            Ok(n) => (n.clone(), false),
            Err(code) => return code,
        },
        None => match new.node(c, node) {
            Ok(n) => (n, true),
            Err(why) => return fail(EXIT_CONFIG, why),
        },
    };
    let n = &n;
    let coordinator = match AnyStore::open(&cfg).await {
        Ok(s) => s,
        Err(e) => return fail(EXIT_UNAVAILABLE, format!("cannot reach the coordinator: {e}")),
    };
    let job = Bootstrap {
        cluster: c,
        node: n,
        config: bcfg,
        rebuild,
        catch_up_timeout: cfg.failover.catch_up_timeout.max(std::time::Duration::from_secs(600)),
    };
    let admin = MysqlClient::new(c, cfg.timing.probe_timeout.max(std::time::Duration::from_secs(2)));
    let store = match AnyBackupStore::open(&cfg, bcfg).await {
        Ok(s) => s,
        Err(e) => return fail(EXIT_UNAVAILABLE, e),
    };
    let done = job.run(&store, &coordinator, &admin).await;
    if done.is_ok() && register {
        if let Err(e) = coordinator.register_node(name, n).await {
            return fail(
                EXIT_UNAVAILABLE,
                format!(
                    "{} replicates, but cannot be registered for the managers: {e} (run again to register)",
                    n.name
                ),
            );
        }
        tracing::info!(cluster = %name, "{} registered: the managers watch it from their next refresh", n.name);
    }
    match done {
        Ok(r) if json => {
            println!("{}", serde_json::to_string_pretty(&r).unwrap_or_default());
            ExitCode::SUCCESS
        }
        Ok(r) => {
            println!(
                "{} restored from backup {} and replicating from {} (started at {}); restore {} ms, server start {} ms, catch-up {} ms, total {} ms",
                r.node, r.backup, r.master, r.start_gtid, r.restore_ms, r.start_ms, r.catch_up_ms, r.total_ms
            );
            ExitCode::SUCCESS
        }
        Err(e @ (BootstrapError::NotEmpty(_) | BootstrapError::IsMaster(_))) => fail(EXIT_CONFIG, e),
        Err(
            e @ (BootstrapError::NoMaster(_)
            | BootstrapError::NoBackup(_)
            | BootstrapError::Store(_)
            | BootstrapError::Coordinator(_)),
        ) => fail(EXIT_UNAVAILABLE, e),
        Err(e) => fail(1, e),
    }
}

/// `myha backup --config F --cluster C [--node N] [--json]`
pub async fn backup(config: &Path, name: &str, node: Option<&str>, json: bool) -> ExitCode {
    let (cfg, c, bcfg) = match setup(config, name) {
        Ok(x) => x,
        Err(code) => return code,
    };
    let (c, bcfg) = (&c, &bcfg);
    // the tool reads the datadir: it runs on the source's host
    let n = match this_node(c, node, "backup") {
        Ok(n) => n,
        Err(code) => return code,
    };
    match take(&cfg, c, n, bcfg).await {
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
        Err((code, why)) => fail(code, why),
    }
}

/// Check that `n` may be the source now, then take, store and catalogue a backup. `Err`:
/// the exit code and why.
async fn take(
    cfg: &Config,
    c: &ClusterConfig,
    n: &NodeConfig,
    bcfg: &BackupConfig,
) -> Result<crate::model::BackupMeta, (u8, String)> {
    let mut prober = Prober::new(
        Arc::new(c.clone()),
        MysqlClient::new(c, cfg.timing.probe_timeout),
        cfg.timing.clone(),
    );
    let snap = prober.round().await;
    let role = source::check(c, &snap, n, bcfg.allow_master, cfg.timing.max_replica_lag)
        .map_err(|why| (EXIT_UNAVAILABLE, format!("not taking a backup on {}: {why}", n.name)))?;
    let catalogue = AnyStore::open(cfg).await.map_err(|e| {
        (
            EXIT_UNAVAILABLE,
            format!("cannot reach the coordinator for the catalogue: {e}"),
        )
    })?;
    let job = Job {
        cluster: c,
        node: n,
        source_is_master: role == SourceRole::Master,
        config: bcfg,
    };
    let store = AnyBackupStore::open(cfg, bcfg)
        .await
        .map_err(|e| (EXIT_UNAVAILABLE, e.to_string()))?;
    job.run(&store, &catalogue).await.map_err(|e| match e {
        BackupError::Store(_) | BackupError::Catalogue(_) => (EXIT_UNAVAILABLE, e.to_string()),
        e => (1, e.to_string()),
    })
}

/// How often the agent looks for a request.
const AGENT_POLL: std::time::Duration = std::time::Duration::from_secs(5);

/// `myha backup-agent --config F --cluster C [--node N]`: on a replica's host, take the
/// backups the leader asks this node for (`[backup] every`), until stopped.
pub async fn agent(config: &Path, name: &str, node: Option<&str>) -> ExitCode {
    let (cfg, c, bcfg) = match setup(config, name) {
        Ok(x) => x,
        Err(code) => return code,
    };
    let (c, bcfg) = (&c, &bcfg);
    let n = match this_node(c, node, "backup-agent") {
        Ok(n) => n,
        Err(code) => return code,
    };
    let coordinator = match AnyStore::open(&cfg).await {
        Ok(s) => s,
        Err(e) => return fail(EXIT_UNAVAILABLE, format!("cannot reach the coordinator: {e}")),
    };
    tracing::info!(cluster = %name, node = %n.name, "backup agent: taking the backups the leader asks {} for", n.name);
    let stop = tokio::signal::ctrl_c();
    tokio::pin!(stop);
    loop {
        tokio::select! {
            _ = &mut stop => return ExitCode::SUCCESS,
            _ = tokio::time::sleep(AGENT_POLL) => {}
        }
        let now_ms = unix_ms(SystemTime::now());
        let req = match coordinator.load(name).await {
            Ok(s) => s.value.backup,
            Err(e) => {
                tracing::warn!(error = %e, "cannot read the cluster state");
                continue;
            }
        };
        let Some(req) = req.filter(|r| r.node == n.name && !r.started && now_ms < r.expires_ms) else {
            continue;
        };
        // claimed with compare-and-set: one agent, once; it holds the slot for the backup's
        // longest allowed time
        let until = now_ms + bcfg.timeout.as_millis() as u64;
        let claimed = coord::try_update(&coordinator, name, |st| match &mut st.backup {
            Some(r) if r.id == req.id && !r.started => {
                r.started = true;
                r.expires_ms = until;
                Ok(())
            }
            _ => Err(crate::coord::StoreError::Refused("the request changed".into())),
        })
        .await;
        if claimed.is_err() {
            continue;
        }
        tracing::info!(cluster = %name, "backup agent: {req}");
        match take(&cfg, c, n, bcfg).await {
            Ok(meta) => {
                tracing::info!(cluster = %name, "backup {} stored in {} ({} bytes, GTID {})", meta.id, meta.store, meta.size_bytes, meta.gtid)
            }
            Err((_, why)) => tracing::error!(cluster = %name, "scheduled backup failed: {why}"),
        }
        let cleared = coord::update(&coordinator, name, |st| {
            if st.backup.as_ref().is_some_and(|r| r.id == req.id) {
                st.backup = None;
            }
        })
        .await;
        if let Err(e) = cleared {
            tracing::warn!(error = %e, "cannot clear the backup request (it expires)");
        }
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

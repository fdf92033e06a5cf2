//! The `myha` command line: argument parsing and one module per subcommand.

pub(crate) mod backup;
mod check_config;
mod client;
mod manager;
mod remote;
mod render;
mod state;
mod status;
mod table;

use clap::{Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;

/// Exit code for a bad configuration file or bad arguments (sysexits EX_USAGE).
pub const EXIT_CONFIG: u8 = 64;
/// Exit code when a check ran and found the cluster unhealthy.
pub const EXIT_UNHEALTHY: u8 = 1;

/// myha: MySQL / MariaDB failover with a floating IP on AWS VPC route tables.
#[derive(Debug, Parser)]
#[command(name = "myha", version, about, propagate_version = true)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
    /// TLS files for `--url https://…`.
    #[command(flatten)]
    pub tls: client::ClientTls,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Validate a configuration file without connecting anywhere (exit 64 when invalid).
    CheckConfig {
        /// The configuration file.
        file: PathBuf,
    },
    /// Run the manager service: watch every cluster, fail over dead masters.
    Manager {
        /// The configuration file.
        #[arg(long, short, env = "MYHA_CONFIG")]
        config: PathBuf,
        /// This manager's id (overrides manager.id).
        #[arg(long, env = "MYHA_MANAGER_ID")]
        id: Option<String>,
    },
    /// Show the failover history with each step's timing.
    History {
        /// --config or --url.
        #[command(flatten)]
        from: Source,
        /// Only this cluster.
        #[arg(long)]
        cluster: Option<String>,
        /// How many records per cluster, newest first.
        #[arg(long, default_value_t = 20)]
        limit: usize,
        /// JSON instead of tables.
        #[arg(long)]
        json: bool,
    },
    /// Planned switchover: move the healthy master to --to (or the best ready replica),
    /// losing nothing; run by the cluster's leader, asked through a manager's API.
    Switchover(ActionArgs),
    /// Manual failover of a dead master to --to (or the best candidate), while automation is
    /// paused or blocked; run by the cluster's leader, asked through a manager's API.
    Failover(ActionArgs),
    /// Take a physical backup now, on this replica's host (mariabackup / xtrabackup), store it
    /// in [backup] store and catalogue it with its GTID position.
    Backup {
        /// The configuration file and the cluster.
        #[command(flatten)]
        at: ConfigCluster,
        /// The node this host runs (default: found by this host's addresses).
        #[arg(long)]
        node: Option<String>,
        /// The catalogue entry as JSON.
        #[arg(long)]
        json: bool,
    },
    /// On a new (or diverged) node's host: restore the latest backup, start the server
    /// read-only, replicate from the current master until caught up.
    Bootstrap {
        /// The configuration file and the cluster.
        #[command(flatten)]
        at: ConfigCluster,
        /// The node this host runs.
        #[arg(long)]
        node: String,
        /// A node the configuration does not list: its address (this host's). It is registered
        /// with the managers once it replicates.
        #[arg(long, requires = "az")]
        address: Option<String>,
        /// A new node's availability zone.
        #[arg(long, requires = "address")]
        az: Option<String>,
        /// A new node's MySQL port.
        #[arg(long, default_value_t = 3306)]
        port: u16,
        /// A new node's failover priority.
        #[arg(long, default_value_t = 0)]
        priority: i32,
        /// A new node's datadir (default: [backup] datadir).
        #[arg(long, requires = "address")]
        datadir: Option<PathBuf>,
        /// Wipe the node's datadir first (a diverged old master; destroys its data).
        #[arg(long)]
        rebuild: bool,
        /// The report as JSON.
        #[arg(long)]
        json: bool,
    },
    /// On a replica's host, as a service: take the scheduled backups the leader asks this node
    /// for ([backup] every).
    BackupAgent {
        /// The configuration file and the cluster.
        #[command(flatten)]
        at: ConfigCluster,
        /// The node this host runs (default: found by this host's addresses).
        #[arg(long)]
        node: Option<String>,
    },
    /// List a cluster's catalogued backups, newest first.
    Backups {
        /// The configuration file and the cluster.
        #[command(flatten)]
        at: ConfigCluster,
        /// JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Acknowledge a failover: clear the anti-flap block so the next dead master fails over.
    Ack(ClusterArgs),
    /// End a failover record left running whose planned node cannot be probed (the leader
    /// waits on it): closed as failed with the reason, so automation goes on. Refused when the
    /// planned node is writable (it was promoted: the leader finishes it).
    Abort(AbortArgs),
    /// Pause automation for a cluster: detection and status go on, no action is taken.
    Pause(ClusterArgs),
    /// Resume automation for a cluster.
    Resume(ClusterArgs),
    /// Show topology and diagnosis: probed directly (--config) or as a manager sees it (--url).
    Status {
        /// --config or --url.
        #[command(flatten)]
        from: Source,
        /// Only this cluster.
        #[arg(long)]
        cluster: Option<String>,
        /// One JSON document (with --watch: one JSON line per change).
        #[arg(long)]
        json: bool,
        /// Keep probing and print every change of diagnosis with its time, until Ctrl-C (--config only).
        #[arg(long, conflicts_with = "url")]
        watch: bool,
    },
}

/// Where a command gets its answers: the configuration file (probe and read the store
/// directly) or a manager's HTTP API.
#[derive(Debug, clap::Args)]
#[group(required = true, multiple = false)]
pub struct Source {
    /// The configuration file.
    #[arg(long, short, env = "MYHA_CONFIG")]
    pub config: Option<PathBuf>,
    /// A manager's API, http://host:port (actions take the token from MYHA_TOKEN).
    #[arg(long, env = "MYHA_URL")]
    pub url: Option<String>,
}

/// A configuration file and one of its clusters (the commands that run on a DB host).
#[derive(Debug, clap::Args)]
pub struct ConfigCluster {
    /// The configuration file.
    #[arg(long, short, env = "MYHA_CONFIG")]
    pub config: PathBuf,
    /// The cluster.
    #[arg(long)]
    pub cluster: String,
}

/// A source and one of its clusters.
#[derive(Debug, clap::Args)]
pub struct ClusterArgs {
    /// --config or --url.
    #[command(flatten)]
    pub from: Source,
    /// The cluster.
    #[arg(long)]
    pub cluster: String,
}

/// `myha abort`: which record, and why.
#[derive(Debug, clap::Args)]
pub struct AbortArgs {
    /// A manager's API, http://host:port (the token comes from MYHA_TOKEN).
    #[arg(long, env = "MYHA_URL")]
    pub url: String,
    /// The cluster.
    #[arg(long)]
    pub cluster: String,
    /// The record's id (`myha history`).
    #[arg(long)]
    pub record: String,
    /// Why (kept in the record).
    #[arg(long)]
    pub reason: String,
}

/// A switchover or failover request.
#[derive(Debug, clap::Args)]
pub struct ActionArgs {
    /// A manager's API, http://host:port (the token comes from MYHA_TOKEN).
    #[arg(long, env = "MYHA_URL")]
    pub url: String,
    /// The cluster.
    #[arg(long)]
    pub cluster: String,
    /// The node to promote (default: the best candidate).
    #[arg(long)]
    pub to: Option<String>,
    /// Seconds to wait for the outcome (0..=300); after that it goes on, see `myha history`.
    #[arg(long, default_value_t = 60, value_parser = clap::value_parser!(u64).range(0..=300))]
    pub wait: u64,
    /// The answer as JSON.
    #[arg(long)]
    pub json: bool,
    /// `failover` only: fail over even though it loses transactions that may have been
    /// acknowledged (the refusal names them); the record says it was forced.
    #[arg(long)]
    pub force: bool,
}

/// Run the parsed command.
pub async fn run(cli: Cli) -> ExitCode {
    client::use_tls(cli.tls);
    match cli.command {
        Command::CheckConfig { file } => check_config::run(&file),
        Command::Status {
            from,
            cluster,
            json,
            watch,
        } => match (from.url, from.config) {
            (Some(url), _) => remote::status(&url, cluster.as_deref(), json).await,
            (None, Some(config)) => status::run(&config, cluster.as_deref(), json, watch).await,
            (None, None) => no_source(),
        },
        Command::Manager { config, id } => manager::run(&config, id).await,
        Command::History {
            from,
            cluster,
            limit,
            json,
        } => match (from.url, from.config) {
            (Some(url), _) => remote::history(&url, cluster.as_deref(), limit, json).await,
            (None, Some(config)) => state::history(&config, cluster.as_deref(), limit, json).await,
            (None, None) => no_source(),
        },
        Command::Switchover(a) => remote::request(a, "switchover").await,
        Command::Failover(a) => remote::request(a, "failover").await,
        Command::Backup { at, node, json } => backup::backup(&at.config, &at.cluster, node.as_deref(), json).await,
        Command::Bootstrap {
            at,
            node,
            address,
            az,
            port,
            priority,
            datadir,
            rebuild,
            json,
        } => {
            let new = backup::NewNode {
                address,
                az,
                port,
                priority,
                datadir,
            };
            backup::bootstrap(&at.config, &at.cluster, &node, &new, rebuild, json).await
        }
        Command::BackupAgent { at, node } => backup::agent(&at.config, &at.cluster, node.as_deref()).await,
        Command::Backups { at, json } => backup::list(&at.config, &at.cluster, json).await,
        Command::Ack(a) => change(a, state::Change::Ack).await,
        Command::Abort(a) => remote::abort(&a).await,
        Command::Pause(a) => change(a, state::Change::Pause).await,
        Command::Resume(a) => change(a, state::Change::Resume).await,
    }
}

async fn change(a: ClusterArgs, what: state::Change) -> ExitCode {
    match (a.from.url, a.from.config) {
        (Some(url), _) => remote::change(&url, &a.cluster, what).await,
        (None, Some(config)) => state::change(&config, &a.cluster, what).await,
        (None, None) => no_source(),
    }
}

fn no_source() -> ExitCode {
    eprintln!("myha: give --config FILE (or MYHA_CONFIG) or --url http://host:port (or MYHA_URL)");
    ExitCode::from(EXIT_CONFIG)
}

/// Load the config or explain why not; `Err` carries the exit code.
pub(crate) fn load_config(path: &std::path::Path) -> Result<crate::config::Config, ExitCode> {
    crate::config::load(path).map_err(|e| {
        eprintln!("myha: {e}");
        ExitCode::from(EXIT_CONFIG)
    })
}

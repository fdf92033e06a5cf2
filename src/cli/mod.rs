//! The `myha` command line: argument parsing and one module per subcommand.

mod check_config;
mod manager;
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
        /// The configuration file.
        #[arg(long, short, env = "MYHA_CONFIG")]
        config: PathBuf,
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
    /// Acknowledge a failover: clear the anti-flap block so the next dead master fails over.
    Ack(ClusterArgs),
    /// Pause automation for a cluster: detection and status go on, no action is taken.
    Pause(ClusterArgs),
    /// Resume automation for a cluster.
    Resume(ClusterArgs),
    /// Probe every node of the configured clusters and show topology and diagnosis.
    Status {
        /// The configuration file.
        #[arg(long, short, env = "MYHA_CONFIG")]
        config: PathBuf,
        /// Only this cluster.
        #[arg(long)]
        cluster: Option<String>,
        /// One JSON document (with --watch: one JSON line per change).
        #[arg(long)]
        json: bool,
        /// Keep probing and print every change of diagnosis with its time, until Ctrl-C.
        #[arg(long)]
        watch: bool,
    },
}

/// A configuration file and one of its clusters.
#[derive(Debug, clap::Args)]
pub struct ClusterArgs {
    /// The configuration file.
    #[arg(long, short, env = "MYHA_CONFIG")]
    pub config: PathBuf,
    /// The cluster.
    #[arg(long)]
    pub cluster: String,
}

/// Run the parsed command.
pub async fn run(cli: Cli) -> ExitCode {
    match cli.command {
        Command::CheckConfig { file } => check_config::run(&file),
        Command::Status {
            config,
            cluster,
            json,
            watch,
        } => status::run(&config, cluster.as_deref(), json, watch).await,
        Command::Manager { config, id } => manager::run(&config, id).await,
        Command::History {
            config,
            cluster,
            limit,
            json,
        } => state::history(&config, cluster.as_deref(), limit, json).await,
        Command::Ack(a) => state::change(&a.config, &a.cluster, state::Change::Ack).await,
        Command::Pause(a) => state::change(&a.config, &a.cluster, state::Change::Pause).await,
        Command::Resume(a) => state::change(&a.config, &a.cluster, state::Change::Resume).await,
    }
}

/// Load the config or explain why not; `Err` carries the exit code.
pub(crate) fn load_config(path: &std::path::Path) -> Result<crate::config::Config, ExitCode> {
    crate::config::load(path).map_err(|e| {
        eprintln!("myha: {e}");
        ExitCode::from(EXIT_CONFIG)
    })
}

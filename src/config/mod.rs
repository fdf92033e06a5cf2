//! The configuration file (TOML): clusters and their nodes, credentials by reference,
//! ZooKeeper, EC2 and timing. [`load`] parses *and* validates everything — secrets included —
//! before anything connects anywhere; every problem names its key.
//!
//! The reference for each key is `config/example-aws.toml`.

mod secret;
/// `s3://bucket/prefix` → (bucket, prefix ending in `/` unless empty).
pub fn s3_url(url: &str) -> Option<(String, String)> {
    let rest = url.strip_prefix("s3://")?;
    let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
    let ok = !bucket.is_empty()
        && bucket
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '.');
    if !ok {
        return None;
    }
    let prefix = prefix.trim_matches('/');
    Some((
        bucket.to_string(),
        if prefix.is_empty() {
            String::new()
        } else {
            format!("{prefix}/")
        },
    ))
}

#[cfg(test)]
mod tests;
mod validate;

pub use secret::{Secret, SecretRef};

use crate::model::Flavor;
use serde::Deserialize;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Why a configuration file was rejected.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read config file {path}: {source}")]
    Read {
        /// the file
        path: PathBuf,
        /// the I/O error
        source: std::io::Error,
    },
    /// Not TOML, a wrong type, a missing or an unknown key (the message names it).
    #[error("config file {path}: {message}")]
    Parse {
        /// the file
        path: PathBuf,
        /// the TOML error, with line and key
        message: String,
    },
    /// Well-formed, but values that cannot work together.
    #[error("config file {path}:\n{}", problems.iter().map(|p| format!("  {p}")).collect::<Vec<_>>().join("\n"))]
    Invalid {
        /// the file
        path: PathBuf,
        /// one line per problem: `key: reason`
        problems: Vec<String>,
    },
}

/// The whole configuration of a manager (and of the CLI commands that read it).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// This manager's identity and HTTP listener.
    #[serde(default)]
    pub manager: ManagerConfig,
    /// Coordination among managers. Without it a manager acts alone.
    pub zookeeper: Option<ZookeeperConfig>,
    /// The HTTP API's action token. Without it the action endpoints refuse every request.
    pub api: Option<ApiConfig>,
    /// The EC2 API: route-table VIPs move routes through it, S3 backup stores use its region
    /// and credentials. Required when a cluster has one of those.
    pub ec2: Option<Ec2Config>,
    /// Probe and detection timing, for every cluster.
    #[serde(default)]
    pub timing: Timing,
    /// Failover step limits and anti-flapping.
    #[serde(default)]
    pub failover: FailoverConfig,
    /// Physical backups and replica bootstrap. Without it `myha backup` refuses.
    pub backup: Option<BackupConfig>,
    /// The clusters this manager watches (`[[cluster]]`).
    #[serde(rename = "cluster")]
    pub clusters: Vec<ClusterConfig>,
}

/// `[backup]`: physical backups (`myha backup`) taken on a replica's host, kept in a store,
/// catalogued in the coordinator.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BackupConfig {
    /// Where backups are kept: an absolute directory path (local or a mounted share), or
    /// `s3://bucket/prefix` (credentials and region from `[ec2]`).
    pub store: String,
    /// An S3-compatible endpoint for an `s3://` store (AWS's when unset).
    pub s3_endpoint: Option<String>,
    /// Take a backup when the newest is older than this: the leader asks the backup agent
    /// (`myha backup-agent`) on the chosen replica's host. Unset: only on demand.
    #[serde(default, with = "humantime_serde")]
    pub every: Option<Duration>,
    /// How many backups per cluster to keep; older ones are deleted after a new one succeeds.
    #[serde(default = "d_keep")]
    pub keep: usize,
    /// May the master be the source when no replica can be (it loads the master)?
    #[serde(default)]
    pub allow_master: bool,
    /// The servers' datadir, unless a node sets its own.
    #[serde(default = "d_datadir")]
    pub datadir: PathBuf,
    /// Where a backup is staged before it goes to the store (needs room for one backup and
    /// its archive).
    #[serde(default = "d_work_dir")]
    pub work_dir: PathBuf,
    /// The longest a backup (or a restore) may take before it is killed.
    #[serde(default = "d_backup_timeout", with = "humantime_serde")]
    pub timeout: Duration,
    /// The OS user the server runs as: a restored datadir is given to it.
    #[serde(default = "d_os_user")]
    pub os_user: String,
    /// How `myha bootstrap` starts the server on this host (`{node}` is replaced by the
    /// node's name).
    #[serde(default = "d_start_command")]
    pub start_command: Vec<String>,
    /// How `myha bootstrap --rebuild` stops it.
    #[serde(default = "d_stop_command")]
    pub stop_command: Vec<String>,
}

fn d_os_user() -> String {
    "mysql".into()
}
fn d_start_command() -> Vec<String> {
    ["systemctl", "start", "mariadb"].map(String::from).to_vec()
}
fn d_stop_command() -> Vec<String> {
    ["systemctl", "stop", "mariadb"].map(String::from).to_vec()
}

fn d_keep() -> usize {
    7
}
fn d_datadir() -> PathBuf {
    PathBuf::from("/var/lib/mysql")
}
fn d_work_dir() -> PathBuf {
    PathBuf::from("/var/tmp")
}
fn d_backup_timeout() -> Duration {
    Duration::from_secs(6 * 3600)
}

/// `[manager]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ManagerConfig {
    /// Name of this manager in leadership and audit records; `--id` overrides it. Hostnames
    /// are no default: they are the same in every lab namespace and often across AMIs.
    pub id: Option<String>,
    /// Where the HTTP API listens.
    #[serde(default = "default_http_listen")]
    pub http_listen: SocketAddr,
    /// Where a manager without ZooKeeper keeps cluster state and failover records.
    #[serde(default = "default_state_dir")]
    pub state_dir: PathBuf,
}

fn default_state_dir() -> PathBuf {
    PathBuf::from("/var/lib/myha")
}

fn default_http_listen() -> SocketAddr {
    SocketAddr::from(([0, 0, 0, 0], 7480))
}

impl Default for ManagerConfig {
    fn default() -> Self {
        ManagerConfig {
            id: None,
            http_listen: default_http_listen(),
            state_dir: default_state_dir(),
        }
    }
}

/// `[api]`: who may use the HTTP API. Each `[[api.token]]` is a named bearer token with a
/// role; the older `token_env` / `token_file` keys name one more, called "token", with the
/// admin role. Every secret is given by reference.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApiConfig {
    /// Environment variable holding the admin token named "token".
    pub token_env: Option<String>,
    /// File holding the admin token named "token".
    pub token_file: Option<String>,
    /// Reads (topology, history, metrics) without a token. Off by default: the topology
    /// names every server and who the master is.
    #[serde(default)]
    pub open_reads: bool,
    /// The API's certificate chain (PEM): the API speaks HTTPS.
    pub tls_cert_file: Option<String>,
    /// Its private key (PEM).
    pub tls_key_file: Option<String>,
    /// With it, every client must present a certificate this CA signed (mutual TLS).
    pub client_ca_file: Option<String>,
    /// Serve plain HTTP — tokens cross the network in clear. Only when set (and said at
    /// start-up): without TLS files and without it the configuration is refused.
    #[serde(default)]
    pub plain_http: bool,
    /// `[[api.token]]` entries.
    #[serde(default, rename = "token")]
    pub named: Vec<ApiTokenConfig>,
    /// The TLS configuration the files make, loaded once when the configuration is read.
    #[serde(skip)]
    pub tls: Option<std::sync::Arc<rustls::ServerConfig>>,
    /// Every token, resolved.
    #[serde(skip)]
    pub tokens: Vec<ApiToken>,
}

/// One `[[api.token]]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApiTokenConfig {
    /// Who uses it: the name every action it makes is audited under.
    pub name: String,
    /// What it may do.
    pub role: ApiRole,
    /// Environment variable holding the token.
    pub token_env: Option<String>,
    /// File holding the token.
    pub token_file: Option<String>,
}

/// What a token may do; each role may do what the ones before it may.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ApiRole {
    /// Topology, history, metrics.
    Read,
    /// Also pause, resume, ack.
    Operate,
    /// Also switchover, manual failover, aborting a record.
    Admin,
}

impl std::fmt::Display for ApiRole {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            ApiRole::Read => "read",
            ApiRole::Operate => "operate",
            ApiRole::Admin => "admin",
        })
    }
}

/// A resolved token.
#[derive(Debug, Clone)]
pub struct ApiToken {
    /// Its name.
    pub name: String,
    /// Its role.
    pub role: ApiRole,
    /// The bearer value.
    pub secret: Secret,
}

/// `[zookeeper]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ZookeeperConfig {
    /// `host:port,host:port,…`
    pub connect: String,
    /// Root of myha's nodes; each cluster lives under `<root>/<cluster>`.
    #[serde(default = "default_zk_root")]
    pub root: String,
    /// Session timeout asked of the ensemble.
    #[serde(default = "default_session_timeout", with = "humantime_serde")]
    pub session_timeout: Duration,
    /// Pause between attempts to make a new session after the last one expired or could
    /// not be made.
    #[serde(default = "default_reconnect_pause", with = "humantime_serde")]
    pub reconnect_pause: Duration,
    /// How long a manager that is not first in a cluster's preference leaves a vacant lead
    /// to the preferred one (default: a quarter of the session timeout).
    #[serde(default, with = "humantime_serde")]
    pub claim_grace: Option<Duration>,
}

impl ZookeeperConfig {
    /// `claim_grace`, or its default.
    pub fn claim_grace(&self) -> Duration {
        self.claim_grace.unwrap_or(self.session_timeout / 4)
    }
}

fn default_reconnect_pause() -> Duration {
    Duration::from_millis(500)
}

fn default_zk_root() -> String {
    "/myha".into()
}

fn default_session_timeout() -> Duration {
    Duration::from_secs(4)
}

/// `[ec2]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Ec2Config {
    /// AWS region of the VPC.
    pub region: String,
    /// EC2 API endpoint; the regional AWS endpoint when unset (set it for a local server).
    pub endpoint: Option<String>,
    /// Static access key id; without it the default AWS credential chain is used.
    pub access_key_id: Option<String>,
    /// Environment variable holding the secret access key (with `access_key_id`).
    pub secret_access_key_env: Option<String>,
    /// File holding the secret access key (with `access_key_id`).
    pub secret_access_key_file: Option<String>,
    /// Resolved secret access key.
    #[serde(skip)]
    pub secret_access_key_value: Option<Secret>,
    /// Timeout of one EC2 API call attempt.
    #[serde(default = "default_ec2_timeout", with = "humantime_serde")]
    pub call_timeout: Duration,
    /// Attempts per call (1 = no retry).
    #[serde(default = "default_ec2_attempts")]
    pub max_attempts: u32,
}

fn default_ec2_timeout() -> Duration {
    Duration::from_millis(1500)
}

fn default_ec2_attempts() -> u32 {
    3
}

/// `[timing]`: how often nodes are probed and when a master counts as dead.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Timing {
    /// Time between the starts of two probe rounds.
    #[serde(default = "d_probe_interval", with = "humantime_serde")]
    pub probe_interval: Duration,
    /// Hard limit on connecting to a node and on each query of a probe.
    #[serde(default = "d_probe_timeout", with = "humantime_serde")]
    pub probe_timeout: Duration,
    /// Consecutive failed probes before the master is suspected.
    #[serde(default = "d_failures")]
    pub failures_before_suspect: u32,
    /// How long a replica must have received nothing from the master (no event, no
    /// heartbeat) to count as having lost it. Must exceed the replicas' heartbeat period.
    #[serde(default = "d_agreement", with = "humantime_serde")]
    pub replica_agreement_window: Duration,
    /// A replica further behind than this is reported as lagging.
    #[serde(default = "d_max_lag", with = "humantime_serde")]
    pub max_replica_lag: Duration,
}

fn d_probe_interval() -> Duration {
    Duration::from_millis(250)
}
fn d_probe_timeout() -> Duration {
    Duration::from_millis(400)
}
fn d_failures() -> u32 {
    2
}
fn d_agreement() -> Duration {
    Duration::from_millis(1500)
}
fn d_max_lag() -> Duration {
    Duration::from_secs(10)
}

impl Default for Timing {
    fn default() -> Self {
        Timing {
            probe_interval: d_probe_interval(),
            probe_timeout: d_probe_timeout(),
            failures_before_suspect: d_failures(),
            replica_agreement_window: d_agreement(),
            max_replica_lag: d_max_lag(),
        }
    }
}

/// `[failover]`: limits of each step, and anti-flapping.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct FailoverConfig {
    /// After an automatic failover, no other automatic failover of the cluster for this long
    /// unless a DBA acknowledges (`myha ack`).
    #[serde(default = "d_block", with = "humantime_serde")]
    pub block_period: Duration,
    /// The block holds only once the promoted master served this long: seen writable, the
    /// VIP on it, this long after the failover. Until then the failover has not succeeded
    /// and blocks nothing (once: a second unserved failover in a row blocks at once).
    #[serde(default = "d_served", with = "humantime_serde")]
    pub served_before_block: Duration,
    /// Best-effort fencing of the old master (read-only, end sessions).
    #[serde(default = "d_fence", with = "humantime_serde")]
    pub fence_timeout: Duration,
    /// How long a candidate catching up (applying its relay log, or a donor's) may apply
    /// nothing before the failover gives up on it: a stalled applier, not a slow one.
    #[serde(default = "d_catch_up", with = "humantime_serde")]
    pub catch_up_timeout: Duration,
    /// The longest one failover waits for its candidate to catch up while it makes progress.
    /// Past it the attempt fails (its record says how much was left and how fast it went),
    /// the applier goes on, and the next attempt chooses again from a fresh view. Lossless
    /// allows no shortcut: what the candidate has not applied may have been acknowledged.
    #[serde(default = "d_max_catch_up", with = "humantime_serde")]
    pub max_catch_up: Duration,
    /// Parallel applier workers for a candidate with a backlog to apply (MariaDB
    /// `slave_parallel_threads`, MySQL `replica_parallel_workers`), set just before its
    /// receiver stops and kept on the new master until its restart; 0 leaves the server's
    /// setting. Commit order is kept either way.
    #[serde(default = "d_catch_up_threads")]
    pub catch_up_threads: u32,
    /// Promoting the candidate (`STOP SLAVE` alone can take seconds when the old master is
    /// unreachable).
    #[serde(default = "d_promote", with = "humantime_serde")]
    pub promote_timeout: Duration,
    /// Repointing one replica.
    #[serde(default = "d_repoint", with = "humantime_serde")]
    pub repoint_timeout: Duration,
    /// Rounds of route-table writes (each retries the tables not yet verified).
    #[serde(default = "d_vip_rounds")]
    pub vip_rounds: u32,
    /// Pause between those rounds.
    #[serde(default = "d_vip_pause", with = "humantime_serde")]
    pub vip_retry_pause: Duration,
    /// A planned switchover's target may be at most this far behind (`Seconds_Behind_Master`)
    /// when it is asked for.
    #[serde(default = "d_switchover_lag", with = "humantime_serde")]
    pub switchover_max_lag: Duration,
    /// How long a switchover may keep the old master read-only waiting for the target to
    /// apply everything: beyond it, the old master is made writable again and nothing moves.
    #[serde(default = "d_switchover_timeout", with = "humantime_serde")]
    pub switchover_timeout: Duration,
    /// A write transaction open on the old master for at least this long makes a switchover
    /// wait before its fence: fencing would end it, and every write would wait for its
    /// rollback (whole seconds).
    #[serde(default = "d_switchover_long_trx", with = "humantime_serde")]
    pub switchover_long_trx: Duration,
    /// How long a switchover waits, before its fence, for such transactions to end; past
    /// it the switchover is refused, naming them, and nothing changes.
    #[serde(default = "d_switchover_wait_trx", with = "humantime_serde")]
    pub switchover_wait_trx: Duration,
    /// The lossless policy: every master myha runs or promotes waits for a semi-sync replica
    /// before it acknowledges a commit (`semi_sync_timeout`, `AFTER_SYNC`, waiting even with no
    /// replica connected), and an automatic failover that would lose transactions the manager
    /// knows may have been acknowledged does not happen (a DBA can force it).
    #[serde(default = "d_lossless")]
    pub lossless: bool,
    /// The master's `rpl_semi_sync_master_timeout` under the lossless policy: how long a
    /// commit waits for a replica before the master gives up and acknowledges it alone. Set
    /// on every promotion and kept on the master; long, so a master cut off from its replicas
    /// stalls instead of acknowledging writes that a failover would lose.
    #[serde(default = "d_semi_sync_timeout", with = "humantime_serde")]
    pub semi_sync_timeout: Duration,
    /// How long an automatic failover that would lose acknowledged transactions waits for a
    /// node that has them (an unreachable replica coming back) before the refusal is
    /// recorded; it keeps waiting afterwards, and fails over as soon as it can without loss.
    #[serde(default = "d_lossless_wait", with = "humantime_serde")]
    pub lossless_wait: Duration,
    /// What a master promoted with no replica left to follow it does with commits (the other
    /// replicas down, or every repoint impossible): `async` (the default) acknowledges them
    /// alone — writes go on, and what it acknowledges is unprotected until a replica catches
    /// up (a failover that would lose it is refused); `wait` keeps semi-sync on, so every
    /// commit waits for a replica, for up to `semi_sync_timeout`.
    #[serde(default)]
    pub alone: Alone,
}

/// `failover.alone`: a promoted master with no replica, writes or waits.
#[derive(Debug, Clone, Copy, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Alone {
    /// Semi-sync off on the lone new master: writes within seconds, on one copy.
    #[default]
    Async,
    /// Semi-sync as the policy says: commits wait for a replica to come back.
    Wait,
}

impl FailoverConfig {
    /// The semi-sync master side of a node promoted `alone` (no replica left to follow it)
    /// or not.
    pub fn promoted_semi_sync(&self, alone: bool) -> crate::model::PromotedSemiSync {
        use crate::model::PromotedSemiSync as P;
        match (self.semi_sync_policy(), alone && self.alone == Alone::Async) {
            (_, true) => P::Off,
            (Some(p), false) => P::Lossless(p),
            (None, false) => P::ServerSettings,
        }
    }

    /// The semi-sync settings every master must have, under the lossless policy.
    pub fn semi_sync_policy(&self) -> Option<crate::model::SemiSyncPolicy> {
        self.lossless.then_some(crate::model::SemiSyncPolicy {
            timeout: self.semi_sync_timeout,
        })
    }
}

fn d_block() -> Duration {
    Duration::from_secs(30 * 60)
}
fn d_fence() -> Duration {
    Duration::from_millis(500)
}
fn d_catch_up() -> Duration {
    Duration::from_secs(30)
}
fn d_max_catch_up() -> Duration {
    Duration::from_secs(5 * 60)
}
fn d_catch_up_threads() -> u32 {
    8
}
fn d_served() -> Duration {
    Duration::from_secs(20)
}
fn d_promote() -> Duration {
    Duration::from_secs(10)
}
fn d_repoint() -> Duration {
    Duration::from_secs(10)
}
fn d_vip_rounds() -> u32 {
    3
}
fn d_vip_pause() -> Duration {
    Duration::from_millis(200)
}
fn d_switchover_lag() -> Duration {
    Duration::from_secs(2)
}
fn d_switchover_long_trx() -> Duration {
    Duration::from_secs(1)
}
fn d_switchover_wait_trx() -> Duration {
    Duration::from_secs(5)
}
fn d_switchover_timeout() -> Duration {
    Duration::from_secs(5)
}
fn d_lossless() -> bool {
    true
}
fn d_semi_sync_timeout() -> Duration {
    Duration::from_secs(3600)
}
fn d_lossless_wait() -> Duration {
    Duration::from_secs(10)
}

impl Default for FailoverConfig {
    fn default() -> Self {
        FailoverConfig {
            block_period: d_block(),
            served_before_block: d_served(),
            fence_timeout: d_fence(),
            catch_up_timeout: d_catch_up(),
            max_catch_up: d_max_catch_up(),
            catch_up_threads: d_catch_up_threads(),
            promote_timeout: d_promote(),
            repoint_timeout: d_repoint(),
            vip_rounds: d_vip_rounds(),
            vip_retry_pause: d_vip_pause(),
            switchover_max_lag: d_switchover_lag(),
            switchover_timeout: d_switchover_timeout(),
            switchover_long_trx: d_switchover_long_trx(),
            switchover_wait_trx: d_switchover_wait_trx(),
            lossless: d_lossless(),
            semi_sync_timeout: d_semi_sync_timeout(),
            lossless_wait: d_lossless_wait(),
            alone: Alone::default(),
        }
    }
}

/// `[[cluster]]`: one replication cluster behind one VIP.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClusterConfig {
    /// Cluster name: in ZooKeeper paths, API URLs and logs.
    pub name: String,
    /// `mariadb` or `mysql`.
    pub flavor: Flavor,
    /// The floating IP, by kind.
    pub vip: VipConfig,
    /// The account the manager uses (needs SUPER / all privileges).
    pub admin: Credentials,
    /// The account replicas use to connect to the master.
    pub replication: Credentials,
    /// The nodes (`[[cluster.node]]`).
    #[serde(rename = "node")]
    pub nodes: Vec<NodeConfig>,
}

/// `[cluster.vip]`: the floating IP clients connect to, by `kind`. Each kind is one
/// implementation of `crate::vip::Vip`; nothing else in myha knows how a kind works.
#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum VipConfig {
    /// `kind = "route-table"`: a `/32` route for the address in VPC route tables, pointing at
    /// the master's network interface (ENI), moved through the EC2 API (`[ec2]`).
    RouteTable(RouteTableVipConfig),
}

impl VipConfig {
    /// The kind, as configured.
    pub fn kind(&self) -> &'static str {
        match self {
            VipConfig::RouteTable(_) => "route-table",
        }
    }

    /// What clients connect to (for people).
    pub fn address(&self) -> String {
        match self {
            VipConfig::RouteTable(r) => r.address.to_string(),
        }
    }

    /// One line for people: kind, address, where it lives.
    pub fn describe(&self) -> String {
        match self {
            VipConfig::RouteTable(r) => format!(
                "{} (route-table: {})",
                r.address,
                r.route_tables
                    .iter()
                    .cloned()
                    .chain(r.route_table_tag.iter().map(|t| format!("tag {t}")))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        }
    }
}

/// `[cluster.vip] kind = "route-table"`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RouteTableVipConfig {
    /// The floating IP (a /32 outside the VPC CIDR).
    pub address: Ipv4Addr,
    /// Route tables by id…
    #[serde(default)]
    pub route_tables: Vec<String>,
    /// …and/or every route table carrying this tag, as `key=value`.
    pub route_table_tag: Option<String>,
}

/// A user and a reference to its password.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Credentials {
    /// MySQL user name.
    pub user: String,
    /// Environment variable holding the password.
    pub password_env: Option<String>,
    /// File holding the password.
    pub password_file: Option<String>,
    /// The resolved password.
    #[serde(skip)]
    pub password: Secret,
}

/// `[[cluster.node]]`.
#[derive(Debug, Clone, Deserialize, serde::Serialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct NodeConfig {
    /// Node name (unique in the cluster).
    pub name: String,
    /// Host name or IP the manager and the replicas use to reach it.
    pub address: String,
    /// MySQL port.
    #[serde(default = "default_port")]
    pub port: u16,
    /// The ENI the VIP route points at when this node is master; looked up by the node's
    /// private IP (`address`) through the EC2 API when unset.
    pub eni: Option<String>,
    /// Availability zone.
    pub az: String,
    /// Higher wins among equally up-to-date candidates.
    #[serde(default)]
    pub priority: i32,
    /// Never promote this node (a backup or reporting replica).
    #[serde(default)]
    pub no_promote: bool,
    /// Its datadir, when not `[backup] datadir`.
    pub datadir: Option<PathBuf>,
}

fn default_port() -> u16 {
    3306
}

impl NodeConfig {
    /// A node as `[[cluster.node]]` with only `name`, `address` and `az` gives it: every
    /// other field its default.
    pub fn new(name: &str, address: &str, az: &str) -> Self {
        NodeConfig {
            name: name.to_string(),
            address: address.to_string(),
            port: default_port(),
            eni: None,
            az: az.to_string(),
            priority: 0,
            no_promote: false,
            datadir: None,
        }
    }
}

impl Config {
    /// The cluster named `name`.
    pub fn cluster(&self, name: &str) -> Option<&ClusterConfig> {
        self.clusters.iter().find(|c| c.name == name)
    }
}

impl ClusterConfig {
    /// The node named `name`.
    pub fn node(&self, name: &str) -> Option<&NodeConfig> {
        self.nodes.iter().find(|n| n.name == name)
    }
}

/// Read, parse and validate a configuration file; resolves every secret.
pub fn load(path: &Path) -> Result<Config, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    parse(&text, path)
}

/// Parse and validate configuration text (`path` is only used in messages).
pub fn parse(text: &str, path: &Path) -> Result<Config, ConfigError> {
    let mut cfg: Config = toml::from_str(text).map_err(|e| ConfigError::Parse {
        path: path.to_path_buf(),
        message: e.to_string(),
    })?;
    let problems = validate::validate(&mut cfg);
    if problems.is_empty() {
        Ok(cfg)
    } else {
        Err(ConfigError::Invalid {
            path: path.to_path_buf(),
            problems,
        })
    }
}

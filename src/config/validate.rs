//! Semantic checks of a parsed configuration. Each problem is one line, `key: reason`, with
//! the key spelled as a path (`cluster.lab.node.db2.port`).

use super::{
    ApiConfig, ApiRole, ApiToken, Config, Credentials, Ec2Config, RouteTableVipConfig, SecretRef, Timing, VipConfig,
};
use std::collections::HashSet;
use std::time::Duration;

fn valid_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        && s.chars().next().is_some_and(|c| c.is_ascii_alphanumeric())
}

fn resolve_credentials(key: &str, c: &mut Credentials, problems: &mut Vec<String>) {
    if c.user.is_empty() {
        problems.push(format!("{key}.user: must not be empty"));
    }
    let r = SecretRef {
        env: c.password_env.as_deref(),
        file: c.password_file.as_deref(),
        keys: ("password_env", "password_file"),
    };
    match r.resolve() {
        Ok(s) => c.password = s,
        Err(e) => problems.push(format!("{key}: {e}")),
    }
}

/// The `[api]` tokens: the unnamed admin one ("token") and each `[[api.token]]`. Names and
/// values must be unique — a value shared by two names could not tell who acted.
fn resolve_tokens(api: &ApiConfig, problems: &mut Vec<String>) -> Vec<ApiToken> {
    let keys = ("token_env", "token_file");
    let mut wanted = Vec::new();
    if api.token_env.is_none() && api.token_file.is_none() && api.named.is_empty() {
        problems.push("api: no token: set token_env or token_file, or add [[api.token]] entries".into());
    }
    if api.token_env.is_some() || api.token_file.is_some() {
        let r = SecretRef {
            env: api.token_env.as_deref(),
            file: api.token_file.as_deref(),
            keys,
        };
        wanted.push(("api".to_string(), "token".to_string(), ApiRole::Admin, r.resolve()));
    }
    for (i, t) in api.named.iter().enumerate() {
        let key = format!("api.token[{i}]");
        if !valid_name(&t.name) {
            problems.push(format!(
                "{key}.name: {:?} must be 1-64 letters, digits, '-' or '_'",
                t.name
            ));
        }
        let r = SecretRef {
            env: t.token_env.as_deref(),
            file: t.token_file.as_deref(),
            keys,
        };
        wanted.push((key, t.name.clone(), t.role, r.resolve()));
    }
    let mut out: Vec<ApiToken> = Vec::new();
    for (key, name, role, secret) in wanted {
        match secret {
            Err(e) => problems.push(format!("{key}: {e}")),
            Ok(s) if s.expose().len() < 16 => problems.push(format!("{key}: the token must be at least 16 characters")),
            Ok(s) => {
                if out.iter().any(|o| o.name == name) {
                    problems.push(format!("{key}.name: {name:?} is used by another token"));
                } else if let Some(o) = out.iter().find(|o| o.secret.expose() == s.expose()) {
                    problems.push(format!(
                        "{key}: the same token as {:?}: each name needs its own",
                        o.name
                    ));
                } else {
                    out.push(ApiToken { name, role, secret: s });
                }
            }
        }
    }
    out
}

/// HTTPS with both files (loaded here, so a bad file is named before start-up), or plain
/// HTTP only when asked for.
fn resolve_tls(api: &ApiConfig, problems: &mut Vec<String>) -> Option<std::sync::Arc<rustls::ServerConfig>> {
    match (&api.tls_cert_file, &api.tls_key_file) {
        (Some(c), Some(k)) => {
            if api.plain_http {
                problems.push("api.plain_http: set, but so is tls_cert_file: choose one".into());
            }
            match crate::tls::server_config(c, k, api.client_ca_file.as_deref()) {
                Ok(cfg) => return Some(std::sync::Arc::new(cfg)),
                Err(e) => problems.push(e.to_string()),
            }
        }
        (Some(_), None) => problems.push("api.tls_key_file: missing (tls_cert_file is set)".into()),
        (None, Some(_)) => problems.push("api.tls_cert_file: missing (tls_key_file is set)".into()),
        (None, None) if api.client_ca_file.is_some() => {
            problems.push("api.client_ca_file: needs tls_cert_file and tls_key_file".into())
        }
        (None, None) if !api.plain_http => problems.push(
            "api: set tls_cert_file and tls_key_file (HTTPS), or plain_http = true to send tokens in clear".into(),
        ),
        (None, None) => {}
    }
    None
}

fn check_timing(t: &Timing, problems: &mut Vec<String>) {
    let ms = |d: Duration| d.as_millis();
    if t.probe_interval < Duration::from_millis(50) || t.probe_interval > Duration::from_secs(10) {
        problems.push(format!(
            "timing.probe_interval: {} ms is outside 50 ms ..= 10 s",
            ms(t.probe_interval)
        ));
    }
    if t.probe_timeout < Duration::from_millis(20) {
        problems.push(format!(
            "timing.probe_timeout: {} ms is below 20 ms",
            ms(t.probe_timeout)
        ));
    }
    if t.probe_timeout > t.probe_interval * 4 {
        problems.push(format!(
            "timing.probe_timeout: {} ms is more than 4 × probe_interval ({} ms): a hung node would stretch every round",
            ms(t.probe_timeout),
            ms(t.probe_interval)
        ));
    }
    if t.failures_before_suspect == 0 || t.failures_before_suspect > 100 {
        problems.push("timing.failures_before_suspect: must be 1 ..= 100".into());
    }
    if t.replica_agreement_window < t.probe_interval {
        problems.push(format!(
            "timing.replica_agreement_window: {} ms is shorter than probe_interval ({} ms): replicas could not be observed within it",
            ms(t.replica_agreement_window),
            ms(t.probe_interval)
        ));
    }
}

/// Check everything, resolve secrets, and return every problem found (empty = valid).
pub fn validate(cfg: &mut Config) -> Vec<String> {
    let mut problems = Vec::new();

    if let Some(id) = &cfg.manager.id {
        if !valid_name(id) {
            problems.push(format!("manager.id: {id:?} must be 1-64 letters, digits, '-' or '_'"));
        }
    }
    if let Some(api) = &mut cfg.api {
        api.tokens = resolve_tokens(api, &mut problems);
        api.tls = resolve_tls(api, &mut problems);
    }
    if let Some(zk) = &cfg.zookeeper {
        if zk.connect.split(',').any(|hp| {
            let hp = hp.trim();
            hp.rsplit_once(':')
                .is_none_or(|(h, p)| h.is_empty() || p.parse::<u16>().is_err())
        }) {
            problems.push(format!(
                "zookeeper.connect: {:?} must be host:port[,host:port…]",
                zk.connect
            ));
        }
        if !zk.root.starts_with('/') || zk.root.ends_with('/') || zk.root.contains("//") {
            problems.push(format!(
                "zookeeper.root: {:?} must be an absolute path without a trailing '/'",
                zk.root
            ));
        }
        if zk.session_timeout < Duration::from_secs(1) || zk.session_timeout > Duration::from_secs(60) {
            problems.push(format!(
                "zookeeper.session_timeout: {} ms is outside 1 s ..= 60 s",
                zk.session_timeout.as_millis()
            ));
        }
        if zk.reconnect_pause < Duration::from_millis(50) || zk.reconnect_pause > Duration::from_secs(30) {
            problems.push(format!(
                "zookeeper.reconnect_pause: {} ms is outside 50 ms ..= 30 s",
                zk.reconnect_pause.as_millis()
            ));
        }
        if zk.claim_grace() > zk.session_timeout {
            problems.push(format!(
                "zookeeper.claim_grace: {} ms is longer than the session timeout ({} ms): a dead preferred manager would leave the cluster without a leader that long",
                zk.claim_grace().as_millis(),
                zk.session_timeout.as_millis()
            ));
        }
    }

    if let Some(ec2) = &mut cfg.ec2 {
        check_ec2(ec2, &mut problems);
    }

    check_timing(&cfg.timing, &mut problems);
    let f = &cfg.failover;
    for (key, d, lo, hi) in [
        (
            "failover.fence_timeout",
            f.fence_timeout,
            Duration::from_millis(50),
            Duration::from_secs(30),
        ),
        (
            "failover.catch_up_timeout",
            f.catch_up_timeout,
            Duration::from_millis(100),
            Duration::from_secs(3600),
        ),
        (
            "failover.max_catch_up",
            f.max_catch_up,
            Duration::from_secs(1),
            Duration::from_secs(24 * 3600),
        ),
        (
            "failover.promote_timeout",
            f.promote_timeout,
            Duration::from_millis(100),
            Duration::from_secs(300),
        ),
        (
            "failover.repoint_timeout",
            f.repoint_timeout,
            Duration::from_millis(100),
            Duration::from_secs(300),
        ),
        (
            "failover.vip_retry_pause",
            f.vip_retry_pause,
            Duration::ZERO,
            Duration::from_secs(30),
        ),
        (
            "failover.switchover_max_lag",
            f.switchover_max_lag,
            Duration::ZERO,
            Duration::from_secs(3600),
        ),
        (
            "failover.switchover_timeout",
            f.switchover_timeout,
            Duration::from_millis(100),
            Duration::from_secs(300),
        ),
        (
            "failover.switchover_long_trx",
            f.switchover_long_trx,
            Duration::from_secs(1),
            Duration::from_secs(3600),
        ),
        (
            "failover.switchover_wait_trx",
            f.switchover_wait_trx,
            Duration::ZERO,
            Duration::from_secs(3600),
        ),
        (
            "failover.block_period",
            f.block_period,
            Duration::ZERO,
            Duration::from_secs(7 * 24 * 3600),
        ),
        (
            "failover.served_before_block",
            f.served_before_block,
            Duration::ZERO,
            Duration::from_secs(24 * 3600),
        ),
        // MySQL's rpl_semi_sync_source_timeout is at most 2^32 - 1 ms
        (
            "failover.semi_sync_timeout",
            f.semi_sync_timeout,
            Duration::from_secs(1),
            Duration::from_millis(u64::from(u32::MAX)),
        ),
        (
            "failover.lossless_wait",
            f.lossless_wait,
            Duration::ZERO,
            Duration::from_secs(3600),
        ),
    ] {
        if d < lo || d > hi {
            problems.push(format!(
                "{key}: {} ms is outside {} ms ..= {} ms",
                d.as_millis(),
                lo.as_millis(),
                hi.as_millis()
            ));
        }
    }
    if f.vip_rounds == 0 || f.vip_rounds > 20 {
        problems.push("failover.vip_rounds: must be 1 ..= 20".into());
    }
    // MySQL's replica_parallel_workers is at most 1024 (MariaDB allows 16383)
    if f.catch_up_threads > 1024 {
        problems.push(format!(
            "failover.catch_up_threads: {} is outside 0 ..= 1024",
            f.catch_up_threads
        ));
    }
    if f.max_catch_up < f.catch_up_timeout {
        problems.push(format!(
            "failover.max_catch_up: {} ms is shorter than failover.catch_up_timeout ({} ms), how long a catch-up may make no progress",
            f.max_catch_up.as_millis(),
            f.catch_up_timeout.as_millis()
        ));
    }

    if let Some(b) = &cfg.backup {
        check_backup(b, &mut problems);
        if b.store.starts_with("s3://") && cfg.ec2.is_none() {
            problems.push("ec2: missing: backup.store is in S3, whose region and credentials come from [ec2]".into());
        }
    }

    if cfg.clusters.is_empty() {
        problems.push("cluster: at least one [[cluster]] is required".into());
    }
    let mut cluster_names = HashSet::new();
    for c in &mut cfg.clusters {
        let ck = format!("cluster.{}", c.name);
        if !valid_name(&c.name) {
            problems.push(format!(
                "cluster.name: {:?} must be 1-64 letters, digits, '-' or '_'",
                c.name
            ));
        }
        if !cluster_names.insert(c.name.clone()) {
            problems.push(format!("{ck}: cluster name used twice"));
        }
        match &c.vip {
            VipConfig::RouteTable(rt) => {
                check_route_table_vip(&ck, rt, &mut problems);
                if cfg.ec2.is_none() {
                    problems.push(format!(
                        "ec2: missing: {ck}.vip (kind route-table) moves its route through the EC2 API"
                    ));
                }
            }
        }
        resolve_credentials(&format!("{ck}.admin"), &mut c.admin, &mut problems);
        resolve_credentials(&format!("{ck}.replication"), &mut c.replication, &mut problems);

        if c.nodes.is_empty() {
            problems.push(format!("{ck}.node: at least one [[cluster.node]] is required"));
        }
        let mut names = HashSet::new();
        let mut endpoints = HashSet::new();
        for n in &c.nodes {
            let nk = format!("{ck}.node.{}", n.name);
            if !valid_name(&n.name) {
                problems.push(format!(
                    "{ck}.node.name: {:?} must be 1-64 letters, digits, '-' or '_'",
                    n.name
                ));
            }
            if !names.insert(n.name.as_str()) {
                problems.push(format!("{nk}: node name used twice"));
            }
            if n.address.is_empty() || n.address.contains(char::is_whitespace) {
                problems.push(format!("{nk}.address: {:?} is not a host name or IP", n.address));
            }
            if n.port == 0 {
                problems.push(format!("{nk}.port: must be 1 ..= 65535"));
            }
            if !endpoints.insert((n.address.as_str(), n.port)) {
                problems.push(format!("{nk}: {}:{} is used by another node", n.address, n.port));
            }
            if let Some(eni) = &n.eni {
                if !eni.starts_with("eni-") {
                    problems.push(format!("{nk}.eni: {eni:?} is not a network interface id (eni-…)"));
                }
            }
            if n.az.is_empty() {
                problems.push(format!("{nk}.az: must not be empty"));
            }
            if n.datadir.as_ref().is_some_and(|d| !d.is_absolute()) {
                problems.push(format!("{nk}.datadir: must be an absolute path"));
            }
        }
        if !c.nodes.is_empty() && c.nodes.iter().all(|n| n.no_promote) {
            problems.push(format!(
                "{ck}.node: every node is no_promote: nothing could ever be promoted"
            ));
        }
    }
    problems
}

fn check_backup(b: &super::BackupConfig, problems: &mut Vec<String>) {
    if b.store.starts_with("s3://") {
        if super::s3_url(&b.store).is_none() {
            problems.push(format!(
                "backup.store: {:?} is not s3://bucket/prefix (bucket: lowercase letters, digits, '-', '.')",
                b.store
            ));
        }
    } else if !std::path::Path::new(&b.store).is_absolute() {
        problems.push(format!(
            "backup.store: {:?} must be an absolute directory path",
            b.store
        ));
    }
    for (key, cmd) in [
        ("backup.start_command", &b.start_command),
        ("backup.stop_command", &b.stop_command),
    ] {
        if cmd.first().is_none_or(|p| p.trim().is_empty()) {
            problems.push(format!(
                "{key}: must name a program (a list: [\"systemctl\", \"start\", \"mariadb\"])"
            ));
        }
    }
    if b.every.is_some_and(|e| e < std::time::Duration::from_secs(10)) {
        problems.push("backup.every: at least 10 s".into());
    }
    if b.os_user.is_empty() {
        problems.push("backup.os_user: must not be empty".into());
    }
    if b.keep == 0 || b.keep > 1000 {
        problems.push("backup.keep: must be 1 ..= 1000".into());
    }
    for (key, p) in [("backup.datadir", &b.datadir), ("backup.work_dir", &b.work_dir)] {
        if !p.is_absolute() {
            problems.push(format!("{key}: {} must be an absolute path", p.display()));
        }
    }
    if b.timeout < std::time::Duration::from_secs(10) || b.timeout > std::time::Duration::from_secs(7 * 24 * 3600) {
        problems.push(format!(
            "backup.timeout: {} s is outside 10 s ..= 7 days",
            b.timeout.as_secs()
        ));
    }
}

fn check_route_table_vip(ck: &str, rt: &RouteTableVipConfig, problems: &mut Vec<String>) {
    if rt.route_tables.is_empty() && rt.route_table_tag.is_none() {
        problems.push(format!("{ck}.vip: set route_tables and/or route_table_tag"));
    }
    for t in &rt.route_tables {
        if !t.starts_with("rtb-") {
            problems.push(format!("{ck}.vip.route_tables: {t:?} is not a route table id (rtb-…)"));
        }
    }
    if let Some(tag) = &rt.route_table_tag {
        if tag.split_once('=').is_none_or(|(k, _)| k.is_empty()) {
            problems.push(format!("{ck}.vip.route_table_tag: {tag:?} must be key=value"));
        }
    }
    let vip = rt.address;
    if vip.is_unspecified() || vip.is_loopback() || vip.is_broadcast() || vip.is_multicast() {
        problems.push(format!("{ck}.vip.address: {vip} cannot be a floating IP"));
    }
}

fn check_ec2(ec2: &mut Ec2Config, problems: &mut Vec<String>) {
    if ec2.region.is_empty() {
        problems.push("ec2.region: must not be empty".into());
    }
    if let Some(ep) = &ec2.endpoint {
        if !(ep.starts_with("http://") || ep.starts_with("https://")) {
            problems.push(format!("ec2.endpoint: {ep:?} must start with http:// or https://"));
        }
    }
    match (
        &ec2.access_key_id,
        &ec2.secret_access_key_env,
        &ec2.secret_access_key_file,
    ) {
        (None, None, None) => {}
        (None, _, _) => problems.push("ec2.access_key_id: required with secret_access_key_env / _file".into()),
        (Some(_), env, file) => {
            let r = SecretRef {
                env: env.as_deref(),
                file: file.as_deref(),
                keys: ("secret_access_key_env", "secret_access_key_file"),
            };
            match r.resolve() {
                Ok(s) => ec2.secret_access_key_value = Some(s),
                Err(e) => problems.push(format!("ec2: {e}")),
            }
        }
    }
    if ec2.call_timeout < Duration::from_millis(50) || ec2.call_timeout > Duration::from_secs(30) {
        problems.push(format!(
            "ec2.call_timeout: {} ms is outside 50 ms ..= 30 s",
            ec2.call_timeout.as_millis()
        ));
    }
    if ec2.max_attempts == 0 || ec2.max_attempts > 10 {
        problems.push("ec2.max_attempts: must be 1 ..= 10".into());
    }
}

//! Which node a backup is taken from: the node on whose host `myha backup` runs (mariabackup
//! and xtrabackup read the datadir locally), and only if it is a healthy replica — a backup
//! loads its source, and a lagging or broken replica makes a backup nobody should restore.
//! The master only when `[backup] allow_master` says so.

use crate::config::{ClusterConfig, NodeConfig};
use crate::topology::{IoThread, Snapshot};
use std::net::IpAddr;
use std::time::Duration;

/// What the source is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SourceRole {
    /// A healthy replica of the writable master.
    Replica,
    /// The writable master itself (allowed by configuration).
    Master,
}

/// The node configured at one of `local` addresses (this host's), if any.
pub fn local_node<'a>(cluster: &'a ClusterConfig, local: &[IpAddr]) -> Option<&'a NodeConfig> {
    cluster
        .nodes
        .iter()
        .find(|n| n.address.parse::<IpAddr>().is_ok_and(|a| local.contains(&a)))
}

/// May `node` be the source of a backup now?
pub fn check(
    cluster: &ClusterConfig,
    snapshot: &Snapshot,
    node: &NodeConfig,
    allow_master: bool,
    max_lag: Duration,
) -> Result<SourceRole, String> {
    let st = match snapshot.node(&node.name).map(|o| &o.state) {
        None => return Err(format!("{} is not in the probe round", node.name)),
        Some(Err(e)) => return Err(format!("{} cannot be probed: {e}", node.name)),
        Some(Ok(st)) => st,
    };
    if !st.read_only {
        return if allow_master {
            Ok(SourceRole::Master)
        } else {
            Err(format!(
                "{} is writable (the master): backups are taken from replicas ([backup] allow_master = true to allow it)",
                node.name
            ))
        };
    }
    let Some(r) = &st.replica else {
        return Err(format!("{} is not a replica", node.name));
    };
    let master = snapshot
        .nodes
        .iter()
        .find(|o| o.ok().is_some_and(|s| !s.read_only))
        .and_then(|o| cluster.node(&o.name));
    match master {
        Some(m) if m.address == r.master_host && m.port == r.master_port => {}
        Some(m) => {
            return Err(format!(
                "{} replicates from {}:{}, not from the master {}",
                node.name, r.master_host, r.master_port, m.name
            ))
        }
        None => return Err("no writable master: a replica's backup would not be current".into()),
    }
    if r.io != IoThread::Yes || !r.sql_running {
        return Err(format!(
            "{}'s replication is not running (IO {:?}, SQL {})",
            node.name, r.io, r.sql_running
        ));
    }
    match r.seconds_behind {
        Some(l) if Duration::from_secs(l) <= max_lag => Ok(SourceRole::Replica),
        Some(l) => Err(format!("{} is {l} s behind (limit {} s)", node.name, max_lag.as_secs())),
        None => Err(format!("{}'s lag is unknown", node.name)),
    }
}

/// The node a scheduled backup is taken on: a healthy replica, preferring one that is never
/// promoted, then the lowest priority (the node a failover needs least); the master only if
/// allowed and no replica can.
pub fn choose<'a>(
    cluster: &'a ClusterConfig,
    snapshot: &Snapshot,
    allow_master: bool,
    max_lag: Duration,
) -> Option<&'a NodeConfig> {
    let mut nodes: Vec<&NodeConfig> = cluster.nodes.iter().collect();
    nodes.sort_by_key(|n| (!n.no_promote, n.priority));
    let replica = nodes
        .iter()
        .find(|n| check(cluster, snapshot, n, false, max_lag) == Ok(SourceRole::Replica));
    match replica {
        Some(n) => Some(n),
        None if allow_master => nodes
            .into_iter()
            .find(|n| check(cluster, snapshot, n, true, max_lag) == Ok(SourceRole::Master)),
        None => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testkit::*;

    fn three() -> (ClusterConfig, Snapshot) {
        let mut c = cluster(&["db1", "db2", "db3"]);
        for (n, ip) in c.nodes.iter_mut().zip(["10.0.0.1", "10.0.0.2", "10.0.0.3"]) {
            n.address = ip.into();
        }
        let s = snapshot(vec![
            master("db1"),
            replica("db2", replica_of("10.0.0.1")),
            replica("db3", replica_of("10.0.0.1")).with(|s| s.replica.as_mut().unwrap().seconds_behind = Some(99)),
        ]);
        (c, s)
    }

    #[test]
    fn the_local_node_is_found_by_address() {
        let (c, _) = three();
        let local: Vec<IpAddr> = vec!["127.0.0.1".parse().unwrap(), "10.0.0.2".parse().unwrap()];
        assert_eq!(local_node(&c, &local).map(|n| n.name.as_str()), Some("db2"));
        assert!(local_node(&c, &["10.9.9.9".parse().unwrap()]).is_none());
    }

    #[test]
    fn only_a_healthy_replica_unless_the_master_is_allowed() {
        let (c, s) = three();
        let lag = Duration::from_secs(10);
        assert_eq!(check(&c, &s, &c.nodes[1], false, lag), Ok(SourceRole::Replica));
        let e = check(&c, &s, &c.nodes[0], false, lag).unwrap_err();
        assert!(e.contains("allow_master"), "{e}");
        assert_eq!(check(&c, &s, &c.nodes[0], true, lag), Ok(SourceRole::Master));
        let e = check(&c, &s, &c.nodes[2], false, lag).unwrap_err();
        assert!(e.contains("99 s behind"), "{e}");
    }

    #[test]
    fn a_scheduled_backup_goes_to_the_replica_failover_needs_least() {
        let (mut c, s) = three();
        let lag = Duration::from_secs(10);
        // db3 lags: db2 is the only healthy replica
        assert_eq!(choose(&c, &s, false, lag).map(|n| n.name.as_str()), Some("db2"));
        let lag = Duration::from_secs(100);
        c.nodes[1].priority = 100;
        assert_eq!(choose(&c, &s, false, lag).map(|n| n.name.as_str()), Some("db3"));
        c.nodes[1].no_promote = true;
        assert_eq!(choose(&c, &s, false, lag).map(|n| n.name.as_str()), Some("db2"));
        let s = snapshot(vec![master("db1"), down("db2"), down("db3")]);
        assert_eq!(choose(&c, &s, false, lag), None);
        assert_eq!(choose(&c, &s, true, lag).map(|n| n.name.as_str()), Some("db1"));
    }
}

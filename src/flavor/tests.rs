//! Flavor parsing on recorded server output: MariaDB 10.11 from the lab's real servers,
//! MySQL 8.0 / 8.4 built from the reference manual.

use super::*;
use crate::gtid::Gtids;
use crate::topology::IoThread;

/// Parse a fixture: `-- <statement>` headers followed by the mysql client's `\G` output.
fn fixture(text: &str) -> ProbeRows {
    let mut rows = ProbeRows::default();
    let mut current: Option<&mut Vec<Row>> = None;
    let mut last_key: Option<String> = None;
    for line in text.lines() {
        if let Some(stmt) = line.strip_prefix("-- ") {
            last_key = None;
            current = if stmt.starts_with("SELECT @@server_id") {
                Some(&mut rows.globals)
            } else if stmt.starts_with("SHOW ALL SLAVES STATUS") || stmt.starts_with("SHOW REPLICA STATUS") {
                Some(&mut rows.replica)
            } else if stmt.starts_with("SHOW GLOBAL VARIABLES") {
                Some(&mut rows.semi_sync_variables)
            } else if stmt.starts_with("SHOW GLOBAL STATUS") {
                Some(&mut rows.semi_sync_status)
            } else if stmt.starts_with("SELECT s.CHANNEL_NAME") {
                Some(&mut rows.heartbeat)
            } else {
                None // a comment
            };
            continue;
        }
        let Some(target) = current.as_deref_mut() else {
            continue;
        };
        if line.starts_with("***") {
            target.push(Row::new());
            last_key = None;
            continue;
        }
        let field = line.trim_start().split_once(':').filter(|(k, rest)| {
            k.chars().next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
                && k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
                && (rest.is_empty() || rest.starts_with(' '))
        });
        let row = target.last_mut().expect("field before the first row marker");
        match field {
            Some((k, v)) => {
                let v = v.trim();
                row.insert(k.to_string(), (v != "NULL").then(|| v.to_string()));
                last_key = Some(k.to_string());
            }
            None => {
                // continuation of a multi-line value (GTID sets print ",\n" between groups)
                let k = last_key.clone().expect("continuation without a field");
                if let Some(Some(v)) = row.get_mut(&k) {
                    v.push('\n');
                    v.push_str(line.trim());
                }
            }
        }
    }
    rows
}

#[test]
fn mariadb_replica_from_the_lab() {
    let s = Flavor::MariaDb
        .parse(&fixture(include_str!("fixtures/mariadb1011_replica.txt")))
        .unwrap();
    assert_eq!(s.server_id, 2);
    assert!(s.read_only);
    assert!(s.version.starts_with("10.11"));
    assert_eq!(s.executed.to_string(), "0-1-13");
    let r = s.replica.as_ref().expect("a replica");
    assert_eq!(
        (r.master_host.as_str(), r.master_port, r.master_server_id),
        ("10.88.1.11", 3306, 1)
    );
    assert_eq!(r.io, IoThread::Yes);
    assert!(r.sql_running);
    assert_eq!(r.seconds_behind, Some(0));
    assert_eq!(r.received.to_string(), "0-1-13");
    assert_eq!((r.heartbeats, r.heartbeat_period_ms), (945, 1000));
    assert_eq!(r.read_position, "mysql-bin.000001:2774");
    assert!(r.last_io_error.is_none() && r.last_sql_error.is_none());
    assert!(s.semi_sync.replica_enabled && !s.semi_sync.master_enabled);
}

#[test]
fn mariadb_master_from_the_lab() {
    let s = Flavor::MariaDb
        .parse(&fixture(include_str!("fixtures/mariadb1011_master.txt")))
        .unwrap();
    assert_eq!(s.server_id, 1);
    assert!(!s.read_only);
    assert!(s.replica.is_none());
    assert!(s.semi_sync.master_enabled && s.semi_sync.master_active);
    assert_eq!(s.semi_sync.master_clients, 2);
}

#[test]
fn mysql80_replica() {
    let s = Flavor::MySql
        .parse(&fixture(include_str!("fixtures/mysql80_replica.txt")))
        .unwrap();
    assert_eq!(s.server_id, 2);
    assert!(s.read_only);
    let Gtids::MySql(executed) = &s.executed else {
        panic!("MySQL GTIDs expected")
    };
    assert_eq!(executed.count(), 930);
    let r = s.replica.as_ref().expect("a replica");
    assert_eq!(r.master_host, "10.0.1.11");
    assert_eq!(r.io, IoThread::Yes);
    assert_eq!(r.seconds_behind, Some(2));
    assert_eq!((r.heartbeats, r.heartbeat_period_ms), (5127, 1000));
    // received = Retrieved_Gtid_Set ∪ executed: 1-930 of the master, 1-3 of an old one
    assert_eq!(
        s.received().to_string(),
        "2174b383-5441-11e8-b90a-c80aa9429562:1-3,73f86016-978b-11ee-ade5-8d2a2a562feb:1-930"
    );
    assert!(s.received().is_ahead_of(&s.executed));
    assert!(s.semi_sync.replica_enabled && s.semi_sync.replica_active);
}

#[test]
fn mysql84_master_with_tagged_gtids_and_source_names() {
    let s = Flavor::MySql
        .parse(&fixture(include_str!("fixtures/mysql84_master.txt")))
        .unwrap();
    assert!(!s.read_only);
    assert!(s.replica.is_none());
    assert_eq!(
        s.executed.to_string(),
        "73f86016-978b-11ee-ade5-8d2a2a562feb:1-1040:maint:1-2"
    );
    assert!(s.semi_sync.master_enabled && s.semi_sync.master_active);
    assert_eq!(s.semi_sync.master_clients, 2);
    assert!(!s.semi_sync.replica_enabled);
}

#[test]
fn mysql84_broken_replica_with_an_errant_transaction() {
    let s = Flavor::MySql
        .parse(&fixture(include_str!("fixtures/mysql84_replica_broken.txt")))
        .unwrap();
    // read_only=1 alone: reported read-only (super_read_only=0 would still let SUPER write)
    assert!(s.read_only);
    let r = s.replica.as_ref().unwrap();
    assert_eq!(r.io, IoThread::Connecting);
    assert!(!r.sql_running);
    assert_eq!(r.seconds_behind, None);
    assert!(r
        .last_io_error
        .as_deref()
        .unwrap()
        .contains("Error reconnecting to source"));
    assert!(r.last_sql_error.as_deref().unwrap().contains("1013"));
    let master = Flavor::MySql
        .parse(&fixture(include_str!("fixtures/mysql84_master.txt")))
        .unwrap();
    let errant = s.binlog_state.errant_vs(&master.binlog_state).unwrap();
    assert_eq!(errant.to_string(), "b9ff8b1a-04ab-11ef-9d55-0242ac110002:1");
}

#[test]
fn missing_column_names_the_statement_and_column() {
    let mut rows = fixture(include_str!("fixtures/mariadb1011_replica.txt"));
    rows.replica[0].remove("Gtid_IO_Pos");
    let e = Flavor::MariaDb.parse(&rows).unwrap_err();
    assert_eq!(e.to_string(), "SHOW ALL SLAVES STATUS: no column Gtid_IO_Pos");
    let mut rows = fixture(include_str!("fixtures/mariadb1011_replica.txt"));
    rows.globals[0].insert("gtid_current_pos".into(), Some("0-1".into()));
    let e = Flavor::MariaDb.parse(&rows).unwrap_err();
    assert!(e.to_string().contains("gtid_current_pos"), "{e}");
}

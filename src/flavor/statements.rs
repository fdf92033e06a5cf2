//! The administrative statements of a failover, per flavor. Statements that carry a password
//! are built here and never logged: callers log the step, not the SQL.

use crate::gtid::Gtids;
use crate::model::{Flavor, PromotedSemiSync};
use std::time::Duration;

/// Where a node starts replicating from when pointed at a new master.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StartFrom {
    /// A replica continues from what it applied (MariaDB `slave_pos`).
    ReplicaPosition,
    /// An old master continues from its own binlog (MariaDB `current_pos`): its last
    /// transactions were written locally, not replicated, so `gtid_slave_pos` is stale.
    OwnPosition,
}

/// A SQL string literal (quotes and backslashes escaped).
pub fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('\'');
    for c in s.chars() {
        match c {
            '\'' => out.push_str("''"),
            '\\' => out.push_str("\\\\"),
            '\0' => out.push_str("\\0"),
            c => out.push(c),
        }
    }
    out.push('\'');
    out
}

impl Flavor {
    /// Make a node read-only (on MySQL `super_read_only`, which also stops SUPER users).
    pub fn set_read_only(self, on: bool) -> Vec<String> {
        let v = if on { "ON" } else { "OFF" };
        match self {
            Flavor::MariaDb => vec![format!("SET GLOBAL read_only={v}")],
            // super_read_only=ON implies read_only=ON; turning off needs both, in this order
            Flavor::MySql if on => vec!["SET GLOBAL super_read_only=ON".into()],
            Flavor::MySql => vec![
                "SET GLOBAL super_read_only=OFF".into(),
                "SET GLOBAL read_only=OFF".into(),
            ],
        }
    }

    /// Client sessions to end when fencing: everything but replication, system threads and
    /// the manager's own connections — those waiting for a semi-sync acknowledgement last
    /// (see [`Flavor::end_sessions`]).
    pub fn client_sessions_query(self, admin_user: &str) -> String {
        format!(
            "SELECT ID FROM information_schema.PROCESSLIST WHERE ID <> CONNECTION_ID() \
             AND USER NOT IN ('system user', 'event_scheduler', {}) \
             AND COMMAND NOT IN ('Binlog Dump', 'Binlog Dump GTID', 'Daemon', 'Slave_IO', 'Slave_SQL', 'Slave_worker', 'Connect') \
             ORDER BY COALESCE(STATE, '') LIKE '%semi-sync%', ID",
            quote(admin_user)
        )
    }

    /// End the sessions `ids`, in this order, as close together as the server allows.
    ///
    /// Binlog group commit: the group's leader waits for the semi-sync acknowledgement on
    /// behalf of the whole group, and when it is killed the group commits and its other
    /// members answer OK to their clients — acknowledged, though no replica has them (seen on
    /// the lab: two writes of a group lost per freeze drill, one run in three). A killed
    /// session's socket is shut at once, so the members go first (they do not wait for the
    /// acknowledgement themselves) and the waiters last. On MariaDB all in one compound
    /// statement, microseconds apart; a session that ended meanwhile (1094) is skipped.
    pub fn end_sessions(self, ids: &[u64]) -> Vec<String> {
        let kills = ids.iter().map(|id| format!("KILL CONNECTION {id}"));
        match self {
            Flavor::MariaDb if !ids.is_empty() => vec![format!(
                "BEGIN NOT ATOMIC DECLARE CONTINUE HANDLER FOR 1094 BEGIN END; {}; END",
                kills.collect::<Vec<_>>().join("; ")
            )],
            _ => kills.collect(),
        }
    }

    /// Whether a node refuses client writes now (1) or not (0): read back after fencing.
    pub fn read_only_query(self) -> &'static str {
        match self {
            Flavor::MariaDb => "SELECT @@read_only",
            Flavor::MySql => "SELECT @@super_read_only",
        }
    }

    /// Everything a node wrote to its binlog: after fencing the old master of a switchover,
    /// what the target must apply before it is promoted. MariaDB's `gtid_binlog_pos`, not
    /// `gtid_current_pos`: on a former replica the latter may still name its replica position.
    pub fn written_query(self) -> &'static str {
        match self {
            Flavor::MariaDb => "SELECT @@gtid_binlog_pos",
            Flavor::MySql => "SELECT @@gtid_executed",
        }
    }

    /// Everything a node has applied or written itself, per server. MariaDB's
    /// `MASTER_GTID_WAIT` looks at `gtid_slave_pos` only, so it never returns for a former
    /// master whose own binlog holds the transactions (its replica position is stale): check
    /// this first — per (domain, server) (`Gtids::contains_each`): a position such as
    /// `gtid_current_pos` would count an errant write with a higher sequence number as
    /// having what the relay log has not applied yet.
    pub fn applied_query(self) -> &'static str {
        match self {
            Flavor::MariaDb => "SELECT @@gtid_binlog_state",
            Flavor::MySql => "SELECT @@gtid_executed",
        }
    }

    /// Parse a GTID text of this flavor.
    pub fn parse_gtids(self, text: &str) -> Result<Gtids, crate::gtid::GtidError> {
        match self {
            Flavor::MariaDb => crate::gtid::MariaDbGtids::parse(text).map(Gtids::MariaDb),
            Flavor::MySql => crate::gtid::MySqlGtidSet::parse(text).map(Gtids::MySql),
        }
    }

    /// Wait until the node has applied `gtids`, at most `limit`; the statement returns 0 when
    /// reached (MariaDB `MASTER_GTID_WAIT`: -1 on timeout; MySQL: 1 on timeout).
    pub fn wait_applied(self, gtids: &Gtids, limit: Duration) -> String {
        let secs = format!("{:.3}", limit.as_secs_f64());
        match self {
            // one GTID per domain, or the server refuses the list
            Flavor::MariaDb => format!(
                "SELECT MASTER_GTID_WAIT({}, {secs})",
                quote(&gtids.position().to_string())
            ),
            Flavor::MySql => format!(
                "SELECT WAIT_FOR_EXECUTED_GTID_SET({}, {secs})",
                quote(&gtids.to_string())
            ),
        }
    }

    /// Start the applier if it is stopped (it must drain the relay log before promotion).
    pub fn start_applier(self) -> &'static str {
        match self {
            Flavor::MariaDb => "START SLAVE SQL_THREAD",
            Flavor::MySql => "START REPLICA SQL_THREAD",
        }
    }

    /// Up to five transactions open at least `secs` seconds that modified rows, oldest
    /// first: connection id, `user@host`, seconds open, rows modified, the first word of the
    /// running statement ('' when idle). Both servers have `INNODB_TRX`; MySQL 8.4 deprecates
    /// `information_schema.PROCESSLIST` for `performance_schema.processlist`.
    pub fn open_writes_query(self, secs: u64) -> String {
        let processlist = match self {
            Flavor::MariaDb => "information_schema.PROCESSLIST",
            Flavor::MySql => "performance_schema.processlist",
        };
        format!(
            "SELECT t.trx_mysql_thread_id, CONCAT(IFNULL(p.USER, '?'), '@', IFNULL(p.HOST, '?')), \
             CAST(GREATEST(TIMESTAMPDIFF(SECOND, t.trx_started, NOW()), 0) AS UNSIGNED), \
             CAST(t.trx_rows_modified AS UNSIGNED), \
             IFNULL(UPPER(SUBSTRING_INDEX(TRIM(p.INFO), ' ', 1)), '') \
             FROM information_schema.INNODB_TRX t LEFT JOIN {processlist} p ON p.ID = t.trx_mysql_thread_id \
             WHERE t.trx_rows_modified > 0 AND t.trx_started <= NOW() - INTERVAL {secs} SECOND \
             ORDER BY t.trx_started LIMIT 5"
        )
    }

    /// Stop the applier only (the receiver keeps the relay log).
    pub fn stop_applier(self) -> &'static str {
        match self {
            Flavor::MariaDb => "STOP SLAVE SQL_THREAD",
            Flavor::MySql => "STOP REPLICA SQL_THREAD",
        }
    }

    /// How many parallel workers the applier runs (0: MariaDB applies serially).
    pub fn applier_threads_query(self) -> &'static str {
        match self {
            Flavor::MariaDb => "SELECT @@GLOBAL.slave_parallel_threads",
            Flavor::MySql => "SELECT @@GLOBAL.replica_parallel_workers",
        }
    }

    /// Set the applier's parallel workers; read when the applier starts. MariaDB refuses it
    /// while an applier runs. Its default `slave_parallel_mode=optimistic` applies the
    /// master's transactions in parallel and commits them in the master's order (a conflict
    /// is rolled back and retried); MySQL 8.4 keeps the order with
    /// `replica_preserve_commit_order=ON`, its default.
    pub fn set_applier_threads(self, threads: u32) -> String {
        match self {
            Flavor::MariaDb => format!("SET GLOBAL slave_parallel_threads = {threads}"),
            Flavor::MySql => format!("SET GLOBAL replica_parallel_workers = {threads}"),
        }
    }

    /// Stop receiving from the master (the IO thread). With a frozen or cut-off master this
    /// takes seconds (MariaDB's semi-sync replica first tries to kill its dump thread on the
    /// master, for up to `rpl_semi_sync_slave_kill_conn_timeout`).
    ///
    /// The applier is started first: MariaDB in GTID mode discards the relay log once *both*
    /// threads are stopped, at the next start (measured on 10.11: received 0-1-10, applied
    /// 0-1-7; after `STOP SLAVE IO_THREAD` and `START SLAVE SQL_THREAD` both positions read
    /// 0-1-7). A replica whose applier a DBA had stopped would lose what it received — maybe
    /// acknowledged by semi-sync — the moment its receiver stops. A running applier is not
    /// touched ("already running" is a note).
    pub fn stop_receiver(self) -> [&'static str; 2] {
        match self {
            Flavor::MariaDb => ["START SLAVE SQL_THREAD", "STOP SLAVE IO_THREAD"],
            Flavor::MySql => ["START REPLICA SQL_THREAD", "STOP REPLICA IO_THREAD"],
        }
    }

    /// (Re)start replication, both threads (undoing `stop_receiver` when a failover aborts).
    pub fn start_replication(self) -> &'static str {
        match self {
            Flavor::MariaDb => "START SLAVE",
            Flavor::MySql => "START REPLICA",
        }
    }

    /// Turn a caught-up replica into a writable master, fast: stop the applier (instant),
    /// set the semi-sync master side as `semi` says, make it writable. The receiver may still
    /// be stuck on the dead master; with the applier stopped nothing it receives is applied,
    /// and [`Flavor::detach`] removes it and its relay log right after.
    /// Under the lossless policy the semi-sync master side is set to it first: `AFTER_SYNC`,
    /// waiting even without a connected replica; promoted alone with `failover.alone =
    /// "async"`, it is off.
    pub fn promote(self, semi: PromotedSemiSync) -> Vec<String> {
        let mut v: Vec<String> = vec![self.stop_applier().into()];
        match semi {
            PromotedSemiSync::Lossless(p) => v.extend(self.semi_sync_master(p.timeout)),
            PromotedSemiSync::ServerSettings => v.extend(self.semi_sync_master(Duration::ZERO)),
            PromotedSemiSync::Off => v.push(format!("SET GLOBAL rpl_semi_sync_{}_enabled=OFF", self.source_word())),
        }
        v.extend(self.set_read_only(false));
        v
    }

    /// What the semi-sync variables call a master: `master` on MariaDB, `source` on MySQL
    /// 8.0.26+.
    fn source_word(self) -> &'static str {
        match self {
            Flavor::MariaDb => "master",
            Flavor::MySql => "source",
        }
    }

    /// Semi-sync on a master, lossless: wait `timeout` for a replica's acknowledgement, after
    /// the binlog is synced (a crash then loses nothing acknowledged), also while no replica
    /// is connected; then the master side on (last: it must not start with the old settings).
    /// A zero `timeout` leaves the server's settings and only turns the master side on.
    pub fn semi_sync_master(self, timeout: Duration) -> Vec<String> {
        let ms = timeout.as_millis();
        let side = self.source_word();
        let no_replica = match self {
            Flavor::MariaDb => "wait_no_slave",
            Flavor::MySql => "wait_no_replica",
        };
        let mut v = Vec::new();
        if ms > 0 {
            v.push(format!("SET GLOBAL rpl_semi_sync_{side}_timeout={ms}"));
            v.push(format!("SET GLOBAL rpl_semi_sync_{side}_wait_point=AFTER_SYNC"));
            v.push(format!("SET GLOBAL rpl_semi_sync_{side}_{no_replica}=ON"));
        }
        v.push(format!("SET GLOBAL rpl_semi_sync_{side}_enabled=ON"));
        v
    }

    /// Where a node restored from a backup starts replicating: the backup's GTID position
    /// (from `xtrabackup_binlog_info`, never the restored `mysql.gtid_slave_pos` table). Any
    /// replication configuration that came with the datadir is forgotten first.
    pub fn start_position(self, gtids: &Gtids) -> Vec<String> {
        let g = quote(&gtids.to_string());
        match self {
            Flavor::MariaDb => vec![
                "STOP SLAVE".into(),
                "RESET SLAVE ALL".into(),
                format!("SET GLOBAL gtid_slave_pos = {g}"),
            ],
            // gtid_purged can only be set on an empty gtid_executed
            Flavor::MySql => vec![
                "STOP REPLICA".into(),
                "RESET REPLICA ALL".into(),
                "RESET MASTER".into(),
                format!("SET GLOBAL gtid_purged = {g}"),
            ],
        }
    }

    /// Forget replication on a promoted node (may wait for a stuck receiver).
    pub fn detach(self) -> Vec<String> {
        match self {
            Flavor::MariaDb => vec!["STOP SLAVE".into(), "RESET SLAVE ALL".into()],
            Flavor::MySql => vec!["STOP REPLICA".into(), "RESET REPLICA ALL".into()],
        }
    }

    /// Point a node at `host:port` with GTID auto-positioning and start replicating. The
    /// master side of semi-sync is turned off first: on a replica it stalls the applier.
    pub fn replicate_from(self, host: &str, port: u16, user: &str, password: &str, from: StartFrom) -> Vec<String> {
        match self {
            Flavor::MariaDb => {
                let pos = match from {
                    StartFrom::ReplicaPosition => "slave_pos",
                    StartFrom::OwnPosition => "current_pos",
                };
                vec![
                    "STOP SLAVE".into(),
                    "SET GLOBAL rpl_semi_sync_master_enabled=OFF".into(),
                    "SET GLOBAL rpl_semi_sync_slave_enabled=ON".into(),
                    format!(
                        "CHANGE MASTER TO MASTER_HOST={}, MASTER_PORT={port}, MASTER_USER={}, MASTER_PASSWORD={}, \
                         MASTER_USE_GTID={pos}, MASTER_CONNECT_RETRY=1",
                        quote(host),
                        quote(user),
                        quote(password)
                    ),
                    "START SLAVE".into(),
                ]
            }
            Flavor::MySql => vec![
                "STOP REPLICA".into(),
                "SET GLOBAL rpl_semi_sync_source_enabled=OFF".into(),
                "SET GLOBAL rpl_semi_sync_replica_enabled=ON".into(),
                format!(
                    "CHANGE REPLICATION SOURCE TO SOURCE_HOST={}, SOURCE_PORT={port}, SOURCE_USER={}, SOURCE_PASSWORD={}, \
                     SOURCE_AUTO_POSITION=1, SOURCE_CONNECT_RETRY=1",
                    quote(host),
                    quote(user),
                    quote(password)
                ),
                "START REPLICA".into(),
            ],
        }
    }
}

/// Server errors that mean "this semi-sync variable does not exist here" (plugin not
/// loaded): a failover goes on without semi-sync rather than failing.
pub fn is_unknown_variable(code: u16) -> bool {
    code == 1193
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gtid::MariaDbGtids;
    use crate::model::SemiSyncPolicy;

    #[test]
    fn quoting_keeps_passwords_inside_the_literal() {
        assert_eq!(quote("it's"), "'it''s'");
        assert_eq!(quote("a\\'; DROP TABLE x; --"), "'a\\\\''; DROP TABLE x; --'");
    }

    #[test]
    fn mariadb_statements() {
        let g = Gtids::MariaDb(MariaDbGtids::parse("0-1-42").unwrap());
        assert_eq!(
            Flavor::MariaDb.wait_applied(&g, Duration::from_millis(2500)),
            "SELECT MASTER_GTID_WAIT('0-1-42', 2.500)"
        );
        let v = Flavor::MariaDb.replicate_from("10.0.0.2", 3306, "repl", "pw", StartFrom::OwnPosition);
        assert!(v[3].contains("MASTER_USE_GTID=current_pos") && v[3].contains("MASTER_HOST='10.0.0.2'"));
        assert_eq!(v[1], "SET GLOBAL rpl_semi_sync_master_enabled=OFF");
        assert_eq!(
            Flavor::MariaDb.promote(PromotedSemiSync::ServerSettings),
            [
                "STOP SLAVE SQL_THREAD",
                "SET GLOBAL rpl_semi_sync_master_enabled=ON",
                "SET GLOBAL read_only=OFF"
            ]
        );
        assert_eq!(
            Flavor::MariaDb.promote(PromotedSemiSync::Lossless(SemiSyncPolicy {
                timeout: Duration::from_secs(3600)
            })),
            [
                "STOP SLAVE SQL_THREAD",
                "SET GLOBAL rpl_semi_sync_master_timeout=3600000",
                "SET GLOBAL rpl_semi_sync_master_wait_point=AFTER_SYNC",
                "SET GLOBAL rpl_semi_sync_master_wait_no_slave=ON",
                "SET GLOBAL rpl_semi_sync_master_enabled=ON",
                "SET GLOBAL read_only=OFF"
            ]
        );
        assert_eq!(
            Flavor::MariaDb.promote(PromotedSemiSync::Off),
            [
                "STOP SLAVE SQL_THREAD",
                "SET GLOBAL rpl_semi_sync_master_enabled=OFF",
                "SET GLOBAL read_only=OFF"
            ]
        );
        assert_eq!(Flavor::MariaDb.detach(), ["STOP SLAVE", "RESET SLAVE ALL"]);
    }

    #[test]
    fn mysql_statements() {
        assert_eq!(
            Flavor::MySql.set_read_only(false),
            ["SET GLOBAL super_read_only=OFF", "SET GLOBAL read_only=OFF"]
        );
        let v = Flavor::MySql.replicate_from("db2", 3307, "repl", "pw", StartFrom::ReplicaPosition);
        assert!(v[3].starts_with("CHANGE REPLICATION SOURCE TO SOURCE_HOST='db2', SOURCE_PORT=3307"));
        assert!(v[3].contains("SOURCE_AUTO_POSITION=1"));
        assert_eq!(
            Flavor::MySql.semi_sync_master(Duration::from_secs(60)),
            [
                "SET GLOBAL rpl_semi_sync_source_timeout=60000",
                "SET GLOBAL rpl_semi_sync_source_wait_point=AFTER_SYNC",
                "SET GLOBAL rpl_semi_sync_source_wait_no_replica=ON",
                "SET GLOBAL rpl_semi_sync_source_enabled=ON"
            ]
        );
    }
}

//! Fencing at the database: every change a leader makes carries its leadership term, and the
//! node itself refuses a term older than the newest it has seen — what a deposed leader's
//! delayed packet, or a process that resumes after its lease, meets even when its own lease
//! check was passed a moment too early.
//!
//! The term lives on each node in `myha.fence` and is written with `sql_log_bin=0`: not
//! replicated (each node holds the newest term that touched it), never in the binlog, so it
//! is never an errant transaction. The check and the change run in one anonymous compound
//! statement (MariaDB's `BEGIN NOT ATOMIC`), so nothing comes between them on the wire.
//! MySQL has no anonymous compound statement, and its `super_read_only` refuses even the
//! manager's own bookkeeping write on a replica: there a change is fenced by the lease only.

use crate::model::Flavor;

/// What the server says (`SIGNAL`, error 1644) when it refuses an older term.
const REFUSED: &str = "myha fence: seen term ";

/// The error code of a `SIGNAL SQLSTATE '45000'`.
pub const REFUSED_CODE: u16 = 1644;

/// The schema and table, created on first use (`sql_log_bin=0` in the same session).
pub const FENCE_TABLE: [&str; 3] = [
    "SET SESSION sql_log_bin=0",
    "CREATE DATABASE IF NOT EXISTS myha",
    "CREATE TABLE IF NOT EXISTS myha.fence (id TINYINT PRIMARY KEY, term BIGINT NOT NULL) ENGINE=InnoDB",
];

/// Unknown table or database: the fence table was never created on this node.
pub fn is_missing_table(code: u16) -> bool {
    code == 1146 || code == 1049
}

/// The newest term the server named when it refused, if this is that refusal.
pub fn refused_by(code: u16, message: &str) -> Option<i64> {
    if code != REFUSED_CODE {
        return None;
    }
    message.strip_prefix(REFUSED)?.trim().parse().ok()
}

impl Flavor {
    /// `sql` as a change made in leadership `term`: refused by the server when it has seen a
    /// newer term, and with `record`, raising the node's term to `term` first (once per
    /// connection is enough: a term only grows). `None`: this flavor cannot fence at the
    /// database (see the module).
    pub fn under_term(self, sql: &str, term: i64, record: bool) -> Option<String> {
        match self {
            Flavor::MySql => None,
            Flavor::MariaDb => {
                // a compound statement itself becomes a block of this one
                let sql = sql
                    .strip_prefix("BEGIN NOT ATOMIC ")
                    .map_or_else(|| sql.to_string(), |b| format!("BEGIN {b}"));
                let record = if record {
                    format!(
                        "SET SESSION sql_log_bin=0; \
                         INSERT INTO myha.fence VALUES (1, {term}) ON DUPLICATE KEY UPDATE term = GREATEST(term, {term}); "
                    )
                } else {
                    String::new()
                };
                Some(format!(
                    "BEGIN NOT ATOMIC \
                     DECLARE seen BIGINT DEFAULT (SELECT COALESCE(MAX(term), 0) FROM myha.fence); \
                     IF seen > {term} THEN BEGIN \
                     DECLARE msg VARCHAR(100) DEFAULT CONCAT('{REFUSED}', seen); \
                     SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = msg; \
                     END; END IF; \
                     {record}{sql}; \
                     END"
                ))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_refusal_names_the_newest_term() {
        assert_eq!(refused_by(1644, "myha fence: seen term 4294967302"), Some(4294967302));
        assert_eq!(refused_by(1644, "some other signal"), None);
        assert_eq!(refused_by(1146, "myha fence: seen term 3"), None);
    }

    #[test]
    fn mariadb_checks_then_records_then_changes_in_one_statement() {
        let sql = Flavor::MariaDb
            .under_term("SET GLOBAL read_only=ON", 7, true)
            .expect("MariaDB fences");
        let check = sql.find("IF seen > 7").expect("the check");
        let record = sql.find("GREATEST(term, 7)").expect("the record");
        let change = sql.find("SET GLOBAL read_only=ON").expect("the change");
        assert!(check < record && record < change, "{sql}");
        assert!(!Flavor::MariaDb
            .under_term("STOP SLAVE", 7, false)
            .expect("MariaDB fences")
            .contains("INSERT"));
        assert_eq!(Flavor::MySql.under_term("STOP REPLICA", 7, true), None);
    }

    #[test]
    fn a_compound_statement_nests_as_a_block() {
        let kill = Flavor::MariaDb.end_sessions(&[3, 4]).remove(0);
        let sql = Flavor::MariaDb.under_term(&kill, 7, false).expect("MariaDB fences");
        assert_eq!(sql.matches("NOT ATOMIC").count(), 1, "{sql}");
        assert!(
            sql.contains(
                "BEGIN DECLARE CONTINUE HANDLER FOR 1094 BEGIN END; KILL CONNECTION 3; KILL CONNECTION 4; END"
            ),
            "{sql}"
        );
    }
}

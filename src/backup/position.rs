//! Where a physical backup stands in the replication stream: `xtrabackup_binlog_info`, written
//! by mariabackup and xtrabackup at the moment the backup's data is consistent. A restored
//! replica starts replicating from its GTID field — never from the `mysql.gtid_slave_pos`
//! table inside the backup, which is stale in a backup of a master (LAB.md).

use crate::gtid::Gtids;
use crate::model::Flavor;

/// The file does not say what a backup position needs.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PositionError {
    /// Not `file<TAB>position<TAB>gtid`.
    #[error("xtrabackup_binlog_info: expected `binlog file, position, GTID` separated by tabs, found {0:?}")]
    Shape(String),
    /// The GTID field does not parse for the cluster's flavor.
    #[error("xtrabackup_binlog_info: {0}")]
    Gtid(String),
}

/// The binlog coordinates and GTID position of a backup.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackupPosition {
    /// Binlog file of the source at the consistent point.
    pub binlog_file: String,
    /// Offset in it.
    pub binlog_pos: u64,
    /// GTIDs contained in the backup (empty when the source had written none).
    pub gtid: Gtids,
}

/// Parse `xtrabackup_binlog_info`. MariaDB writes one line; xtrabackup writes MySQL's GTID set
/// across lines (`uuid:1-5,\nuuid2:1-1044`).
pub fn parse(flavor: Flavor, text: &str) -> Result<BackupPosition, PositionError> {
    let mut lines = text.lines().filter(|l| !l.trim().is_empty());
    let first = lines.next().ok_or_else(|| PositionError::Shape(text.to_string()))?;
    let mut fields = first.split('\t');
    let (Some(file), Some(pos)) = (fields.next(), fields.next()) else {
        return Err(PositionError::Shape(first.to_string()));
    };
    let binlog_pos = pos
        .trim()
        .parse()
        .map_err(|_| PositionError::Shape(first.to_string()))?;
    let mut gtid: String = fields.next().unwrap_or("").trim().to_string();
    for more in lines {
        gtid.push_str(more.trim());
    }
    let gtid = flavor
        .parse_gtids(&gtid)
        .map_err(|e| PositionError::Gtid(e.to_string()))?;
    if file.trim().is_empty() {
        return Err(PositionError::Shape(first.to_string()));
    }
    Ok(BackupPosition {
        binlog_file: file.trim().to_string(),
        binlog_pos,
        gtid,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(name: &str) -> String {
        std::fs::read_to_string(format!("{}/src/backup/fixtures/{name}", env!("CARGO_MANIFEST_DIR"))).unwrap()
    }

    #[test]
    fn mariadb_position_from_a_real_backup() {
        let p = parse(Flavor::MariaDb, &fixture("mariadb-10.11-xtrabackup_binlog_info")).unwrap();
        assert_eq!(p.binlog_file, "mysql-bin.000001");
        assert_eq!(p.binlog_pos, 1552);
        assert_eq!(p.gtid.to_string(), "0-1-7");
    }

    #[test]
    fn mysql_gtid_sets_span_lines() {
        let p = parse(Flavor::MySql, &fixture("mysql-8.0-xtrabackup_binlog_info")).unwrap();
        assert_eq!(p.binlog_file, "binlog.000003");
        assert_eq!(
            p.gtid,
            Flavor::MySql
                .parse_gtids("3e11fa47-71ca-11e1-9e33-c80aa9429562:1-5,8a94f357-aab4-11df-86ab-c80aa9429562:1-1044")
                .unwrap()
        );
        let none = parse(Flavor::MySql, &fixture("mysql-8.0-no-gtid-xtrabackup_binlog_info")).unwrap();
        assert!(none.gtid.is_empty());
    }

    #[test]
    fn what_is_not_a_position_says_so() {
        for bad in ["", "mysql-bin.000001", "mysql-bin.000001\tmany\t0-1-7", "\t4\t0-1-7"] {
            assert!(
                matches!(parse(Flavor::MariaDb, bad), Err(PositionError::Shape(_))),
                "{bad:?}"
            );
        }
        assert!(matches!(
            parse(Flavor::MariaDb, "mysql-bin.000001\t4\tnot-a-gtid"),
            Err(PositionError::Gtid(_))
        ));
    }
}

//! The server family of a cluster. What each family's statements and rows look like is
//! `crate::flavor`'s business.

use serde::{Deserialize, Serialize};

/// The server family of a cluster.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Flavor {
    /// MariaDB 10.6+: `domain-server-seq` GTIDs, `SHOW ALL SLAVES STATUS`.
    MariaDb,
    /// MySQL 8.0 / 8.4: `uuid:interval` GTID sets, `SHOW REPLICA STATUS`.
    MySql,
}

impl std::fmt::Display for Flavor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Flavor::MariaDb => "mariadb",
            Flavor::MySql => "mysql",
        })
    }
}

//! MariaDB and MySQL behind one abstraction: which statements to run, and how to read their
//! rows into a [`NodeState`]. Parsing is pure (rows in, state out), so MySQL is tested on
//! recorded server output and MariaDB on recorded and live output alike.

pub mod fencing;
mod mariadb;
mod mysql;
mod statements;
#[cfg(test)]
mod tests;

pub use statements::{is_unknown_variable, quote, StartFrom};

use crate::model::Flavor;
use crate::topology::{NodeState, SemiSync};
use std::collections::BTreeMap;

/// One result row: column name → value as text (`None` = SQL NULL). Column names are
/// case-sensitive, as the servers send them.
pub type Row = BTreeMap<String, Option<String>>;

/// A row that does not say what the flavor expects.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FlavorError {
    /// A column is missing.
    #[error("{query}: no column {column}")]
    MissingColumn {
        /// the statement
        query: &'static str,
        /// the column
        column: String,
    },
    /// A value does not parse.
    #[error("{query}: column {column} = {value:?}: {reason}")]
    BadValue {
        /// the statement
        query: &'static str,
        /// the column
        column: String,
        /// the value
        value: String,
        /// why it does not parse
        reason: String,
    },
    /// The statement returned no row where one was expected.
    #[error("{query}: returned no row")]
    NoRow {
        /// the statement
        query: &'static str,
    },
}

impl FlavorError {
    /// A value of `column` that does not parse, and why.
    pub fn bad_value(query: &'static str, column: &str, value: &str, reason: impl ToString) -> Self {
        FlavorError::BadValue {
            query,
            column: column.to_string(),
            value: value.to_string(),
            reason: reason.to_string(),
        }
    }
}

/// The raw rows of one probe, statement by statement.
#[derive(Debug, Clone, Default)]
pub struct ProbeRows {
    /// [`Flavor::globals_query`] (one row).
    pub globals: Vec<Row>,
    /// [`Flavor::replica_status_query`] (zero or more rows).
    pub replica: Vec<Row>,
    /// [`SEMI_SYNC_VARIABLES`] (`Variable_name`, `Value`).
    pub semi_sync_variables: Vec<Row>,
    /// [`SEMI_SYNC_STATUS`] (`Variable_name`, `Value`).
    pub semi_sync_status: Vec<Row>,
    /// [`Flavor::heartbeat_query`], where the flavor has one.
    pub heartbeat: Vec<Row>,
}

/// Semi-sync settings; a `LIKE` query rather than `@@` names, because the variables do not
/// exist when the plugin is not loaded, and MySQL 8.0.26 renamed them.
pub const SEMI_SYNC_VARIABLES: &str = "SHOW GLOBAL VARIABLES LIKE 'rpl_semi_sync%'";
/// Semi-sync runtime status.
pub const SEMI_SYNC_STATUS: &str = "SHOW GLOBAL STATUS LIKE 'Rpl_semi_sync%'";

impl Flavor {
    /// Server-wide identity, read-only state and GTID variables, in one row.
    pub fn globals_query(self) -> &'static str {
        match self {
            Flavor::MariaDb => mariadb::GLOBALS,
            Flavor::MySql => mysql::GLOBALS,
        }
    }

    /// Replication connection status.
    pub fn replica_status_query(self) -> &'static str {
        match self {
            Flavor::MariaDb => mariadb::REPLICA_STATUS,
            Flavor::MySql => mysql::REPLICA_STATUS,
        }
    }

    /// Heartbeat counters, where replica status does not carry them (MySQL).
    pub fn heartbeat_query(self) -> Option<&'static str> {
        match self {
            Flavor::MariaDb => None,
            Flavor::MySql => Some(mysql::HEARTBEAT),
        }
    }

    /// Build a node's state from the rows of one probe.
    pub fn parse(self, rows: &ProbeRows) -> Result<NodeState, FlavorError> {
        match self {
            Flavor::MariaDb => mariadb::parse(rows),
            Flavor::MySql => mysql::parse(rows),
        }
    }
}

// ---- helpers shared by the two flavors --------------------------------------------------

pub(crate) fn col<'a>(row: &'a Row, query: &'static str, names: &[&str]) -> Result<Option<&'a str>, FlavorError> {
    for n in names {
        if let Some(v) = row.get(*n) {
            return Ok(v.as_deref());
        }
    }
    Err(FlavorError::MissingColumn {
        query,
        column: names.join(" / "),
    })
}

pub(crate) fn text<'a>(row: &'a Row, query: &'static str, names: &[&str]) -> Result<&'a str, FlavorError> {
    Ok(col(row, query, names)?.unwrap_or(""))
}

pub(crate) fn num<T: std::str::FromStr>(
    row: &Row,
    query: &'static str,
    names: &[&str],
) -> Result<Option<T>, FlavorError>
where
    T::Err: std::fmt::Display,
{
    match col(row, query, names)? {
        None => Ok(None),
        Some(v) if v.trim().is_empty() => Ok(None),
        Some(v) => v
            .trim()
            .parse()
            .map(Some)
            .map_err(|e: T::Err| FlavorError::bad_value(query, names[0], v, e)),
    }
}

pub(crate) fn flag(row: &Row, query: &'static str, names: &[&str]) -> Result<bool, FlavorError> {
    Ok(matches!(
        text(row, query, names)?.to_ascii_uppercase().as_str(),
        "1" | "ON" | "YES"
    ))
}

pub(crate) fn non_empty(v: &str) -> Option<String> {
    (!v.trim().is_empty()).then(|| v.trim().to_string())
}

pub(crate) fn first<'a>(rows: &'a [Row], query: &'static str) -> Result<&'a Row, FlavorError> {
    rows.first().ok_or(FlavorError::NoRow { query })
}

/// Semi-sync from `SHOW … LIKE 'rpl_semi_sync%'` rows; accepts old (master/slave) and new
/// (source/replica) names.
pub(crate) fn semi_sync(rows: &ProbeRows) -> SemiSync {
    let lookup = |rows: &[Row], names: &[&str]| -> Option<String> {
        rows.iter().find_map(|r| {
            let name = r.get("Variable_name")?.as_deref()?.to_ascii_lowercase();
            names
                .contains(&name.as_str())
                .then(|| r.get("Value").cloned().flatten().unwrap_or_default())
        })
    };
    let on = |v: Option<String>| v.is_some_and(|v| matches!(v.to_ascii_uppercase().as_str(), "ON" | "1" | "YES"));
    let v = &rows.semi_sync_variables;
    let s = &rows.semi_sync_status;
    SemiSync {
        master_enabled: on(lookup(
            v,
            &["rpl_semi_sync_master_enabled", "rpl_semi_sync_source_enabled"],
        )),
        master_active: on(lookup(
            s,
            &["rpl_semi_sync_master_status", "rpl_semi_sync_source_status"],
        )),
        master_clients: lookup(s, &["rpl_semi_sync_master_clients", "rpl_semi_sync_source_clients"])
            .and_then(|c| c.parse().ok())
            .unwrap_or(0),
        replica_enabled: on(lookup(
            v,
            &["rpl_semi_sync_slave_enabled", "rpl_semi_sync_replica_enabled"],
        )),
        replica_active: on(lookup(
            s,
            &["rpl_semi_sync_slave_status", "rpl_semi_sync_replica_status"],
        )),
        master_timeout_ms: lookup(v, &["rpl_semi_sync_master_timeout", "rpl_semi_sync_source_timeout"])
            .and_then(|t| t.trim().parse().ok()),
        master_wait_point: lookup(
            v,
            &["rpl_semi_sync_master_wait_point", "rpl_semi_sync_source_wait_point"],
        )
        .map(|w| w.trim().to_ascii_uppercase()),
        master_wait_no_replica: lookup(
            v,
            &[
                "rpl_semi_sync_master_wait_no_slave",
                "rpl_semi_sync_source_wait_no_replica",
            ],
        )
        .map(|w| on(Some(w))),
    }
}

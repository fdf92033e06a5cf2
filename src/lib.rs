//! myha — a MySQL / MariaDB high-availability failover controller.
//!
//! # Layout
//! - [`gtid`]: the GTID algebra of MariaDB (`domain-server-seq`) and MySQL (`uuid:intervals`).
pub mod gtid;

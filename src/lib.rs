//! myha — a MySQL / MariaDB high-availability failover controller.
//!
//! # Layout
//! - `lab`: the description of a local lab cluster, as printed by `chaos/lab status --json`,
//!   and the helper that runs code inside one of its network namespaces.
pub mod lab;

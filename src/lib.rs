//! myha — a MySQL / MariaDB high-availability failover controller.
//!
//! # Layout
//! - [`model`]: the shared data (state, records, candidates, leadership, backups) — no I/O.
//! - [`config`]: the TOML configuration, validated as a whole before anything connects.
//! - [`gtid`]: the GTID algebra of MariaDB (`domain-server-seq`) and MySQL (`uuid:intervals`).
//! - [`flavor`]: MariaDB and MySQL behind one abstraction: statements and row parsing.
//! - [`topology`]: what a probe round saw — node states and the immutable cluster snapshot.
//! - [`mysql`]: the MySQL admin edge (trait + mysql_async implementation).
//! - [`probe`]: probe rounds: every node concurrently, each round one snapshot.
//! - [`detect`]: the detector: recent snapshots → a diagnosis with a sentence.
//! - [`vip`]: the floating IP: VPC route tables through the EC2 API.
//! - [`failover`]: candidate selection, the failover plan and its record.
//! - [`coord`]: shared cluster state (master, epoch, block) and failover records.
//! - [`manager`]: the manager service: per-cluster loop and the pure decision.
//! - [`api`]: the HTTP API every manager serves.
//! - [`metrics`]: the Prometheus metrics.
//! - [`cli`]: the `myha` subcommands.
//! - `sim` (feature `testkit`): the deterministic simulation of whole managers.
//! - `testkit` (tests, feature `testkit`): fixture builders and small fakes.
pub mod api;
pub mod backup;
pub mod cli;
pub mod config;
pub mod coord;
pub mod detect;
pub mod failover;
pub mod flavor;
pub mod gtid;
pub mod manager;
pub mod metrics;
pub mod model;
pub mod mysql;
pub mod probe;
pub mod signal;
#[cfg(feature = "testkit")]
pub mod sim;
#[cfg(any(test, feature = "testkit"))]
pub mod testkit;
pub mod tls;
pub mod topology;
pub mod vip;

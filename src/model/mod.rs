//! The data the parts of myha share — what the coordinator keeps, what a failover records,
//! what the API serves — with no I/O. It sits below every edge (MySQL, coordinator, VIP,
//! backup store) and every piece of logic, and imports nothing of myha but the GTID algebra
//! and the topology of a probe round.

pub mod action;
pub mod backup;
pub mod candidates;
pub mod flavor;
pub mod lead;
pub mod lease;
pub mod policy;
pub mod record;
pub mod state;
pub mod time;
pub mod vip;

pub use action::{ActionEntry, ActionKind};
pub use backup::BackupMeta;
pub use candidates::{Candidates, Ranked, Rejected};
pub use flavor::Flavor;
pub use lead::{ManagerInfo, SessionState, Standing};
pub use lease::Lease;
pub use policy::{PromotedSemiSync, SemiSyncPolicy};
pub use record::{FailoverRecord, Kind, Status, Step, StepKind};
pub use state::{Action, BackupRequest, Block, Refused, Request, SharedState, Versioned};
pub use time::{id_time, now, timestamp, unix_ms};
pub use vip::VipState;

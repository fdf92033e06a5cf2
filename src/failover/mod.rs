//! Failover: choose the candidate ([`candidate`]), run the plan ([`execute`]), and keep the
//! record of it ([`record`]).

pub mod admit;
pub mod candidate;
mod catch_up;
pub mod execute;
pub mod lossless;
pub mod record;
pub mod switchover;
#[cfg(test)]
mod tests;

pub use candidate::{choose, excluded};
#[cfg(test)]
pub use execute::Alone;
pub use execute::{Edges, Guard, GuardError, StepError};
pub use record::Recorder;

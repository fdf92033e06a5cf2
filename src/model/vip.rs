//! The floating IP as observed.

use std::collections::BTreeMap;

/// The VIP as the EC2 API shows it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct VipView {
    /// Route table → ENI the VIP route points at (`None`: no route).
    pub targets: BTreeMap<String, Option<String>>,
    /// Node → its ENI.
    pub enis: BTreeMap<String, String>,
}

//! The VIP as the loop sees it: prepared once per set of nodes, observed now and then —
//! never awaited by the round. Each call to the VIP's API runs as a task of its own, whose
//! answer the round takes when it is there: a slow or hanging cloud API never holds back the
//! rounds that detect and promote (a hanging EC2 endpoint stretched a round to seconds, and
//! delayed a promotion by ~3 s on the lab, while these calls ran inline). A task, not a
//! future polled once a round: a call makes a dozen steps (connect, send, read; several API
//! calls to prepare), and one step a round took seconds.

use super::ClusterLoop;
use crate::coord::elector::Leadership;
use crate::coord::Store;
use crate::model::VipState;
use crate::mysql::MysqlAdmin;
use crate::vip::{Vip, VipError};
use std::future::Future;
use std::pin::Pin;
use std::task::Poll;
use std::time::Duration;
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tracing::{error, warn};

/// How often the leader observes the VIP outside of failovers.
const VIP_REFRESH: Duration = Duration::from_secs(2);
/// How often a standby does: it only reports it, and every read of a cloud API counts
/// against the account's rate limit, shared by every manager and cluster.
const VIP_REFRESH_STANDBY: Duration = Duration::from_secs(30);
/// A call in flight longer than this is logged (once): the VIP's view is getting old.
const VIP_SLOW: Duration = Duration::from_secs(5);

/// What a call to the VIP's API answers.
pub(super) enum VipAnswer {
    Prepared(Result<Vec<String>, VipError>),
    Observed(Result<VipState, VipError>),
}

/// A call to the VIP's API in flight: since when, whether it was reported slow, whether it
/// observes (or prepares), its task (ended when this is dropped).
pub(super) struct InFlight {
    since: Instant,
    reported: bool,
    observes: bool,
    task: JoinHandle<VipAnswer>,
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl<A: MysqlAdmin, V: Vip, S: Store, L: Leadership> ClusterLoop<A, V, S, L> {
    /// Where the VIP led may have changed (a failover, a repair, a take-over): forget the
    /// view, and any observation already in flight (it may have read the tables before). A
    /// preparation in flight goes on: dropped after every action, it would never finish.
    pub(super) fn forget_vip(&mut self) {
        self.memory.vip = None;
        let slot = self.memory.vip_call.get_mut().unwrap_or_else(|e| e.into_inner());
        if slot.as_ref().is_some_and(|f| f.observes) {
            *slot = None;
        }
    }

    /// The nodes changed: the VIP prepares for them afresh.
    pub(super) fn prepare_vip_again(&mut self) {
        self.memory.vip_ready = false;
        self.memory.vip = None;
        *self.memory.vip_call.get_mut().unwrap_or_else(|e| e.into_inner()) = None;
    }

    /// Prepare the VIP until that succeeds, then observe it when due (`leads`: the leader's
    /// cadence) and `observe` allows — each as a call the round polls and does not wait for.
    pub(super) async fn refresh_vip(&mut self, leads: bool, observe: bool) {
        let slot = self.memory.vip_call.get_mut().unwrap_or_else(|e| e.into_inner());
        if slot.is_none() {
            let vip = self.vip.clone();
            let observes = self.memory.vip_ready;
            let task = if !observes {
                let nodes = self.cluster.nodes.clone();
                tokio::spawn(async move { VipAnswer::Prepared(vip.prepare(&nodes).await) })
            } else {
                let every = if leads { VIP_REFRESH } else { VIP_REFRESH_STANDBY };
                if !observe || self.memory.vip.as_ref().is_some_and(|(at, _)| at.elapsed() < every) {
                    return;
                }
                tokio::spawn(async move { VipAnswer::Observed(vip.observe().await) })
            };
            *slot = Some(InFlight {
                since: Instant::now(),
                reported: false,
                observes,
                task,
            });
        }
        let Some(f) = slot.as_mut() else {
            return;
        };
        let answer = match std::future::poll_fn(|cx| Poll::Ready(Pin::new(&mut f.task).poll(cx))).await {
            Poll::Ready(Ok(a)) => a,
            Poll::Ready(Err(e)) => {
                error!(cluster = %self.cluster.name, error = %e, "a call to the VIP's API ended abnormally");
                *slot = None;
                return;
            }
            Poll::Pending => {
                if !f.reported && f.since.elapsed() > VIP_SLOW {
                    f.reported = true;
                    warn!(cluster = %self.cluster.name, waited_ms = f.since.elapsed().as_millis() as u64,
                        "the VIP's API has not answered yet: rounds go on without it, its view is getting old");
                }
                return;
            }
        };
        *slot = None;
        match answer {
            VipAnswer::Prepared(Ok(problems)) => {
                for p in problems {
                    error!(cluster = %self.cluster.name, "VIP misconfiguration: {p}");
                }
                self.memory.vip_ready = true;
            }
            VipAnswer::Prepared(Err(e)) => {
                warn!(cluster = %self.cluster.name, error = %e, "cannot prepare the VIP yet")
            }
            VipAnswer::Observed(Ok(state)) => self.memory.vip = Some((Instant::now(), state)),
            VipAnswer::Observed(Err(e)) => {
                warn!(cluster = %self.cluster.name, error = %e, "cannot observe the VIP");
                self.memory.vip = None;
            }
        }
    }
}

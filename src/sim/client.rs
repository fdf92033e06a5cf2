//! Clients writing through the VIP, as the drills' writers do: one connection kept until an
//! error, one numbered write after another, every acknowledgement recorded. An impatient
//! client gives up on a commit after a second; a patient one (a connection pool, sysbench)
//! waits for every answer — it is the one a deposed master can acknowledge to.

use super::mysql::{Commit, Process};
use super::World;
use std::time::Duration;
use tokio::time::Instant;

/// How long an impatient client waits for an answer.
const GIVE_UP: Duration = Duration::from_secs(1);
/// Write ids of client `c` start at `c * ID_SPACE`.
const ID_SPACE: u64 = 1_000_000_000;

/// A write a client was told is committed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ack {
    /// The write.
    pub write: u64,
    /// The node that acknowledged it (by server id).
    pub server: u32,
    /// When.
    pub at: Instant,
}

/// One client's state.
#[derive(Debug, Clone)]
pub struct Client {
    patient: bool,
    every: Duration,
    /// Its connection: node and session.
    conn: Option<(String, u64)>,
    /// A commit waiting for its answer: write, since.
    waiting: Option<(u64, Instant)>,
    next_write: u64,
    next_at: Instant,
}

impl Client {
    /// Client `id`, writing every `every`.
    pub fn new(id: u64, patient: bool, every: Duration) -> Self {
        Client {
            patient,
            every,
            conn: None,
            waiting: None,
            next_write: id * ID_SPACE + 1,
            next_at: Instant::now(),
        }
    }
}

/// Every client takes one step: answers that arrived, then the next write.
pub fn step(w: &mut World, released: &[(u64, u64)]) {
    let now = Instant::now();
    let mut clients = std::mem::take(&mut w.clients);
    for c in clients.iter_mut() {
        step_one(w, c, released, now);
    }
    w.clients = clients;
    w.dropped.clear();
}

fn step_one(w: &mut World, c: &mut Client, released: &[(u64, u64)], now: Instant) {
    if let (Some((write, since)), Some((node, session))) = (c.waiting, c.conn.clone()) {
        if released.contains(&(session, write)) {
            let server = w.nodes.get(&node).map(|n| n.server_id).unwrap_or(0);
            w.acks.push(Ack { write, server, at: now });
            c.waiting = None;
        } else if w.dropped.contains(&session) || w.nodes.get(&node).is_none_or(|n| n.process == Process::Stopped) {
            // the server ended the session: the outcome is unknown, not acknowledged
            c.waiting = None;
            c.conn = None;
        } else if !c.patient && now.saturating_duration_since(since) >= GIVE_UP {
            c.waiting = None;
            c.conn = None;
        }
        if c.waiting.is_some() {
            return;
        }
    }
    if now < c.next_at {
        return;
    }
    c.next_at = now + c.every;
    let Some((node, session)) = c.conn.clone().or_else(|| connect(w, c)) else {
        return;
    };
    let write = c.next_write;
    let frozen = w.nodes.get(&node).is_some_and(|n| n.process == Process::Frozen);
    if frozen || !w.net.reachable("client", &node) {
        // nothing answers: a patient client keeps waiting, an impatient one gives up
        if !c.patient {
            c.conn = None;
        }
        return;
    }
    c.next_write += 1;
    match w.commit(&node, session, write) {
        Commit::Acked => {
            let server = w.nodes.get(&node).map(|n| n.server_id).unwrap_or(0);
            w.acks.push(Ack { write, server, at: now });
        }
        Commit::Waiting => c.waiting = Some((write, now)),
        Commit::Refused => c.conn = None,
    }
}

/// Connect through the VIP: to the node its route leads to, if it answers.
fn connect(w: &mut World, c: &mut Client) -> Option<(String, u64)> {
    let node = w.vip.route(None)?;
    let up = w.nodes.get(&node).is_some_and(|n| n.process == Process::Running);
    if !up || !w.net.reachable("client", &node) {
        return None;
    }
    let session = w.session();
    if let Some(n) = w.nodes.get_mut(&node) {
        n.sessions.push(session);
    }
    c.conn = Some((node.clone(), session));
    Some((node, session))
}

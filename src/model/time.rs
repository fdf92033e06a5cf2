//! Time as myha writes it: RFC 3339 for people, Unix milliseconds for comparisons, and the
//! time part of ids (records, requests, backups), which sort by time.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// RFC 3339 with milliseconds.
pub fn timestamp(t: SystemTime) -> String {
    humantime::format_rfc3339_millis(t).to_string()
}

/// A UTC time for ids (record, request and backup ids): RFC 3339 without `-` and `:`, so ids
/// sort by time — to the millisecond (`20261122T120724.945Z`) or the second (`…T120724Z`).
pub fn id_time(t: SystemTime, millis: bool) -> String {
    let text = if millis {
        humantime::format_rfc3339_millis(t).to_string()
    } else {
        humantime::format_rfc3339_seconds(t).to_string()
    };
    text.replace([':', '-'], "")
}

/// Unix milliseconds of a wall-clock time.
pub fn unix_ms(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH).unwrap_or(Duration::ZERO).as_millis() as u64
}

thread_local! {
    /// A simulation's wall clock on this thread: the wall time at the simulation's start and
    /// tokio's instant then (see [`simulate_wall_clock`]).
    static SIMULATED: std::cell::Cell<Option<(SystemTime, tokio::time::Instant)>> = const { std::cell::Cell::new(None) };
}

/// The wall clock, for records, blocks, request expiry and ids. A simulation pins it to
/// tokio's paused clock on its thread, so that everything measured in wall time follows the
/// simulated time and a schedule replays exactly.
pub fn now() -> SystemTime {
    match SIMULATED.with(|s| s.get()) {
        Some((wall, at)) => wall + tokio::time::Instant::now().saturating_duration_since(at),
        None => SystemTime::now(),
    }
}

/// From now on this thread's [`now`] is `start` plus the tokio time that passes (a
/// simulation's runtime, with paused time, on this thread).
#[cfg(any(test, feature = "testkit"))]
pub fn simulate_wall_clock(start: SystemTime) {
    SIMULATED.with(|s| s.set(Some((start, tokio::time::Instant::now()))));
}

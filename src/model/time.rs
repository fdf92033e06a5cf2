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

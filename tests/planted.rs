//! The simulator's power, shown: with defect 1 put back (a test-only switch in the
//! detector: one writable node in one snapshot is the master, whatever the master of
//! record), the CI's budget of random schedules finds a schedule that breaks an invariant.
//! A binary of its own: the switch is process-wide.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use myha::detect::planted::DEFECT_1;
use myha::sim::explore::explore;
use std::sync::atomic::Ordering;

#[test]
fn the_simulator_finds_defect_1_when_it_is_put_back() {
    DEFECT_1.store(true, Ordering::Relaxed);
    let threads = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2);
    // the same seeds as tests/simulation.rs, stopping at the first schedule that fails
    let summary = explore(0..10_000, threads, 1);
    DEFECT_1.store(false, Ordering::Relaxed);
    let found = summary.failed.first().expect("the CI seed budget must find defect 1");
    println!(
        "defect 1 found after {} schedules: seed {}\n{found}",
        summary.schedules, found.schedule.seed
    );
}

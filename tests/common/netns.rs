//! Run async code from inside a lab host's network namespace.
//!
//! The network namespace is a per-thread attribute on Linux: a fresh thread enters the host's
//! namespace with setns(2) and runs its own single-threaded runtime, so every socket the
//! future opens (MySQL, the EC2 API) originates from that host — partitions apply to it.

use nix::sched::{setns, CloneFlags};
use std::future::Future;

pub fn run_in<F, Fut, T>(namespace: &str, f: F) -> T
where
    F: FnOnce() -> Fut + Send + 'static,
    Fut: Future<Output = T>,
    T: Send + 'static,
{
    let path = format!("/run/netns/{namespace}");
    std::thread::spawn(move || {
        let ns = std::fs::File::open(&path).unwrap_or_else(|e| panic!("open {path}: {e}"));
        setns(&ns, CloneFlags::CLONE_NEWNET).unwrap_or_else(|e| panic!("setns {path}: {e}"));
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("tokio runtime");
        rt.block_on(f())
    })
    .join()
    .unwrap_or_else(|e| std::panic::resume_unwind(e))
}

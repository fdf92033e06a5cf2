//! `myha check-config FILE`.

use super::load_config;
use std::path::Path;
use std::process::ExitCode;

pub fn run(file: &Path) -> ExitCode {
    let cfg = match load_config(file) {
        Ok(c) => c,
        Err(code) => return code,
    };
    println!("{}: ok", file.display());
    for c in &cfg.clusters {
        println!(
            "  cluster {} ({}): {} nodes, VIP {}",
            c.name,
            c.flavor,
            c.nodes.len(),
            c.vip.describe()
        );
    }
    match &cfg.zookeeper {
        Some(zk) => println!(
            "  zookeeper {} (root {}, session {:?})",
            zk.connect, zk.root, zk.session_timeout
        ),
        None => println!("  no [zookeeper]: a manager with this file acts alone"),
    }
    ExitCode::SUCCESS
}

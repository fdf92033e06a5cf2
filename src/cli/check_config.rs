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
            "  cluster {} ({}): {} nodes, VIP {}, route tables: {}",
            c.name,
            c.flavor,
            c.nodes.len(),
            c.vip.address,
            c.vip
                .route_tables
                .iter()
                .cloned()
                .chain(c.vip.route_table_tag.iter().map(|t| format!("tag {t}")))
                .collect::<Vec<_>>()
                .join(", ")
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

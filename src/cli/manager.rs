//! `myha manager --config F [--id ID]`: the long-running service.

use super::{load_config, EXIT_CONFIG};
use std::path::Path;
use std::process::ExitCode;
use tokio::signal::unix::{signal, SignalKind};

pub async fn run(config: &Path, id: Option<String>) -> ExitCode {
    let cfg = match load_config(config) {
        Ok(c) => c,
        Err(code) => return code,
    };
    let Some(id) = id.or_else(|| cfg.manager.id.clone()) else {
        eprintln!(
            "myha: no manager id: pass --id, set MYHA_MANAGER_ID, or set manager.id in {}",
            config.display()
        );
        return ExitCode::from(EXIT_CONFIG);
    };
    let (mut term, mut int) = match (signal(SignalKind::terminate()), signal(SignalKind::interrupt())) {
        (Ok(t), Ok(i)) => (t, i),
        _ => {
            eprintln!("myha: cannot install signal handlers");
            return ExitCode::FAILURE;
        }
    };
    let shutdown = async move {
        tokio::select! {
            _ = term.recv() => {}
            _ = int.recv() => {}
        }
    };
    tracing::info!(manager = %id, config = %config.display(), "myha manager {} starting", env!("CARGO_PKG_VERSION"));
    // bound before anything connects: a manager that cannot serve its API does not start
    let addr = cfg.manager.http_listen;
    let listener = match tokio::net::TcpListener::bind(addr).await {
        Ok(l) => l,
        Err(e) => {
            let e = crate::api::ServeError::Bind { addr, source: e };
            tracing::error!("{e}");
            eprintln!("myha: {e}");
            return ExitCode::FAILURE;
        }
    };
    tracing::info!(listen = %addr, "HTTP API listening");
    crate::manager::edges::run_from_config(cfg, id, listener, shutdown).await;
    ExitCode::SUCCESS
}

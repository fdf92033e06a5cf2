//! The `myha` command: the manager service and the DBA command-line tool.

use clap::Parser;
use std::process::ExitCode;

fn main() -> ExitCode {
    let cli = myha::cli::Cli::parse();
    // the service logs what it does; a CLI command only what goes wrong
    let default_filter = match cli.command {
        myha::cli::Command::Manager { .. } | myha::cli::Command::BackupAgent { .. } => "info",
        _ => "warn",
    };
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("MYHA_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default_filter)),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("myha: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(myha::cli::run(cli))
}

//! Process plumbing every HakuRiver daemon needs the same way: logging and shutdown signals.

use std::io::IsTerminal;
use std::path::Path;

use hakuriver_config::{Config, ConfigError, Env};

pub mod preflight;

/// Loads the configuration for a daemon (see `hakuriver_config::load`), logging where it came
/// from and any unknown keys.
pub fn load_config(explicit: Option<&Path>) -> Result<Config, ConfigError> {
    let loaded = hakuriver_config::load(explicit, &Env::from_process())?;
    for warning in &loaded.warnings {
        tracing::warn!("{warning}");
    }
    tracing::info!(config = %loaded.source, "configuration loaded");
    Ok(loaded.config)
}

/// Logs to standard error (journald picks it up under systemd); `RUST_LOG` overrides the level.
pub fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,sqlx=warn,hyper=warn,reqwest=warn"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr)
        .init();
}

/// Completes on Ctrl-C or SIGTERM (what `systemctl stop` sends).
pub async fn shutdown_signal() {
    let ctrl_c = async {
        // If the handler cannot be installed, only SIGTERM stops us.
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        () = ctrl_c => {}
        () = term => {}
    }
}

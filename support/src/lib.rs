//! Process plumbing every HakuRiver daemon needs the same way: configuration and logging at
//! start, shutdown signals, preflight checks; files beneath a folder, and environment tarballs.

use std::io::IsTerminal;
use std::path::Path;

use hakuriver_config::{Config, ConfigError, Env, LogFormat};

pub mod beneath;
pub mod preflight;
pub mod registry;
pub mod request_rules;
pub mod tarballs;

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("logging.log_level {level:?} is not a level or tracing directive ({reason}); e.g. \"info\" or \"info,hakuriver_host=debug\"")]
    LogLevel { level: String, reason: String },
}

/// Loads the configuration for a daemon (see `hakuriver_config::load`), starts logging as it
/// says (`RUST_LOG` wins over `logging.log_level`), then logs where the configuration came from
/// and any unknown keys.
pub fn start(explicit: Option<&Path>) -> Result<Config, StartError> {
    let loaded = hakuriver_config::load(explicit, &Env::from_process())?;
    let logging = &loaded.config.logging;
    let filter = match tracing_subscriber::EnvFilter::try_from_default_env() {
        Ok(filter) => filter,
        Err(_) => {
            tracing_subscriber::EnvFilter::try_new(format!("{},sqlx=warn,hyper=warn,reqwest=warn", logging.log_level))
                .map_err(|e| StartError::LogLevel { level: logging.log_level.clone(), reason: e.to_string() })?
        }
    };
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    match logging.log_format {
        LogFormat::Text => builder.with_ansi(std::io::stderr().is_terminal()).init(),
        LogFormat::Json => builder.json().with_current_span(false).init(),
    }
    for warning in &loaded.warnings {
        tracing::warn!("{warning}");
    }
    tracing::info!(config = %loaded.source, "configuration loaded");
    Ok(loaded.config)
}

/// How long a stopped daemon waits for work left on blocking threads before it exits.
pub const BLOCKING_WORK_GRACE: std::time::Duration = std::time::Duration::from_secs(3);

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

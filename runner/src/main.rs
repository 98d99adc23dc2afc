//! `hakuriver-runner`: the compute-node agent.

use std::path::PathBuf;

use clap::Parser;
use hakuriver_config::Env;

#[derive(Parser)]
#[command(
    name = "hakuriver-runner",
    version,
    about = "The HakuRiver runner: registers this node with the host and runs its tasks"
)]
struct Args {
    /// Configuration file (else $HAKURIVER_CONFIG, else ~/.hakuriver/config.toml, else defaults).
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    hakuriver_support::init_tracing();
    let loaded = hakuriver_config::load(args.config.as_deref(), &Env::from_process())?;
    for warning in &loaded.warnings {
        tracing::warn!("{warning}");
    }
    tracing::info!(config = %loaded.source, "configuration loaded");
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?
        .block_on(hakuriver_runner::run(loaded.config, hakuriver_support::shutdown_signal()))
}

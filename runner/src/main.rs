//! `hakuriver-runner`: the compute-node agent.

use std::path::PathBuf;

use clap::Parser;

#[derive(Parser)]
#[command(
    name = "hakuriver-runner",
    version,
    about = "The HakuRiver runner: registers this node with the host and runs its tasks"
)]
struct Args {
    /// Configuration file (else $HAKURIVER_CONFIG, else ~/.hakuriver/config.toml, else defaults).
    #[arg(long, short = 'c', value_name = "FILE")]
    config: Option<PathBuf>,
    /// Print what this node would report to the host (registration and one heartbeat, as JSON:
    /// cores, memory, NUMA, GPUs) and exit.
    #[arg(long)]
    probe: bool,
    /// Check the port, folders, Docker and disk space, print one line per check, and exit (0:
    /// all passed). The same checks run before every start.
    #[arg(long)]
    check: bool,
}

fn main() -> anyhow::Result<()> {
    // The exec shim for tasks without a container (see `shim`): not a user-facing command.
    let raw: Vec<std::ffi::OsString> = std::env::args_os().collect();
    if raw.get(1).is_some_and(|a| a == hakuriver_runner::shim::SUBCOMMAND) {
        let error = hakuriver_runner::shim::exec(&raw[2..]);
        eprintln!("hakuriver: {error}");
        std::process::exit(127);
    }
    let args = Args::parse();
    let config = hakuriver_support::start(args.config.as_deref())?;
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;
    if args.probe {
        let report = runtime.block_on(hakuriver_runner::probe(&config))?;
        println!("{}", serde_json::to_string_pretty(&report)?);
        return Ok(());
    }
    let checks = runtime.block_on(hakuriver_runner::preflight::checks(&config));
    if !hakuriver_support::preflight::print_outcome(&checks, args.check) {
        std::process::exit(1);
    }
    if args.check {
        return Ok(());
    }
    let result = runtime.block_on(hakuriver_runner::run(config, hakuriver_support::shutdown_signal()));
    runtime.shutdown_timeout(hakuriver_support::BLOCKING_WORK_GRACE);
    result
}

//! `hakuriver`: the HakuRiver command line.
//!
//! Exit codes: 0 success; 1 failure; 2 usage or configuration error; 3 cannot reach the host;
//! 4 the host rejected the request (4xx; its `detail` is printed).

mod client;
mod commands;
mod table;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use hakuriver_config::Env;
use hakuriver_model::NodeInfo;

use client::{Client, ClientError};

#[derive(Parser)]
#[command(name = "hakuriver", version, about = "Command line for a HakuRiver cluster", propagate_version = true)]
struct Cli {
    /// Configuration file (else $HAKURIVER_CONFIG, else ~/.hakuriver/config.toml, else defaults).
    #[arg(long, global = true, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Host URL, overriding the configuration (e.g. http://10.0.0.1:8000).
    #[arg(long, global = true, value_name = "URL", env = "HAKURIVER_HOST")]
    host: Option<String>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Create configuration files.
    #[command(subcommand)]
    Init(InitCommand),
    /// List the cluster's nodes.
    #[command(
        after_help = "Example:\n  hakuriver nodes --json | jq '.[] | select(.status == \"online\") | .hostname'"
    )]
    Nodes {
        /// Print the host's JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Print the dashboard's URL (the host this command line talks to).
    Dashboard,
}

#[derive(Subcommand)]
enum InitCommand {
    /// Write the commented default configuration (host, runner and client keys).
    #[command(after_help = "Example:\n  hakuriver init config --path /etc/hakuriver/config.toml")]
    Config {
        /// Where to write it [default: $HAKURIVER_HOME/config.toml, i.e. ~/.hakuriver/config.toml].
        #[arg(long, value_name = "FILE")]
        path: Option<PathBuf>,
        /// Overwrite an existing file.
        #[arg(long)]
        force: bool,
    },
}

/// A failure and the exit code it maps to.
struct Failure {
    code: u8,
    message: String,
}

impl From<ClientError> for Failure {
    fn from(e: ClientError) -> Self {
        let code = match e {
            ClientError::Unreachable { .. } => 3,
            ClientError::Rejected { .. } => 4,
            ClientError::HostFailed { .. } | ClientError::BadAnswer(_) => 1,
        };
        Failure { code, message: e.to_string() }
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => return fail(Failure { code: 1, message: format!("cannot start: {e}") }),
    };
    match runtime.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) => fail(failure),
    }
}

fn fail(failure: Failure) -> ExitCode {
    eprintln!("error: {}", failure.message);
    ExitCode::from(failure.code)
}

async fn run(cli: Cli) -> Result<(), Failure> {
    let env = Env::from_process();
    match cli.command {
        Command::Init(InitCommand::Config { path, force }) => {
            let path = path.unwrap_or_else(|| env.home().join("config.toml"));
            commands::init::write_config(&path, force).map_err(|e| Failure { code: 1, message: e.to_string() })?;
            println!("wrote {}", path.display());
            Ok(())
        }
        Command::Dashboard => {
            println!("{}/", host_url(cli.config, cli.host, &env)?.trim_end_matches('/'));
            Ok(())
        }
        Command::Nodes { json } => {
            let client = client(cli.config, cli.host, &env)?;
            let nodes: Vec<NodeInfo> = client.get("/api/nodes").await?;
            if json {
                let text =
                    serde_json::to_string_pretty(&nodes).map_err(|e| Failure { code: 1, message: e.to_string() })?;
                println!("{text}");
            } else {
                print!("{}", commands::nodes::render_table(&nodes));
            }
            Ok(())
        }
    }
}

/// The host to talk to: `--host` (or `$HAKURIVER_HOST`), else the configuration's.
fn host_url(config: Option<PathBuf>, host: Option<String>, env: &Env) -> Result<String, Failure> {
    if let Some(url) = host {
        return Ok(url);
    }
    let loaded =
        hakuriver_config::load(config.as_deref(), env).map_err(|e| Failure { code: 2, message: e.to_string() })?;
    for warning in &loaded.warnings {
        eprintln!("warning: {warning}");
    }
    Ok(loaded.config.host_url())
}

fn client(config: Option<PathBuf>, host: Option<String>, env: &Env) -> Result<Client, Failure> {
    Ok(Client::new(&host_url(config, host, env)?)?)
}

//! `hakuriver-host`: loads the configuration, binds, and serves until Ctrl-C or SIGTERM.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;

use anyhow::Context;
use clap::{Parser, Subcommand};
use hakuriver_config::Config;
use hakuriver_host::db::backup;

#[derive(Parser)]
#[command(name = "hakuriver-host", version, about = "The HakuRiver host: cluster state, REST API and web dashboard")]
struct Args {
    /// Configuration file (else $HAKURIVER_CONFIG, else ~/.hakuriver/config.toml, else defaults).
    #[arg(long, short = 'c', value_name = "FILE")]
    config: Option<PathBuf>,
    /// Check ports, folders, Docker and disk space, print one line per check, and exit (0: all
    /// passed). The same checks run before every start.
    #[arg(long)]
    check: bool,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Write a consistent copy of the database to FILE, while the host runs or not.
    #[command(after_help = "Example (cron, nightly):\n  \
        0 2 * * * hakuriver-host --config /etc/hakuriver/config.toml backup --to /backup/hakuriver-$(date +\\%F).db")]
    Backup {
        #[arg(long, value_name = "FILE")]
        to: PathBuf,
        /// Replace FILE if it exists.
        #[arg(long)]
        force: bool,
    },
    /// Replace the database with a backup (the host must be stopped; the old file is kept).
    #[command(after_help = "Example:\n  sudo systemctl stop hakuriver-host\n  \
        hakuriver-host --config /etc/hakuriver/config.toml restore --from /backup/hakuriver-2026-11-26.db\n  \
        sudo systemctl start hakuriver-host")]
    Restore {
        #[arg(long, value_name = "FILE")]
        from: PathBuf,
    },
    /// Bring the nodes and task history of an original HakuRiver 0.3 database (its
    /// cluster_management.db) into this host's database. Safe to run again: what is here already
    /// is left as it is.
    #[command(after_help = "Example:\n  \
        hakuriver-host --config /etc/hakuriver/config.toml import-hakuriver /opt/hakuriver/cluster_management.db.bak")]
    ImportHakuriver {
        /// The original's SQLite database file (read only).
        #[arg(value_name = "OLD_DB")]
        old_db: PathBuf,
    },
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let config = hakuriver_support::start(args.config.as_deref())?;
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    let db = config.database.db_file.clone();
    if matches!(args.command, Some(Command::Backup { .. } | Command::Restore { .. })) && config.database.url.is_some() {
        anyhow::bail!(
            "the database is PostgreSQL ([database] url): back it up with `pg_dump -Fc URL > FILE` and restore with \
             `pg_restore --clean -d URL FILE` while the host is stopped"
        );
    }
    match args.command {
        Some(Command::Backup { to, force }) => {
            let size = runtime.block_on(backup::backup(&db, &to, force))?;
            println!("backed up {} to {} ({size} bytes, integrity checked)", db.display(), to.display());
            return Ok(());
        }
        Some(Command::Restore { from }) => {
            let kept = runtime.block_on(backup::restore(&db, &from))?;
            println!("restored {} from {}", db.display(), from.display());
            if let Some(kept) = kept {
                println!("the replaced database is kept as {}", kept.display());
            }
            return Ok(());
        }
        Some(Command::ImportHakuriver { old_db }) => {
            let done = runtime.block_on(async {
                let source = hakuriver_host::db::original::open(&old_db).await?;
                let target = hakuriver_host::db::open(hakuriver_host::db::Location::of(&config.database)).await?;
                hakuriver_host::db::original::import(&source, &target, &config.docker.default_container_name).await
            })?;
            println!("imported {}: {done}", old_db.display());
            return Ok(());
        }
        None => {}
    }
    let checks = runtime.block_on(hakuriver_host::preflight::checks(&config));
    if !hakuriver_support::preflight::print_outcome(&checks, args.check) {
        std::process::exit(1);
    }
    if args.check {
        return Ok(());
    }
    // One host per database file; a restore waits for this to be released.
    let _lock = backup::HostLock::acquire(&db)?;
    let result = runtime.block_on(run(config));
    // Work still running on blocking threads (a Docker call, a file copy) must not keep a stopped
    // host alive.
    runtime.shutdown_timeout(hakuriver_support::BLOCKING_WORK_GRACE);
    result
}

async fn run(config: Config) -> anyhow::Result<()> {
    let ip: IpAddr = config.network.host_bind_ip.parse().context("network.host_bind_ip")?;
    let addr = SocketAddr::new(ip, config.network.host_port);
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("cannot listen on {addr} (network.host_bind_ip / network.host_port)"))?;
    let shown = if ip.is_unspecified() { config.network.host_reachable_address.clone() } else { ip.to_string() };
    let port = config.network.host_port;
    let shutdown = hakuriver_support::shutdown_signal();
    match (&config.network.tls_cert_file, &config.network.tls_key_file) {
        (Some(cert), Some(key)) => {
            let acceptor =
                hakuriver_tls::acceptor(cert, key).context("network.tls_cert_file / network.tls_key_file")?;
            tracing::info!("HakuRiver host listening on {addr} (HTTPS)");
            println!("HakuRiver dashboard: https://{shown}:{port}/");
            let listener = hakuriver_tls::TlsListener::new(listener, acceptor)?;
            hakuriver_host::serve(config, listener, shutdown).await
        }
        _ => {
            tracing::info!("HakuRiver host listening on {addr}");
            println!("HakuRiver dashboard: http://{shown}:{port}/");
            hakuriver_host::serve(config, listener, shutdown).await
        }
    }
}

//! `hakuriver`: the HakuRiver command line.
//!
//! Exit codes: 0 success; 1 failure; 2 usage or configuration error; 3 cannot reach the host;
//! 4 the host rejected the request (4xx; its `detail` is printed).

mod client;
mod commands;
mod shell;
mod table;
mod tunnel;

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
    /// Submit, watch and control command tasks.
    #[command(subcommand)]
    Task(TaskCommand),
    /// Docker environments on the host: containers, tarballs, import.
    #[command(subcommand)]
    Docker(DockerCommand),
    /// VPS tasks: long-lived containers with sshd, reached through the host.
    #[command(subcommand)]
    Vps(VpsCommand),
    /// Log in to a VPS with the system ssh, through the host's SSH proxy.
    #[command(after_help = "Examples:\n  hakuriver ssh 7251863349413412864\n  \
        hakuriver ssh 7251863349413412864 -- -i ~/.ssh/vps_key uname -a\n  \
        hakuriver ssh 7251863349413412864 --print    # the stock `ssh -J` way, no HakuRiver needed")]
    Ssh {
        task_id: String,
        /// Print the equivalent `ssh -J` command and an ~/.ssh/config entry instead of connecting.
        #[arg(long)]
        print: bool,
        /// User to log in as.
        #[arg(long, default_value = "root")]
        user: String,
        /// Host address of the SSH proxy [default: the host's address].
        #[arg(long)]
        proxy_host: Option<String>,
        /// Port of the SSH proxy [default: network.host_ssh_proxy_port].
        #[arg(long)]
        proxy_port: Option<u16>,
        /// Local port to listen on (0: any free port).
        #[arg(long, default_value_t = 0)]
        local_port: u16,
        /// More arguments for ssh (options, then a remote command), after `--`.
        #[arg(last = true)]
        ssh_args: Vec<String>,
    },
}

#[derive(Subcommand)]
enum VpsCommand {
    /// Start a VPS for a public key; prints its task id (and port once it runs).
    #[command(after_help = "Examples:\n  hakuriver vps submit --target node1 --cores 2 --memory 4G\n  \
        hakuriver vps submit --public-key-file ~/.ssh/id_ed25519.pub --container my-env")]
    Submit {
        /// `node`, `node:numa` or `node::gpu,gpu`. None: the host places it.
        #[arg(long, short = 't')]
        target: Option<String>,
        /// CPU cores to reserve (0: no reservation, no limit).
        #[arg(long, default_value_t = 0)]
        cores: u32,
        /// Memory limit, e.g. 4G or 4Gi.
        #[arg(long)]
        memory: Option<String>,
        /// Environment (container) name.
        #[arg(long)]
        container: Option<String>,
        #[arg(long)]
        privileged: bool,
        /// Bind mount HOST:CONTAINER[:ro]; repeatable.
        #[arg(long = "mount")]
        mounts: Vec<String>,
        /// The public key itself.
        #[arg(long, conflicts_with = "public_key_file")]
        public_key_string: Option<String>,
        /// A public key file [default: ~/.ssh/id_rsa.pub, then ~/.ssh/id_ed25519.pub].
        #[arg(long)]
        public_key_file: Option<PathBuf>,
        #[arg(long)]
        json: bool,
        /// Print only the task id.
        #[arg(long, short)]
        quiet: bool,
    },
    /// List the VPS tasks that are not over.
    #[command(alias = "status")]
    List {
        #[arg(long)]
        json: bool,
        #[arg(long, short)]
        quiet: bool,
    },
    /// Stop and remove a VPS.
    Kill {
        id: String,
        #[arg(long)]
        json: bool,
    },
    /// Freeze a running VPS.
    Pause {
        id: String,
        #[arg(long)]
        json: bool,
    },
    /// Thaw a paused VPS.
    Resume {
        id: String,
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand)]
enum DockerCommand {
    /// List the host's environment containers.
    ListContainers {
        #[arg(long)]
        json: bool,
    },
    /// Create (and start) an environment container from an image on the host.
    #[command(after_help = "Example:\n  hakuriver docker create-container python:3.12-slim my-env")]
    CreateContainer { image: String, name: String },
    /// Start an environment container.
    StartContainer { name: String },
    /// Stop an environment container.
    StopContainer { name: String },
    /// Delete an environment container (a running one needs --force).
    DeleteContainer {
        name: String,
        #[arg(long)]
        force: bool,
    },
    /// Commit an environment container and save it as a new tarball for the runners.
    CreateTar { name: String },
    /// List environment tarballs in shared storage.
    ListTars {
        #[arg(long)]
        json: bool,
    },
    /// Make an environment from a tar file on the host (a root file system or a saved image).
    #[command(after_help = "Example:\n  hakuriver docker import /srv/images/debian-rootfs.tar debian")]
    Import { tar: PathBuf, name: String },
    /// Which runner has which version of each environment.
    Versions {
        #[arg(long)]
        json: bool,
    },
    /// Open a shell in an environment container (this terminal, raw; `exit` to leave).
    Shell { name: String },
}

#[derive(Subcommand)]
enum TaskCommand {
    /// Submit a command to one or more targets (one task each), or let the host place it.
    #[command(
        after_help = "Examples:\n  hakuriver task submit --target node1 --cores 2 --memory 4G -- python train.py\n  \
        hakuriver task submit --target node1:0 --target node2::0,1 --container NULL --wait -- ./run.sh"
    )]
    Submit {
        /// `node`, `node:numa` or `node::gpu,gpu`; repeat for a batch. None: the host places it.
        #[arg(long = "target", short = 't', value_name = "TARGET")]
        targets: Vec<String>,
        /// CPU cores to reserve (0: no reservation, no limit).
        #[arg(long, default_value_t = 1)]
        cores: u32,
        /// Memory limit, e.g. 512M, 4G (1000-based) or 4Gi.
        #[arg(long)]
        memory: Option<String>,
        /// Environment variable KEY=VALUE; repeatable.
        #[arg(long = "env", short = 'e', value_name = "KEY=VALUE")]
        env: Vec<String>,
        /// Environment (container) name, or NULL to run without a container.
        #[arg(long)]
        container: Option<String>,
        /// Run the container privileged.
        #[arg(long)]
        privileged: bool,
        /// Bind mount HOST:CONTAINER[:ro]; repeatable (replaces the configured mounts).
        #[arg(long = "mount", value_name = "HOST:CONTAINER[:ro]")]
        mounts: Vec<String>,
        /// Fail a target whose resources are busy instead of queueing.
        #[arg(long)]
        no_queue: bool,
        /// Wait for the tasks to end; the exit code is 0 only if all completed.
        #[arg(long)]
        wait: bool,
        #[arg(long)]
        json: bool,
        /// Print only the task ids.
        #[arg(long, short)]
        quiet: bool,
        /// The command and its arguments, after `--`.
        #[arg(last = true, required = true)]
        command: Vec<String>,
    },
    /// Show one task.
    Status {
        id: String,
        #[arg(long)]
        json: bool,
    },
    /// List tasks, newest first.
    List {
        /// Only these statuses (comma-separated).
        #[arg(long)]
        status: Option<String>,
        #[arg(long)]
        node: Option<String>,
        #[arg(long, default_value_t = 50)]
        limit: u32,
        #[arg(long)]
        json: bool,
        #[arg(long, short)]
        quiet: bool,
    },
    /// Print a task's output.
    Logs {
        id: String,
        /// Standard error instead of standard output.
        #[arg(long)]
        stderr: bool,
        /// Keep printing new output until the task ends.
        #[arg(long, short)]
        follow: bool,
    },
    /// Kill a task (a pending one never starts).
    Kill {
        id: String,
        #[arg(long)]
        json: bool,
    },
    /// Pause a running task.
    Pause {
        id: String,
        #[arg(long)]
        json: bool,
    },
    /// Resume a paused task.
    Resume {
        id: String,
        #[arg(long)]
        json: bool,
    },
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
        Ok(code) => code,
        Err(failure) => fail(failure),
    }
}

fn fail(failure: Failure) -> ExitCode {
    eprintln!("error: {}", failure.message);
    ExitCode::from(failure.code)
}

async fn run(cli: Cli) -> Result<ExitCode, Failure> {
    let env = Env::from_process();
    if let Command::Ssh { task_id, print, user, proxy_host, proxy_port, local_port, ssh_args } = cli.command {
        let (host, port) = proxy_address(cli.config, cli.host.as_deref(), &env, proxy_host, proxy_port)?;
        if print {
            print!("{}", commands::vps::print_ssh(&task_id, &host, port, &user));
            return Ok(ExitCode::SUCCESS);
        }
        let t = tunnel::Tunnel { task_id, proxy_host: host, proxy_port: port, local_port, user, ssh_args };
        return tunnel::run(t).await.map_err(failure);
    }
    run_command(cli, env).await.map(|()| ExitCode::SUCCESS)
}

async fn run_command(cli: Cli, env: Env) -> Result<(), Failure> {
    match cli.command {
        Command::Init(InitCommand::Config { path, force }) => {
            let path = path.unwrap_or_else(|| env.home().join("config.toml"));
            commands::init::write_config(&path, force).map_err(|e| Failure { code: 1, message: e.to_string() })?;
            println!("wrote {}", path.display());
            Ok(())
        }
        Command::Task(command) => task(client(cli.config, cli.host, &env)?, command).await,
        Command::Docker(command) => docker(client(cli.config, cli.host, &env)?, command).await,
        Command::Vps(command) => vps(client(cli.config, cli.host, &env)?, command).await,
        Command::Ssh { .. } => Err(failure("ssh is handled before")),
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

fn failure(message: impl ToString) -> Failure {
    Failure { code: 1, message: message.to_string() }
}

fn print_json(value: &impl serde::Serialize) -> Result<(), Failure> {
    println!("{}", serde_json::to_string_pretty(value).map_err(failure)?);
    Ok(())
}

async fn task(client: Client, command: TaskCommand) -> Result<(), Failure> {
    use commands::task as t;
    use hakuriver_model::api::Message;
    use hakuriver_model::task::SubmitResponse;
    use hakuriver_model::{TaskStatus, TaskView};
    match command {
        TaskCommand::Submit {
            targets,
            cores,
            memory,
            env,
            container,
            privileged,
            mounts,
            no_queue,
            wait,
            json,
            quiet,
            command,
        } => {
            let args = t::SubmitArgs { targets, cores, memory, env, container, privileged, mounts, no_queue, command };
            let request = t::request(args).map_err(|m| Failure { code: 2, message: m })?;
            let answer: SubmitResponse = client.post("/api/submit", &request).await?;
            if json {
                print_json(&answer)?;
            } else if quiet {
                answer.task_ids.iter().for_each(|id| println!("{id}"));
            } else {
                print!("{}", t::render_submit(&answer));
            }
            if !wait {
                return Ok(());
            }
            let mut all_completed = true;
            for id in &answer.task_ids {
                let done = loop {
                    let view: TaskView = client.get(&format!("/api/status/{id}")).await?;
                    if view.status.is_final() {
                        break view;
                    }
                    tokio::time::sleep(t::POLL).await;
                };
                if !quiet && !json {
                    println!(
                        "task {id}: {}{}",
                        done.status,
                        done.exit_code.map(|c| format!(" (exit {c})")).unwrap_or_default()
                    );
                }
                all_completed &= done.status == TaskStatus::Completed;
            }
            if all_completed {
                Ok(())
            } else {
                Err(Failure { code: 1, message: "a task did not complete".into() })
            }
        }
        TaskCommand::Status { id, json } => {
            let view: TaskView = client.get(&format!("/api/status/{id}")).await?;
            if json {
                print_json(&view)
            } else {
                print!("{}", t::render_status(&view));
                Ok(())
            }
        }
        TaskCommand::List { status, node, limit, json, quiet } => {
            let mut path = format!("/api/tasks?limit={limit}");
            if let Some(s) = status {
                path += &format!("&status={s}");
            }
            if let Some(n) = node {
                path += &format!("&node={n}");
            }
            let tasks: Vec<TaskView> = client.get(&path).await?;
            if json {
                print_json(&tasks)
            } else if quiet {
                tasks.iter().for_each(|t| println!("{}", t.task_id));
                Ok(())
            } else {
                print!("{}", t::render_list(&tasks));
                Ok(())
            }
        }
        TaskCommand::Logs { id, stderr, follow } => {
            let which = if stderr { "stderr" } else { "stdout" };
            let mut offset = 0;
            loop {
                let (text, next) = client.log(&format!("/api/task/{id}/{which}?offset={offset}")).await?;
                print!("{text}");
                offset = next.unwrap_or(offset);
                if !follow {
                    return Ok(());
                }
                let view: TaskView = client.get(&format!("/api/status/{id}")).await?;
                if view.status.is_final() && text.is_empty() {
                    return Ok(());
                }
                if text.is_empty() {
                    tokio::time::sleep(t::POLL).await;
                }
            }
        }
        TaskCommand::Kill { id, json } => {
            let m: Message = client.post(&format!("/api/kill/{id}"), &()).await?;
            print_message(&m, json)
        }
        TaskCommand::Pause { id, json } => {
            let m: Message = client.post(&format!("/api/command/{id}/pause"), &()).await?;
            print_message(&m, json)
        }
        TaskCommand::Resume { id, json } => {
            let m: Message = client.post(&format!("/api/command/{id}/resume"), &()).await?;
            print_message(&m, json)
        }
    }
}

async fn vps(client: Client, command: VpsCommand) -> Result<(), Failure> {
    use commands::vps as v;
    use hakuriver_model::api::Message;
    use hakuriver_model::task::SubmitResponse;
    use hakuriver_model::TaskView;
    match command {
        VpsCommand::Submit {
            target,
            cores,
            memory,
            container,
            privileged,
            mounts,
            public_key_string,
            public_key_file,
            json,
            quiet,
        } => {
            let usage = |m: String| Failure { code: 2, message: m };
            let home = std::env::var_os("HOME").map(PathBuf::from);
            let key = v::read_key(public_key_string, public_key_file, home.as_deref()).map_err(usage)?;
            let args = v::SubmitArgs { target, cores, memory, container, privileged, mounts, key };
            let request = v::request(args).map_err(usage)?;
            let answer: SubmitResponse = client.post("/api/submit", &request).await?;
            if json {
                return print_json(&answer);
            }
            let id = answer.task_ids.first().map(ToString::to_string).unwrap_or_default();
            if quiet {
                println!("{id}");
                return Ok(());
            }
            println!("{}", answer.message);
            println!("  VPS task {id}");
            match answer.runner_response.as_ref().and_then(|r| r["ssh_port"].as_u64()) {
                Some(port) => println!("  running; sshd on port {port} of its node\n  connect: hakuriver ssh {id}"),
                None => println!("  starting; `hakuriver vps list` shows when it runs"),
            }
            Ok(())
        }
        VpsCommand::List { json, quiet } => {
            let list: Vec<TaskView> = client.get("/api/vps/status").await?;
            if json {
                print_json(&list)
            } else if quiet {
                list.iter().for_each(|t| println!("{}", t.task_id));
                Ok(())
            } else {
                print!("{}", v::render_list(&list));
                Ok(())
            }
        }
        VpsCommand::Kill { id, json } => {
            let m: Message = client.post(&format!("/api/kill/{id}"), &()).await?;
            print_message(&m, json)
        }
        VpsCommand::Pause { id, json } => {
            let m: Message = client.post(&format!("/api/command/{id}/pause"), &()).await?;
            print_message(&m, json)
        }
        VpsCommand::Resume { id, json } => {
            let m: Message = client.post(&format!("/api/command/{id}/resume"), &()).await?;
            print_message(&m, json)
        }
    }
}

/// The host's SSH proxy: `--proxy-host`/`--proxy-port`, else the host of `--host` (or of the
/// configuration) and `network.host_ssh_proxy_port`.
fn proxy_address(
    config: Option<PathBuf>,
    host: Option<&str>,
    env: &Env,
    proxy_host: Option<String>,
    proxy_port: Option<u16>,
) -> Result<(String, u16), Failure> {
    let usage = |m: String| Failure { code: 2, message: m };
    let loaded = hakuriver_config::load(config.as_deref(), env).map_err(|e| usage(e.to_string()))?;
    let port = proxy_port.unwrap_or(loaded.config.network.host_ssh_proxy_port);
    let host = match (proxy_host, host) {
        (Some(h), _) => h,
        (None, Some(url)) => reqwest::Url::parse(url)
            .ok()
            .and_then(|u| u.host_str().map(|h| h.trim_start_matches('[').trim_end_matches(']').to_string()))
            .ok_or_else(|| usage(format!("--host {url:?} is not a URL")))?,
        (None, None) => loaded.config.network.host_reachable_address.clone(),
    };
    Ok((host, port))
}

async fn docker(client: Client, command: DockerCommand) -> Result<(), Failure> {
    use commands::docker as d;
    use hakuriver_model::api::Message;
    use hakuriver_model::env::{CreateEnvRequest, EnvContainer, EnvVersions, TarballList};
    let message = |m: Message| {
        println!("{}", m.message);
        Ok(())
    };
    match command {
        DockerCommand::ListContainers { json } => {
            let list: Vec<EnvContainer> = client.get("/api/docker/host/containers").await?;
            if json {
                print_json(&list)
            } else {
                print!("{}", d::render_containers(&list));
                Ok(())
            }
        }
        DockerCommand::CreateContainer { image, name } => message(
            client
                .post("/api/docker/host/create", &CreateEnvRequest { image_name: image, container_name: name })
                .await?,
        ),
        DockerCommand::StartContainer { name } => {
            message(client.post(&format!("/api/docker/host/start/{name}"), &()).await?)
        }
        DockerCommand::StopContainer { name } => {
            message(client.post(&format!("/api/docker/host/stop/{name}"), &()).await?)
        }
        DockerCommand::DeleteContainer { name, force } => {
            message(client.post(&format!("/api/docker/host/delete/{name}?force={force}"), &()).await?)
        }
        DockerCommand::CreateTar { name } => {
            let answer: serde_json::Value =
                client.post(&format!("/api/docker/create_tar/{name}?background=true"), &()).await?;
            finish_operation(&client, &answer).await
        }
        DockerCommand::ListTars { json } => {
            let tars: TarballList = client.get("/api/docker/list").await?;
            if json {
                print_json(&tars)
            } else {
                print!("{}", d::render_tars(&tars));
                Ok(())
            }
        }
        DockerCommand::Import { tar, name } => {
            let path = std::path::absolute(&tar).map_err(failure)?;
            let body = serde_json::json!({"path": path, "name": name, "background": true});
            let answer: serde_json::Value = client.post("/api/docker/import", &body).await?;
            finish_operation(&client, &answer).await
        }
        DockerCommand::Shell { name } => {
            shell::run(client.base(), &name).await.map_err(|m| Failure { code: 4, message: m })
        }
        DockerCommand::Versions { json } => {
            let versions: std::collections::BTreeMap<String, EnvVersions> = client.get("/api/docker/versions").await?;
            if json {
                print_json(&versions)
            } else {
                print!("{}", d::render_versions(&versions));
                Ok(())
            }
        }
    }
}

/// Follows the operation an answer started and prints the tarball it made.
async fn finish_operation(client: &Client, answer: &serde_json::Value) -> Result<(), Failure> {
    use hakuriver_model::operation::OperationState;
    let id = answer["operation_id"].as_u64().ok_or_else(|| failure("the host did not start an operation"))?;
    let op = commands::docker::follow_operation(client, id).await?;
    match op.state {
        OperationState::Succeeded => {
            let path = op.result.as_ref().and_then(|r| r["tarball_path"].as_str()).unwrap_or_default().to_string();
            println!("{path}");
            Ok(())
        }
        state => Err(failure(format!("{} {state:?}: {}", op.kind, op.error.unwrap_or_default()))),
    }
}

fn print_message(m: &hakuriver_model::api::Message, json: bool) -> Result<(), Failure> {
    if json {
        print_json(m)
    } else {
        println!("{}", m.message);
        Ok(())
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

//! `hakuriver`: the HakuRiver command line, for people and for scripts.
//!
//! Exit codes (see `exit`): 0 success; 1 a task did not complete, or another failure; 2 usage or
//! configuration error; 3 cannot reach the host; 4 the host rejected the request; 130 interrupted.

mod client;
mod commands;
mod context;
mod exit;
mod forward;
mod output;
mod shapes;
mod shell;
mod sse;
mod sweep;
mod table;
mod tunnel;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{CommandFactory, Parser, Subcommand};
use hakuriver_config::Env;

use commands::docker::DockerCommand;
use commands::init::{Role, Unit};
use commands::node::NodeCommand;
use commands::task::TaskCommand;
use commands::vps::VpsCommand;
use context::Ctx;
use exit::Failure;
use output::{ColorChoice, Mode, Output};

const ABOUT: &str = "Command line for a HakuRiver cluster: tasks, VPS, nodes, Docker environments.";

const EXAMPLES: &str = "Examples:\n  hakuriver node list\n  \
    hakuriver task submit --target node1 --cores 2 -- python train.py\n  \
    hakuriver task list --status running --json\n  \
    hakuriver vps submit && hakuriver ssh TASK_ID\n\n\
    Exit codes: 0 ok, 1 a task failed (--wait) or another failure, 2 usage error,\n\
    3 cannot reach the host, 4 the host rejected the request, 130 interrupted.";

#[derive(Parser)]
#[command(name = "hakuriver", version, about = ABOUT, after_help = EXAMPLES, propagate_version = true)]
struct Cli {
    /// Configuration file [default: $HAKURIVER_CONFIG, else ~/.hakuriver/config.toml, else built-in].
    #[arg(long, short = 'c', global = true, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Host URL, overriding the configuration (e.g. http://10.0.0.1:8000).
    #[arg(long, global = true, value_name = "URL", env = "HAKURIVER_HOST")]
    host: Option<String>,
    /// Print the result as JSON (the API's types; shapes in docs/cli.md).
    #[arg(long, global = true, conflicts_with = "quiet")]
    json: bool,
    /// Print only ids (task ids, hostnames, names), one per line.
    #[arg(long, short, global = true)]
    quiet: bool,
    /// Colour the output: auto (a terminal without NO_COLOR), always or never.
    #[arg(long, global = true, value_enum, default_value_t = ColorChoice::Auto, value_name = "WHEN")]
    color: ColorChoice,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// The cluster's nodes.
    #[command(subcommand)]
    Node(NodeCommand),
    /// The original's `hakuriver.client nodes`: the same as `node list`.
    #[command(hide = true, after_help = "Example:\n  hakuriver nodes --json")]
    Nodes,
    /// Cluster health: every node's latest readings and the host's warnings.
    #[command(after_help = "Examples:\n  hakuriver health\n  hakuriver health node1 --json")]
    Health {
        /// Only this node.
        node: Option<String>,
    },
    /// Usage per user or node over a window: tasks, core-, CPU- and GPU-hours (like sreport).
    #[command(after_help = "Examples:\n  hakuriver usage\n  hakuriver usage --since 30d --by node\n  \
        hakuriver usage --since 2026-11-01 --json")]
    Usage {
        /// Start of the window: a span back from now (7d, 12h) or a UTC date (2026-11-01).
        #[arg(long, default_value = hakuriver_model::usage::DEFAULT_SINCE)]
        since: String,
        /// Group by user or node.
        #[arg(long, default_value = "user", value_parser = |s: &str| s.parse::<hakuriver_model::usage::UsageBy>())]
        by: hakuriver_model::usage::UsageBy,
    },
    /// Command tasks: submit, list, status, logs, wait, kill, pause, resume.
    #[command(subcommand)]
    Task(TaskCommand),
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
    /// Reach a port inside a running task or VPS from this machine (Jupyter, TensorBoard, a
    /// debugger), through the host: one websocket per connection, the host's TLS and token.
    #[command(after_help = "Examples:\n  \
        hakuriver forward 7251863349413412864 8888          # Jupyter at http://127.0.0.1:8888\n  \
        hakuriver forward 7251863349413412864 16006:6006    # TensorBoard at http://127.0.0.1:16006\n  \
        hakuriver forward 7251863349413412864 0:8080 --json # any free local port, said in JSON")]
    Forward {
        task_id: String,
        /// `[LOCAL:]REMOTE`: the port inside the task, and the local one (the same when not
        /// given; 0 for any free port).
        #[arg(value_name = "[LOCAL:]REMOTE")]
        ports: String,
        /// The local address to listen on (anything but loopback lets others on your network in).
        #[arg(long, default_value = "127.0.0.1")]
        address: String,
    },
    /// API tokens (admins): create, list, revoke.
    #[command(subcommand)]
    Token(commands::token::TokenCommand),
    /// Docker environments on the host: containers, tarballs, import.
    #[command(subcommand)]
    Docker(DockerCommand),
    /// Expand `span:` arguments (the original's hakurun): print the command lines, or run them here.
    #[command(
        after_help = "Examples:\n  hakuriver sweep -- python train.py --lr span:[0.1,0.01] --seed span:{1..4}\n  \
        hakuriver sweep --local --parallel -- ./bench.sh span:{1..8}\n  \
        hakuriver sweep --local -j 4 -- python eval.py span:[a,b,c]\n\n\
        To run a sweep on the cluster, give the same spans to `hakuriver task submit`."
    )]
    Sweep {
        /// Run the command lines on this machine (else print them).
        #[arg(long)]
        local: bool,
        /// Run them all at once (with --local).
        #[arg(long, requires = "local")]
        parallel: bool,
        /// Run at most N at once (with --local).
        #[arg(long, short, value_name = "N", requires = "local")]
        jobs: Option<usize>,
        /// The command; `span:{A..B}` and `span:[x,y]` arguments are expanded.
        #[arg(last = true, required = true, value_name = "COMMAND")]
        command: Vec<String>,
    },
    /// Create configuration files and systemd units.
    #[command(subcommand)]
    Init(InitCommand),
    /// Print the dashboard's URL (the host this command line talks to).
    #[command(after_help = "Example:\n  xdg-open \"$(hakuriver dashboard)\"")]
    Dashboard,
    /// Print a shell completion script.
    #[command(
        after_help = "Examples:\n  hakuriver completions bash > ~/.local/share/bash-completion/completions/hakuriver\n  \
        hakuriver completions zsh > ~/.zfunc/_hakuriver\n  \
        hakuriver completions fish > ~/.config/fish/completions/hakuriver.fish"
    )]
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
}

#[derive(Subcommand)]
enum InitCommand {
    /// Write the commented default configuration (host, runner and client keys).
    #[command(
        after_help = "Examples:\n  hakuriver init config\n  hakuriver init config --path /etc/hakuriver/config.toml"
    )]
    Config {
        /// Where to write it [default: $HAKURIVER_HOME/config.toml, i.e. ~/.hakuriver/config.toml].
        #[arg(long, value_name = "FILE")]
        path: Option<PathBuf>,
        /// Overwrite an existing file.
        #[arg(long)]
        force: bool,
    },
    /// Write systemd units for the host and/or the runner, and print how to install them.
    /// (The roles are words because `--host` is the global host URL; the original's
    /// `--host`/`--runner`/`--all` flags are accepted here too.)
    #[command(after_help = "Examples:\n  hakuriver init service host --config /etc/hakuriver/config.toml\n  \
        hakuriver init service runner --user lab --output-dir /tmp/units\n  \
        hakuriver init service all")]
    Service {
        /// Which units: host, runner, or all.
        #[arg(value_enum, required = true, value_name = "ROLE")]
        roles: Vec<UnitChoice>,
        /// Folder to write the units into.
        #[arg(long, value_name = "DIR", default_value = ".")]
        output_dir: PathBuf,
        /// Folder with hakuriver-host and hakuriver-runner [default: this program's folder].
        #[arg(long, value_name = "DIR")]
        bin_dir: Option<PathBuf>,
        /// User the services run as [default: the current user].
        #[arg(long)]
        user: Option<String>,
        /// Group the services run as [default: the user's name].
        #[arg(long)]
        group: Option<String>,
        /// Overwrite existing unit files.
        #[arg(long)]
        force: bool,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum UnitChoice {
    Host,
    Runner,
    All,
}

impl UnitChoice {
    fn covers(self, role: Role) -> bool {
        matches!(
            (self, role),
            (UnitChoice::All, _) | (UnitChoice::Host, Role::Host) | (UnitChoice::Runner, Role::Runner)
        )
    }
}

/// The original's `init service --host|--runner|--all` flags as this command line's role words
/// (`--host` alone is the global host URL): only after `init service`, where no URL is needed.
fn original_service_flags(args: Vec<std::ffi::OsString>) -> Vec<std::ffi::OsString> {
    let service_at = args.windows(2).position(|w| w[0] == "init" && w[1] == "service").map(|i| i + 2);
    let Some(start) = service_at else { return args };
    args.into_iter()
        .enumerate()
        .map(|(i, arg)| match arg.to_str() {
            Some(flag @ ("--host" | "--runner" | "--all")) if i >= start => flag.trim_start_matches('-').into(),
            _ => arg,
        })
        .collect()
}

fn main() -> ExitCode {
    let cli = Cli::parse_from(original_service_flags(std::env::args_os().collect()));
    let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => return fail(Failure::failed(format!("cannot start: {e}"))),
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
    let ctx = Ctx {
        config: cli.config,
        host: cli.host,
        env: Env::from_process(),
        out: Output::from_flags(cli.json, cli.quiet, cli.color),
    };
    match cli.command {
        Command::Node(c) => commands::node::run(&ctx, c).await?,
        Command::Nodes => commands::node::run(&ctx, NodeCommand::List).await?,
        Command::Health { node } => commands::health::run(&ctx, node).await?,
        Command::Usage { since, by } => commands::usage::run(&ctx, since, by).await?,
        Command::Task(c) => commands::task::run(&ctx, c).await?,
        Command::Vps(c) => commands::vps::run(&ctx, c).await?,
        Command::Docker(c) => commands::docker::run(&ctx, c).await?,
        Command::Token(c) => commands::token::run(&ctx, c).await?,
        Command::Ssh { task_id, print, user, proxy_host, proxy_port, local_port, ssh_args } => {
            only_for_people(&ctx, "ssh")?;
            let a = commands::ssh::SshArgs { task_id, print, user, proxy_host, proxy_port, local_port, ssh_args };
            return commands::ssh::run(&ctx, a).await;
        }
        Command::Forward { task_id, ports, address } => {
            return commands::forward::run(&ctx, commands::forward::ForwardArgs { task_id, ports, address }).await;
        }
        Command::Sweep { local, parallel, jobs, command } => {
            commands::sweep::run(&ctx, commands::sweep::SweepArgs { local, parallel, jobs, command }).await?
        }
        Command::Init(c) => init(&ctx, c)?,
        Command::Dashboard => {
            let url = format!("{}/", ctx.host_url()?.trim_end_matches('/'));
            ctx.out.print(&url, || vec![url.clone()], || format!("{url}\n"))?;
        }
        Command::Completions { shell } => {
            only_for_people(&ctx, "completions")?;
            clap_complete::generate(shell, &mut Cli::command(), "hakuriver", &mut std::io::stdout());
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Interactive commands and scripts for shells have no JSON or id-only form.
fn only_for_people(ctx: &Ctx, command: &str) -> Result<(), Failure> {
    match ctx.out.mode {
        Mode::Human => Ok(()),
        _ => Err(Failure::usage(format!("`{command}` has no --json or --quiet output"))),
    }
}

fn init(ctx: &Ctx, command: InitCommand) -> Result<(), Failure> {
    use commands::init;
    match command {
        InitCommand::Config { path, force } => {
            let path = path.unwrap_or_else(|| ctx.env.home().join("config.toml"));
            init::write_config(&path, force).map_err(Failure::failed)?;
            let shown = path.display().to_string();
            ctx.out.print(&shown, || vec![shown.clone()], || format!("wrote {shown}\n"))?;
        }
        InitCommand::Service { roles, output_dir, bin_dir, user, group, force } => {
            let roles: Vec<Role> =
                [Role::Host, Role::Runner].into_iter().filter(|role| roles.iter().any(|c| c.covers(*role))).collect();
            let config = match &ctx.config {
                Some(path) => path.clone(),
                None => match ctx.env.get("HAKURIVER_CONFIG") {
                    Some(path) => PathBuf::from(path),
                    None => ctx.env.home().join("config.toml"),
                },
            };
            let absolute = |p: &std::path::Path| {
                std::path::absolute(p).map_err(|e| Failure::usage(format!("{}: {e}", p.display())))
            };
            let config = absolute(&config)?;
            let bin_dir = match bin_dir {
                Some(dir) => absolute(&dir)?,
                None => std::env::current_exe()
                    .ok()
                    .and_then(|exe| exe.parent().map(std::path::Path::to_path_buf))
                    .ok_or_else(|| Failure::usage("cannot tell where this program lives; pass --bin-dir"))?,
            };
            let effective = || {
                let passwd = std::fs::read_to_string("/etc/passwd").unwrap_or_default();
                commands::init::user_name_of(&passwd, rustix::process::geteuid().as_raw())
            };
            let user = match user.or_else(|| ctx.env.get("USER").map(String::from)).or_else(effective) {
                Some(u) => u,
                None => {
                    return Err(Failure::usage(
                        "cannot tell the current user (no $USER, no /etc/passwd entry); pass --user",
                    ))
                }
            };
            let group = group.unwrap_or_else(|| user.clone());
            let mut written = Vec::new();
            for role in &roles {
                let binary = bin_dir.join(role.binary());
                if !binary.is_file() {
                    eprintln!("warning: {} does not exist (yet); the unit points there", binary.display());
                }
                let unit =
                    Unit { role: *role, binary, config: config.clone(), user: user.clone(), group: group.clone() };
                written.push(init::write_unit(&output_dir, &unit, force).map_err(Failure::failed)?);
            }
            if !config.is_file() {
                eprintln!("warning: {} does not exist yet; write it with `hakuriver init config`", config.display());
            }
            let shown: Vec<String> = written.iter().map(|p| p.display().to_string()).collect();
            let human = || {
                let mut text: String = shown.iter().map(|p| format!("wrote {p}\n")).collect();
                text += &init::install_hint(&written, &roles);
                text
            };
            ctx.out.print(&shown, || shown.clone(), human)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_original_service_flags_become_role_words() {
        let args = |v: &[&str]| v.iter().map(std::ffi::OsString::from).collect::<Vec<_>>();
        assert_eq!(
            original_service_flags(args(&["hakuriver", "init", "service", "--host", "--output-dir", "x"])),
            args(&["hakuriver", "init", "service", "host", "--output-dir", "x"])
        );
        assert_eq!(
            original_service_flags(args(&["hakuriver", "--host", "http://h", "node", "list"])),
            args(&["hakuriver", "--host", "http://h", "node", "list"]),
            "the global flag elsewhere is left alone"
        );
        let parsed =
            Cli::try_parse_from(original_service_flags(args(&["hakuriver", "init", "service", "--runner", "--all"])));
        assert!(parsed.is_ok());
    }

    #[test]
    fn the_originals_spellings_parse() {
        let cli = Cli::try_parse_from(["hakuriver", "-c", "/etc/hakuriver/config.toml", "nodes"]).unwrap();
        assert!(matches!(cli.command, Command::Nodes));
        assert_eq!(cli.config, Some(PathBuf::from("/etc/hakuriver/config.toml")));
    }

    /// Every command, at every level, explains itself with an example.
    #[test]
    fn every_command_has_help_with_an_example() {
        fn walk(cmd: &clap::Command, path: &str, missing: &mut Vec<String>) {
            let path = format!("{path} {}", cmd.get_name());
            if cmd.has_subcommands() {
                for sub in cmd.get_subcommands().filter(|s| s.get_name() != "help") {
                    walk(sub, &path, missing);
                }
            } else if !cmd.get_after_help().is_some_and(|h| h.to_string().contains("Example")) {
                missing.push(path);
            }
        }
        let cli = Cli::command();
        cli.clone().debug_assert();
        let mut missing = Vec::new();
        walk(&cli, "", &mut missing);
        assert!(missing.is_empty(), "commands without an example in --help: {missing:?}");
    }
}

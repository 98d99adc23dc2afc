//! `hakuriver vps ...` and the text of `hakuriver ssh --print`.

use std::path::{Path, PathBuf};

use clap::Subcommand;
use hakuriver_model::env::{VpsSaveRequest, VpsSnapshot};
use hakuriver_model::sshkey::parse_public_key;
use hakuriver_model::task::{SubmitResponse, TaskQuery};
use hakuriver_model::TaskType;
use hakuriver_model::{parse_bytes, TaskRequest, TaskView};

use super::action::{self, Action};
use crate::client::seg;
use crate::context::Ctx;
use crate::exit::Failure;
use crate::output::Output;
use crate::output::Tone;
use crate::table::{self, Cell};

#[derive(Subcommand)]
pub enum VpsCommand {
    /// Start a VPS for a public key; prints its task id (and its port once it runs).
    #[command(after_help = "Examples:\n  hakuriver vps submit --target node1 --cores 2 --memory 4G\n  \
        hakuriver vps submit --public-key-file ~/.ssh/id_ed25519.pub --container my-env\n  \
        ID=$(hakuriver vps submit -q) && hakuriver ssh \"$ID\"")]
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
        #[arg(long, conflicts_with = "image")]
        container: Option<String>,
        /// Run in this registry image instead of an environment (it needs sshd or a package
        /// manager to install it).
        #[arg(long, value_name = "REF")]
        image: Option<String>,
        /// Run the container privileged.
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
        /// A name to find it by.
        #[arg(long)]
        name: Option<String>,
        /// Time limit (7d, 12h): the VPS is stopped and removed at it, ending `timeout`.
        #[arg(long, value_name = "SPAN")]
        time: Option<String>,
    },
    /// List VPS tasks: those not over (the original's `vps status`), or all with --all.
    #[command(alias = "status", after_help = "Examples:\n  hakuriver vps list\n  hakuriver vps list --all --json")]
    List {
        /// Also the ones that ended.
        #[arg(long)]
        all: bool,
    },
    /// Stop and remove VPS tasks.
    #[command(after_help = "Example:\n  hakuriver vps kill 7251863349413412864")]
    Kill {
        #[arg(required = true, value_name = "TASK_ID")]
        ids: Vec<String>,
    },
    /// Freeze running VPS tasks.
    #[command(after_help = "Example:\n  hakuriver vps pause 7251863349413412864")]
    Pause {
        #[arg(required = true, value_name = "TASK_ID")]
        ids: Vec<String>,
    },
    /// Thaw paused VPS tasks.
    #[command(after_help = "Example:\n  hakuriver vps resume 7251863349413412864")]
    Resume {
        #[arg(required = true, value_name = "TASK_ID")]
        ids: Vec<String>,
    },
    /// Shut VPS tasks down, keeping their disks on their nodes (they hold no cores or memory
    /// while off); `vps start` brings them back.
    #[command(after_help = "Example:\n  hakuriver vps stop 7251863349413412864")]
    Stop {
        #[arg(required = true, value_name = "TASK_ID")]
        ids: Vec<String>,
    },
    /// Start stopped VPS tasks again on their nodes, with their disks (queued until the node has room).
    #[command(after_help = "Example:\n  hakuriver vps start 7251863349413412864")]
    Start {
        #[arg(required = true, value_name = "TASK_ID")]
        ids: Vec<String>,
    },
    /// Save a VPS (running, paused or stopped) as a new version of environment NAME: its
    /// container committed (paused meanwhile) and saved into shared storage, like
    /// `docker tar create`. Tasks and VPS then run from it with `--container NAME`.
    #[command(after_help = "Examples:\n  hakuriver vps save 7251863349413412864 my-box\n  \
        hakuriver task submit --container my-box -- ./train.sh")]
    Save {
        #[arg(value_name = "TASK_ID")]
        id: String,
        /// The environment to save it as (a new tarball version; the newest `docker.vps_snapshots_kept` are kept).
        name: String,
    },
    /// The tarballs saved from a VPS, newest first, and whether each is still kept.
    #[command(after_help = "Example:\n  hakuriver vps snapshots 7251863349413412864 --json")]
    Snapshots {
        #[arg(value_name = "TASK_ID")]
        id: String,
    },
}

pub async fn run(ctx: &Ctx, command: VpsCommand) -> Result<(), Failure> {
    match command {
        VpsCommand::Submit {
            target,
            cores,
            memory,
            container,
            image,
            privileged,
            mounts,
            public_key_string,
            public_key_file,
            name,
            time,
        } => {
            let home = std::env::var_os("HOME").map(PathBuf::from);
            let key = read_key(public_key_string, public_key_file, home.as_deref()).map_err(Failure::usage)?;
            let args = SubmitArgs { target, cores, memory, container, image, privileged, mounts, key, name, time };
            let request = request(args).map_err(Failure::usage)?;
            let answer: SubmitResponse = ctx.client()?.post("/api/submit", &request).await?;
            let ids = || answer.task_ids.iter().map(ToString::to_string).collect();
            ctx.out.print(&answer, ids, || render_submit(&answer))?;
            match answer.failed_targets.first() {
                Some(f) => Err(Failure::new(crate::exit::REJECTED, format!("{}: {}", f.target, f.reason))),
                None => Ok(()),
            }
        }
        VpsCommand::List { all } => {
            let client = ctx.client()?;
            let list: Vec<TaskView> = if all {
                client.get_query("/api/vps", &TaskQuery { limit: Some(1000), ..Default::default() }).await?
            } else {
                client.get("/api/vps/status").await?
            };
            let ids = || list.iter().map(|t| t.task_id.to_string()).collect();
            ctx.out.print(&list, ids, || render_list(&ctx.out, &list))?;
            Ok(())
        }
        VpsCommand::Kill { ids } => action::run(ctx, Action::Kill, &ids).await,
        VpsCommand::Pause { ids } => action::run(ctx, Action::Pause, &ids).await,
        VpsCommand::Resume { ids } => action::run(ctx, Action::Resume, &ids).await,
        VpsCommand::Stop { ids } => action::run(ctx, Action::Stop, &ids).await,
        VpsCommand::Start { ids } => action::run(ctx, Action::Start, &ids).await,
        VpsCommand::Save { id, name } => {
            let client = ctx.client()?;
            let body = VpsSaveRequest { name, background: true };
            let answer: hakuriver_model::operation::OperationStarted =
                client.post(&format!("/api/vps/{}/save", seg(&id)), &body).await?;
            super::docker::finish_operation(ctx, &client, &answer).await
        }
        VpsCommand::Snapshots { id } => {
            let list: Vec<VpsSnapshot> = ctx.client()?.get(&format!("/api/vps/{}/snapshots", seg(&id))).await?;
            let ids = || list.iter().map(|s| s.tarball.clone()).collect();
            ctx.out.print(&list, ids, || render_snapshots(&ctx.out, &list))?;
            Ok(())
        }
    }
}

fn render_submit(answer: &SubmitResponse) -> String {
    let mut text = format!("{}\n", answer.message);
    for f in &answer.failed_targets {
        text += &format!("  failed {}: {}\n", f.target, f.reason);
    }
    let Some(id) = answer.task_ids.first() else { return text };
    text += &format!("  VPS task {id}\n");
    match answer.runner_response.as_ref().and_then(|r| r["ssh_port"].as_u64()) {
        Some(port) => text += &format!("  running; sshd on port {port} of its node\n  connect: hakuriver ssh {id}\n"),
        None => text += "  starting; `hakuriver vps list` shows when it runs\n",
    }
    text
}

/// Options of `vps submit`, as typed.
pub struct SubmitArgs {
    pub target: Option<String>,
    pub cores: u32,
    pub memory: Option<String>,
    pub container: Option<String>,
    pub image: Option<String>,
    pub privileged: bool,
    pub mounts: Vec<String>,
    pub key: String,
    pub name: Option<String>,
    pub time: Option<String>,
}

/// The public key: `--public-key-string`, else `--public-key-file`, else `~/.ssh/id_rsa.pub`,
/// then `~/.ssh/id_ed25519.pub` (the original's order). Checked before anything is sent.
pub fn read_key(string: Option<String>, file: Option<PathBuf>, home: Option<&Path>) -> Result<String, String> {
    let (text, source) = match (string, file) {
        (Some(s), _) => (s, "--public-key-string".to_string()),
        (None, Some(path)) => {
            let text = std::fs::read_to_string(&path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
            (text, path.display().to_string())
        }
        (None, None) => {
            let home = home.ok_or("no public key given and no home folder to look in: use --public-key-file")?;
            let found = ["id_rsa.pub", "id_ed25519.pub"]
                .iter()
                .map(|name| home.join(".ssh").join(name))
                .find(|p| p.is_file())
                .ok_or("no public key given and none in ~/.ssh (id_rsa.pub, id_ed25519.pub): use --public-key-file")?;
            let text = std::fs::read_to_string(&found).map_err(|e| format!("cannot read {}: {e}", found.display()))?;
            (text, found.display().to_string())
        }
    };
    let key = parse_public_key(&text).map_err(|e| format!("{source}: not an SSH public key: {e}"))?;
    let mut line = key.authorized_key();
    if !key.comment.is_empty() {
        line = format!("{line} {}", key.comment);
    }
    Ok(line)
}

pub fn request(a: SubmitArgs) -> Result<TaskRequest, String> {
    let memory = a.memory.as_deref().map(parse_bytes).transpose().map_err(|e| format!("--memory: {e}"))?;
    // `node::gpu,gpu` names GPUs the same way as for tasks.
    let (targets, gpus) = match a.target {
        Some(t) => match t.split_once("::") {
            Some((node, ids)) => {
                let ids = ids
                    .split(',')
                    .map(|i| i.trim().parse::<u32>().map_err(|_| format!("--target {t:?}: bad GPU id {i:?}")))
                    .collect::<Result<Vec<_>, _>>()?;
                (Some(vec![node.to_string()]), Some(vec![ids]))
            }
            None => (Some(vec![t]), None),
        },
        None => (None, None),
    };
    Ok(TaskRequest {
        task_type: TaskType::Vps.as_str().into(),
        command: a.key,
        arguments: Vec::new(),
        env_vars: Default::default(),
        required_cores: a.cores,
        required_gpus: gpus,
        required_memory_bytes: memory,
        targets,
        container_name: a.container,
        privileged: a.privileged.then_some(true),
        additional_mounts: (!a.mounts.is_empty()).then_some(a.mounts),
        queue: None,
        argument_sets: None,
        image: a.image,
        name: a.name,
        time_limit_seconds: super::task::time_limit(a.time.as_deref())?,
        depends_on: None,
        dependency: None,
        retries: None,
        priority: None,
    })
}

pub fn render_list(out: &Output, tasks: &[TaskView]) -> String {
    if tasks.is_empty() {
        return "No active VPS.\n".into();
    }
    let rows: Vec<Vec<Cell>> = tasks
        .iter()
        .map(|t| {
            vec![
                t.task_id.to_string().into(),
                Cell::status(t.status),
                t.assigned_node.clone().unwrap_or_else(|| "-".into()).into(),
                t.required_cores.to_string().into(),
                t.ssh_port.map_or("-".into(), |p| p.to_string()).into(),
                t.submitted_at.map_or("-".into(), |s| s.format(table::TIME).to_string()).into(),
            ]
        })
        .collect();
    table::render(out, &["TASK", "STATUS", "NODE", "CORES", "SSH PORT", "SUBMITTED"], &rows)
}

pub fn render_snapshots(out: &Output, list: &[VpsSnapshot]) -> String {
    if list.is_empty() {
        return "No snapshots. Save one: hakuriver vps save ID NAME\n".into();
    }
    let rows: Vec<Vec<Cell>> = list
        .iter()
        .map(|s| {
            let (kept, tone) = if s.present { ("kept", Tone::Good) } else { ("removed", Tone::Dim) };
            let when = chrono::DateTime::from_timestamp(s.timestamp, 0)
                .map_or("-".into(), |t| t.with_timezone(&chrono::Local).format(table::TIME).to_string());
            vec![
                s.env_name.clone().into(),
                s.tarball.clone().into(),
                when.into(),
                hakuriver_model::format_bytes(s.size_bytes).into(),
                Cell::new(kept.to_string(), tone),
            ]
        })
        .collect();
    table::render(out, &["ENVIRONMENT", "TARBALL", "SAVED", "SIZE", "STATE"], &rows)
}

/// `host:port` as ssh writes it (IPv6 in brackets).
fn ssh_endpoint(host: &str, port: u16) -> String {
    if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

/// The stock OpenSSH way in: a `ssh -J` command line and an `~/.ssh/config` entry.
pub fn print_ssh(id: &str, proxy_host: &str, proxy_port: u16, user: &str) -> String {
    let jump = format!("hakuriver@{}", ssh_endpoint(proxy_host, proxy_port));
    format!("ssh -J {jump} {user}@vps-{id}\n\n# ~/.ssh/config\nHost vps-{id}\n    User {user}\n    ProxyJump {jump}\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIPIvHW968nTBxRcy05qQApqONnymK/1g3+0T1i0o/j3h alice@laptop";

    #[test]
    fn the_key_comes_from_the_first_place_that_has_one() {
        let home = tempfile::tempdir().unwrap();
        assert!(read_key(None, None, Some(home.path())).unwrap_err().contains("none in ~/.ssh"));
        std::fs::create_dir(home.path().join(".ssh")).unwrap();
        std::fs::write(home.path().join(".ssh/id_ed25519.pub"), format!("{KEY}\n")).unwrap();
        assert_eq!(read_key(None, None, Some(home.path())).unwrap(), KEY);
        assert_eq!(read_key(Some(KEY.into()), None, None).unwrap(), KEY);
        let err = read_key(Some("hello".into()), None, None).unwrap_err();
        assert!(err.contains("not an SSH public key"), "{err}");
    }

    #[test]
    fn a_vps_request() {
        let args = SubmitArgs {
            target: Some("n1::0,1".into()),
            cores: 2,
            memory: Some("2G".into()),
            container: None,
            image: Some("reg.lab:5000/team/box:1".into()),
            privileged: false,
            mounts: vec![],
            key: KEY.into(),
            name: Some("dev box".into()),
            time: Some("7d".into()),
        };
        let r = request(args).unwrap();
        assert_eq!(r.task_type, "vps");
        assert_eq!((r.name.as_deref(), r.time_limit_seconds), (Some("dev box"), Some(7 * 86_400)));
        assert_eq!(r.image.as_deref(), Some("reg.lab:5000/team/box:1"));
        assert_eq!(r.targets, Some(vec!["n1".to_string()]));
        assert_eq!(r.required_gpus, Some(vec![vec![0, 1]]));
        assert_eq!(r.required_memory_bytes, Some(2_000_000_000));
    }

    #[test]
    fn print_gives_a_jump_command_and_a_config_entry() {
        let text = print_ssh("42", "10.0.0.1", 8002, "root");
        assert!(text.starts_with("ssh -J hakuriver@10.0.0.1:8002 root@vps-42\n"));
        assert!(text.contains("Host vps-42\n    User root\n    ProxyJump hakuriver@10.0.0.1:8002\n"));
        assert!(print_ssh("1", "fd00::1", 22, "root").contains("hakuriver@[fd00::1]:22"));
    }
}

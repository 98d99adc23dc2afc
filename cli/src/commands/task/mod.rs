//! `hakuriver task ...`: submit, list, watch and control command tasks.

mod logs;
mod render;
mod request;
mod wait;

use clap::Subcommand;
use hakuriver_model::task::{SubmitResponse, TaskQuery};
use hakuriver_model::TaskView;

use super::action::{self, Action};
use crate::client::seg;
use crate::context::Ctx;
use crate::exit::{Failure, REJECTED};
use crate::output::Mode;
use crate::shapes::SubmittedAndWaited;

pub use render::render_status;
pub use request::{time_limit, Scheduling, SubmitArgs};

#[derive(Subcommand)]
pub enum TaskCommand {
    /// Submit a command: one task per target, or one placed by the host; spans make a sweep.
    #[command(
        after_help = "Examples:\n  hakuriver task submit --target node1 --cores 2 --memory 4G -- python train.py\n  \
        hakuriver task submit -t node1:0 -t node2::0,1 --wait -- ./run.sh\n  \
        hakuriver task submit --container NULL -- hostname            # no container: runs natively\n  \
        hakuriver task submit -- python train.py --seed span:{1..8}    # a sweep: 8 tasks, one batch\n  \
        hakuriver task submit -q --wait -- make test | xargs hakuriver task logs\n  \
        hakuriver task submit --name prep --time 2h30m -- ./prepare.sh\n  \
        hakuriver task submit --after 7251863349413412864 -- ./train.sh    # once prep completed\n  \
        hakuriver task submit --after 7251863349413412864 --after-fail -- ./alert.sh"
    )]
    Submit {
        /// `node`, `node:numa` or `node::gpu,gpu`; repeat for more tasks. None: the host places it.
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
        #[arg(long, conflicts_with = "image")]
        container: Option<String>,
        /// Run in this registry image instead of an environment (pulled once per node; who may is
        /// [policy] image_role / user_images).
        #[arg(long, value_name = "REF")]
        image: Option<String>,
        /// Run the container privileged.
        #[arg(long)]
        privileged: bool,
        /// Bind mount HOST:CONTAINER[:ro]; repeatable (replaces the configured mounts).
        #[arg(long = "mount", value_name = "HOST:CONTAINER[:ro]")]
        mounts: Vec<String>,
        /// Fail a target whose resources are busy instead of queueing.
        #[arg(long)]
        no_queue: bool,
        /// Wait for the tasks to end; exit 1 unless all completed. Ctrl-C stops waiting only.
        #[arg(long)]
        wait: bool,
        #[command(flatten)]
        scheduling: Scheduling,
        /// The command and its arguments, after `--`. `span:{1..8}` and `span:[a,b]` arguments
        /// make one task per combination.
        #[arg(last = true, required = true, value_name = "COMMAND")]
        command: Vec<String>,
    },
    /// List tasks, newest first; a pending task's REASON says why it waits.
    #[command(after_help = "Examples:\n  hakuriver task list --status running,pending\n  \
        hakuriver task list --name nightly-eval\n  \
        hakuriver task list --node node1 --limit 10\n  \
        hakuriver task list -q --status running | xargs hakuriver task kill")]
    List {
        /// Only these statuses, comma-separated (pending, assigning, running, paused, completed,
        /// failed, killed, killed_oom, lost, timeout).
        #[arg(long)]
        status: Option<String>,
        /// Only tasks on this node.
        #[arg(long)]
        node: Option<String>,
        /// Only the tasks of this batch (a batch id is its first task's id).
        #[arg(long)]
        batch: Option<String>,
        /// Only tasks whose command line contains this text.
        #[arg(long)]
        search: Option<String>,
        /// Only tasks with exactly this name.
        #[arg(long)]
        name: Option<String>,
        /// How many tasks at most.
        #[arg(long, default_value_t = 50)]
        limit: u32,
    },
    /// Show tasks in detail (`--json`: always an array, one object per id).
    #[command(
        alias = "show",
        after_help = "Examples:\n  hakuriver task status 7251863349413412864\n  \
        hakuriver task status 7251863349413412864 --json | jq -r '.[0].status'"
    )]
    Status {
        #[arg(required = true, value_name = "TASK_ID")]
        ids: Vec<String>,
    },
    /// Print tasks' output (several ids: one after another, each under a header).
    #[command(after_help = "Examples:\n  hakuriver task logs 7251863349413412864\n  \
        hakuriver task logs -f --stderr 7251863349413412864")]
    Logs {
        #[arg(required = true, value_name = "TASK_ID")]
        ids: Vec<String>,
        /// Standard error instead of standard output.
        #[arg(long)]
        stderr: bool,
        /// Keep printing new output until the task ends.
        #[arg(long, short)]
        follow: bool,
    },
    /// Wait for tasks to end; exit 1 unless all completed. Ctrl-C stops waiting only.
    #[command(
        after_help = "Example:\n  hakuriver task list -q --batch 7251863349413412864 | xargs hakuriver task wait"
    )]
    Wait {
        #[arg(required = true, value_name = "TASK_ID")]
        ids: Vec<String>,
    },
    /// Kill tasks (a pending one never starts).
    #[command(after_help = "Example:\n  hakuriver task kill 7251863349413412864")]
    Kill {
        #[arg(required = true, value_name = "TASK_ID")]
        ids: Vec<String>,
    },
    /// Pause running tasks (their processes are frozen, their resources stay reserved).
    #[command(after_help = "Example:\n  hakuriver task pause 7251863349413412864")]
    Pause {
        #[arg(required = true, value_name = "TASK_ID")]
        ids: Vec<String>,
    },
    /// Resume paused tasks.
    #[command(after_help = "Example:\n  hakuriver task resume 7251863349413412864")]
    Resume {
        #[arg(required = true, value_name = "TASK_ID")]
        ids: Vec<String>,
    },
}

pub async fn run(ctx: &Ctx, command: TaskCommand) -> Result<(), Failure> {
    match command {
        TaskCommand::Submit {
            targets,
            cores,
            memory,
            env,
            container,
            image,
            privileged,
            mounts,
            no_queue,
            wait,
            scheduling,
            command,
        } => {
            let args = SubmitArgs {
                targets,
                cores,
                memory,
                env,
                container,
                image,
                privileged,
                mounts,
                no_queue,
                scheduling,
                command,
            };
            submit(ctx, args, wait).await
        }
        TaskCommand::List { status, node, batch, search, name, limit } => {
            let query = TaskQuery { status, node, batch, q: search, name, limit: Some(limit), ..Default::default() };
            let tasks: Vec<TaskView> = ctx.client()?.get_query("/api/tasks", &query).await?;
            let ids = || tasks.iter().map(|t| t.task_id.to_string()).collect();
            ctx.out.print(&tasks, ids, || render::render_list(&ctx.out, &tasks))?;
            Ok(())
        }
        TaskCommand::Status { ids } => {
            let client = ctx.client()?;
            let mut tasks = Vec::new();
            for id in &ids {
                tasks.push(client.get::<TaskView>(&format!("/api/status/{}", seg(id))).await?);
            }
            let ids = || tasks.iter().map(|t| t.task_id.to_string()).collect();
            ctx.out.print(&tasks, ids, || tasks.iter().map(|t| render_status(&ctx.out, t)).collect())?;
            Ok(())
        }
        TaskCommand::Logs { ids, stderr, follow } => logs::run(ctx, &ids, stderr, follow).await,
        TaskCommand::Wait { ids } => {
            let tasks = wait::wait_all(ctx, &ctx.client()?, &ids).await?;
            print_waited(ctx, &tasks)?;
            wait::outcome(&tasks)
        }
        TaskCommand::Kill { ids } => action::run(ctx, Action::Kill, &ids).await,
        TaskCommand::Pause { ids } => action::run(ctx, Action::Pause, &ids).await,
        TaskCommand::Resume { ids } => action::run(ctx, Action::Resume, &ids).await,
    }
}

/// After waiting: JSON prints the tasks; people saw a line per task as it ended.
fn print_waited(ctx: &Ctx, tasks: &[TaskView]) -> Result<(), Failure> {
    match ctx.out.mode {
        Mode::Json => println!("{}", serde_json::to_string_pretty(tasks)?),
        Mode::Quiet => tasks.iter().for_each(|t| println!("{}", t.task_id)),
        Mode::Human => {}
    }
    Ok(())
}

async fn submit(ctx: &Ctx, args: SubmitArgs, wait: bool) -> Result<(), Failure> {
    let request = request::request(args).map_err(Failure::usage)?;
    let client = ctx.client()?;
    let answer: SubmitResponse = client.post("/api/submit", &request).await?;
    let ids: Vec<String> = answer.task_ids.iter().map(ToString::to_string).collect();
    let some_failed = !answer.failed_targets.is_empty();
    let mut waited = None;
    if !wait {
        ctx.out.print(&answer, || ids.clone(), || render::render_submit(&ctx.out, &answer))?;
    } else {
        // The ids come first, so a pipe (or a person) has them while the tasks run.
        if ctx.out.mode != Mode::Json {
            ctx.out.print(&answer, || ids.clone(), || render::render_submit(&ctx.out, &answer))?;
        }
        let tasks = if ids.is_empty() { Vec::new() } else { wait::wait_all(ctx, &client, &ids).await? };
        if ctx.out.mode == Mode::Json {
            let both = SubmittedAndWaited { submitted: answer.clone(), tasks: tasks.clone() };
            println!("{}", serde_json::to_string_pretty(&both)?);
        }
        waited = Some(tasks);
    }
    if some_failed {
        let targets: Vec<&str> = answer.failed_targets.iter().map(|f| f.target.as_str()).collect();
        return Err(Failure::new(REJECTED, format!("the host refused targets: {}", targets.join(", "))));
    }
    match waited {
        Some(tasks) => wait::outcome(&tasks),
        None => Ok(()),
    }
}

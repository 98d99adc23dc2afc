//! Running the host's tasks on this node: the table of what runs here, and each task's life from
//! `/run` to its final report. Docker tasks go through `docker`; image sync through `images`.

mod adopt;
pub mod docker;
pub mod exec_helper;
mod forward;
pub mod images;
mod log_findings;
pub mod native;
mod report;
mod task_image;
mod time_limit;
mod usage;
pub mod vps;
mod vps_power;
mod vps_run;
mod vps_save;

use std::collections::HashMap;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use hakuriver_model::protocol::TaskInfo;
use hakuriver_model::task::NO_CONTAINER;
use hakuriver_model::{TaskId, TaskStatus, TaskType};
use tokio::sync::Mutex;

use crate::host_client::HostClient;
use crate::probe::numa;
use docker::{container_spec, DockerRunner, Exit, TaskPaths};
use images::ImageSync;

/// Killed ids remembered so a `/run` that arrives after its kill never starts.
const TOMBSTONES: usize = 10_000;
/// How long a restarted Docker engine gets to bring a VPS back by its restart policy.
const VPS_ENGINE_RESTART_GRACE: Duration = Duration::from_secs(20);

#[derive(Default)]
struct Tracked {
    container: Option<String>,
    /// A VPS: killing it removes its container (its restart policy would bring it back).
    vps: bool,
    /// Process group of a native task.
    pgid: Option<i32>,
    /// A native task's cgroup: every process it made.
    cgroup: Option<crate::cgroups::TaskCgroup>,
    killed: bool,
    /// A VPS being stopped by request (`vps stop`): its container is kept.
    stopping: bool,
    /// The task's `max_log_bytes`: its logs are checked for dropped output when it ends.
    log_limit: Option<u64>,
    /// Its time limit (`time_limit`), whether its clock runs, and whether it struck.
    time_limit: Option<time_limit::TimeLimit>,
    clock_started: bool,
    timed_out: bool,
    /// Which attempt of the task this is (1 for the first).
    attempt: u32,
    /// What its cgroup measured, for the final report.
    usage: Option<hakuriver_model::usage::MeasuredUsage>,
}

#[derive(Default)]
struct Table {
    tasks: HashMap<TaskId, Tracked>,
    /// Killed tasks, each with the attempt the kill was for (`u32::MAX`: a kill that came before
    /// any `/run`, which no attempt outlives).
    tombstones: HashMap<TaskId, u32>,
}

#[derive(Debug, thiserror::Error)]
pub enum ExecError {
    #[error("Task {0} is already running/tracked on this node.")]
    Tracked(TaskId),
    #[error("Task {0} was killed before it started.")]
    Killed(TaskId),
    #[error("Task {0} not found or not tracked.")]
    NotTracked(TaskId),
    #[error("{0}")]
    Failed(String),
}

#[derive(Clone)]
pub struct Executor {
    table: Arc<Mutex<Table>>,
    docker: Option<DockerRunner>,
    images: Option<ImageSync>,
    host: HostClient,
    node: String,
    shared_dir: PathBuf,
    local_temp_dir: PathBuf,
    numa_root: PathBuf,
    cgroup_root: PathBuf,
    runner_user: String,
    /// The address VPS ports are published on (the runner's own).
    vps_bind_ip: String,
    vps_ready_timeout: Duration,
    docker_problem: String,
    /// The exec helper on this node's disk (`exec_helper`), or why it could not be put there.
    exec_helper: Result<PathBuf, String>,
}

pub struct ExecutorConfig {
    pub host: HostClient,
    pub node: String,
    pub shared_dir: PathBuf,
    pub local_temp_dir: PathBuf,
    pub container_dir: PathBuf,
    pub numa_root: PathBuf,
    pub cgroup_root: PathBuf,
    pub runner_user: String,
    pub vps_bind_ip: String,
    pub vps_ready_timeout: Duration,
    /// The runner's own folder (never one tasks can write): the exec helper (`bin/`) and the
    /// record of loaded environment tarballs live there.
    pub state_dir: PathBuf,
    /// `[registries]`: logins for the images tasks name.
    pub registries: std::collections::BTreeMap<String, hakuriver_config::RegistryLogin>,
}

/// The local Docker engine (`DOCKER_HOST`, else its socket), with the API version agreed.
pub async fn connect_docker() -> Result<bollard::Docker, String> {
    let docker = bollard::Docker::connect_with_local_defaults().map_err(|e| e.to_string())?;
    docker.negotiate_version().await.map_err(|e| e.to_string())
}

/// What a task's run ends with: `(status, exit code, message)` for the final report.
type Outcome = (TaskStatus, Option<i64>, Option<String>);

impl Executor {
    /// Connects to the local Docker engine; without one, container tasks fail with the reason.
    pub async fn new(c: ExecutorConfig) -> Self {
        let (docker, images, problem) = match connect_docker().await {
            Ok(d) => {
                let images = ImageSync::new(d.clone(), c.container_dir, c.state_dir.join("loaded_envs.json"))
                    .with_registries(c.registries);
                (Some(DockerRunner { docker: d }), Some(images), String::new())
            }
            Err(e) => {
                // The preflight has said so already, with the reason.
                tracing::debug!(error = %e, "no Docker engine");
                (None, None, e)
            }
        };
        let helper_dir = c.state_dir.join("bin");
        let exec_helper = exec_helper::install(&helper_dir).map_err(|e| {
            let reason = format!("cannot write the exec helper into {}: {e}", helper_dir.display());
            tracing::warn!(reason, "tasks will fail");
            reason
        });
        Executor {
            exec_helper,
            table: Arc::default(),
            docker,
            images,
            host: c.host,
            node: c.node,
            shared_dir: c.shared_dir,
            local_temp_dir: c.local_temp_dir,
            numa_root: c.numa_root,
            cgroup_root: c.cgroup_root,
            runner_user: c.runner_user,
            vps_bind_ip: c.vps_bind_ip,
            vps_ready_timeout: c.vps_ready_timeout,
            docker_problem: problem,
        }
    }

    /// Whether the node's Docker engine answered: it takes container tasks.
    pub fn docker_available(&self) -> bool {
        self.docker.is_some()
    }

    /// Environment images on this node: env name → version (the tarball timestamp it was loaded
    /// from, or its creation time; unix seconds).
    pub async fn env_versions(&self) -> std::collections::BTreeMap<String, i64> {
        match (&self.docker, &self.images) {
            (Some(d), Some(images)) => images::loaded_envs(&d.docker, &images.record()).await,
            _ => Default::default(),
        }
    }

    /// Environment tarballs being loaded now (for heartbeats).
    pub fn env_loading(&self) -> std::collections::BTreeMap<String, hakuriver_model::env::LoadProgress> {
        self.images.as_ref().map(ImageSync::loading).unwrap_or_default()
    }

    /// Opens a shell in task `id`'s container, for a web terminal.
    pub async fn open_shell(&self, id: TaskId) -> Result<hakuriver_terminal::Shell, ExecError> {
        let container = self.table.lock().await.tasks.get(&id).and_then(|t| t.container.clone());
        let name = container
            .ok_or_else(|| ExecError::Failed(format!("Task {id} has no running container on node {}.", self.node)))?;
        let docker = self.docker.as_ref().ok_or_else(|| ExecError::Failed("Docker is not available".into()))?;
        hakuriver_terminal::exec_shell(&docker.docker, &name).await.map_err(|e| ExecError::Failed(e.to_string()))
    }

    /// Ids of every task this runner tracks (for heartbeats).
    pub async fn running_ids(&self) -> Vec<TaskId> {
        self.table.lock().await.tasks.keys().copied().collect()
    }

    /// Takes a task from the host and runs it in the background.
    pub async fn accept(&self, task: TaskInfo) -> Result<(), ExecError> {
        {
            let mut table = self.table.lock().await;
            if table.tombstones.get(&task.task_id).is_some_and(|&killed| task.attempt.unwrap_or(1) <= killed) {
                return Err(ExecError::Killed(task.task_id));
            }
            if table.tasks.contains_key(&task.task_id) {
                return Err(ExecError::Tracked(task.task_id));
            }
            let tracked = Tracked {
                attempt: task.attempt.unwrap_or(1),
                log_limit: task.max_log_bytes,
                time_limit: time_limit::TimeLimit::of(&task),
                ..Default::default()
            };
            table.tasks.insert(task.task_id, tracked);
        }
        let this = self.clone();
        tokio::spawn(async move {
            let id = task.task_id;
            let outcome =
                if task.task_type == TaskType::Vps { this.run_vps(&task).await } else { this.execute(&task).await };
            this.conclude(id, outcome).await;
        });
        Ok(())
    }

    /// Creates the folders a task's container or process uses on this node.
    async fn prepare_dirs(&self, paths: &TaskPaths) -> Result<(), String> {
        for dir in [
            paths.stdout.parent(),
            paths.stderr.parent(),
            Some(self.local_temp_dir.as_path()),
            Some(&self.shared_dir.join("shared_data")),
        ]
        .into_iter()
        .flatten()
        {
            tokio::fs::create_dir_all(dir).await.map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
        }
        Ok(())
    }

    fn paths(&self, id: TaskId) -> TaskPaths {
        let (stdout, stderr) = hakuriver_model::task::log_paths(&self.shared_dir, id);
        TaskPaths { shared_dir: self.shared_dir.clone(), local_temp_dir: self.local_temp_dir.clone(), stdout, stderr }
    }

    /// Runs the task to its end: `(status, exit code, message)` for the final report.
    async fn execute(&self, task: &TaskInfo) -> Outcome {
        let failed = |m: String| (TaskStatus::Failed, None, Some(m));
        let paths = self.paths(task.task_id);
        if let Err(e) = self.prepare_dirs(&paths).await {
            return failed(e);
        }
        if task.docker_image_name == NO_CONTAINER {
            return self.execute_native(task, &paths).await;
        }
        let docker = match self.docker_for(task).await {
            Ok(d) => d,
            Err(e) => return failed(e),
        };
        let helper = match &self.exec_helper {
            Ok(helper) => helper,
            Err(e) => return failed(e.clone()),
        };
        let image = match docker.image_start(&task.docker_image_name).await {
            Ok(image) => image,
            Err(e) => return failed(format!("cannot inspect image {}: {e}", task.docker_image_name)),
        };
        let numa = task.target_numa_node_id.and_then(|_| numa::detect(&self.numa_root));
        let spec = container_spec(task, &self.node, &paths, numa.as_ref()).and_then(|mut spec| {
            docker::write_logs_directly(&mut spec, task, &paths, helper, &image)?;
            Ok(spec)
        });
        let spec = match spec {
            Ok(spec) => spec,
            Err(e) => return failed(e),
        };
        if self.was_killed(task.task_id).await {
            return (TaskStatus::Killed, Some(-9), Some("Killed before start.".into()));
        }
        let created = {
            let paths = paths.clone();
            tokio::task::spawn_blocking(move || {
                Ok::<_, String>([paths.create_log(&paths.stdout)?, paths.create_log(&paths.stderr)?])
            })
            .await
        };
        let logs = match created {
            Ok(Ok(logs)) => logs,
            Ok(Err(e)) => return failed(e),
            Err(e) => return failed(format!("cannot create the log files: {e}")),
        };
        let name = match docker.start(task, spec, &image.user, [&logs[0], &logs[1]]).await {
            Ok(name) => name,
            Err(e) => return failed(format!("Unexpected error launching task {}: {e}", task.task_id)),
        };
        let killed_meanwhile = {
            let mut table = self.table.lock().await;
            let entry = table.tasks.entry(task.task_id).or_default();
            entry.container = Some(name.clone());
            entry.killed
        };
        if killed_meanwhile {
            let _ = docker.kill(&name).await;
        } else if self.report(task.task_id, TaskStatus::Running, None, None).await.is_some_and(|r| r.says_task_final())
        {
            // The host ended this task while it was starting: it must not run.
            let _ = docker.kill(&name).await;
        }
        self.finish(task.task_id, docker, &name, &paths).await
    }

    /// Follows a started task container to its end: logs, exit code, OOM, removal.
    /// A Docker engine that restarts meanwhile is waited for, and the container followed again
    /// (its logs rewritten whole from Docker's copy): the engine stops containers when it stops,
    /// so the task then ends with the code it was stopped with, and the reason says so.
    async fn finish(&self, id: TaskId, docker: &DockerRunner, name: &str, paths: &TaskPaths) -> Outcome {
        let mut engine_restarted = false;
        let mut measured = None;
        let follow = async {
            loop {
                match docker.follow(name, paths).await {
                    Err(_) if docker.came_back(name).await => engine_restarted = true,
                    exit => break exit,
                }
            }
        };
        let exit = tokio::select! {
            exit = follow => exit,
            never = usage::sample_container(&docker.docker, name, &self.cgroup_root, &mut measured) => match never {},
        };
        if let Some(measured) = measured {
            self.record_usage(id, measured).await;
        }
        let killed = self.was_killed(id).await;
        let exit = match exit {
            Ok(exit) if !killed && exit.maybe_oom() => {
                Ok(Exit { oom_killed: docker.oom_flag_appears(name).await, ..exit })
            }
            other => other,
        };
        let note = if engine_restarted { " (the Docker engine restarted while it ran)" } else { "" };
        if let Some(limit) = self.timed_out(id).await {
            return time_limit::timeout_outcome(limit, exit.ok().map(|e| e.code));
        }
        match exit {
            _ if killed => (TaskStatus::Killed, Some(-9), Some("Killed by request.".into())),
            Ok(exit) if exit.oom_killed => {
                (TaskStatus::KilledOom, Some(exit.code), Some("Out of memory: killed at its memory limit.".into()))
            }
            Ok(exit) if exit.code == 0 => (TaskStatus::Completed, Some(0), None),
            Ok(exit) => (TaskStatus::Failed, Some(exit.code), Some(format!("Exited with code {}{note}.", exit.code))),
            Err(e) => (TaskStatus::Failed, None, Some(format!("Lost track of the container{note}: {e}"))),
        }
    }

    /// Removes a container, waiting for a restarting engine; whether it is gone.
    async fn remove_container(&self, docker: &DockerRunner, name: &str) -> bool {
        loop {
            let force = bollard::query_parameters::RemoveContainerOptionsBuilder::new().force(true).build();
            match docker.docker.remove_container(name, Some(force)).await {
                Ok(()) | Err(bollard::errors::Error::DockerResponseServerError { status_code: 404, .. }) => {
                    return true
                }
                Err(_) if docker.came_back(name).await => {}
                Err(_) => return false,
            }
        }
    }

    async fn execute_native(&self, task: &TaskInfo, paths: &TaskPaths) -> Outcome {
        if self.was_killed(task.task_id).await {
            return (TaskStatus::Killed, Some(-9), Some("Killed before start.".into()));
        }
        let numa = task.target_numa_node_id.and_then(|_| numa::detect(&self.numa_root));
        let options = native::NativeOptions {
            node: &self.node,
            runner_user: &self.runner_user,
            cgroup_root: &self.cgroup_root,
            numa: numa.as_ref(),
            helper: self.exec_helper.as_deref().map_err(String::as_str),
        };
        let mut started = match native::spawn(task, paths, &options) {
            Ok(t) => t,
            Err(e) => return (TaskStatus::Failed, None, Some(e)),
        };
        let killed_meanwhile = {
            let mut table = self.table.lock().await;
            let entry = table.tasks.entry(task.task_id).or_default();
            entry.pgid = Some(started.pgid);
            entry.cgroup = started.cgroup.clone();
            entry.killed
        };
        let note = (!started.notes.is_empty()).then(|| started.notes.join("; "));
        if killed_meanwhile
            || self
                .report(task.task_id, TaskStatus::Running, None, note.clone())
                .await
                .is_some_and(|r| r.says_task_final())
        {
            let _ = native::signal_group(started.pgid, rustix::process::Signal::KILL);
        }
        let status = started.child.wait().await;
        let oom = started.cgroup.as_ref().is_some_and(|cg| cg.oom_killed());
        // The task ends with its main process: what it left running (daemonized, double-forked,
        // deaf to SIGTERM) is killed, and only then are its cores free for the next one.
        let mut note = note;
        if let Some(cg) = &started.cgroup {
            if let Err(e) = cg.kill_all().await {
                tracing::error!(task = %task.task_id, error = %e, "task processes left behind");
                note = Some(note.map_or(e.clone(), |n| format!("{n}; {e}")));
            }
            self.record_usage(task.task_id, cg.usage()).await;
            cg.remove();
        }
        let with_note = |m: String| {
            Some(match &note {
                Some(n) => format!("{m} ({n})"),
                None => m,
            })
        };
        if let Some(limit) = self.timed_out(task.task_id).await {
            return time_limit::timeout_outcome(limit, status.ok().map(|s| native::exit_code(s).0));
        }
        match status {
            _ if self.was_killed(task.task_id).await => {
                (TaskStatus::Killed, Some(-9), Some("Killed by request.".into()))
            }
            Ok(status) => match native::exit_code(status) {
                (code, true) if oom => {
                    (TaskStatus::KilledOom, Some(code), Some("Out of memory: killed at its memory limit.".into()))
                }
                (0, _) => (TaskStatus::Completed, Some(0), note),
                (code, _) => (TaskStatus::Failed, Some(code), with_note(format!("Exited with code {code}."))),
            },
            Err(e) => (TaskStatus::Failed, None, Some(format!("Lost track of the process: {e}"))),
        }
    }

    async fn record_usage(&self, id: TaskId, measured: hakuriver_model::usage::MeasuredUsage) {
        if let Some(t) = self.table.lock().await.tasks.get_mut(&id) {
            t.usage = Some(measured);
        }
    }

    async fn was_killed(&self, id: TaskId) -> bool {
        self.table.lock().await.tasks.get(&id).is_some_and(|t| t.killed)
    }

    pub async fn kill(&self, id: TaskId) -> Result<(), ExecError> {
        let (container, pgid, cgroup, vps) = {
            let mut table = self.table.lock().await;
            if table.tombstones.len() >= TOMBSTONES {
                table.tombstones.clear();
            }
            let attempt = table.tasks.get(&id).map_or(u32::MAX, |t| t.attempt);
            table.tombstones.insert(id, attempt);
            match table.tasks.get_mut(&id) {
                Some(t) => {
                    t.killed = true;
                    (t.container.clone(), t.pgid, t.cgroup.clone(), t.vps)
                }
                None => {
                    drop(table);
                    // A stopped VPS is not tracked, but its container is kept here.
                    return match self.remove_shut_off(id).await? {
                        true => Ok(()),
                        false => Err(ExecError::NotTracked(id)),
                    };
                }
            }
        };
        if let Some(pgid) = pgid {
            // A stopped group must be continued to die.
            let _ = native::signal_group(pgid, rustix::process::Signal::CONT);
            let group = native::signal_group(pgid, rustix::process::Signal::KILL);
            // With a cgroup the group may be gone while processes that left it live on.
            if cgroup.is_none() {
                group.map_err(ExecError::Failed)?;
            }
        }
        // And what left the group (`setsid`, double forks): everything in the task's cgroup.
        if let Some(cg) = cgroup {
            cg.kill_all().await.map_err(ExecError::Failed)?;
        }
        if let (Some(name), Some(docker), true) = (&container, &self.docker, vps) {
            let force = bollard::query_parameters::RemoveContainerOptionsBuilder::new().force(true).build();
            docker.docker.remove_container(name, Some(force)).await.map_err(|e| ExecError::Failed(e.to_string()))?;
            return Ok(());
        }
        if let (Some(name), Some(docker)) = (container, &self.docker) {
            // A paused container must be thawed to die cleanly.
            let _ = docker.unpause(&name).await;
            docker.kill(&name).await.map_err(|e| ExecError::Failed(e.to_string()))?;
        }
        Ok(())
    }

    /// Pauses (`pause = true`) or resumes a running task: its container, or every process in its
    /// cgroup (its process group where it has none).
    pub async fn set_paused(&self, id: TaskId, pause: bool) -> Result<(), ExecError> {
        let (container, pgid, cgroup) = self
            .table
            .lock()
            .await
            .tasks
            .get(&id)
            .map(|t| (t.container.clone(), t.pgid, t.cgroup.clone()))
            .ok_or(ExecError::NotTracked(id))?;
        let frozen = match &cgroup {
            Some(cg) => cg.freeze(pause).inspect_err(|e| tracing::warn!(task = %id, error = %e, "signalling instead")),
            None => Err(String::new()),
        };
        match (container, pgid) {
            (_, Some(_)) if frozen.is_ok() => {}
            (_, Some(pgid)) => {
                let signal = if pause { rustix::process::Signal::STOP } else { rustix::process::Signal::CONT };
                native::signal_group(pgid, signal).map_err(ExecError::Failed)?;
            }
            (Some(container), None) => {
                let docker = self.docker.as_ref().ok_or_else(|| ExecError::Failed("Docker is not available".into()))?;
                let result = if pause { docker.pause(&container).await } else { docker.unpause(&container).await };
                result.map_err(|e| ExecError::Failed(e.to_string()))?;
            }
            (None, None) => return Err(ExecError::Failed(format!("Task {id} has not started yet"))),
        }
        let status = if pause { TaskStatus::Paused } else { TaskStatus::Running };
        self.report(id, status, None, None).await;
        Ok(())
    }
}

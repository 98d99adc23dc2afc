//! The runner's life with the host: register (retrying forever with growing delays), then
//! heartbeat every `heartbeat_interval`, registering again whenever the host forgets this node.

use std::path::PathBuf;
use std::time::Duration;

use hakuriver_model::{GpuInfo, HeartbeatData, RunnerInfo};

use crate::backoff::Backoff;
use crate::executor::Executor;
use crate::host_client::{HeartbeatOutcome, HostClient};
use crate::probe::cpu::{self, CpuMeter};
use crate::probe::gpu::GpuSource;
use crate::probe::{memory, numa, thermal};

const REGISTER_RETRY_FIRST: Duration = Duration::from_secs(1);
const REGISTER_RETRY_MAX: Duration = Duration::from_secs(30);

/// Where the kernel's views of the machine live (tests point these at sample trees).
#[derive(Debug, Clone)]
pub struct SysRoots {
    pub proc: PathBuf,
    pub sys: PathBuf,
}

impl Default for SysRoots {
    fn default() -> Self {
        SysRoots { proc: PathBuf::from("/proc"), sys: PathBuf::from("/sys") }
    }
}

pub struct Agent {
    pub client: HostClient,
    pub hostname: String,
    pub runner_url: String,
    pub interval: Duration,
    pub gpus: GpuSource,
    pub roots: SysRoots,
    /// The node's Docker engine answers: it takes container tasks.
    pub docker_available: bool,
}

impl Agent {
    /// What this node tells the host when it registers.
    pub async fn runner_info(&self) -> RunnerInfo {
        let gpus = self.read_gpus().await;
        RunnerInfo {
            hostname: self.hostname.clone(),
            total_cores: cpu::core_count(),
            total_ram_bytes: memory::read(&self.roots.proc).map_or(0, |m| m.total_bytes),
            runner_url: self.runner_url.clone(),
            numa_topology: numa::detect(&self.roots.sys.join("devices/system/node")),
            gpu_info: Some(gpus),
            docker_available: self.docker_available,
        }
    }

    async fn read_gpus(&self) -> Vec<GpuInfo> {
        let source = self.gpus.clone();
        tokio::task::spawn_blocking(move || source.read()).await.unwrap_or_default()
    }

    /// Registers, retrying until the host accepts; one log line per failed attempt.
    pub async fn register(&self) {
        let mut backoff = Backoff::new(REGISTER_RETRY_FIRST, REGISTER_RETRY_MAX);
        loop {
            let info = self.runner_info().await;
            match self.client.register(&info).await {
                Ok(()) => {
                    tracing::info!(host = %self.client.base(), node = %self.hostname, cores = info.total_cores, "registered with the host");
                    return;
                }
                Err(e) => {
                    let delay = backoff.next_delay();
                    tracing::warn!("registration failed: {e}; retrying in {}s", delay.as_secs_f64());
                    tokio::time::sleep(delay).await;
                }
            }
        }
    }

    /// Registers, then heartbeats forever, reporting the tasks `executor` runs.
    pub async fn run(self, executor: Executor) {
        self.register().await;
        let mut cpu = CpuMeter::start(&self.roots.proc);
        let mut tick = tokio::time::interval(self.interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        tick.tick().await; // the first tick is immediate; the first heartbeat comes one interval in
        let mut host_was_down = false;
        loop {
            tick.tick().await;
            let mut beat = self.sample(&mut cpu).await;
            beat.running_tasks = executor.running_ids().await;
            beat.environments = executor.env_versions().await;
            beat.env_loading = executor.env_loading();
            match self.client.heartbeat(&self.hostname, &beat).await {
                Ok(HeartbeatOutcome::Accepted) => {
                    if host_was_down {
                        tracing::info!("host reachable again");
                        host_was_down = false;
                    }
                }
                Ok(HeartbeatOutcome::NotRegistered) => {
                    tracing::warn!("the host does not know this node; registering again");
                    self.register().await;
                }
                Err(e) => {
                    // Once per outage, not once per beat.
                    if !host_was_down {
                        tracing::warn!(
                            "heartbeat failed: {e}; will keep trying every {}s",
                            self.interval.as_secs_f64()
                        );
                        host_was_down = true;
                    }
                }
            }
        }
    }

    /// One heartbeat's readings: CPU usage since the previous sample, memory, temperatures, GPUs.
    pub async fn sample(&self, cpu: &mut CpuMeter) -> HeartbeatData {
        let memory = memory::read(&self.roots.proc);
        let temps = thermal::read(&self.roots.sys.join("class/hwmon"));
        HeartbeatData {
            running_tasks: Vec::new(),
            killed_tasks: Vec::new(),
            cpu_percent: cpu.sample(&self.roots.proc),
            memory_percent: memory.map(|m| m.percent()),
            memory_used_bytes: memory.map(|m| m.used_bytes),
            memory_total_bytes: memory.map(|m| m.total_bytes),
            current_avg_temp: temps.map(|t| t.0),
            current_max_temp: temps.map(|t| t.1),
            gpu_info: self.read_gpus().await,
            environments: Default::default(),
            env_loading: Default::default(),
        }
    }
}

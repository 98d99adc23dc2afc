//! A container's usage, for the final report: its cgroup is read every second while it runs
//! (the engine removes the cgroup when the container exits, so the last reading stands; a
//! container's last second of CPU time may be missing). Native tasks are read once at their end
//! from their own cgroup (`cgroups::TaskCgroup::usage`).

use std::convert::Infallible;
use std::path::Path;
use std::time::Duration;

use hakuriver_model::usage::MeasuredUsage;

use crate::cgroups;

/// How often a running container's cgroup is read.
const SAMPLE_EVERY: Duration = Duration::from_secs(1);

/// Reads container `name`'s cgroup into `last` every `SAMPLE_EVERY` until dropped (the caller
/// stops it when the container ends).
pub(super) async fn sample_container(
    docker: &bollard::Docker,
    name: &str,
    cgroup_root: &Path,
    last: &mut Option<MeasuredUsage>,
) -> Infallible {
    let mut pid = None;
    loop {
        if pid.is_none() {
            pid = docker
                .inspect_container(name, None::<bollard::query_parameters::InspectContainerOptions>)
                .await
                .ok()
                .and_then(|c| c.state?.pid)
                .filter(|&p| p > 0);
        }
        if let Some(reading) = pid.and_then(|p| cgroups::usage_of_process(cgroup_root, p)) {
            *last = Some(reading);
        }
        tokio::time::sleep(SAMPLE_EVERY).await;
    }
}

//! What the benchmark binaries share: arguments, percentiles, and a process's CPU time and
//! memory read from `/proc`.

use anyhow::Context;

/// The value after `name` on the command line, or `default`.
pub fn arg<T: std::str::FromStr>(name: &str, default: T) -> anyhow::Result<T>
where
    T::Err: std::error::Error + Send + Sync + 'static,
{
    match std::env::args().skip_while(|a| a != name).nth(1) {
        Some(v) => v.parse().with_context(|| format!("{name} {v}")),
        None => Ok(default),
    }
}

/// The sample at quantile `q` (0..=1) of sorted samples; NaN when there are none.
pub fn quantile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let at = ((sorted.len() - 1) as f64 * q).round() as usize;
    sorted[at.min(sorted.len() - 1)]
}

/// The median of the samples; NaN when there are none.
pub fn median(mut samples: Vec<f64>) -> f64 {
    samples.sort_by(f64::total_cmp);
    quantile(&samples, 0.5)
}

/// (p50, p99) of the samples.
pub fn percentiles(mut samples: Vec<f64>) -> (f64, f64) {
    samples.sort_by(f64::total_cmp);
    (quantile(&samples, 0.5), quantile(&samples, 0.99))
}

/// `docker run --rm` of `image` running `argv` with the flags and mounts the runner gives a
/// task container (one core, host network, the shared and local temp folders): the fair floor.
pub fn docker_run_like_a_task(
    shared: &std::path::Path,
    temp: &std::path::Path,
    image: &str,
    argv: &[&str],
) -> std::process::Command {
    let mut command = std::process::Command::new("docker");
    command
        .args(["run", "--rm", "--network", "host", "--cpus", "1", "--workdir", "/shared"])
        .arg("--mount")
        .arg(format!("type=bind,source={},target=/shared", shared.display()))
        .arg("--mount")
        .arg(format!("type=bind,source={},target=/local_temp", temp.display()))
        .arg(image)
        .args(argv);
    command
}

/// Resident memory of process `pid`, in MB (`VmRSS` of `/proc/<pid>/status`).
pub fn rss_mb(pid: u32) -> anyhow::Result<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).context("read /proc status")?;
    parse_rss_kb(&status).map(|kb| kb as f64 / 1024.0).context("no VmRSS line")
}

fn parse_rss_kb(status: &str) -> Option<u64> {
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// User plus system CPU seconds process `pid` has used (`/proc/<pid>/stat`).
pub fn process_cpu_seconds(pid: u32) -> anyhow::Result<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).context("read /proc stat")?;
    let ticks = parse_cpu_ticks(&stat).context("malformed /proc stat")?;
    Ok(ticks as f64 / rustix::param::clock_ticks_per_second() as f64)
}

/// utime + stime: fields 14 and 15, counted after the command name's closing parenthesis.
fn parse_cpu_ticks(stat: &str) -> Option<u64> {
    let rest = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // `rest` starts at field 3 (state).
    Some(fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_of_sorted_samples() {
        let samples: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(percentiles(samples.clone()), (51.0, 99.0));
        assert_eq!(quantile(&samples, 0.0), 1.0);
        assert_eq!(quantile(&samples, 1.0), 100.0);
        assert!(quantile(&[], 0.5).is_nan());
        assert_eq!(median(vec![3.0, 1.0, 2.0]), 2.0, "sorted first");
        assert!(median(Vec::new()).is_nan());
    }

    #[test]
    fn proc_files_parse() {
        assert_eq!(parse_rss_kb("Name:\tx\nVmRSS:\t   12345 kB\nThreads: 3\n"), Some(12345));
        assert_eq!(parse_rss_kb("Name:\tx\n"), None);
        // A command name with spaces and parentheses does not shift the fields.
        let stat = "42 (a (b) c) S 1 42 42 0 -1 4194560 100 0 0 0 250 75 0 0 20 0 1 0 5 1000 50";
        assert_eq!(parse_cpu_ticks(stat), Some(325));
    }
}
